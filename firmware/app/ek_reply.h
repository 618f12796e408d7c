/* Reply lines of the serial protocol: results "m-...", errors "e-[...]", each ending "\r\n".
 * A line is assembled in a small buffer that is written to the port whenever it fills, so no
 * line is ever truncated however long it is (ek-layer sends 4096 hex digits). */
#ifndef EK_REPLY_H
#define EK_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define EK_REPLY_BUF 128 /* bytes handed to ek_port_write() at a time */
/* Chars of outside text an e-[...] line quotes at most; also the size of the buffers that take
 * a model's error message. */
#define EK_ERR_MAX 96

typedef struct {
    char buf[EK_REPLY_BUF];
    size_t len;
} ek_reply_t;

void ek_reply_ch(ek_reply_t *r, char c);
void ek_reply_str(ek_reply_t *r, const char *s);
/* At most n chars of s, printable ASCII only ('[' and ']' too become '?'), so text that came
 * from outside (an echoed command, a runtime's message) cannot break the line framing. */
void ek_reply_clean(ek_reply_t *r, const char *s, size_t n);
void ek_reply_u64(ek_reply_t *r, uint64_t v);
/* Two lower-case hex digits per byte. */
void ek_reply_hex(ek_reply_t *r, const int8_t *p, size_t n);
/* "%.3f" rounded half away from zero, without printf's float support. */
void ek_reply_fixed3(ek_reply_t *r, float v);
/* Ends the line ("\r\n") and writes it out. */
void ek_reply_end(ek_reply_t *r);

/* A whole line of constant text. */
void ek_reply_line(ek_reply_t *r, const char *s);
/* e-[<a><b>]: a is constant text, b (may be NULL) comes from outside and is cleaned. */
void ek_reply_err(ek_reply_t *r, const char *a, const char *b);
/* A line or an e-[...] line of constant text in which every "%u" stands for n (no other
 * conversions: this is not printf). */
void ek_reply_line_n(ek_reply_t *r, const char *fmt, uint64_t n);
void ek_reply_err_n(ek_reply_t *r, const char *fmt, uint64_t n);

#endif /* EK_REPLY_H */

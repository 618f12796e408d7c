/* Reading command words: the split on spaces, unsigned decimals, hex byte strings. */
#ifndef EK_PARSE_H
#define EK_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Split s in place on spaces into at most max words (tok[0..max-1]). Returns the number of
 * words, or max + 1 when there are more (tok then holds the first max). */
int ek_split_words(char *s, char **tok, int max);

/* Decimal digits only, no sign, value <= max. 0 on success, -1 otherwise (out untouched). */
int ek_parse_u32(const char *s, uint32_t max, uint32_t *out);

/* A whole, non-empty string of an even number of hex digits (either case): 0 and its length in
 * bytes, else -1. Check first, then decode: a bad string never leaves a half-written buffer. */
int ek_hex_check(const char *s, size_t *nbytes);
void ek_hex_decode(const char *s, int8_t *dst, size_t nbytes);

#endif /* EK_PARSE_H */

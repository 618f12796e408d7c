/* See ek_reply.h. */
#include "ek_reply.h"

#include "ek_port.h"

static void flush(ek_reply_t *r)
{
    if (r->len) ek_port_write(r->buf, r->len);
    r->len = 0;
}

void ek_reply_ch(ek_reply_t *r, char c)
{
    if (r->len == sizeof r->buf) flush(r);
    r->buf[r->len++] = c;
}

void ek_reply_str(ek_reply_t *r, const char *s)
{
    while (*s) ek_reply_ch(r, *s++);
}

void ek_reply_clean(ek_reply_t *r, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n && s[i]; i++) {
        char c = s[i];
        ek_reply_ch(r, (c >= 0x20 && c < 0x7f && c != '[' && c != ']') ? c : '?');
    }
}

void ek_reply_u64(ek_reply_t *r, uint64_t v)
{
    char d[20];
    int n = 0;
    do {
        d[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v && n < 20);
    while (n) ek_reply_ch(r, d[--n]);
}

void ek_reply_hex(ek_reply_t *r, const int8_t *p, size_t n)
{
    static const char k[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        uint8_t b = (uint8_t)p[i];
        ek_reply_ch(r, k[b >> 4]);
        ek_reply_ch(r, k[b & 15u]);
    }
}

void ek_reply_fixed3(ek_reply_t *r, float v)
{
    float s;
    uint64_t m;
    int neg = 0;
    if (v != v) {
        ek_reply_str(r, "nan");
        return;
    }
    if (v > 1e12f) v = 1e12f;
    if (v < -1e12f) v = -1e12f;
    if (v < 0) {
        neg = 1;
        v = -v;
    }
    s = v * 1000.0f + 0.5f;
    m = (uint64_t)s;
    if (neg && m) ek_reply_ch(r, '-');
    ek_reply_u64(r, m / 1000u);
    ek_reply_ch(r, '.');
    ek_reply_ch(r, (char)('0' + (int)(m / 100u % 10u)));
    ek_reply_ch(r, (char)('0' + (int)(m / 10u % 10u)));
    ek_reply_ch(r, (char)('0' + (int)(m % 10u)));
}

void ek_reply_end(ek_reply_t *r)
{
    ek_reply_ch(r, '\r');
    ek_reply_ch(r, '\n');
    flush(r);
}

void ek_reply_line(ek_reply_t *r, const char *s)
{
    ek_reply_str(r, s);
    ek_reply_end(r);
}

void ek_reply_err(ek_reply_t *r, const char *a, const char *b)
{
    ek_reply_str(r, "e-[");
    ek_reply_str(r, a);
    if (b) ek_reply_clean(r, b, EK_ERR_MAX);
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}

static void fmt_n(ek_reply_t *r, const char *fmt, uint64_t n)
{
    for (; *fmt; fmt++) {
        if (fmt[0] == '%' && fmt[1] == 'u') {
            ek_reply_u64(r, n);
            fmt++;
        } else {
            ek_reply_ch(r, *fmt);
        }
    }
}

void ek_reply_line_n(ek_reply_t *r, const char *fmt, uint64_t n)
{
    fmt_n(r, fmt, n);
    ek_reply_end(r);
}

void ek_reply_err_n(ek_reply_t *r, const char *fmt, uint64_t n)
{
    ek_reply_str(r, "e-[");
    fmt_n(r, fmt, n);
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}

/* See ek_parse.h. */
#include "ek_parse.h"

#include <string.h>

int ek_split_words(char *s, char **tok, int max)
{
    int n = 0;
    while (*s) {
        while (*s == ' ') *s++ = 0;
        if (!*s) break;
        if (n == max) return max + 1;
        tok[n++] = s;
        while (*s && *s != ' ') s++;
    }
    return n;
}

int ek_parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    uint32_t v = 0;
    if (!s || !*s) return -1;
    for (; *s; s++) {
        uint32_t d;
        if (*s < '0' || *s > '9') return -1;
        d = (uint32_t)(*s - '0');
        if (d > max || v > (max - d) / 10u) return -1; /* d > max: max - d would wrap */
        v = v * 10u + d;
    }
    *out = v;
    return 0;
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int ek_hex_check(const char *s, size_t *nbytes)
{
    size_t n = strlen(s), i;
    if (n == 0 || (n & 1u)) return -1;
    for (i = 0; i < n; i++)
        if (hex_nibble(s[i]) < 0) return -1;
    *nbytes = n / 2;
    return 0;
}

void ek_hex_decode(const char *s, int8_t *dst, size_t nbytes)
{
    size_t i;
    for (i = 0; i < nbytes; i++)
        dst[i] = (int8_t)(uint8_t)((hex_nibble(s[2 * i]) << 4) | hex_nibble(s[2 * i + 1]));
}

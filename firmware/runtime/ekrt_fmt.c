/* Error-message formatting without stdio: %s %d %u %lu %% only. */
#include "ekrt_internal.h"

static void put(char *buf, size_t n, size_t *pos, char c)
{
    if (*pos + 1 < n) {
        buf[*pos] = c;
        (*pos)++;
    }
}

static void put_u(char *buf, size_t n, size_t *pos, unsigned long v)
{
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0 && k < (int)sizeof tmp);
    while (k > 0) {
        put(buf, n, pos, tmp[--k]);
    }
}

void ekrt_vfmt(char *buf, size_t n, const char *fmt, va_list ap)
{
    size_t pos = 0;
    if (buf == NULL || n == 0) {
        return;
    }
    while (*fmt) {
        if (*fmt != '%') {
            put(buf, n, &pos, *fmt++);
            continue;
        }
        fmt++;
        if (*fmt == 's') {
            const char *s = va_arg(ap, const char *);
            if (s == NULL) {
                s = "(null)";
            }
            while (*s) {
                put(buf, n, &pos, *s++);
            }
        } else if (*fmt == 'd') {
            int v = va_arg(ap, int);
            if (v < 0) {
                put(buf, n, &pos, '-');
                put_u(buf, n, &pos, (unsigned long)(-(long)v));
            } else {
                put_u(buf, n, &pos, (unsigned long)v);
            }
        } else if (*fmt == 'u') {
            put_u(buf, n, &pos, (unsigned long)va_arg(ap, unsigned));
        } else if (*fmt == 'l' && fmt[1] == 'u') {
            fmt++;
            put_u(buf, n, &pos, va_arg(ap, unsigned long));
        } else if (*fmt == '%') {
            put(buf, n, &pos, '%');
        } else {
            break;
        }
        fmt++;
    }
    buf[pos] = '\0';
}

void ekrt_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ekrt_vfmt(buf, n, fmt, ap);
    va_end(ap);
}

const char *ekrt_type_name(uint32_t type)
{
    static const char *const names[] = {
        "FLOAT32", "FLOAT16",   "INT32",  "UINT8",   "INT64",      "STRING", "BOOL",
        "INT16",   "COMPLEX64", "INT8",   "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE",
        "VARIANT", "UINT32",    "UINT16", "INT4",    "BFLOAT16",   "INT2",   "UINT4"};
    if (type < sizeof names / sizeof names[0]) {
        return names[type];
    }
    return "unknown type";
}

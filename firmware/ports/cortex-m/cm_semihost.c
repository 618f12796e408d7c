/* ARM semihosting (see cm_semihost.h): the operation number in r0, a pointer to its argument
 * block in r1, the result back in r0. */
#include "cm_semihost.h"

#include <string.h>

#define SYS_OPEN 0x01u
#define SYS_CLOSE 0x02u
#define SYS_WRITE0 0x04u
#define SYS_WRITE 0x05u
#define SYS_READ 0x06u
#define SYS_FLEN 0x0Cu
#define SYS_GET_CMDLINE 0x15u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int32_t semi(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

int32_t cm_semi_open(const char *path, uint32_t mode)
{
    uint32_t a[3];
    a[0] = (uint32_t)(uintptr_t)path;
    a[1] = mode;
    a[2] = (uint32_t)strlen(path);
    return semi(SYS_OPEN, a);
}

void cm_semi_close(int32_t fd)
{
    uint32_t a[1];
    a[0] = (uint32_t)fd;
    (void)semi(SYS_CLOSE, a);
}

/* SYS_READ / SYS_WRITE answer the number of bytes NOT transferred. */
static int32_t transfer(uint32_t op, int32_t fd, const void *buf, uint32_t n)
{
    uint32_t a[3];
    int32_t left;
    a[0] = (uint32_t)fd;
    a[1] = (uint32_t)(uintptr_t)buf;
    a[2] = n;
    left = semi(op, a);
    if (left < 0 || (uint32_t)left > n) return -1;
    return (int32_t)(n - (uint32_t)left);
}

int32_t cm_semi_read(int32_t fd, void *buf, uint32_t n)
{
    return transfer(SYS_READ, fd, buf, n);
}

int32_t cm_semi_write(int32_t fd, const void *buf, uint32_t n)
{
    return transfer(SYS_WRITE, fd, buf, n);
}

int32_t cm_semi_flen(int32_t fd)
{
    uint32_t a[1];
    a[0] = (uint32_t)fd;
    return semi(SYS_FLEN, a);
}

void cm_semi_write0(const char *s)
{
    (void)semi(SYS_WRITE0, s);
}

void cm_semi_exit(uint32_t code)
{
    uint32_t a[2];
    a[0] = ADP_STOPPED_APPLICATION_EXIT;
    a[1] = code;
    (void)semi(SYS_EXIT_EXTENDED, a);
}

int32_t cm_semi_cmdline(char *buf, uint32_t cap)
{
    uint32_t a[2];
    a[0] = (uint32_t)(uintptr_t)buf;
    a[1] = cap;
    return semi(SYS_GET_CMDLINE, a) == 0 ? 0 : -1;
}

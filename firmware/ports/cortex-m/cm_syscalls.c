/* The few newlib system calls a C++ library can pull in on bare metal (TFLM: abort() on a failed
 * assertion, its stdio-based debug log when error strings are kept). No heap: _sbrk always fails,
 * so any malloc returns NULL instead of growing into the stack. Writes go to the serial port;
 * exit and kill stop the core after saying so. Nothing in edgekit-rt references these, and
 * --gc-sections drops what nothing uses. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ek_port.h"

void _exit(int status);
void *_sbrk(ptrdiff_t incr);
int _write(int fd, const char *buf, int len);
int _read(int fd, char *buf, int len);
int _close(int fd);
int _lseek(int fd, int off, int whence);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _kill(int pid, int sig);
int _getpid(void);

void _exit(int status)
{
    static const char msg[] = "\r\ne-[abort]\r\n";
    (void)status;
    ek_port_write(msg, sizeof msg - 1);
    for (;;) {
    }
}

void *_sbrk(ptrdiff_t incr)
{
    (void)incr;
    errno = ENOMEM;
    return (void *)-1;
}

int _write(int fd, const char *buf, int len)
{
    (void)fd;
    if (len > 0) ek_port_write(buf, (size_t)len);
    return len;
}

int _read(int fd, char *buf, int len)
{
    (void)fd;
    (void)buf;
    (void)len;
    return 0;
}

int _close(int fd)
{
    (void)fd;
    return -1;
}

int _lseek(int fd, int off, int whence)
{
    (void)fd;
    (void)off;
    (void)whence;
    return 0;
}

int _fstat(int fd, struct stat *st)
{
    (void)fd;
    st->st_mode = S_IFCHR;
    return 0;
}

int _isatty(int fd)
{
    (void)fd;
    return 1;
}

int _kill(int pid, int sig)
{
    (void)pid;
    (void)sig;
    _exit(128 + sig);
    return -1;
}

int _getpid(void)
{
    return 1;
}

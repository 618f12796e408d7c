/* Host (POSIX) port: the protocol over stdin/stdout, ticks from CLOCK_MONOTONIC in microseconds.
 * Used for fast protocol tests and the ASan/UBSan fuzz build. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "ek_app.h"
#include "ek_port.h"

void ek_port_init(void) {}

/* Buffered: a pipe delivers whatever is available; blocking only when nothing is. */
static unsigned char s_rx[4096];
static size_t s_rx_len, s_rx_pos;

int ek_port_read_byte(void)
{
    while (s_rx_pos == s_rx_len) {
        ssize_t n = read(0, s_rx, sizeof s_rx);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1; /* stdin closed or failed: the loop exits */
        s_rx_len = (size_t)n;
        s_rx_pos = 0;
    }
    return s_rx[s_rx_pos++];
}

int ek_port_rx_file(const char *path)
{
    (void)path;
    return -1; /* stdin is already as fast as a file */
}

void ek_port_write(const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(1, buf, len);
        if (n <= 0) return;
        buf += n;
        len -= (size_t)n;
    }
}

uint32_t ek_port_ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

uint32_t ek_port_tick_hz(void)
{
    return 1000000u;
}
const char *ek_port_tick_unit(void)
{
    return "us";
}
const char *ek_port_name(void)
{
    return "host";
}

int main(void)
{
    return ek_app_main();
}

/* What a board port provides to the portable command loop (app/). */
#ifndef EK_PORT_H
#define EK_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void ek_port_init(void);
/* Blocking read of one byte from the host link; returns 0..255, or -1 when the link is closed
 * (host port only: the loop then exits). */
int ek_port_read_byte(void);
void ek_port_write(const char *buf, size_t len);
/* From now on read the host's bytes from the host file `path` (a FIFO the harness writes)
 * instead of the serial link: 0, or -1 where the port cannot (every real board). Only the QEMU
 * port does it, through semihosting: QEMU's UART takes one byte per emulator event, far too slow
 * to replay a recording (replies still go out on the serial link). */
int ek_port_rx_file(const char *path);
/* Free-running timer and its rate; ek_port_tick_unit() names what a tick is
 * ("cycles", "systick", "us") so reports never pass one off as another. */
uint32_t ek_port_ticks(void);
uint32_t ek_port_tick_hz(void);
const char *ek_port_tick_unit(void);
const char *ek_port_name(void);

#ifdef __cplusplus
}
#endif
#endif /* EK_PORT_H */

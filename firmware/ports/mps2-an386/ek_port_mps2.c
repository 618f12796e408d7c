/* MPS2 AN386 port (QEMU -M mps2-an386, Cortex-M4 without FPU): CMSDK APB UART0 at 0x40004000,
 * polled, and SysTick at the 25 MHz core clock as the timer.
 *
 * Under QEMU with -icount shift=0 each instruction takes 1 ns of virtual time, so one SysTick
 * tick = 40 instructions: an instruction-count proxy, not real Cortex-M4 cycles. Polled receive
 * loses nothing under QEMU: the UART model takes a byte only when its 1-byte holding register is
 * empty and QEMU holds the rest back.
 *
 * That takes one emulator event per byte (about 0.1 ms): a recording replay moves ~40 KB per hop.
 * So `ek-rx-file PATH` switches the host->board direction to a FIFO the harness writes, read in
 * blocks through semihosting (QEMU runs with -semihosting-config enable=on,target=native); the
 * bytes and the protocol are the same, replies stay on the UART. A blocking read stops the
 * emulated clock too (-icount), so waiting for the host costs no ticks. */
#include <stdint.h>

#include "cm.h"
#include "cm_semihost.h"
#include "ek_app.h"
#include "ek_port.h"

#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define STATE_TXFULL 1u
#define STATE_RXFULL 2u
#define CTRL_TXEN 1u
#define CTRL_RXEN 2u

#define CORE_HZ 25000000u
#define BAUD 115200u

void cm_board_init(void)
{
    /* Clocks are fixed on MPS2; QEMU's UART needs BAUDDIV >= 16 to pass bytes at all. */
    UART_BAUDDIV = CORE_HZ / BAUD;
    UART_CTRL = CTRL_TXEN | CTRL_RXEN;
}

void ek_port_init(void)
{
    cm_systick_start();
}

#define RX_BLOCK 4096u /* bytes per semihosting read: one call per ~tenth of a 192-channel hop */

static int32_t s_rx_fd = -1;
static uint8_t s_rx[RX_BLOCK];
static uint32_t s_rx_len, s_rx_pos;

int ek_port_rx_file(const char *path)
{
    int32_t fd = cm_semi_open(path, CM_SEMI_MODE_RB);
    if (fd < 0) return -1;
    if (s_rx_fd >= 0) cm_semi_close(s_rx_fd);
    s_rx_fd = fd;
    s_rx_len = s_rx_pos = 0;
    return 0;
}

int ek_port_read_byte(void)
{
    while (s_rx_fd >= 0 && s_rx_pos == s_rx_len) {
        int32_t n = cm_semi_read(s_rx_fd, s_rx, RX_BLOCK);
        if (n <= 0) { /* the writer closed the FIFO: back to the UART */
            cm_semi_close(s_rx_fd);
            s_rx_fd = -1;
        } else {
            s_rx_len = (uint32_t)n;
            s_rx_pos = 0;
        }
    }
    if (s_rx_fd >= 0) return s_rx[s_rx_pos++];
    while (!(UART_STATE & STATE_RXFULL)) {
    }
    return (int)(UART_DATA & 0xFFu);
}

void ek_port_write(const char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        while (UART_STATE & STATE_TXFULL) {
        }
        UART_DATA = (uint8_t)buf[i];
    }
}

uint32_t ek_port_ticks(void)
{
    return cm_systick_ticks();
}
uint32_t ek_port_tick_hz(void)
{
    return CORE_HZ;
}
const char *ek_port_tick_unit(void)
{
    return "systick";
}
const char *ek_port_name(void)
{
    return "mps2-an386";
}

int main(void)
{
    return ek_app_main();
}

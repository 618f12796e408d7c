/* MPS2 AN386 port (QEMU -M mps2-an386, Cortex-M4 without FPU): CMSDK APB UART0 at 0x40004000,
 * polled, and SysTick at the 25 MHz core clock as the timer.
 *
 * Under QEMU with -icount shift=0 each instruction takes 1 ns of virtual time, so one SysTick
 * tick = 40 instructions: an instruction-count proxy, not real Cortex-M4 cycles. Polled receive
 * loses nothing under QEMU: the UART model takes a byte only when its 1-byte holding register is
 * empty and QEMU holds the rest back. */
#include <stdint.h>

#include "cm.h"
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

void cm_board_init(void) {
    /* Clocks are fixed on MPS2; QEMU's UART needs BAUDDIV >= 16 to pass bytes at all. */
    UART_BAUDDIV = CORE_HZ / BAUD;
    UART_CTRL = CTRL_TXEN | CTRL_RXEN;
}

void ek_port_init(void) { cm_systick_start(); }

int ek_port_read_byte(void) {
    while (!(UART_STATE & STATE_RXFULL)) {
    }
    return (int)(UART_DATA & 0xFFu);
}

void ek_port_write(const char *buf, size_t len) {
    size_t i;
    for (i = 0; i < len; i++) {
        while (UART_STATE & STATE_TXFULL) {
        }
        UART_DATA = (uint8_t)buf[i];
    }
}

uint32_t ek_port_ticks(void) { return cm_systick_ticks(); }
uint32_t ek_port_tick_hz(void) { return CORE_HZ; }
const char *ek_port_tick_unit(void) { return "systick"; }
const char *ek_port_name(void) { return "mps2-an386"; }

int main(void) { return ek_app_main(); }

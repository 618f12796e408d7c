/* Pieces shared by the Cortex-M ports (startup, SysTick time base). */
#ifndef EK_CM_H
#define EK_CM_H

#include <stdint.h>

/* Board clocks and pins; called from Reset_Handler before main(). */
void cm_board_init(void);

/* Start SysTick at the core clock as a free-running 32-bit up-counter (24-bit hardware
 * counter extended by its wrap interrupt). */
void cm_systick_start(void);
uint32_t cm_systick_ticks(void);

#endif

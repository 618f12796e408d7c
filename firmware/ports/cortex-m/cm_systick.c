/* SysTick as a free-running 32-bit tick counter: the 24-bit down-counter gives the low bits,
 * its wrap interrupt counts the high part. */
#include "cm.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define PERIOD 0x1000000u /* 2^24 ticks per wrap */

static volatile uint32_t s_wraps;

void SysTick_Handler(void);
void SysTick_Handler(void)
{
    s_wraps++;
}

void cm_systick_start(void)
{
    SYST_RVR = PERIOD - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* core clock, interrupt on wrap, enable */
}

uint32_t cm_systick_ticks(void)
{
    uint32_t hi, lo, pend;
    for (;;) {
        hi = s_wraps;
        lo = (PERIOD - 1u) - SYST_CVR;
        pend = SCB_ICSR & ICSR_PENDSTSET;
        if (hi == s_wraps) break;
    }
    /* Wrapped but the interrupt has not run yet (e.g. called with interrupts masked):
     * a small `lo` belongs to the next period. */
    if (pend && lo < PERIOD / 2u) hi++;
    return hi * PERIOD + lo;
}

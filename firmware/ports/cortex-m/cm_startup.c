/* Cortex-M startup shared by the bare-metal ports: vector table, .data/.bss set-up, C++
 * constructors (for the tflm runtime), then main(). No libc start files are linked. */
#include <stdint.h>

#include "cm.h"
#include "ek_port.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
int main(void);

void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    void (**ctor)(void);
#if defined(__ARM_FP)
    /* Hard-float build (M4F boards): grant full access to CP10/CP11 before any FP instruction. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    cm_board_init();
    for (ctor = __init_array_start; ctor < __init_array_end; ctor++) (*ctor)();
    (void)main();
    for (;;) {
    }
}

/* A fault says so on the serial link instead of hanging silently. */
void Fault_Handler(void)
{
    static const char msg[] = "\r\ne-[hard fault]\r\n";
    ek_port_write(msg, sizeof msg - 1);
    for (;;) {
    }
}

void Default_Handler(void)
{
    for (;;) {
    }
}

/* 16 system exceptions; the ports enable no peripheral interrupts, so none follow. */
__attribute__((section(".isr_vector"), used)) void (*const cm_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&_estack,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0,
    0,
    0,
    0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMon */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};

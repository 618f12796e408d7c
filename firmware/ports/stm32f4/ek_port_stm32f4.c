/* STM32F405 port (QEMU -M netduinoplus2, or a real STM32F405/407 board): USART1 on PA9/PA10
 * at 115200 8N1, polled; SysTick at the core clock as the timer.
 *
 * Real hardware: cm_board_init() runs the core at 168 MHz from HSI through the PLL (HSI is on
 * every board, unlike the HSE crystal) with 5 flash wait states; APB2 = 84 MHz feeds USART1.
 * QEMU 7.2 has no RCC model (its registers read 0): then the clock set-up is skipped and the
 * emulated SysTick runs at QEMU's fixed 168 MHz system clock. Under -icount shift=0 that is an
 * instruction-count proxy, not real cycles. */
#include <stdint.h>

#include "cm.h"
#include "ek_app.h"
#include "ek_port.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_BASE 0x40023800u
#define RCC_CR REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x04u)
#define RCC_CFGR REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR REG(RCC_BASE + 0x40u)
#define RCC_APB2ENR REG(RCC_BASE + 0x44u)
#define FLASH_ACR REG(0x40023C00u)
#define PWR_CR REG(0x40007000u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRH REG(0x40020024u)
#define USART1_SR REG(0x40011000u)
#define USART1_DR REG(0x40011004u)
#define USART1_BRR REG(0x40011008u)
#define USART1_CR1 REG(0x4001100Cu)

#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)
#define HSI_HZ 16000000u
#define PLL_HZ 168000000u
#define BAUD 115200u
#define WAIT_LOOPS 100000u

static uint32_t s_core_hz = HSI_HZ;
static uint32_t s_apb2_hz = HSI_HZ;

static int wait_set(volatile uint32_t *reg, uint32_t mask, uint32_t value)
{
    uint32_t n;
    for (n = 0; n < WAIT_LOOPS; n++)
        if ((*reg & mask) == value) return 0;
    return -1;
}

/* HSI 16 MHz / M16 * N336 / P2 = 168 MHz (Q7 -> 48 MHz USB); AHB /1, APB1 /4, APB2 /2. */
static void clock_168mhz(void)
{
    if (RCC_CR == 0u) {
        s_core_hz = s_apb2_hz = PLL_HZ; /* no RCC model: QEMU netduinoplus2 (168 MHz fixed) */
        return;
    }
    RCC_APB1ENR |= 1u << 28;                             /* PWR clock */
    PWR_CR |= 1u << 14;                                  /* VOS: scale 1 for 168 MHz */
    FLASH_ACR = 5u | (1u << 8) | (1u << 9) | (1u << 10); /* 5 WS, prefetch, I/D caches */
    RCC_CFGR = (RCC_CFGR & ~0xFCF0u) | (5u << 10) | (4u << 13);
    /* source HSI (bit 22 = 0); bit 29 is reserved and resets to 1 */
    RCC_PLLCFGR = 16u | (336u << 6) | (0u << 16) | (7u << 24) | (1u << 29);
    RCC_CR |= 1u << 24;                                     /* PLLON */
    if (wait_set(&RCC_CR, 1u << 25, 1u << 25) != 0) return; /* no lock: stay on HSI */
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u;                       /* SW = PLL */
    if (wait_set(&RCC_CFGR, 0xCu, 0x8u) != 0) return;
    s_core_hz = PLL_HZ;
    s_apb2_hz = PLL_HZ / 2u;
}

void cm_board_init(void)
{
    clock_168mhz();
    RCC_AHB1ENR |= 1u << 0;                                     /* GPIOA */
    RCC_APB2ENR |= 1u << 4;                                     /* USART1 */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18); /* PA9, PA10: alternate */
    GPIOA_AFRH = (GPIOA_AFRH & ~(0xFFu << 4)) | (0x77u << 4);   /* AF7 = USART1 */
    USART1_BRR = (s_apb2_hz + BAUD / 2u) / BAUD;                /* oversampling by 16 */
    USART1_CR1 = (1u << 13) | (1u << 3) | (1u << 2);            /* UE, TE, RE */
}

void ek_port_init(void)
{
    cm_systick_start();
}

int ek_port_read_byte(void)
{
    while (!(USART1_SR & SR_RXNE)) {
    }
    return (int)(USART1_DR & 0xFFu);
}

int ek_port_rx_file(const char *path)
{
    (void)path;
    return -1; /* real hardware: a semihosting call without a debugger would fault */
}

void ek_port_write(const char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        while (!(USART1_SR & SR_TXE)) {
        }
        USART1_DR = (uint8_t)buf[i];
    }
}

uint32_t ek_port_ticks(void)
{
    return cm_systick_ticks();
}
uint32_t ek_port_tick_hz(void)
{
    return s_core_hz;
}
const char *ek_port_tick_unit(void)
{
    return "systick";
}
const char *ek_port_name(void)
{
    return "stm32f4";
}

int main(void)
{
    return ek_app_main();
}

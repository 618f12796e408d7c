/* Spresense port: Arduino Serial at 115200 baud; timing from the Cortex-M4 DWT cycle counter at
 * the core clock the Arduino core reports (clockCyclesPerMicrosecond(): 156 MHz at the default
 * clock mode, less when a sketch lowers it), or micros() when the counter does not run (e.g. a
 * debugger owns DWT). */
#include <Arduino.h>

#include "ek_port.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

static bool s_dwt;

extern "C" void ek_port_init(void)
{
    Serial.begin(115200);
    DEMCR |= 1u << 24; /* TRCENA: enable the DWT unit */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u; /* CYCCNTENA */
    uint32_t a = DWT_CYCCNT;
    for (volatile int i = 0; i < 100; i++) {
    }
    s_dwt = DWT_CYCCNT != a;
}

extern "C" int ek_port_read_byte(void)
{
    while (Serial.available() <= 0) {
    }
    return Serial.read();
}

extern "C" int ek_port_rx_file(const char *path)
{
    (void)path;
    return -1;  // the USB serial link only
}

extern "C" void ek_port_write(const char *buf, size_t len)
{
    Serial.write(reinterpret_cast<const uint8_t *>(buf), len);
}

extern "C" uint32_t ek_port_ticks(void)
{
    return s_dwt ? DWT_CYCCNT : (uint32_t)micros();
}
extern "C" uint32_t ek_port_tick_hz(void)
{
    return s_dwt ? (uint32_t)clockCyclesPerMicrosecond() * 1000000u : 1000000u;
}
extern "C" const char *ek_port_tick_unit(void)
{
    return s_dwt ? "cycles" : "us";
}
extern "C" const char *ek_port_name(void)
{
    return "spresense";
}

# STM32F405 (QEMU -M netduinoplus2 or real boards): Cortex-M4F -> hard float; newlib-nano.
CROSS  := arm-none-eabi-
CC     := $(CROSS)gcc
CXX    := $(CROSS)g++
SIZE   := $(CROSS)size
# Debian packages that provide CC and SIZE (named in edgekit's error when CC is missing)
DEB_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib
TARGET := edgekit-stm32f4.elf
PORT_SRCS := port/ek_port_stm32f4.c port/cm_startup.c port/cm_systick.c port/cm_syscalls.c
ARCH_FLAGS := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
OPT    := -Os
LDSCRIPT := port/stm32f405.ld
LDFLAGS := -T $(LDSCRIPT) -Lport -nostartfiles --specs=nano.specs -Wl,--gc-sections \
           -Wl,-Map=$(BUILD)/edgekit.map
LIBS   := -lm -lc -lgcc

# MPS2 AN386 (QEMU -M mps2-an386): Cortex-M4, no FPU -> soft float; newlib-nano, own startup.
CROSS  := arm-none-eabi-
CC     := $(CROSS)gcc
CXX    := $(CROSS)g++
SIZE   := $(CROSS)size
# Debian packages that provide CC and SIZE (named in edgekit's error when CC is missing)
DEB_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib
TARGET := edgekit-mps2-an386.elf
PORT_SRCS := port/ek_port_mps2.c port/cm_startup.c port/cm_systick.c port/cm_syscalls.c port/cm_semihost.c
ARCH_FLAGS := -mcpu=cortex-m4 -mthumb -mfloat-abi=soft
OPT    := -Os
LDSCRIPT := port/mps2-an386.ld
LDFLAGS := -T $(LDSCRIPT) -Lport -nostartfiles --specs=nano.specs -Wl,--gc-sections \
           -Wl,-Map=$(BUILD)/edgekit.map
LIBS   := -lm -lc -lgcc

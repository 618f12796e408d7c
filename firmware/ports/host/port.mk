# Host (POSIX) port: the command loop over stdin/stdout, built with the host gcc.
# SANITIZE=1 builds with AddressSanitizer + UndefinedBehaviorSanitizer (the fuzz build).
CC     := gcc
CXX    := g++
SIZE   := size
# Debian packages that provide CC and SIZE (named in edgekit's error when CC is missing)
DEB_PKGS := build-essential
TARGET := edgekit-host
PORT_SRCS := port/ek_port_host.c
OPT    := -O2
ARCH_FLAGS :=
ifeq ($(SANITIZE),1)
  ARCH_FLAGS += -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  OPT    := -O1
  TARGET := edgekit-host-asan
endif
LDFLAGS :=
LIBS    := -lm
LDSCRIPT :=

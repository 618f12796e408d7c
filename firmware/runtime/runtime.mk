# edgekit-rt sources for firmware Makefiles:
#   EKRT_DIR := path/to/firmware/runtime
#   include $(EKRT_DIR)/runtime.mk
#   SRCS += $(EKRT_SRCS)          # runtime + kernels (no model glue)
#   SRCS += $(EKRT_MODEL_SRCS)    # ek_model.c: needs ek_model.h, model_meta.h on the include path
#   CFLAGS += $(EKRT_CFLAGS)
# Portable C99, no malloc, no stdio, no libm.
# The list itself is sources.txt (one file a line, '#' comments), the one list that the Python
# host builds (toolchain/edgekit/export/rt_host.py) read as well.
EKRT_DIR ?= $(dir $(lastword $(MAKEFILE_LIST)))
EKRT_SRCS := $(addprefix $(EKRT_DIR)/,$(shell sed 's/\#.*//' $(EKRT_DIR)/sources.txt))
ifeq ($(strip $(EKRT_SRCS)),)
  $(error $(EKRT_DIR)/sources.txt lists no edgekit-rt sources (missing or empty))
endif
EKRT_MODEL_SRCS := $(EKRT_DIR)/ek_model.c
EKRT_CFLAGS := -I$(EKRT_DIR)

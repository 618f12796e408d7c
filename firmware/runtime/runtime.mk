# edgekit-rt sources for firmware Makefiles:
#   EKRT_DIR := path/to/firmware/runtime
#   include $(EKRT_DIR)/runtime.mk
#   SRCS += $(EKRT_SRCS)          # runtime + kernels (no model glue)
#   SRCS += $(EKRT_MODEL_SRCS)    # ek_model.c: needs ek_model.h, model_meta.h on the include path
#   CFLAGS += $(EKRT_CFLAGS)
# Portable C99, no malloc, no stdio, no libm.
EKRT_DIR ?= $(dir $(lastword $(MAKEFILE_LIST)))
EKRT_SRCS := \
	$(EKRT_DIR)/ekrt.c \
	$(EKRT_DIR)/ekrt_ops.c \
	$(EKRT_DIR)/ekrt_prepare.c \
	$(EKRT_DIR)/ekrt_conv_common.c \
	$(EKRT_DIR)/ekrt_fb.c \
	$(EKRT_DIR)/ekrt_plan.c \
	$(EKRT_DIR)/ekrt_quant.c \
	$(EKRT_DIR)/ekrt_fmt.c \
	$(EKRT_DIR)/ekrt_opnames.c \
	$(EKRT_DIR)/ekrt_conv2d_s8.c \
	$(EKRT_DIR)/ekrt_mat_s8.c \
	$(EKRT_DIR)/ekrt_conv2d_1x1_s8.c \
	$(EKRT_DIR)/ekrt_conv2d_im2col_s8.c \
	$(EKRT_DIR)/ekrt_depthwise_conv2d_s8.c \
	$(EKRT_DIR)/ekrt_depthwise_conv2d_mult1_s8.c \
	$(EKRT_DIR)/ekrt_fully_connected_s8.c \
	$(EKRT_DIR)/ekrt_add_s8.c \
	$(EKRT_DIR)/ekrt_avgpool_s8.c \
	$(EKRT_DIR)/ekrt_mean_s8.c \
	$(EKRT_DIR)/ekrt_pad_s8.c \
	$(EKRT_DIR)/ekrt_reshape.c \
	$(EKRT_DIR)/ekrt_transpose_s8.c \
	$(EKRT_DIR)/ekrt_softmax_s8.c \
	$(EKRT_DIR)/ekrt_quantize_s8.c
EKRT_MODEL_SRCS := $(EKRT_DIR)/ek_model.c
EKRT_CFLAGS := -I$(EKRT_DIR)

# Common build rules for a rendered firmware project (see toolchain/edgekit/firmware.py):
#   app/  port/  model/  and runtime/ (edgekit-rt) or tflm/ (TensorFlow Lite Micro)
# The generated Makefile sets PORT and RUNTIME and includes this file.
#   make                      -> $(BUILD)/$(TARGET).elf (or the host executable)
#   make RUNTIME=tflm TFLM_DIR=/path/to/tflm-tree   (a tree made by TFLM's create_tflm_tree.py)

BUILD   ?= build
RUNTIME ?= edgekit-rt

include port/port.mk

WARN     := -Wall -Wextra -Werror
DEPFLAGS := -MMD -MP
INCLUDES := -Iapp -Iport -Imodel -Idsp
CFLAGS   += -std=c99 $(OPT) $(ARCH_FLAGS) $(WARN) $(DEPFLAGS) -ffunction-sections -fdata-sections
# no fused multiply-adds anywhere: dsp/ (the feature chain) is bit-exact with data/causal.py
CFLAGS   += -ffp-contract=off
CXXFLAGS += -std=c++17 $(OPT) $(ARCH_FLAGS) $(DEPFLAGS) -ffunction-sections -fdata-sections \
            -fno-exceptions -fno-rtti -fno-threadsafe-statics

APP_SRCS := $(wildcard app/*.c)
SRCS_C   := $(APP_SRCS) $(PORT_SRCS) $(wildcard dsp/*.c)
SRCS_CXX :=
LINKER   := $(CC)

ifeq ($(RUNTIME),edgekit-rt)
  # runtime/runtime.mk lists the sources: EKRT_SRCS (interpreter + kernels), EKRT_MODEL_SRCS
  # (ek_model.c, the ek_model.h glue) and EKRT_CFLAGS.
  EKRT_DIR := runtime
  include runtime/runtime.mk
  SRCS_C   += $(EKRT_SRCS) $(EKRT_MODEL_SRCS) model/model_data.c
  INCLUDES += -Iruntime $(EKRT_CFLAGS)
else ifeq ($(RUNTIME),tflm)
  ifeq ($(strip $(TFLM_DIR)),)
    $(error RUNTIME=tflm needs TFLM_DIR=<TensorFlow Lite Micro source tree>, e.g. one made by \
      tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py; or render with the \
      edgekit-rt runtime, which needs no TFLM)
  endif
  ifeq ($(wildcard $(TFLM_DIR)/tensorflow/lite/micro/micro_interpreter.h),)
    $(error TFLM_DIR=$(TFLM_DIR) has no tensorflow/lite/micro/micro_interpreter.h)
  endif
  # The tree's library sources: no tests, examples, benchmarks or tools (they bring main()s).
  TFLM_SRCS := $(shell find $(TFLM_DIR)/tensorflow -name '*.cc' -not -name '*_test.cc' \
                 -not -path '*/examples/*' -not -path '*/benchmarks/*' -not -path '*/tools/*' \
                 2>/dev/null)
  SRCS_CXX += tflm/ek_model_tflm.cc model/model_data.cc
  INCLUDES += -Itflm -I$(TFLM_DIR) -I$(TFLM_DIR)/third_party/flatbuffers/include \
              -I$(TFLM_DIR)/third_party/gemmlowp -I$(TFLM_DIR)/third_party/ruy \
              -I$(TFLM_DIR)/third_party/kissfft
  CXXFLAGS += -DTF_LITE_STATIC_MEMORY -DTF_LITE_DISABLE_X86_NEON
  LINKER   := $(CXX)
else
  $(error RUNTIME must be edgekit-rt or tflm, not '$(RUNTIME)')
endif

OBJS := $(SRCS_C:%.c=$(BUILD)/obj/%.o) $(SRCS_CXX:%.cc=$(BUILD)/obj/%.o) \
        $(TFLM_SRCS:$(TFLM_DIR)/%.cc=$(BUILD)/tflm_tree/%.o)
OUT  := $(BUILD)/$(TARGET)

.PHONY: all clean size
all: $(OUT)

$(OUT): $(OBJS) $(LDSCRIPT)
	$(LINKER) $(ARCH_FLAGS) $(OPT) $(OBJS) $(LDFLAGS) $(LIBS) -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INCLUDES) -c $< -o $@

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(INCLUDES) -c $< -o $@

$(BUILD)/tflm_tree/%.o: $(TFLM_DIR)/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(INCLUDES) -c $< -o $@

size: $(OUT)
	$(SIZE) $(OUT)

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d)

# The output path, for tools (firmware.py) that need it without parsing this file.
.PHONY: print-out run
print-out:
	@echo $(OUT)

# Boot the firmware in QEMU on this terminal (emulated boards only; Ctrl-A X quits).
run: $(OUT)
ifeq ($(strip $(QEMU_MACHINE)),)
	@echo "port $(PORT) is not emulated; flash $(OUT) to the board" && false
else
	qemu-system-arm -M $(QEMU_MACHINE) -icount shift=0 -nographic -serial stdio -monitor none \
	  -kernel $(OUT)
endif

# Common build rules for a rendered firmware project (see toolchain/edgekit/firmware.py):
#   app/  port/  model/  and runtime/ (edgekit-rt) or tflm/ (TensorFlow Lite Micro)
# The generated Makefile sets PORT and RUNTIME and includes this file.
#   make                      -> $(BUILD)/$(TARGET).elf (or the host executable)
#   make RUNTIME=tflm TFLM_DIR=/path/to/tflm-tree   (a tree made by TFLM's create_tflm_tree.py)

BUILD   ?= build
RUNTIME ?= edgekit-rt
QEMU    ?= qemu-system-arm

# a compiler or linker that fails must not leave a half-written object or ELF behind
.DELETE_ON_ERROR:

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
  # runtime/runtime.mk gives EKRT_SRCS (interpreter + kernels, from runtime/sources.txt),
  # EKRT_MODEL_SRCS (ek_model.c, the ek_model.h glue) and EKRT_CFLAGS.
  EKRT_DIR := runtime
  include runtime/runtime.mk
  SRCS_C   += $(EKRT_SRCS) $(EKRT_MODEL_SRCS) model/model_data.c
  INCLUDES += -Iruntime $(EKRT_CFLAGS)
  # the app's calibration (ek_calib.c) runs a RAM head through edgekit-rt's ekrt_head.h
  CFLAGS   += -DEK_RUNTIME_EKRT=1
else ifeq ($(RUNTIME),tflm)
  ifeq ($(strip $(TFLM_DIR)),)
    $(error RUNTIME=tflm needs TFLM_DIR=<TensorFlow Lite Micro source tree>, e.g. one made by \
      tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py; or render with the \
      edgekit-rt runtime, which needs no TFLM)
  endif
  ifeq ($(wildcard $(TFLM_DIR)/tensorflow/lite/micro/micro_interpreter.h),)
    $(error TFLM_DIR=$(TFLM_DIR) has no tensorflow/lite/micro/micro_interpreter.h)
  endif
  # TFLM as TFLM's own Makefile builds it with BUILD_TYPE=release (tools/make/Makefile):
  # -DNDEBUG -DTF_LITE_STRIP_ERROR_STRINGS, core at -Os, kernels and third-party kernels at -O2.
  # A tree made with OPTIMIZED_KERNEL_DIR=cmsis_nn holds kernels/cmsis_nn/ (which replace the
  # reference kernels of the same name) and third_party/cmsis_nn: then -DCMSIS_NN, CMSIS-NN's
  # include paths and its C sources. The tree's objects go to TFLM_BUILD, which callers may point
  # at a cache shared by projects with the same tree and flags; the project archives them into
  # $(BUILD)/libtensorflow-microlite.a and links against it.
  TFLM_BUILD ?= $(BUILD)/tflm_tree
  TFLM_LIB   := $(BUILD)/libtensorflow-microlite.a
  TFLM_FLAGS := -DTF_LITE_STATIC_MEMORY -DTF_LITE_DISABLE_X86_NEON -DNDEBUG \
                -DTF_LITE_STRIP_ERROR_STRINGS
  TFLM_INCLUDES := -I$(TFLM_DIR) -I$(TFLM_DIR)/third_party/flatbuffers/include \
                   -I$(TFLM_DIR)/third_party/gemmlowp -I$(TFLM_DIR)/third_party/ruy \
                   -I$(TFLM_DIR)/third_party/kissfft
  TFLM_CC := $(shell find $(TFLM_DIR)/tensorflow -name '*.cc' -not -name '*_test.cc' \
               -not -path '*/examples/*' -not -path '*/benchmarks/*' -not -path '*/tools/*' \
               2>/dev/null | sort)
  TFLM_C  :=
  ifneq ($(wildcard $(TFLM_DIR)/third_party/cmsis_nn/Include/arm_nnfunctions.h),)
    TFLM_FLAGS    += -DCMSIS_NN
    TFLM_INCLUDES += -I$(TFLM_DIR)/third_party/cmsis_nn -I$(TFLM_DIR)/third_party/cmsis_nn/Include \
                     -I$(TFLM_DIR)/third_party/cmsis/CMSIS/Core/Include
    TFLM_C := $(shell find $(TFLM_DIR)/third_party/cmsis_nn/Source -name '*.c' 2>/dev/null | sort)
  endif
  # TFLM_KERNELS (paths in the tree) limits the kernels compiled to those the model's ops need
  # (edgekit's build passes them: the linker would take no other kernel from the library);
  # by hand, without it, every kernel of the tree is compiled, as TFLM's microlite target does.
  TFLM_CORE_CC   := $(filter-out $(TFLM_DIR)/tensorflow/lite/micro/kernels/%,$(TFLM_CC))
  ifneq ($(strip $(TFLM_KERNELS)),)
    TFLM_KERNEL_CC := $(addprefix $(TFLM_DIR)/,$(TFLM_KERNELS))
  else
    TFLM_KERNEL_CC := $(filter $(TFLM_DIR)/tensorflow/lite/micro/kernels/%,$(TFLM_CC))
  endif
  TFLM_OBJS := $(TFLM_CORE_CC:$(TFLM_DIR)/%.cc=$(TFLM_BUILD)/%.o) \
               $(TFLM_KERNEL_CC:$(TFLM_DIR)/%.cc=$(TFLM_BUILD)/%.o) \
               $(TFLM_C:$(TFLM_DIR)/%.c=$(TFLM_BUILD)/%.o)
  TFLM_CXXFLAGS := -std=c++17 $(ARCH_FLAGS) $(TFLM_FLAGS) -ffunction-sections -fdata-sections \
                   -fno-exceptions -fno-rtti -fno-threadsafe-statics -fno-unwind-tables \
                   -fno-asynchronous-unwind-tables -fmessage-length=0 $(TFLM_INCLUDES)
  TFLM_CFLAGS   := -std=c11 $(ARCH_FLAGS) $(TFLM_FLAGS) -ffunction-sections -fdata-sections \
                   -fno-unwind-tables -fno-asynchronous-unwind-tables $(TFLM_INCLUDES)
  SRCS_CXX += tflm/ek_model_tflm.cc model/model_data.cc
  INCLUDES += -Itflm $(TFLM_INCLUDES)
  CXXFLAGS += $(TFLM_FLAGS)
  LIBS     := $(TFLM_LIB) $(LIBS)
  LINKER   := $(CXX)
else
  $(error RUNTIME must be edgekit-rt or tflm, not '$(RUNTIME)')
endif

OBJS := $(SRCS_C:%.c=$(BUILD)/obj/%.o) $(SRCS_CXX:%.cc=$(BUILD)/obj/%.o)
OUT  := $(BUILD)/$(TARGET)

.PHONY: all clean size
all: $(OUT)

$(OUT): $(OBJS) $(LDSCRIPT) $(TFLM_LIB)
	$(LINKER) $(ARCH_FLAGS) $(OPT) $(OBJS) $(LDFLAGS) $(LIBS) -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INCLUDES) -c $< -o $@

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(INCLUDES) -c $< -o $@

ifeq ($(RUNTIME),tflm)
$(TFLM_LIB): $(TFLM_OBJS)
	@rm -f $@.tmp
	$(CROSS)ar rcs $@.tmp $^
	@mv $@.tmp $@

$(TFLM_CORE_CC:$(TFLM_DIR)/%.cc=$(TFLM_BUILD)/%.o): $(TFLM_BUILD)/%.o: $(TFLM_DIR)/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(TFLM_CXXFLAGS) -Os -c $< -o $@

$(TFLM_KERNEL_CC:$(TFLM_DIR)/%.cc=$(TFLM_BUILD)/%.o): $(TFLM_BUILD)/%.o: $(TFLM_DIR)/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(TFLM_CXXFLAGS) -O2 -c $< -o $@

ifneq ($(strip $(TFLM_C)),)
$(TFLM_C:$(TFLM_DIR)/%.c=$(TFLM_BUILD)/%.o): $(TFLM_BUILD)/%.o: $(TFLM_DIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TFLM_CFLAGS) -O2 -c $< -o $@
endif
endif

size: $(OUT)
	$(SIZE) $(OUT)

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d)

# The output path and the port's tools (compiler, size tool, their Debian packages), for tools
# (firmware.py) that need them without parsing this file.
.PHONY: print-out print-tools run
print-out:
	@echo $(OUT)

print-tools:
	@echo $(CC)
	@echo $(SIZE)
	@echo $(DEB_PKGS)

# Boot the firmware in QEMU on this terminal (emulated boards only: the generated Makefile sets
# QEMU_MACHINE from the board TOML's [qemu] machine; Ctrl-A X quits).
run: $(OUT)
ifeq ($(strip $(QEMU_MACHINE)),)
	@echo "port $(PORT) is not emulated; flash $(OUT) to the board" && false
else
	$(QEMU) -M $(QEMU_MACHINE) -icount shift=0 -nographic -serial stdio -monitor none \
	  -kernel $(OUT)
endif

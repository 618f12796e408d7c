# Two commands do all set-up on a fresh machine:
#   make demo   # default data -> train -> quantize -> export -> build -> bench in QEMU
#   make test   # the whole test suite (make test-quick skips the slow end-to-end tests)
# Both create/refresh .venv with the pinned set in constraints.txt and install the ARM
# toolchain and QEMU from Debian if they are missing.

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.edgekit-installed
APT_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm \
            arduino-builder arduino-ctags
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup sysdeps demo test test-quick clean

setup: $(STAMP) sysdeps

# torch goes first and pinned: an unpinned torch would pull several GB of CUDA packages.
$(STAMP): constraints.txt requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -c constraints.txt torch==2.13.0
	$(VENV)/bin/pip install -q -c constraints.txt -r requirements.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

sysdeps:
	@if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null \
	    && command -v arduino-builder >/dev/null && command -v arduino-ctags >/dev/null \
	    && [ -f /usr/lib/arm-none-eabi/newlib/libc.a -o -d /usr/lib/arm-none-eabi/newlib ]; then \
	  echo "sysdeps: arm-none-eabi-gcc, qemu-system-arm and arduino-builder present"; \
	else \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PKGS); \
	fi

demo: setup
	$(VENV)/bin/edgekit demo

test: setup
	$(PY) -m pytest -q

test-quick: setup
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf runs .pytest_cache

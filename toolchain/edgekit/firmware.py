"""Render and build the firmware project for a board.

render() assembles <run>/firmware/<board>/ from the repository's firmware sources and the run's
export artifacts (one direction of data: it reads only <run>/export/):

    app/      portable command loop (firmware/app)
    runtime/  edgekit-rt (firmware/runtime)   or   tflm/  the TFLM model wrapper (firmware/tflm)
    port/     the board port (firmware/ports/<port>, plus shared Cortex-M start-up code)
    model/    model_data.c (.cc for tflm), model_data.h, model_meta.h
    Makefile  PORT + RUNTIME, includes app/build.mk;  firmware.json  what was rendered

Spresense is an Arduino sketch instead: <dir>/edgekit/edgekit.ino with every source in src/.
build() runs make and reports flash/RAM from the toolchain's `size` against the board budgets.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .boards import FIRMWARE_DIR, Board
from .errors import EdgekitError
from .runs import Run, atomic_dir, write_json, write_text

RUNTIMES = ("edgekit-rt", "tflm")
# Source folders beyond ports/<port> that a port needs (copied into port/).
PORT_EXTRAS = {"mps2-an386": ("cortex-m",), "stm32f4": ("cortex-m",)}
ARDUINO_PORTS = ("spresense",)
_SKIP = shutil.ignore_patterns("tools", "tests", "test", "build", "__pycache__", "*.py", "*.pyc",
                               "*.o", "*.elf")
_SRC_EXT = (".c", ".h", ".cc", ".cpp", ".mk")


def _model_files(runtime: str) -> tuple[str, ...]:
    data = "model_data.cc" if runtime == "tflm" else "model_data.c"
    return (data, "model_data.h", "model_meta.h")


def _runtime_src(runtime: str, root: Path) -> Path:
    src = root / ("runtime" if runtime == "edgekit-rt" else "tflm")
    if not any(p.suffix in (".c", ".cc") for p in src.glob("*")):
        raise EdgekitError(f"{src}: no {runtime} sources found (the repository checkout is incomplete)")
    return src


def model_hash(meta: Path) -> str:
    m = re.search(r'#define\s+EK_MODEL_HASH\s+"([^"]*)"', meta.read_text(errors="replace"))
    if not m:
        raise EdgekitError(f"{meta}: no EK_MODEL_HASH define; re-run `edgekit export`")
    return m.group(1)


def render(run: Run, board: Board, runtime: str | None = None,
           firmware_root: Path = FIRMWARE_DIR) -> Path:
    """Write the firmware project for `board` into run.firmware_dir(board.name), atomically."""
    runtime = runtime or board.runtime
    if runtime not in RUNTIMES:
        raise EdgekitError(f"--runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")
    port_src = firmware_root / "ports" / board.port
    if not port_src.is_dir():
        raise EdgekitError(f"{board.path or board.name}: field 'port' = {board.port!r} has no "
                           f"sources at {port_src}")
    model = []
    for name in _model_files(runtime):
        p = run.export_dir / name
        if not p.is_file():
            raise EdgekitError(f"{p}: missing export artifact {name}; run "
                               f"`edgekit export --board {board.name}` first")
        model.append(p)
    rt_src = _runtime_src(runtime, firmware_root)
    _check_arena_runtime(run, board, runtime)
    record = {"board": board.name, "port": board.port, "runtime": runtime,
              "model_hash": model_hash(run.export_dir / "model_meta.h")}

    dest = run.firmware_dir(board.name)
    with atomic_dir(dest) as tmp:
        if board.port in ARDUINO_PORTS:
            _render_sketch(tmp, firmware_root, port_src, rt_src, model, runtime, record)
        else:
            shutil.copytree(firmware_root / "app", tmp / "app", ignore=_SKIP)
            shutil.copytree(rt_src, tmp / ("runtime" if runtime == "edgekit-rt" else "tflm"),
                            ignore=_SKIP)
            shutil.copytree(port_src, tmp / "port", ignore=_SKIP)
            for extra in PORT_EXTRAS.get(board.port, ()):
                for f in sorted((firmware_root / "ports" / extra).iterdir()):
                    if f.is_file():
                        shutil.copy2(f, tmp / "port" / f.name)
            (tmp / "model").mkdir()
            for p in model:
                shutil.copy2(p, tmp / "model" / p.name)
            write_text(tmp / "Makefile", _makefile(board, runtime))
        write_json(tmp / "firmware.json", record)
    return dest


def _check_arena_runtime(run: Run, board: Board, runtime: str) -> None:
    """EK_ARENA_SIZE is sized for one runtime (edgekit-rt's planner needs less than TFLM)."""
    from .runs import read_json

    exp = run.export_dir / "export.json"
    sized = (read_json(exp).get("arena") or {}).get("sized_for") if exp.is_file() else None
    if sized is not None and sized != runtime:
        raise EdgekitError(f"{exp}: the arena was sized for {sized}, the firmware is rendered for "
                           f"{runtime}: re-export with `edgekit export --board {board.name} "
                           f"--runtime {runtime}`")


def _makefile(board: Board, runtime: str) -> str:
    return (f"# Generated by edgekit for board {board.name} (port {board.port}, runtime {runtime}).\n"
            "#   make        build the firmware under build/\n"
            "#   make run    boot it in QEMU on this terminal (emulated boards)\n"
            + ("#   make TFLM_DIR=/path/to/tflm-tree   (a tree from TFLM's create_tflm_tree.py)\n"
               if runtime == "tflm" else "")
            + f"PORT    := {board.port}\nRUNTIME := {runtime}\ninclude app/build.mk\n")


def _render_sketch(tmp: Path, root: Path, port_src: Path, rt_src: Path, model: list[Path],
                   runtime: str, record: dict[str, Any]) -> None:
    """Arduino wants <sketch>/<sketch>.ino; it compiles everything under src/ (flat here)."""
    sketch = tmp / "edgekit"
    src = sketch / "src"
    src.mkdir(parents=True)
    files = [p for p in sorted((root / "app").iterdir()) if p.suffix in (".c", ".h")]
    files += [p for p in sorted(rt_src.iterdir()) if p.suffix in _SRC_EXT and p.suffix != ".mk"]
    files += [p for p in sorted(port_src.iterdir()) if p.suffix in (".c", ".cpp", ".h")]
    files += model
    for p in files:
        # Arduino compiles .cpp, not .cc: rename the C++ sources of the tflm runtime.
        name = p.stem + ".cpp" if p.suffix == ".cc" else p.name
        if (src / name).exists():
            raise EdgekitError(f"{p}: file name {name} clashes with another firmware source")
        shutil.copy2(p, src / name)
    shutil.copy2(port_src / "edgekit.ino", sketch / "edgekit.ino")
    write_text(src / "ek_config.h",
               "/* Generated by edgekit: the runtime this sketch was rendered with. */\n"
               + ("#define EK_RUNTIME_TFLM 1\n" if runtime == "tflm" else "")
               + f'#define EK_RUNTIME_NAME "{runtime}"\n')
    record["sketch"] = "edgekit/edgekit.ino"


# ------------------------------------------------------------------------------------ build

_ARM_PKGS = "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib"


def _read_record(fw_dir: Path) -> dict[str, Any]:
    from .runs import read_json
    rec = read_json(fw_dir / "firmware.json")
    if not isinstance(rec, dict) or "port" not in rec:
        raise EdgekitError(f"{fw_dir / 'firmware.json'}: not a rendered firmware record; "
                           "re-run `edgekit export --board <board>`")
    return rec


def build(fw_dir: Path, board: Board, make_vars: dict[str, str] | None = None,
          timeout_s: float = 900.0) -> dict[str, Any]:
    """Compile a rendered project; return the ELF path and its flash/RAM use vs the budgets.

    make_vars are passed to make (e.g. {"TFLM_DIR": ...}, or {"SANITIZE": "1"} on the host port).
    """
    fw_dir = Path(fw_dir)
    rec = _read_record(fw_dir)
    make_vars = dict(make_vars or {})
    if rec["port"] in ARDUINO_PORTS:
        return _build_sketch(fw_dir, board, rec)
    host = rec["port"] == "host"
    cc = "gcc" if host else "arm-none-eabi-gcc"
    if shutil.which("make") is None or shutil.which(cc) is None:
        pkg = "build-essential" if host else _ARM_PKGS
        raise EdgekitError(f"{cc} (or make) not found on PATH: building for {board.name} needs the "
                           f"Debian packages {pkg} (sudo apt-get install {pkg})")
    if rec["runtime"] == "tflm" and not (make_vars.get("TFLM_DIR") or os.environ.get("TFLM_DIR")):
        raise EdgekitError(f"{fw_dir}: runtime tflm needs a TensorFlow Lite Micro source tree: set "
                           "TFLM_DIR=/path/to/tree (made by TFLM's create_tflm_tree.py), or render "
                           "with --runtime edgekit-rt")
    args = [f"{k}={v}" for k, v in sorted(make_vars.items())]
    jobs = f"-j{min(2, os.cpu_count() or 1)}"
    proc = subprocess.run(["make", "-C", str(fw_dir), jobs, *args], capture_output=True,
                          text=True, timeout=timeout_s)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(log.strip().splitlines()[-25:])
        raise EdgekitError(f"{fw_dir}: firmware build failed (make exit {proc.returncode}):\n{tail}")
    out = subprocess.run(["make", "-s", "-C", str(fw_dir), "print-out", *args],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    elf = fw_dir / out
    size_tool = "size" if host else "arm-none-eabi-size"
    text, data, bss = _berkeley_size(size_tool, elf)
    flash, ram = text + data, data + bss
    return {
        "elf": str(elf), "board": board.name, "port": rec["port"], "runtime": rec["runtime"],
        "model_hash": rec.get("model_hash"),
        "text": text, "data": data, "bss": bss,  # bss includes the reserved stack on Cortex-M
        "flash_bytes": flash, "ram_bytes": ram,
        "flash_budget": board.flash_bytes, "ram_budget": board.ram_bytes,
        "fits": flash <= board.flash_bytes and ram <= board.ram_bytes,
    }


def _berkeley_size(tool: str, elf: Path) -> tuple[int, int, int]:
    out = subprocess.run([tool, "-B", str(elf)], capture_output=True, text=True, check=True).stdout
    fields = out.strip().splitlines()[-1].split()
    return int(fields[0]), int(fields[1]), int(fields[2])


def _build_sketch(fw_dir: Path, board: Board, rec: dict[str, Any]) -> dict[str, Any]:
    sketch = fw_dir / "edgekit"
    cli = shutil.which("arduino-cli")
    hint = (f"open {sketch / 'edgekit.ino'} in the Arduino IDE with the Spresense board package, or run "
            f"`arduino-cli compile --fqbn SPRESENSE:spresense:spresense {sketch}`")
    if cli is None:
        raise EdgekitError(f"{board.name}: cannot compile here: arduino-cli with the Spresense board "
                           f"package (SPRESENSE:spresense) is not installed; the sketch is rendered, "
                           f"{hint}")
    proc = subprocess.run([cli, "compile", "--fqbn", "SPRESENSE:spresense:spresense", str(sketch)],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise EdgekitError(f"{sketch}: arduino-cli compile failed:\n{tail}")
    # "Sketch uses N bytes ... Global variables use M bytes" (Arduino's summary lines)
    m1 = re.search(r"Sketch uses (\d+) bytes", proc.stdout)
    m2 = re.search(r"Global variables use (\d+) bytes", proc.stdout)
    flash = int(m1.group(1)) if m1 else None
    ram = int(m2.group(1)) if m2 else None
    return {"elf": None, "sketch": str(sketch), "board": board.name, "runtime": rec["runtime"],
            "flash_bytes": flash, "ram_bytes": ram, "flash_budget": board.flash_bytes,
            "ram_budget": board.ram_bytes,
            "fits": None if flash is None or ram is None else
            (flash <= board.flash_bytes and ram <= board.ram_bytes)}

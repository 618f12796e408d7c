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

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from .boards import FIRMWARE_DIR, Board
from .errors import EdgekitError
from .runs import Run, atomic_dir, cache_dir, write_json, write_text

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


def project_name(board: Board, runtime: str | None) -> str:
    """<board> for the board's own runtime, <board>-<runtime> for another: the firmware/ and bench/
    subdirectories, so that both runtimes of one board can sit side by side."""
    return board.name if runtime in (None, board.runtime) else f"{board.name}-{runtime}"


def render(run: Run, board: Board, runtime: str | None = None,
           firmware_root: Path = FIRMWARE_DIR, dest: Path | None = None) -> Path:
    """Write the firmware project for `board` into `dest` (default run.firmware_dir(board.name)),
    atomically."""
    runtime = runtime or board.runtime
    if runtime not in RUNTIMES:
        raise EdgekitError(f"--runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")
    check_runtime(board, runtime)
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
    record = {"board": board.name, "port": board.port, "runtime": runtime,
              "model_hash": model_hash(run.export_dir / "model_meta.h")}

    dest = Path(dest) if dest is not None else run.firmware_dir(board.name)
    with atomic_dir(dest) as tmp:
        if board.port in ARDUINO_PORTS:
            _render_sketch(tmp, firmware_root, port_src, rt_src, model, runtime, record)
        else:
            shutil.copytree(firmware_root / "app", tmp / "app", ignore=_SKIP)
            shutil.copytree(firmware_root / "dsp", tmp / "dsp", ignore=_SKIP)
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


def check_runtime(board: Board, runtime: str | None) -> None:
    """Refuse, with the reason, a runtime the board's build cannot compile ([arduino] runtimes)."""
    allowed = board.raw.get("arduino", {}).get("runtimes")
    if runtime is not None and allowed is not None and runtime not in allowed:
        raise EdgekitError(_arduino_runtime_refusal(board, runtime))


def _arduino_runtime_refusal(board: Board, runtime: str) -> str:
    where = board.path or f"boards/{board.name}.toml"
    if runtime == "tflm":
        return (f"--runtime tflm: board {board.name} builds an Arduino sketch, and the Spresense "
                "board package's platform.txt compiles C++ with -std=gnu++11 while TensorFlow Lite "
                "Micro needs C++17 (e.g. std::is_integral_v); the sketch cannot change that flag "
                "from inside. Use --runtime edgekit-rt (the default: the same .tflite, byte-exact "
                "with TFLM's reference kernels, no TFLM needed), or build TFLM with the Spresense "
                f"SDK (NuttX, make) outside the Arduino IDE ({where}: [arduino] runtimes)")
    return f"--runtime {runtime}: board {board.name} supports {board.raw['arduino']['runtimes']} ({where})"


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
    files += [p for p in sorted((root / "dsp").iterdir()) if p.suffix in (".c", ".h")]
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
          timeout_s: float | None = None) -> dict[str, Any]:
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
    tflm: dict[str, Any] = {}
    if rec["runtime"] == "tflm":
        tflm = _tflm_tree(fw_dir, rec["port"], make_vars.get("TFLM_DIR") or os.environ.get("TFLM_DIR"))
        make_vars["TFLM_DIR"] = tflm["dir"]
        make_vars.setdefault("TFLM_BUILD", tflm["build_dir"])
        tflm["objects_cached"] = sum(1 for _ in Path(make_vars["TFLM_BUILD"]).rglob("*.o")) \
            if Path(make_vars["TFLM_BUILD"]).is_dir() else 0
        kernels = tflm_kernels(Path(tflm["dir"]), fw_dir / "model" / "model_meta.h")
        if kernels is not None and "TFLM_KERNELS" not in make_vars:
            make_vars["TFLM_KERNELS"] = " ".join(kernels)
            tflm["kernel_files"] = len(kernels)
    args = [f"{k}={v}" for k, v in sorted(make_vars.items())]
    jobs = f"-j{min(2, os.cpu_count() or 1)}"
    # the first build against a TFLM tree compiles the tree: allow it an hour on a slow machine
    timeout_s = timeout_s or (3600.0 if tflm else 900.0)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(["make", "-C", str(fw_dir), jobs, *args], capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"{fw_dir}: firmware build did not finish in {timeout_s:.0f} s; objects "
                           "compiled so far are kept, so running it again continues") from None
    build_s = round(time.monotonic() - t0, 1)
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
        "build_s": build_s,
        **({"tflm": tflm} if tflm else {}),
    }


_KERNELS = "tensorflow/lite/micro/kernels"


def tflm_kernels(tree: Path, meta_h: Path) -> list[str] | None:
    """The tree's kernel sources the model needs: every file that defines the Register_*() of one
    of the model's ops (EK_OPS in model_meta.h -> MicroMutableOpResolver::AddX -> Register_Y), plus
    every kernel file that registers no op (the shared *_common.cc and utilities). The linker
    would take nothing else from a library of all kernels, and compiling all ~150 of them takes
    most of a TFLM build. None (compile them all) when any op cannot be traced."""
    m = re.search(r"#define\s+EK_OPS\(X\)(.*)", meta_h.read_text(errors="replace"))
    resolver = tree / "tensorflow/lite/micro/micro_mutable_op_resolver.h"
    if not m or not resolver.is_file():
        return None
    header = resolver.read_text(errors="replace")
    wanted = set()
    for op in re.findall(r"X\((\w+)\)", m.group(1)):
        r = re.search(rf"TfLiteStatus\s+{op}\s*\([^)]*?Register_(\w+)\(\)", header, re.S)
        if not r:
            return None
        wanted.add(r.group(1))
    chosen, found = [], set()
    for p in sorted((tree / _KERNELS).rglob("*.cc")):
        if p.name.endswith("_test.cc"):
            continue
        defines = set(re.findall(r"TFLMRegistration\s+Register_(\w+)\(\)\s*\{",
                                 p.read_text(errors="replace")))
        if not defines or defines & wanted:
            chosen.append(str(p.relative_to(tree)))
            found |= defines & wanted
    return chosen if found == wanted else None


def _tflm_tree(fw_dir: Path, port: str, tflm_dir: str | None) -> dict[str, Any]:
    """Check a TFLM tree and name the cache directory its compiled library lives in: one per
    tree content, port and build rules, so every project built against the same tree reuses it
    (compiling a tree takes minutes; linking a model against it, seconds)."""
    if not tflm_dir:
        raise EdgekitError(f"{fw_dir}: runtime tflm needs a TensorFlow Lite Micro source tree: set "
                           "TFLM_DIR=/path/to/tree or --tflm-dir (a tree made by TFLM's "
                           "create_tflm_tree.py), or render with --runtime edgekit-rt")
    tree = Path(tflm_dir).expanduser().resolve()
    if not (tree / "tensorflow/lite/micro/micro_interpreter.h").is_file():
        raise EdgekitError(f"TFLM_DIR={tflm_dir}: not a TensorFlow Lite Micro tree (expected "
                           "tensorflow/lite/micro/micro_interpreter.h in it; make one with "
                           "tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py)")
    h = hashlib.sha256()
    for p in sorted(tree.rglob("*")):
        if p.is_file() and p.suffix in (".c", ".cc", ".h", ".hpp", ".inc"):
            h.update(str(p.relative_to(tree)).encode() + b"\0" + p.read_bytes())
    for rules in (fw_dir / "app" / "build.mk", fw_dir / "port" / "port.mk"):
        h.update(rules.read_bytes() if rules.is_file() else b"")
    key = h.hexdigest()[:16]
    cmsis = (tree / "third_party/cmsis_nn/Include/arm_nnfunctions.h").is_file()
    return {"dir": str(tree), "tree_hash": key, "kernels": "cmsis_nn" if cmsis else "reference",
            "build_dir": str(cache_dir() / "tflm" / f"{port}-{key}")}


def _berkeley_size(tool: str, elf: Path) -> tuple[int, int, int]:
    out = subprocess.run([tool, "-B", str(elf)], capture_output=True, text=True, check=True).stdout
    fields = out.strip().splitlines()[-1].split()
    return int(fields[0]), int(fields[1]), int(fields[2])


def spresense_kit() -> Path | None:
    """The offline Spresense build kit (build-sketch over arduino-builder): $EDGEKIT_SPRESENSE_KIT,
    else ../shared/spresense-kit beside the repository, if present."""
    from .boards import REPO_ROOT

    env = os.environ.get("EDGEKIT_SPRESENSE_KIT")
    for p in ([Path(env)] if env else []) + [REPO_ROOT.parent / "shared" / "spresense-kit"]:
        if (p / "build-sketch").is_file():
            return p
    return None


def _fqbn_memory_kb(fqbn: str) -> int | None:
    m = re.search(r"(?:^|[:,])Memory=(\d+)", fqbn)
    return int(m.group(1)) if m else None


def _build_sketch(fw_dir: Path, board: Board, rec: dict[str, Any]) -> dict[str, Any]:
    sketch = fw_dir / "edgekit"
    if not board.fqbn:
        raise EdgekitError(f"{board.path or board.name}: missing [arduino] fqbn (the Arduino board "
                           "name with its Tools menu choices, e.g. SPRESENSE:spresense:spresense:"
                           "Core=Main,Memory=768)")
    cli, kit = shutil.which("arduino-cli"), spresense_kit()
    hint = (f"open {sketch / 'edgekit.ino'} in the Arduino IDE with the Spresense board package "
            f"(Tools > Memory as in {board.fqbn}), or run `arduino-cli compile --fqbn {board.fqbn} "
            f"{sketch}`")
    t0 = time.monotonic()
    if kit is not None and not (cli and os.environ.get("EDGEKIT_ARDUINO") == "cli"):
        mem = _fqbn_memory_kb(board.fqbn)
        out = fw_dir / "build"
        if out.exists():
            shutil.rmtree(out)
        cmd = [str(kit / "build-sketch"), str(sketch), "--out", str(out)]
        if mem:
            cmd += ["--memory", str(mem)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        tool, elf = "build-sketch", out / "edgekit.ino.elf"
    elif cli is not None:
        proc = subprocess.run([cli, "compile", "--fqbn", board.fqbn, str(sketch)],
                              capture_output=True, text=True, timeout=3600)
        tool, elf = "arduino-cli compile", None
    else:
        raise EdgekitError(f"{board.name}: cannot compile here: neither arduino-cli with the "
                           "Spresense board package nor the Spresense build kit (set "
                           f"EDGEKIT_SPRESENSE_KIT) is installed; the sketch is rendered, {hint}")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise EdgekitError(f"{sketch}: {tool} failed:\n{tail}")
    # "Sketch uses N bytes ... Global variables use M bytes" (Arduino's summary lines)
    m1 = re.search(r"Sketch uses (\d+) bytes", proc.stdout)
    m2 = re.search(r"Global variables use (\d+) bytes", proc.stdout)
    flash = int(m1.group(1)) if m1 else None
    ram = int(m2.group(1)) if m2 else flash   # Spresense: code, data and bss share one RAM
    return {"elf": str(elf) if elf is not None and elf.is_file() else None, "sketch": str(sketch),
            "board": board.name, "runtime": rec["runtime"], "fqbn": board.fqbn, "tool": tool,
            "flash_bytes": flash, "ram_bytes": ram, "flash_budget": board.flash_bytes,
            "ram_budget": board.ram_bytes, "build_s": round(time.monotonic() - t0, 1),
            "fits": None if flash is None or ram is None else
            (flash <= board.flash_bytes and ram <= board.ram_bytes)}

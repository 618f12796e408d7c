"""Render and build the firmware project for a board.

render() assembles <run>/firmware/<board>/ from the repository's firmware sources and the run's
export artifacts (one direction of data: it reads only <run>/export/):

    app/      portable command loop (firmware/app)
    runtime/  edgekit-rt (firmware/runtime)   or   tflm/  the TFLM model wrapper (firmware/tflm)
    port/     the board port (firmware/ports/<port>, plus shared Cortex-M start-up code)
    model/    model_data.c (.cc for tflm), model_data.h, model_meta.h
    Makefile  PORT + RUNTIME, includes app/build.mk;  firmware.json  what was rendered

A port whose port.toml says build = "arduino" is an Arduino sketch instead: <dir>/edgekit/edgekit.ino
with every source in src/. Everything per board or port comes from the board TOML and the port's
files (port.toml, port.mk): this module branches on no board or port name.
build() runs make (or the board's Arduino builder), reports flash/RAM from the port's size tool
against the board budgets and writes that record beside the firmware: <dir>/build.json.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

from . import runs
from .boards import FIRMWARE_DIR, Board, port_search_path
from .errors import EdgekitError
from .runs import Run, atomic_dir, cache_dir, write_json, write_text

RUNTIMES = ("edgekit-rt", "tflm")
RENDER_RECORD = "firmware.json"  # what render() wrote (board, port, runtime, model hash)
BUILD_RECORD = "build.json"  # what build() made: ELF, flash/RAM, toolchain versions
PORT_FILE = "port.toml"  # a port's own description: build = make | arduino, shared = [...]
PORT_BUILDS = ("make", "arduino")
_SKIP = shutil.ignore_patterns(
    "tools", "tests", "test", "build", "__pycache__", "*.py", "*.pyc", "*.o", "*.elf", PORT_FILE
)

# Subprocess limits, in seconds. A make build of edgekit-rt with a model compiles ~40 C files:
# under a minute here; 15 minutes covers a slow machine and a large model array.
MAKE_BUILD_TIMEOUT_S = 900.0
# The first build against a TFLM tree compiles the tree (minutes; later builds reuse the cached
# objects): an hour on a slow machine.
TFLM_BUILD_TIMEOUT_S = 3600.0
# An Arduino build (build-sketch, arduino-cli) compiles the board package's core and libraries
# on every clean build: minutes; an hour is the ceiling before we call it hung.
ARDUINO_BUILD_TIMEOUT_S = 3600.0
# make's queries (print-out, print-tools), `--version` and the size tool only read files: a
# minute means the tool hangs.
TOOL_QUERY_TIMEOUT_S = 60.0
# Lines of a failed tool's output quoted in the error: enough for make's first compiler error.
OUTPUT_TAIL_LINES = 25
_SRC_EXT = (".c", ".h", ".cc", ".cpp", ".mk")


def _model_files(runtime: str) -> tuple[str, ...]:
    data = "model_data.cc" if runtime == "tflm" else "model_data.c"
    return (data, "model_data.h", "model_meta.h")


def _runtime_src(runtime: str, root: Path) -> Path:
    src = root / ("runtime" if runtime == "edgekit-rt" else "tflm")
    if not any(p.suffix in (".c", ".cc") for p in src.glob("*")):
        raise EdgekitError(
            f"{src}: no {runtime} sources found (the repository checkout is incomplete)"
        )
    return src


def export_model_hash(run: Run) -> str:
    """runs.model_hash of the run's exported .tflite: what the firmware rendered from it reports."""
    tfl = run.require(
        run.export_dir / "model_int8.tflite", "int8 model", "run `edgekit export` first"
    )
    return runs.model_hash(tfl.read_bytes())


def _port_config(board: Board, firmware_root: Path) -> tuple[Path, str, list[Path]]:
    """The board's port folder, its build kind and the shared folders it names (port.toml)."""
    search = port_search_path(board, firmware_root)
    port_src = next((d / board.port for d in search if (d / board.port).is_dir()), None)
    if port_src is None:
        raise EdgekitError(
            f"{board.path or board.name}: field 'port' = {board.port!r} has no "
            f"sources at {' or '.join(str(d / board.port) for d in search)}"
        )
    cfg_path = port_src / PORT_FILE
    try:
        cfg = tomllib.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise EdgekitError(
            f"{cfg_path}: missing; a port says how it is built there "
            f'(build = "make" or "arduino", shared = [...]; firmware/ports/README.md)'
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise EdgekitError(f"{cfg_path}: cannot read port file ({e})") from None
    kind = cfg.get("build")
    if kind not in PORT_BUILDS:
        raise EdgekitError(
            f"{cfg_path}: field 'build' should be one of {', '.join(PORT_BUILDS)}, got {kind!r}"
        )
    shared = cfg.get("shared", [])
    if not isinstance(shared, list) or not all(isinstance(x, str) for x in shared):
        raise EdgekitError(
            f"{cfg_path}: field 'shared' should be a list of folder names, got {shared!r}"
        )
    dirs = []
    for name in shared:
        d = next((p / name for p in [port_src.parent, *search] if (p / name).is_dir()), None)
        if d is None:
            raise EdgekitError(
                f"{cfg_path}: shared folder {name!r} not found beside the port "
                f"or in {' or '.join(str(p) for p in search)}"
            )
        dirs.append(d)
    return port_src, kind, dirs


def project_name(board: Board, runtime: str | None) -> str:
    """<board> for the board's own runtime, <board>-<runtime> for another: the firmware/ and bench/
    subdirectories, so that both runtimes of one board can sit side by side."""
    return board.name if runtime in (None, board.runtime) else f"{board.name}-{runtime}"


def sources_hash(
    board: Board, runtime: str | None = None, firmware_root: Path = FIRMWARE_DIR
) -> str:
    """What a rendered project was copied from (app, dsp, runtime, port and its shared folders):
    a project rendered by another edgekit checkout is stale even when the model is the same."""
    runtime = runtime or board.runtime
    port_src, _kind, shared = _port_config(board, firmware_root)
    h = hashlib.sha256()
    for top in (
        firmware_root / "app",
        firmware_root / "dsp",
        _runtime_src(runtime, firmware_root),
        port_src,
        *shared,
    ):
        for d, dirs, files in os.walk(top):
            skip = _SKIP(d, dirs + files)
            dirs[:] = sorted(x for x in dirs if x not in skip)
            for f in sorted(files):
                if f not in skip:
                    p = Path(d) / f
                    # relative to its folder: a port may live outside the repository
                    rel = Path(top.name) / p.relative_to(top)
                    h.update(str(rel).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def render(
    run: Run,
    board: Board,
    runtime: str | None = None,
    firmware_root: Path = FIRMWARE_DIR,
    dest: Path | None = None,
) -> Path:
    """Write the firmware project for `board` into `dest` (default run.firmware_dir(board.name)),
    atomically."""
    runtime = runtime or board.runtime
    if runtime not in RUNTIMES:
        raise EdgekitError(f"--runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")
    check_runtime(board, runtime)
    port_src, kind, shared = _port_config(board, firmware_root)
    model = []
    for name in _model_files(runtime):
        p = run.export_dir / name
        if not p.is_file():
            raise EdgekitError(
                f"{p}: missing export artifact {name}; run "
                f"`edgekit export --board {board.name}` first"
            )
        model.append(p)
    rt_src = _runtime_src(runtime, firmware_root)
    record = {
        "board": board.name,
        "port": board.port,
        "runtime": runtime,
        "build": kind,
        "model_hash": export_model_hash(run),
        "sources_hash": sources_hash(board, runtime, firmware_root),
    }

    dest = Path(dest) if dest is not None else run.firmware_dir(board.name)
    with atomic_dir(dest) as tmp:
        if kind == "arduino":
            _render_sketch(board, tmp, firmware_root, port_src, rt_src, model, runtime, record)
        else:
            shutil.copytree(firmware_root / "app", tmp / "app", ignore=_SKIP)
            shutil.copytree(firmware_root / "dsp", tmp / "dsp", ignore=_SKIP)
            shutil.copytree(
                rt_src, tmp / ("runtime" if runtime == "edgekit-rt" else "tflm"), ignore=_SKIP
            )
            shutil.copytree(port_src, tmp / "port", ignore=_SKIP)
            for extra in shared:
                for f in sorted(extra.iterdir()):
                    if f.is_file():
                        shutil.copy2(f, tmp / "port" / f.name)
            (tmp / "model").mkdir()
            for p in model:
                shutil.copy2(p, tmp / "model" / p.name)
            write_text(tmp / "Makefile", _makefile(board, runtime))
        write_json(tmp / RENDER_RECORD, record)
    return dest


def check_runtime(board: Board, runtime: str | None) -> None:
    """Refuse, with the board's reason, a runtime its build cannot compile ([arduino] runtimes)."""
    allowed = board.raw.get("arduino", {}).get("runtimes")
    if runtime is not None and allowed is not None and runtime not in allowed:
        where = board.path or f"boards/{board.name}.toml"
        why = board.raw["arduino"].get("runtimes_why")
        raise EdgekitError(
            f"--runtime {runtime}: board {board.name} builds an Arduino sketch "
            f"that supports only {', '.join(allowed)}"
            + (f": {why}" if why else "")
            + f" ({where}: [arduino] runtimes)"
        )


def _makefile(board: Board, runtime: str) -> str:
    return (
        f"# Generated by edgekit for board {board.name} (port {board.port}, runtime {runtime}).\n"
        "#   make        build the firmware under build/\n"
        "#   make run    boot it in QEMU on this terminal (emulated boards)\n"
        + (
            "#   make TFLM_DIR=/path/to/tflm-tree   (a tree from TFLM's create_tflm_tree.py)\n"
            if runtime == "tflm"
            else ""
        )
        + f"PORT    := {board.port}\nRUNTIME := {runtime}\n"
        + (
            f"QEMU_MACHINE := {board.qemu_machine}\nQEMU    := {board.qemu_binary}\n"
            if board.emulated
            else ""
        )
        + "include app/build.mk\n"
    )


def _render_sketch(
    board: Board,
    tmp: Path,
    root: Path,
    port_src: Path,
    rt_src: Path,
    model: list[Path],
    runtime: str,
    record: dict[str, Any],
) -> None:
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
    write_text(
        sketch / "edgekit.ino", sketch_header(board, runtime) + _body(port_src / "edgekit.ino")
    )
    write_text(
        src / "ek_config.h",
        "/* Generated by edgekit: the runtime this sketch was rendered with. */\n"
        + ("#define EK_RUNTIME_TFLM 1\n" if runtime == "tflm" else "")
        + f'#define EK_RUNTIME_NAME "{runtime}"\n',
    )
    record["sketch"] = "edgekit/edgekit.ino"


def _body(ino: Path) -> str:
    """The port's sketch without its leading comment (the rendered header replaces it)."""
    text = ino.read_text()
    if text.startswith("/*") and "*/" in text:
        text = text[text.index("*/") + 2 :].lstrip("\n")
    return text


def sketch_header(board: Board, runtime: str) -> str:
    """What a user who opens the sketch needs: the board it was rendered for, the Arduino IDE's
    Tools menu choices of its fqbn (the IDE's own defaults differ, e.g. Memory 768 KB), the
    arduino-cli line that builds it and the edgekit line that flashes it."""
    fqbn = board.fqbn or ""
    labels = board.raw.get("arduino", {}).get("menu_labels", {})
    board_id = ":".join(fqbn.split(":", 3)[:3])
    menu = [f" *   Tools > Board: {labels.get('board', board_id)} ({board_id})"]
    for key, value in fqbn_options(fqbn).items():
        menu.append(f" *   Tools > {key}: {labels.get(f'{key}={value}', value)}")
    lines = [
        f"/* edgekit firmware for {board.description}.",
        " *",
        f" * Rendered by `edgekit export --board {board.name}` (runtime {runtime}): src/ holds the",
        " * command loop, the runtime and the model.",
        " *",
        f" * Arduino IDE: with the board package for {board_id} installed, pick in the Tools menu",
        *menu,
        " * From a shell, build and put it on the board:",
        f" *   arduino-cli compile --fqbn {fqbn} edgekit",
        f" *   edgekit flash --board {board.name} --port /dev/ttyUSB0",
        f" * Serial at {board.baud} baud speaks the EEMBC / MLPerf Tiny runner protocol;",
        f" * `edgekit bench --board {board.name} --port /dev/ttyUSB0` drives it. */",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ build


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-OUTPUT_TAIL_LINES:]) or "(no output)"


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_tool(cmd: list[str], timeout_s: float, what: str, hint: str = "") -> str:
    """Run a build tool and return its stdout. A tool that cannot start, exits non-zero or runs
    past timeout_s is an EdgekitError naming the command, the exit code and the tail of its
    output. It runs in a process group of its own, so a timeout also kills what it started
    (make's compilers), and nothing keeps running after we give up."""
    shown = " ".join(shlex.quote(str(c)) for c in cmd)
    try:
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as e:
        raise EdgekitError(
            f"{what}: cannot run `{shown}` ({e.strerror or e})" + (f"; {hint}" if hint else "")
        ) from None
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        raise EdgekitError(
            f"{what}: `{shown}` did not finish in {timeout_s:g} s and was killed"
            + (f"; {hint}" if hint else "")
            + f"; its output ended with:\n"
            f"{_tail(out + err)}"
        ) from None
    except BaseException:  # Ctrl-C: stop the compilers too
        _kill_group(proc)
        proc.wait()
        raise
    if proc.returncode != 0:
        raise EdgekitError(
            f"{what}: `{shown}` failed (exit {proc.returncode})"
            + (f"; {hint}" if hint else "")
            + f":\n{_tail(out + err)}"
        )
    return out


def _version(tool: str) -> str:
    """First line of `tool --version`, for the toolchain in build.json (informative only: a tool
    that cannot say is recorded as such, the build stands)."""
    try:
        out = run_tool([tool, "--version"], TOOL_QUERY_TIMEOUT_S, f"{tool} --version").strip()
    except EdgekitError:
        return f"unknown ({tool} --version failed)"
    return out.splitlines()[0] if out else "unknown"


def _read_record(fw_dir: Path) -> dict[str, Any]:
    path = fw_dir / RENDER_RECORD
    rec = runs.read_json(path)
    if not isinstance(rec, dict) or not {"port", "runtime", "build"} <= set(rec):
        raise EdgekitError(
            f"{path}: not a rendered firmware record (needs port, runtime, build); "
            "re-run `edgekit export --board <board>`"
        )
    return rec


def read_build_record(fw_dir: Path) -> dict[str, Any] | None:
    """<fw_dir>/build.json as build() wrote it, or None when the project was not built."""
    path = Path(fw_dir) / BUILD_RECORD
    if not path.is_file():
        return None
    rec = runs.read_json(path)
    if not isinstance(rec, dict) or "elf" not in rec or "model_hash" not in rec:
        raise EdgekitError(
            f"{path}: not a firmware build record (needs elf, model_hash); "
            "rebuild with `edgekit export --board <board> --build`"
        )
    return rec


def build(
    fw_dir: Path,
    board: Board,
    make_vars: dict[str, str] | None = None,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Compile a rendered project; return the ELF path and its flash/RAM use vs the budgets, and
    write the same record to <fw_dir>/build.json (removed first: a failed build leaves none).

    make_vars are passed to make (e.g. {"TFLM_DIR": ...}, or {"SANITIZE": "1"} on the host port).
    """
    fw_dir = Path(fw_dir)
    rec = _read_record(fw_dir)
    (fw_dir / BUILD_RECORD).unlink(missing_ok=True)
    t0 = time.monotonic()
    if rec["build"] == "arduino":
        info = _build_sketch(fw_dir, board, rec, timeout_s)
    else:
        info = _build_make(fw_dir, board, rec, dict(make_vars or {}), timeout_s)
    info["build_s"] = round(time.monotonic() - t0, 1)
    info["record"] = str(fw_dir / BUILD_RECORD)
    write_json(
        fw_dir / BUILD_RECORD, {"stage": "firmware-build", **info, "provenance": runs.provenance()}
    )
    return info


def _build_make(
    fw_dir: Path,
    board: Board,
    rec: dict[str, Any],
    make_vars: dict[str, str],
    timeout_s: float | None,
) -> dict[str, Any]:
    if shutil.which("make") is None:
        raise EdgekitError(
            f"make not found on PATH: building for {board.name} needs it (the "
            "Debian package make, or build-essential)"
        )
    tflm: dict[str, Any] = {}
    if rec["runtime"] == "tflm":
        tflm = _tflm_tree(
            fw_dir, rec["port"], make_vars.get("TFLM_DIR") or os.environ.get("TFLM_DIR")
        )
        make_vars["TFLM_DIR"] = tflm["dir"]
        make_vars.setdefault("TFLM_BUILD", tflm["build_dir"])
        tflm["objects_cached"] = (
            sum(1 for _ in Path(make_vars["TFLM_BUILD"]).rglob("*.o"))
            if Path(make_vars["TFLM_BUILD"]).is_dir()
            else 0
        )
        kernels = tflm_kernels(Path(tflm["dir"]), fw_dir / "model" / "model_meta.h")
        if kernels is not None and "TFLM_KERNELS" not in make_vars:
            make_vars["TFLM_KERNELS"] = " ".join(kernels)
            tflm["kernel_files"] = len(kernels)
    args = [f"{k}={v}" for k, v in sorted(make_vars.items())]
    # the port's compiler and size tool, as its port.mk names them
    tools = run_tool(
        ["make", "-s", "-C", fw_dir, "print-tools", *args],
        TOOL_QUERY_TIMEOUT_S,
        "reading the port's tools",
    ).splitlines()
    tools += [""] * (3 - len(tools))
    cc, size_tool, pkgs = (t.strip() for t in tools[-3:])
    if not cc or shutil.which(cc) is None:
        install = f" (sudo apt-get install {pkgs})" if pkgs else ""
        raise EdgekitError(
            f"{cc or 'CC'} not found on PATH: building for {board.name} needs the "
            f"compiler its port names in port/port.mk{install}"
        )
    jobs = f"-j{min(2, os.cpu_count() or 1)}"
    timeout_s = timeout_s or (TFLM_BUILD_TIMEOUT_S if tflm else MAKE_BUILD_TIMEOUT_S)
    run_tool(
        ["make", "-C", fw_dir, jobs, *args],
        timeout_s,
        f"{fw_dir}: firmware build",
        hint="objects compiled so far are kept, so running it again continues",
    )
    out = (
        run_tool(
            ["make", "-s", "-C", fw_dir, "print-out", *args],
            TOOL_QUERY_TIMEOUT_S,
            "reading the firmware's output path",
        )
        .strip()
        .splitlines()[-1]
    )
    elf = fw_dir / out
    text, data, bss = _berkeley_size(size_tool, elf)
    flash, ram = text + data, data + bss
    return {
        "elf": str(elf),
        "board": board.name,
        "port": rec["port"],
        "runtime": rec["runtime"],
        "model_hash": rec.get("model_hash"),
        "text": text,
        "data": data,
        "bss": bss,  # bss includes the reserved stack on Cortex-M
        "flash_bytes": flash,
        "ram_bytes": ram,
        "flash_budget": board.flash_bytes,
        "ram_budget": board.ram_bytes,
        "fits": flash <= board.flash_bytes and ram <= board.ram_bytes,
        "toolchain": {"make": _version("make"), "cc": _version(cc), "size": _version(size_tool)},
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
        defines = set(
            re.findall(r"TFLMRegistration\s+Register_(\w+)\(\)\s*\{", p.read_text(errors="replace"))
        )
        if not defines or defines & wanted:
            chosen.append(str(p.relative_to(tree)))
            found |= defines & wanted
    return chosen if found == wanted else None


def _tflm_tree(fw_dir: Path, port: str, tflm_dir: str | None) -> dict[str, Any]:
    """Check a TFLM tree and name the cache directory its compiled library lives in: one per
    tree content, port and build rules, so every project built against the same tree reuses it
    (compiling a tree takes minutes; linking a model against it, seconds)."""
    if not tflm_dir:
        raise EdgekitError(
            f"{fw_dir}: runtime tflm needs a TensorFlow Lite Micro source tree: set "
            "TFLM_DIR=/path/to/tree or --tflm-dir (a tree made by TFLM's "
            "create_tflm_tree.py), or render with --runtime edgekit-rt"
        )
    tree = Path(tflm_dir).expanduser().resolve()
    if not (tree / "tensorflow/lite/micro/micro_interpreter.h").is_file():
        raise EdgekitError(
            f"TFLM_DIR={tflm_dir}: not a TensorFlow Lite Micro tree (expected "
            "tensorflow/lite/micro/micro_interpreter.h in it; make one with "
            "tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py)"
        )
    h = hashlib.sha256()
    for p in sorted(tree.rglob("*")):
        if p.is_file() and p.suffix in (".c", ".cc", ".h", ".hpp", ".inc"):
            h.update(str(p.relative_to(tree)).encode() + b"\0" + p.read_bytes())
    for rules in (fw_dir / "app" / "build.mk", fw_dir / "port" / "port.mk"):
        h.update(rules.read_bytes() if rules.is_file() else b"")
    key = h.hexdigest()[:16]
    cmsis = (tree / "third_party/cmsis_nn/Include/arm_nnfunctions.h").is_file()
    return {
        "dir": str(tree),
        "tree_hash": key,
        "kernels": "cmsis_nn" if cmsis else "reference",
        "build_dir": str(cache_dir() / "tflm" / f"{port}-{key}"),
    }


def _berkeley_size(tool: str, elf: Path) -> tuple[int, int, int]:
    if not tool:
        raise EdgekitError(f"{elf}: the port's port.mk names no SIZE tool to measure it with")
    out = run_tool([tool, "-B", elf], TOOL_QUERY_TIMEOUT_S, f"{elf}: measuring flash/RAM")
    try:
        fields = out.strip().splitlines()[-1].split()
        return int(fields[0]), int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        raise EdgekitError(
            f"{elf}: `{tool} -B` printed {out.strip()[-200:]!r}, expected Berkeley "
            "format (text data bss dec hex filename)"
        ) from None


def arduino_kit(board: Board) -> Path | None:
    """The board's offline Arduino build kit ([arduino.kit]: a folder holding its command): the
    folder in $<kit.env>, else the first of kit.dirs (relative to the board TOML) that holds it."""
    kit = board.raw.get("arduino", {}).get("kit")
    if not kit:
        return None
    tool = kit["command"][0]
    env = os.environ.get(kit.get("env", "")) if kit.get("env") else None
    base = board.path.parent if board.path is not None else Path.cwd()
    for p in ([Path(env)] if env else []) + [base / d for d in kit.get("dirs", [])]:
        if (p / tool).is_file():
            return p.resolve()
    return None


def fqbn_options(fqbn: str) -> dict[str, str]:
    """The Tools menu choices of a fully qualified board name (vendor:arch:board:K=V,K=V)."""
    parts = fqbn.split(":", 3)
    opts = parts[3] if len(parts) == 4 else ""
    return dict(kv.split("=", 1) for kv in opts.split(",") if "=" in kv)


def _build_sketch(
    fw_dir: Path, board: Board, rec: dict[str, Any], timeout_s: float | None
) -> dict[str, Any]:
    sketch = fw_dir / "edgekit"
    where = board.path or board.name
    if not board.fqbn:
        raise EdgekitError(
            f"{where}: missing [arduino] fqbn (the Arduino board name with its "
            "Tools menu choices, e.g. SPRESENSE:spresense:spresense:Core=Main,"
            "Memory=768)"
        )
    kit_cfg = board.raw["arduino"].get("kit") or {}
    cli, kit = shutil.which("arduino-cli"), arduino_kit(board)
    hint = (
        f"open {sketch / 'edgekit.ino'} in the Arduino IDE with the board package of "
        f"{board.fqbn} (Tools menu as in it), or run `arduino-cli compile --fqbn "
        f"{board.fqbn} {sketch}`"
    )
    timeout_s = timeout_s or ARDUINO_BUILD_TIMEOUT_S
    if kit is not None and not (cli and os.environ.get("EDGEKIT_ARDUINO") == "cli"):
        out = fw_dir / "build"
        if out.exists():
            shutil.rmtree(out)
        values = {**fqbn_options(board.fqbn), "sketch": str(sketch), "out": str(out)}
        try:
            tool, *args = kit_cfg["command"]
            cmd = [str(kit / tool)] + [a.format(**values) for a in args]
        except KeyError as e:
            raise EdgekitError(
                f"{where}: [arduino.kit] command uses {{{e.args[0]}}}, which is "
                f"neither sketch, out nor a menu option of fqbn "
                f"{board.fqbn}"
            ) from None
        try:
            stdout = run_tool(cmd, timeout_s, f"{sketch}: {tool}")
        except EdgekitError:
            shutil.rmtree(out, ignore_errors=True)  # no half-written build folder
            raise
        elf: Path | None = out / kit_cfg.get("elf", "edgekit.ino.elf")
        version = f"{tool} ({kit})"
    elif cli is not None:
        out = fw_dir / "build"  # the .elf and the .spk the upload writes
        stdout = run_tool(
            [cli, "compile", "--fqbn", board.fqbn, "--output-dir", out, sketch],
            timeout_s,
            f"{sketch}: arduino-cli compile",
        )
        tool, elf, version = "arduino-cli compile", out / "edgekit.ino.elf", _version(cli)
    else:
        env = kit_cfg.get("env")
        raise EdgekitError(
            f"{board.name}: cannot compile here: neither arduino-cli with the board "
            f"package of {board.fqbn} nor the board's build kit "
            + (f"(set {env}) " if env else "")
            + f"is installed; the sketch is "
            f"rendered, {hint}"
        )
    # "Sketch uses N bytes ... Global variables use M bytes" (Arduino's summary lines)
    m1 = re.search(r"Sketch uses (\d+) bytes", stdout)
    m2 = re.search(r"Global variables use (\d+) bytes", stdout)
    flash = int(m1.group(1)) if m1 else None
    # a board whose code runs from RAM (shared_code_ram) counts the whole image against it
    ram = int(m2.group(1)) if m2 else (flash if board.shared_code_ram else None)
    return {
        "elf": str(elf) if elf is not None and elf.is_file() else None,
        "sketch": str(sketch),
        "board": board.name,
        "port": rec["port"],
        "runtime": rec["runtime"],
        "model_hash": rec.get("model_hash"),
        "fqbn": board.fqbn,
        "tool": tool,
        "flash_bytes": flash,
        "ram_bytes": ram,
        "flash_budget": board.flash_bytes,
        "ram_budget": board.ram_bytes,
        "fits": None
        if flash is None or ram is None
        else (flash <= board.flash_bytes and ram <= board.ram_bytes),
        "toolchain": {"builder": version},
    }


def up_to_date_build(
    run: Run, board: Board, runtime: str | None = None, make_vars: dict[str, str] | None = None
) -> dict[str, Any]:
    """The run's firmware for `board` built from its current export: (re-)render the project
    (firmware/<board>, or firmware/<board>-<runtime> for another runtime than the board's) when
    it is missing or holds an older export, older firmware sources or another runtime, build it,
    and return the build record (with 'elf')."""
    runtime = runtime or board.runtime
    fw_dir = run.firmware_dir(project_name(board, runtime))
    rendered = fw_dir / RENDER_RECORD
    old = runs.read_json(rendered) if rendered.exists() else {}
    if (
        old.get("model_hash") != export_model_hash(run)
        or old.get("sources_hash") != sources_hash(board, runtime)
        or old.get("runtime", board.runtime) != runtime
        or "build" not in old
    ):
        fw_dir = render(run, board, runtime=runtime, dest=fw_dir)
    return build(fw_dir, board, make_vars=make_vars)

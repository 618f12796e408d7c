"""Cortex-M4 cycle estimates for firmware run under QEMU, through the m4cycles TCG plugin
(m4cycles.c beside this file; the model is in docs/runtime-cycles.md). Standard library only, so
the bench harness can load it by path (register it before running it: its dataclasses look
themselves up in sys.modules):

    spec = importlib.util.spec_from_file_location("m4cycles", FIRMWARE_DIR / "runtime/tools/qemu_cycles/m4cycles.py")
    m4 = sys.modules["m4cycles"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m4)

    plugin = build_plugin(build_dir)                       # gcc -shared -fPIC, once per source
    markers = call_markers(elf, ["ek_model_invoke"])       # a function's entry + return sites
    cmd = [...qemu-system-arm..., *plugin_args(plugin, markers, hits_file)]
    ...run QEMU (to exit, or kill it: every hit is already on disk)...
    prof = read_profile(hits_file, markers)
    for call in prof.calls("ek_model_invoke"):
        call.counts.cycles, call.counts.instructions, call.counts.by_class()

A call lasts from the first instruction of the function to the instruction its BL returns to:
the callee's work and its return, not the BL itself.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "m4cycles.c"
CLASSES = (
    "alu",
    "mul",
    "dsp",
    "div",
    "load",
    "store",
    "dual",
    "multi",
    "branch",
    "fp",
    "fp_mac",
    "fp_div",
    "fp_mem",
    "other",
)
EVENTS = ("pipelined", "agu_stall", "taken", "not_taken", "refill_cycles")
NM = "arm-none-eabi-nm"
OBJDUMP = "arm-none-eabi-objdump"


@dataclass(frozen=True)
class Counts:
    """Cumulative counters: instructions and cycles per class, and the events."""

    n: tuple[int, ...]  # instructions per class (CLASSES order)
    c: tuple[int, ...]  # cycles per class, pairing effects included
    e: tuple[int, ...]  # EVENTS; refill_cycles = P x taken branches

    @property
    def instructions(self) -> int:
        return sum(self.n)

    @property
    def cycles(self) -> int:
        return sum(self.c) + self.e[EVENTS.index("refill_cycles")]

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            tuple(a - b for a, b in zip(self.n, other.n, strict=True)),
            tuple(a - b for a, b in zip(self.c, other.c, strict=True)),
            tuple(a - b for a, b in zip(self.e, other.e, strict=True)),
        )

    def by_class(self) -> dict[str, dict[str, int]]:
        """{class: {"instructions": n, "cycles": c}} for the classes that occur."""
        return {
            k: {"instructions": n, "cycles": c}
            for k, n, c in zip(CLASSES, self.n, self.c, strict=True)
            if n
        }

    def events(self) -> dict[str, int]:
        return dict(zip(EVENTS, self.e, strict=True))

    def as_dict(self) -> dict:
        return {
            "instructions": self.instructions,
            "cycles_estimate": self.cycles,
            "by_class": self.by_class(),
            "events": self.events(),
        }


@dataclass(frozen=True)
class Marker:
    address: int
    name: str  # the function (or label) it belongs to
    kind: str  # "enter" (function entry), "return" (after a BL to it), "at" (a label)


@dataclass
class Call:
    function: str
    counts: Counts
    calls: list[Call] = field(default_factory=list)  # calls to marked functions inside it


@dataclass
class Profile:
    p: int
    div: int
    hits: list[tuple[Marker, Counts]]  # in execution order, counters as before the instruction
    end: Counts | None  # totals at QEMU's exit; None when QEMU was killed
    roots: list[Call]  # completed calls to marked functions, outermost first

    def calls(self, function: str) -> list[Call]:
        """Every completed call of `function`, at any depth, in the order they returned."""
        out: list[Call] = []

        def walk(cs: list[Call]) -> None:
            for c in cs:
                walk(c.calls)
                if c.function == function:
                    out.append(c)

        walk(self.roots)
        return out


def build_plugin(build_dir: Path | None = None) -> Path:
    """Compile m4cycles.c into build_dir (default: a per-user cache); reused while the source
    is unchanged. Returns the .so path."""
    src = SOURCE.read_bytes()
    tag = hashlib.sha256(src).hexdigest()[:12]
    if build_dir is None:
        build_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgekit"
    build_dir.mkdir(parents=True, exist_ok=True)
    so = build_dir / f"m4cycles-{tag}.so"
    if so.is_file():
        return so
    cc = shutil.which(os.environ.get("CC", "gcc"))
    if cc is None:
        raise RuntimeError("m4cycles: no host C compiler (gcc) to build the QEMU plugin")
    with tempfile.NamedTemporaryFile(dir=build_dir, suffix=".so", delete=False) as tmp:
        pass
    cmd = [cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"]
    proc = subprocess.run(
        [*cmd, "-fvisibility=hidden", "-o", tmp.name, str(SOURCE)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        Path(tmp.name).unlink(missing_ok=True)
        raise RuntimeError(f"m4cycles: building {SOURCE} failed:\n{proc.stderr[-2000:]}")
    os.replace(tmp.name, so)
    return so


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise RuntimeError(f"{name} not found (Debian: binutils-arm-none-eabi)")
    return exe


def _symbols(elf: Path) -> dict[str, int]:
    out = subprocess.run([_tool(NM), str(elf)], capture_output=True, text=True, check=True).stdout
    syms: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms.setdefault(parts[2], int(parts[0], 16) & ~1)  # Thumb bit off
    return syms


def symbol_markers(elf: Path, names: list[str]) -> list[Marker]:
    """One "at" marker per symbol (a label or a function entry)."""
    syms = _symbols(elf)
    missing = [n for n in names if n not in syms]
    if missing:
        raise ValueError(f"{elf}: no symbol {', '.join(missing)}")
    return [Marker(syms[n], n, "at") for n in names]


_BL = re.compile(r"^\s*([0-9a-f]+):\s+[0-9a-f]{4} [0-9a-f]{4}\s+bl\s+[0-9a-f]+ <([^>+]+)>")


def call_markers(elf: Path, functions: list[str]) -> list[Marker]:
    """An "enter" marker at each function's first instruction and a "return" marker after every
    BL to it (direct calls; a call through a pointer or a tail call has no return site)."""
    syms = _symbols(elf)
    missing = [f for f in functions if f not in syms]
    if missing:
        raise ValueError(f"{elf}: no function {', '.join(missing)} (inlined or renamed?)")
    markers = [Marker(syms[f], f, "enter") for f in functions]
    dis = subprocess.run(
        [_tool(OBJDUMP), "-d", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    wanted = set(functions)
    for line in dis.splitlines():
        if (m := _BL.match(line)) and m[2] in wanted:
            markers.append(Marker(int(m[1], 16) + 4, m[2], "return"))
    return markers


def plugin_args(
    plugin: Path,
    markers: list[Marker],
    out: Path,
    p: int = 2,
    div: int = 12,
    dump: Path | None = None,
) -> list[str]:
    """The QEMU arguments that load the plugin: ["-plugin", "lib.so,out=...,markers=..."]."""
    opts = [f"out={out}", f"p={p}", f"div={div}"]
    if markers:
        opts.append("markers=" + ":".join(f"{a:#x}" for a in sorted({m.address for m in markers})))
    if dump is not None:
        opts.append(f"dump={dump}")
    spec = ",".join([str(plugin), *opts])
    if any("," in str(x) for x in (plugin, out, dump) if x is not None):
        raise ValueError(f"{spec}: QEMU's -plugin option cannot take paths with commas")
    return ["-plugin", spec]


def _counts(fields: list[str], path: Path) -> Counts:
    k, e = len(CLASSES), len(EVENTS)
    if len(fields) != 2 * k + e:
        raise ValueError(f"{path}: a counter line has {len(fields)} numbers, expected {2 * k + e}")
    v = tuple(int(x) for x in fields)
    return Counts(v[:k], v[k : 2 * k], v[2 * k :])


def read_profile(path: Path, markers: list[Marker]) -> Profile:
    """Parse the plugin's out= file; pair enter/return hits into calls."""
    lines = Path(path).read_text().splitlines()
    head = re.match(
        r"m4cycles 1 p=(\d+) div=(\d+) classes (\S+) events (\S+)$", lines[0] if lines else ""
    )
    if not head or tuple(head[3].split(",")) != CLASSES or tuple(head[4].split(",")) != EVENTS:
        raise ValueError(f"{path}: not an m4cycles 1 file with this module's classes and events")
    at: dict[int, list[Marker]] = {}
    for m in markers:
        at.setdefault(m.address, []).append(m)
    order = {"return": 0, "at": 1, "enter": 2}  # one address may end one call and start another
    addresses = sorted(at)
    hits: list[tuple[Marker, Counts]] = []
    end = None
    for line in lines[1:]:
        f = line.split()
        if f[0] == "hit":
            counts = _counts(f[2:], path)
            for m in sorted(at[addresses[int(f[1])]], key=lambda m: order[m.kind]):
                hits.append((m, counts))
        elif f[0] == "end":
            end = _counts(f[1:], path)
    return Profile(int(head[1]), int(head[2]), hits, end, _pair(hits))


def _pair(hits: list[tuple[Marker, Counts]]) -> list[Call]:
    """Nest enter/return hits into calls. A return with no open call of its function (a site
    also reached without the call) is ignored; calls left open when an outer one returns (a
    tail call, a longjmp) are dropped."""
    roots: list[Call] = []
    stack: list[tuple[str, Counts, list[Call]]] = []
    for m, counts in hits:
        if m.kind == "enter":
            stack.append((m.name, counts, []))
        elif m.kind == "return" and any(name == m.name for name, _, _ in stack):
            while stack[-1][0] != m.name:
                stack.pop()
            name, start, inner = stack.pop()
            (stack[-1][2] if stack else roots).append(Call(name, counts - start, inner))
    return roots

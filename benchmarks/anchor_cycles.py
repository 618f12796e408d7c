"""Cortex-M4 cycle estimates for the TFLM anchor images (reference kernels, CMSIS-NN) with the
m4cycles plugin (firmware/runtime/tools/qemu_cycles). The anchor is an external instrument: its
path comes from the command line, its ELFs are run in place, nothing of it is copied.

The images are stripped, so the regions come from their own timer. The function that reads
SysTick (the one loading SYST_CVR, 0xE000E018) is called before and after Invoke() and, from
TFLM's profiler, before and after every op; its entry and the instruction after each call to it
are markers, so the plugin's counters are known around every timer read. Which two call sites
bracket Invoke() is not assumed: it is the pair whose spans match, one for one, the instruction
counts the anchor prints itself (TIME ticks x 40, within two ticks); the op spans inside an
Invoke() must match its PROF lines the same way. If nothing matches, no cycles are reported
rather than wrong ones.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "firmware" / "runtime" / "tools" / "qemu_cycles"))
import m4cycles  # noqa: E402

ELF = {"reference": "tflm-reference.elf", "cmsis-nn": "tflm-cmsis-nn.elf"}
INSTR_PER_TICK = 40
TOLERANCE = 2 * INSTR_PER_TICK  # a tick of rounding at each end


@dataclass
class Read:
    site: int  # the call instruction's address
    before: m4cycles.Counts  # at the timer function's entry
    after: m4cycles.Counts  # at the instruction after the call


def timer_sites(elf: Path) -> tuple[int, list[int]]:
    """(entry of the SysTick-reading function, addresses of the BLs that call it)."""
    dis = subprocess.run(
        ["arm-none-eabi-objdump", "-d", "-M", "force-thumb", str(elf)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    insn = re.compile(r"^\s*([0-9a-f]+):\s+(?:[0-9a-f]{4} ?){1,2}\s+(\S+)\s*(.*)$")
    rows = [(int(m[1], 16), m[2], m[3]) for line in dis.splitlines() if (m := insn.match(line))]
    bl_targets = sorted(
        {int(a, 16) for _, op, a in rows if op == "bl" and re.fullmatch(r"0x[0-9a-f]+", a)}
    )
    for i, (addr, op, args) in enumerate(rows):
        base = re.fullmatch(r"(r\d+), #3758153728.*", args) if op == "mov.w" else None
        if base and any(
            o.startswith("ldr") and re.fullmatch(rf"r\d+, \[{base[1]}, #24\].*", a)
            for _, o, a in rows[i + 1 : i + 4]
        ):
            entry = max(t for t in bl_targets if t <= addr)
            sites = [a for a, o, x in rows if o == "bl" and x == f"{entry:#x}"]
            return entry, sites
    raise RuntimeError(f"{elf}: no function reading SysTick's SYST_CVR found")


def _reads(prof: m4cycles.Profile) -> list[Read]:
    out: list[Read] = []
    entry: m4cycles.Counts | None = None
    for m, counts in prof.hits:
        if m.kind == "enter":
            entry = counts
        elif entry is not None:
            out.append(Read(int(m.name, 16), entry, counts))
            entry = None
    return out


def _invokes(reads: list[Read], ticks: list[int]) -> list[tuple[int, int]] | None:
    """Index pairs (t0 read, t1 read) of the Invoke() spans: of the call-site pairs whose spans
    match the anchor's TIME lines one for one, the closest (a pair that stops at the profiler's
    last op can come within tolerance on a one-op model)."""
    best: tuple[int, list[tuple[int, int]]] | None = None
    sites = sorted({r.site for r in reads})
    for a in sites:
        for b in sites:
            spans, i = [], 0
            while i < len(reads):
                if reads[i].site == a:
                    j = next((k for k in range(i + 1, len(reads)) if reads[k].site == b), None)
                    if j is None:
                        break
                    spans.append((i, j))
                    i = j
                i += 1
            if len(spans) != len(ticks):
                continue
            dev = [
                abs((reads[j].before - reads[i].after).instructions - t * INSTR_PER_TICK)
                for (i, j), t in zip(spans, ticks, strict=True)
            ]
            if max(dev) <= TOLERANCE and (best is None or sum(dev) < best[0]):
                best = (sum(dev), spans)
    return best[1] if best else None


def _ops(
    reads: list[Read], span: tuple[int, int], prof_instr: list[int]
) -> list[m4cycles.Counts] | None:
    inner = reads[span[0] + 1 : span[1]]
    if len(inner) != 2 * len(prof_instr):
        return None
    ops = [inner[2 * k + 1].before - inner[2 * k].after for k in range(len(prof_instr))]
    ok = all(abs(c.instructions - n) <= TOLERANCE for c, n in zip(ops, prof_instr, strict=True))
    return ops if ok else None


def measure(anchor: Path, variant: str, model: Path, inputs: Path, plugin: Path) -> dict | None:
    """Cycles of one anchor image on a model, as run-anchor runs it; None if the timer spans do
    not match the anchor's own instruction counts."""
    elf = anchor.parent / ELF[variant]
    entry, sites = timer_sites(elf)
    markers = [m4cycles.Marker(entry, "timer", "enter")]
    markers += [m4cycles.Marker(s + 4, f"{s:#x}", "return") for s in sites]
    with tempfile.TemporaryDirectory(prefix="anchor-cycles-") as tmp:
        hits = Path(tmp) / "hits.txt"
        proc = subprocess.run(
            ["qemu-system-arm", "-M", "mps2-an386", "-icount", "shift=0", "-nographic"]
            + ["-monitor", "none", "-serial", "stdio", "-semihosting-config"]
            + [f"enable=on,target=native,arg=anchor,arg={model.resolve()},arg={inputs.resolve()}"]
            + ["-kernel", str(elf), *m4cycles.plugin_args(plugin, markers, hits)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if proc.returncode != 0 or "ANCHOR end" not in proc.stdout:
            return None
        prof = m4cycles.read_profile(hits, markers)
    ticks = [int(t) for t in re.findall(r"^TIME input=\d+ run=\d+ ticks=(\d+)", proc.stdout, re.M)]
    prof_ops = re.findall(r"^PROF op=(\d+) tag=(\S+) ticks=(\d+)", proc.stdout, re.M)
    reads = _reads(prof)
    spans = _invokes(reads, ticks)
    if spans is None:
        return None
    runs = [reads[j].before - reads[i].after for i, j in spans]
    per_op = None
    for span in spans:
        per_op = _ops(reads, span, [int(t) * INSTR_PER_TICK for _, _, t in prof_ops])
        if per_op is not None:
            break
    return {
        "cycles": int(statistics.median_low([c.cycles for c in runs])),
        "cycles_all_runs": [c.cycles for c in runs],
        "instructions_plugin": int(statistics.median_low([c.instructions for c in runs])),
        "by_class": runs[0].by_class(),
        "ops": None
        if per_op is None
        else [
            {"index": int(i), "op": tag, "cycles": c.cycles, "instructions": c.instructions}
            for (i, tag, _), c in zip(prof_ops, per_op, strict=True)
        ],
    }

"""Instructions per hop of the on-device feature chain (firmware/dsp) on an emulated Cortex-M4F.

    PYTHONPATH=toolchain .venv/bin/python benchmarks/bench_features.py runs/mbv2-w0.2/export/model_meta.h

Builds firmware/dsp/tools/ek_features_bench.c against the export's model_meta.h (its grid,
band-pass, hop and window) as the stm32f4 port builds firmware (hard float, -Os,
-ffp-contract=off), runs it in QEMU netduinoplus2 with -icount shift=0, and prints the SysTick
ticks of each hop as instructions (one instruction per ns of virtual time, SysTick at the
168 MHz core clock): pushed one sample at a time, and in blocks of EK_FEAT_BLOCK_MAX samples as
the firmware's stream does. Hops from the window's fill onwards also make the frame (RMS,
normalisation, quantization).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FW = REPO / "firmware"
CM = FW / "ports" / "cortex-m"
CORE_HZ = 168e6  # netduinoplus2 SysTick clock: ticks * 1e9 / CORE_HZ = instructions


def build(meta: Path, out: Path) -> Path:
    (out / "model_meta.h").write_bytes(meta.read_bytes())
    elf = out / "ek_features_bench.elf"
    cmd = [
        "arm-none-eabi-gcc",
        "-mcpu=cortex-m4",
        "-mthumb",
        "-mfloat-abi=hard",
        "-mfpu=fpv4-sp-d16",
        "-Os",
        "-ffp-contract=off",
        "-std=c99",
        "-Wall",
        "-Werror",
        f"-I{out}",
        f"-I{FW / 'dsp'}",
        f"-I{CM}",
        f"-I{FW / 'app'}",
        str(FW / "dsp" / "ek_features.c"),
        str(FW / "dsp" / "tools" / "ek_features_bench.c"),
        *(str(CM / f) for f in ("cm_startup.c", "cm_systick.c", "cm_semihost.c")),
        str(out / "port_write.c"),
        f"-T{FW / 'ports' / 'stm32f4' / 'stm32f405.ld'}",
        f"-L{CM}",
        "-nostartfiles",
        "--specs=nano.specs",
        "-Wl,--gc-sections",
        "-lm",
        "-lc",
        "-lgcc",
        "-o",
        str(elf),
    ]
    # cm_startup's fault handler writes through the port: a stub is enough here
    (out / "port_write.c").write_text(
        '#include <stddef.h>\n#include "ek_port.h"\n'
        "void ek_port_write(const char *buf, size_t len) { (void)buf; (void)len; }\n"
    )
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"building {elf.name} failed:\n{proc.stderr[-2000:]}")
    return elf


def run(elf: Path) -> dict[int, list[float]]:
    proc = subprocess.run(
        ["qemu-system-arm", "-M", "netduinoplus2", "-icount", "shift=0", "-nographic"]
        + ["-monitor", "none", "-serial", "null", "-semihosting-config"]
        + ["enable=on,target=native", "-kernel", str(elf)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    hops: dict[int, list[float]] = {}
    for b, _, t in re.findall(r"block (\d+) hop (\d+) ticks (\d+)", proc.stdout + proc.stderr):
        hops.setdefault(int(b), []).append(int(t) * 1e9 / CORE_HZ)
    if proc.returncode != 0 or not hops:
        raise SystemExit(f"{elf}: QEMU exited {proc.returncode}: {proc.stdout[-500:]}")
    return hops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("meta", type=Path, help="an export's model_meta.h")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found")
    text = a.meta.read_text()
    if "#define EK_FEAT_CHAIN 1" not in text:
        raise SystemExit(f"{a.meta}: no on-device feature chain (EK_FEAT_CHAIN 1) in this export")
    with tempfile.TemporaryDirectory() as d:
        hops = run(build(a.meta, Path(d)))
    rows = {
        b: {
            "median_instructions": float(np.median(v)),
            "max_instructions": float(np.max(v)),
            "hops": len(v),
        }
        for b, v in sorted(hops.items())
    }
    if a.json:
        json.dump({"meta": str(a.meta), "per_block": rows}, sys.stdout, indent=1)
        print()
        return
    ch = re.search(r"#define EK_GRID_CHANNELS (\d+)", text)
    hop = re.search(r"#define EK_FEAT_HOP (\d+)", text)
    print(f"{a.meta}: {ch and ch.group(1)} channels, {hop and hop.group(1)} samples per hop")
    print(f"{'samples per push':>17s} {'median instr/hop':>17s} {'max instr/hop':>14s}")
    for b, r in rows.items():
        print(f"{b:>17d} {r['median_instructions']:>17,.0f} {r['max_instructions']:>14,.0f}")


if __name__ == "__main__":
    main()

"""`edgekit bench`: drive a board (or QEMU) over the serial protocol and check it against the host.

protocol.py  framing and reply parsing (pure)      link.py    DeviceLink over any pyserial URL
qemu.py      boot an ELF in qemu-system-arm         harness.py run_bench (the measurements)
report.py    bench.json / bench.md / bench.png       run.py     bench_on_board (the command)
"""

from .harness import run_bench

__all__ = ["run_bench"]

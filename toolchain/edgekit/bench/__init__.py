"""`edgekit bench`: drive a board (or QEMU) over the serial protocol and check it against the host.

protocol.py  framing and reply parsing (pure)       link.py     DeviceLink over any pyserial URL
qemu.py      boot an ELF in qemu-system-arm          timeouts.py every link, boot, command timeout
session.py   open a device, handshake, capabilities, retries, the commands (bench and stream)
harness.py   run_bench: the one bench loop           record.py   the typed bench record
checks.py    can the model run on the board          run.py      bench_on_board (the command)
report.py    bench.json / bench.md / bench.png        stream.py   streaming replay
layers.py    per-op profile and per-layer diff
"""

from .harness import run_bench

__all__ = ["run_bench"]

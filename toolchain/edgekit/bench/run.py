"""`edgekit bench` and `edgekit stream` on a board: the firmware they boot and the bench itself.

current_firmware() is the build step the harnesses call for an emulated board (render when the
project is missing or stale, then build); bench_on_board() is the command; check_tflite() refuses
a --tflite model the board cannot run before anything is exported or built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import firmware, runs
from ..boards import Board
from ..errors import EdgekitError
from . import checks
from .harness import run_bench


def check_tflite(model: Path, board: Board, runtimes: list[str]) -> None:
    """bench --tflite: the file is an int8 .tflite that each runtime can run, checked before the
    host reference runs it (tflite_micro can crash on a model edgekit-rt would refuse)."""
    try:
        data = Path(model).read_bytes()
    except FileNotFoundError:
        raise EdgekitError(f"--tflite {model}: file not found") from None
    except OSError as e:
        raise EdgekitError(f"--tflite {model}: cannot read ({e.strerror})") from None
    for runtime in runtimes:
        checks.check_model(data, str(model), board, runtime)


def current_firmware(
    run: runs.Run, board: Board, runtime: str | None = None, make_vars: dict[str, str] | None = None
) -> Callable[[], dict[str, Any]]:
    """A build_fn for the harnesses: firmware.up_to_date_build when the harness needs the image."""
    return lambda: firmware.up_to_date_build(run, board, runtime, make_vars)


def bench_on_board(
    run: runs.Run,
    board: Board,
    port: str | None,
    samples: int,
    baud: int | None,
    progress: bool,
    runtime: str | None = None,
    make_vars: dict[str, str] | None = None,
    profile: bool = False,
    diff: bool = False,
) -> dict[str, Any]:
    """Bench the run's exported model; for an emulated board with no --port, build and boot QEMU.
    runtime: edgekit-rt or tflm (default the board's); another runtime than the board's is built
    in firmware/<board>-<runtime> and reported in bench/<board>-<runtime>."""
    run.require(
        run.export_dir / "reference.npz",
        "exported model",
        f"run `edgekit export --board {board.name}` first",
    )
    runtime = runtime or board.runtime
    tfl = run.require(
        run.export_dir / "model_int8.tflite", "int8 model", "run `edgekit export` first"
    )
    checks.check_model(tfl.read_bytes(), str(tfl), board, runtime)  # before any build
    checks.check_input_buffers(run.export_dir, board)
    name = firmware.project_name(board, runtime)
    build_fn = current_firmware(run, board, runtime, make_vars)
    if port is None and not board.emulated:
        raise EdgekitError(
            f"--port: board {board.name} is real hardware; give its serial port, "
            "e.g. --port /dev/ttyUSB0 (or any pyserial URL)"
        )
    return run_bench(
        run,
        board,
        port,
        samples=samples,
        progress=progress,
        build_fn=build_fn if port is None else None,
        baud=baud,
        bench_name=name,
        profile=profile,
        diff=diff,
    )

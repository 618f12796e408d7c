"""Shared helpers for the firmware tests (tests/test_firmware_*.py and the runtime, DSP, stream
and calibration tests): a tiny real int8 model, a serial-protocol link, a host C build (gcc,
optionally under sanitizers) and the marker for tests that need QEMU and the Arm compiler.

The model is made with TensorFlow (Keras -> TFLiteConverter, int8 in/out); its export artifacts
(model_data.c/.cc/.h, model_meta.h) are written by the export stage's own writers
(edgekit.export.carray); the expected outputs come from the tflite_micro interpreter.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# the Keras -> int8 .tflite conversion the benchmark zoo uses (benchmarks run without tests/)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from zoo_models import int8_tflite  # noqa: E402

LABELS = ("idle", "fist", "open", "pinch", "point")

# for the tests that build for the emulated Cortex-M4 (mps2-an386) and run it
needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)


SAN_CFLAGS = ["-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def build_host_c(exe: Path, *args: str, sanitize: bool = True) -> Path:
    """gcc -std=c99 with warnings as errors: args (flags, sources, libraries) into exe; sanitize:
    under ASan + UBSan (-O1, the first report ends the run), else -O2."""
    opt = SAN_CFLAGS if sanitize else ["-O2"]
    cmd = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *opt, *args, "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


def make_tiny_tflite(seed: int = 0) -> bytes:
    """An 8x24x1 -> 5 int8 net with conv, depthwise conv, a residual add, mean and dense."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((8, 24, 1), batch_size=1)
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu6")(inp)
    y = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = tf.keras.layers.Add()([x, y])
    x = tf.keras.layers.Conv2D(8, 1, strides=2)(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    out = tf.keras.layers.Dense(len(LABELS))(x)
    return int8_tflite(tf.keras.Model(inp, out), grid_samples(seed))


def grid_samples(seed: int, n: int = 32) -> list[np.ndarray]:
    """n normal 1x8x24x1 float32 frames: the calibration inputs of the tests' grid models."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(1, 8, 24, 1)).astype(np.float32) for _ in range(n)]


def write_export(export_dir: Path, tflite: bytes, arena_bytes: int = 64 * 1024) -> dict:
    """Write model_int8.tflite, model_data.{c,cc,h} and model_meta.h with the export stage's own
    writers (edgekit.export.carray); return the quantization facts."""
    from edgekit import runs
    from edgekit.checkpoint import ModelRecord
    from edgekit.export import carray
    from edgekit.export.tflite import inspect_tflite, resolver_ops

    info = inspect_tflite(tflite, "tiny test model")
    n_out = int(info.output.shape[-1])
    rec = ModelRecord(
        arch="tiny-test",
        width=1.0,
        num_classes=n_out,
        label_names=list(LABELS[:n_out]),
        features={"kind": "rms", "window_ms": 200.0, "hop_ms": 100.0, "fs_hz": 2048.0},
        norm_mean=[0.0] * 192,
        norm_std=[1.0] * 192,
        channel_mask=[True] * 192,
        layout="csl",
        state_dict={},
    )
    q = {
        "scale": info.input.scales[0],
        "zero_point": info.input.zero_points[0],
        "shape": info.input.shape,
    }
    o = {
        "scale": info.output.scales[0],
        "zero_point": info.output.zero_points[0],
        "shape": info.output.shape,
    }
    export_dir.mkdir(parents=True, exist_ok=True)
    (export_dir / "model_int8.tflite").write_bytes(tflite)
    carray.write_all(export_dir, rec, tflite, q, o, arena_bytes, resolver_ops(info))
    return {
        "hash": runs.model_hash(tflite),
        "ops": info.op_names,
        "n_out": n_out,
        "out_scale": o["scale"],
        "out_zp": o["zero_point"],
    }


def tflm_outputs(tflite: bytes, xs: np.ndarray) -> np.ndarray:
    """Reference int8 outputs from the tflite_micro interpreter (TFLM's kernels)."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(tflite)
    outs = []
    for x in xs:
        interp.set_input(x.reshape(1, 8, 24, 1).astype(np.int8), 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0)).reshape(-1).astype(np.int8))
    return np.stack(outs)


# ------------------------------------------------------------------------------ serial link


@dataclass
class Link:
    """The protocol over a child process's stdin/stdout (host binary, or QEMU -serial stdio)."""

    proc: subprocess.Popen
    buf: bytes = b""

    @classmethod
    def spawn(cls, argv: list[str], env: dict | None = None) -> Link:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        return cls(proc)

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_until_ready(self, timeout: float = 10.0) -> list[str]:
        """Lines up to and including the next 'm-ready'."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"m-ready\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no m-ready within {timeout}s; got {self.buf[-400:]!r}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    err = (
                        self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    )
                    raise EOFError(f"link closed; got {self.buf[-400:]!r}; stderr: {err[-2000:]}")
                self.buf += chunk
        head, self.buf = self.buf.split(b"m-ready\r\n", 1)
        lines = [ln for ln in head.decode(errors="replace").split("\r\n") if ln]
        return lines + ["m-ready"]

    def cmd(self, text: str | bytes, timeout: float = 10.0) -> list[str]:
        data = text.encode() if isinstance(text, str) else text
        self.write(data if data.endswith(b"%") else data + b"%")
        return self.read_until_ready(timeout)

    def close(self) -> tuple[int | None, str]:
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        return self.proc.returncode, err


# ------------------------------------------------------------------------------ fixtures' work


def tiny_export(base: Path, seed: int = 0, arena_bytes: int = 64 * 1024) -> Path:
    """A run directory whose export/ holds the tiny model (made once per base directory)."""
    run_root = base / f"tiny-s{seed}-a{arena_bytes}"
    if not (run_root / "export" / "model_meta.h").exists():
        model = base / f"tiny-s{seed}.tflite"
        if not model.exists():
            model.write_bytes(make_tiny_tflite(seed))
        tmp = base / f".tmp-{os.getpid()}-{seed}-{arena_bytes}"
        write_export(tmp / "export", model.read_bytes(), arena_bytes=arena_bytes)
        tmp.rename(run_root)
    return run_root


def host_board():
    """The host (POSIX) port as a Board: not a deployment target, a test bench for the app."""
    from edgekit.boards import Board

    return Board(
        name="host",
        description="POSIX host build of the command loop",
        cpu="host",
        clock_hz=0,
        flash_bytes=1 << 30,
        ram_bytes=1 << 30,
        runtime="edgekit-rt",
        port="host",
        timer="CLOCK_MONOTONIC (us)",
        baud=0,
        serial="stdin/stdout",
        runtime_flash_bytes=0,
        runtime_ram_bytes=0,
    )


def qemu_argv(machine: str, elf: str) -> list[str]:
    return [
        "qemu-system-arm",
        "-M",
        machine,
        "-icount",
        "shift=0",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-kernel",
        elf,
    ]


def random_inputs(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(n, 192)).astype(np.int8)

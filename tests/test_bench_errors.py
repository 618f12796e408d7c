"""Every failure a user can cause in `edgekit bench` ends in one `edgekit: error: ...` line that
names the file, the field and what was expected, exit status 2, no traceback and nothing
half-written: bad models (truncated, float I/O, an op edgekit-rt lacks, too large for the board),
bad --inputs, a bad port, a board that stops answering mid-run, and run directories from an
older edgekit. Real models (tests/rt_models.py), the real host firmware behind a socket, the real
export; nothing here needs QEMU."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgekit import runs
from edgekit.boards import get_board
from edgekit.cli import main

import rt_models
from bench_util import HOST_BOARD, FailingPeer, build_for, make_run

MPS2_TOML = (Path(__file__).resolve().parents[1] / "boards" / "mps2-an386.toml").read_text()
# The host build of the firmware as a board a user could name; short timeouts so a silent board
# is given up on in seconds.
HOST_TOML = """
name = "host"
description = "POSIX build of the firmware behind a TCP serial server (tests)"
cpu = "host"
clock_hz = 0
flash_bytes = 1_073_741_824
ram_bytes = 1_073_741_824
runtime = "edgekit-rt"
port = "host"

[serial]
baud = 115200

[timeouts]
boot_s = 0.5
command_s = 1
first_inference_s = 2

[estimate]
runtime_flash_bytes = 0
runtime_ram_bytes = 0
"""


def _spec(name: str) -> rt_models.ModelSpec:
    extra = [rt_models.tanh_spec()]
    return next(
        s for s in rt_models.conv_specs() + rt_models.misc_specs() + extra if s.name == name
    )


@pytest.fixture(scope="module")
def models() -> dict[str, Path]:
    return {n: rt_models.build(_spec(n), rt_models.cache_dir()) for n in ("conv4", "qdq", "tanh")}


@pytest.fixture(scope="module")
def host_run(tmp_path_factory: pytest.TempPathFactory, tiny_tflite: bytes) -> tuple[runs.Run, Path]:
    """A run exported for the host board, its firmware built (as `edgekit export --build` does)."""
    run = make_run(tmp_path_factory.mktemp("err") / "run", tiny_tflite, n=20)
    return run, Path(build_for(run, HOST_BOARD)["elf"])


@pytest.fixture()
def boards_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "boards"
    d.mkdir()
    (d / "host.toml").write_text(HOST_TOML)
    monkeypatch.setenv("EDGEKIT_BOARDS_DIR", str(d))
    return d


@dataclass
class Ctx:
    tmp: Path
    models: dict[str, Path]
    host_run: tuple[runs.Run, Path]
    boards: Path
    cleanup: list[Callable[[], None]]

    def tflite(self, model: str, *more: str) -> list[str]:
        """bench --tflite MODEL into a run directory that does not exist yet."""
        argv = ["bench", "--board", "mps2-an386", "--tflite", str(self.models[model])]
        return argv + ["--run", str(self.tmp / "new-run"), "--samples", "2", *more]

    def old_run(self, damage: Callable[[runs.Run], None]) -> list[str]:
        """A copy of an exported run, damaged as an older edgekit (or a hand edit) left it."""
        run = runs.Run(self.tmp / "old-run")
        shutil.copytree(self.host_run[0].export_dir, run.export_dir)
        damage(run)
        return ["bench", "--board", "mps2-an386", "--run", str(run.root), "--samples", "2"]

    def failing_board(self, hang_up: bool) -> list[str]:
        peer = FailingPeer(self.host_run[1], after=5, hang_up=hang_up)
        self.cleanup.append(peer.close)
        run = self.host_run[0]
        return [
            "bench",
            "--board",
            "host",
            "--run",
            str(run.root),
            "--port",
            peer.url,
            "--samples",
            "12",
        ]

    def small_board(self, model: str, ram: Callable[[dict], int]) -> list[str]:
        """A copy of mps2-an386 whose RAM is set from the model's export (its arena, input)."""
        from edgekit.boards import get_board
        from edgekit.export.from_tflite import export_tflite

        probe = runs.Run(self.tmp / "probe")  # the same export the bench makes, on a roomy board
        ex = export_tflite(probe, get_board("mps2-an386"), self.models[model], n=2)
        toml = MPS2_TOML.replace('name = "mps2-an386"', 'name = "small-ram"')
        toml = re.sub(r"^ram_bytes = [\d_]+", f"ram_bytes = {ram(ex)}", toml, flags=re.M)
        (self.boards / "small-ram.toml").write_text(toml)
        argv = self.tflite(model)
        argv[argv.index("mps2-an386")] = "small-ram"
        return argv


def _npy(ctx: Ctx, name: str, arr: np.ndarray | bytes) -> str:
    p = ctx.tmp / name
    if isinstance(arr, bytes):
        p.write_bytes(arr)
    else:
        np.save(p, arr)
    return str(p)


def _truncated(ctx: Ctx) -> list[str]:
    cut = ctx.tmp / "cut.tflite"
    cut.write_bytes(ctx.models["conv4"].read_bytes()[:300])
    ctx.models["cut"] = cut
    return ctx.tflite("cut")


def _edit_export(**fields) -> Callable[[runs.Run], None]:
    def damage(run: runs.Run) -> None:
        p = run.export_dir / "export.json"
        d = json.loads(p.read_text())
        for k, v in fields.items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
        p.write_text(json.dumps(d))

    return damage


def _runtime_ram() -> int:
    """What the small board's template (mps2-an386) reserves beyond the arena."""
    return get_board("mps2-an386").runtime_ram_bytes


def _input_bytes(ex: dict) -> int:
    return int(np.prod(ex["input"]["shape"]))


CASES: dict[str, tuple[Callable[[Ctx], list[str]], str]] = {
    "truncated tflite": (_truncated, r"cut\.tflite: corrupt TFLite flatbuffer"),
    "float tflite": (
        lambda c: c.tflite("qdq"),
        r"qdq-\w+\.tflite: input tensor '.*' is FLOAT32 without quantization, expected "
        r"per-tensor quantized INT8",
    ),
    "TANH, which edgekit-rt lacks": (
        lambda c: c.tflite("tanh"),
        r"tanh-\w+\.tflite: edgekit-rt \(board mps2-an386\) has no TANH operator; it runs ADD, "
        r".*CONV_2D.*; bench it with --runtime tflm",
    ),
    "too large for the board's RAM": (
        lambda c: c.small_board("conv4", lambda ex: ex["arena"]["ek_arena_size"] // 2),
        r"small-ram\.toml: the model does not fit board 'small-ram':\n  flash: .*\n  RAM: need "
        r"[\d,]+ B = arena [\d,]+ \+ runtime [\d,]+; budget ram_bytes = [\d,]+ B  <- too big",
    ),
    "input buffer beyond the board's RAM": (
        lambda c: c.small_board(
            "conv4",
            lambda ex: ex["arena"]["ek_arena_size"] + _runtime_ram() + _input_bytes(ex) // 2,
        ),
        r"small-ram\.toml: the model does not fit board 'small-ram': its input is 300 B and the "
        r"firmware holds it 1 more time \(db load buffer\) = 300 B, but only 150 B of ram_bytes",
    ),
    "--inputs of the wrong shape": (
        lambda c: c.tflite(
            "conv4", "--inputs", _npy(c, "shape.npy", np.zeros((2, 3, 3, 3), np.int8))
        ),
        r"shape\.npy: inputs have shape \(2, 3, 3, 3\), expected \(N, 6, 10, 5\) for the model's "
        r"input \[1, 6, 10, 5\]",
    ),
    "--inputs of the wrong dtype": (
        lambda c: c.tflite(
            "conv4", "--inputs", _npy(c, "f32.npy", np.zeros((2, 6, 10, 5), np.float32))
        ),
        r"f32\.npy: inputs are float32, expected int8",
    ),
    "--inputs that is not a .npy": (
        lambda c: c.tflite("conv4", "--inputs", _npy(c, "text.npy", b"not numpy at all\n")),
        r"text\.npy: not a readable \.npy file",
    ),
    "an unknown port": (
        lambda c: c.tflite("conv4", "--port", str(c.tmp / "ttyNOPE")),
        r"--port .*ttyNOPE: cannot open .*; check the device path or URL",
    ),
    "a board that goes silent mid-run": (
        lambda c: c.failing_board(hang_up=False),
        r"sample \d+: the device stopped answering \(no m-ready after 'ek-run .*' within [\d.]+ s.*\);"
        r" then --port socket://127\.0\.0\.1:\d+: cannot get in step with the device",
    ),
    "a board whose link drops mid-run": (
        lambda c: c.failing_board(hang_up=True),
        r"sample \d+: --port socket://127\.0\.0\.1:\d+: link lost \(read failed: socket disconnected\); the board was "
        r"unplugged or the emulator exited",
    ),
    "a run without export.json (older edgekit)": (
        lambda c: c.old_run(lambda r: (r.export_dir / "export.json").unlink()),
        r"export/export\.json: export report not found; run `edgekit export` first",
    ),
    "an old-format export.json": (
        lambda c: c.old_run(
            lambda r: (r.export_dir / "export.json").write_text(
                '{"stage": "export", "hash": "0123"}'
            )
        ),
        r"export/export\.json: field 'board' is None, expected a str; re-run `edgekit export`",
    ),
    "an export.json without the arena (older edgekit)": (
        lambda c: c.old_run(_edit_export(arena=None)),
        r"export/export\.json: field 'arena\.ek_arena_size' is None, expected a int; re-run",
    ),
    "a stale export (model replaced)": (
        lambda c: c.old_run(_edit_export(model_hash="0123456789abcdef")),
        r"export\.json: field 'model_hash' is 0123456789abcdef, but model_int8\.tflite hashes to "
        r"[0-9a-f]{16}: the export is stale or mixed; re-run `edgekit export`",
    ),
    "a reference.npz from an older edgekit": (
        lambda c: c.old_run(
            lambda r: runs.save_npz(
                r.export_dir / "reference.npz", x=np.zeros((2, 8, 24, 1), np.float32)
            )
        ),
        r"reference\.npz: missing array 'x_int8' \(re-run `edgekit export`\)",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bench_failure_is_one_clear_line(
    case: str,
    tmp_path: Path,
    models: dict[str, Path],
    host_run: tuple[runs.Run, Path],
    boards_dir: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    make_argv, said = CASES[case]
    ctx = Ctx(tmp_path, dict(models), host_run, boards_dir, [])
    try:
        argv = make_argv(ctx)
        capfd.readouterr()
        rc = main([*argv, "--no-progress"])
        out, err = capfd.readouterr()
    finally:
        for fn in ctx.cleanup:
            fn()
    assert rc == 2, (out, err)
    assert "Traceback" not in out + err
    lines = [ln for ln in err.splitlines() if ln.startswith("edgekit: ")]
    assert len(lines) == 1 and lines[0].startswith("edgekit: error: "), err
    assert re.search(said, err[err.index("edgekit: error: ") :]), err
    assert not (tmp_path / "new-run").exists()  # a --tflite run directory is not left behind
    assert not list(tmp_path.glob("*/bench")) and not host_run[0].bench_dir("host").exists()


def test_debug_shows_the_traceback(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    rc_err = main(
        ["bench", "--board", "mps2-an386", "--run", str(tmp_path / "none"), "--no-progress"]
    )
    _, err = capfd.readouterr()
    assert rc_err == 2 and "Traceback" not in err
    with pytest.raises(Exception, match="reference.npz: no exported model in run"):
        main(["bench", "--board", "mps2-an386", "--run", str(tmp_path / "none"), "--debug"])

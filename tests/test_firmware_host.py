"""The firmware command loop (firmware/app) with the real edgekit-rt on the host port, driven over
pipes: every command and error path of the serial protocol, exactness against tflite_micro, and a
bounded fuzz run under AddressSanitizer + UndefinedBehaviorSanitizer."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from edgekit import firmware
from edgekit.runs import Run

import firmware_util as fu

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("make") is None, reason="needs gcc and make"
)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Run:
    return Run(fu.tiny_export(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="session")
def tiny_tflite(tiny_run) -> bytes:
    return (tiny_run.export_dir / "model_int8.tflite").read_bytes()


@pytest.fixture(scope="session")
def host_build(tiny_run) -> dict:
    board = fu.host_board()
    fw = firmware.render(tiny_run, board)
    return firmware.build(fw, board)


@pytest.fixture(scope="session")
def asan_build(tiny_run, host_build) -> dict:
    board = fu.host_board()
    return firmware.build(tiny_run.firmware_dir(board.name), board, make_vars={"SANITIZE": "1"})


@pytest.fixture()
def link(host_build):
    lk = fu.Link.spawn([host_build["elf"]])
    assert lk.read_until_ready() == ["m-boot-[edgekit]", "m-ready"]
    yield lk
    rc, err = lk.close()
    assert rc == 0, err


def _meta(run: Run) -> dict:
    text = (run.export_dir / "model_meta.h").read_text()
    return {k: v for k, v in re.findall(r"#define (EK_\w+) (.*)", text)}


def _dequant(q: np.ndarray, run: Run) -> np.ndarray:
    m = _meta(run)
    scale, zp = np.float32(m["EK_OUTPUT_SCALE"].rstrip("f")), int(m["EK_OUTPUT_ZERO_POINT"])
    return (q.astype(np.int32) - zp).astype(np.float32) * scale


def _load(link, data: bytes) -> None:
    assert link.cmd(f"db load {len(data)}") == [f"m-load-expecting-[{len(data)}]", "m-ready"]
    assert link.cmd("db " + data.hex()) == ["m-load-done", "m-ready"]


def _is_err(reply: list[str]) -> bool:
    return len(reply) == 2 and reply[0].startswith("e-[") and reply[0].endswith("]")


def test_name_profile_info(link, tiny_run):
    assert link.cmd("name") == ["m-name-dut-[edgekit-host]", "m-ready"]
    digest = _meta(tiny_run)["EK_MODEL_HASH"].strip('"')
    assert link.cmd("profile") == ["m-profile-[edgekit 0.1.0]", f"m-model-[{digest}]", "m-ready"]
    info = link.cmd("ek-info")
    m = re.fullmatch(
        r"m-ek-info-runtime\[edgekit-rt\]-hash\[(\w+)\]-arena\[(\d+)\]-used\[(\d+)\]"
        r"-in\[192\]-out\[5\]-tick\[us\]-hz\[1000000\]",
        info[0],
    )
    assert m, info
    assert m.group(1) == digest and int(m.group(2)) == 65536
    assert 0 < int(m.group(3)) <= 65536


def test_whitespace_empty_and_line_endings(link, host_build):
    assert link.cmd("\r\n  \n name") == ["m-name-dut-[edgekit-host]", "m-ready"]
    assert link.cmd("name   ") == ["m-name-dut-[edgekit-host]", "m-ready"]
    assert link.cmd("name\r\n") == ["m-name-dut-[edgekit-host]", "m-ready"]
    assert link.cmd("db\tload\n7")[0] == "m-load-expecting-[7]"
    assert _is_err(link.cmd("%")) and link.cmd("")[0] == "e-[empty command]"
    # raw bytes: every line ends \r\n
    raw = subprocess.run(
        [host_build["elf"]], input=b"name%profile%bogus%", capture_output=True, timeout=20
    ).stdout
    assert raw.endswith(b"\r\n")
    assert all(ln.endswith(b"\r") for ln in raw.split(b"\n")[:-1])


def test_no_inference_yet(link):
    for c in ("results", "ek-out", "ek-ticks"):
        r = link.cmd(c)
        assert _is_err(r) and "no inference yet" in r[0]
    r = link.cmd("infer 1 0")
    assert _is_err(r) and "no complete input" in r[0]


def test_db_load_bounds_and_errors(link):
    for bad in (
        "db load 0",
        "db load 193",
        "db load -1",
        "db load abc",
        "db load 99999999999",
        "db load",
        "db load 1 2",
    ):
        r = link.cmd(bad)
        assert _is_err(r), (bad, r)
    r = link.cmd("db 00")
    assert _is_err(r) and "no load pending" in r[0]
    assert link.cmd("db load 4")[0] == "m-load-expecting-[4]"
    assert _is_err(link.cmd("db 0"))  # odd
    assert _is_err(link.cmd("db 00"))  # buffer was reset: nothing pending
    assert link.cmd("db load 4")[0] == "m-load-expecting-[4]"
    assert _is_err(link.cmd("db zz00"))  # not hex
    assert link.cmd("db load 4")[0] == "m-load-expecting-[4]"
    assert link.cmd("db 0102") == ["m-ready"]  # partial: no m-load-done yet
    r = link.cmd("db 030405")  # 5 > 4 bytes
    assert _is_err(r) and "more bytes" in r[0]
    assert "no complete input" in link.cmd("infer 1 0")[0]


def test_infer_exact_against_tflm(link, tiny_run, tiny_tflite):
    x = fu.random_inputs(2, seed=3)
    ref = fu.tflm_outputs(tiny_tflite, x)
    # in three chunks: the load completes on the last one only
    assert link.cmd("db load 192")[0] == "m-load-expecting-[192]"
    raw = x[0].tobytes()
    assert link.cmd("db " + raw[:64].hex()) == ["m-ready"]
    assert link.cmd("db " + raw[64:128].hex().upper()) == ["m-ready"]
    assert link.cmd("db " + raw[128:].hex()) == ["m-load-done", "m-ready"]
    r = link.cmd("infer 3 2")
    assert r[:3] == ["m-warmup-start-[2]", "m-warmup-done", "m-infer-start-[3]"]
    t0, t1 = (int(re.fullmatch(r"m-lap-us-(\d+)", s).group(1)) for s in r[3:5])
    assert t1 >= t0
    assert r[5] == "m-infer-done" and r[7] == "m-ready"
    vals = np.array(
        [float(v) for v in re.fullmatch(r"m-results-\[(.*)\]", r[6]).group(1).split(",")]
    )
    np.testing.assert_allclose(vals, _dequant(ref[0], tiny_run), atol=0.0011)
    assert link.cmd("results") == [r[6], "m-ready"]
    assert link.cmd("ek-out") == [f"m-ek-out-[{ref[0].tobytes().hex()}]", "m-ready"]
    ticks = link.cmd("ek-ticks")[0]
    assert re.fullmatch(r"m-ek-ticks-\[\d+\]-n\[3\]", ticks)
    # W is optional (0); a new load replaces the input
    _load(link, x[1].tobytes())
    assert link.cmd("infer 1")[1] == "m-warmup-done"
    assert link.cmd("ek-out")[0] == f"m-ek-out-[{ref[1].tobytes().hex()}]"


def test_short_load_is_padded_with_input_zero_point(link, tiny_run, tiny_tflite):
    zp = int(_meta(tiny_run)["EK_INPUT_ZERO_POINT"])
    x = fu.random_inputs(1, seed=4)[0]
    full = np.full(192, zp, np.int8)
    full[:10] = x[:10]
    _load(link, x[:10].tobytes())
    assert link.cmd("infer 1 0")[-2].startswith("m-results-[")
    ref = fu.tflm_outputs(tiny_tflite, full[None])[0]
    assert link.cmd("ek-out")[0] == f"m-ek-out-[{ref.tobytes().hex()}]"


def test_infer_argument_bounds(link):
    _load(link, bytes(192))
    for bad in (
        "infer 0 1",
        "infer 100001 0",
        "infer 1 100001",
        "infer 1 x",
        "infer",
        "infer 1 2 3",
        "infer -1 0",
        "infer 4294967296 0",
    ):
        r = link.cmd(bad)
        assert _is_err(r) and "infer" in r[0], (bad, r)


def test_ek_run(link, tiny_tflite):
    x = fu.random_inputs(3, seed=5)
    ref = fu.tflm_outputs(tiny_tflite, x)
    for bad in (
        "ek-run",
        "ek-run 00",
        "ek-run " + "0" * 383,
        "ek-run " + "g" * 384,
        "ek-run " + "00" * 193,
        "ek-run " + "00" * 96 + " " + "00" * 96,
    ):
        r = link.cmd(bad)
        assert _is_err(r) and "384 hex digits" in r[0], (bad[:20], r)
    for xi, ri in zip(x, ref, strict=True):
        r = link.cmd("ek-run " + xi.tobytes().hex())
        m = re.fullmatch(r"m-ek-run-\[([0-9a-f]+)\]-ticks\[(\d+)\]", r[0])
        assert m and m.group(1) == ri.tobytes().hex(), (r, ri)
    assert link.cmd("ek-out")[0] == f"m-ek-out-[{ref[-1].tobytes().hex()}]"
    assert re.fullmatch(r"m-ek-ticks-\[\d+\]-n\[1\]", link.cmd("ek-ticks")[0])


def test_unknown_long_and_bad_bytes(link):
    r = link.cmd("hello world this is a rather long unknown command")
    assert r == ["e-[unknown command: hello world this is a rather lon]", "m-ready"]
    assert link.cmd("name extra")[0].startswith("e-[unknown command: name extra")
    assert link.cmd("x" * 1024)[0] == "e-[unknown command: " + "x" * 32 + "]"
    assert link.cmd("x" * 1025) == ["e-[command too long]", "m-ready"]
    assert link.cmd("y" * 5000) == ["e-[command too long]", "m-ready"]
    assert link.cmd(b"na\x00me")[0] == "e-[command has a control or non-ASCII byte]"
    assert link.cmd(b"\xff\xfe[]")[0].startswith("e-[")
    assert link.cmd("[x]")[0] == "e-[unknown command: ?x?]"
    assert link.cmd("name") == ["m-name-dut-[edgekit-host]", "m-ready"]


def test_model_init_failure_is_reported(tmp_path_factory):
    """An arena too small for the model: boot says why, model commands refuse, the rest works."""
    run = Run(fu.tiny_export(tmp_path_factory.getbasetemp(), arena_bytes=512))
    board = fu.host_board()
    info = firmware.build(firmware.render(run, board), board)
    lk = fu.Link.spawn([info["elf"]])
    boot = lk.read_until_ready()
    assert (
        boot[0] == "m-boot-[edgekit]" and boot[1].startswith("e-[model: ") and boot[2] == "m-ready"
    )
    assert "model not initialised" in lk.cmd("ek-info")[0]
    assert "model not initialised" in lk.cmd("ek-run " + "00" * 192)[0]
    _load(lk, bytes(192))
    assert "model not initialised" in lk.cmd("infer 1 0")[0]
    assert lk.cmd("name") == ["m-name-dut-[edgekit-host]", "m-ready"]
    assert lk.close()[0] == 0


# ------------------------------------------------------------------------------ fuzz


def _fuzz_input(seed: int, n_cmds: int) -> bytes:
    rng = np.random.default_rng(seed)
    words = [
        b"db",
        b"load",
        b"infer",
        b"results",
        b"name",
        b"profile",
        b"ek-info",
        b"ek-out",
        b"ek-ticks",
        b"ek-run",
        b"192",
        b"1",
        b"0",
        b"-1",
        b"4294967296",
        b"99999999999999",
        b"00",
        b"0",
        b"ff",
        b"zz",
        b"%",
        b"\r\n",
        b" ",
        b"\x00",
        b"\xff",
        b"[",
        b"]",
    ]
    out = []
    for _ in range(n_cmds):
        kind = rng.integers(0, 4)
        if kind == 0:  # random bytes
            out.append(
                rng.integers(0, 256, size=int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
            )
        elif kind == 1:  # word salad
            out.append(
                b" ".join(words[i] for i in rng.integers(0, len(words), size=rng.integers(1, 6)))
            )
        elif kind == 2:  # long hex / long garbage near the 1024 limit
            n = int(rng.choice([383, 384, 385, 1018, 1019, 1020, 1021, 1030, 3000]))
            out.append(b"ek-run " + bytes(rng.choice(list(b"0123456789abcdefX"), size=n)))
        else:  # well-formed sequences
            k = int(rng.integers(1, 193))
            out.append(
                b"db load %d%%db %s%%infer %d %d"
                % (
                    k,
                    rng.integers(0, 256, size=k, dtype=np.uint8).tobytes().hex().encode(),
                    rng.integers(0, 3),
                    rng.integers(0, 2),
                )
            )
        out.append(b"%")
    return b"".join(out)


def test_fuzz_command_loop_under_sanitizers(asan_build):
    data = _fuzz_input(seed=7, n_cmds=3000) + b"%name%"
    proc = subprocess.run([asan_build["elf"]], input=data, capture_output=True, timeout=120)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0 and "Sanitizer" not in err and "runtime error" not in err, err[
        -3000:
    ]
    text = proc.stdout.decode("ascii")  # replies are pure ASCII whatever came in
    lines = text.split("\r\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    # exactly one m-ready per '%' received, plus the boot one
    assert lines.count("m-ready") == data.count(b"%") + 1
    assert all(ln[:2] in ("m-", "e-") for ln in lines), [
        ln for ln in lines if ln[:2] not in ("m-", "e-")
    ][:5]
    assert lines[-2:] == ["m-name-dut-[edgekit-host]", "m-ready"]
    # the fuzz reached the deep paths too, not only the parser's error replies
    assert lines.count("m-load-done") > 50 and lines.count("m-infer-done") > 50
    assert sum(ln.startswith("e-[command too long]") for ln in lines) > 10

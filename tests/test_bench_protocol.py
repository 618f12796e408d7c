"""bench/protocol.py: framing and reply parsing (pure functions, no device)."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.bench import protocol
from edgekit.bench.protocol import ProtocolError, parse_line


@pytest.mark.parametrize(
    "line,kind,value,extra",
    [
        ("m-ready", "ready", "", ""),
        ("m-ready\r", "ready", "", ""),
        ("m-boot-[edgekit]", "boot", "edgekit", ""),
        ("m-lap-us-[123456]", "lap_us", "123456", ""),
        ("m-results-[0.125,-1.000,3.500]", "results", "0.125,-1.000,3.500", ""),
        ("m-ek-out-[00ff7f80]", "ek_out", "00ff7f80", ""),
        ("m-ek-run-[0a0b]-ticks[4242]", "ek_run", "0a0b", "4242"),
        ("m-ek-ticks-[9000]-n[10]", "ek_ticks", "9000", "10"),
        ("m-name-[edgekit-host]", "name", "edgekit-host", ""),
        ("m-profile-[edgekit 0.1.0]", "profile", "edgekit 0.1.0", ""),
        ("m-model-[0123456789abcdef]", "model", "0123456789abcdef", ""),
        ("m-load-expecting-[192]", "load_expecting", "192", ""),
        ("m-load-done", "load_done", "", ""),
        ("m-warmup-start-[1]", "warmup_start", "1", ""),
        ("m-infer-done", "infer_done", "", ""),
        ("e-[unknown command: foo]", "error", "unknown command: foo", ""),
        ("m-ek-stream-vote-[3]", "ek_stream_vote", "3", ""),  # ends in "e-[3]": not an error
        ("m-ek-rx-file-[ok]", "ek_rx_file", "ok", ""),
        ("m-timestamp-1234", "other", "", ""),  # other MLPerf firmware's lines are kept, not fatal
        # EEMBC framework shapes (mlcommons/tiny api/internally_implemented.cpp), which edgekit speaks
        ("m-name-dut-[edgekit-host]", "name", "edgekit-host", ""),
        ("m-lap-us-53802", "lap_us", "53802", ""),
        ("m-[Expecting 192 bytes]", "load_expecting", "192", ""),
        ("m-warmup-start-10", "warmup_start", "10", ""),
        ("m-infer-start-5", "infer_start", "5", ""),
        ("m-init-done", "other", "", ""),
        ("e-[Unknown command: ek-info]", "error", "Unknown command: ek-info", ""),
    ],
)
def test_parse_kinds(line: str, kind: str, value: str, extra: str) -> None:
    r = parse_line(line)
    assert (r.kind, r.value, r.extra, r.garbage) == (kind, value, extra, "")


def test_garbage_before_a_reply_is_stripped() -> None:
    r = parse_line("\x00\xff~~noise m-ek-run-[0102]-ticks[7]")
    assert (r.kind, r.value, r.extra) == ("ek_run", "0102", "7")
    assert r.garbage == "\x00\xff~~noise "
    # a line cut in the middle of an earlier reply: the complete one at the end wins
    assert parse_line("m-lap-us-[12m-ready").kind == "ready"
    assert parse_line("xm-m-ready").kind == "ready"  # not the catch-all "other"
    # 'profile-[' contains 'e-[': the earliest complete reply wins, not the error pattern
    assert parse_line("m-profile-[x]").kind == "profile"


@pytest.mark.parametrize(
    "line", ["", "garbage", "m-", "e-[unterminated", "m-ek-run-[zz]-ticks[1]x y"]
)
def test_lines_without_a_reply_are_garbage(line: str) -> None:
    assert parse_line(line).kind == "garbage"


def test_ek_info() -> None:
    r = parse_line(
        "m-ek-info-runtime[edgekit-rt]-hash[0123456789abcdef]-arena[30000]-used[21000]"
        "-in[192]-out[8]-tick[systick]-hz[25000000]"
    )
    info = protocol.parse_ek_info(r)
    assert info == protocol.EkInfo(
        "edgekit-rt", "0123456789abcdef", 30000, 21000, 192, 8, "systick", 25000000
    )
    with pytest.raises(ProtocolError, match="missing field"):
        protocol.parse_ek_info(parse_line("m-ek-info-runtime[x]-hash[y]"))
    with pytest.raises(ProtocolError, match="expected an m-ek-info"):
        protocol.parse_ek_info(parse_line("m-ready"))


def test_int8_hex_roundtrip_and_checks() -> None:
    x = np.arange(-128, 128, dtype=np.int8).reshape(8, 32, 1)
    hx = protocol.hex_bytes(x)
    assert hx[:4] == "8081" and len(hx) == 512
    assert np.array_equal(protocol.decode_int8(hx), x.ravel())
    r = protocol.parse_ek_run(parse_line("m-ek-run-[ff00]-ticks[12]"), expected=2)
    assert r.output.tolist() == [-1, 0] and r.ticks == 12
    with pytest.raises(ProtocolError, match="exported model has 3"):
        protocol.parse_ek_run(parse_line("m-ek-run-[ff00]-ticks[12]"), expected=3)
    with pytest.raises(ProtocolError, match="odd number"):
        protocol.decode_int8("abc")


def test_results_ticks_lap() -> None:
    assert protocol.parse_results(parse_line("m-results-[0.500,-2.250]")) == [0.5, -2.25]
    assert protocol.parse_ek_ticks(parse_line("m-ek-ticks-[900]-n[3]")) == (900, 3)
    assert protocol.parse_lap_us(parse_line("m-lap-us-[77]")) == 77


def test_frame_and_commands() -> None:
    assert protocol.frame("name") == b"name%"
    with pytest.raises(ValueError):
        protocol.frame("a%b")
    with pytest.raises(ValueError):
        protocol.frame("x" * (protocol.MAX_COMMAND + 1))
    x = np.full((8, 24, 1), -1, dtype=np.int8)
    assert protocol.cmd_ek_run(x) == "ek-run " + "ff" * 192
    assert protocol.cmd_infer(10, 1) == "infer 10 1"


def test_db_chunks_fit_the_command_limit() -> None:
    data = bytes(range(256)) * 4  # 1024 bytes -> 2048 hex chars: needs several commands
    chunks = protocol.cmds_db_data(data)
    assert len(chunks) == 3
    assert all(len(c) <= protocol.MAX_COMMAND for c in chunks)
    assert bytes.fromhex("".join(c[3:] for c in chunks)) == data
    assert all(len(c[3:]) % 2 == 0 for c in chunks)  # never split a byte across commands
    assert protocol.cmds_db_data(b"\x01\x02") == ["db 0102"]

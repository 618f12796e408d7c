"""`edgekit sweep`: folds, subject splits, the Pareto/recommendation logic, and a small real sweep
on a local Ray instance (train -> quantize -> export -> QEMU bench per trial), resumed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.artifacts import ExportReport
from edgekit.cli import main
from edgekit.data.features import Frames, trial_key
from edgekit.data.splits import check_no_leak, make_split
from edgekit.errors import EdgekitError
from edgekit.sweep import (
    TRIAL_FILE,
    _outcome,
    bench_board_for,
    for_board,
    make_folds,
    relative_cost,
    time_left,
)
from edgekit.sweep_report import pareto, recommend, summarize


def two_subject_frames() -> Frames:
    y, key, sess, subj = [], [], [], []
    for s in (1, 2):
        for e in (1, 2, 3):
            for c in range(3):
                for t in range(4):
                    y += [c] * 5
                    key += [trial_key(s, e, c, t)] * 5
                    sess += [e] * 5
                    subj += [s] * 5
    n = len(y)
    return Frames(
        np.zeros((n, 192), np.float32), np.array(y), np.array(key), np.array(sess), np.array(subj)
    )


def test_subject_split_and_per_subject_session_split() -> None:
    fr = two_subject_frames()
    sp = make_split(fr, "subject", seed=0, test_subject=1)
    check_no_leak(sp, fr)
    assert set(fr.subject[sp.test].tolist()) == {1}
    assert set(fr.subject[sp.train].tolist()) == set(fr.subject[sp.val].tolist()) == {2}
    sp = make_split(fr, "session", seed=0, test_session=2, subject=2)
    check_no_leak(sp, fr)
    used = np.concatenate([sp.train, sp.val, sp.test])
    assert set(fr.subject[used].tolist()) == {2}  # subject 1 is in no part
    assert set(fr.session[sp.test].tolist()) == {2}
    assert set(fr.session[sp.val].tolist()) == {1, 3}  # validation from the training sessions
    with pytest.raises(EdgekitError, match="subjects present"):
        make_split(fr, "subject", test_subject=7)


def test_folds_per_subject_sessions_subjects_and_first_k() -> None:
    data = {1: [1, 2, 3], 2: [1, 2], 3: [4]}
    names = [f["name"] for f in make_folds("sessions", data)]
    assert names == ["subj1-sess1", "subj1-sess2", "subj1-sess3", "subj2-sess1", "subj2-sess2"]
    assert make_folds("2", data)[1] == {
        "name": "subj1-sess2",
        "split": "session",
        "test_session": 2,
        "subject": 1,
    }
    assert [f["test_subject"] for f in make_folds("subjects", data)] == [1, 2, 3]
    assert make_folds("sessions", {1: [1, 2]})[0] == {
        "name": "sess1",
        "split": "session",
        "test_session": 1,
    }
    with pytest.raises(EdgekitError, match="one subject"):
        make_folds("subjects", {1: [1, 2]})
    with pytest.raises(EdgekitError, match="1..5"):
        make_folds("9", data)


def _trial(width: float, acc: float, ms: float, ram: int, fits: bool = True) -> dict:
    return {
        "status": "ok",
        "config": {"name": f"w{width}", "arch": "mbv2", "width": width},
        "int8_acc": acc,
        "latency_ms": ms,
        "ram_need": ram,
        "ram_budget": 131072,
        "flash_need": 2 * ram,
        "flash_budget": 1 << 20,
        "fits": fits,
        "latency_how": "x",
    }


def test_pareto_and_recommendation_say_why_the_others_lost() -> None:
    rows = [
        summarize("mbv2", 0.1, [_trial(0.1, 0.90, 10, 50_000), _trial(0.1, 0.92, 10, 50_000)], 50),
        summarize("mbv2", 0.2, [_trial(0.2, 0.95, 30, 60_000), _trial(0.2, 0.95, 30, 60_000)], 50),
        summarize("mbv2", 0.5, [_trial(0.5, 0.97, 80, 90_000)], 50),
        summarize("mbv2", 1.0, [_trial(1.0, 0.98, 40, 200_000, fits=False)], 50),
        summarize(
            "mbv2",
            0.3,
            [
                {
                    "status": "failed",
                    "error": "edgekit train: boom",
                    "config": {"name": "x", "arch": "mbv2", "width": 0.3},
                }
            ],
            50,
        ),
    ]
    assert rows[0]["int8_acc"]["mean"] == pytest.approx(0.91) and rows[0]["int8_acc"]["n"] == 2
    assert pareto(rows, "latency_ms") == ["mbv2 w0.1", "mbv2 w0.2", "mbv2 w1"]
    assert pareto(rows, "ram_need") == ["mbv2 w0.1", "mbv2 w0.2", "mbv2 w0.5", "mbv2 w1"]
    rec = recommend(rows, 50, "stm32f405")
    assert rec["config"] == "mbv2 w0.2"
    why = rec["others"]
    assert why["mbv2 w0.1"].startswith("less accurate")
    assert why["mbv2 w0.5"].startswith("too slow: 80.0 ms per hop > 50 ms")
    assert why["mbv2 w1"] == "does not fit stm32f405: RAM 200,000 > 131,072 B"
    assert "boom" in why["mbv2 w0.3"]
    rows.append(summarize("mbv2", 0.75, [], 50))  # a sweep in progress: nothing finished yet
    assert recommend(rows, 50, "stm32f405")["others"]["mbv2 w0.75"] == "no trial finished yet"


@pytest.fixture()
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def ray_cluster():
    """A Ray cluster of its own, started as a user starts one (`ray start --head`), with a Ray
    Client server: (GCS address, client address). Stopped with its whole process group."""
    pytest.importorskip("ray")
    gcs, client = _free_port(), _free_port()
    tmp = tempfile.mkdtemp(prefix="ekray")  # short: Ray's unix sockets live below it
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            "--block",
            f"--port={gcs}",
            f"--ray-client-server-port={client}",
            "--num-cpus=1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={tmp}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "Ray runtime started" in line:
                break
        else:
            pytest.fail("ray start --head did not start:\n" + "".join(seen[-20:]))
        yield f"127.0.0.1:{gcs}", f"ray://127.0.0.1:{client}"
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        shutil.rmtree(tmp, ignore_errors=True)


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_sweep_on_local_ray_reports_resumes_and_keeps_failures(
    tmp_path, tiny_csl, capsys, local_ray, ray_cluster
):
    out = tmp_path / "sweep"
    argv = [
        "sweep",
        "--boards",
        "mps2-an386,spresense",
        "--widths",
        "0.1,0.2,1.6",
        "--seeds",
        "1",
        "--folds",
        "2",
        "--epochs",
        "1",
        "--qat-epochs",
        "1",
        "--samples",
        "3",
        "--data",
        str(tiny_csl),
        "--out",
        str(out),
        "--json",
        "--no-progress",
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trials_run_this_call"] == 6 and list(result["boards"]) == [
        "mps2-an386",
        "spresense",
    ]
    rep, spr = result["boards"]["mps2-an386"], result["boards"]["spresense"]
    assert [f["name"] for f in rep["folds"]] == ["sess1", "sess2"]
    rows = {r["config"]: r for r in rep["configs"]}
    for w in ("mbv2 w0.1", "mbv2 w0.2"):
        r = rows[w]
        assert r["ok"] == 2 and r["failed"] == 0
        assert r["int8_acc"]["n"] == 2 and 0 <= r["int8_acc"]["mean"] <= 1
        assert r["exact_match_rate"]["min"] == 1.0 and r["fits"] is True
        assert r["instructions"]["mean"] > r["macs"] > 0
        # per hop: inference + the feature chain, in estimated Cortex-M4 cycles at 25 MHz
        assert r["cycles"]["mean"] >= r["instructions"]["mean"]
        assert r["features_cycles"]["mean"] > 0
        assert r["latency_ms"]["mean"] == pytest.approx(
            (r["cycles"]["mean"] + r["features_cycles"]["mean"]) / 25e6 * 1e3
        )
        assert r["ram_need"] > r["arena_bytes"] > 0 and r["model_bytes"] > 0
    assert rows["mbv2 w0.2"]["params"] > rows["mbv2 w0.1"]["params"]
    bad = rows["mbv2 w1.6"]
    assert bad["ok"] == 0 and bad["failed"] == 2 and "--width" in bad["errors"][0]["error"]
    rec = rep["recommendation"]
    # 25 MHz: far over the hop
    assert rec["config"] is None and "too slow" in rec["others"]["mbv2 w0.1"]
    assert "every trial failed" in rec["others"]["mbv2 w1.6"]
    # The Spresense (no QEMU model) is measured on the same mps2-an386 bench, at its own clock
    # and against its own budget: one trained model, one bench, two boards' numbers; its
    # feature chain as a Cortex-M4F runs it (hard float: cheaper than mps2-an386's soft float).
    for w in ("mbv2 w0.1", "mbv2 w0.2"):
        r, s = rows[w], {x["config"]: x for x in spr["configs"]}[w]
        assert s["int8_acc"] == r["int8_acc"] and s["instructions"] == r["instructions"]
        assert s["cycles"] == r["cycles"]
        assert 0 < s["features_cycles"]["mean"] < r["features_cycles"]["mean"]
        assert s["latency_ms"]["mean"] == pytest.approx(
            (s["cycles"]["mean"] + s["features_cycles"]["mean"]) / 156e6 * 1e3
        )
        assert s["ram_budget"] == 786_432 and s["ram_need"] > r["ram_need"]  # code runs from RAM
    for board in ("mps2-an386", "spresense"):
        for kind in ("json", "md", "png"):
            assert (out / f"sweep-{board}.{kind}").stat().st_size > 0
        assert "| mbv2 w0.2 | 2/2 |" in (out / f"sweep-{board}.md").read_text()
    trial = json.loads((out / "trials" / "mbv2-w0.2-seed0-sess1" / TRIAL_FILE).read_text())
    assert trial["stages_run"] == ["train", "quantize", "export", "bench-mps2-an386"]
    assert trial["threads"] == 1 and list(trial["boards"]) == ["mps2-an386", "spresense"]
    assert trial["test_split"].startswith("leave-one-session-out: test session 1")

    # An interrupted trial (no trial.json yet) resumes from its stage reports; nothing else runs.
    # This call goes to an existing cluster through Ray Client (`--address ray://HOST:PORT`), as
    # the README tells a user to: with RAY_AUTH_MODE=token (the cluster's token is this user's
    # ~/.ray/auth_token); without it, the sweep says so instead of a traceback.
    gcs, client = ray_cluster
    env = {**os.environ, "PYTHONPATH": str(Path(edgekit.__file__).parents[1])}
    env.pop("RAY_AUTH_MODE", None)
    cli = [sys.executable, "-m", "edgekit.cli", *argv]
    (out / "trials" / "mbv2-w0.1-seed0-sess2" / TRIAL_FILE).unlink()
    before = _mtimes(out / "trials")
    # --report-only: the report of the trials finished so far; runs nothing, touches no trial
    assert main([*argv, "--report-only"]) == 0
    partial = json.loads(capsys.readouterr().out)
    assert partial["trials_run_this_call"] == 0 and _mtimes(out / "trials") == before
    row = {r["config"]: r for r in partial["boards"]["mps2-an386"]["configs"]}["mbv2 w0.1"]
    assert row["trials"] == 1 and row["ok"] == 1
    assert "5 of 6 trials finished" in (out / "sweep-mps2-an386.md").read_text()
    refused = subprocess.run([*cli, "--address", gcs], env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "RAY_AUTH_MODE=token" in refused.stderr, refused.stderr
    assert _mtimes(out / "trials") == before
    env["RAY_AUTH_MODE"] = "token"
    proc = subprocess.run([*cli, "--address", client], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result2 = json.loads(proc.stdout.strip().splitlines()[-1])
    rep2 = result2["boards"]["mps2-an386"]
    assert result2["trials_run_this_call"] == 1
    again = json.loads((out / "trials" / "mbv2-w0.1-seed0-sess2" / TRIAL_FILE).read_text())
    first = {t["name"]: t for t in rep["trials"]}["mbv2-w0.1-seed0-sess2"]
    assert again["stages_run"] == [] and again["int8_acc"] == first["int8_acc"]
    after = _mtimes(out / "trials")
    tdir = out / "trials" / "mbv2-w0.1-seed0-sess2"
    assert {p for p in before if before[p] != after.get(p)} == {str(tdir / "started.json")}
    assert set(after) - set(before) == {str(tdir / TRIAL_FILE)}
    assert rep2["configs"] == rep["configs"]

    # Finished: a third call runs nothing; another setting for the same --out is refused.
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["trials_run_this_call"] == 0
    assert main([a if a != "3" else "4" for a in argv]) == 2
    assert "samples" in capsys.readouterr().err


def _export(model_bytes: int, arena: int) -> ExportReport:
    return ExportReport(
        Path("export.json"), "mps2-an386", "h", model_bytes, 1.0, 0, 1.0, 0, arena, None, {}
    )


def test_each_board_is_benched_on_itself_when_qemu_runs_it_and_the_model_fits() -> None:
    trial = {"port": None, "bench_board": None}
    small, big = _export(200_000, 40_000), _export(2_000_000, 40_000)  # big > 1 MB flash
    assert bench_board_for(trial, "stm32f405", small) == "stm32f405"
    assert bench_board_for(trial, "stm32f405", big) == "mps2-an386"  # could not link
    assert bench_board_for(trial, "spresense", small) == "mps2-an386"  # no QEMU model
    assert bench_board_for({**trial, "bench_board": "mps2-an386"}, "stm32f405", small) == (
        "mps2-an386"
    )
    assert bench_board_for({**trial, "port": "/dev/ttyUSB0"}, "spresense", big) == "spresense"
    ok = {"status": "ok", "int8_acc": 0.9, "boards": {"a": {"fits": True}, "b": {"fits": False}}}
    assert for_board(ok, "b") == {"status": "ok", "int8_acc": 0.9, "fits": False}
    failed = {"status": "failed", "error": "boom"}
    assert for_board(failed, "b") == failed
    # one board's bench failed: that board sees a failed trial, the other its numbers
    half = {
        "status": "failed",
        "error": "b: link",
        "int8_acc": 0.9,
        "boards": {"a": {"fits": True, "latency_ms": 4.0}, "b": {"error": "link"}},
    }
    assert for_board(half, "a") == {
        "status": "ok",
        "int8_acc": 0.9,
        "fits": True,
        "latency_ms": 4.0,
    }
    assert for_board(half, "b") == {"status": "failed", "int8_acc": 0.9, "error": "link"}
    assert _outcome(half) == "int8 90.00%; a: 4.0 ms, fits; b: FAILED: link"


def test_sweep_refuses_a_port_for_several_boards(capsys) -> None:
    argv = ["sweep", "--boards", "spresense,stm32f405", "--widths", "0.2", "--port", "/dev/null"]
    assert main(argv) == 2
    assert "one real board" in capsys.readouterr().err
    assert main(["sweep", "--boards", "spresense,nope", "--widths", "0.2"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["sweep", "--board", "spresense,stm32f405", "--widths", "0.2"]) == 2
    assert "--boards A,B" in capsys.readouterr().err


def test_time_left_predicts_each_trial_from_its_cost() -> None:
    assert time_left([], [], [1.0], 2) is None  # nothing timed yet
    assert time_left([(1.0, 100.0), (1.0, 140.0)], [], [5.0, 5.0], 1) == pytest.approx(240.0)
    # a line through (cost, wall): 100 s + 100 s per unit of cost; widths the builder refused
    # (cost None) take no time; a running trial counts what it still has to do
    timed = [(1.0, 200.0), (3.0, 400.0), (None, 3.0)]
    assert time_left(timed, [(3.0, 100.0)], [1.0, None], 2) == pytest.approx((300 + 200) / 2)
    assert time_left(timed, [(3.0, 900.0)], [], 2) == 0.0  # over its prediction: not negative
    # noisy points with a falling line: no trial is predicted shorter for being wider
    assert time_left([(1.0, 300.0), (2.0, 200.0)], [], [10.0], 1) == pytest.approx(250.0)
    w01, w10 = relative_cost("mbv2", 0.1), relative_cost("mbv2", 1.0)
    assert w10 > 5 * w01 > 0 and relative_cost("mbv2", 1.6) is None


def test_a_stage_dies_with_the_worker_that_started_it(tmp_path) -> None:
    """A sweep stopped by killing its workers (Ctrl-C, `ray stop`) leaves no stage running: the
    stage gets SIGINT, the CLI's Ctrl-C path with its cleanup."""
    marker = tmp_path / "interrupted"
    stage = (
        "import time\n"
        "try:\n    time.sleep(60)\n"
        f"except KeyboardInterrupt:\n    open({str(marker)!r}, 'w').close()\n"
    )
    worker = (
        "import signal, subprocess, sys, time\n"
        "from edgekit.sweep import stage_dies_with_parent\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"  # as a worker may have it
        f"p = subprocess.Popen([sys.executable, '-c', {stage!r}], "
        "preexec_fn=stage_dies_with_parent())\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", worker], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(0.5)  # the stage is inside its sleep
    parent.kill()
    parent.wait()

    def alive() -> bool:  # a zombie (exited, not yet reaped by whoever adopted it) is not
        try:
            return Path(f"/proc/{child}/stat").read_text().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.time() + 10
    while time.time() < deadline and alive():
        time.sleep(0.1)
    assert not alive(), "the stage outlived its worker"
    assert marker.exists()  # it went through KeyboardInterrupt, not a bare kill

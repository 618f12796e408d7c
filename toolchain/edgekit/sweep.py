"""`edgekit sweep`: one trial per (arch, width, seed, fold) as a Ray task; a Pareto report per board.

A trial is a plain function of its config and its input files: it runs the stages through the
edgekit CLI in subprocesses (train -> quantize -> export -> bench) in its own run directory and
returns the trial record, which it also writes as <trial>/trial.json. Training, quantization and
the .tflite do not depend on the board, so a trial runs them once and then measures the model for
every board of the sweep: the fit against each board's budget from the export's figures, the
instructions per inference on each distinct emulated board it is benched on. That file is
the record: a trial that has one is never recomputed, and a trial interrupted half-way picks up
at the first stage without a report. A failed stage ends the trial with its error as the record;
the other trials go on. Ray does all the scheduling (one task per trial, --cpus-per-trial CPUs).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import runs
from .artifacts import ExportReport, load_export
from .errors import EdgekitError

TRIAL_FILE = "trial.json"
STARTED_FILE = "started.json"
# The emulated Cortex-M4 a model for a board without QEMU support is measured on.
DEFAULT_BENCH_BOARD = "mps2-an386"


@dataclass
class SweepConfig:
    boards: list[str]
    widths: list[float]
    archs: list[str] = field(default_factory=lambda: ["mbv2"])
    seeds: int = 1
    folds: str = "sessions"  # sessions | subjects | K (the first K session folds)
    budget_ms: float = 50.0
    epochs: int | None = None  # float training epochs (None: train's default)
    qat_epochs: int = 8
    samples: int = 50  # bench samples per trial
    data: str | None = None
    format: str = "csl"
    out: str = "sweep"
    port: str | None = None  # a real board on a serial port: bench on it
    # default: each board itself if QEMU emulates it and the model fits it, else mps2-an386
    bench_board: str | None = None
    cpus_per_trial: float = 1.0
    retry_failed: bool = False


# ------------------------------------------------------------------------------ folds


def data_sessions(data: str | None, fmt: str) -> dict[int, list[int]]:
    """{subject: [sessions]} of a dataset, from its file layout where that is enough (csl)."""
    if data is None:
        from .data.synth import SynthConfig, default_dataset

        root, fmt = default_dataset(SynthConfig()), "csl"
    else:
        root = Path(data)
    if fmt == "csl":
        from .data import csl

        found: dict[int, set[int]] = {}
        for f in csl.find_files(root):
            subj, sess = csl.subject_session(f)
            found.setdefault(subj, set()).add(sess)
    else:
        from .data import load_recording

        found = {}
        for t in load_recording(root, fmt).trials:
            found.setdefault(t.subject, set()).add(t.session)
    return {s: sorted(v) for s, v in sorted(found.items())}


def make_folds(spec: str, sessions: dict[int, list[int]]) -> list[dict[str, Any]]:
    """Fold name -> split options for `edgekit train`. Validation is always cut from the training
    part by the split itself; the test part is used once."""
    multi = len(sessions) > 1
    session_folds = []
    for subj, sess in sessions.items():
        if len(sess) < 2:
            continue
        for t in sess:
            opts = {"split": "session", "test_session": t}
            if multi:
                opts["subject"] = subj
            session_folds.append({"name": (f"subj{subj}-" if multi else "") + f"sess{t}", **opts})
    if spec == "sessions" or spec.isdigit():
        if not session_folds:
            raise EdgekitError(
                f"--folds {spec}: no subject has 2 or more sessions ({sessions}); "
                "leave-one-session-out needs them (try --folds subjects)"
            )
        if spec.isdigit():
            k = int(spec)
            if not 1 <= k <= len(session_folds):
                raise EdgekitError(
                    f"--folds: {k} is not in 1..{len(session_folds)} (the session folds "
                    "of this data)"
                )
            return session_folds[:k]
        return session_folds
    if spec == "subjects":
        if not multi:
            raise EdgekitError(
                f"--folds subjects: the data has one subject ({list(sessions)}); "
                "use --folds sessions"
            )
        return [{"name": f"subj{s}", "split": "subject", "test_subject": s} for s in sessions]
    raise EdgekitError(f"--folds: expected sessions, subjects or a number, got {spec!r}")


def plan_trials(cfg: SweepConfig, folds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for arch in cfg.archs:
        for width in cfg.widths:
            for seed in range(cfg.seeds):
                for fold in folds:
                    name = f"{arch}-w{width:g}-seed{seed}-{fold['name']}"
                    out.append(
                        {
                            "name": name,
                            "arch": arch,
                            "width": width,
                            "seed": seed,
                            "fold": fold,
                            "dir": str(Path(cfg.out).resolve() / "trials" / name),
                            **{
                                k: getattr(cfg, k)
                                for k in (
                                    "boards",
                                    "bench_board",
                                    "port",
                                    "epochs",
                                    "qat_epochs",
                                    "samples",
                                    "data",
                                    "format",
                                )
                            },
                        }
                    )
    return out


# ------------------------------------------------------------------------------ one trial


def _same_trial(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """The first field in which two trial configs differ (the output dir must not be reused for
    another sweep's settings), or None."""
    for k in sorted(set(a) | set(b) - {"dir"}):
        if a.get(k) != b.get(k):
            return k
    return None


def _stage(argv: list[str], log: Path, threads: int) -> dict[str, Any]:
    """One CLI stage in a subprocess; its JSON record, or EdgekitError with its last error line."""
    toolchain = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "EDGEKIT_THREADS": str(threads),
        "PYTHONPATH": os.pathsep.join(p for p in (toolchain, os.environ.get("PYTHONPATH")) if p),
    }
    cmd = [sys.executable, "-m", "edgekit.cli", *argv, "--json", "--no-progress"]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, preexec_fn=stage_dies_with_parent()
    )
    runs.write_text(
        log,
        "$ edgekit "
        + " ".join(argv)
        + f"\n[exit {proc.returncode}]\n"
        + proc.stderr
        + "\n--- stdout ---\n"
        + proc.stdout,
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        at = next((i for i, ln in enumerate(lines) if ln.startswith("edgekit: error:")), None)
        msg = "\n".join(lines[at:]) if at is not None else "\n".join(lines[-5:])
        raise EdgekitError(f"edgekit {argv[0]} (exit {proc.returncode}): {msg} [log {log}]")
    return json.loads(proc.stdout.strip().splitlines()[-1])


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def stage_dies_with_parent() -> Callable[[], None]:
    """A preexec_fn for a stage's process: it gets SIGINT when the Ray worker that started it
    dies, so a stopped or interrupted sweep leaves no training or QEMU running. SIGINT takes the
    CLI's Ctrl-C path, whose cleanup stops QEMU and the build tools' process groups; its default
    is restored first because a worker may have inherited SIGINT ignored. prctl is looked up
    here, in the (threaded) worker: between fork and exec the child only makes the two calls."""
    prctl = None
    if sys.platform.startswith("linux"):
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(signal.SIGINT))

    return preexec


def _threads() -> int:
    """The CPUs Ray gave this task (training uses that many threads, via EDGEKIT_THREADS)."""
    import ray

    if not ray.is_initialized():  # called directly, not as a Ray task (and must not start Ray)
        return 1
    return max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))


def run_trial(trial: dict[str, Any]) -> dict[str, Any]:
    """train -> quantize -> export -> bench for one config; returns (and writes) the trial record.

    Stages whose report is already in the run directory are not re-run."""
    tdir = Path(trial["dir"])
    done = tdir / TRIAL_FILE
    if done.exists():
        return runs.read_json(done)
    tdir.mkdir(parents=True, exist_ok=True)
    threads = _threads()
    t0 = time.time()
    rec: dict[str, Any] = {
        "config": trial,
        "status": "ok",
        "threads": threads,
        "host": os.uname().nodename,
        "stages_run": [],
        "stage_s": {},
    }
    started = tdir / STARTED_FILE
    if started.exists():  # an interrupted trial: its stage reports count only for the same config
        diff = _same_trial(runs.read_json(started).get("config", {}), trial)
        if diff is not None:
            rec.update(
                status="failed",
                error=f"{tdir}: an interrupted trial with another {diff!r} is "
                "in this directory; use another --out (or delete the directory)",
                wall_s=0.0,
            )
            return rec
    runs.write_json(
        started, {"time": t0, "host": os.uname().nodename, "threads": threads, "config": trial}
    )
    try:
        _run_stages(trial, rec, threads)
    except EdgekitError as e:
        rec.update(status="failed", error=str(e))
    except Exception as e:  # a bug in a stage is still this trial's result, not the sweep's end
        rec.update(status="failed", error=f"{type(e).__name__}: {e}")
    rec["wall_s"] = round(time.time() - t0, 1)
    runs.write_json(done, rec)
    return rec


def _stage_options(trial: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The options every stage of the trial takes (run, seed), and train's data options."""
    common = ["--run", str(Path(trial["dir"]) / "run"), "--seed", str(trial["seed"])]
    fold = trial["fold"]
    data = ["--split", fold["split"]] + sum(
        (
            [f"--{k.replace('_', '-')}", str(fold[k])]
            for k in ("test_session", "subject", "test_subject")
            if k in fold
        ),
        [],
    )
    if trial["data"] is not None:
        data += ["--data", trial["data"], "--format", trial["format"]]
    return common, data


def _run_stages(trial: dict[str, Any], rec: dict[str, Any], threads: int) -> None:
    """The trial's stages into `rec`: each runs unless its report is there already; the model is
    trained, quantized and exported once, then measured for every board."""
    run, logs = Path(trial["dir"]) / "run", Path(trial["dir"]) / "logs"
    common, data = _stage_options(trial)

    def stage(name: str, argv: list[str], report: Path) -> dict[str, Any]:
        if report.exists():
            return runs.read_json(report)
        rec["stages_run"].append(name)
        t = time.time()
        out = _stage(argv, logs / f"{name}.log", threads)
        rec["stage_s"][name] = round(time.time() - t, 1)
        return out

    tr = stage(
        "train",
        ["train", "--arch", trial["arch"], "--width", f"{trial['width']:g}", *common, *data]
        + (["--epochs", str(trial["epochs"])] if trial["epochs"] is not None else []),
        run / "train.json",
    )
    stage(
        "quantize",
        ["quantize", *common, "--qat-epochs", str(trial["qat_epochs"])],
        run / "quantize.json",
    )
    # One export serves every board: its fit check is against the board it is exported for
    # (the real board behind --port, else --bench-board or mps2-an386, whose 4 MB hold any
    # model a board could run); each board's own fit is computed from its figures below.
    ex_board = trial["boards"][0] if trial["port"] else _default_bench(trial)
    ex_json = run / "export" / "export.json"
    stage("export", ["export", *common, "--board", ex_board], ex_json)
    ex = load_export(ex_json)
    rec.update(model_metrics(tr, ex, run))
    rec["boards"] = {}
    for name in trial["boards"]:  # a board whose bench fails does not cost the others theirs
        bench_on = bench_board_for(trial, name, ex)
        bench_argv = ["bench", *common, "--board", bench_on, "--samples", str(trial["samples"])]
        if trial["port"]:
            bench_argv += ["--port", trial["port"]]
        try:
            be = stage(f"bench-{bench_on}", bench_argv, run / "bench" / bench_on / "bench.json")
            rec["boards"][name] = board_metrics(ex, be, name, bench_on, bool(trial["port"]))
        except EdgekitError as e:
            rec["boards"][name] = {"error": str(e)}
    bad = {n: m["error"] for n, m in rec["boards"].items() if "error" in m}
    if bad:  # failed, so --retry-failed runs it again (only the missing benches re-run)
        rec.update(status="failed", error="; ".join(f"{n}: {e}" for n, e in bad.items()))


def _default_bench(trial: dict[str, Any]) -> str:
    return trial["bench_board"] or DEFAULT_BENCH_BOARD


def bench_board_for(trial: dict[str, Any], name: str, ex: ExportReport) -> str:
    """Where a board's latency is measured: the board itself behind --port; else the board in
    QEMU when QEMU runs it and the model fits it (else the build could not link); else
    --bench-board or mps2-an386, the same Cortex-M4 core and runtime at a roomier memory map."""
    from .boards import get_board
    from .export.fit import fit_report

    if trial["port"]:
        return name
    if trial["bench_board"]:
        return trial["bench_board"]
    board = get_board(name)
    if board.emulated and fit_report(board, ex.model_bytes, _arena(board, ex))["fits"]:
        return name
    return DEFAULT_BENCH_BOARD


def _arena(board: Any, ex: ExportReport) -> int:
    """The arena the board's runtime needs: edgekit-rt's planned size, or TFLM's need + margin."""
    from .export.reference import host_arena

    return host_arena(ex) if board.runtime == "tflm" else ex.ek_arena_size


def model_metrics(tr: dict, ex: ExportReport, run: Path) -> dict[str, Any]:
    """The board-independent numbers of one trial: accuracy of the float and int8 models, size."""
    from .metrics import scores

    ref = runs.load_npz(run / "export" / "reference.npz")
    n = len(ref["label_names"])
    int8 = scores(ref["labels"], ref["y_int8"].argmax(1), n)
    return {
        "float_acc": tr["cnn"]["accuracy"],
        "float_f1": tr["cnn"]["macro_f1"],
        "lda_acc": tr["lda"]["accuracy"],
        "int8_acc": int8["accuracy"],
        "int8_f1": int8["macro_f1"],
        "n_test": int8["n"],
        "test_split": tr["split"]["description"],
        "params": ex.raw["params"],
        "macs": ex.raw["macs"],
        "model_bytes": ex.model_bytes,
    }


def board_metrics(
    ex: ExportReport, be: dict, board_name: str, bench_on: str, measured_on_board: bool
) -> dict[str, Any]:
    """One board's numbers for a trial: fit against its budget, the bench, latency at its clock."""
    from .boards import get_board
    from .export.fit import fit_report

    board = get_board(board_name)
    arena = _arena(board, ex)
    fit = fit_report(board, ex.model_bytes, arena)
    lat = be["latency"]
    q = be.get("qemu") or {}
    instr = q.get("instructions_per_inference")
    if measured_on_board:
        latency_ms, how = (
            lat["median_us"] / 1000.0,
            f"measured on {board_name} ({lat['tick_unit']})",
        )
    else:
        latency_ms = instr / board.clock_hz * 1000.0 if instr else None
        how = (
            f"QEMU {bench_on} instructions / {board.clock_hz / 1e6:g} MHz at 1 cycle per "
            "instruction (a lower bound on a real Cortex-M4)"
        )
    return {
        "device_acc": be["device_accuracy"],
        "exact_match_rate": be["exact_match_rate"],
        "bench_samples": be["samples"],
        "bench_board": bench_on,
        "arena_bytes": arena,
        "arena_used": be.get("arena_used"),
        "flash_need": fit["flash"]["need"],
        "flash_budget": fit["flash"]["budget"],
        "ram_need": fit["ram"]["need"],
        "ram_budget": fit["ram"]["budget"],
        "fits": fit["fits"],
        "elf_flash_bytes": be.get("flash_bytes"),
        "elf_ram_bytes": be.get("ram_bytes"),
        "instructions": instr,
        "latency_ms": latency_ms,
        "latency_how": how,
    }


# ------------------------------------------------------------------------------ the driver


def _say(msg: str) -> None:
    print(f"edgekit sweep: {msg}", file=sys.stderr, flush=True)


def _fmt_s(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def _outcome(rec: dict[str, Any]) -> str:
    """A finished trial in one line: int8 accuracy and each board's latency and fit."""
    if "boards" not in rec:
        return "FAILED: " + rec["error"].splitlines()[0][:200]
    return f"int8 {rec['int8_acc']:.2%}; " + "; ".join(
        f"{b}: FAILED: {m['error'].splitlines()[0][:200]}"
        if "error" in m
        else f"{b}: {m['latency_ms'] or 0:.1f} ms, {'fits' if m['fits'] else 'does NOT fit'}"
        for b, m in rec["boards"].items()
    )


def relative_cost(arch: str, width: float) -> float | None:
    """A trial's weight in the time-left estimate: the MACs of the architecture at this width on
    the default grid (training and QAT time grow with them; only ratios matter). None for a width
    the builder refuses (that trial fails at once)."""
    from .nn import build_model
    from .nn.profile import profile_model

    try:
        return float(profile_model(build_model(arch, width, 10)).total_macs)
    except EdgekitError:
        return None


def time_left(
    timed: list[tuple[float | None, float]],
    running: list[tuple[float | None, float]],
    waiting: list[float | None],
    slots: int,
) -> float | None:
    """Seconds until the last trial ends. Each trial's wall time is predicted from the finished
    trials that ran every stage, `timed` (cost, wall s): a line through them once two costs are
    known (wider models take longer, but not in proportion: small ones are overhead-bound), their
    mean before that. running: (cost, seconds since it started); the remaining work is spread
    over the `slots` trials Ray runs at once. None until one trial has been timed."""
    pts = [(c, w) for c, w in timed if c is not None]
    if not pts:
        return None
    c, w = np.array(pts, dtype=float).T
    slope = max(float(np.polyfit(c, w, 1)[0]), 0.0) if len(set(c.tolist())) > 1 else 0.0
    base = float((w - slope * c).mean())

    def predict(cost: float | None) -> float:
        return 0.0 if cost is None else max(base + slope * cost, 0.0)

    work = sum(max(predict(cc) - e, 0.0) for cc, e in running) + sum(map(predict, waiting))
    return work / max(slots, 1)


def _started_at(trial: dict[str, Any], default: float) -> float:
    try:
        return float(runs.read_json(Path(trial["dir"]) / STARTED_FILE)["time"])
    except (EdgekitError, KeyError, TypeError, ValueError):
        return default


def run_sweep(
    cfg: SweepConfig,
    address: str | None = None,
    local_cpus: int | None = None,
    progress: bool = True,
    report_only: bool = False,
) -> dict[str, Any]:
    """Plan the trials, run the missing ones as Ray tasks, write sweep-<board>.json/.md/.png
    (report_only: from the trials finished so far, running nothing)."""
    boards = _check_config(cfg)
    folds = make_folds(cfg.folds, data_sessions(cfg.data, cfg.format))
    trials = plan_trials(cfg, folds)
    records, todo = _finished(trials, cfg.retry_failed)

    def write_reports() -> dict[str, Any]:
        """sweep-<board>.* from the trials finished so far (after each one, so a stopped sweep
        leaves a report of what it did)."""
        from .sweep_report import build_report, write_report

        done = [records[t["name"]] for t in trials if t["name"] in records]
        reports = {}
        for board in boards:
            rep = build_report(cfg, board, [for_board(r, board.name) for r in done], folds)
            rep["trials_planned"] = len(trials)
            rep["files"] = write_report(Path(cfg.out), rep, board)
            reports[board.name] = rep
        return reports

    if report_only:
        _say(f"{len(records)} of {len(trials)} trials finished; report only, nothing run")
        return {"boards": write_reports(), "wall_s_this_call": 0.0, "trials_run_this_call": 0}
    _say(
        f"{len(trials)} trials ({len(cfg.archs)} arch x {len(cfg.widths)} widths x {cfg.seeds} seeds "
        f"x {len(folds)} folds), {len(trials) - len(todo)} already done, {len(todo)} to run; "
        f"board(s) {', '.join(cfg.boards)}"
        + (f", bench on {cfg.port or cfg.bench_board}" if cfg.port or cfg.bench_board else "")
    )
    t0 = time.time()
    if todo:
        with _ray(address, local_cpus):
            _run_on_ray(cfg, trials, todo, records, progress, write_reports)
    return {
        "boards": write_reports(),
        "wall_s_this_call": round(time.time() - t0, 1),
        "trials_run_this_call": len(todo),
    }


def _check_config(cfg: SweepConfig) -> list[Any]:
    """The sweep's boards; a clear error for settings that cannot be swept."""
    from .boards import get_board

    boards = [get_board(b) for b in cfg.boards]
    if cfg.bench_board is not None:
        get_board(cfg.bench_board)
    if cfg.port and len(boards) > 1:
        raise EdgekitError(
            f"--port: one real board is on a serial port, but --boards names {len(boards)}; "
            "sweep one board with --port"
        )
    bad = [w for w in cfg.widths if not w > 0]
    if not cfg.widths or bad:
        raise EdgekitError(f"--widths: expected positive widths like 0.1,0.2, got {cfg.widths}")
    if cfg.seeds < 1:
        raise EdgekitError(f"--seeds: expected 1 or more, got {cfg.seeds}")
    return boards


def _finished(
    trials: list[dict[str, Any]], retry_failed: bool
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The records of the trials already finished (name -> record), and the trials to run: the
    missing ones, and with retry_failed the failed ones (their record is removed)."""
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for t in trials:
        f = Path(t["dir"]) / TRIAL_FILE
        if f.exists():
            old = runs.read_json(f)
            diff = _same_trial(old.get("config", {}), t)
            if diff is not None:
                raise EdgekitError(
                    f"{f}: this trial was run with another {diff!r} "
                    f"({old['config'].get(diff)!r}, now {t.get(diff)!r}); use another "
                    "--out for a different sweep"
                )
            if old["status"] == "ok" or not retry_failed:
                records[t["name"]] = old
                continue
            f.unlink()
        todo.append(t)
    return records, todo


@contextlib.contextmanager
def _ray(address: str | None, local_cpus: int | None) -> Iterator[None]:
    """Ray for the sweep: joined or started here (and then shut down after), unless running."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kw["address"] = address
        else:  # trials return small dicts: no need for Ray's default 30% of RAM in /dev/shm
            kw["object_store_memory"] = 256 * 1024**2
            if local_cpus:
                kw["num_cpus"] = local_cpus
        try:
            ray.init(**kw)
        except Exception as e:  # ConnectionError, AuthenticationError, ...: say what to do
            if not address:
                raise
            # Ray's reason may be on the lines after a heading ("Initialization failure from
            # server:\n<why>"): all of it, on one line
            why = " ".join(ln.strip() for ln in str(e).splitlines() if ln.strip())
            raise EdgekitError(
                f"--address {address}: could not join the Ray cluster: "
                f"{why[:500] or type(e).__name__}; "
                "a cluster started with `ray start` uses token authentication (Ray 2.59 "
                "and later): run the sweep with RAY_AUTH_MODE=token and the cluster's token "
                "in ~/.ray/auth_token (or RAY_AUTH_TOKEN)"
            ) from None
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def _ran_every_stage(rec: dict[str, Any]) -> bool:
    return rec["status"] == "ok" and "train" in rec.get("stages_run", ())


class _TimeLeft:
    """The time-left estimate as trials finish: each trial's relative cost (one model build per
    configuration), and the wall times of the finished trials that ran every stage."""

    def __init__(
        self, trials: list[dict[str, Any]], records: dict[str, dict[str, Any]], slots: int
    ) -> None:
        config_cost = {c: relative_cost(*c) for c in {(t["arch"], t["width"]) for t in trials}}
        self.cost = {t["name"]: config_cost[t["arch"], t["width"]] for t in trials}
        self.timed = [
            (self.cost[n], r["wall_s"]) for n, r in records.items() if _ran_every_stage(r)
        ]
        self.slots = slots

    def after(
        self, name: str, rec: dict[str, Any], pending: list[dict[str, Any]], started: set[str]
    ) -> float | None:
        """Seconds left once trial `name` finished with `rec`; `started`: the pending trials
        that have begun (they wrote started.json)."""
        if _ran_every_stage(rec):
            self.timed.append((self.cost[name], rec["wall_s"]))
        now = time.time()
        return time_left(
            self.timed,
            [
                (self.cost[p["name"]], now - _started_at(p, now))
                for p in pending
                if p["name"] in started
            ],
            [self.cost[p["name"]] for p in pending if p["name"] not in started],
            self.slots,
        )


def _run_on_ray(
    cfg: SweepConfig,
    trials: list[dict[str, Any]],
    todo: list[dict[str, Any]],
    records: dict[str, dict[str, Any]],
    progress: bool,
    on_finished: Callable[[], object],
) -> None:
    """One Ray task per trial to run; each record into `records` as it comes, a line on stderr
    when a trial starts and when it ends (with the time left), `on_finished()` after each."""
    import ray

    from .progress import progress_bar

    task = ray.remote(num_cpus=cfg.cpus_per_trial, max_retries=0)(run_trial)
    slots = max(1, int(ray.cluster_resources().get("CPU", 1) // cfg.cpus_per_trial))
    est = _TimeLeft(trials, records, slots)
    pending = {task.remote(t): t for t in todo}
    seen_start: set[str] = set()
    bar = progress_bar(range(len(todo)), "sweep", progress, total=len(todo))
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=2.0)
        for t in pending.values():  # the trials write started.json when they begin
            if t["name"] not in seen_start and (Path(t["dir"]) / STARTED_FILE).exists():
                seen_start.add(t["name"])
                bar.write(f"edgekit sweep: started  {t['name']}", file=sys.stderr)
        for ref in ready:
            t = pending.pop(ref)
            try:
                rec = ray.get(ref)
            except Exception as e:  # the task itself died (worker killed, node lost)
                rec = {"config": t, "status": "failed", "error": f"Ray task: {e}"}
            records[t["name"]] = rec
            left = est.after(t["name"], rec, list(pending.values()), seen_start)
            bar.write(
                f"edgekit sweep: finished {t['name']} [{len(todo) - len(pending)}/{len(todo)}] "
                f"in {rec.get('wall_s', 0):.0f} s: {_outcome(rec)}; time left "
                + (f"~{_fmt_s(left)}" if left is not None else "not known yet"),
                file=sys.stderr,
            )
            bar.update(1)
            on_finished()
    bar.close()


def for_board(rec: dict[str, Any], board: str) -> dict[str, Any]:
    """A trial record as one board sees it: the model's numbers and that board's."""
    flat = {k: v for k, v in rec.items() if k not in ("boards", "error")}
    mine = rec.get("boards", {}).get(board)
    if mine is None:  # the trial failed before any board was measured
        return {
            **flat,
            "status": rec["status"],
            **({"error": rec["error"]} if "error" in rec else {}),
        }
    if "error" in mine:
        return {**flat, "status": "failed", "error": mine["error"]}
    return {**flat, "status": "ok", **mine}


def config_from_args(args: Any) -> SweepConfig:
    def floats(s: str, what: str) -> list[float]:
        try:
            return [float(x) for x in s.split(",") if x.strip()]
        except ValueError:
            raise EdgekitError(f"{what}: expected comma-separated numbers, got {s!r}") from None

    return SweepConfig(  # boards and archs: lists the parser checked against their registries
        boards=args.boards or [args.board],
        widths=floats(args.widths, "--widths"),
        archs=list(args.arch),
        seeds=args.seeds,
        folds=args.folds,
        budget_ms=args.budget_ms,
        epochs=args.epochs,
        qat_epochs=args.qat_epochs,
        samples=args.samples,
        data=str(Path(args.data).resolve()) if args.data else None,
        format=args.format,
        out=args.out,
        port=args.port,
        bench_board=args.bench_board,
        cpus_per_trial=args.cpus_per_trial,
        retry_failed=args.retry_failed,
    )

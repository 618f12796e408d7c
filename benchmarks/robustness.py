"""The robustness table (RoHDE on the causal chain): standard, augmented and GAN-robust models,
float and int8, clean / CA / LC, over seeds x held-out sessions; and `stream --disturb` on the board.

    # per (seed, session): the standard run of the pool sweep, then augmented training, the GAN,
    # fine-tuning, QAT + export of each, and `edgekit robust eval` (resumable: a stage whose
    # output exists is skipped; stage wall times go to <out>/<trial>/timing.json)
    nice -n 5 python benchmarks/robustness.py run --pool /work/pool/sweep --out runs/robustness

    # `edgekit stream --disturb` of the standard and robust int8 models of one trial on a board
    nice -n 5 python benchmarks/robustness.py stream --out runs/robustness --trial mbv2-w0.2-seed0-sess3

    # mean +- std over the finished trials -> docs/results/robustness.json; the marked tables of
    # docs/robustness.md are rendered from it (benchmarks/docs_tables.py, `make docs`)
    python benchmarks/robustness.py table --out runs/robustness

Each trial runs, with S its seed and K its held-out session (R = the standard run, a copy of
<pool>/trials/mbv2-w<W>-seed<S>-sess<K>/run):

    edgekit train --width W --seed S --test-session K --augment ca --augment lc --run A
    edgekit quantize --run A --seed S; edgekit export --run A --board mps2-an386 --seed S
    edgekit robust gan --run R --seed S [--steps N]
    edgekit robust finetune --run R --out G --seed S
    edgekit quantize --run G --seed S; edgekit export --run G --board mps2-an386 --seed S
    edgekit robust eval --run R --augmented A --robust G --seed S --out <trial>
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "robustness.md"
RESULTS = REPO / "docs" / "results" / "robustness.json"
STREAM_RESULTS = REPO / "docs" / "results" / "robustness-stream.json"
STRENGTH = REPO / "docs" / "results" / "disturb-strength.json"  # benchmarks/disturb_strength.py
MODELS = ("standard", "augmented", "robust")
SETS = ("clean", "ca", "lc")
STD_FILES = ("float.pt", "frames.npz", "train.json", "qat.pt", "quantize.json", "export")
BOARD = "mps2-an386"


# ------------------------------------------------------------------------------ running


def edgekit(*argv: str, log: Path) -> None:
    """One CLI stage in a subprocess (its output appended to log); stops the script on failure."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "toolchain")}
    cmd = [sys.executable, "-m", "edgekit.cli", *argv, "--no-progress"]
    with log.open("a") as f:
        f.write(f"$ edgekit {' '.join(argv)}\n")
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if r.returncode:
        raise SystemExit(f"edgekit {' '.join(argv)} failed (exit {r.returncode}); see {log}")


def copy_standard(src: Path, dst: Path) -> None:
    """The pool's run, copied with its timestamps (eval checks the export is newer than
    float.pt); the pool itself is never written."""
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in STD_FILES:
        p = src / name
        if p.is_dir():
            shutil.copytree(p, tmp / name, copy_function=shutil.copy2)
        else:
            shutil.copy2(p, tmp / name)
    tmp.rename(dst)


def trial_stages(t: dict, gan_steps: int | None) -> list[tuple[str, Path, list[str]]]:
    """(name, the file that marks it done, CLI argv) of every stage of one trial, in order."""
    w, s, k = t["dir"], str(t["seed"]), str(t["session"])
    std, aug, rob = w / "standard", w / "augmented", w / "robust"
    seed = ["--seed", s]
    steps = ["--steps", str(gan_steps)] if gan_steps else []
    out = [
        (
            "augmented train",
            aug / "train.json",
            ["train", "--width", f"{t['width']:g}", *seed, "--test-session", k, "--run", str(aug)]
            + ["--augment", "ca", "--augment", "lc"],
        ),
        ("augmented quantize", aug / "quantize.json", ["quantize", "--run", str(aug), *seed]),
        (
            "augmented export",
            aug / "export" / "export.json",
            ["export", "--run", str(aug), "--board", BOARD, *seed],
        ),
        ("gan", std / "gan.json", ["robust", "gan", "--run", str(std), *seed, *steps]),
        (
            "finetune",
            rob / "robust_finetune.json",
            ["robust", "finetune", "--run", str(std), "--out", str(rob), *seed],
        ),
        ("robust quantize", rob / "quantize.json", ["quantize", "--run", str(rob), *seed]),
        (
            "robust export",
            rob / "export" / "export.json",
            ["export", "--run", str(rob), "--board", BOARD, *seed],
        ),
    ]
    eval_argv = ["robust", "eval", "--run", str(std), "--augmented", str(aug)]
    eval_argv += ["--robust", str(rob), *seed, "--out", str(w)]
    return out + [("eval", w / "robust_eval.json", eval_argv)]


def run_trial(t: dict, gan_steps: int | None) -> None:
    w = t["dir"]
    w.mkdir(parents=True, exist_ok=True)
    timing_path = w / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    if not (w / "standard" / "export" / "export.json").exists():
        copy_standard(t["standard"], w / "standard")
    for name, done, argv in trial_stages(t, gan_steps):
        if done.exists():
            continue
        print(f"{t['name']}: {name} ...", flush=True)
        t0 = time.perf_counter()
        edgekit(*argv, log=w / "log.txt")
        timing[name] = round(time.perf_counter() - t0, 1)
        timing_path.write_text(json.dumps(timing, indent=2) + "\n")
    print(f"{t['name']}: done ({sum(timing.values()):.0f} s of stages run here)", flush=True)


def plan(args: argparse.Namespace) -> list[dict]:
    """The trials whose standard run exists in the pool (seed-major order, as the pool runs)."""
    out = []
    for s in args.seeds:
        for k in args.sessions:
            name = f"mbv2-w{args.width:g}-seed{s}-sess{k}"
            std = Path(args.pool) / "trials" / name / "run"
            std = Path(args.standard.get(name, std))
            t = {"name": name, "seed": s, "session": k, "width": args.width, "standard": std}
            t["dir"] = Path(args.out) / name
            t["ready"] = (std / "export" / "export.json").exists() and (std / "qat.pt").exists()
            out.append(t)
    return out


def cmd_run(args: argparse.Namespace) -> None:
    while True:
        todo = [t for t in plan(args) if not (t["dir"] / "robust_eval.json").exists()]
        if args.only:
            todo = [t for t in todo if t["name"] in args.only]
        ready = [t for t in todo if t["ready"]]
        if ready:
            run_trial(ready[0], args.gan_steps)
            continue
        if not todo or not args.wait:
            print(f"{len(todo)} trial(s) left, none with a finished standard run in the pool")
            return
        time.sleep(120)  # the pool sweep finishes its trials one by one


# ------------------------------------------------------------------------------ stream


def cmd_stream(args: argparse.Namespace) -> None:
    """stream clean / --disturb ca / --disturb lc for the trial's standard and robust models."""
    w = Path(args.out) / args.trial
    seed, session = re.search(r"seed(\d+)-sess(\d+)", args.trial).groups()
    # the robust run has no train.json to name its data: both replay the standard run's data
    data = json.loads((w / "standard" / "train.json").read_text())["data"]["root"]
    results = json.loads(STREAM_RESULTS.read_text()) if STREAM_RESULTS.exists() else {}
    for model in args.models.split(","):
        run = w / model
        for cond in ("clean", "ca", "lc"):
            key = f"{args.trial}/{model}/{cond}"
            if key in results and not args.again:
                continue
            dist = [] if cond == "clean" else ["--disturb", cond]
            argv = ["stream", "--board", args.board, "--run", str(run), "--recording", data]
            argv += ["--session", session]  # the pair's held-out session
            argv += ["--vote", str(args.vote)]
            argv += [*dist, "--seed", seed, "--json"]
            print(f"{key} ...", flush=True)
            out = w / f"stream-{model}-{cond}.json"
            env = {**os.environ, "PYTHONPATH": str(REPO / "toolchain")}
            r = subprocess.run(
                [sys.executable, "-m", "edgekit.cli", *argv, "--no-progress"],
                capture_output=True,
                text=True,
                env=env,
            )
            if r.returncode:
                raise SystemExit(f"edgekit {' '.join(argv)} failed: {r.stderr[-2000:]}")
            out.write_text(r.stdout)
            rep = json.loads(r.stdout)
            results[key] = {
                "command": "edgekit " + " ".join(argv),
                **{k: rep[k] for k in ("board", "device", "hops", "scored_hops", "vote", "source")},
                **{k: rep[k] for k in ("accuracy", "agreement_with_host", "exact", "latency")},
                "latency_k1": rep["latency_k1"],
                "disturb": rep.get("disturb"),
                "errors": len(rep["errors"]),
            }
            STREAM_RESULTS.parent.mkdir(parents=True, exist_ok=True)
            STREAM_RESULTS.write_text(json.dumps(results, indent=1) + "\n")


# ------------------------------------------------------------------------------ table


def collect(out: Path, kept: dict | None = None) -> dict:
    """Every finished trial's eval JSON, GAN report and stage times, with the `kept` trials
    (measured elsewhere) that `out` does not hold -> the aggregate record."""
    trials = {}
    for ev in sorted(out.glob("mbv2-*/robust_eval.json")):
        w = ev.parent
        r = json.loads(ev.read_text())
        gan = json.loads((w / "standard" / "gan.json").read_text())
        timing = json.loads((w / "timing.json").read_text()) if (w / "timing.json").exists() else {}
        trials[w.name] = {
            "votes": r["votes"],
            "n_frames": r["n"],
            "test_trials": r["test_trials"],
            "disturb_seed": r["disturb_seed"],
            "clipping": r["clipping"],
            "accuracy": {m: {p: r["models"][m][p] for p in ("float", "int8")} for m in MODELS},
            "gan": {"steps": gan["steps"], "quality": gan["quality"], "wall_s": gan["wall_s"]},
            "timing_s": timing,
        }
    trials = dict(sorted({**(kept or {}), **trials}.items()))
    return {"trials": trials, "summary": summarize(trials)}


def _stats(v: list[float]) -> dict:
    a = np.asarray(v, float)
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "n": int(a.size),
    }


def summarize(trials: dict) -> dict:
    """Mean and sample std over trials of each (model, precision, set, k), and of clipping."""
    if not trials:
        return {}
    votes = next(iter(trials.values()))["votes"]
    acc = {}
    for m in MODELS:
        for p in ("float", "int8"):
            for s in SETS:
                for i, k in enumerate(votes):
                    vals = [
                        t["accuracy"][m][p][s][i] for t in trials.values() if t["accuracy"][m][p]
                    ]
                    if vals:
                        acc[f"{m}/{p}/{s}/k{k}"] = _stats(vals)
    clip = {
        s: {
            f: _stats([t["clipping"][s][f] for t in trials.values()])
            for f in ("fraction", "fraction_of_changed")
        }
        | {
            "trials_clipped": sum(t["clipping"][s]["trials_clipped"] for t in trials.values()),
            "trials": sum(t["clipping"][s]["trials"] for t in trials.values()),
        }
        for s in SETS[1:]
    }
    return {"votes": votes, "n_trials": len(trials), "accuracy": acc, "clipping": clip}


SEED_VOTE = 10  # the seed's longest voting window (robust/evaluate.py VOTES): 600 ms of signal
LABEL = {"standard": "standard", "augmented": "augmented (`--augment ca --augment lc`)"}
LABEL["robust"] = "GAN-robust (`robust finetune --mix 0.5`)"


def _pm(s: dict | None) -> str:
    if s is None:
        return "-"
    if s["n"] < 2:  # one pair has no spread to show
        return f"{100 * s['mean']:.1f}"
    return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}"


def accuracy_markdown(agg: dict) -> str:
    sm = agg["summary"]
    if not sm:
        return "No trial has finished yet.\n"
    a, k = sm["accuracy"], SEED_VOTE
    head = "| model | precision | " + " | ".join(
        f"{s if s == 'clean' else s.upper()} k=1 / k={k}" for s in SETS
    )
    rows = [head + " |", "|---|---|" + "---|" * len(SETS)]
    for m in MODELS:
        for p in ("float", "int8"):
            cells = [
                f"{_pm(a.get(f'{m}/{p}/{s}/k1'))} / {_pm(a.get(f'{m}/{p}/{s}/k{k}'))}" for s in SETS
            ]
            rows.append(f"| {LABEL[m]} | {p} | " + " | ".join(cells) + " |")
    names = ", ".join(sorted(agg["trials"]))
    n = sm["n_trials"]
    t = next(iter(agg["trials"].values()))
    rows += [
        "",
        f"Test accuracy (%) on the held-out session, mean ± sample std over n = {n} of 9 "
        f"(seed, held-out session) pairs ({names}); {t['n_frames']['clean']} windows per set "
        f"and pair; k = number of windows in the majority vote (k=1: 150 ms of signal, "
        f"k={k}: {150 + (k - 1) * 50} ms).",
    ]
    return "\n".join(rows) + "\n"


def conditions_markdown(agg: dict) -> str:
    """Each condition's effect on the raw signal (DISTURBANCES[name].effect), how much of it the
    feature chain passes (docs/results/disturb-strength.json) and what the ADC's range clipped
    in the evaluation's test sets."""
    sys.path.insert(0, str(REPO / "toolchain"))
    from edgekit.data.disturb import DISTURBANCES

    clip = agg["summary"].get("clipping", {})
    strength = json.loads(STRENGTH.read_text())["rows"] if STRENGTH.exists() else {}
    rows = [
        "| condition | what it does to the raw signal | RMS frames of the affected electrodes, "
        "disturbed / clean: median, p90 | clipped samples: all / of those it changed "
        "| trials with clipping |",
        "|---|---|---|---|---|",
    ]
    for name, d in DISTURBANCES.items():
        g = strength.get(name)
        grow = f"{g['median_growth']:.2f}, {g['p90_growth']:.2f}" if g else "-"
        c = clip.get(name)
        cells = (
            (
                f"{100 * c['fraction']['mean']:.4f}% / {100 * c['fraction_of_changed']['mean']:.3f}%",
                f"{c['trials_clipped']} of {c['trials']}",
            )
            if c
            else ("not in the evaluation", "-")
        )
        rows.append(f"| {name} | {d.effect} | {grow} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows) + "\n"


def stream_markdown(results: dict) -> str:
    if not results:
        return "Not measured yet.\n"
    rows = [
        "| trial / model | condition | hops scored | accuracy k=1 / k=K | agreement with host "
        "(class / vote) | exact frames / outputs | onset latency k=K median / p90 (never) "
        "| clipped samples |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, r in results.items():
        trial, model, cond = key.split("/")
        acc, ag, ex, lat = r["accuracy"], r["agreement_with_host"], r["exact"], r["latency"]
        k = r["vote"]
        clip = r["disturb"]["clipping"] if r.get("disturb") else None
        rows.append(
            f"| {trial} / {model} | {cond} | {r['scored_hops']} | {100 * acc['k1']:.1f}% / "
            f"{100 * acc[f'k{k}']:.1f}% (K={k}) | {100 * ag['class']:.1f}% / {100 * ag['vote']:.1f}% | "
            f"{100 * ex['frames']:.1f}% / {100 * ex['outputs']:.1f}% | {lat['median_ms']:.0f} / "
            f"{lat['p90_ms']:.0f} ms ({lat['never_decided']} of {lat['trials']}) | "
            + (f"{100 * clip['fraction']:.4f}% ({clip['trials_clipped']} trials)" if clip else "-")
            + " |"
        )
    first = next(iter(results.values()))
    rows += [
        "",
        f"Board {first['board']} ({first['device']}); command per row: `{first['command']}` "
        "with the row's run, its pair's held-out session (`--session K`; 3, the last, is the "
        "default) and `--disturb`.",
    ]
    return "\n".join(rows) + "\n"


def cmd_table(args: argparse.Namespace) -> None:
    """Aggregate the finished trials into docs/results/robustness.json; the doc's tables are
    rendered from it by benchmarks/docs_tables.py (`make docs`), like every result table."""
    import docs_tables

    # pairs measured before (another machine's pool) stay unless --out holds them again
    agg = collect(Path(args.out), {} if args.fresh else results()[0]["trials"])
    agg["command"] = (
        "python benchmarks/robustness.py run --pool /work/pool/sweep --out runs/robustness"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(agg, indent=1) + "\n")
    DOC.write_text(docs_tables.render(DOC.read_text(), DOC))
    print(accuracy_markdown(agg))


def results() -> tuple[dict, dict]:
    """The aggregate and the board's stream rows as docs/results holds them (empty: none yet)."""
    agg = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"trials": {}, "summary": {}}
    stream = json.loads(STREAM_RESULTS.read_text()) if STREAM_RESULTS.exists() else {}
    return agg, stream


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser(
        "run", help="run the missing stages of every trial whose standard run exists"
    )
    r.add_argument("--pool", default="/work/pool/sweep")
    r.add_argument("--out", default="runs/robustness")
    r.add_argument("--width", type=float, default=0.2)
    r.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[0, 1, 2])
    r.add_argument("--sessions", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2, 3])
    r.add_argument("--only", action="append", help="just this trial (repeatable)")
    r.add_argument(
        "--standard",
        metavar="TRIAL=DIR",
        action="append",
        default=[],
        help="the standard run of a trial from elsewhere (the same train options as the pool's)",
    )
    r.add_argument("--gan-steps", type=int, default=None, help="default: robust gan's own")
    r.add_argument("--wait", action="store_true", help="wait for the pool's next standard run")
    s = sub.add_parser("stream", help="stream clean/CA/LC through a board for one trial")
    s.add_argument("--out", default="runs/robustness")
    s.add_argument("--trial", required=True)
    s.add_argument("--board", default=BOARD)
    s.add_argument("--vote", type=int, default=SEED_VOTE)
    s.add_argument("--again", action="store_true", help="re-run rows already in the results")
    s.add_argument("--models", default="standard,robust", help="which of the trial's runs")
    t = sub.add_parser("table", help="aggregate finished trials into the JSON and the doc")
    t.add_argument("--out", default="runs/robustness")
    t.add_argument(
        "--fresh",
        action="store_true",
        help="only the pairs in --out (default: "
        "also keep those docs/results/robustness.json holds)",
    )
    args = ap.parse_args()
    if args.cmd == "run":
        args.standard = dict(v.split("=", 1) for v in args.standard)
    {"run": cmd_run, "stream": cmd_stream, "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    main()

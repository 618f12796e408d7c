"""The edgekit command line: the only place that parses arguments. Thin: it calls the stages."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__, runs
from .errors import EdgekitError

QAT_EPOCHS = 8  # default QAT fine-tuning epochs (--qat-epochs of quantize, demo, sweep)
DEFAULT_SEED = 0  # --seed when neither the flag nor a --recipe gives one, in every command
GAN_CONDITIONS = ["ca", "lc"]  # robust gan: one disturbed copy with CA, one with LC

Handler = Callable[[argparse.Namespace], tuple[dict[str, Any], str]]


# ------------------------------------------------------------------------------ option values
# Option values that name something (an architecture, a board ...) are checked against the registry
# that defines it, when the command line is parsed: an unknown name stops before any work, with the
# known names in the message. The registries are read only then (or for --help), so building the
# parser imports neither torch nor the board files.


class _Known:
    """argparse choices read from a registry on first use."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load

    def __contains__(self, value: object) -> bool:
        return value in self._load()

    def __iter__(self):
        return iter(self._load())


def _arch_names():
    from .nn import arch_names

    return arch_names()


def _formats():
    from .data import FORMATS

    return FORMATS


def _splits():
    from .train import SPLITS

    return SPLITS


def _runtime_names():
    from .firmware import RUNTIMES

    return RUNTIMES


KNOWN_ARCHS, KNOWN_FORMATS, KNOWN_SPLITS, KNOWN_RUNTIMES = (
    _Known(_arch_names),
    _Known(_formats),
    _Known(_splits),
    _Known(_runtime_names),
)


def _board(name: str) -> str:
    """--board / --bench-board: a board the boards registry knows now (its files are read at parse
    time, so boards added as files count)."""
    from .boards import get_board

    try:
        get_board(name)
    except EdgekitError as e:
        hint = " (several boards: `sweep --boards A,B`)" if "," in name else ""
        raise argparse.ArgumentTypeError(str(e).removeprefix("--board: ") + hint) from None
    return name


def _comma_list(arg: str, what: str, example: str, check) -> list[str]:
    """A comma-separated list of names, each once; `check(name)` raises ArgumentTypeError for an
    unknown one. One parser for --boards, --archs and --runtime."""
    names = [n.strip() for n in arg.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected {what} like {example}, got {arg!r}")
    for name in names:
        check(name)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"{', '.join(twice)} named twice in {arg!r}")
    return names


def _known_in(registry, what: str):
    def check(name: str) -> None:
        if name not in registry:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {name!r}; known: {', '.join(registry)}"
            )

    return check


def _board_list(arg: str) -> list[str]:
    """sweep --boards: boards the registry knows, separated by commas."""
    return _comma_list(arg, "board names", "spresense,stm32f405", _board)


def _arch_list(arg: str) -> list[str]:
    """sweep --archs: architectures the registry knows, separated by commas."""
    return _comma_list(
        arg, "architectures", "mbv2,mbv2-seed", _known_in(KNOWN_ARCHS, "architecture")
    )


def _runtime_list(arg: str) -> list[str]:
    """bench --runtime: one runtime, or several separated by commas to compare side by side."""
    return _comma_list(arg, "runtimes", "edgekit-rt,tflm", _known_in(KNOWN_RUNTIMES, "runtime"))


def _disturb_condition(spec: str) -> str:
    """One disturbed condition: disturbances applied together, separated by commas ("ca,lc")."""
    from .data.disturb import DISTURBANCES, parse_disturbances

    if "+" in spec:  # the old `robust gan` spelling of a combined copy
        raise argparse.ArgumentTypeError(
            f"{spec!r}: disturbances applied together are separated by commas (e.g. ca,lc); "
            f"give the option again for another condition; known: {', '.join(DISTURBANCES)}"
        )
    try:
        return ",".join(d.name for d in parse_disturbances(spec))
    except EdgekitError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--disturb: ")) from None


def _positive_int(arg: str) -> int:
    try:
        v = int(arg)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {arg!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {v}")
    return v


def _run_for(args: argparse.Namespace) -> runs.Run:
    if args.run is not None:
        return runs.Run(Path(args.run))
    return runs.Run(runs.default_run_dir(args.arch, args.width))


# the options that set up float training besides --recipe (data, features, split, training)
_FLOAT_TRAINING = (
    "data",
    "format",
    "split",
    "test_session",
    "subject",
    "test_subject",
    "folds",
    "epochs",
    "batch_size",
    "lr",
    "window_ms",
    "hop_ms",
    "feature",
    "filter",
    "augment",
)


def _train_options(args: argparse.Namespace):
    from .train import TrainOptions

    over = {k: getattr(args, k, None) for k in ("arch", "width", "seed", *_FLOAT_TRAINING)}
    if over.get("data") is not None:
        over["data"] = Path(over["data"])
    if getattr(args, "recipe", None):
        return TrainOptions.from_recipe(Path(args.recipe), **over)
    return TrainOptions(**{k: v for k, v in over.items() if v is not None})


def _check_width(width: float | None) -> None:
    if width is not None and not (0 < width <= 1.5):
        raise EdgekitError(f"--width: must be in (0, 1.5], got {width:g}")


# ------------------------------------------------------------------------------ commands


def cmd_train(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from .train import run_train, summary

    _check_width(args.width)
    opts = _train_options(args)
    rep = run_train(_run_for(args), opts, progress=args.progress)
    return rep, summary(rep)


def _ensure_float(run: runs.Run, args: argparse.Namespace) -> str:
    """quantize needs a float model: train one first if the run has none, saying so."""
    if run.float_ckpt.exists():
        unused = [
            f"--{k.replace('_', '-')}"
            for k in (*_FLOAT_TRAINING, "recipe")
            if getattr(args, k) is not None
        ]
        if unused:
            print(
                f"edgekit: {run.float_ckpt} exists, so {' '.join(unused)} (float training) are not "
                f"used; QAT epochs are --qat-epochs",
                file=sys.stderr,
            )
        return ""
    from .train import run_train, summary

    print(
        f"edgekit: no float model in {run.root}; training one first "
        f"(edgekit train --arch {args.arch} --width {args.width:g})",
        file=sys.stderr,
    )
    opts = _train_options(args)
    rep = run_train(run, opts, progress=args.progress)
    return summary(rep) + "\n"


def cmd_quantize(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from .quantize import run_quantize, summary

    _check_width(args.width)
    run = _run_for(args)
    pre = _ensure_float(run, args)
    rep = run_quantize(run, epochs=args.qat_epochs, seed=args.seed, progress=args.progress)
    return rep, pre + summary(rep)


def cmd_export(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from . import firmware
    from .boards import get_board
    from .export import run_export

    board = get_board(args.board)
    firmware.check_runtime(board, args.runtime)  # before the slow conversion
    run = _run_for(args)
    run.require(
        run.float_ckpt,
        "float model",
        "run `edgekit train` (or `edgekit ingest`) and `edgekit quantize` first",
    )
    rep = run_export(run, board, seed=args.seed, progress=args.progress, runtime=args.runtime)
    fw_dir = firmware.render(run, board, runtime=args.runtime)
    # printed with the export report; on disk each stage keeps its own record (export.json,
    # firmware/<board>/firmware.json and build.json)
    rep = {**rep, "firmware": {"dir": str(fw_dir), "runtime": args.runtime or board.runtime}}
    text = rep.get("table", "") + f"\nfirmware project: {fw_dir}"
    if args.build:
        info = firmware.build(fw_dir, board)
        rep["firmware"]["build"] = info
        text += "\n" + _build_summary(info, board)
    return rep, text


def _build_summary(info: dict[str, Any], board) -> str:
    flash, ram = info.get("flash_bytes"), info.get("ram_bytes")
    return (
        f"firmware {info.get('elf')}: flash {flash:,} / {board.flash_bytes:,} bytes, "
        f"RAM {ram:,} / {board.ram_bytes:,} bytes"
    )


def cmd_bench(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from .bench.run import bench_on_board, check_tflite
    from .boards import get_board

    board = get_board(args.board)
    runtimes = args.runtime or [board.runtime]
    make_vars = {"TFLM_DIR": args.tflm_dir} if args.tflm_dir else None
    if args.tflite is not None:  # any int8 .tflite: exported into a run directory of its own
        check_tflite(Path(args.tflite), board, runtimes)  # before the host reference runs it
        run = runs.Run(
            Path(args.run)
            if args.run
            else runs.DEFAULT_RUNS_ROOT / f"tflite-{Path(args.tflite).stem}"
        )
    elif args.inputs is not None:
        raise EdgekitError("--inputs: only with --tflite FILE (a run's export has its own inputs)")
    else:
        run = _run_for(args)
    new_dir = args.tflite is not None and not run.root.exists()
    try:
        if args.tflite is not None:
            from .export.from_tflite import export_tflite

            inputs = Path(args.inputs) if args.inputs else None
            export_tflite(run, board, Path(args.tflite), inputs, n=args.samples, seed=args.seed)
        recs = [
            bench_on_board(
                run,
                board,
                args.port,
                args.samples,
                args.baud,
                args.progress,
                runtime=rt,
                make_vars=make_vars,
                profile=args.profile,
                diff=args.diff,
            )
            for rt in runtimes
        ]
    except BaseException:
        if new_dir:  # the --tflite run directory this command made: nothing half-written stays
            shutil.rmtree(run.root, ignore_errors=True)
        raise
    if len(recs) == 1:
        return recs[0], recs[0].get("summary", "")
    from .bench.report import write_runtime_comparison

    rep = write_runtime_comparison(run, board.name, recs)
    return rep, "\n\n".join(r.get("summary", "") for r in recs) + "\n\n" + rep["table"]


def cmd_stream(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from .bench.run import current_firmware
    from .bench.stream import run_stream
    from .boards import get_board

    board = get_board(args.board)
    run = _run_for(args)
    rep = run_stream(
        run,
        board,
        args.port,
        session=args.session,
        recording=Path(args.recording) if args.recording else None,
        fmt=args.format,
        realtime=args.realtime,
        vote=args.vote,
        block=args.block,
        max_trials=args.max_trials,
        clock_hz=args.clock_mhz * 1e6,
        baud=args.baud,
        build_fn=current_firmware(run, board) if args.port is None else None,
        progress=args.progress,
    )
    return rep, rep["summary"]


def cmd_demo(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from .demo import run_demo

    _check_width(args.width)
    return run_demo(
        _run_for(args),
        _train_options(args),
        board=args.board,
        qat_epochs=args.qat_epochs,
        samples=args.samples,
        progress=args.progress,
    )


def cmd_ingest(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from .ingest import run_ingest

    _check_width(args.width)
    if args.run is None:
        raise EdgekitError(
            "--run: ingest needs a run directory to write into (e.g. --run runs/seed)"
        )
    opts = _train_options(argparse.Namespace(**{**vars(args), "width": None, "arch": None}))
    rep = run_ingest(runs.Run(Path(args.run)), Path(args.model), opts, width=args.width)
    acc = rep.get("cnn", {}).get("accuracy")
    text = f"ingested {rep['file']} as {rep.get('arch', 'onnx')} into {args.run}"
    if acc is not None:
        text += f"; float test accuracy on this data {acc:.4f}"
    if rep.get("note"):
        text += f"\nnote: {rep['note']}"
    return rep, text


def cmd_profile(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from dataclasses import asdict

    from .nn import build_model
    from .nn.profile import profile_model

    _check_width(args.width)
    prof = profile_model(build_model(args.arch, args.width, args.classes, (args.rows, args.cols)))
    rep = {
        "arch": args.arch,
        "width": args.width,
        "classes": args.classes,
        "params": prof.total_params,
        "macs": prof.total_macs,
        "layers": [asdict(layer) for layer in prof.layers],
    }
    return rep, prof.table()


def cmd_boards(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from dataclasses import asdict

    from .boards import all_boards

    boards = all_boards()
    rows = [
        f"{'board':12s} {'cpu':11s} {'clock':>8s} {'flash':>9s} {'RAM':>9s}  {'runtime':10s} serial"
    ]
    for b in boards.values():
        rows.append(
            f"{b.name:12s} {b.cpu:11s} {b.clock_hz / 1e6:>5.0f}MHz {b.flash_bytes // 1024:>6d} KB "
            f"{b.ram_bytes // 1024:>6d} KB  {b.runtime:10s} {b.serial} @ {b.baud}"
            + ("  (QEMU " + b.qemu_machine + ")" if b.qemu_machine else "")
        )
    rep = {
        "boards": [
            {k: v for k, v in asdict(b).items() if k not in ("raw", "path")}
            for b in boards.values()
        ]
    }
    return rep, "\n".join(rows)


def cmd_synth(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from dataclasses import asdict

    from .data.synth import SynthConfig, generate

    sessions = [s for s in (args.disturb_sessions or "").split(",") if s.strip()]
    if not all(s.strip().isdigit() for s in sessions):
        raise EdgekitError(
            f"--disturb-sessions: expected session numbers like 3 or 2,3, got "
            f"{args.disturb_sessions!r}"
        )
    if args.disturb and len(args.disturb) > 1:
        raise EdgekitError(
            f"--disturb: synth writes one disturbed condition, got {len(args.disturb)} "
            f"({' | '.join(args.disturb)}); disturbances applied together are "
            "separated by commas, e.g. --disturb ca,lc"
        )
    cfg = SynthConfig(
        seed=args.seed,
        disturb=args.disturb[0] if args.disturb else "",
        disturb_sessions=tuple(int(s) for s in sessions),
        grid=args.grid,
    )
    out = generate(Path(args.out), cfg)
    g = cfg.geometry()
    return (
        {"out": str(out), "config": asdict(cfg), "format": cfg.format, "grid": g.to_dict()},
        f"wrote a synthetic dataset ({g.name}, {g.rows}x{g.cols}, {g.n_channels} channels) to "
        f"{out}; train on it with --data {out} --format {cfg.format}",
    )


def cmd_robust_gan(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from .robust.stages import gan_summary, run_gan

    rep = run_gan(
        _run_for(args),
        disturb=args.disturb or GAN_CONDITIONS,
        steps=args.steps,
        seed=args.seed,
        progress=args.progress,
    )
    return rep, gan_summary(rep)


def cmd_robust_finetune(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from .robust.stages import finetune_summary, run_finetune

    rep = run_finetune(
        _run_for(args),
        runs.Run(Path(args.out)),
        mix=args.mix,
        epochs=args.finetune_epochs,
        seed=args.seed,
        progress=args.progress,
        lr=args.lr,
    )
    return rep, finetune_summary(rep)


def cmd_robust_eval(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from .robust.stages import run_eval

    named = {"standard": _run_for(args)}
    for name in ("robust", "augmented"):
        if getattr(args, name) is not None:
            named[name] = runs.Run(Path(getattr(args, name)))
    for item in args.model or []:
        name, sep, where = item.partition("=")
        if not sep or not name or not where:
            raise EdgekitError(f"--model: expected NAME=DIR, got {item!r}")
        if name in named:
            raise EdgekitError(f"--model: the name {name!r} is already used by another row")
        named[name] = runs.Run(Path(where))
    rep = run_eval(
        named, seed=args.seed, progress=args.progress, out_dir=Path(args.out) if args.out else None
    )
    return rep, rep["table"] + f"\nwrote {rep['files']['md']}, {rep['files']['png']}"


def cmd_sweep(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from .sweep import config_from_args, run_sweep
    from .sweep_report import summary

    rep = run_sweep(
        config_from_args(args),
        address=args.address,
        local_cpus=args.local_cpus,
        progress=args.progress,
        report_only=args.report_only,
    )
    return rep, summary(rep)


# ------------------------------------------------------------------------------ parser
# One vocabulary: an option name means the same thing in every command that takes it (README,
# "Command-line options"), and a command takes only the options it reads.


def _add_output(p: argparse.ArgumentParser, progress: bool = True) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON record on stdout")
    p.add_argument(
        "--debug", action="store_true", help="on an error, also print the Python traceback"
    )
    if progress:
        p.add_argument(
            "--no-progress", dest="progress", action="store_false", help="no progress bars"
        )


def _add_arch_width(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--arch",
        default=None,
        choices=KNOWN_ARCHS,
        metavar="ARCH",
        help="architecture: %(choices)s (default mbv2, or the recipe's)",
    )
    p.add_argument(
        "--width",
        type=float,
        default=None,
        help="width multiplier in (0, 1.5] (default 0.2, or the recipe's)",
    )


def _add_run(p: argparse.ArgumentParser) -> None:
    """--run, and --arch/--width, which name the default run directory."""
    p.add_argument("--run", metavar="DIR", help="run directory (default runs/<arch>-w<width>)")
    _add_arch_width(p)


def _add_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=None, help=f"random seed (default {DEFAULT_SEED})")


def _add_data(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", metavar="DIR", help="dataset root (default: generated synthetic data)")
    g.add_argument(
        "--format",
        default=None,
        choices=KNOWN_FORMATS,
        metavar="FORMAT",
        help="dataset format: %(choices)s (default csl)",
    )
    g.add_argument(
        "--split",
        default=None,
        choices=KNOWN_SPLITS,
        metavar="SPLIT",
        help="train/val/test split: %(choices)s (default session)",
    )
    g.add_argument("--test-session", type=int, default=None, help="session split: test session")
    g.add_argument(
        "--subject",
        type=int,
        default=None,
        help="session/trial split: use only this subject's trials",
    )
    g.add_argument(
        "--test-subject",
        type=int,
        default=None,
        help="subject split (leave-one-subject-out): test subject",
    )
    g.add_argument("--folds", type=int, default=None, help="kfold split: number of folds")
    g.add_argument("--window-ms", type=float, default=None)
    g.add_argument("--hop-ms", type=float, default=None)
    g.add_argument(
        "--feature", default=None, help="rms (default) | raw (the seed's per-instant frames)"
    )
    g.add_argument(
        "--filter",
        default=None,
        choices=["causal", "zero-phase"],
        help="band-pass: causal (default; the chain the board runs on raw samples) | "
        "zero-phase (offline sosfiltfilt, for comparison)",
    )
    g.add_argument(
        "--recipe",
        metavar="TOML",
        help="defaults from a models/*.toml recipe (arch, width, seed and training "
        "settings); options given on the command line win",
    )


def _add_training(p: argparse.ArgumentParser, title: str = "float training") -> None:
    g = p.add_argument_group(title)
    g.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="float training epochs (default 40, or the recipe's)",
    )
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--lr", type=float, default=None)
    g.add_argument(
        "--augment",
        metavar="CONDITION",
        action="append",
        type=_disturb_condition,
        help="add a disturbed copy of the training frames: disturbances applied together, "
        "comma-separated (ca,lc); repeat for more copies (--augment ca --augment lc)",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="edgekit",
        description="HD-sEMG gesture classifiers: train, quantize to int8, export for TFLite Micro, "
        "and check on the device against the host reference. The options mean the "
        "same in every command (README, Command-line options); `edgekit COMMAND "
        "--help` lists a command's own.",
    )
    ap.add_argument("--version", action="version", version=f"edgekit {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a float MobileNetV2 (+ LDA baseline)")
    _add_output(p)
    _add_run(p)
    _add_seed(p)
    _add_data(p)
    _add_training(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "quantize", help="quantization-aware training to int8 (trains first if needed)"
    )
    _add_output(p)
    _add_run(p)
    _add_seed(p)
    p.add_argument(
        "--qat-epochs",
        type=int,
        default=QAT_EPOCHS,
        help=f"QAT fine-tuning epochs (default {QAT_EPOCHS}; 0 = post-training quantization)",
    )
    _add_data(p)
    _add_training(p, "float training (only when the run has no float model yet)")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser(
        "export", help="ONNX -> int8 .tflite -> C array -> firmware project for a board"
    )
    _add_output(p)
    _add_run(p)
    _add_seed(p)
    p.add_argument("--board", required=True, type=_board, help="board name (see `edgekit boards`)")
    p.add_argument(
        "--runtime",
        choices=KNOWN_RUNTIMES,
        metavar="RUNTIME",
        default=None,
        help="firmware runtime: %(choices)s (default: the board's)",
    )
    p.add_argument("--build", action="store_true", help="also compile the firmware")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "bench", help="run the exported model on a board (or QEMU) against the host reference"
    )
    _add_output(p)
    _add_run(p)
    _add_seed(p)
    p.add_argument("--board", required=True, type=_board, help="board name (see `edgekit boards`)")
    p.add_argument(
        "--port", default=None, help="serial port or pyserial URL (omit for QEMU boards)"
    )
    p.add_argument("--baud", type=int, default=None)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument(
        "--profile",
        action="store_true",
        help="per-op ticks (ek-profile) of one inference: table + bar chart in the report",
    )
    p.add_argument(
        "--diff",
        action="store_true",
        help="compare every layer's output with tflite_micro; name the first that differs",
    )
    p.add_argument(
        "--tflite",
        metavar="FILE",
        default=None,
        help="bench any int8 .tflite instead of a run's export (host reference computed "
        "now; --samples random inputs, seeded by --seed, unless --inputs)",
    )
    p.add_argument(
        "--inputs",
        metavar="NPY",
        default=None,
        help="with --tflite: int8 inputs, shape (N, *input shape without batch)",
    )
    p.add_argument(
        "--runtime",
        default=None,
        type=_runtime_list,
        metavar="RUNTIME[,RUNTIME]",
        help="edgekit-rt, tflm, or both side by side: edgekit-rt,tflm (default: the board's)",
    )
    p.add_argument(
        "--tflm-dir",
        default=None,
        help="TensorFlow Lite Micro tree for --runtime tflm (default: $TFLM_DIR)",
    )
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "stream",
        help="replay a held-out recording through the board as raw samples "
        "(on-device features, a decision every hop)",
    )
    _add_output(p)
    _add_run(p)
    p.add_argument("--board", required=True, type=_board, help="board name (see `edgekit boards`)")
    p.add_argument(
        "--port", default=None, help="serial port or pyserial URL (omit for QEMU boards)"
    )
    p.add_argument("--baud", type=int, default=None)
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--session",
        type=int,
        default=None,
        help="session of the run's data to replay (default: the last, the test session)",
    )
    g.add_argument(
        "--recording", metavar="FILE", default=None, help="a recording file or directory"
    )
    p.add_argument(
        "--format",
        default="csl",
        choices=KNOWN_FORMATS,
        metavar="FORMAT",
        help="--recording's dataset format: %(choices)s (default csl)",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="pace blocks at the sampling rate; the board reports when it falls behind",
    )
    p.add_argument("--vote", type=int, default=5, help="majority vote over the last K windows")
    p.add_argument("--block", type=int, default=None, help="samples per block (default: one hop)")
    p.add_argument("--max-trials", type=int, default=None, help="replay only the first N trials")
    p.add_argument(
        "--clock-mhz",
        type=float,
        default=156.0,
        help="target clock for the per-hop budget (QEMU instructions as the cycle proxy)",
    )
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("demo", help="the whole path on the default data, ending in QEMU")
    _add_output(p)
    _add_run(p)
    _add_seed(p)
    p.add_argument(
        "--board",
        default="mps2-an386",
        type=_board,
        help="board name (default mps2-an386, see `edgekit boards`)",
    )
    p.add_argument(
        "--qat-epochs",
        type=int,
        default=QAT_EPOCHS,
        help=f"QAT fine-tuning epochs (default {QAT_EPOCHS})",
    )
    p.add_argument("--samples", type=int, default=200)
    _add_data(p)
    _add_training(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "ingest", help="import a seed checkpoint, an edgekit checkpoint or an ONNX model"
    )
    _add_output(p, progress=False)
    p.add_argument("model", help="a .pt/.pth/.ckpt state dict, an edgekit float.pt, or a .onnx")
    p.add_argument("--run", metavar="DIR", help="run directory to write into (required)")
    p.add_argument("--width", type=float, default=None, help="seed width (default: inferred)")
    _add_seed(p)
    _add_data(p)
    p.set_defaults(func=cmd_ingest, epochs=None)

    p = sub.add_parser("profile", help="parameters and MACs per layer")
    _add_output(p, progress=False)
    _add_arch_width(p)
    p.add_argument("--classes", type=int, default=8)
    p.add_argument("--rows", type=int, default=8, help="input grid rows (default 8)")
    p.add_argument("--cols", type=int, default=24, help="input grid columns (default 24)")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("boards", help="list the boards and their budgets")
    _add_output(p, progress=False)
    p.set_defaults(func=cmd_boards)

    p = sub.add_parser(
        "robust", help="robustness to bad electrode contacts: GAN, fine-tuning, evaluation"
    )
    rsub = p.add_subparsers(dest="robust_command", required=True, metavar="STEP")
    r = rsub.add_parser(
        "gan", help="train a conditional WGAN-GP on disturbed training frames (gan.pt)"
    )
    _add_output(r)
    _add_run(r)
    _add_seed(r)
    r.add_argument(
        "--disturb",
        metavar="CONDITION",
        action="append",
        type=_disturb_condition,
        help="one disturbed copy of the training frames per --disturb: disturbances "
        "applied together, comma-separated (default: --disturb ca --disturb lc)",
    )
    r.add_argument("--steps", type=int, default=2000, help="generator steps (default 2000)")
    r.set_defaults(func=cmd_robust_gan)
    r = rsub.add_parser(
        "finetune", help="fine-tune on clean + generated disturbed frames into a new run"
    )
    _add_output(r)
    _add_run(r)
    _add_seed(r)
    r.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="directory of the new run that gets the robust model",
    )
    r.add_argument(
        "--mix",
        type=float,
        default=0.5,
        help="fraction of generated frames in the training mix, 0 <= r <= 1 "
        "(default 0.5; 1 = generated frames only, the seed's recipe)",
    )
    r.add_argument(
        "--finetune-epochs", type=_positive_int, default=5, help="fine-tuning epochs (default 5)"
    )
    r.add_argument("--lr", type=float, default=None, help="learning rate (default 5e-4)")
    r.set_defaults(func=cmd_robust_finetune)
    r = rsub.add_parser(
        "eval", help="accuracy on clean/CA/LC test trials with voting, float and int8"
    )
    _add_output(r)
    _add_run(r)
    _add_seed(r)
    r.add_argument(
        "--robust", metavar="DIR", default=None, help="run of the robust (fine-tuned) model"
    )
    r.add_argument(
        "--augmented",
        metavar="DIR",
        default=None,
        help="run of a model trained with `edgekit train --augment`",
    )
    r.add_argument(
        "--model",
        metavar="NAME=DIR",
        action="append",
        help="one more row: any run, e.g. robust-gen-only=runs/rg (repeatable)",
    )
    r.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="directory for robust_eval.json/.md/.png (default: the --run directory)",
    )
    r.set_defaults(func=cmd_robust_eval)

    p = sub.add_parser(
        "sweep",
        help="train/quantize/export/bench every (arch, width, seed, fold) as "
        "Ray tasks; Pareto report and the model that fits the board",
    )
    _add_output(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--board", type=_board, help="the board to fit (see `edgekit boards`)")
    which.add_argument(
        "--boards",
        type=_board_list,
        metavar="LIST",
        help="several boards, comma-separated: each trial trains and quantizes once and is "
        "measured for every board",
    )
    p.add_argument(
        "--widths", required=True, metavar="LIST", help="width multipliers, e.g. 0.1,0.2,0.5"
    )
    p.add_argument(
        "--archs",
        dest="arch",
        default=["mbv2"],
        metavar="LIST",
        type=_arch_list,
        help="architectures, comma-separated: mbv2 (default), mbv2-seed or both",
    )
    p.add_argument(
        "--seeds", type=int, default=1, help="seeds 0..N-1 per configuration (default 1)"
    )
    p.add_argument(
        "--folds",
        default="sessions",
        help="sessions (leave-one-session-out per subject, default) | subjects "
        "(leave-one-subject-out) | K (the first K session folds)",
    )
    p.add_argument(
        "--budget-ms", type=float, default=50.0, help="latency budget per inference (default 50)"
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="float training epochs (default: train's)"
    )
    p.add_argument(
        "--qat-epochs",
        type=int,
        default=QAT_EPOCHS,
        help=f"QAT fine-tuning epochs (default {QAT_EPOCHS})",
    )
    p.add_argument("--samples", type=int, default=50, help="bench samples per trial (default 50)")
    p.add_argument("--data", metavar="DIR", default=None, help="dataset root (default: synthetic)")
    p.add_argument(
        "--format",
        default="csl",
        choices=KNOWN_FORMATS,
        metavar="FORMAT",
        help="dataset format: %(choices)s (default csl)",
    )
    p.add_argument(
        "--out", default="sweep", metavar="DIR", help="sweep directory (default ./sweep)"
    )
    p.add_argument("--port", default=None, help="bench on the real board on this serial port")
    p.add_argument(
        "--bench-board",
        default=None,
        type=_board,
        help="emulated board to measure on (default: the board if QEMU runs it, else mps2-an386)",
    )
    p.add_argument(
        "--cpus-per-trial", type=float, default=1.0, help="Ray CPUs per trial (default 1)"
    )
    p.add_argument(
        "--address",
        default=None,
        help="an existing Ray cluster: auto or ray://HOST:PORT (default: local Ray)",
    )
    p.add_argument(
        "--local-cpus",
        type=int,
        default=None,
        help="CPUs of the local Ray instance (default: all of this machine's)",
    )
    p.add_argument("--retry-failed", action="store_true", help="re-run trials that failed before")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="write the report from the trials finished so far and run nothing (e.g. while "
        "the sweep runs elsewhere, or after stopping it)",
    )
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "synth",
        help="write the synthetic HD-sEMG dataset to a folder (CSL layout, "
        "or OTBiolab+ exports for --grid CODE)",
    )
    _add_output(p, progress=False)
    p.add_argument(
        "--out", required=True, metavar="DIR", help="directory to write the dataset into"
    )
    p.add_argument(
        "--grid",
        default="csl",
        help="csl (8x24, default) or OT Bioelettronica electrode codes joined by '+', "
        "e.g. GR10MM0808 (8x8), GR08MM1305 (13x5), GR10MM0808+GR10MM0808 (8x16)",
    )
    _add_seed(p)
    p.add_argument(
        "--disturb",
        metavar="CONDITION",
        action="append",
        type=_disturb_condition,
        help="disturb the raw trials: disturbances applied together, comma-separated "
        "(e.g. lc or ca,lc); one condition",
    )
    p.add_argument(
        "--disturb-sessions",
        metavar="N[,N]",
        default=None,
        help="sessions to disturb (default: all), e.g. 3 for a disturbed test session",
    )
    p.set_defaults(func=cmd_synth)
    return ap


def _recipe_values(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe's settings (top level and [train]), or {}: TrainOptions.from_recipe reports a bad
    recipe with its file name."""
    if not getattr(args, "recipe", None):
        return {}
    import tomllib

    try:
        d = tomllib.loads(Path(args.recipe).read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {**d, **d.get("train", {})}


def _resolve_defaults(args: argparse.Namespace) -> None:
    """Explicit flags > recipe > built-in defaults, for the seed and for arch and width (they name
    the run)."""
    d = _recipe_values(args)
    if "seed" in vars(args) and args.seed is None:
        args.seed = d.get("seed", DEFAULT_SEED)
    if not hasattr(args, "arch") or args.command in ("ingest", "sweep"):
        return
    args.arch = args.arch or d.get("arch") or "mbv2"
    args.width = args.width if args.width is not None else d.get("width", 0.2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line as the commands see it: parsed, registry names checked, defaults resolved."""
    args = build_parser().parse_args(argv)
    _resolve_defaults(args)
    return args


def _limit_threads() -> None:
    """One intra-op thread unless EDGEKIT_THREADS says otherwise: these networks are too small to
    gain from more, and on a busy 2-core machine torch's spinning pool was 7x slower (measured)."""
    import os

    n = int(os.environ.get("EDGEKIT_THREADS", "1"))
    import torch

    torch.set_num_threads(max(1, n))


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as e:  # --help / --version (0), or a usage error argparse has printed (2)
        return e.code if isinstance(e.code, int) else 2
    if args.command not in ("boards", "synth", "sweep"):
        _limit_threads()
    run_root = None
    if getattr(args, "run", None) is not None:
        run_root = Path(args.run)
    elif "run" in vars(args) and getattr(args, "arch", None) is not None and args.width is not None:
        run_root = runs.default_run_dir(args.arch, args.width)
    existed = run_root is not None and run_root.exists()
    try:
        record, text = args.func(args)
    except KeyboardInterrupt:
        print("edgekit: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        # Bad input leaves nothing behind: a run directory this command created goes again.
        if run_root is not None and not existed and run_root.exists():
            shutil.rmtree(run_root, ignore_errors=True)
        if getattr(args, "debug", False):
            raise
        if isinstance(e, EdgekitError):
            print(f"edgekit: error: {e}", file=sys.stderr)
            return 2
        # a bug, not bad input: one line, the traceback with --debug
        print(
            f"edgekit: error: internal error ({type(e).__name__}: {e}); "
            "run again with --debug for the traceback and report it",
            file=sys.stderr,
        )
        return 1
    if getattr(args, "json", False):
        print(runs.to_json(record, indent=None))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

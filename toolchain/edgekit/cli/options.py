"""The options several commands take, each declared once here: its name, type, registry check,
metavar and default. A command adds the ones it reads (and only those: one it would ignore is
refused as unrecognized); where a command's default differs, it passes that default and says so in
its help line. One vocabulary: an option name means the same in every command (README,
"Command-line options").

Also the reading of the shared options that more than one command needs: the run directory, the
float-training settings, and the defaults a --recipe may set.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import runs
from ..errors import EdgekitError
from .values import (
    KNOWN_ARCHS,
    KNOWN_FORMATS,
    KNOWN_SPLITS,
    band,
    board_name,
    disturb_condition,
    recipe,
)

QAT_EPOCHS = 8  # default QAT fine-tuning epochs (--qat-epochs of quantize, demo, sweep)
DEFAULT_SEED = 0  # --seed when neither the flag nor a --recipe gives one, in every command

Adder = argparse.ArgumentParser | argparse._ArgumentGroup


# ------------------------------------------------------------------------------ late defaults


@dataclass(frozen=True)
class RecipeDefault:
    """An option's default when the command line leaves it out: the --recipe's value for `key`
    (top level or [train]), else `builtin`. Resolved after parsing (resolve_defaults), because
    --recipe may come after the option it sets."""

    key: str
    builtin: Any

    def resolve(self, recipe: dict[str, Any]) -> Any:
        v = recipe.get(self.key)
        return self.builtin if v is None or v == "" else v


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


def resolve_defaults(args: argparse.Namespace) -> None:
    """Explicit flags > recipe > built-in defaults, for every option declared with a
    RecipeDefault: the seed, and arch and width (they name the run)."""
    late = {k: v for k, v in vars(args).items() if isinstance(v, RecipeDefault)}
    if late:
        recipe = _recipe_values(args)
        for k, d in late.items():
            setattr(args, k, d.resolve(recipe))


# ------------------------------------------------------------------------------ declarations


def output(p: Adder, progress: bool = True) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON record on stdout")
    p.add_argument(
        "--debug", action="store_true", help="on an error, also print the Python traceback"
    )
    if progress:
        p.add_argument(
            "--no-progress", dest="progress", action="store_false", help="no progress bars"
        )


def arch_width(p: Adder) -> None:
    p.add_argument(
        "--arch",
        default=RecipeDefault("arch", "mbv2"),
        choices=KNOWN_ARCHS,
        metavar="ARCH",
        help="architecture: %(choices)s (default mbv2, or the recipe's)",
    )
    width(p, "width multiplier in (0, 1.5] (default 0.2, or the recipe's)")


def width(p: Adder, help: str, default: Any = RecipeDefault("width", 0.2)) -> None:
    p.add_argument("--width", type=float, default=default, help=help)


def run(
    p: Adder, help: str = "run directory (default runs/<arch>-w<width>)", arch: bool = True
) -> None:
    """--run; with `arch`, --arch/--width too, which name the default run directory."""
    p.add_argument("--run", metavar="DIR", help=help)
    if arch:
        arch_width(p)


def seed(p: Adder) -> None:
    p.add_argument(
        "--seed",
        type=int,
        default=RecipeDefault("seed", DEFAULT_SEED),
        help=f"random seed (default {DEFAULT_SEED})",
    )


def board(p: Adder, help: str, **kw: Any) -> None:
    """--board: a board of boards/*.toml, checked when parsed."""
    p.add_argument("--board", type=board_name, help=help, **kw)


def bench_board(p: Adder, help: str) -> None:
    """sweep --bench-board: likewise a board of boards/*.toml."""
    p.add_argument("--bench-board", type=board_name, default=None, help=help)


BOARD_HELP = "board name (see `edgekit boards`)"


def port(p: Adder, help: str = "serial port or pyserial URL (omit for QEMU boards)") -> None:
    p.add_argument("--port", default=None, help=help)


def baud(p: Adder) -> None:
    p.add_argument("--baud", type=int, default=None)


def data_dir(p: Adder, help: str) -> None:
    p.add_argument("--data", metavar="DIR", default=None, help=help)


def dataset_format(p: Adder, help: str, default: str | None = None) -> None:
    p.add_argument("--format", default=default, choices=KNOWN_FORMATS, metavar="FORMAT", help=help)


def session_source(p: Adder, what: str) -> None:
    """The session a command replays or calibrates on: --session N of the run's data or of
    --recording FILE (read with --format)."""
    p.add_argument(
        "--session",
        type=int,
        default=None,
        help=f"session to {what}, of the run's data or of --recording (default: the last, the "
        "session split's test session)",
    )
    p.add_argument(
        "--recording", metavar="FILE", default=None, help="a recording file or directory"
    )
    dataset_format(p, "--recording's dataset format: %(choices)s (default csl)", default="csl")


def epochs(p: Adder, help: str) -> None:
    p.add_argument("--epochs", type=int, default=None, help=help)


def qat_epochs(p: Adder, help: str) -> None:
    p.add_argument("--qat-epochs", type=int, default=QAT_EPOCHS, help=help)


def samples(p: Adder, default: int, help: str | None = None) -> None:
    p.add_argument("--samples", type=int, default=default, help=help)


def lr(p: Adder, help: str | None = None) -> None:
    p.add_argument("--lr", type=float, default=None, help=help)


def out_dir(p: Adder, help: str, **kw: Any) -> None:
    """--out is always a directory the command writes into."""
    p.add_argument("--out", metavar="DIR", help=help, **kw)


# --disturb and --augment: one disturbed condition per use, repeatable
_CONDITION = {"metavar": "CONDITION", "action": "append", "type": disturb_condition}


def disturb(p: Adder, help: str) -> None:
    p.add_argument("--disturb", help=help, **_CONDITION)


def augment(p: Adder) -> None:
    p.add_argument(
        "--augment",
        help="add a disturbed copy of the training frames: disturbances applied together, "
        "comma-separated (ca,lc); repeat for more copies (--augment ca --augment lc)",
        **_CONDITION,
    )


def data(p: argparse.ArgumentParser) -> None:
    """The data, its features and split, and --recipe: what float training reads."""
    g = p.add_argument_group("data")
    data_dir(g, "dataset root (default: generated synthetic data)")
    dataset_format(g, "dataset format: %(choices)s (default csl)")
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
        "--band",
        type=band,
        default=None,
        metavar="LO,HI",
        help="band-pass edges in Hz (default 20 Hz to 450 Hz, the high edge capped at 0.45 x "
        "the sampling rate: 20,90 at 200 Hz); HI above 0.45 x the rate is refused",
    )
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
        type=recipe,
        help="defaults from a recipe: a TOML file, or the name of one edgekit ships "
        "(models/: mbv2-w0.2, mbv2-seed-w0.2) (arch, width, seed and training settings); "
        "options given on the command line win",
    )


def training(p: argparse.ArgumentParser, title: str = "float training") -> None:
    g = p.add_argument_group(title)
    epochs(g, "float training epochs (default 40, or the recipe's)")
    g.add_argument("--batch-size", type=int, default=None)
    lr(g)
    augment(g)


# ------------------------------------------------------------------------------ reading them

# the options that set up float training besides --recipe (data, features, split, training)
FLOAT_TRAINING = (
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
    "band",
    "feature",
    "filter",
    "augment",
)


def run_for(args: argparse.Namespace) -> runs.Run:
    """The run a command reads and writes: --run, else runs/<arch>-w<width>."""
    if args.run is not None:
        return runs.Run(Path(args.run))
    return runs.Run(runs.default_run_dir(args.arch, args.width))


def run_dir(args: argparse.Namespace) -> Path | None:
    """run_for's directory, or None for a command that names no run (no --run, and no --arch to
    name the default)."""
    if "run" not in vars(args):
        return None
    if args.run is None and (getattr(args, "arch", None) is None or args.width is None):
        return None
    return run_for(args).root


def train_options(args: argparse.Namespace):
    """TrainOptions from --arch/--width/--seed, the data and training options and the recipe."""
    from ..train import TrainOptions

    over = {k: getattr(args, k, None) for k in ("arch", "width", "seed", *FLOAT_TRAINING)}
    if over.get("data") is not None:
        over["data"] = Path(over["data"])
    if getattr(args, "recipe", None):
        return TrainOptions.from_recipe(Path(args.recipe), **over)
    return TrainOptions(**{k: v for k, v in over.items() if v is not None})


def check_width(width: float | None) -> None:
    if width is not None and not (0 < width <= 1.5):
        raise EdgekitError(f"--width: must be in (0, 1.5], got {width:g}")

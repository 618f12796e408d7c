"""One CLI vocabulary: every subcommand's parser is walked, so a new command or option is checked
too. An option several commands take is declared once (cli/options.py), --seed has one default,
--out is always a directory, and names from a registry are checked against it at parse time."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from edgekit import cli
from edgekit.boards import all_boards
from edgekit.data import FORMATS
from edgekit.data.disturb import DISTURBANCES
from edgekit.firmware import RUNTIMES
from edgekit.nn import arch_names
from edgekit.train import SPLITS

# The same name for two things, on purpose: sweep --folds is its fold plan (sessions | subjects |
# K), train --folds the K of the kfold split. (export and bench declare --runtime each: export builds
# for one runtime, bench can compare several side by side.)
SAME_NAME_OTHER_MEANING = {"--folds"}


def commands() -> dict[str, argparse.ArgumentParser]:
    """'train', 'robust gan', ... -> its parser (every leaf of the subcommand tree)."""
    out: dict[str, argparse.ArgumentParser] = {}

    def walk(p: argparse.ArgumentParser, prefix: str) -> None:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out[prefix] = p
        for a in subs:
            for name, sp in a.choices.items():
                walk(sp, f"{prefix} {name}".strip())

    walk(cli.build_parser(), "")
    return out


def options(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in p._actions for s in a.option_strings if s.startswith("--")}


def minimal_argv(name: str, p: argparse.ArgumentParser, tmp_path) -> list[str]:
    """The command with only its required arguments, given valid values."""
    values = {
        "board": "mps2-an386",
        "out": str(tmp_path / "out"),
        "widths": "0.2",
        "model": str(tmp_path / "m.pt"),
        "seconds_per_gesture": "2",
    }
    argv = name.split()
    for a in p._actions:
        if a.option_strings and a.required:
            argv += [a.option_strings[0], values[a.dest]]
        elif not a.option_strings and a.dest != "help":
            argv.append(values[a.dest])
    return argv


def test_the_walk_sees_every_command():
    assert set(commands()) == {
        "train",
        "flash",
        "quantize",
        "export",
        "bench",
        "stream",
        "demo",
        "ingest",
        "profile",
        "boards",
        "robust gan",
        "robust finetune",
        "robust eval",
        "sweep",
        "synth",
        "calibrate",
    }


def declared(path: Path) -> set[str]:
    """The option names a module declares: the "--x" arguments of its add_argument calls."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            names |= {
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and str(a.value).startswith("--")
            }
    return names


def test_shared_options_are_declared_once():
    """A command module adds a shared option from cli/options.py and never declares its name
    again, so no second copy of an option (type, registry check, metavar) can drift."""
    cli_dir = Path(cli.__file__).parent
    shared = declared(cli_dir / "options.py")
    assert {"--board", "--port", "--baud", "--data", "--format", "--seed", "--out"} <= shared
    modules = sorted(p for p in cli_dir.glob("*.py") if p.name != "options.py")
    assert {"train.py", "export.py", "bench.py", "robust.py", "sweep.py"} <= {
        p.name for p in modules
    }
    for path in modules:
        again = (declared(path) & shared) - SAME_NAME_OTHER_MEANING
        assert not again, f"cli/{path.name} declares {sorted(again)} again: use cli.options"


def test_seed_has_one_default_everywhere(tmp_path):
    with_seed = [(n, p) for n, p in commands().items() if "--seed" in options(p)]
    assert len(with_seed) >= 10
    helps = {options(p)["--seed"].help for _, p in with_seed}
    assert helps == {f"random seed (default {cli.DEFAULT_SEED})"}
    for name, p in with_seed:
        argv = minimal_argv(name, p, tmp_path)
        assert cli.parse_args(argv).seed == cli.DEFAULT_SEED, name
        assert cli.parse_args([*argv, "--seed", "7"]).seed == 7, name


def test_a_recipe_seed_is_the_default_and_the_flag_wins(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('arch = "mbv2-seed"\n[train]\nseed = 5\n')
    args = cli.parse_args(["train", "--recipe", str(recipe)])
    assert (args.seed, args.arch, args.width) == (5, "mbv2-seed", 0.2)
    assert cli.parse_args(["train", "--recipe", str(recipe), "--seed", "0"]).seed == 0


def test_out_is_a_directory_everywhere():
    outs = {n: options(p)["--out"] for n, p in commands().items() if "--out" in options(p)}
    assert set(outs) == {"robust finetune", "robust eval", "sweep", "synth", "calibrate"}
    for name, a in outs.items():
        assert a.metavar == "DIR" and "directory" in a.help, name


def test_epochs_is_float_training_everywhere():
    epochs = {
        n: options(p)["--epochs"].help for n, p in commands().items() if "--epochs" in options(p)
    }
    assert set(epochs) == {"train", "quantize", "demo", "sweep"}
    assert all(h.startswith("float training epochs") for h in epochs.values()), epochs
    for name in ("quantize", "demo", "sweep"):
        a = options(commands()[name])["--qat-epochs"]
        assert a.default == cli.QAT_EPOCHS and a.help.startswith("QAT fine-tuning epochs"), name


REGISTRIES = {
    "--arch": lambda: arch_names(),
    "--archs": lambda: arch_names(),
    "--format": lambda: FORMATS,
    "--split": lambda: SPLITS,
    "--board": lambda: all_boards(),
    "--bench-board": lambda: all_boards(),
    "--runtime": lambda: RUNTIMES,
    "--disturb": lambda: DISTURBANCES,
    "--augment": lambda: DISTURBANCES,
}


def test_registry_options_reject_unknown_names_listing_the_known(tmp_path, capsys):
    checked = set()
    for name, p in commands().items():
        for opt in options(p):
            if opt not in REGISTRIES:
                continue
            argv = minimal_argv(name, p, tmp_path) + [opt, "no-such-thing"]
            with pytest.raises(SystemExit) as e:  # at parse time, before any work
                cli.parse_args(argv)
            assert e.value.code == 2, argv
            err = capsys.readouterr().err
            assert "no-such-thing" in err, (argv, err)
            for known in REGISTRIES[opt]():
                assert known in err, (argv, known, err)
            checked.add((name, opt))
    assert {
        ("train", "--arch"),
        ("profile", "--arch"),
        ("sweep", "--archs"),
        ("train", "--format"),
        ("stream", "--format"),
        ("sweep", "--format"),
        ("quantize", "--split"),
        ("export", "--board"),
        ("bench", "--board"),
        ("stream", "--board"),
        ("demo", "--board"),
        ("sweep", "--board"),
        ("sweep", "--bench-board"),
        ("export", "--runtime"),
        ("bench", "--runtime"),
        ("robust gan", "--disturb"),
        ("synth", "--disturb"),
        ("train", "--augment"),
    } <= checked
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["bench", "--board", "mps2-an386", "--runtime", "tflm,tflm"], "tflm named twice"),
        (["bench", "--board", "mps2-an386", "--runtime", " , "], "expected runtimes like"),
        (["sweep", "--boards", "spresense,,spresense", "--widths", "0.1"], "spresense named twice"),
        (["sweep", "--board", "spresense", "--archs", ",", "--widths", "0.1"], "architectures"),
    ],
)
def test_comma_lists_refuse_empty_and_repeated_names(argv, said, capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse_args(argv)
    assert e.value.code == 2 and said in capsys.readouterr().err


def test_bench_runtimes_parse_to_a_list():
    args = cli.parse_args(["bench", "--board", "mps2-an386", "--runtime", " edgekit-rt, tflm"])
    assert args.runtime == ["edgekit-rt", "tflm"]


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "--run", "r"],
        ["profile", "--seed", "1"],
        ["profile", "--no-progress"],
        ["stream", "--board", "mps2-an386", "--augment", "ca"],
        ["ingest", "m.pt", "--lr", "0.1"],
        ["ingest", "m.pt", "--augment", "ca"],
        ["ingest", "m.pt", "--epochs", "3"],
        ["ingest", "m.pt", "--no-progress"],
        ["boards", "--run", "r"],
        ["synth", "--out", "d", "--no-progress"],
        ["quantize", "--float-epochs", "3"],
        ["robust", "finetune", "--out", "d", "--epochs", "3"],
    ],
)
def test_a_command_refuses_options_it_would_ignore(argv, capsys):
    assert cli.main(argv) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_disturb_is_one_condition_per_value(capsys):
    """A comma list is disturbances applied together; several conditions = the option repeated."""
    args = cli.parse_args(["robust", "gan", "--disturb", "LC, ca", "--disturb", "noise"])
    assert args.disturb == ["lc,ca", "noise"]
    # the stages take the same list: one disturbed copy per condition
    from edgekit.data.disturb import parse_conditions

    assert parse_conditions(args.disturb) == ["lc,ca", "noise"]
    assert cli.parse_args(["robust", "gan"]).disturb is None  # -> cli.robust.GAN_CONDITIONS
    assert cli.parse_args(["synth", "--out", "d", "--disturb", "ca,lc"]).disturb == ["ca,lc"]
    assert cli.main(["synth", "--out", "d", "--disturb", "ca", "--disturb", "lc"]) == 2
    assert "one disturbed condition" in capsys.readouterr().err
    assert cli.main(["robust", "gan", "--disturb", "ca+lc"]) == 2
    assert "separated by commas" in capsys.readouterr().err


def test_quantize_says_when_float_training_options_go_unused(tmp_path, capsys):
    """quantize takes the float-training options for a run without a float model; with one they
    would be ignored silently (e.g. --epochs taken for the QAT epochs), so it says so."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "float.pt").write_bytes(b"not a checkpoint")
    assert cli.main(["quantize", "--run", str(run), "--epochs", "3", "--lr", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "--epochs --lr (float training) are not used; QAT epochs are --qat-epochs" in err
    assert "frames.npz" in err.splitlines()[-1]  # then quantize's own error: no frames

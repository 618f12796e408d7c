"""What an option's value may be: names checked against the registry that defines them, lists of
such names, disturbed conditions, whole numbers.

Option values that name something (an architecture, a board ...) are checked against the registry
that defines it when the command line is parsed: an unknown name stops before any work, with the
known names in the message. The registries are read only then (or for --help), so building the
parser imports neither torch nor the board files.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import EdgekitError


class Known:
    """argparse choices read from a registry on first use."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load

    def __contains__(self, value: object) -> bool:
        return value in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())


def _arch_names():
    from ..nn import arch_names

    return arch_names()


def _formats():
    from ..data import FORMATS

    return FORMATS


def _splits():
    from ..train import SPLITS

    return SPLITS


def _runtime_names():
    from ..firmware import RUNTIMES

    return RUNTIMES


KNOWN_ARCHS = Known(_arch_names)
KNOWN_FORMATS = Known(_formats)
KNOWN_SPLITS = Known(_splits)
KNOWN_RUNTIMES = Known(_runtime_names)


def board_name(name: str) -> str:
    """--board / --bench-board: a board the boards registry knows now (its files are read at parse
    time, so boards added as files count)."""
    from ..boards import get_board

    try:
        get_board(name)
    except EdgekitError as e:
        hint = " (several boards: `sweep --boards A,B`)" if "," in name else ""
        raise argparse.ArgumentTypeError(str(e).removeprefix("--board: ") + hint) from None
    return name


def _comma_list(arg: str, what: str, example: str, check: Callable[[str], object]) -> list[str]:
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


def _known_in(registry: Known, what: str) -> Callable[[str], None]:
    def check(name: str) -> None:
        if name not in registry:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {name!r}; known: {', '.join(registry)}"
            )

    return check


def board_list(arg: str) -> list[str]:
    """sweep --boards: boards the registry knows, separated by commas."""
    return _comma_list(arg, "board names", "spresense,stm32f405", board_name)


def arch_list(arg: str) -> list[str]:
    """sweep --archs: architectures the registry knows, separated by commas."""
    return _comma_list(
        arg, "architectures", "mbv2,mbv2-seed", _known_in(KNOWN_ARCHS, "architecture")
    )


def runtime_list(arg: str) -> list[str]:
    """bench --runtime: one runtime, or several separated by commas to compare side by side."""
    return _comma_list(arg, "runtimes", "edgekit-rt,tflm", _known_in(KNOWN_RUNTIMES, "runtime"))


def disturb_condition(spec: str) -> str:
    """One disturbed condition: disturbances applied together, separated by commas ("ca,lc")."""
    from ..data.disturb import DISTURBANCES, parse_disturbances

    if "+" in spec:  # the old `robust gan` spelling of a combined copy
        raise argparse.ArgumentTypeError(
            f"{spec!r}: disturbances applied together are separated by commas (e.g. ca,lc); "
            f"give the option again for another condition; known: {', '.join(DISTURBANCES)}"
        )
    try:
        return ",".join(d.name for d in parse_disturbances(spec))
    except EdgekitError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--disturb: ")) from None


def positive_int(arg: str) -> int:
    try:
        v = int(arg)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {arg!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {v}")
    return v


def recipe(arg: str) -> str:
    """--recipe: a TOML file, or the name of a recipe edgekit ships (mbv2-w0.2), so an installed
    edgekit finds its recipes from any directory."""
    from ..assets import recipe_path

    try:
        return str(recipe_path(arg))
    except EdgekitError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--recipe: ")) from None

"""Progress bars on stderr (stdout stays clean for --json)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_bar(
    it: Iterable[T], desc: str, enabled: bool = True, total: int | None = None
) -> tqdm:
    return tqdm(
        it,
        desc=desc,
        total=total,
        file=sys.stderr,
        disable=not enabled,
        leave=False,
        dynamic_ncols=True,
    )


class PhaseBar:
    """A progress bar over a stage's named phases, run in the declared order:
    `with bar.phase("convert"): ...` shows the phase's name while it runs and counts it when it
    ends, so the bar's steps are the names in the stage's code (not bare `next()` calls)."""

    def __init__(self, desc: str, phases: Sequence[str], enabled: bool = True) -> None:
        self.phases = tuple(phases)
        self._done = 0
        self._bar = tqdm(
            total=len(self.phases),
            desc=desc,
            file=sys.stderr,
            disable=not enabled,
            leave=False,
            dynamic_ncols=True,
        )

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        expected = self.phases[self._done] if self._done < len(self.phases) else None
        if name != expected:  # a bug in the stage: its phases and its declared list differ
            raise RuntimeError(f"phase {name!r} out of order; the next declared is {expected!r}")
        self._bar.set_postfix_str(name)
        yield
        self._done += 1
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> PhaseBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

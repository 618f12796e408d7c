"""Progress bars on stderr (stdout stays clean for --json)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
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

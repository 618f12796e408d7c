"""The data-format registry: each loader registers its format name where it is defined
(`@register_format("csl")` on `load_csl`), like the architectures in nn/registry.py. The package
(data/__init__.py) imports every format module once, so after `import edgekit.data` the registry
is complete; nothing here imports a loader.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import EdgekitError
from .recording import Recording

Loader = Callable[[Path], Recording]

FORMATS: dict[str, Loader] = {}  # name -> loader, in registration order (the --format choices)


def register_format(name: str) -> Callable[[Loader], Loader]:
    """Decorator: `load(root) -> Recording` reads datasets of format `name`."""

    def add(load: Loader) -> Loader:
        if name in FORMATS:
            raise ValueError(f"data format {name!r} registered twice")
        FORMATS[name] = load
        return load

    return add


def load_recording(path: Path, fmt: str) -> Recording:
    """Load a dataset root (or a single file / manifest) in the given format (one of FORMATS);
    the Recording's grid comes from the format and the files."""
    if fmt not in FORMATS:
        raise EdgekitError(
            f"--format: unknown data format {fmt!r}; known formats: {', '.join(FORMATS)}"
        )
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path}: dataset path not found")
    return FORMATS[fmt](path)

"""Where edgekit's run-time files live: firmware sources and ports, board TOMLs and model recipes.

In a checkout (and an editable install) they are the repository's top-level firmware/, boards/
and models/. A wheel or a plain `pip install .` carries copies as package data in
edgekit/_assets (setup.py puts them there), so an installed edgekit works from any directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import EdgekitError


def _root() -> Path:
    packaged = Path(str(resources.files("edgekit") / "_assets"))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2]


ROOT = _root()
FIRMWARE_DIR = ROOT / "firmware"
BOARDS_DIR = ROOT / "boards"
MODELS_DIR = ROOT / "models"


def recipe_path(arg: str) -> Path:
    """--recipe: a TOML file, or the name of a recipe edgekit ships (models/<name>.toml)."""
    p = Path(arg).expanduser()
    if p.is_file():
        return p
    shipped = MODELS_DIR / (arg if arg.endswith(".toml") else f"{arg}.toml")
    if shipped.is_file():
        return shipped
    known = sorted(q.stem for q in MODELS_DIR.glob("*.toml"))
    raise EdgekitError(
        f"--recipe: {arg}: no such file, and not a recipe edgekit ships "
        f"(shipped: {', '.join(known) or 'none'}, in {MODELS_DIR})"
    )

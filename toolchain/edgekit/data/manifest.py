"""Which file is which recording: the SSS-GGG-RRR naming rule or a small manifest.

Naming rule: SSS-GGG-RRR.<ext> = subject, gesture, repetition (any number of digits); a parent
folder named session<M> sets the session (else 1).

Manifest, for files named otherwise: `manifest.csv` or `manifest.toml` in the dataset root (or
--data pointing at the manifest file). Paths are relative to the manifest.
  manifest.csv    header  file,subject,session,gesture,repetition  (session, repetition optional)
  manifest.toml   [[recording]]
                  file = "emg/biceps_fist_1.mat"
                  subject = 1
                  session = 1        # optional, default 1
                  gesture = 3
                  repetition = 1     # optional, default: file order

Labels inside the files (a table's label column, EDF+/BDF+ annotations: `gesture_optional`): the
manifest may leave out `gesture` (in every row: a file is then a session's continuous recording),
and without a manifest every file with the format's extensions is one, its subject and session
from `subject<N>` / `session<M>` parent folders, else subject 1 and the file's rank (by path)
among that subject's files as its session.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EdgekitError

NAMES = ("manifest.csv", "manifest.toml")
FIELDS = ("file", "subject", "session", "gesture", "repetition")
_SESS_RE = re.compile(r"^session[_-]?(\d+)$", re.IGNORECASE)
_SUBJ_RE = re.compile(r"^subject[_-]?(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    path: Path
    subject: int
    session: int
    gesture: int | None  # None: the file's own labels say (gesture_optional)
    repetition: int


def _name_re(extensions: Sequence[str]) -> re.Pattern[str]:
    ext = "|".join(re.escape(e) for e in extensions)
    return re.compile(rf"^(\d+)-(\d+)-(\d+)({ext})$", re.IGNORECASE)


def how_to_name(extensions: Sequence[str]) -> str:
    return (
        f"name each file SSS-GGG-RRR{extensions[0]} (subject-gesture-repetition; also "
        f"{', '.join(extensions[1:]) or 'no other extension'}), optionally under session<M>/ "
        "folders, or list the files in a manifest.csv (header "
        "file,subject,session,gesture,repetition) or manifest.toml ([[recording]] tables with "
        "those keys) in the dataset root"
    )


def _folder_number(path: Path, pattern: re.Pattern[str]) -> int | None:
    for part in reversed(path.parent.parts):
        m = pattern.match(part)
        if m:
            return int(m.group(1))
    return None


def _session_of(path: Path) -> int:
    return _folder_number(path, _SESS_RE) or 1


def _int(value: Any, where: str, key: str, default: int | None) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise EdgekitError(f"{where}: field {key!r} missing; expected an integer")
        return default
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise EdgekitError(f"{where}: field {key!r} is {value!r}; expected an integer") from None


def read_manifest(
    path: Path, extensions: Sequence[str], gesture_optional: bool = False
) -> list[Entry]:
    rows: list[tuple[str, dict[str, Any]]] = []
    if path.suffix.lower() == ".toml":
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise EdgekitError(f"{path}: not a readable TOML manifest ({e})") from None
        recs = doc.get("recording")
        if not isinstance(recs, list) or not recs:
            raise EdgekitError(
                f"{path}: expected [[recording]] tables with keys {list(FIELDS)}, "
                f"found keys {sorted(doc)}"
            )
        rows = [(f"{path}: recording {i + 1}", r) for i, r in enumerate(recs)]
    else:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            need = ("file", "subject") if gesture_optional else ("file", "subject", "gesture")
            missing = [k for k in need if k not in header]
            if missing:
                raise EdgekitError(
                    f"{path}: header {header} lacks {missing}; expected columns "
                    f"{','.join(FIELDS)} (session, repetition optional)"
                )
            for i, r in enumerate(reader):
                rows.append(
                    (
                        f"{path}: line {i + 2}",
                        {k.strip().lower(): v for k, v in r.items() if k is not None},
                    )
                )
    entries = []
    with_gesture = set()
    for n, (where, r) in enumerate(rows):
        f = r.get("file")
        if not isinstance(f, str) or not f.strip():
            raise EdgekitError(
                f"{where}: field 'file' missing; expected a path relative to the manifest"
            )
        p = (path.parent / f.strip()).resolve()
        if not p.is_file():
            raise EdgekitError(f"{where}: field 'file': {p} not found")
        if not any(p.name.lower().endswith(e) for e in extensions):
            raise EdgekitError(
                f"{where}: field 'file': {p.name} is not one of {', '.join(extensions)}"
            )
        given = r.get("gesture") not in (None, "") and not str(r.get("gesture")).isspace()
        with_gesture.add(given)
        if gesture_optional and len(with_gesture) > 1:
            raise EdgekitError(
                f"{where}: field 'gesture' is given in some rows and not in others; give it "
                "in every row (each file one gesture) or in none (labels inside the files)"
            )
        entries.append(
            Entry(
                p,
                _int(r.get("subject"), where, "subject", None),
                _int(r.get("session"), where, "session", 1),
                _int(r.get("gesture"), where, "gesture", None)
                if given or not gesture_optional
                else None,
                _int(r.get("repetition"), where, "repetition", n + 1),
            )
        )
    if not entries:
        raise EdgekitError(f"{path}: the manifest lists no recordings")
    return entries


def find_entries(
    root: Path, extensions: Sequence[str], dataset: str, gesture_optional: bool = False
) -> list[Entry]:
    """The recordings under `root` (a folder, one file or a manifest). gesture_optional: the
    files may carry their own labels (see the module docstring)."""
    name_re = _name_re(extensions)
    if root.is_file():
        is_data = any(root.name.lower().endswith(e) for e in extensions)
        if root.name.lower() in NAMES or (root.suffix.lower() in (".csv", ".toml") and not is_data):
            return read_manifest(root, extensions, gesture_optional)
        m = name_re.match(root.name)
        if m and not gesture_optional:
            g = int(m.group(2))
            return [Entry(root, int(m.group(1)), _session_of(root), g, int(m.group(3)))]
        if gesture_optional and is_data:
            return sessions_of([root])
        raise EdgekitError(f"{root}: file name not recognised; {how_to_name(extensions)}")
    manifests = [root / n for n in NAMES if (root / n).is_file()]
    if len(manifests) > 1:
        raise EdgekitError(f"{root}: both manifest.csv and manifest.toml found; expected one")
    if manifests:
        return read_manifest(manifests[0], extensions, gesture_optional)
    if gesture_optional:
        files = data_files(root, extensions)
        if not files:
            raise EdgekitError(
                f"{root}: no {dataset} files found; expected files ending in "
                f"{', '.join(extensions)} under it"
            )
        return sessions_of(files)
    entries = []
    for p in sorted(root.rglob("*")):
        m = name_re.match(p.name)
        if m and p.is_file():
            entries.append(
                Entry(p, int(m.group(1)), _session_of(p), int(m.group(2)), int(m.group(3)))
            )
    if not entries:
        others = sorted(
            p.name for p in root.rglob("*") if any(p.name.lower().endswith(e) for e in extensions)
        )
        seen = f" (found {len(others)} with other names, e.g. {others[:3]})" if others else ""
        raise EdgekitError(
            f"{root}: no {dataset} files found; expected files named "
            f"SSS-GGG-RRR{extensions[0]} under it{seen}. To use them, "
            f"{how_to_name(extensions)}"
        )
    return entries


def data_files(root: Path, extensions: Sequence[str]) -> list[Path]:
    """Every file under root whose name ends in one of the extensions (manifests excluded)."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.name.lower() not in NAMES
        and any(p.name.lower().endswith(e) for e in extensions)
    )


def sessions_of(files: Sequence[Path]) -> list[Entry]:
    """Continuous recordings without a manifest: subject and session from subject<N> /
    session<M> folders, else subject 1 and the file's rank among its subject's files."""
    entries = []
    rank: dict[int, int] = {}
    for p in sorted(files):
        subject = _folder_number(p, _SUBJ_RE) or 1
        rank[subject] = rank.get(subject, 0) + 1
        session = _folder_number(p, _SESS_RE) or rank[subject]
        entries.append(Entry(p, subject, session, None, 1))
    return entries

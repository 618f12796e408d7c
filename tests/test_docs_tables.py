"""The result tables in README.md and docs/ are what benchmarks/docs_tables.py writes from the
JSON beside them (docs/results/): none is edited by hand, none is stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_tables_match_their_json():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "docs_tables.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_stays_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250

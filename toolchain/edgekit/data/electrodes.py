"""OT Bioelettronica electrode grids by product code: geometry and export channel order.

OTBiolab+ names the electrode in every EMG column it exports (`... - GR08MM1305 (17)[uV]`: grid
code, then the 1-based channel number k within that grid). `grid_for(code)` turns the code into a
`Grid` whose channel k-1 sits where electrode k lies on the grid, so a recording's image is the
electrode array as it lay on the skin.

Code scheme (OTB catalogue): GR / HD = grid generation, then the inter-electrode distance (04MM =
4 mm, 08MM = 8 mm, 10MM = 10 mm), then rows and columns (1305 = 13 x 5, 0808 = 8 x 8, 0804 = 8 x 4).

Sources (public):
  - openhdemg, `openhdemg/library/electrodes.py` (v0.1.x, GiacomoValliPhD/openhdemg on GitHub and
    PyPI): the list of OTB codes, their inter-electrode distances and electrode counts, and the
    channel maps of GR08MM1305 / GR04MM1305 (13 x 5, the empty position at a corner, channels
    running down one column and back up the next) and GR10MM0808 (8 x 8, 8 channels per column,
    column after column), both drawn as OTBiolab+ shows them with the matrix at orientation 180
    (connector towards the user). This module uses that view.
  - openhdemg's bundled OTBiolab+ export `otb_testfile.mat` (one GR08MM1305, 64 EMG columns plus
    decomposition and reference columns): the column description format parsed in otb.py.
  - MNE-Python `mne/io/otb/otb.py` (pull request mne-tools/mne-python#13303): how native
    .otb+/.otb4 files name their
    channels (the electrode code as the channel ID); see otb_native.py.

Assumptions (also listed in the README): the HD* codes (HD04MM1305, HD08MM1305, HD10MM0808,
HD10MM0804) are taken to share the geometry and channel order of their GR* counterparts; GR10MM0804
is taken to be ordered like GR10MM0808 (8 channels per column, 4 columns); ELSCH064NM2 (the
older adhesive 64-electrode grid, 13 x 5 at 8 mm with one corner empty, as published studies
describe it) is taken to be ordered like GR08MM1305. None of these orders is in a public document
edgekit could check; if yours differ, add or correct the entry below.

To add an electrode: add one `Electrode(...)` line to ELECTRODES (code, rows, cols, pitch in mm,
empty positions, channel order "serpentine" or "columns").
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import EdgekitError
from .grids import Grid


@dataclass(frozen=True)
class Electrode:
    code: str
    rows: int
    cols: int
    pitch_mm: float
    empty: tuple[tuple[int, int], ...]  # (row, col) positions without an electrode
    order: str  # "serpentine": down column 0 (skipping empty), up column 1, down column 2 ...
    # "columns-up": up each column from the bottom row, column after column
    source: str  # "openhdemg" where the order is documented there, else "assumed"

    @property
    def n_channels(self) -> int:
        return self.rows * self.cols - len(self.empty)


_ELECTRODES = (
    Electrode("GR08MM1305", 13, 5, 8.0, ((0, 0),), "serpentine", "openhdemg"),
    Electrode("GR04MM1305", 13, 5, 4.0, ((0, 0),), "serpentine", "openhdemg"),
    Electrode("GR10MM0808", 8, 8, 10.0, (), "columns-up", "openhdemg"),
    Electrode("GR10MM0804", 8, 4, 10.0, (), "columns-up", "assumed"),
    Electrode("HD08MM1305", 13, 5, 8.0, ((0, 0),), "serpentine", "assumed"),
    Electrode("HD04MM1305", 13, 5, 4.0, ((0, 0),), "serpentine", "assumed"),
    Electrode("HD10MM0808", 8, 8, 10.0, (), "columns-up", "assumed"),
    Electrode("HD10MM0804", 8, 4, 10.0, (), "columns-up", "assumed"),
    Electrode("ELSCH064NM2", 13, 5, 8.0, ((0, 0),), "serpentine", "assumed"),
)
ELECTRODES: dict[str, Electrode] = {e.code: e for e in _ELECTRODES}


def known_codes() -> list[str]:
    return sorted(ELECTRODES)


def electrode(code: str, where: str = "electrode") -> Electrode:
    """The table entry for `code` (case-insensitive), or an EdgekitError saying how to add one."""
    e = ELECTRODES.get(code.strip().upper())
    if e is None:
        raise EdgekitError(
            f"{where}: unknown OT Bioelettronica electrode code {code!r}; known: "
            f"{', '.join(known_codes())}. To add one, append an Electrode(code, rows, cols, "
            "pitch_mm, empty, order, source) line to ELECTRODES in "
            "toolchain/edgekit/data/electrodes.py (its channel order as the OTB adapter exports it)"
        )
    return e


def _pixels(e: Electrode) -> tuple[int, ...]:
    holes = set(e.empty)
    pix = [-1] * (e.rows * e.cols)
    ch = 0
    for c in range(e.cols):
        down = e.order == "serpentine" and c % 2 == 0
        rows = range(e.rows) if down else range(e.rows - 1, -1, -1)
        for r in rows:
            if (r, c) not in holes:
                pix[r * e.cols + c] = ch
                ch += 1
    return tuple(pix)


def grid_for(code: str, where: str = "electrode") -> Grid:
    """The Grid of one electrode: channel k-1 of the export at the pixel of electrode k."""
    e = electrode(code, where)
    return Grid(e.rows, e.cols, _pixels(e), e.n_channels, (), ((0, 0, e.rows, e.cols),), e.code)

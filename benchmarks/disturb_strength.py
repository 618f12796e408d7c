"""How strongly each disturbance survives feature extraction, on the default generated data.

For every simulator in data/disturb.py: disturb the test-session trials, extract the RMS frames the
models see (20-450 Hz band-pass, 150 ms windows, 50 ms hop), and print how much the frames of the
affected electrodes grow (ratio disturbed / clean: median and 90th percentile over frames x
electrodes) next to the electrodes the simulator leaves alone. A disturbance whose ratios stay near
1 is removed by the band-pass and cannot hurt a model.

    python benchmarks/disturb_strength.py [--trials 16] [--session 3]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from edgekit.data import load_recording
from edgekit.data.disturb import DISTURBANCES, ContactArtifactConfig, ca_region, peeled_channels
from edgekit.data.features import FeatureConfig, extract
from edgekit.data.recording import channel_mask
from edgekit.data.synth import SynthConfig, default_dataset


def affected(name: str, layout, clean: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Channels the simulator touched in one trial (raw signals (192, n))."""
    if name == "ca":
        return ca_region(layout, ContactArtifactConfig())
    if name == "lc":
        return peeled_channels(layout)
    return np.flatnonzero(np.abs(dist - clean).max(axis=1) > 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--session", type=int, default=3)
    args = ap.parse_args()

    rec = load_recording(default_dataset(SynthConfig()), "csl")
    trials = [t for t in rec.trials if t.session == args.session][: args.trials]
    sub = dataclasses.replace(rec, trials=trials)
    fc = FeatureConfig()
    clean = extract(sub, fc).x
    live = channel_mask(rec.grid)
    print(
        f"{len(trials)} trials of session {args.session}, {len(clean)} RMS frames, "
        "{:g}-{:g} Hz band-pass".format(*fc.band(rec.fs))
    )
    print(
        "| disturbance | affected electrodes per trial | median growth | p90 growth | others, median |"
    )
    print("|---|---|---|---|---|")
    for name, d in DISTURBANCES.items():
        hit, miss = [], []
        for i, t in enumerate(trials):
            rng = np.random.default_rng(np.random.SeedSequence([7, i]))
            one = dataclasses.replace(rec, trials=[t])
            bad = dataclasses.replace(t, signal=d.apply(t.signal, rec.fs, rec.grid, rng))
            ratio = extract(dataclasses.replace(rec, trials=[bad]), fc).x / np.maximum(
                extract(one, fc).x, 1e-12
            )
            ch = np.zeros(rec.grid.n_channels, bool)
            ch[affected(name, rec.grid, t.signal, bad.signal)] = True
            hit.append(ratio[:, ch & live].ravel())
            miss.append(ratio[:, ~ch & live].ravel())
        h, m = np.concatenate(hit), np.concatenate(miss)
        per_trial = len(h) // len(clean)
        others = f"{np.median(m):.2f}" if m.size else "-"
        print(
            f"| {name} | {per_trial} | {np.median(h):.2f} | {np.percentile(h, 90):.2f} | {others} |"
        )


if __name__ == "__main__":
    main()

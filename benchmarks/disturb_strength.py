"""How strongly each disturbance survives feature extraction, on the default generated data.

For every simulator in data/disturb.py: disturb the test-session trials as every stage does
(apply_to_recording: raw samples, clipped at the ADC's full scale), extract the RMS frames the
models see with the causal chain the board runs (20-450 Hz band-pass, 150 ms windows, 50 ms hop,
the clean recording's ADC step), and print how much the frames of the affected electrodes grow
(ratio disturbed / clean: median and 90th percentile over frames x electrodes) next to the
electrodes the simulator leaves alone, and the share of samples the ADC's range clipped. A
disturbance whose ratios stay near 1 is removed by the band-pass and cannot hurt a model.

    python benchmarks/disturb_strength.py [--trials 16] [--session 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from edgekit.data import load_recording
from edgekit.data.disturb import (
    DISTURBANCES,
    ContactArtifactConfig,
    apply_to_recording,
    ca_region,
    peeled_channels,
)
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


def measure(trials: int, session: int) -> dict:
    rec = load_recording(default_dataset(SynthConfig()), "csl")
    sub = dataclasses.replace(rec, trials=[t for t in rec.trials if t.session == session][:trials])
    fc = FeatureConfig().for_recording(rec)
    clean = extract(sub, fc).x
    live = channel_mask(rec.grid)
    rows = {}
    for name in DISTURBANCES:
        bad = apply_to_recording(sub, name, seed=7, adc_lsb=fc.adc_lsb)
        ratio = extract(bad, fc).x / np.maximum(clean, 1e-12)
        hit, miss, start = [], [], 0
        for t, b in zip(sub.trials, bad.trials, strict=True):
            n = len(extract(dataclasses.replace(sub, trials=[t]), fc))
            ch = np.zeros(rec.grid.n_channels, bool)
            ch[affected(name, rec.grid, t.signal, b.signal)] = True
            hit.append(ratio[start : start + n][:, ch & live].ravel())
            miss.append(ratio[start : start + n][:, ~ch & live].ravel())
            start += n
        h, m = np.concatenate(hit), np.concatenate(miss)
        rows[name] = {
            "affected_per_trial": len(h) // len(clean),
            "median_growth": float(np.median(h)),
            "p90_growth": float(np.percentile(h, 90)),
            "others_median": float(np.median(m)) if m.size else None,
            "clipping": bad.extra["disturb"]["clipping"],
        }
    return {"trials": len(sub.trials), "session": session, "frames": len(clean), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--session", type=int, default=3)
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = ap.parse_args()
    r = measure(args.trials, args.session)
    print(f"{r['trials']} trials of session {r['session']}, {r['frames']} RMS frames")
    print(
        "| disturbance | affected electrodes per trial | median growth | p90 growth "
        "| others, median | clipped samples |"
    )
    print("|---|---|---|---|---|---|")
    for name, row in r["rows"].items():
        o = "-" if row["others_median"] is None else f"{row['others_median']:.2f}"
        print(
            f"| {name} | {row['affected_per_trial']} | {row['median_growth']:.2f} | "
            f"{row['p90_growth']:.2f} | {o} | {100 * row['clipping']['fraction']:.4f}% |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()

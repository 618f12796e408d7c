"""RoHDE end to end on the causal chain, through the real CLI: train, train --augment ca
--augment lc, robust gan (its default conditions), robust finetune and robust eval on a small
synthetic set recorded at twice the default ADC gain, where the contact artifact's strikes exceed
int16 range. Every stage must run, clip them at full scale and say how much it clipped (before
the simulator saturated, every stage stopped: `samples reach ... counts ...; expected at most
32767 (int16)`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.cli import main
from edgekit.data import load_recording
from edgekit.data.causal import INT16_MAX
from edgekit.data.synth import SynthConfig, generate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hot_csl(tmp_path_factory) -> Path:
    cfg = SynthConfig(
        n_classes=4,
        sessions=3,
        trials_per_gesture=3,
        idle_trials=3,
        trial_seconds=0.75,
        n_sources=6,
        seed=2,
        uv_per_count=0.05,
    )
    root = generate(tmp_path_factory.mktemp("hot") / "csl", cfg)
    peak = max(np.abs(t.signal).max() for t in load_recording(root, "csl").trials)
    assert peak < INT16_MAX  # the clean recording fits the ADC; only the artifacts do not
    return root


def cli(capsys, *argv: str) -> dict:
    code = main([*argv, "--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_rohde_end_to_end_with_saturating_artifacts(tmp_path, capsys, hot_csl):
    data = ["--data", str(hot_csl), "--epochs", "1"]
    std, aug, rob = tmp_path / "std", tmp_path / "aug", tmp_path / "rob"
    cli(capsys, "train", *data, "--run", str(std))

    a = cli(capsys, "train", *data, "--run", str(aug), "--augment", "ca", "--augment", "lc")
    n = a["split"]["frames"]["train"]
    assert a["training"]["augmented_frames"] == 2 * n
    ca, lc = a["augment_clipping"]["ca"], a["augment_clipping"]["lc"]
    assert ca["clipped"] > 0 and ca["full_scale"] == INT16_MAX  # counts: adc_lsb 1
    assert 0 < ca["fraction"] < ca["fraction_of_changed"] < 0.05
    assert lc["clipped"] == 0 and lc["changed"] > 0  # the loose contact stays within range

    g = cli(capsys, "robust", "gan", "--run", str(std), "--steps", "3")
    assert g["disturb"] == ["ca", "lc"] and g["disturbed_frames"]["train"] == 2 * n
    # the GAN conditions on the same disturbed signals as --augment (same seeds, same clipping)
    assert g["clipping"] == a["augment_clipping"]

    f = cli(
        capsys, "robust", "finetune", "--run", str(std), "--out", str(rob), "--finetune-epochs", "1"
    )
    assert f["frames"]["generated"] == f["frames"]["clean"] == n

    ev = cli(
        capsys, "robust", "eval", "--run", str(std), "--robust", str(rob), "--augmented", str(aug)
    )
    assert list(ev["models"]) == ["standard", "robust", "augmented"]
    for m in ev["models"].values():
        assert set(m["float"]) == {"clean", "ca", "lc"}
        assert all(0.0 <= v <= 1.0 for acc in m["float"].values() for v in acc)
    assert set(ev["clipping"]) == {"ca", "lc"}
    assert ev["clipping"]["ca"]["clipped"] > 0 and ev["clipping"]["lc"]["clipped"] == 0
    assert ev["clipping"]["ca"]["trials"] == ev["test_trials"]
    table = (std / "robust_eval.md").read_text()
    assert "Clipped at the ADC's full scale: CA" in table

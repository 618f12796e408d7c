"""Shared fixtures: small real datasets written in the real on-disk layouts, and one tiny real
int8 .tflite per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgekit.data.synth import SynthConfig, generate

# Small networks gain nothing from intra-op threads, and on a loaded 2-core machine torch's
# thread pool spins: one thread is an order of magnitude faster there.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_csl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic dataset in the CSL-HDEMG layout (4 classes, 2 sessions)."""
    return generate(tmp_path_factory.mktemp("tiny") / "csl", SynthConfig.tiny(seed=1))


@pytest.fixture(scope="session")
def small_csl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small but learnable: 4 classes, 3 sessions, enough trials for a session split."""
    cfg = SynthConfig(
        n_classes=4,
        sessions=3,
        trials_per_gesture=4,
        idle_trials=4,
        trial_seconds=0.75,
        n_sources=6,
        seed=2,
    )
    return generate(tmp_path_factory.mktemp("small") / "csl", cfg)


@pytest.fixture(scope="session")
def tiny_tflite() -> bytes:
    """One real int8 .tflite per session (TFLiteConverter is the slow part)."""
    from firmware_util import make_tiny_tflite

    return make_tiny_tflite(0)

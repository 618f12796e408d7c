"""The typed artifact loaders: what they return, and errors that name the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit import artifacts, checkpoint
from edgekit.errors import EdgekitError

EXPORT = {
    "board": "mps2-an386",
    "model_hash": "0123456789abcdef",
    "model_bytes": 4096,
    "input": {"scale": 0.05, "zero_point": -3},
    "output": {"scale": 0.1, "zero_point": 7},
    "arena": {"ek_arena_size": 20000, "tflm_need_host": 18000},
}


def test_load_export_reads_the_interface(tmp_path: Path) -> None:
    p = tmp_path / "export.json"
    p.write_text(json.dumps(EXPORT))
    r = artifacts.load_export(p)
    assert (r.input_scale, r.input_zero_point, r.output_zero_point) == (0.05, -3, 7)
    assert (r.ek_arena_size, r.tflm_need_host, r.model_hash) == (20000, 18000, "0123456789abcdef")
    p.write_text(json.dumps({**EXPORT, "arena": {"ek_arena_size": 20000}}))
    assert artifacts.load_export(p).tflm_need_host is None


@pytest.mark.parametrize(
    "broken, field",
    [
        ({**EXPORT, "input": {"zero_point": 0}}, "input.scale"),
        ({**EXPORT, "output": {"scale": "big", "zero_point": 0}}, "output.scale"),
        ({**EXPORT, "arena": {}}, "arena.ek_arena_size"),
    ],
)
def test_load_export_names_the_bad_field(tmp_path: Path, broken: dict, field: str) -> None:
    p = tmp_path / "export.json"
    p.write_text(json.dumps(broken))
    with pytest.raises(EdgekitError, match=rf"export.json: field '{field}'"):
        artifacts.load_export(p)
    with pytest.raises(EdgekitError, match="not found"):
        artifacts.load_export(tmp_path / "none.json")


def qat_record(tmp_path: Path, n_test: int, **extra: object) -> Path:
    base = {
        "folded": {},
        "act_ranges": {},
        "layers": [],
        "calibration": {"indices": [0, 2]},
        "test_logits": torch.zeros(n_test, 3),
    }
    rec = checkpoint.ModelRecord(
        arch="mbv2",
        width=0.2,
        num_classes=3,
        label_names=["a", "b", "c"],
        features={},
        norm_mean=[0.0] * 192,
        norm_std=[1.0] * 192,
        channel_mask=[True] * 192,
        layout="csl",
        state_dict={},
        extra={**base, **extra},
        format=checkpoint.QAT_FORMAT,
    )
    path = tmp_path / "qat.pt"
    checkpoint.save(path, rec)
    return path


def frames(n_train: int, n_test: int) -> artifacts.Frames:
    x = np.zeros((1, 1, 8, 24), np.float32)
    y = np.zeros(1, np.int64)
    return artifacts.Frames(
        np.repeat(x, n_train, 0),
        np.zeros(n_train, np.int64),
        x,
        y,
        np.repeat(x, n_test, 0),
        np.zeros(n_test, np.int64),
        [],
        None,
        Path("frames.npz"),
    )


def test_load_qat_checks_the_record_against_the_frames(tmp_path: Path) -> None:
    q = artifacts.load_qat(qat_record(tmp_path, 5), frames(3, 5))
    assert q.calibration.tolist() == [0, 2] and q.test_logits.shape == (5, 3)
    assert q.selected == "qat"  # records without the field kept the fine-tuned weights
    with pytest.raises(EdgekitError, match=r"qat.pt: calibration indices do not fit frames.npz"):
        artifacts.load_qat(qat_record(tmp_path, 5), frames(2, 5))
    with pytest.raises(EdgekitError, match=r"extra\['test_logits'\] has 4 rows, frames.npz has 5"):
        artifacts.load_qat(qat_record(tmp_path, 4), frames(3, 5))
    with pytest.raises(EdgekitError, match=r"qat.pt: field extra\['test_logits'\] missing; re-run"):
        artifacts.load_qat(_without(qat_record(tmp_path, 5), "test_logits"))


def _without(path: Path, key: str) -> Path:
    rec = checkpoint.load(path)
    rec.extra.pop(key)
    checkpoint.save(path, rec)
    return path

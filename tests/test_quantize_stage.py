"""QAT stage on a tiny separable synthetic run (real training, real fake-quant)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit import artifacts, checkpoint, metrics, quantize, quantspec, runs
from edgekit.errors import EdgekitError

from train_util import make_run


@pytest.fixture(scope="module")
def qat_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[runs.Run, dict]:
    run = make_run(tmp_path_factory.mktemp("qrun"))
    rep = quantize.run_quantize(run, epochs=2, seed=0, progress=False)
    return run, rep


def test_quantize_writes_qat_checkpoint_and_report(qat_run: tuple[runs.Run, dict]) -> None:
    run, rep = qat_run
    rec = checkpoint.load(run.qat_ckpt, checkpoint.QAT_FORMAT)
    assert rec.format == "edgekit-qat/1"
    assert set(rec.extra) >= {"folded", "act_ranges", "calibration"}
    a = rep["accuracy"]
    for k in ("float", "ptq", "qat"):
        assert 0.0 <= a[k]["test"] <= 1.0
    assert a["float"]["test"] > 0.9  # the data is separable: the fixture really trained
    # QAT replaces PTQ only on significant validation evidence; the kept weights are reported
    assert rep["selected"] in ("qat", "ptq") and rec.extra["selected"] == rep["selected"]
    kept = a["qat"] if rep["selected"] == "qat" else a["ptq"]
    assert a["selected"]["test"] == kept["test"]
    z = rep["selection"]["mcnemar_z_vs_ptq_val"]
    assert (z >= quantize.SELECT_Z) == (rep["selected"] == "qat")
    assert rep["folded_vs_qat_float_max_abs_diff"] < 1e-3
    assert run.report_path("quantize").exists()
    # the record builds into the plain architecture and is close to the QAT network
    model = rec.build()
    fr = artifacts.load_frames(run.frames)
    acc = metrics.accuracy(metrics.logits_of(model, fr.x_test).argmax(1), fr.y_test)
    assert abs(acc - a["selected"]["test"]) < 0.1
    # the QAT record export reads: its test logits are the simulation rebuilt from qat.pt
    q = artifacts.load_qat(run.qat_ckpt, fr)
    assert np.array_equal(q.test_logits, metrics.logits_of(quantize.load_qnet(rec), fr.x_test))
    assert metrics.accuracy(q.test_logits.argmax(1), fr.y_test) == a["selected"]["test"]


def test_folded_weights_sit_on_int8_grid(qat_run: tuple[runs.Run, dict]) -> None:
    run, _ = qat_run
    rec = checkpoint.load(run.qat_ckpt, checkpoint.QAT_FORMAT)
    for key, t in rec.extra["folded"].items():
        w = t["weight"]
        s = w.abs().reshape(w.shape[0], -1).amax(1) / 127
        s = torch.where(s > 0, s, torch.ones_like(s)).reshape(-1, *([1] * (w.dim() - 1)))
        q = w / s
        assert torch.allclose(q, torch.round(q), atol=1e-3), key
        assert q.abs().max() <= 127.001


def test_act_qparams_match_tflite_rule() -> None:
    # range widened to include 0; zero point nudged; ReLU6-style range gives zp -128
    s, zp = quantspec.act_qparams(0.0, 6.0)
    assert zp == -128 and abs(s - 6.0 / 255) < 1e-9
    s, zp = quantspec.act_qparams(-1.0, 1.0)
    assert zp in (0, -1) and abs(s - 2.0 / 255) < 1e-9
    s, zp = quantspec.act_qparams(0.5, 2.0)  # min raised to 0
    assert zp == -128 and abs(s - 2.0 / 255) < 1e-9
    assert quantspec.round_half_away(torch.tensor([0.5, -0.5, 1.5, 2.5])).tolist() == [1, -1, 2, 3]


def test_quantize_without_float_model_is_clear(tmp_path: Path) -> None:
    with pytest.raises(EdgekitError, match="float model"):
        quantize.run_quantize(runs.Run(tmp_path), epochs=1, seed=0, progress=False)
    assert not runs.Run(tmp_path).qat_ckpt.exists()


def test_quantize_bad_frames_is_clear(tmp_path: Path) -> None:
    run = make_run(tmp_path, n_per_class=8, epochs=1)
    runs.save_npz(run.frames, x_train=np.zeros((4, 1, 8, 20), np.float32))
    with pytest.raises(EdgekitError, match="frames.npz"):
        quantize.run_quantize(run, epochs=1, seed=0, progress=False)
    assert not run.qat_ckpt.exists()


@pytest.mark.parametrize("arch", ["mbv2-seed"])
def test_quantize_seed_arch(tmp_path: Path, arch: str) -> None:
    run = make_run(tmp_path, arch=arch, n_per_class=20, epochs=2)
    rep = quantize.run_quantize(run, epochs=1, seed=1, progress=False)
    assert rep["folded_vs_qat_float_max_abs_diff"] < 1e-3
    assert "layers.1.add" in rep["activation_ranges"]


def test_mcnemar_z_counts_only_discordant_windows() -> None:
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    a = np.array([0, 1, 2, 3, 1, 1, 2, 0])  # wrong at 4 and 7
    b = np.array([0, 1, 2, 0, 0, 2, 2, 3])  # wrong at 3 and 5: fixes 4, 7, breaks 3, 5
    assert quantize.mcnemar_z(a, b, y) == 0.0
    b2 = np.array([0, 1, 2, 3, 0, 1, 2, 3])  # fixes both, breaks none
    assert quantize.mcnemar_z(a, b2, y) == pytest.approx(2 / np.sqrt(2))
    assert quantize.mcnemar_z(b2, a, y) == pytest.approx(-2 / np.sqrt(2))
    assert quantize.mcnemar_z(a, a, y) == 0.0


@pytest.mark.parametrize("arch", ["mbv2", "mbv2-seed"])
def test_qat_checkpoint_rebuilds_the_same_network(tmp_path: Path, arch: str) -> None:
    """What quantize evaluates in memory and what export rebuilds from qat.pt must be the same
    integer network, also after fine-tuning moved the weights off any grid."""
    import dataclasses

    run = make_run(tmp_path, arch=arch, n_per_class=8)
    rec = checkpoint.load(run.float_ckpt)
    fr = artifacts.load_frames(run.frames)
    qnet = quantize.lower(rec.build(), rec.arch)
    quantize.calibrate(qnet, fr.x_train)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # what QAT steps do: arbitrary float weights/biases
        for u in [*qnet.convs(), qnet.fc]:
            u.weight.mul_(1 + 0.05 * torch.randn(u.weight.shape, generator=gen))
            u.bias.add_(0.05 * torch.randn(u.bias.shape, generator=gen))
    quantize.calibrate(qnet, fr.x_train)
    qnet.eval()
    folded = quantize.folded_tensors(qnet)
    again = quantize.load_qnet(
        dataclasses.replace(rec, extra={"folded": folded, "act_ranges": quantize.act_ranges(qnet)})
    )
    x = np.concatenate([fr.x_test, fr.x_val])
    assert np.array_equal(metrics.logits_of(qnet, x), metrics.logits_of(again, x))

"""Figures are written, non-empty, of the right kind; bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from d3prefiner import viz
from d3prefiner.errors import D3PRError
from d3prefiner.evaluation import evaluate_methods
from d3prefiner.predictions import Predictions, PredictionSequence

torch.set_num_threads(1)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# a person standing in the camera frame (x right, y down, z forward), metres, root at 0
STANDING = np.array(
    [[0, 0, 0], [-0.12, 0, 0], [-0.12, 0.45, 0], [-0.12, 0.9, 0], [0.12, 0, 0], [0.12, 0.45, 0],
     [0.12, 0.9, 0], [0, -0.25, 0], [0, -0.5, 0], [0, -0.6, -0.05], [0, -0.72, 0], [0.18, -0.5, 0],
     [0.45, -0.5, 0], [0.7, -0.5, 0], [-0.18, -0.5, 0], [-0.3, -0.25, 0], [-0.35, 0, 0]]
)  # fmt: skip


def _is_png(path):
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 2000


def test_upright_mapping():
    p = viz._to_plot(STANDING)
    assert p[10, 2] > p[0, 2] > p[3, 2]  # head above hip above right foot
    np.testing.assert_allclose(p[:, 0], STANDING[:, 0])


def test_histogram(tmp_path):
    rng = np.random.default_rng(0)
    path = viz.plot_error_histogram(
        {"base": rng.gamma(9, 5, 500), "refined": rng.gamma(9, 4, 500)}, tmp_path / "h.png"
    )
    assert _is_png(path)
    with pytest.raises(D3PRError):
        viz.plot_error_histogram({}, tmp_path / "x.png")
    with pytest.raises(D3PRError, match="no frames"):
        viz.plot_error_histogram({"a": np.zeros(0)}, tmp_path / "x.png")


def test_skeletons_and_joint_errors(tmp_path):
    poses = np.stack([STANDING, STANDING * 0.9, STANDING + 0.01])
    p1 = viz.plot_skeletons(poses, poses + 0.03, poses + 0.01, tmp_path / "s.png", titles="abc")
    p2 = viz.plot_skeletons(poses, poses + 0.03, None, tmp_path / "s2.png")
    p3 = viz.plot_joint_errors(
        {"base": np.arange(17.0), "refined": np.ones(17)}, tmp_path / "j.png"
    )
    assert _is_png(p1) and _is_png(p2) and _is_png(p3)
    with pytest.raises(D3PRError, match="17"):
        viz.plot_joint_errors({"base": np.ones(16)}, tmp_path / "x.png")
    with pytest.raises(D3PRError, match="differs"):
        viz.plot_skeletons(poses, poses[:2], None, tmp_path / "x.png")
    with pytest.raises(D3PRError, match="NaN"):
        viz.plot_skeletons(poses * np.nan, poses, None, tmp_path / "x.png")


def test_gif_is_small_and_animated(tmp_path):
    F = 150
    seq = np.repeat(STANDING[None], F, axis=0)
    seq[:, 13, 1] += np.linspace(0, -0.4, F)  # raise the left wrist
    path = viz.animate_sequence(
        seq, seq + 0.02, seq - 0.01, tmp_path / "a.gif", fps=50, max_frames=6
    )
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert 2 <= im.n_frames <= 6
        first = np.asarray(im.convert("RGB"))
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("RGB"))
    assert not np.array_equal(first, last)


def test_evaluate_methods_writes_figures(tmp_path):
    rng = np.random.default_rng(1)
    F = 12
    gt = (STANDING[None] + rng.normal(0, 0.01, (F, 17, 3))).astype(np.float32)
    gt -= gt[:, :1]
    err = rng.normal(0, 0.02, (F, 17, 3)).astype(np.float32)
    err[:, 0] = 0
    p2 = np.zeros((F, 17, 2), np.float32)
    base = Predictions([PredictionSequence("S9", "walking_1", "c0", 25.0, p2, gt + err, gt)])
    ref = Predictions([PredictionSequence("S9", "walking_1", "c0", 25.0, p2, gt + err / 2, gt)])
    res = evaluate_methods(
        {"base": base, "refined": ref},
        baselines=("gaussian",),
        figures_dir=tmp_path / "figures",
        progress=False,
    )
    figs = res["meta"]["figures"]
    assert set(figs) == {
        "MPJPE per frame",
        "Error per joint",
        "Qualitative skeletons",
        "Sequence animation",
    }
    for rel in figs.values():
        assert rel.startswith("figures/")
        assert (tmp_path / rel).stat().st_size > 1000

"""Importers: plain arrays and VideoPose3D-style dicts into the predictions file."""

from __future__ import annotations

import numpy as np
import pytest

from d3prefiner.errors import D3PRError
from d3prefiner.importers import from_arrays, from_videopose3d_dict
from d3prefiner.predictions import Predictions


def _arrays(F=5, seed=0):
    rng = np.random.default_rng(seed)
    p3 = rng.normal(0, 0.3, (F, 17, 3)) + np.array([0.2, -0.1, 4.0])  # camera frame, metres
    p2 = rng.uniform(-0.9, 0.9, (F, 17, 2))
    return p2, p3


def test_from_arrays_root_centres_and_keeps_normalised_2d():
    p2, p3 = _arrays()
    s = from_arrays(p2, p3, p3 + 0.01, subject="S9", action="walking_1", camera="c1", fps=25)
    assert s.pred3d.dtype == np.float32 and s.pred3d.shape == (5, 17, 3)
    np.testing.assert_allclose(s.pred3d, p3 - p3[:, :1], atol=1e-6)
    assert np.all(s.pred3d[:, 0] == 0) and np.all(s.gt3d[:, 0] == 0)
    np.testing.assert_allclose(s.pose2d, p2, atol=1e-6)
    assert (s.subject, s.action, s.camera, s.fps) == ("S9", "walking_1", "c1", 25.0)


def test_from_arrays_pixels_millimetres_and_coco():
    p2, p3 = _arrays()
    w, h = 1000, 1002
    px = (p2 + np.array([1.0, h / w])) * w / 2  # inverse of the normalisation
    s = from_arrays(px, p3 * 1000, image_size=(w, h), units="mm")
    np.testing.assert_allclose(s.pose2d, p2, atol=1e-5)
    np.testing.assert_allclose(s.pred3d, p3 - p3[:, :1], atol=1e-5)
    with pytest.raises(D3PRError, match="millimetres"):
        from_arrays(p2, p3 * 1000)
    with pytest.raises(D3PRError, match="look like pixels"):
        from_arrays(px, p3)
    # COCO-17 with confidence: hips 11, 12 → pelvis is their mean; confidence dropped
    coco = np.random.default_rng(1).uniform(-0.5, 0.5, (5, 17, 3))
    s = from_arrays(coco, p3, coco=True)
    np.testing.assert_allclose(s.pose2d[:, 0], coco[:, [11, 12], :2].mean(1), atol=1e-6)
    np.testing.assert_allclose(s.pose2d[:, 1], coco[:, 12, :2], atol=1e-6)  # RHip


def test_from_arrays_rejects_bad_input():
    p2, p3 = _arrays()
    with pytest.raises(D3PRError, match="pose2d"):
        from_arrays(p2[:, :16], p3)
    with pytest.raises(D3PRError, match="pose3d"):
        from_arrays(p2, p3[..., :2])
    bad = p3.copy()
    bad[2, 4, 1] = np.nan
    with pytest.raises(D3PRError, match="NaN"):
        from_arrays(p2, bad)
    with pytest.raises(D3PRError, match="frames"):
        from_arrays(p2[:4], p3)
    with pytest.raises(D3PRError, match="units"):
        from_arrays(p2, p3, units="cm")


def test_from_videopose3d_dict_round_trip(tmp_path):
    cams = [_arrays(6, seed=i) for i in range(2)]
    pred = {"S9": {"Walking 1": [c[1] for c in cams], "Eating": cams[0][1]}}
    pose2d = {"S9": {"Walking 1": [c[0] for c in cams], "Eating": cams[0][0]}}
    gt = {"S9": {"Walking 1": [c[1] + 0.02 for c in cams], "Eating": cams[0][1]}}
    preds = from_videopose3d_dict(pred, pose2d, gt, cameras=["54138969", "55011271"], fps=50)
    assert [(s.action, s.camera) for s in preds] == [
        ("Walking 1", "54138969"),
        ("Walking 1", "55011271"),
        ("Eating", "54138969"),
    ]
    preds.save(tmp_path / "p.npz")
    back = Predictions.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(back.concat("pred3d"), preds.concat("pred3d"))
    np.testing.assert_allclose(back.sequences[1].pred3d, cams[1][1] - cams[1][1][:, :1], atol=1e-6)
    assert back.has_gt
    assert {(s.fold, s.split) for s in back} == {(-1, "")}


def test_from_videopose3d_dict_cross_fitted_folds(tmp_path):
    """docs/predictions.md: one import per fold, merged into one training file."""
    parts = []
    for k, held in enumerate([["S1"], ["S5"]]):
        p2, p3 = _arrays(6, seed=k)
        parts.append(from_videopose3d_dict(
            {s: {"a": p3} for s in held}, {s: {"a": p2} for s in held}, {s: {"a": p3} for s in held},
            split="train", fold=k,
        ))  # fmt: skip
    train = Predictions([s for p in parts for s in p], estimator="my-estimator")
    train.save(tmp_path / "train_crossfit.npz")
    back = Predictions.load(tmp_path / "train_crossfit.npz")
    assert [(s.subject, s.fold, s.split) for s in back] == [("S1", 0, "train"), ("S5", 1, "train")]


def test_from_videopose3d_dict_mismatches():
    p2, p3 = _arrays(6)
    with pytest.raises(D3PRError, match="no sequence S1/b"):
        from_videopose3d_dict({"S1": {"b": p3}}, {"S1": {"a": p2}})
    with pytest.raises(D3PRError, match="camera"):
        from_videopose3d_dict({"S1": {"a": [p3, p3]}}, {"S1": {"a": [p2]}})
    longer = np.concatenate([p2, p2[:2]])
    with pytest.raises(D3PRError, match="trim=True"):
        from_videopose3d_dict({"S1": {"a": p3}}, {"S1": {"a": longer}})
    preds = from_videopose3d_dict({"S1": {"a": p3}}, {"S1": {"a": longer}}, trim=True)
    assert preds.num_frames == 6

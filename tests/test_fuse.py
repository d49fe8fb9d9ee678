"""The geometry-conditioned refiner (RefinerConfig.geometry = "fuse"): its features, its config and
checkpoints, and that it learns to take the image-plane position from an exact 2D."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from d3prefiner import Refiner
from d3prefiner.baselines import reproject_sequence
from d3prefiner.denoiser import PoseDenoiser
from d3prefiner.errors import ArgumentError, D3PRError
from d3prefiner.geometry import project_normalised, reproject, undistort
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.noise.synthetic import SYNTHETIC_CAMERA
from d3prefiner.predictions import Predictions, PredictionSequence
from d3prefiner.refiner import RefinerConfig, train_refiner, validate
from d3prefiner.refiner.calibration import ApplyOptions
from d3prefiner.refiner.config import RECIPES
from d3prefiner.refiner.features import (
    FUSE_CHANNELS,
    JITTER_UNIT,
    RESIDUAL_GAIN,
    fuse_features,
    second_difference,
)
from d3prefiner.refiner.train import WindowData
from d3prefiner.study.presets import VARIANTS

W = 9


def _scene(seed: int, n: int, subjects: tuple[str, ...], noise_px: float = 0.0) -> Predictions:
    """Sequences whose 2D is the exact projection of gt3d (root 2.5-8 m away: not a linear
    function of the pose) and whose estimate has a smooth random in-plane error (depth exact);
    ``noise_px``: white noise on the 2D, pixels of the 1000-px synthetic camera."""
    src = make_synthetic_predictions(n_sequences=n, n_frames=90, seed=seed, subjects=subjects)
    rng = np.random.default_rng(seed + 100)
    seqs = []
    for s in src:
        y = project_normalised(s.gt3d + [0.0, 0.0, rng.uniform(2.5, 8.0)], SYNTHETIC_CAMERA)
        y = y + rng.normal(0.0, 2 * noise_px / 1000, y.shape)
        err = np.cumsum(rng.normal(0.0, 0.03, s.gt3d.shape), axis=0) * 0.3  # (F, J, 3)
        err[..., 2] = 0.0
        err[:, 0] = 0.0
        pred = (s.gt3d + err).astype(np.float32)
        seqs.append(PredictionSequence(s.subject, s.action, s.camera, s.fps, y.astype(np.float32),
                                       pred, s.gt3d, intrinsics=SYNTHETIC_CAMERA))  # fmt: skip
    return Predictions(seqs, "synthetic")


def _config(geometry: str, **kw) -> RefinerConfig:
    base = dict(steps=60, val_every=60, batch_size=16, lr=3e-3, dim=32, window=W, train_stride=3,
                refine_stride=W, use_cnd=False, geometry=geometry)  # fmt: skip
    return RefinerConfig.from_preset("tiny", "paper", **{**base, **kw})


# -- features --------------------------------------------------------------------------------------
def test_features_are_the_geometric_baselines_residual_and_jitter():
    preds = _scene(0, 1, ("S1",))
    s = preds.sequences[0]
    f = fuse_features(s.pose2d, s.pred3d, s.intrinsics)
    assert f.shape == (90, 17, FUSE_CHANNELS) and f.dtype == np.float32
    np.testing.assert_allclose(f[..., :3], reproject_sequence(s, bones=True), atol=1e-6)
    y = undistort(s.pose2d, SYNTHETIC_CAMERA)
    q = reproject(s.pred3d, y, SYNTHETIC_CAMERA)
    np.testing.assert_allclose(f[..., 3:5], (q - s.pred3d)[..., :2] * RESIDUAL_GAIN, atol=1e-5)
    np.testing.assert_allclose(f[..., 6], f[0, :, 6][None].repeat(90, 0))  # per sequence
    # an estimate that projects exactly onto its 2D has no residual
    exact = fuse_features(s.pose2d, s.gt3d, s.intrinsics)
    assert np.abs(exact[..., 3:5]).max() < 1e-4
    assert np.abs(f[..., 3:5]).mean() > 0.1  # 3-10 cm in-plane error, in decimetres


def test_second_difference_by_hand():
    y = np.array([0.0, 1.0, 4.0, 9.0, 16.0]).reshape(5, 1, 1)  # t², second difference −1
    np.testing.assert_allclose(second_difference(y)[:, 0, 0], [-0.5, -1.0, -1.0, -1.0, 3.5])
    np.testing.assert_array_equal(second_difference(y[:1]), 0.0)


def test_jitter_tells_clean_2d_from_noisy_2d():
    clean, noisy = _scene(0, 1, ("S1",)), _scene(0, 1, ("S1",), noise_px=30.0)
    fc = fuse_features(clean.sequences[0].pose2d, clean.sequences[0].pred3d, SYNTHETIC_CAMERA)
    fn = fuse_features(noisy.sequences[0].pose2d, noisy.sequences[0].pred3d, SYNTHETIC_CAMERA)
    # log1p(jitter / 5 mm): the synthetic motion gives millimetres, 30 px white noise centimetres
    assert np.median(fc[..., 6]) < np.log1p(1e-2 / JITTER_UNIT)
    assert np.median(fn[..., 6]) > np.log1p(3e-2 / JITTER_UNIT)
    assert np.median(fn[..., 5]) > np.median(fc[..., 5]) + 1.5


def test_training_features_never_read_ground_truth():
    preds = _scene(0, 2, ("S1",))
    scrambled = Predictions(
        [PredictionSequence(s.subject, s.action, s.camera, s.fps, s.pose2d, s.pred3d,
                            s.gt3d[::-1] * 3.0, intrinsics=s.intrinsics) for s in preds],
        preds.estimator,
    )  # fmt: skip
    a, b = WindowData(preds, W, 3, "fuse").geo, WindowData(scrambled, W, 3, "fuse").geo
    assert a.shape == (180, 17, FUSE_CHANNELS)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert WindowData(preds, W, 3).geo is None


# -- config and checkpoints --------------------------------------------------------------------------
def test_geometry_config_recipe_and_old_checkpoints():
    assert RefinerConfig().geometry == "none" and RECIPES["geo"]["geometry"] == "fuse"
    geo = RefinerConfig.from_preset("tiny", "geo")
    assert {k: getattr(geo, k) for k in RECIPES["default"]} == RECIPES["default"]
    assert (
        geo.denoiser_config().in_dim
        == RefinerConfig.from_preset("tiny").denoiser_config().in_dim + 7
    )
    assert RefinerConfig.from_preset("tiny", "paper", **VARIANTS["combo_fuse"]) == geo  # d3pr grid
    old = RefinerConfig.from_preset("tiny").to_dict()
    del old["geometry"]  # a checkpoint written before the field
    assert RefinerConfig.from_dict(old).geometry == "none"
    with pytest.raises(ArgumentError, match="geometry"):
        RefinerConfig(geometry="sometimes")
    net = PoseDenoiser(geo.denoiser_config())
    x, y = torch.randn(1, W, 17, 3), torch.randn(1, W, 17, 2)
    with pytest.raises(D3PRError, match="geo"):
        net(x, y, 3, x)
    # the geometric inputs start switched off: an untrained net does not depend on them
    h0 = net.embed(torch.cat([x, y, x, torch.zeros(1, W, 17, 7)], -1))
    h1 = net.embed(torch.cat([x, y, x, torch.randn(1, W, 17, 7)], -1))
    torch.testing.assert_close(h0, h1)
    assert net(x, y, 3, x, torch.zeros(1, W, 17, 7)).shape == (1, W, 17, 3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    train, val = _scene(0, 4, ("S1", "S5")), _scene(1, 2, ("S8",))
    out = {}
    for geometry in ("none", "fuse"):
        d = tmp_path_factory.mktemp(geometry)
        out[geometry] = (train_refiner(_config(geometry), train, None, d, progress=False), d)
    return out, val


def test_fuse_learns_the_image_plane_from_exact_2d(trained):
    """The in-plane error is random (no function of the 2D and estimate a linear model or the
    plain network can fit at these steps) but visible in the exact 2D: only the fused refiner
    removes it."""
    out, val = trained
    plain, fused = validate(out["none"][0], val), validate(out["fuse"][0], val)
    base = plain["val_mpjpe_base_mm"]
    assert fused["val_mpjpe_refined_mm"] < 0.6 * base, fused
    assert fused["val_mpjpe_refined_mm"] < 0.6 * plain["val_mpjpe_refined_mm"], (plain, fused)


def test_fused_checkpoint_reloads_and_reads_the_camera(trained):
    (refiner, d), val = trained[0]["fuse"], trained[1]
    assert json.loads((d / "config.json").read_text())["refiner"]["geometry"] == "fuse"
    loaded = Refiner.load(d)
    s = val.sequences[0]
    a = refiner.refine(s.pose2d, s.pred3d, intrinsics=s.intrinsics)
    np.testing.assert_array_equal(loaded.refine(s.pose2d, s.pred3d, intrinsics=s.intrinsics), a)
    applied = loaded.apply(val, ApplyOptions(strength=1.0, guard="off")).predictions
    np.testing.assert_array_equal(applied.sequences[0].pred3d, a)  # apply passes the camera
    no_gt = Predictions(
        [PredictionSequence(q.subject, q.action, q.camera, q.fps, q.pose2d, q.pred3d,
                            intrinsics=q.intrinsics) for q in val],
        val.estimator,
    )  # fmt: skip
    again = loaded.apply(no_gt, ApplyOptions(strength=1.0, guard="off")).predictions
    np.testing.assert_array_equal(again.concat("pred3d"), applied.concat("pred3d"))
    wrong = loaded.refine(s.pose2d, s.pred3d, intrinsics=SYNTHETIC_CAMERA.scaled(1.5))
    assert np.abs(wrong - a).max() > 1e-3

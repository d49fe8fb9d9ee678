"""Label-free metrics on motion with ground truth: the truth scores better than a noisy estimate of
it, and refining the estimate (the closed-form CND) does not move any metric the wrong way."""

import numpy as np
import pytest

from d3prefiner.data.cameras import level_and_center
from d3prefiner.data.fk17 import load_fk17
from d3prefiner.errors import D3PRError
from d3prefiner.noise import PoseNoiseModel
from d3prefiner.quality import DEFINITIONS, UNITS, bone_cv, jitter, label_free, table
from d3prefiner.trajectory import pixels_to_normalised
from test_trajectory import INTR, _pixels

METRICS = ("jitter", "bone_cv", "reprojection", "foot_sliding")


def _camera_clip(shared_data, subject, frames, step=2):
    """A walk seen by a camera 5 m away, 1.6 m up, looking 10° down; 25 fps."""
    seq = load_fk17(shared_data / "h36m-expmap-fk17", subjects=[subject], actions=["walking_1"])[0]
    world = level_and_center(seq.joints3d[: frames * step : step], "auto") + [0, 5.0, 0]
    a = np.radians(10.0)
    base = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    R = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]]) @ base
    return world @ R.T - R @ [0, 0, 1.6], seq.fps / step


def _estimate(cam, rng):
    """Detector 2D (2 px noise) and a 3D estimate with 2.5 cm of white noise per coordinate."""
    kp = _pixels(cam, INTR) + rng.normal(0, 2.0, cam.shape[:2] + (2,))
    rel = cam - cam[:, :1]
    noisy = rel + rng.normal(0, 0.025, rel.shape)
    noisy[:, 0] = 0.0
    return kp, rel, noisy


def test_truth_beats_noise_and_refining_does_not_hurt(shared_data):
    rng = np.random.default_rng(0)
    train, _ = _camera_clip(shared_data, "S5", 400)
    kp_t, rel_t, noisy_t = _estimate(train, rng)
    cnd = PoseNoiseModel().fit_arrays(pixels_to_normalised(kp_t, INTR), noisy_t, rel_t)
    cam, fps = _camera_clip(shared_data, "S1", 200)
    kp, rel, noisy = _estimate(cam, rng)
    y = pixels_to_normalised(kp, INTR)
    refined = cnd.closed_form_refine(y[None], noisy[None])[0].double().numpy()
    err = {k: np.linalg.norm(v - rel, axis=-1).mean() for k, v in (("n", noisy), ("r", refined))}
    assert err["r"] < err["n"]  # the refiner works on this motion
    scores = {name: label_free(p, fps, kp, INTR) for name, p in
              (("truth", rel), ("noisy", noisy), ("refined", refined))}  # fmt: skip
    for m in METRICS:
        assert scores["truth"][m] < scores["noisy"][m], (m, scores)
        assert scores["refined"][m] <= scores["noisy"][m], (m, scores)
    assert scores["truth"]["bone_cv"] < 0.01  # one rigid skeleton
    assert 20 < scores["truth"]["contact"] < 100  # a walk: feet on the floor part of the time
    lines = table(scores)
    assert len(lines) == 5 and "foot_sliding (cm/s)" in lines[0]


def test_own_trajectory_and_missing_2d(shared_data):
    cam, fps = _camera_clip(shared_data, "S1", 60)
    kp = _pixels(cam, INTR)
    with_path = label_free(cam, fps, kp, INTR)  # the positions' own trajectory, exact 2D
    assert with_path["reprojection"] < 1e-6
    only_pose = label_free(cam - cam[:, :1], fps)
    assert np.isnan(only_pose["reprojection"]) and np.isnan(only_pose["foot_sliding"])
    assert only_pose["jitter"] == pytest.approx(with_path["jitter"])
    assert set(DEFINITIONS) == set(UNITS) == set(with_path)


def test_metrics_by_hand():
    T, fps = 10, 20.0
    P = np.zeros((T, 17, 3))
    P[:, 1:, 0] = 0.5 * (np.arange(T)[:, None] / fps) ** 2 * 3.0  # 3 m/s² along x, every joint
    assert jitter(P, fps) == pytest.approx(3.0)
    P = np.broadcast_to(np.random.default_rng(0).normal(size=(17, 3)), (T, 17, 3)).copy()
    assert bone_cv(P) == pytest.approx(0.0, abs=1e-9)
    P[::2] *= 1.1  # lengths alternate between L and 1.1 L: CV = 0.05 / 1.05
    assert bone_cv(P) == pytest.approx(100 * 0.05 / 1.05, rel=1e-6)
    with pytest.raises(D3PRError, match="fps"):
        label_free(P, 0)
    with pytest.raises(D3PRError, match="kp2d"):
        label_free(P, fps, np.zeros((T, 16, 2)), INTR)

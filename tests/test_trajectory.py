"""The root's camera-frame path from 2D + 3D (a synthetic camera, a known translation) and the
levelled world frame."""

import numpy as np
import pytest

from d3prefiner.data.cameras import level_and_center
from d3prefiner.data.fk17 import load_fk17
from d3prefiner.errors import ArgumentError, D3PRError
from d3prefiner.geometry import Intrinsics, fit_root
from d3prefiner.trajectory import (
    camera_trajectory,
    default_focal_px,
    pixels_to_normalised,
    to_world,
    video_intrinsics,
)

INTR = video_intrinsics(768, 576)  # vtest.avi's size, the default focal length


def _camera(tilt_deg=12.0, height=1.7):
    """World (z up) → camera (x right, y down, z forward) looking along +y, tilted down."""
    a = np.radians(tilt_deg)
    base = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # world x, -z, y → camera x, y, z
    tilt = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    R = tilt @ base
    return R, -R @ np.array([0.0, 0.0, height])


def _pixels(cam_pose, intr):
    xy = cam_pose[..., :2] / cam_pose[..., 2:]  # (T, 17, 2)
    return xy * intr.f + intr.c


def _scene(shared_data, frames=200):
    seq = load_fk17(shared_data / "h36m-expmap-fk17", subjects=["S1"], actions=["walking_1"])[0]
    world = level_and_center(seq.joints3d[:frames], "auto")  # the capture's floor is tilted
    world = world - world[:1, :1] * [1, 1, 0] + [0, 5.0, 0]  # 5 m in front of the camera
    R, t = _camera()
    cam = world @ R.T + t  # (T, 17, 3)
    return world, cam, seq.fps


def test_known_translation_is_recovered(shared_data):
    world, cam, fps = _scene(shared_data)
    rel, root = cam - cam[:, :1], cam[:, 0]
    kp = _pixels(cam, INTR)
    t = camera_trajectory(rel, kp, INTR, smooth=False)
    assert np.abs(t - root).max() < 1e-6  # exact 2D: exact
    np.testing.assert_allclose(t, fit_root(rel, pixels_to_normalised(kp, INTR), INTR))
    ones = camera_trajectory(rel, kp, INTR, conf=np.ones(kp.shape[:2]), smooth=False)
    np.testing.assert_allclose(ones, t, atol=1e-6)
    # 3 px of detector noise: smoothing in time brings the path nearer the truth
    rng = np.random.default_rng(0)
    noisy = kp + rng.normal(0, 3.0, kp.shape)
    raw = camera_trajectory(rel, noisy, INTR, smooth=False)
    smooth = camera_trajectory(rel, noisy, INTR, fps=fps)
    err_raw = np.linalg.norm(raw - root, axis=1).mean()
    err_smooth = np.linalg.norm(smooth - root, axis=1).mean()
    assert err_smooth < 0.6 * err_raw
    # a wrong joint with confidence 0 is ignored; unweighted it drags the root
    bad = kp.copy()
    bad[:, 16] += 150.0
    conf = np.ones(kp.shape[:2])
    conf[:, 16] = 0.0
    weighted = camera_trajectory(rel, bad, INTR, conf=conf, smooth=False)
    assert np.abs(weighted - root).max() < 1e-6
    assert np.abs(camera_trajectory(rel, bad, INTR, smooth=False) - root).max() > 0.05


def test_smoothing_keeps_fast_motion():
    fps, T = 30.0, 150
    time = np.arange(T) / fps
    root = np.stack([0.4 * np.sin(2 * np.pi * 1.5 * time), 0.2 + 0 * time, 4 + time], 1)
    rng = np.random.default_rng(1)
    rel = np.zeros((T, 17, 3))
    rel[:, 1:] = rng.normal(0, 0.3, (1, 16, 3))  # a rigid 17-point body
    kp = _pixels(rel + root[:, None], INTR)
    noisy = kp + rng.normal(0, 2.0, kp.shape)
    smooth = camera_trajectory(rel, noisy, INTR, fps=fps)
    raw = camera_trajectory(rel, noisy, INTR, smooth=False, fps=fps)
    assert np.abs(smooth - root).mean() < np.abs(raw - root).mean()
    # the 1.5 Hz swing keeps its amplitude (a 0.5 s moving average would halve it)
    amp = np.ptp(smooth[20:-20, 0]) / np.ptp(root[20:-20, 0])
    assert 0.9 < amp < 1.1


def test_frames_without_2d_are_filled():
    T = 20
    rel = np.zeros((T, 17, 3))
    rel[:, 1:] = np.random.default_rng(2).normal(0, 0.3, (1, 16, 3))
    root = np.stack([np.linspace(-1, 1, T), np.zeros(T), np.full(T, 5.0)], 1)
    kp = _pixels(rel + root[:, None], INTR)
    conf = np.ones((T, 17))
    conf[5:8] = 0.0  # three frames the detector missed
    kp[5:8] = 0.0
    t = camera_trajectory(rel, kp, INTR, conf=conf, smooth=False)
    assert np.abs(t - root).max() < 1e-6
    with pytest.raises(D3PRError, match="no frame"):
        camera_trajectory(rel, kp, INTR, conf=np.zeros((T, 17)))


def test_world_is_levelled_from_the_feet(shared_data):
    world, cam, _ = _scene(shared_data)
    w = to_world(cam)
    R, _ = _camera()
    np.testing.assert_allclose(w.up_camera, R @ [0, 0, 1.0], atol=0.03)  # within 2°
    assert abs(w.camera_height - 1.7) < 0.05
    assert np.percentile(w.positions[..., 2].min(1), 2) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(w.positions[..., 2], world[..., 2], atol=0.06)  # heights kept
    np.testing.assert_allclose(w.positions, cam @ w.rotation.T + w.offset)


def test_focal_and_bad_input():
    assert default_focal_px(768, 576) == pytest.approx(960.0)
    hfov = 2 * np.degrees(np.arctan(384 / 960.0))
    assert 40 < hfov < 48  # a normal lens
    intr = video_intrinsics(640, 480, focal=500.0)
    assert isinstance(intr, Intrinsics) and intr.c.tolist() == [320.0, 240.0]
    for focal in (0, -1.0, float("nan")):
        with pytest.raises(ArgumentError, match="must be > 0"):
            video_intrinsics(640, 480, focal=focal)
    with pytest.raises(D3PRError, match="NaN"):
        camera_trajectory(np.full((3, 17, 3), np.nan), np.zeros((3, 17, 2)), INTR)
    with pytest.raises(D3PRError, match="same T"):
        camera_trajectory(np.zeros((3, 17, 3)), np.zeros((4, 17, 2)), INTR)

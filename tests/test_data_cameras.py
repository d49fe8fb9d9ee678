"""Cameras: projection, distortion, normalisation, H36M parameters, virtual rig, levelling."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d3prefiner.data.cameras import (
    H36M_CAMERA_IDS,
    H36M_INTRINSICS,
    Camera,
    camera_to_world,
    estimate_up,
    image_coordinates,
    level_and_center,
    load_h36m_cameras,
    look_at,
    normalize_screen,
    project,
    unproject,
    virtual_rig,
    world_to_camera,
)
from d3prefiner.errors import D3PRError


def _cam(distort=True):
    intr = H36M_INTRINSICS["54138969"]
    R, t = look_at(np.array([4.0, -3.0, 1.6]), np.array([0.0, 0.0, 0.9]))
    return Camera(
        "c",
        R,
        t,
        intr["f"],
        intr["c"],
        intr["k"] if distort else np.zeros(3),
        intr["p"] if distort else np.zeros(2),
        intr["width"],
        intr["height"],
    )


def _walker(n=60):
    """A synthetic standing/walking person, metres, z-up, pelvis at ~0.9 m."""
    base = np.array(
        [
            [0, 0, 0.9], [0, -0.1, 0.9], [0, -0.1, 0.5], [0, -0.1, 0.08], [0, 0.1, 0.9],
            [0, 0.1, 0.5], [0, 0.1, 0.08], [0, 0, 1.15], [0, 0, 1.4], [0.05, 0, 1.5],
            [0, 0, 1.62], [0, 0.18, 1.4], [0, 0.2, 1.15], [0, 0.2, 0.9], [0, -0.18, 1.4],
            [0, -0.2, 1.15], [0, -0.2, 0.9],
        ]
    )  # fmt: skip
    t = np.arange(n) / 50.0
    out = np.repeat(base[None], n, 0)
    out[:, :, 0] += 1.0 * t[:, None]  # walks along +x at 1 m/s
    swing = 0.2 * np.sin(2 * np.pi * t)
    out[:, [2, 3], 0] += swing[:, None]
    out[:, [5, 6], 0] -= swing[:, None]
    return out


def test_world_camera_round_trip_and_center():
    cam = _cam()
    X = np.random.default_rng(0).normal(size=(10, 17, 3))
    np.testing.assert_allclose(camera_to_world(world_to_camera(X, cam), cam), X, atol=1e-12)
    np.testing.assert_allclose(world_to_camera(cam.center, cam), 0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0), st.floats(2.0, 9.0))
def test_pinhole_projection_inverts_exactly(x, y, z):
    cam = _cam(distort=False)
    X = np.array([[x, y, z]])
    uv = project(X, cam, distort=False)
    np.testing.assert_allclose(unproject(uv, X[:, 2], cam), X, atol=1e-9)
    # with all distortion zero, distort=True is the same projection
    np.testing.assert_allclose(project(X, cam, distort=True), uv, atol=1e-9)


def test_distortion_hand_computed():
    cam = Camera(
        "c", np.eye(3), np.zeros(3), (1000, 1000), (500, 500), (0.1, 0.0, 0.0), (0.01, 0.02)
    )
    # x = y = 0.5 → r² = 0.5, radial = 1.05, tan = 0.01·0.5 + 0.02·0.5 = 0.015
    # x' = 0.5·1.065 + 0.02·0.5 = 0.5425, y' = 0.5·1.065 + 0.01·0.5 = 0.5375
    uv = project(np.array([0.5, 0.5, 1.0]), cam)
    np.testing.assert_allclose(uv, [500 + 542.5, 500 + 537.5], atol=1e-9)


def test_normalize_screen_matches_videopose3d_and_inverts():
    xy = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]])
    n = normalize_screen(xy, 1000, 1002)
    np.testing.assert_allclose(n[0], [-1, -1.002])
    np.testing.assert_allclose(n[1], [1, 1.002])
    np.testing.assert_allclose(n[2], [0, 0], atol=1e-12)
    np.testing.assert_allclose(image_coordinates(n, 1000, 1002), xy, atol=1e-9)


def test_bad_input_is_d3prerror():
    cam = _cam()
    with pytest.raises(D3PRError, match="behind"):
        project(np.array([0.0, 0.0, -1.0]), cam)
    with pytest.raises(D3PRError):
        world_to_camera(np.zeros((4, 2)), cam)
    with pytest.raises(D3PRError, match="rotation"):
        Camera("bad", np.eye(3) * 2, np.zeros(3), (1, 1), (0, 0))
    with pytest.raises(D3PRError, match="focal"):
        Camera("bad", np.eye(3), np.zeros(3), (0, 1), (0, 0))


def test_virtual_rig_is_deterministic_and_frames_the_subject():
    a, b, c = virtual_rig(4, seed=3), virtual_rig(4, seed=3), virtual_rig(4, seed=4)
    for ca, cb in zip(a, b):
        np.testing.assert_array_equal(ca.R, cb.R)
        np.testing.assert_array_equal(ca.t, cb.t)
    assert not np.allclose(a[0].t, c[0].t)
    motion = level_and_center(_walker(), "z")
    for cam in a:
        C = cam.center
        assert 4.5 <= np.hypot(C[0], C[1]) <= 6.0 and 0.8 <= C[2] <= 1.8
        uv = project(world_to_camera(motion, cam), cam)
        assert np.all((uv >= 0) & (uv <= [cam.width, cam.height]))
    az = sorted(np.arctan2(cam.center[1], cam.center[0]) for cam in a)
    assert np.min(np.diff(az)) > np.pi / 4  # spread around the subject


def test_level_and_center_recovers_a_tilt():
    motion = _walker(100)
    ang = np.radians(17.0)
    tilt = np.array([[1, 0, 0], [0, np.cos(ang), -np.sin(ang)], [0, np.sin(ang), np.cos(ang)]])
    tilted = motion @ tilt.T + np.array([3.0, -2.0, 0.5])
    up = estimate_up(tilted)
    np.testing.assert_allclose(up, tilt @ [0, 0, 1], atol=0.02)
    out = level_and_center(tilted, "auto")
    np.testing.assert_allclose(out[0, 0, :2], 0, atol=1e-9)
    feet = out[:, [3, 6], 2]
    assert feet.min() > -0.01 and feet.max() < 0.02  # ground flat at z = 0 after levelling
    y_up = motion[..., [0, 2, 1]] * [1, 1, -1]  # (x, y, z)_z-up → y-up: (x, z, -y)
    np.testing.assert_allclose(level_and_center(y_up, "y")[..., 2], out[..., 2], atol=0.02)
    with pytest.raises(D3PRError, match="up_axis"):
        level_and_center(motion, "w")


def test_h36m_cameras_json(shared_data):
    path = shared_data / "mmpose-h36m-testdata" / "cameras.json"
    cams = load_h36m_cameras(path)
    assert len(cams) == 44
    for (_subject, cam_id), cam in cams.items():
        intr = H36M_INTRINSICS[cam_id]
        np.testing.assert_allclose(cam.f, intr["f"])
        np.testing.assert_allclose(cam.p, intr["p"])
        # cameras ~1.5 m high, 4–7 m from the capture centre, looking at it
        C = cam.center
        assert 1.0 < C[2] < 2.2 and 4.0 < np.linalg.norm(C[:2]) < 7.5
        assert cam.R[2] @ (-C / np.linalg.norm(C)) > 0.9
    # the 4-frame mmpose sample: camera-frame 3D projects onto its 2D (distortion included)
    sample = np.load(shared_data / "mmpose-h36m-testdata" / "test_h36m_body3d.npz")
    for name, S, part in zip(sample["imgname"], sample["S"], sample["part"]):
        subject, cam_id = name.split("/")[0], name.split(".")[1][:8]
        assert cam_id in H36M_CAMERA_IDS
        uv = project(S[:, :3], cams[(subject, cam_id)])
        np.testing.assert_allclose(uv, part[:, :2], atol=1e-3)
        assert (
            np.abs(project(S[:, :3], cams[(subject, cam_id)], distort=False) - part[:, :2]).max()
            > 0.5
        )

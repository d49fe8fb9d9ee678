"""BVH export: rotations solved from positions, read back by the project's own BVH reader."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d3prefiner.data.bvh import read_bvh
from d3prefiner.data.fk17 import load_fk17
from d3prefiner.data.mocap import h36m_mapping, load_bvh
from d3prefiner.errors import D3PRError
from d3prefiner.export.bvh import _rz_rx_ry, euler_zxy, read_exported, swing, write_bvh
from d3prefiner.geometry import median_bones
from d3prefiner.skeleton import H36M17
from test_data_bvh import MIXAMO, humanoid_bvh

MM = 1e-3


def _walk(shared_data, frames=150):
    seq = load_fk17(shared_data / "h36m-expmap-fk17", subjects=["S1"], actions=["walking_1"])[0]
    return seq.joints3d[:frames]


def test_ground_truth_round_trip(shared_data, tmp_path):
    P = _walk(shared_data)
    out = write_bvh(tmp_path / "walk.bvh", P, 50)
    back, fps = read_exported(tmp_path / "walk.bvh")
    assert fps == pytest.approx(50.0, rel=1e-6)
    assert np.abs(back - out).max() < 1e-6  # the file holds what write_bvh returned
    assert np.abs(back - P).max() < 1 * MM  # a rigid skeleton comes back as it was
    # the root moves: the trajectory is in the file, not pinned
    assert np.linalg.norm(back[-1, 0, :2] - back[0, 0, :2]) > 0.5
    bvh = read_bvh(tmp_path / "walk.bvh")
    how = h36m_mapping(bvh).how  # every H36M joint found by name, none synthesised
    assert "mean" not in " ".join(how) and how[10] == "Head_End"
    seq = load_bvh(tmp_path / "walk.bvh", units="auto", up="y")  # cm and y up are recognised
    assert seq.fps == 50.0 and seq.joints3d.shape == P.shape


def test_noisy_estimate_keeps_directions_at_median_lengths(shared_data, tmp_path):
    P = _walk(shared_data, 80) + np.random.default_rng(0).normal(0, 0.03, (80, 17, 3))
    out = write_bvh(tmp_path / "n.bvh", P, 25.0)
    np.testing.assert_allclose(out, median_bones(P), atol=1e-6)
    back, _ = read_exported(tmp_path / "n.bvh")
    assert np.abs(back - out).max() < 1 * MM
    lengths = H36M17.bone_lengths(back)  # (T, 16) one rigid skeleton
    assert np.ptp(lengths, axis=0).max() < 1e-5


def test_reader_file_survives_import_export_import(tmp_path):
    (tmp_path / "src.bvh").write_text(humanoid_bvh(MIXAMO, frames=6))
    first = load_bvh(tmp_path / "src.bvh", units="cm")
    write_bvh(tmp_path / "out.bvh", first.joints3d, first.fps)
    again = load_bvh(tmp_path / "out.bvh", units="cm")
    assert again.fps == first.fps == 120.0
    assert np.abs(again.joints3d - first.joints3d).max() < 1 * MM


def test_hard_poses_one_frame_reversed_and_zero_bones(tmp_path):
    rest = np.zeros((1, 17, 3))
    i = {n: k for k, n in enumerate(H36M17.names)}
    up = np.array([0, 0, 1.0])
    for name, off in (("RHip", [-0.13, 0, 0]), ("LHip", [0.13, 0, 0]), ("Spine", [0, 0, 0.25]),
                      ("Thorax", [0, 0, 0.5]), ("Neck/Nose", [0, -0.05, 0.6]),
                      ("Head", [0, 0, 0.7]), ("LShoulder", [0.15, 0, 0.5]),
                      ("RShoulder", [-0.15, 0, 0.5])):  # fmt: skip
        rest[0, i[name]] = off
    for side, s in (("R", -1), ("L", 1)):
        rest[0, i[f"{side}Knee"]] = rest[0, i[f"{side}Hip"]] - 0.45 * up
        rest[0, i[f"{side}Foot"]] = rest[0, i[f"{side}Knee"]] - 0.45 * up
        rest[0, i[f"{side}Elbow"]] = rest[0, i[f"{side}Shoulder"]] + [s * 0.28, 0, 0]
        # the forearm folded straight back onto the upper arm: a half turn from rest
        rest[0, i[f"{side}Wrist"]] = rest[0, i[f"{side}Elbow"]] - [s * 0.25, 0, 0]
    rest[..., 2] += 1.0
    out = write_bvh(tmp_path / "one.bvh", rest, 30)
    back, _ = read_exported(tmp_path / "one.bvh")
    assert back.shape == (1, 17, 3) and np.abs(back - rest).max() < 1 * MM
    two = np.concatenate([rest, rest])
    two[1, i["LWrist"]] = two[1, i["LElbow"]]  # a zero-length bone in one frame
    out = write_bvh(tmp_path / "two.bvh", two, 30)
    back, _ = read_exported(tmp_path / "two.bvh")
    assert np.isfinite(back).all() and np.abs(back - out).max() < 1 * MM


@pytest.mark.parametrize(
    "positions, fps, match",
    [
        (np.zeros((5, 16, 3)), 30, "17"),
        (np.zeros((0, 17, 3)), 30, "no frames"),
        (np.full((5, 17, 3), np.nan), 30, "NaN"),
        (np.zeros((5, 17, 3)), 0, "fps"),
        (np.zeros((5, 17, 3)), float("inf"), "fps"),
    ],
)
def test_bad_input_writes_nothing(tmp_path, positions, fps, match):
    with pytest.raises(D3PRError, match=match):
        write_bvh(tmp_path / "bad.bvh", positions, fps)
    assert list(tmp_path.iterdir()) == []


angle = st.floats(-179.0, 179.0)


@settings(max_examples=60, deadline=None)
@given(z=angle, x=st.one_of(st.floats(-89.9, 89.9), st.sampled_from([90.0, -90.0])), y=angle)
def test_euler_zxy_round_trip(z, x, y):
    R = _rz_rx_ry(np.array([[z, x, y]]))
    np.testing.assert_allclose(_rz_rx_ry(euler_zxy(R)), R, atol=1e-9)


def test_swing_is_the_smallest_rotation():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 3))
    b = rng.normal(size=(50, 3))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    b[0] = -a[0]  # opposite
    R = swing(a, b)
    np.testing.assert_allclose(np.einsum("tij,tj->ti", R, a), b, atol=1e-9)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-9)  # fmt: skip
    axis = np.cross(a[1:], b[1:])  # the axis of the smallest turn is kept
    np.testing.assert_allclose(np.einsum("tij,tj->ti", R[1:], axis), axis, atol=1e-9)

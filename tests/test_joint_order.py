"""Joint-order mix-ups are told by geometry: COCO-ordered or left/right-exchanged 2D against its
3D, COCO-ordered 3D by its limbs' symmetry; a person seen side-on is never flagged."""

from __future__ import annotations

import numpy as np
import pytest

from d3prefiner.data.fk17 import load_fk17
from d3prefiner.errors import D3PRError
from d3prefiner.joint_order import (
    COCO_LIMBS,
    H36M_LIMBS,
    H36M_SWAP,
    check_joint_order,
    limb_asymmetry,
    order_of_2d,
)


def _as_coco(v):
    c = np.zeros_like(v)
    c[:, list(COCO_LIMBS)] = v[:, list(H36M_LIMBS)]
    c[:, 0] = v[:, 9]  # nose
    c[:, 1:5] = (
        v[:, 10:11]
        + 0.03 * np.array([[1, 0, 0], [-1, 0, 0], [2, 0, 0], [-2, 0, 0]])[:, : v.shape[-1]]
    )  # eyes and ears around the head
    return c


def _camera_view(world, facing: str, rng):
    """Root-relative camera-frame poses (x right, y down, z forward) of z-up ``world (F, 17, 3)``
    turned per frame so that the person faces the camera (``front``) or shows it a side
    (``side``), and their normalised pinhole 2D 4 m away with a little noise."""
    rel = world - world[:, :1]
    hips = rel[:, 4, :2] - rel[:, 1, :2]  # right -> left hip, ground plane
    yaw = np.arctan2(hips[:, 1], hips[:, 0]) + (0.0 if facing == "front" else np.pi / 2)
    c, s = np.cos(-yaw)[:, None], np.sin(-yaw)[:, None]
    x = c * rel[..., 0] - s * rel[..., 1]
    y = s * rel[..., 0] + c * rel[..., 1]
    cam = np.stack([-x, -rel[..., 2], y], -1)  # the left hip at the image's right when facing
    z = cam[..., 2:] + 4.0
    pose2d = 2.0 * cam[..., :2] / z + rng.normal(0, 0.004, cam[..., :2].shape)
    return cam.astype(np.float32), pose2d.astype(np.float32)


@pytest.fixture
def walking(shared_data):
    seqs = load_fk17(shared_data / "h36m-expmap-fk17", ["S5"], ["walking"])
    return seqs[0].joints3d[:300].astype(np.float64)


@pytest.mark.parametrize("facing", ["front", "side"])
def test_h36m_order_passes_from_every_side(walking, facing):
    cam, y = _camera_view(walking, facing, np.random.default_rng(0))
    assert order_of_2d(y, cam)[0] == "h36m"
    assert limb_asymmetry(cam) < 0.05  # one body: left and right limbs alike
    check_joint_order(y, cam, "walk")


def test_coco_2d_and_exchanged_sides_are_named(walking):
    cam, y = _camera_view(walking, "front", np.random.default_rng(1))
    assert order_of_2d(_as_coco(y), cam)[0] == "coco"
    assert order_of_2d(y[:, list(H36M_SWAP)], cam)[0] == "swapped"
    with pytest.raises(D3PRError, match="walk pose2d: looks like COCO-17 order"):
        check_joint_order(_as_coco(y), cam, "walk")
    with pytest.raises(D3PRError, match="left and right exchanged"):
        check_joint_order(y[:, list(H36M_SWAP)], cam, "walk")


def test_exchanged_sides_are_named_side_on_only_when_they_differ(walking):
    """Seen side-on, a walker's legs swing in opposite phases: exchanged sides still show. A body
    holding its left and right alike projects the same either way: nothing is said."""
    cam, y = _camera_view(walking, "side", np.random.default_rng(2))
    assert order_of_2d(y[:, list(H36M_SWAP)], cam)[0] == "swapped"
    sym = cam.copy()  # side-on, left-right is the camera's depth axis: mirror left onto right
    left, right = [4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]
    sym[:, right] = cam[:, left] * np.array([1, 1, -1], dtype=np.float32)
    sym[:, [0, 7, 8, 9, 10], 2] = 0.0
    y2 = 2.0 * sym[..., :2] / (sym[..., 2:] + 4.0)
    assert order_of_2d(y2[:, list(H36M_SWAP)], sym)[0] == "h36m"
    check_joint_order(y2[:, list(H36M_SWAP)], sym, "standing")


def test_coco_3d_is_named_by_its_asymmetric_limbs(walking):
    cam, y = _camera_view(walking, "front", np.random.default_rng(3))
    coco = _as_coco(cam)
    assert limb_asymmetry(coco) > 0.6 > 0.1 > limb_asymmetry(coco, "coco")
    with pytest.raises(D3PRError, match="walk pred3d: looks like COCO-17 order"):
        check_joint_order(None, coco, "walk")


def test_a_long_file_is_judged_on_frames_spread_over_it(walking):
    cam, y = _camera_view(walking, "front", np.random.default_rng(4))
    reps = 15  # 4,500 frames: more than MAX_FRAMES
    long_cam, long_y = np.concatenate([cam] * reps), np.concatenate([_as_coco(y)] * reps)
    with pytest.raises(D3PRError, match="looks like COCO-17 order"):
        check_joint_order(long_y, long_cam, "long")
    check_joint_order(np.concatenate([y] * reps), long_cam, "long")

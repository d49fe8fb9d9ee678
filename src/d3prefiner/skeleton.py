"""The H36M 17-joint skeleton in VideoPose3D order, defined once, and COCO-17 → H36M-17.

Joint order (index: name): 0 Hip (pelvis, the root), 1 RHip, 2 RKnee, 3 RFoot, 4 LHip, 5 LKnee,
6 LFoot, 7 Spine, 8 Thorax, 9 Neck/Nose, 10 Head, 11 LShoulder, 12 LElbow, 13 LWrist, 14 RShoulder,
15 RElbow, 16 RWrist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import D3PRError, check_shape


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree: joint names, parent of each joint (-1 for the root), left/right pairs."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    joints_left: tuple[int, ...]
    joints_right: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.parents):
            raise ValueError("names and parents differ in length")
        if len(self.joints_left) != len(self.joints_right):
            raise ValueError("left and right joint lists differ in length")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(child, parent) pairs, one per non-root joint."""
        return [(j, p) for j, p in enumerate(self.parents) if p >= 0]

    @property
    def flip_permutation(self) -> list[int]:
        """Index permutation that swaps left and right joints."""
        perm = list(range(self.num_joints))
        for left, right in zip(self.joints_left, self.joints_right):
            perm[left], perm[right] = right, left
        return perm

    def bone_lengths(self, joints):
        """Bone lengths of ``joints (..., J, 3)`` → ``(..., J-1)`` in the joints' units."""
        child, parent = zip(*self.bones)
        if isinstance(joints, torch.Tensor):
            return (joints[..., list(child), :] - joints[..., list(parent), :]).norm(dim=-1)
        joints = np.asarray(joints)
        return np.linalg.norm(joints[..., list(child), :] - joints[..., list(parent), :], axis=-1)


H36M17 = Skeleton(
    names=(
        "Hip",
        "RHip",
        "RKnee",
        "RFoot",
        "LHip",
        "LKnee",
        "LFoot",
        "Spine",
        "Thorax",
        "Neck/Nose",
        "Head",
        "LShoulder",
        "LElbow",
        "LWrist",
        "RShoulder",
        "RElbow",
        "RWrist",
    ),  # fmt: skip
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    joints_left=(4, 5, 6, 11, 12, 13),
    joints_right=(1, 2, 3, 14, 15, 16),
)
NUM_JOINTS = H36M17.num_joints

#: Body part of each H36M-17 joint (0 torso, 1 right leg, 2 left leg, 3 head, 4 left arm,
#: 5 right arm); used by the STC part-aware positional embedding.
H36M17_PARTS = (0, 1, 1, 1, 2, 2, 2, 0, 0, 3, 3, 4, 4, 4, 5, 5, 5)

COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

# H36M joint ← COCO joint(s) averaged. Synthesised joints:
#   Hip (pelvis)  = mean(left_hip, right_hip)
#   Thorax        = mean(left_shoulder, right_shoulder)
#   Spine         = mean(pelvis, thorax)  (midpoint of the trunk)
#   Neck/Nose     = nose
#   Head          = mean(left_eye, right_eye, left_ear, right_ear)
_COCO_TO_H36M: tuple[tuple[int, ...], ...] = (
    (11, 12),  # Hip
    (12,),  # RHip
    (14,),  # RKnee
    (16,),  # RFoot
    (11,),  # LHip
    (13,),  # LKnee
    (15,),  # LFoot
    (11, 12, 5, 6),  # Spine = mean(pelvis, thorax) = mean of the four
    (5, 6),  # Thorax
    (0,),  # Neck/Nose
    (1, 2, 3, 4),  # Head
    (5,),  # LShoulder
    (7,),  # LElbow
    (9,),  # LWrist
    (6,),  # RShoulder
    (8,),  # RElbow
    (10,),  # RWrist
)


def coco17_to_h36m17(keypoints: np.ndarray) -> np.ndarray:
    """Map COCO-17 keypoints ``(..., 17, C)`` (C = 2, or 3 with confidence) to H36M-17.

    Coordinates of synthesised joints are means of their sources; a confidence channel, when
    present, becomes the minimum confidence of the sources.
    """
    keypoints = np.asarray(keypoints)
    check_shape(keypoints, "* 17 C", "COCO-17 keypoints")
    if keypoints.shape[-1] not in (2, 3):
        raise D3PRError(f"COCO-17 keypoints: last dimension must be 2 or 3, got {keypoints.shape}")
    out = np.empty_like(keypoints, dtype=np.float64)
    for j, src in enumerate(_COCO_TO_H36M):
        out[..., j, :2] = keypoints[..., list(src), :2].mean(axis=-2)
        if keypoints.shape[-1] == 3:
            out[..., j, 2] = keypoints[..., list(src), 2].min(axis=-1)
    return out.astype(keypoints.dtype if keypoints.dtype.kind == "f" else np.float32)

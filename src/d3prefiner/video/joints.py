"""Joint layouts of 2D detectors mapped to H36M-17 (VideoPose3D order, :mod:`d3prefiner.skeleton`).

BlazePose-33 (MediaPipe Pose) is first reduced to COCO-17 (the 17 landmarks both share, by name),
then mapped like COCO-17 by :func:`d3prefiner.skeleton.coco17_to_h36m17`, so both detectors get the
same synthesised joints:

==============  ==========================================================
H36M-17 joint   from
==============  ==========================================================
Hip (pelvis)    mean(left_hip, right_hip)
R/L Hip, Knee   right/left hip, knee
R/L Foot        right/left ankle
Spine           mean(pelvis, thorax) = mean of both hips and both shoulders
Thorax          mean(left_shoulder, right_shoulder)
Neck/Nose       nose
Head            mean(left_eye, right_eye, left_ear, right_ear)
arms            shoulder, elbow, wrist of each side
==============  ==========================================================

A synthesised joint's confidence is the lowest of its sources'.
"""

from __future__ import annotations

import numpy as np

from ..errors import D3PRError, check_shape
from ..skeleton import COCO17_NAMES, coco17_to_h36m17

BLAZEPOSE33_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

#: BlazePose-33 index of each COCO-17 joint (the landmarks with the same name).
BLAZEPOSE_TO_COCO = tuple(BLAZEPOSE33_NAMES.index(n) for n in COCO17_NAMES)

#: The layouts a keypoints file may hold → their joint counts (``h36m17``: already H36M-17 in
#: VideoPose3D order, e.g. a detector trained on Human3.6M; taken as it is).
LAYOUTS = {"coco17": 17, "blazepose33": 33, "h36m17": 17}
#: The layout assumed for a joint count when a file does not name one.
DEFAULT_LAYOUT = {17: "coco17", 33: "blazepose33"}


def blazepose33_to_coco17(keypoints: np.ndarray) -> np.ndarray:
    """BlazePose-33 ``(..., 33, C)`` → COCO-17 ``(..., 17, C)`` (a selection, nothing averaged)."""
    check_shape(keypoints, "* 33 C", "BlazePose-33 keypoints")
    return np.asarray(keypoints)[..., list(BLAZEPOSE_TO_COCO), :]


def to_h36m17(
    points: np.ndarray, conf: np.ndarray | None = None, layout: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 or BlazePose-33 points ``(F, J, D)`` (any D: 2D pixels or 3D metres) and per-joint
    confidence ``(F, J)`` (None: 1) → H36M-17 ``(F, 17, D)`` float64 and ``(F, 17)``.
    ``layout``: one of :data:`LAYOUTS` (default: by the joint count, :data:`DEFAULT_LAYOUT`);
    ``h36m17`` is returned as it is.

    Raises:
        D3PRError: a joint count other than 17 (COCO) or 33 (BlazePose).
    """
    points = np.asarray(points, dtype=np.float64)
    if layout == "h36m17" and points.ndim == 3 and points.shape[1] == 17:
        return points, np.ones(points.shape[:2]) if conf is None else np.asarray(conf, float)
    if points.ndim != 3 or points.shape[1] not in DEFAULT_LAYOUT:
        raise D3PRError(
            f"keypoints: expected (frames, 17 or 33 joints, coordinates) for COCO-17 or "
            f"BlazePose-33, got shape {points.shape}"
        )
    conf = np.ones(points.shape[:2]) if conf is None else np.asarray(conf, dtype=np.float64)
    if conf.shape != points.shape[:2]:
        raise D3PRError(f"keypoints: confidence shape {conf.shape}, expected {points.shape[:2]}")
    if points.shape[1] == 33:
        points, conf = blazepose33_to_coco17(points), blazepose33_to_coco17(conf[..., None])[..., 0]
    out = np.empty((len(points), 17, points.shape[2]))
    for d in range(points.shape[2]):  # the COCO mapping averages each coordinate on its own
        out[..., d] = coco17_to_h36m17(np.stack([points[..., d]] * 2, axis=-1))[..., 0]
    mapped_conf = coco17_to_h36m17(np.stack([conf] * 3, axis=-1))[..., 2]
    return out, mapped_conf

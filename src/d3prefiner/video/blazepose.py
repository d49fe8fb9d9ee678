"""BlazePose (MediaPipe Pose, ``mediapipe==0.10.14``: its models ship inside the wheel) run on
square, upscaled crops around each tracked person: on whole frames it misses people about 100 px
tall, on crops it finds them."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import D3PRError
from .persons import crop_square

#: Side of the square crop given to BlazePose, pixels (people about 100 px tall are upscaled ~3x).
CROP_SIZE = 384


@dataclass
class PersonKeypoints:
    """BlazePose's output for one track, frames ``start .. start + F - 1`` of the video.

    Attributes:
        points: ``(F, 33, 2)`` landmarks in video pixels (NaN where BlazePose found nobody).
        visibility: ``(F, 33)`` BlazePose's per-landmark visibility in [0, 1] (0 where none).
        world: ``(F, 33, 3)`` BlazePose's metric 3D landmarks, metres, origin between the hips,
            axes as the camera's (x right, y down, z away from the camera); NaN where none.
    """

    start: int
    points: np.ndarray
    visibility: np.ndarray
    world: np.ndarray


def pose_estimator(complexity: int = 1):
    """A MediaPipe Pose estimator on single images (``static_image_mode``: every crop on its
    own, as crops of different people and scales follow each other)."""
    try:
        with warnings.catch_warnings():  # protobuf's deprecation notice, not ours to fix
            warnings.simplefilter("ignore", UserWarning)
            import mediapipe as mp
    except ImportError:
        raise D3PRError(
            'the 2D stage needs MediaPipe: pip install -e ".[video]" (mediapipe==0.10.14)'
        ) from None
    return mp.solutions.pose.Pose(
        static_image_mode=True, model_complexity=complexity, min_detection_confidence=0.3
    )


def landmarks_on_crop(pose, crop_bgr: np.ndarray):
    """``(points (33, 2) in crop pixels, visibility (33,), world (33, 3))``, or None."""
    import cv2

    with warnings.catch_warnings():  # protobuf's deprecation notice inside MediaPipe
        warnings.filterwarnings("ignore", "SymbolDatabase.GetPrototype", UserWarning)
        result = pose.process(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB))
    if result.pose_landmarks is None:
        return None
    size = crop_bgr.shape[1], crop_bgr.shape[0]
    lm = result.pose_landmarks.landmark
    points = np.array([[p.x * size[0], p.y * size[1]] for p in lm])  # (33, 2)
    vis = np.array([p.visibility for p in lm])
    world = np.array([[p.x, p.y, p.z] for p in result.pose_world_landmarks.landmark])
    return points, vis, world


def empty_keypoints(start: int, n: int) -> PersonKeypoints:
    """``n`` frames with nobody found."""
    return PersonKeypoints(
        start, np.full((n, 33, 2), np.nan), np.zeros((n, 33)), np.full((n, 33, 3), np.nan)
    )


def track_keypoints_frame(pose, frame: np.ndarray, box: np.ndarray, size: int = CROP_SIZE):
    """BlazePose on the crop of one box: ``(points (33, 2) frame pixels, visibility, world)`` or
    None when it found nobody."""
    crop, x0, y0, side = crop_square(frame, box, size)
    found = landmarks_on_crop(pose, crop)
    if found is None:
        return None
    points, vis, world = found
    return points * (side / size) + np.array([x0, y0]), vis, world

"""The canonical in-memory form every motion source is read into.

* :class:`Sequence` — one captured motion: subject, action, fps, 3D joints ``(F, 17, 3)`` in metres
  in the source's world frame, and optionally 2D per camera (pixels) with the camera parameters.
* :class:`Clip` — one sequence seen by one camera, ready for a lifter: normalised 2D ``(F, 17, 2)``
  (VideoPose3D: ``x / w * 2 - [1, h / w]``) and root-relative 3D ``(F, 17, 3)`` in metres in the camera
  frame. Lifters, the noise model and the refiner work on clips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import D3PRError, check_joints
from ..geometry import Intrinsics
from ..skeleton import NUM_JOINTS


@dataclass
class Sequence:
    """One motion. ``joints3d (F, 17, 3)`` metres; ``pose2d[camera] (F, 17, 2)`` pixels."""

    subject: str
    action: str
    fps: float
    joints3d: np.ndarray
    pose2d: dict[str, np.ndarray] = field(default_factory=dict)
    cameras: dict[str, Any] = field(default_factory=dict)  # name -> data.cameras.Camera

    def __post_init__(self) -> None:
        where = f"sequence {self.subject}/{self.action}"
        check_joints(self.joints3d, NUM_JOINTS, 3, f"{where} joints3d")
        if len(self.joints3d) == 0:
            raise D3PRError(f"{where}: no frames")
        if not self.fps > 0:
            raise D3PRError(f"{where}: fps must be > 0, got {self.fps}")
        for cam, p2d in self.pose2d.items():
            check_joints(p2d, NUM_JOINTS, 2, f"{where} 2D of camera {cam}")
            if len(p2d) != len(self.joints3d):
                raise D3PRError(
                    f"{where}: camera {cam} has {len(p2d)} 2D frames but {len(self.joints3d)} 3D"
                )

    @property
    def num_frames(self) -> int:
        return len(self.joints3d)


@dataclass
class Clip:
    """One sequence through one camera: ``pose2d (F,17,2)`` normalised, ``pose3d (F,17,3)`` metres,
    camera frame, root-relative (joint 0 is zero); ``intrinsics``: that camera's (pixels), None if
    unknown."""

    subject: str
    action: str
    camera: str
    fps: float
    pose2d: np.ndarray
    pose3d: np.ndarray
    intrinsics: Intrinsics | None = None

    def __post_init__(self) -> None:
        where = f"clip {self.subject}/{self.action}/{self.camera}"
        check_joints(self.pose2d, NUM_JOINTS, 2, f"{where} pose2d")
        check_joints(self.pose3d, NUM_JOINTS, 3, f"{where} pose3d")
        if len(self.pose2d) != len(self.pose3d):
            raise D3PRError(f"{where}: {len(self.pose2d)} 2D frames but {len(self.pose3d)} 3D")
        if len(self.pose2d) == 0:
            raise D3PRError(f"{where}: no frames")

    @property
    def num_frames(self) -> int:
        return len(self.pose3d)

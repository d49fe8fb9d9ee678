"""One person's 2D over a video → the segments to lift: H36M-17 pixels with confidences, short
gaps filled and flagged, long gaps splitting the track."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .gaps import fill_gaps, segments
from .joints import to_h36m17
from .kpfile import Keypoints


@dataclass
class Segment:
    """A run of frames of one person with every joint known (after gap filling).

    Attributes:
        person: the track's rank (0: the most often detected).
        start: the video frame index of the segment's first frame.
        points: ``(F, 17, 2)`` H36M-17 2D, pixels.
        conf: ``(F, 17)`` the detector's confidence (0 where a joint was filled).
        filled: ``(F, 17)`` bool, joints interpolated across a short gap.
        world: ``(F, 17, 3)`` BlazePose's own 3D, root-relative metres, or None.
        base, refined: ``(F, 17, 3)`` 3D estimates, root-relative metres, camera frame.
        trajectory: ``(F, 3)`` root translation in the camera frame, metres (None until known).
        positions: ``(F, 17, 3)`` the refined motion in the world frame (z up, floor at 0).
    """

    person: int
    start: int
    points: np.ndarray
    conf: np.ndarray
    filled: np.ndarray
    world: np.ndarray | None = None
    base: np.ndarray | None = None
    refined: np.ndarray | None = None
    trajectory: np.ndarray | None = None
    positions: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return len(self.points)

    @property
    def name(self) -> str:
        return f"person{self.person}_from{self.start}"


def person_segments(kp: Keypoints, person: int, min_conf: float, max_gap: int,
                    min_len: int) -> list[Segment]:  # fmt: skip
    """The segments of one person's keypoints (COCO-17 or BlazePose-33, see
    :mod:`d3prefiner.video.joints`): gaps of at most ``max_gap`` frames of joints below
    ``min_conf`` are interpolated, frames with a joint still missing split the track, and pieces
    shorter than ``min_len`` frames are dropped."""
    points, conf = to_h36m17(kp.points, kp.conf, kp.layout)
    f2d = fill_gaps(points, conf, min_conf, max_gap)
    world = None
    if kp.world is not None:
        w17, _ = to_h36m17(kp.world)
        seen = np.isfinite(w17).all(-1).astype(np.float64)  # (F, 17): BlazePose found the person
        fw = fill_gaps(w17, seen, 0.5, max_gap)
        world = fw.points - fw.points[:, :1]
        f2d.valid &= fw.valid
    out = []
    for a, b in segments(f2d.valid, min_len):
        out.append(Segment(person, kp.start + a, f2d.points[a:b], f2d.conf[a:b], f2d.filled[a:b],
                           None if world is None else world[a:b]))  # fmt: skip
    return out

"""The two detection stages of ``d3pr video``: people boxes tracked over the video, then
BlazePose's 2D (and 3D) landmarks of the chosen tracks."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..errors import D3PRError
from .blazepose import CROP_SIZE, PersonKeypoints, pose_estimator, track_keypoints_frame
from .frames import VideoInfo, read_frames
from .gaps import MIN_SEGMENT
from .persons import Track, detect_people, hog_detector, rank_tracks, track_boxes


def detect_tracks(info: VideoInfo, progress: bool = False) -> list[Track]:
    """People tracks of a video, the most often detected first; tracks detected in fewer than
    :data:`~d3prefiner.video.gaps.MIN_SEGMENT` frames are dropped.

    Raises:
        D3PRError: nobody found.
    """
    hog = hog_detector()
    frames = tqdm(read_frames(info), total=info.frames, disable=not progress, desc="people")
    detections = [detect_people(hog, f) for f in frames]
    tracks = rank_tracks(track_boxes(detections), min(MIN_SEGMENT, len(detections)))
    if not tracks:
        found = sum(len(d) for d in detections)
        raise D3PRError(
            f"{info.path}: no person found in its {len(detections)} frames ({found} isolated "
            "detections, none in "
            f"{min(MIN_SEGMENT, len(detections))} frames); the HOG people detector needs "
            "upright people at least about 100 px tall"
        )
    return tracks


def tracks_to_array(tracks: list[Track]) -> np.ndarray:
    """Tracks → ``(N, 7)`` rows ``track, frame, x0, y0, x1, y1, score`` (for a stage file)."""
    rows = [[k.id, f, *b] for k in tracks for f, b in sorted(k.boxes.items())]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 7)


def tracks_from_array(rows: np.ndarray) -> list[Track]:
    """Inverse of :func:`tracks_to_array`."""
    tracks: dict[int, Track] = {}
    for r in rows:
        k = tracks.setdefault(int(r[0]), Track(int(r[0])))
        k.boxes[int(r[1])] = np.asarray(r[2:7])
    return [tracks[i] for i in sorted(tracks)]


def choose_tracks(tracks: list[Track], person: str) -> list[Track]:
    """``person``: ``"all"`` or the rank of one track (0: the most often detected)."""
    if person == "all":
        return tracks
    n = int(person)
    if n >= len(tracks):
        raise D3PRError(
            f"--person {n}: the video has {len(tracks)} tracked person(s), numbered 0 to "
            f"{len(tracks) - 1} (0: the most often detected)"
        )
    return [tracks[n]]


def track_keypoints(
    info: VideoInfo, tracks: list[Track], size: int = CROP_SIZE, progress: bool = False
) -> list[PersonKeypoints]:
    """BlazePose on a crop around each track's box in every frame of its span (boxes of frames
    the detector missed are interpolated). One :class:`PersonKeypoints` per track."""
    pose = pose_estimator()
    spans = [(k.first, k.box_per_frame()) for k in tracks]
    out = [
        PersonKeypoints(a, np.full((len(b), 33, 2), np.nan), np.zeros((len(b), 33)),
                        np.full((len(b), 33, 3), np.nan))
        for a, b in spans
    ]  # fmt: skip
    last = max(a + len(b) for a, b in spans)
    frames = tqdm(read_frames(info), total=min(info.frames, last), disable=not progress, desc="2D")
    try:
        for t, frame in enumerate(frames):
            if t >= last:
                break
            for (a, boxes), kp in zip(spans, out):
                if a <= t < a + len(boxes):
                    found = track_keypoints_frame(pose, frame, boxes[t - a], size)
                    if found is not None:
                        kp.points[t - a], kp.visibility[t - a], kp.world[t - a] = found
    finally:
        pose.close()
    return out

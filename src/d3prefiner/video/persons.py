"""People in frames: boxes from OpenCV's HOG people detector (no model file), tracked across
frames by box overlap (IoU, optimal assignment), so that each person is one track."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .frames import cv2_module

#: Lowest IoU between a track's last box and a new box for them to be the same person.
MIN_IOU = 0.3
#: Frames a track may go undetected before it ends (its boxes are interpolated across the gap).
MAX_AGE = 5
#: Detections below this HOG score are dropped.
MIN_SCORE = 0.0


def hog_detector():
    """OpenCV's HOG + linear SVM people detector (Dalal & Triggs), built into OpenCV."""
    cv2 = cv2_module()
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


def detect_people(hog, frame: np.ndarray, min_score: float = MIN_SCORE) -> np.ndarray:
    """People boxes of one BGR frame → ``(N, 5)``: ``x0, y0, x1, y1`` pixels and the score,
    overlapping boxes suppressed (IoU > 0.5 with a better one)."""
    rects, scores = hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8), scale=1.05)
    if len(rects) == 0:
        return np.zeros((0, 5))
    rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)  # (N, 4) x0y0x1y1
    dets = np.concatenate([boxes, np.asarray(scores, dtype=np.float64).reshape(-1, 1)], axis=1)
    return suppress(dets[dets[:, 4] >= min_score])


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a (N, 4)`` and ``b (M, 4)`` (x0, y0, x1, y1) → ``(N, M)``."""
    a, b = (
        np.asarray(a, dtype=np.float64)[:, None, :4],
        np.asarray(b, dtype=np.float64)[None, :, :4],
    )
    wh = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def suppress(dets: np.ndarray, max_iou: float = 0.5) -> np.ndarray:
    """Greedy non-maximum suppression of ``dets (N, 5)`` (best score first)."""
    dets = dets[np.argsort(-dets[:, 4])]
    keep: list[int] = []
    for i in range(len(dets)):
        if not keep or iou(dets[i : i + 1], dets[keep]).max() <= max_iou:
            keep.append(i)
    return dets[keep]


@dataclass
class Track:
    """One person across frames: ``boxes`` frame index → ``(5,)`` box and score (detected)."""

    id: int
    boxes: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def last(self) -> int:
        return max(self.boxes)

    @property
    def first(self) -> int:
        return min(self.boxes)

    def box_per_frame(self) -> np.ndarray:
        """``(last - first + 1, 4)`` boxes with undetected frames linearly interpolated."""
        frames = np.array(sorted(self.boxes))
        boxes = np.stack([self.boxes[f][:4] for f in frames])  # (K, 4)
        span = np.arange(self.first, self.last + 1)
        return np.stack([np.interp(span, frames, boxes[:, k]) for k in range(4)], axis=1)


def track_boxes(
    detections: list[np.ndarray], min_iou: float = MIN_IOU, max_age: int = MAX_AGE
) -> list[Track]:
    """Link per-frame detections ``[(N_t, 5)]`` into tracks by IoU with each track's latest box
    (optimal one-to-one assignment per frame; a track unmatched for more than ``max_age`` frames
    ends; an unmatched detection starts a track). Tracks come in order of their first frame."""
    from scipy.optimize import linear_sum_assignment

    tracks: list[Track] = []
    for t, dets in enumerate(detections):
        alive = [k for k in tracks if t - k.last <= max_age + 1]
        matched: set[int] = set()
        if alive and len(dets):
            last = np.stack([k.boxes[k.last] for k in alive])
            overlap = iou(last, dets)  # (A, N)
            rows, cols = linear_sum_assignment(-overlap)
            for r, c in zip(rows, cols):
                if overlap[r, c] >= min_iou:
                    alive[r].boxes[t] = dets[c]
                    matched.add(int(c))
        for c in range(len(dets)):
            if c not in matched:
                tracks.append(Track(len(tracks), {t: dets[c]}))
    return tracks


def rank_tracks(tracks: list[Track], min_detections: int) -> list[Track]:
    """Tracks detected in at least ``min_detections`` frames, the most often detected first (a
    track seen in few frames is most likely a false detection), renumbered 0, 1, ..."""
    kept = sorted(
        (k for k in tracks if len(k.boxes) >= min_detections), key=lambda k: -len(k.boxes)
    )
    return [Track(i, k.boxes) for i, k in enumerate(kept)]


def crop_square(frame: np.ndarray, box: np.ndarray, size: int, margin: float = 0.25):
    """A square crop around ``box (4,)`` (its larger side plus ``margin`` on each side, padded
    with black beyond the image), resized to ``size`` × ``size``. Returns ``(crop, x0, y0,
    side)``: crop pixel ``(u, v)`` is frame pixel ``(x0 + u·side/size, y0 + v·side/size)``."""
    cv2 = cv2_module()
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    h, w = frame.shape[:2]
    pad = max(0, -left, -top, left + s - w, top + s - h)
    if pad:
        frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    crop = frame[top + pad : top + pad + s, left + pad : left + pad + s]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC), left, top, s

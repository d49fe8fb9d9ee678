"""Missing and low-confidence joints: short gaps filled by interpolation (and flagged); long gaps
of absent joints split a track into segments that are lifted on their own, long stretches of
low confidence keep the detector's values (its confidence goes on as a weight)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Joints below this confidence count as missing (BlazePose visibility, COCO score).
MIN_CONFIDENCE = 0.3
#: Gaps of at most this many frames are filled; longer ones split the track.
MAX_GAP = 5
#: Segments shorter than this many frames are dropped (too short to lift as motion).
MIN_SEGMENT = 5


@dataclass
class Filled:
    """Keypoints after gap filling.

    Attributes:
        points: ``(F, J, D)`` with short gaps interpolated; NaN where still missing.
        conf: ``(F, J)`` the detector's confidence (0 where a value was interpolated or held).
        filled: ``(F, J)`` bool, True where a value was interpolated or held.
        valid: ``(F,)`` bool, True where every joint has a value.
    """

    points: np.ndarray
    conf: np.ndarray
    filled: np.ndarray
    valid: np.ndarray


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def fill_joint(x: np.ndarray, missing: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """One joint's track ``x (F, D)`` (NaN where the joint is absent): runs of ``missing (F,)``
    (absent or of low confidence) of at most ``max_gap`` frames are linearly interpolated between
    the frames around them (held at the nearest value at either end of the track). Longer runs
    keep the detector's own values where it gave any (an arm hidden behind the body for seconds
    is still placed, at its confidence) and stay NaN where it gave none, which splits the track.
    Returns ``(x, filled (F,) bool)``."""
    x = np.array(x, dtype=np.float64)
    filled = np.zeros(len(x), dtype=bool)
    if missing.all():
        return np.full_like(x, np.nan), filled
    for a, b in _runs(missing):
        if b - a > max_gap:  # too long to bridge: low-confidence values stay, absent ones split
            continue
        if a == 0:
            x[a:b] = x[b]
        elif b == len(x):
            x[a:b] = x[a - 1]
        else:
            w = (np.arange(a, b) - (a - 1)) / (b - (a - 1))  # (n,) in (0, 1)
            x[a:b] = (1 - w)[:, None] * x[a - 1] + w[:, None] * x[b]
        filled[a:b] = True
    return x, filled


def fill_gaps(
    points: np.ndarray,
    conf: np.ndarray,
    min_conf: float = MIN_CONFIDENCE,
    max_gap: int = MAX_GAP,
) -> Filled:
    """Fill short gaps of every joint of ``points (F, J, D)``: a joint is missing where its
    ``conf (F, J)`` is below ``min_conf`` or a coordinate is NaN (a frame with no detection: all
    NaN). See :func:`fill_joint`."""
    points = np.asarray(points, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    missing = ~np.isfinite(points).all(-1) | ~(np.nan_to_num(conf, nan=0.0) >= min_conf)
    out = np.empty_like(points)
    filled = np.zeros(missing.shape, dtype=bool)
    for j in range(points.shape[1]):
        out[:, j], filled[:, j] = fill_joint(points[:, j], missing[:, j], max_gap)
    conf = np.where(filled, 0.0, np.nan_to_num(conf, nan=0.0))
    return Filled(out, conf, filled, np.isfinite(out).all(axis=(1, 2)))


def segments(valid: np.ndarray, min_len: int = MIN_SEGMENT) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of valid frames at least ``min_len`` long."""
    return [(a, b) for a, b in _runs(np.asarray(valid, dtype=bool)) if b - a >= min_len]

"""Changing the frame rate of a motion: exact subsampling where the rates divide, linear
interpolation in time otherwise.

A sequence at ``fps_in`` is read at the times ``k / fps_out`` seconds, ``k = 0 …`` up to its last
frame (:func:`resample_times`); when ``fps_in / fps_out`` is an integer ``m`` that is every ``m``-th
frame and nothing is interpolated (:func:`frame_step`). Used by the data pipeline (a 120 fps BVH
for a 25 fps lifter) and by the refiner (an estimator's 50 fps output for a refiner trained at
25 fps, see :meth:`d3prefiner.refiner.Refiner.refine`).
"""

from __future__ import annotations

import numpy as np

from ..errors import D3PRError

#: Rates closer than this (relative) are treated as the same.
RATE_TOLERANCE = 1e-6


def check_rate(fps: float, what: str) -> float:
    """``fps`` as a float, or a :class:`D3PRError` when it is not a positive finite number."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise D3PRError(f"{what}: frame rate must be a number, got {fps!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise D3PRError(f"{what}: frame rate must be > 0, got {fps!r}")
    return value


def frame_step(fps_in: float, fps_out: float) -> int | None:
    """The integer subsampling factor from ``fps_in`` to ``fps_out`` (1: same rate), or None when
    the ratio is not an integer (interpolation needed)."""
    factor = fps_in / fps_out
    m = round(factor)
    return int(m) if m >= 1 and abs(factor - m) <= RATE_TOLERANCE * max(1.0, factor) else None


def resample_times(n_in: int, fps_in: float, fps_out: float) -> np.ndarray:
    """Positions, in input frames, of the output frames: ``(n_out,)`` float64, ``k · fps_in /
    fps_out`` for every ``k`` up to the last input frame (at least one)."""
    if n_in < 1:
        raise D3PRError("resampling: no frames")
    ratio = fps_in / fps_out
    n_out = int(np.floor((n_in - 1) / ratio + 1e-9)) + 1
    return np.arange(n_out) * ratio


def interp_frames(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``a (F, ...)`` read at the fractional frame positions ``t (N,)`` (clamped to the last frame)
    by linear interpolation; keeps ``a``'s dtype."""
    a = np.asarray(a)
    n = len(a)
    i0 = np.clip(np.floor(t).astype(np.int64), 0, n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w = np.clip(t - i0, 0.0, 1.0).reshape(-1, *([1] * (a.ndim - 1)))
    return ((1.0 - w) * a[i0] + w * a[i1]).astype(a.dtype)


def resample_frames(a: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """``a (F, ...)`` at ``fps_in`` → the same motion at ``fps_out`` (every ``m``-th frame when
    the rates divide, else :func:`interp_frames` at :func:`resample_times`)."""
    step = frame_step(fps_in, fps_out)
    if step is not None:
        return np.asarray(a)[::step]
    return interp_frames(a, resample_times(len(a), fps_in, fps_out))


def resample_sequence(seq, fps: float):
    """A :class:`~d3prefiner.data.sequences.Sequence` at ``fps`` (3D joints and any own 2D;
    :func:`resample_frames`)."""
    from .sequences import Sequence

    fps = check_rate(fps, f"sequence {seq.subject}/{seq.action}")
    return Sequence(
        seq.subject, seq.action, fps, resample_frames(seq.joints3d, seq.fps, fps),
        {cam: resample_frames(p, seq.fps, fps) for cam, p in seq.pose2d.items()},
        dict(seq.cameras),
    )  # fmt: skip

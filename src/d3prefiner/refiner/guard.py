"""The out-of-distribution guard: notice input from an estimator unlike the training one.

A refiner learns the errors of one estimator. Applied to a more accurate estimator it still applies
corrections of the size it learned, and can make it much worse. The guard compares each
input sequence with the training predictions on a feature that characterises an estimator and does
not need ground truth: the **2D–3D disagreement** ``r``, the RMS distance between the 2D input and
the estimate's own weak-perspective projection, expressed in metres (the in-plane part of the
estimate's error, plus the 2D input's own noise). Training records the range of the training
sequences' median ``r`` (its :data:`LOW_Q` and :data:`HIGH_Q` percentiles, widened by
:data:`MARGIN`: :class:`GuardRange`); a sequence whose median ``r`` lies outside it is *out of
range*.

``r`` is a fingerprint of an estimator, not a measure of its accuracy: a lifter fed detected 2D
follows the 2D's noise, so its ``r`` can be *smaller* than that of the ground truth itself. Out of
range in either direction therefore means "another estimator", whose errors the refiner has not
learned.

The guard mode ``shrink`` (``d3pr refine``'s default) then scales that sequence's correction
``x_refined − x_noisy`` by ``w = exp(−d / 0.05)``, where ``d = |ln(r / bound)|`` is how far (in
log-ratio) its median ``r`` lies beyond the nearer bound: 5 % beyond keeps 37 % of the
correction, 15 % beyond 5 %, so an unlike estimator is left almost as it came; ``warn`` only
warns; ``off`` does neither. Each sequence is judged on its own, so its output never depends on
what else is in the file. In-range input is untouched in every mode.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from ..errors import D3PRError

GUARD_MODES = ("shrink", "warn", "off")
#: Percentiles of the training sequences' median ``r`` that bound the range, and the margin.
LOW_Q, HIGH_Q, MARGIN = 1.0, 99.0, 0.1
#: Log-ratio distance beyond the range over which the correction's weight falls by e.
SHRINK_SCALE = 0.05


def disagreement(pose2d: np.ndarray, pose3d: np.ndarray) -> np.ndarray:
    """Per-frame 2D–3D disagreement ``r (F,)`` in metres.

    For every frame the root-relative estimate's ``(x, y)`` is fitted to the 2D input by a scale
    and a shift (least squares, weak perspective); ``r`` is the RMS residual over joints divided
    by the fitted scale (so it is in the estimate's units, metres). Frames whose estimate has no
    spread give ``r = 0``.
    """
    a = pose3d[..., :2] - pose3d[:, :1, :2]  # (F, J, 2) root-relative, metres
    a = a - a.mean(axis=1, keepdims=True)
    b = pose2d - pose2d.mean(axis=1, keepdims=True)  # (F, J, 2) normalised image units
    aa = (a * a).sum(axis=(1, 2))
    s = np.where(aa > 1e-12, (a * b).sum(axis=(1, 2)) / np.maximum(aa, 1e-12), 0.0)  # (F,)
    res = b - s[:, None, None] * a
    rms = np.sqrt((res * res).sum(axis=-1).mean(axis=-1))  # (F,)
    return np.where(np.abs(s) > 1e-9, rms / np.maximum(np.abs(s), 1e-9), 0.0).astype(np.float64)


@dataclass(frozen=True)
class GuardRange:
    """The training estimator's range of the 2D–3D disagreement ``r`` (metres): sequences whose
    median ``r`` lies outside ``[low_m, high_m]`` are out of range."""

    low_m: float
    median_m: float
    high_m: float
    sequences: int

    @classmethod
    def from_dict(cls, d: dict) -> GuardRange:
        return cls(float(d["r_low_m"]), float(d["r_median_m"]), float(d["r_high_m"]),
                   int(d["sequences"]))  # fmt: skip

    def to_dict(self) -> dict:
        return {"r_low_m": self.low_m, "r_median_m": self.median_m, "r_high_m": self.high_m,
                "sequences": self.sequences}  # fmt: skip


@dataclass(frozen=True)
class GuardFlag:
    """One out-of-range sequence: its index in the file, its name, its median ``r`` (metres) and
    the weight its correction gets under ``shrink``."""

    index: int
    name: str
    r_median_m: float
    weight: float


def guard_stats(sequences) -> GuardRange:
    """Training range of ``r`` from ``(pose2d, pred3d)`` pairs."""
    r = np.array([np.median(disagreement(p2, p3)) for p2, p3 in sequences])
    if len(r) == 0:
        raise D3PRError("guard: no training sequences")
    lo, med, hi = np.percentile(r, [LOW_Q, 50.0, HIGH_Q])
    return GuardRange(float(lo * (1 - MARGIN)), float(med), float(hi * (1 + MARGIN)), len(r))


def shrink_weight(r_median: float, bounds: GuardRange) -> float:
    """The correction's weight for a sequence of median disagreement ``r_median`` (1 = in range)."""
    lo, hi = bounds.low_m, bounds.high_m
    if lo <= r_median <= hi:
        return 1.0
    if r_median <= 0 or lo <= 0:
        return 0.0
    d = abs(math.log(r_median / (lo if r_median < lo else hi)))
    return float(math.exp(-d / SHRINK_SCALE))


def flag_sequences(bounds: GuardRange | None, preds) -> list[GuardFlag]:
    """The sequences of ``preds`` (a :class:`~d3prefiner.predictions.Predictions`) out of
    ``bounds`` (none without bounds)."""
    if bounds is None:
        return []
    flags = []
    for i, s in enumerate(preds):  # each sequence on its own: never on what else is in the file
        r = float(np.median(disagreement(s.pose2d, s.pred3d)))
        w = shrink_weight(r, bounds)
        if w < 1.0:
            flags.append(GuardFlag(i, f"{s.subject}/{s.action}/{s.camera}", r, w))
    return flags


def causal_guard(bounds: GuardRange | None, pose2d: np.ndarray, pose3d: np.ndarray) -> np.ndarray:
    """The guard's ``shrink`` weight of every frame ``(F,)`` from the median disagreement of the
    frames so far (the whole sequence's median would read later frames); ones without bounds."""
    if bounds is None:
        return np.ones(len(pose3d))
    r = disagreement(pose2d, pose3d)  # (F,)
    seen: list[float] = []
    out = np.empty(len(r))
    for f, v in enumerate(r):
        bisect.insort(seen, float(v))
        n = len(seen)
        out[f] = shrink_weight(0.5 * (seen[(n - 1) // 2] + seen[n // 2]), bounds)
    return out


def correction_weights(
    bounds: GuardRange | None, preds, flags: list[GuardFlag], alpha: float, mode: str, causal: bool
) -> list:
    """The weight of each sequence's correction: ``alpha`` times the guard's (``mode``
    ``"shrink"``: the flagged sequences' weight; with ``causal``, that of the frames so far,
    :func:`causal_guard`, an ``(F, 1, 1)`` array). A weight of 0 needs no refinement."""
    shrunk = {f.index: f.weight for f in flags} if mode == "shrink" else {}
    out = []
    for i, s in enumerate(preds):
        w = alpha * (1.0 if causal else shrunk.get(i, 1.0))
        if causal and w and mode == "shrink":
            w = w * causal_guard(bounds, s.pose2d, s.pred3d)[:, None, None]  # (F, 1, 1)
        out.append(w)
    return out


def guard_message(flags: list[GuardFlag], total: int, bounds: GuardRange, mode: str) -> str | None:
    """One warning in words for the sequences out of range (``None`` when there are none)."""
    if not flags:
        return None
    lo, hi = 1000 * bounds.low_m, 1000 * bounds.high_m
    r_seen = np.median([f.r_median_m for f in flags]) * 1000
    side = "below" if r_seen < lo else "above"
    act = {
        "shrink": "their corrections were shrunk toward the input (--guard shrink)",
        "warn": "they were refined in full (--guard warn)",
    }[mode]
    return (
        f"warning: {len(flags)} of {total} sequences look like another estimator's output than "
        f"the one this refiner was trained on: their 3D agrees with their 2D differently (2D-3D "
        f"disagreement {r_seen:.1f} mm, median, {side} the {lo:.1f}-{hi:.1f} mm of the training "
        f"estimator), and corrections learned on one estimator can make another worse. "
        f"{act[0].upper() + act[1:]}. Best: train a refiner on this estimator's own cross-fitted "
        "predictions (docs/predictions.md); --guard off applies this one as it is."
    )

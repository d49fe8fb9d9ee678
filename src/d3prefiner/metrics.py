"""Pose-error metrics in torch, batched, following the Human3.6M protocols, and per-action tables.

Per-pose metrics take poses ``(..., J, 3)`` in any consistent unit (the library uses metres; the
tables multiply by 1000 for millimetres) and return one error per pose ``(...)`` in that unit:

- :func:`mpjpe` — Protocol #1, mean per-joint position error. The root alignment is explicit:
  ``align="none"`` compares the poses as given (the library's poses are root-relative, so this is
  the root-relative MPJPE of the papers), ``align="root"`` subtracts joint 0 from both first.
- :func:`p_mpjpe` — Protocol #2, MPJPE after the best similarity transform (rotation, uniform
  scale, translation) per pose (:func:`procrustes_align`).
- :func:`n_mpjpe` — MPJPE after the best uniform scale per pose (Rhodin et al. 2018, VideoPose3D).

Temporal metrics take sequences ``(..., F, J, 3)`` (frames on the third-to-last axis) and return
one error per frame difference:

- :func:`mpjve` — mean per-joint velocity error ``(..., F-1)``: first differences; per frame in
  the input unit, or unit/s with ``fps``.
- :func:`accel_error` — acceleration error ``(..., F-2)``: second differences; per frame² in the
  input unit, or unit/s² with ``fps``.

Per-frame errors of a whole predictions file (every sequence's frames pooled, in file order):

- :func:`frame_errors` — one MPJPE per frame ``(N,)`` in **metres** (float64), root-aligned by
  default; :func:`frame_mpjpe_mm` — their mean in mm, rounded (compared as given by default).

This module is the one place a pose error is computed: the rest of the package calls these
functions (``tests/test_one_metric.py`` checks that no other module writes its own).

Per-action aggregation (as Human3.6M papers do): per-frame errors of all sequences of one action
are pooled (over subjects and cameras) and averaged; the table's headline average is the
unweighted mean over actions (**action-weighted**); the mean over all frames pooled
(**frame-weighted**) is given beside it. Action names are canonicalised by
:func:`canonical_action`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .errors import D3PRError

# ----------------------------------------------------------------------------- per-pose metrics


def _as_tensors(pred, gt):
    pred = torch.as_tensor(pred)
    gt = torch.as_tensor(gt)
    if pred.shape != gt.shape:
        raise D3PRError(f"pred and gt shapes differ: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    if pred.dim() < 2 or pred.shape[-1] != 3:
        raise D3PRError(f"expected poses of shape (..., J, 3), got {tuple(pred.shape)}")
    dtype = torch.promote_types(pred.dtype, torch.float32)
    return pred.to(dtype), gt.to(dtype)


#: The root alignments a pose error can be computed under (see :func:`align_root`).
ALIGNMENTS = ("none", "root")


def align_root(pose, align: str):
    """``pose (..., J, 3)`` as compared under ``align``: ``"none"`` as given, ``"root"`` with
    joint 0 subtracted from every joint (so the root becomes 0)."""
    if align not in ALIGNMENTS:
        raise D3PRError(f"align must be one of {', '.join(ALIGNMENTS)}, got {align!r}")
    return pose if align == "none" else pose - pose[..., :1, :]


def joint_errors(pred, gt, align: str = "none") -> torch.Tensor:
    """Euclidean error of every joint. ``(..., J, 3)`` → ``(..., J)``, in the input's unit.

    Args:
        pred: ``(..., J, 3)`` estimate.
        gt: ``(..., J, 3)`` ground truth, same unit.
        align: ``"none"`` (compared as given) or ``"root"`` (joint 0 subtracted from both).
    """
    pred, gt = _as_tensors(pred, gt)
    return (align_root(pred, align) - align_root(gt, align)).norm(dim=-1)


def mpjpe(pred, gt, align: str = "none") -> torch.Tensor:
    """Protocol #1: mean per-joint position error. ``(..., J, 3)`` → ``(...)``, input's unit.

    Args:
        pred: ``(..., J, 3)`` estimate.
        gt: ``(..., J, 3)`` ground truth, same unit.
        align: ``"none"`` compares the poses as given; ``"root"`` subtracts joint 0 from both
            first (the same number when both are already root-relative).
    """
    return joint_errors(pred, gt, align).mean(dim=-1)


def frame_errors(preds, align: str = "root", gt=None) -> torch.Tensor:
    """Per-frame MPJPE in **metres** (float64) of every frame of a predictions object.

    Args:
        preds: a :class:`~d3prefiner.predictions.Predictions` (or anything with
            ``concat("pred3d")`` and, without ``gt``, ``concat("gt3d")``), its sequences'
            frames pooled in order: ``(N, J, 3)`` metres.
        align: ``"root"`` (default: joint 0 subtracted from both, Protocol #1) or ``"none"``.
        gt: ``(N, J, 3)`` metres (numpy or torch) to compare with instead of ``preds``' gt3d.

    Returns:
        ``(N,)`` float64 tensor, metres.
    """
    pred = torch.as_tensor(preds.concat("pred3d")).double()
    gt = torch.as_tensor(preds.concat("gt3d") if gt is None else gt).double()
    return mpjpe(pred, gt, align)


def frame_mpjpe_mm(preds, align: str = "none") -> float:
    """MPJPE (mm, 2 decimals) over every frame of a predictions file's sequences pooled
    (frame-weighted; each sequence's ``pred3d`` against its ``gt3d``; ``align`` as in
    :func:`mpjpe`, default: compared as given)."""
    err = [mpjpe(torch.from_numpy(s.pred3d), torch.from_numpy(s.gt3d), align) for s in preds]
    return round(float(torch.cat(err).mean()) * 1000, 2)


def procrustes_align(pred, gt) -> torch.Tensor:
    """Align ``pred`` to ``gt`` by the best similarity transform (rotation, scale, translation)
    per pose; ``(..., J, 3)`` → ``(..., J, 3)``. Computed in float64."""
    pred, gt = _as_tensors(pred, gt)
    dtype = pred.dtype
    p, g = pred.double(), gt.double()
    mu_p, mu_g = p.mean(-2, keepdim=True), g.mean(-2, keepdim=True)
    p0, g0 = p - mu_p, g - mu_g
    norm_p = p0.pow(2).sum((-2, -1), keepdim=True).sqrt().clamp_min(1e-12)
    norm_g = g0.pow(2).sum((-2, -1), keepdim=True).sqrt().clamp_min(1e-12)
    p0, g0 = p0 / norm_p, g0 / norm_g
    H = p0.transpose(-2, -1) @ g0  # (..., 3, 3)
    U, S, Vh = torch.linalg.svd(H)
    V = Vh.transpose(-2, -1)
    # avoid reflections: flip the last singular vector where det < 0
    sign = torch.sign(torch.linalg.det(V @ U.transpose(-2, -1)))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    V = torch.cat([V[..., :2], V[..., 2:] * sign[..., None, None]], dim=-1)
    S = torch.cat([S[..., :2], S[..., 2:] * sign[..., None]], dim=-1)
    R = V @ U.transpose(-2, -1)  # (..., 3, 3) rotation mapping p0 → g0
    scale = S.sum(-1)[..., None, None] * norm_g / norm_p
    aligned = scale * (p - mu_p) @ R.transpose(-2, -1) + mu_g
    return aligned.to(dtype)


def p_mpjpe(pred, gt) -> torch.Tensor:
    """Protocol #2: MPJPE after similarity Procrustes alignment. ``(..., J, 3)`` → ``(...)``."""
    pred, gt = _as_tensors(pred, gt)
    return mpjpe(procrustes_align(pred, gt), gt)


def n_mpjpe(pred, gt) -> torch.Tensor:
    """Scale-normalised MPJPE: ``pred`` scaled by ``s = <pred, gt> / <pred, pred>`` (the least
    squares uniform scale per pose, no rotation or translation), then MPJPE.

    ``(..., J, 3)`` → ``(...)`` in the input's unit.
    """
    pred, gt = _as_tensors(pred, gt)
    num = (pred * gt).sum(dim=(-2, -1), keepdim=True)
    den = (pred * pred).sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return mpjpe(num / den * pred, gt)


def _check_sequence(pred, gt, min_frames: int, what: str):
    pred, gt = _as_tensors(pred, gt)
    if pred.dim() < 3:
        raise D3PRError(
            f"{what}: expected sequences of shape (..., F, J, 3), got {tuple(pred.shape)}"
        )
    if pred.shape[-3] < min_frames:
        raise D3PRError(
            f"{what}: needs at least {min_frames} frames, got {pred.shape[-3]} "
            f"(shape {tuple(pred.shape)})"
        )
    return pred, gt


def _check_fps(fps) -> float:
    if fps is None:
        return 1.0
    fps = float(fps)
    if not (fps > 0 and math.isfinite(fps)):
        raise D3PRError(f"fps must be a positive number, got {fps}")
    return fps


def mpjve(pred, gt, fps: float | None = None) -> torch.Tensor:
    """Mean per-joint velocity error (VideoPose3D's MPJVE).

    Velocities are first differences along the frame axis; the error is the Euclidean norm of
    the velocity difference, averaged over joints.

    Args:
        pred: ``(..., F, J, 3)`` estimated sequence, F ≥ 2.
        gt: ``(..., F, J, 3)`` ground truth, same unit.
        fps: frame rate. With it, errors are in unit/s (m/s for metres); without it, in unit per
            frame.

    Returns:
        ``(..., F-1)`` one error per consecutive frame pair.
    """
    pred, gt = _check_sequence(pred, gt, 2, "mpjve")
    scale = _check_fps(fps)
    dv = torch.diff(pred - gt, dim=-3)  # (..., F-1, J, 3)
    return dv.norm(dim=-1).mean(dim=-1) * scale


def accel_error(pred, gt, fps: float | None = None) -> torch.Tensor:
    """Acceleration error (as in HMMR / VIBE): second differences ``x[t+1] − 2x[t] + x[t−1]``,
    Euclidean norm of the difference between predicted and true accelerations, mean over joints.

    Args:
        pred: ``(..., F, J, 3)`` estimated sequence, F ≥ 3.
        gt: ``(..., F, J, 3)`` ground truth, same unit.
        fps: frame rate. With it, errors are in unit/s² (m/s² for metres); without it, in unit per
            frame².

    Returns:
        ``(..., F-2)`` one error per interior frame.
    """
    pred, gt = _check_sequence(pred, gt, 3, "accel_error")
    scale = _check_fps(fps)
    da = torch.diff(pred - gt, n=2, dim=-3)  # (..., F-2, J, 3)
    return da.norm(dim=-1).mean(dim=-1) * scale**2


# ----------------------------------------------------------------------------- action names

#: The 15 Human3.6M actions, canonical (lower-case) name → the paper's column abbreviation, in
#: the order of the paper's Tables I and II.
H36M_ACTIONS: dict[str, str] = {
    "directions": "Dir.",
    "discussion": "Disc.",
    "eating": "Eat",
    "greeting": "Greet",
    "phoning": "Phone",
    "photo": "Photo",
    "posing": "Pose",
    "purchases": "Pur.",
    "sitting": "Sit",
    "sittingdown": "SitD.",
    "smoking": "Smoke",
    "waiting": "Wait",
    "walkdog": "WalkD.",
    "walking": "Walk",
    "walktogether": "WalkT.",
}

#: Alternative spellings found in Human3.6M releases → the canonical name. Names are first
#: lower-cased with spaces, ``_`` and ``-`` removed and the take suffix stripped.
ACTION_ALIASES: dict[str, str] = {
    "direction": "directions",
    "discussions": "discussion",
    "eat": "eating",
    "greet": "greeting",
    "phone": "phoning",
    "phonecall": "phoning",
    "takingphoto": "photo",
    "takephoto": "photo",
    "pose": "posing",
    "purchase": "purchases",
    "sit": "sitting",
    "sitdown": "sittingdown",
    "smoke": "smoking",
    "wait": "waiting",
    "walkingdog": "walkdog",
    "walkdogs": "walkdog",
    "walk": "walking",
    "walkingtogether": "walktogether",
}

_CAMERA_SUFFIX = re.compile(r"\.\d+$")
_TAKE_SUFFIX = re.compile(r"[\s_\-]*\d+$")
_LEADING_NAME = re.compile(r"[^\d_]+")  # a name up to its first digit or underscore


def canonical_action(name: str) -> str:
    """Canonical action name: lower-cased, camera suffix (``.54138969``) and take suffix (``_1``,
    `` 2``) removed, separators dropped, aliases mapped to the 15 names of :data:`H36M_ACTIONS`.

    ``"walking_1"`` → ``"walking"``, ``"WalkDog 1"`` → ``"walkdog"``, ``"TakingPhoto"`` →
    ``"photo"``, ``"walkingtogether_2"`` → ``"walktogether"``. Names outside Human3.6M (e.g. the
    DeepMimic clips) are only lower-cased, take-stripped and spaces turned into ``_``:
    ``"Backflip"`` → ``"backflip"``, ``"humanoid3d_walk"`` stays; ``"walk"`` maps to ``"walking"``.
    """
    s = str(name).strip()
    stripped = _TAKE_SUFFIX.sub("", _CAMERA_SUFFIX.sub("", s))
    s = (stripped if stripped else s).lower()
    key = re.sub(r"[\s_\-]+", "", s)
    if key in H36M_ACTIONS or key in ACTION_ALIASES:
        return ACTION_ALIASES.get(key, key)
    return re.sub(r"\s+", "_", s) if s else "unknown"


def action_label(action: str) -> str:
    """Short column label: the paper's abbreviation for the 15 H36M actions, else the name."""
    return H36M_ACTIONS.get(action, action)


def order_actions(actions: Iterable[str]) -> list[str]:
    """H36M actions in the paper's order first, then any others sorted."""
    actions = set(actions)
    known = [a for a in H36M_ACTIONS if a in actions]
    return known + sorted(actions - set(H36M_ACTIONS))


# ----------------------------------------------------------------------------- aggregation

#: Per-frame error arrays the aggregation pools, with their table unit (all × 1000 from metres).
METRIC_KEYS = ("mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "mpjve_mm_s", "accel_mm_s2")


@dataclass(frozen=True)
class ActionStats:
    """Pooled errors of one action (or an average). Lengths in mm; NaN where not defined
    (MPJVE needs sequences of ≥ 2 frames, acceleration ≥ 3).

    Attributes:
        frames: number of frames pooled.
        mpjpe_mm: Protocol #1, mm.
        p_mpjpe_mm: Protocol #2, mm.
        n_mpjpe_mm: scale-normalised MPJPE, mm.
        mpjve_mm_s: velocity error, mm/s.
        accel_mm_s2: acceleration error, mm/s².
    """

    frames: int
    mpjpe_mm: float
    p_mpjpe_mm: float
    n_mpjpe_mm: float
    mpjve_mm_s: float
    accel_mm_s2: float

    def to_dict(self) -> dict:
        """Plain dict with NaN written as ``None`` (valid JSON)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> ActionStats:
        vals = {k: (math.nan if d.get(k) is None else float(d[k])) for k in METRIC_KEYS}
        return cls(frames=int(d.get("frames", 0)), **vals)


@dataclass(frozen=True)
class ActionTable:
    """Errors per action plus the two averages.

    Attributes:
        per_action: canonical action → pooled stats, in :func:`order_actions` order.
        action_weighted: unweighted mean over actions of each metric (the papers' "Avg.");
            ``frames`` is the total.
        frame_weighted: every frame (frame pair, triple) of every action pooled.
    """

    per_action: dict[str, ActionStats] = field(default_factory=dict)
    action_weighted: ActionStats | None = None
    frame_weighted: ActionStats | None = None

    @property
    def actions(self) -> list[str]:
        return list(self.per_action)

    def to_dict(self) -> dict:
        """``{"action_weighted": {...}, "frame_weighted": {...}, "per_action": {a: {...}}}``."""
        return {
            "action_weighted": self.action_weighted.to_dict() if self.action_weighted else None,
            "frame_weighted": self.frame_weighted.to_dict() if self.frame_weighted else None,
            "per_action": {a: s.to_dict() for a, s in self.per_action.items()},
        }


def _mean(parts: list[np.ndarray]) -> tuple[float, int]:
    n = sum(len(p) for p in parts)
    if n == 0:
        return math.nan, 0
    return float(sum(float(np.sum(p, dtype=np.float64)) for p in parts) / n), n


def aggregate_actions(
    records: Iterable[tuple[str, Mapping[str, np.ndarray]]], canonical: bool = True
) -> ActionTable:
    """Pool per-frame errors by action and average them.

    Args:
        records: ``(action, errors)`` pairs, one per sequence; ``errors`` maps each key of
            :data:`METRIC_KEYS` to a 1-D array of that sequence's per-frame errors in the table
            unit (``mpjve_mm_s`` has F-1 entries, ``accel_mm_s2`` F-2). Action names are
            canonicalised with :func:`canonical_action`.
        canonical: False: the action names are used as given.

    Returns:
        The :class:`ActionTable`; ``frames`` counts the entries of ``mpjpe_mm``.
    """
    pooled: dict[str, dict[str, list[np.ndarray]]] = {}
    for action, errs in records:
        missing = [k for k in METRIC_KEYS if k not in errs]
        if missing:
            raise D3PRError(f"errors for action '{action}' lack {', '.join(missing)}")
        name = canonical_action(action) if canonical else str(action)
        bucket = pooled.setdefault(name, {k: [] for k in METRIC_KEYS})
        for k in METRIC_KEYS:
            bucket[k].append(np.asarray(errs[k], dtype=np.float64).reshape(-1))
    if not pooled:
        raise D3PRError("no sequences to evaluate")
    per_action = {}
    for a in order_actions(pooled):
        vals = {k: _mean(pooled[a][k])[0] for k in METRIC_KEYS}
        per_action[a] = ActionStats(frames=_mean(pooled[a]["mpjpe_mm"])[1], **vals)
    total = sum(s.frames for s in per_action.values())
    aw = {}
    for k in METRIC_KEYS:
        vals = [getattr(s, k) for s in per_action.values() if not math.isnan(getattr(s, k))]
        aw[k] = float(np.mean(vals)) if vals else math.nan
    fw = {k: _mean([p for a in pooled for p in pooled[a][k]])[0] for k in METRIC_KEYS}
    return ActionTable(
        per_action=per_action,
        action_weighted=ActionStats(frames=total, **aw),
        frame_weighted=ActionStats(frames=total, **fw),
    )


def sequence_errors(pred, gt, fps: float) -> dict[str, np.ndarray]:
    """Per-frame errors of one sequence, in the table units.

    Both poses are made root-relative first (joint 0 subtracted), as Protocol #1 prescribes.

    Args:
        pred: ``(F, J, 3)`` estimate, metres.
        gt: ``(F, J, 3)`` ground truth, metres.
        fps: frame rate of the sequence.

    Returns:
        ``{"mpjpe_mm": (F,), "p_mpjpe_mm": (F,), "n_mpjpe_mm": (F,), "mpjve_mm_s": (F-1,),
        "accel_mm_s2": (F-2,)}`` (empty arrays where the sequence is too short).
    """
    pred, gt = _as_tensors(pred, gt)
    if pred.dim() != 3:
        raise D3PRError(f"expected a sequence of shape (F, J, 3), got {tuple(pred.shape)}")
    pred = align_root(pred, "root").double()
    gt = align_root(gt, "root").double()
    F = pred.shape[0]
    out = {
        "mpjpe_mm": mpjpe(pred, gt) * 1000,
        "p_mpjpe_mm": p_mpjpe(pred, gt) * 1000,
        "n_mpjpe_mm": n_mpjpe(pred, gt) * 1000,
        "mpjve_mm_s": mpjve(pred, gt, fps) * 1000 if F >= 2 else torch.zeros(0),
        "accel_mm_s2": accel_error(pred, gt, fps) * 1000 if F >= 3 else torch.zeros(0),
    }
    return {k: v.numpy().astype(np.float64) for k, v in out.items()}


def compile_action_pattern(pattern: str | re.Pattern | None) -> re.Pattern | None:
    """``pattern`` compiled (None stays None); a one-line error for a bad regular expression."""
    if pattern is None or isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise D3PRError(f"action pattern {pattern!r}: not a regular expression ({exc})") from None


def action_group(name: str, pattern: str | re.Pattern | None = None) -> str:
    """The action a sequence named ``name`` is counted under in the per-action tables.

    With ``pattern`` (a regular expression searched in the name), its first group — or the whole
    match when it has no group — is the action, as it is written; names it does not match are
    grouped as by default. By default, Human3.6M actions are named as
    :func:`~d3prefiner.metrics.canonical_action` names them (``"Walking 1"`` → ``"walking"``,
    ``"walkingdog_2"`` → ``"walkdog"``: the tables of before) and any other name by its part
    before the first digit or underscore, canonicalised likewise (``"box_1_chunk0_train"`` →
    ``"box"``, ``"Jumping 2"`` → ``"jumping"``, ``"dance_a"`` → ``"dance"``); a name that starts
    with a digit or underscore keeps its canonical form.
    """
    s = str(name).strip()
    regex = compile_action_pattern(pattern)
    m = regex.search(s) if regex is not None else None
    if m is not None:
        got = m.group(1) if regex.groups and m.group(1) is not None else m.group(0)
        if got.strip():
            return got.strip()
    canon = canonical_action(s)
    if canon in H36M_ACTIONS:
        return canon
    head = _LEADING_NAME.match(s)
    head = head.group(0).strip(" -.") if head else ""
    return canonical_action(head) if head else canon


def evaluate_predictions(preds, action_pattern: str | re.Pattern | None = None) -> ActionTable:
    """Per-action errors of a :class:`d3prefiner.predictions.Predictions` against its ``gt3d``,
    sequences grouped by :func:`action_group` (``action_pattern``: how names become actions).

    Args:
        preds: predictions with ground truth (``pred3d`` and ``gt3d`` ``(F, 17, 3)`` metres per
            sequence).
        action_pattern: a regular expression for :func:`action_group`; None: the default names.

    Returns:
        The :class:`ActionTable` in mm, mm/s and mm/s² (MPJVE and acceleration use each
        sequence's own fps).

    Raises:
        D3PRError: if a sequence has no ground truth or there are no sequences.
    """
    regex = compile_action_pattern(action_pattern)
    records = []
    for s in preds:
        if s.gt3d is None:
            raise D3PRError(f"sequence {s.subject}/{s.action}/{s.camera} has no gt3d to evaluate")
        records.append((action_group(s.action, regex), sequence_errors(s.pred3d, s.gt3d, s.fps)))
    return aggregate_actions(records, canonical=False)

"""Baselines a refiner must beat: temporal smoothing filters, training-free geometry (reprojection
onto the 2D, median bone lengths) and the closed-form CND refiner.

Every filter takes one sequence ``(F, 17, 3)`` in metres (numpy), smooths each joint coordinate
along time *relative to the root* and puts the root trajectory back unchanged, so a root-relative
input (root = 0, the library's convention) stays root-relative.

=================  ==========================================================================
name               filter
=================  ==========================================================================
``savgol``         Savitzky–Golay, window 31, order 2 (``scipy.signal.savgol_filter``, mode
                   ``interp``); the window is shrunk to the largest odd length ≤ F for short
                   sequences and the order kept below the window.
``one_euro``       One-Euro filter (Casiez et al. 2012), min_cutoff 0.04 Hz, beta 0.7 (s/m),
                   d_cutoff 1.0 Hz, at the sequence's fps; causal, per coordinate.
``gaussian``       Gaussian smoothing, σ = 3 frames (``scipy.ndimage.gaussian_filter1d``, mode
                   ``nearest``).
``adaptive``       Gaussian smoothing with σ (0 to 6 frames) chosen per joint coordinate and
                   sequence by Stein's unbiased risk estimate (:func:`adaptive`): smooths slow
                   motion, keeps fast motion.
``cnd_closed_form``  ``x_noisy − μ_{e|[y, x_noisy]}`` from a fitted conditional noise model
                   (``PoseNoiseModel.closed_form_refine(pose2d, pred3d)``); needs that model.
=================  ==========================================================================

Geometric baselines (:data:`GEOMETRIC`, :func:`register_geometric`; training-free, from
:mod:`d3prefiner.geometry`) read each sequence's estimate, its own 2D input and its camera, never
ground truth:

=====================  ======================================================================
name                   what it does
=====================  ======================================================================
``reproject``          the root translation of each frame fitted by linear least squares so
                       that the pose projects onto its (undistorted) 2D, then each joint's x, y
                       taken from its 2D ray at its own estimated depth (depth kept)
``bones``              each bone rescaled to its median length over the sequence, directions
                       kept, from the root outwards
``bones+reproject``    ``bones``, then ``reproject``
=====================  ======================================================================

They use each sequence's intrinsics from the predictions file when it has them, else
:data:`d3prefiner.geometry.DEFAULT_INTRINSICS` (normalised focal length 2.29, i.e. 1145 px at
1000 px wide, principal point at the centre, no distortion). They help when the 2D is accurate
and can make poses worse with noisy (detected) 2D.

Each filter is one :class:`Filter` entry of :data:`FILTERS` (:func:`register_filter`): its
function, default parameters, which parameters are in frames (scaled with the frame rate by
:func:`params_at_rate`), its label and settings in words for the report, and the parameters
:func:`choose_smoothing` tries. Adding a filter is one ``register_filter`` call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.signal import savgol_filter
from tqdm.auto import tqdm

from .errors import D3PRError, check_joints
from .geometry import (
    DEFAULT_FOCAL,
    DEFAULT_INTRINSICS,
    RAYS_SIGMA,
    bone_lengths,
    on_rays,
    reproject,
    set_bone_lengths,
    undistort,
)
from .predictions import Predictions, PredictionSequence

CND_BASELINE = "cnd_closed_form"
#: How a parameter given in frames follows the frame rate (:func:`params_at_rate`): ``"odd"`` the
#: nearest odd integer ≥ 1 (a window), ``"real"`` scaled as it is (a σ).
FRAME_SCALINGS = ("odd", "real")


@dataclass(frozen=True)
class Filter:
    """One temporal filter baseline: everything the evaluation, :func:`choose_smoothing`,
    :func:`params_at_rate` and the report need of it (:data:`FILTERS`).

    Attributes:
        name: the registry key (a method name in the results).
        fn: ``fn(x (F, J, 3) metres, fps, **params) -> (F, J, 3)``.
        defaults: its default parameters, the settings of the evaluation's baseline.
        in_frames: the parameters given in frames → how they follow the frame rate
            (:data:`FRAME_SCALINGS`); the others (seconds, Hz) stay as they are.
        label: the report's name for it.
        settings: the report's description of its settings: a format string over its
            parameters, where ``{<p>_s}`` after a parameter in frames gives its duration.
        candidates: the parameter sets :func:`choose_smoothing` tries (``{}``: the defaults).
        adapts: whether it sets how much it smooths from each sequence itself (preferred by
            :func:`choose_smoothing` on a tie).
    """

    name: str
    fn: Callable[..., np.ndarray]
    defaults: Mapping[str, float] = field(default_factory=dict)
    in_frames: Mapping[str, str] = field(default_factory=dict)
    label: str = ""
    settings: str = ""
    candidates: tuple[Mapping[str, float], ...] = ()
    adapts: bool = False

    def __post_init__(self):
        if self.name == CND_BASELINE:
            raise D3PRError(f"{self.name!r} is reserved for the closed-form CND refiner")
        bad = {k: v for k, v in self.in_frames.items() if v not in FRAME_SCALINGS}
        if bad:
            raise D3PRError(f"filter {self.name!r}: in_frames must map to {FRAME_SCALINGS}: {bad}")
        for params in (self.in_frames, *self.candidates):
            self.check_params(params)

    def check_params(self, params: Mapping) -> None:
        """Refuse parameters the filter does not take."""
        unknown = [k for k in params if k not in self.defaults]
        if unknown and not self.defaults:
            raise D3PRError(f"filter '{self.name}' takes no parameters, got {', '.join(unknown)}")
        if unknown:
            raise D3PRError(
                f"filter '{self.name}' takes {', '.join(self.defaults)}, got {', '.join(unknown)}"
            )

    def __call__(self, x: np.ndarray, fps: float, **params) -> np.ndarray:
        """``x (F, J, 3)`` metres filtered with ``params`` (the defaults for the others)."""
        self.check_params(params)
        return self.fn(x, fps, **{**self.defaults, **params})

    def describe(self, params: Mapping | None = None, seconds=lambda frames: "") -> str:
        """Its settings in words (``params``: the defaults); ``seconds(frames)`` words a length
        in frames as a duration (e.g. ``", 1.24 s at 25 fps"``)."""
        p = {**self.defaults, **(params or {})}
        if not self.settings:
            return "its registered defaults (d3prefiner.baselines)"
        return self.settings.format(**p, **{f"{k}_s": seconds(p[k]) for k in self.in_frames})


#: The registry of temporal filters, name → :class:`Filter` (:func:`register_filter`; the
#: closed-form CND refiner is added to the baselines when a noise model is given).
FILTERS: dict[str, Filter] = {}


def register_filter(name: str, fn: Callable[..., np.ndarray], **entry) -> Filter:
    """Add a temporal filter baseline: ``fn(x (F, J, 3) metres, fps, **params) -> (F, J, 3)``;
    ``entry``: the other fields of its :class:`Filter` (defaults, in_frames, label, settings,
    candidates, adapts)."""
    if name in GEOMETRIC:
        raise D3PRError(f"{name!r} is already a geometric baseline's name")
    FILTERS[name] = Filter(name, fn, **entry)
    return FILTERS[name]


@dataclass(frozen=True)
class Geometric:
    """One training-free geometric baseline (:data:`GEOMETRIC`).

    Attributes:
        name: the registry key (a method name in the results).
        fn: ``fn(seq) -> (F, J, 3)`` metres from one :class:`PredictionSequence`: it may read
            ``pred3d``, ``pose2d``, ``intrinsics`` and ``fps``, never ``gt3d``. A step that sets
            bone lengths (``uses_bones``) is called ``fn(seq, lengths)``, where ``lengths`` maps
            the sequence's own median bone lengths ``(J − 1,)`` to those it uses (None: its own).
        label: the report's name for it.
        settings: the report's description of what it does.
        uses_camera: whether it reads the sequence's intrinsics (the report then says which).
        uses_bones: whether it sets the bones to lengths measured on the sequence.
        own_bones: for a step that ``uses_bones``, ``own_bones(seq) -> (J − 1,)``: the
            sequence's own median lengths it measures (:func:`estimate_bones`, the default,
            or :func:`reprojected_bones`), so that a caller can pool them over sequences.
    """

    name: str
    fn: Callable[..., np.ndarray]
    label: str = ""
    settings: str = ""
    uses_camera: bool = True
    uses_bones: bool = False
    own_bones: Callable[[PredictionSequence], np.ndarray] | None = None

    def __post_init__(self):
        if self.name == CND_BASELINE or self.name in FILTERS:
            raise D3PRError(f"{self.name!r} is already a baseline's name")
        if self.uses_bones and self.own_bones is None:
            object.__setattr__(self, "own_bones", estimate_bones)

    def __call__(self, seq: PredictionSequence, lengths: BoneLengths | None = None) -> np.ndarray:
        """The baseline's ``(F, J, 3)`` float32 output on one sequence; ``lengths``: how a step
        that ``uses_bones`` turns the sequence's own median bone lengths into those it sets
        (None: its own)."""
        out = self.fn(seq, lengths) if self.uses_bones else self.fn(seq)
        out = np.asarray(out, dtype=np.float32)
        if out.shape != seq.pred3d.shape:
            raise D3PRError(
                f"{self.name}: returned shape {out.shape} for sequence {seq.subject}/"
                f"{seq.action}/{seq.camera}, expected {seq.pred3d.shape}"
            )
        return out

    def describe(self, with_camera: int | None = None, sequences: int | None = None) -> str:
        """What it does in words, and which cameras it used: ``with_camera`` of ``sequences``
        had intrinsics in the file (None: not recorded)."""
        text = self.settings or "its registered defaults (d3prefiner.baselines)"
        return f"{text}; {camera_note(with_camera, sequences)}" if self.uses_camera else text


#: The registry of geometric baselines, name → :class:`Geometric` (:func:`register_geometric`).
GEOMETRIC: dict[str, Geometric] = {}
#: How a geometric step's bone lengths come from the sequence's own medians ``(J − 1,)``, metres.
BoneLengths = Callable[[np.ndarray], np.ndarray]


def register_geometric(
    name: str, fn: Callable[[PredictionSequence], np.ndarray], **entry
) -> Geometric:
    """Add a geometric baseline: ``fn(seq: PredictionSequence) -> (F, J, 3)`` metres, reading
    the estimate, its 2D and its camera only; ``entry``: ``label``, ``settings``,
    ``uses_camera``, ``uses_bones`` (then ``fn(seq, lengths)``, :class:`Geometric`)."""
    GEOMETRIC[name] = Geometric(name, fn, **entry)
    return GEOMETRIC[name]


def camera_note(with_camera: int | None, sequences: int | None) -> str:
    """Which camera the geometric baselines used, in words."""
    default = (
        f"the default focal length {DEFAULT_FOCAL:g} (normalised: {DEFAULT_FOCAL / 2 * 1000:g} px "
        "at 1000 px wide; principal point at the image centre, no distortion)"
    )
    if with_camera is None or sequences is None:
        return f"each sequence's camera from the predictions file when it has one, else {default}"
    if with_camera == sequences:
        return f"each sequence's camera from the predictions file (all {sequences} sequences)"
    if with_camera == 0:
        return f"no sequence has a camera in the predictions file: {default}"
    return (
        f"each sequence's camera from the predictions file ({with_camera} of {sequences} "
        f"sequences), else {default}"
    )


def sequence_camera(seq: PredictionSequence):
    """The intrinsics a geometric baseline uses for ``seq``: its own, else the default."""
    return seq.intrinsics if seq.intrinsics is not None else DEFAULT_INTRINSICS


def estimate_bones(seq: PredictionSequence) -> np.ndarray:
    """The median length of each bone of one sequence's estimate over the sequence ``(J − 1,)``
    (what ``bones`` and ``bones+reproject`` set)."""
    return np.median(bone_lengths(seq.pred3d), axis=0)


def reprojected_bones(seq: PredictionSequence) -> np.ndarray:
    """The median length of each bone of one sequence's estimate after :func:`reproject_sequence`
    ``(J − 1,)`` (what ``rays`` sets)."""
    cam = sequence_camera(seq)
    return np.median(bone_lengths(reproject(seq.pred3d, undistort(seq.pose2d, cam), cam)), axis=0)


def bones_sequence(seq: PredictionSequence, lengths: BoneLengths | None = None) -> np.ndarray:
    """Each bone of one sequence's estimate at its median length over the sequence
    (:func:`estimate_bones`), or at ``lengths(medians)``. ``(F, 17, 3)``."""
    own = estimate_bones(seq)  # (J - 1,)
    return set_bone_lengths(seq.pred3d, own if lengths is None else lengths(own))


def reproject_sequence(
    seq: PredictionSequence, bones: bool = False, lengths: BoneLengths | None = None
) -> np.ndarray:
    """:func:`d3prefiner.geometry.reproject` of one sequence's estimate onto its undistorted 2D
    with its camera (:func:`sequence_camera`); ``bones``: :func:`bones_sequence` first (with
    ``lengths``). ``(F, 17, 3)`` float32, root kept."""
    cam = sequence_camera(seq)
    x = bones_sequence(seq, lengths) if bones else seq.pred3d
    return reproject(x, undistort(seq.pose2d, cam), cam).astype(np.float32)


def rays_sequence(
    seq: PredictionSequence, sigma: float = RAYS_SIGMA, lengths: BoneLengths | None = None
) -> np.ndarray:
    """:func:`d3prefiner.geometry.on_rays` of one sequence's estimate with its undistorted 2D and
    camera (:func:`sequence_camera`), the two depths of a joint weighed with spread ``sigma``
    (0: the nearer); the bones at the medians of the reprojected estimate, or at
    ``lengths(medians)``. ``(F, 17, 3)`` float32, root kept."""
    cam = sequence_camera(seq)
    own = reprojected_bones(seq)  # (J - 1,)
    own = own if lengths is None else lengths(own)
    y = undistort(seq.pose2d, cam)
    return on_rays(seq.pred3d, y, cam, lengths=own, sigma=sigma).astype(np.float32)


def focal_sensitivity(
    preds: Predictions, factors=(0.85, 1.0, 1.15), bones: bool = False
) -> dict[float | str, float]:
    """How much ``reproject`` (``bones``: ``bones+reproject``) depends on the focal length:
    :func:`d3prefiner.geometry.focal_sensitivity` over the sequences of ``preds`` (which need
    ``gt3d``, for the score only), each with its camera or the default. ``{"base": mm, factor:
    mm}``, root-relative MPJPE over all frames."""
    from .geometry import focal_sensitivity as sensitivity

    if len(preds) == 0 or not preds.has_gt:
        raise D3PRError("the focal-length sensitivity needs predictions with gt3d")
    seqs = preds.sequences
    return sensitivity(
        [s.pred3d for s in seqs],
        [s.pose2d for s in seqs],
        [s.gt3d for s in seqs],
        [s.intrinsics for s in seqs],
        factors,
        bones,
    )


def baseline_names() -> tuple[str, ...]:
    """Every baseline name: the registered filters, the geometric baselines and the closed-form
    CND."""
    return (*FILTERS, *GEOMETRIC, CND_BASELINE)


def _relative(x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise D3PRError(f"{name}: expected a sequence of shape (F, J, 3), got {x.shape}")
    check_joints(x, x.shape[1], 3, name)
    if len(x) == 0:
        raise D3PRError(f"{name}: empty sequence")
    root = x[:, :1]  # (F, 1, 3)
    return x - root, root


def savgol(x: np.ndarray, window: int = 31, order: int = 2) -> np.ndarray:
    """Savitzky–Golay smoothing along time.

    Args:
        x: ``(F, J, 3)`` poses, metres.
        window: odd window length in frames; shrunk to the largest odd length ≤ F.
        order: polynomial order; lowered to ``window − 1`` if the window had to shrink below it.

    Returns:
        ``(F, J, 3)`` float32, root trajectory unchanged.
    """
    if window < 1 or order < 0:
        raise D3PRError(f"savgol: window must be ≥ 1 and order ≥ 0, got {window}, {order}")
    rel, root = _relative(x, "savgol input")
    F = len(rel)
    w = min(window, F)
    if w % 2 == 0:
        w -= 1
    p = min(order, w - 1)
    out = rel if w <= 1 else savgol_filter(rel, w, p, axis=0, mode="interp")
    return (out + root).astype(np.float32)


def gaussian(x: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """Gaussian smoothing along time, σ in frames, edges extended (``mode="nearest"``).

    Args:
        x: ``(F, J, 3)`` poses, metres.
        sigma: standard deviation of the kernel, frames (> 0).

    Returns:
        ``(F, J, 3)`` float32, root trajectory unchanged.
    """
    if not sigma > 0:
        raise D3PRError(f"gaussian: sigma must be > 0, got {sigma}")
    rel, root = _relative(x, "gaussian input")
    out = gaussian_filter1d(rel, sigma=sigma, axis=0, mode="nearest")
    return (out + root).astype(np.float32)


#: How many σ the adaptive filter tries (each 1/√2 of the one before), the order of the
#: differences it reads the noise from, and a Gaussian's σ over its median absolute deviation.
ADAPTIVE_STEPS, ADAPTIVE_ORDER, MAD_TO_SD = 7, 4, 1.4826


def _kernel_centre(sigma: float) -> float:
    """The weight a Gaussian of ``sigma`` frames gives its own frame, as
    ``scipy.ndimage.gaussian_filter1d`` builds it (radius 4σ, normalised): the diagonal of the
    smoothing matrix away from the edges."""
    r = int(4.0 * sigma + 0.5)
    return 1.0 / float(np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).sum())


def adaptive(x: np.ndarray, noise: float = 16.0, max_sigma: float = 6.0) -> np.ndarray:
    """Gaussian smoothing whose σ is chosen for each joint coordinate of each sequence by
    Stein's unbiased risk estimate (SURE), so that slow motion is smoothed and fast motion kept.

    For each root-relative coordinate ``x`` of ``F`` frames and each σ of ``0`` and
    ``max_sigma · 2^(−k/2)`` (``k <`` :data:`ADAPTIVE_STEPS`), the risk of ``y = G_σ x`` is
    estimated as ``|x − y|² + 2 s² tr(G_σ) − F s²`` and the σ of least risk is kept. ``s²``, the
    variance of the estimate's frame-to-frame noise, is ``noise`` times the white-noise variance
    that the fourth differences show (their median absolute deviation, which smooth motion and
    sparse accelerations hardly reach: ``(1.4826 · MAD)² / 70``). An estimator's errors are
    correlated in time, so the differences see only part of them and ``noise`` is more than 1;
    it is chosen on validation. No ground truth is read; each sequence is filtered on its own.

    Args:
        x: ``(F, J, 3)`` poses, metres.
        noise: the factor on the differences' white-noise variance (> 0).
        max_sigma: the largest σ tried, frames (> 0).

    Returns:
        ``(F, J, 3)`` float32, root trajectory unchanged (a sequence under 5 frames unchanged).
    """
    if not (noise > 0 and max_sigma > 0):
        raise D3PRError(f"adaptive: noise and max_sigma must be > 0, got {noise}, {max_sigma}")
    rel, root = _relative(x, "adaptive input")
    F = len(rel)
    if F <= ADAPTIVE_ORDER:
        return (rel + root).astype(np.float32)
    d = np.diff(rel, n=ADAPTIVE_ORDER, axis=0)  # (F - 4, J, 3)
    mad = np.median(np.abs(d - np.median(d, axis=0)), axis=0)  # (J, 3)
    s2 = noise * (MAD_TO_SD * mad) ** 2 / math.comb(2 * ADAPTIVE_ORDER, ADAPTIVE_ORDER)
    best, out = F * s2, rel.copy()  # σ = 0: the risk of the input itself, 2F·s² − F·s²
    for k in range(ADAPTIVE_STEPS):
        sigma = max_sigma * 2.0 ** (-k / 2)
        y = gaussian_filter1d(rel, sigma=sigma, axis=0, mode="nearest")
        risk = ((rel - y) ** 2).sum(axis=0) + (2.0 * _kernel_centre(sigma) - 1.0) * F * s2
        keep = risk < best  # (J, 3)
        best = np.where(keep, risk, best)
        out = np.where(keep[None], y, out)
    return (out + root).astype(np.float32)


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(
    x: np.ndarray,
    fps: float,
    min_cutoff: float = 0.04,
    beta: float = 0.7,
    d_cutoff: float = 1.0,
) -> np.ndarray:
    """One-Euro filter (Casiez, Roussel & Vogel 2012), applied to every coordinate separately.

    Per frame: the speed ``dx`` (unit/s) is low-passed at ``d_cutoff``; the signal is then
    low-passed with the adaptive cutoff ``min_cutoff + beta·|dx̂|`` (Hz). Causal (no look-ahead).

    Args:
        x: ``(F, J, 3)`` poses, metres (so ``beta`` is in s/m).
        fps: frame rate of the sequence, Hz.
        min_cutoff: cutoff at zero speed, Hz.
        beta: speed coefficient.
        d_cutoff: cutoff for the speed estimate, Hz.

    Returns:
        ``(F, J, 3)`` float32, root trajectory unchanged.
    """
    if not (fps > 0 and min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
        raise D3PRError(
            f"one_euro: need fps, min_cutoff, d_cutoff > 0 and beta ≥ 0, got "
            f"{fps}, {min_cutoff}, {d_cutoff}, {beta}"
        )
    rel, root = _relative(x, "one_euro input")
    dt = 1.0 / fps
    a_d = _alpha(d_cutoff, dt)
    out = np.empty_like(rel)
    prev = rel[0].copy()  # (J, 3)
    dprev = np.zeros_like(prev)
    out[0] = prev
    for t in range(1, len(rel)):
        dx = (rel[t] - prev) / dt
        dprev = a_d * dx + (1.0 - a_d) * dprev
        a = _alpha(min_cutoff + beta * np.abs(dprev), dt)
        prev = a * rel[t] + (1.0 - a) * prev
        out[t] = prev
    return (out + root).astype(np.float32)


def smooth_sequence(name: str, x: np.ndarray, fps: float) -> np.ndarray:
    """Apply the filter ``name`` (one of :data:`FILTERS`) with its default settings.

    ``(F, J, 3)`` → ``(F, J, 3)`` float32.
    """
    return get_filter(name)(x, fps)


def get_filter(name: str) -> Filter:
    """The registry entry of filter ``name``; a one-line error naming the others."""
    if name not in FILTERS:
        raise D3PRError(f"unknown filter '{name}' (choose from {', '.join(FILTERS)})")
    return FILTERS[name]


register_filter(
    "savgol",
    lambda x, fps, **p: savgol(x, **p),
    defaults={"window": 31, "order": 2},
    in_frames={"window": "odd"},
    label="Savitzky–Golay filter",
    settings="window {window} frames{window_s}, polynomial order {order} (scipy "
    "`savgol_filter`, mode `interp`; a shorter sequence uses the largest odd window that fits)",
    candidates=tuple({"window": w} for w in (5, 9, 15, 31)),
)
register_filter(
    "one_euro",
    one_euro,
    defaults={"min_cutoff": 0.04, "beta": 0.7, "d_cutoff": 1.0},
    label="One-Euro filter",
    settings="min_cutoff {min_cutoff:g} Hz, beta {beta:g} s/m, d_cutoff {d_cutoff:g} Hz, at "
    "each sequence's frame rate; causal, per coordinate",
    candidates=({},),
)
register_filter(
    "gaussian",
    lambda x, fps, **p: gaussian(x, **p),
    defaults={"sigma": 3.0},
    in_frames={"sigma": "real"},
    label="Gaussian filter",
    settings="σ = {sigma:g} frames{sigma_s} (scipy `gaussian_filter1d`, edges extended)",
    candidates=tuple({"sigma": s} for s in (1.0, 2.0, 3.0, 5.0)),
)
register_filter(
    "adaptive",
    lambda x, fps, **p: adaptive(x, **p),
    defaults={"noise": 16.0, "max_sigma": 6.0},
    in_frames={"max_sigma": "real"},
    label="Adaptive Gaussian filter",
    settings="σ from 0 to {max_sigma:g} frames{max_sigma_s}, chosen per joint coordinate and "
    "sequence by Stein's unbiased risk estimate, the noise {noise:g} × the white-noise variance "
    "of the fourth differences (slow motion smoothed, fast motion kept)",
    candidates=tuple({"noise": n} for n in (4.0, 8.0, 16.0, 32.0)),
    adapts=True,
)
_REPROJECT = (
    "the root translation of each frame fitted by linear least squares so that the pose "
    "projects onto its own 2D input (pinhole, the 2D undistorted where the camera's distortion "
    "is known), then each joint's x, y taken from its 2D ray at its own estimated depth (depth "
    "kept); no ground truth"
)
_BONES = (
    "each bone rescaled to its median length over the sequence, directions kept, from the root "
    "outwards"
)
register_geometric(
    "reproject",
    reproject_sequence,
    label="Reprojection onto the 2D",
    settings=_REPROJECT,
)
register_geometric(
    "bones",
    bones_sequence,
    label="Median bone lengths",
    settings=_BONES,
    uses_camera=False,
    uses_bones=True,
)
register_geometric(
    "bones+reproject",
    lambda seq, lengths: reproject_sequence(seq, bones=True, lengths=lengths),
    label="Median bone lengths, then reprojection",
    settings=f"{_BONES}; then {_REPROJECT}",
    uses_bones=True,
)
_RAYS = (
    "each joint on its own 2D ray at its bone's length from its parent (from the root outwards; "
    "the bone lengths are the sequence's medians after reprojection, the root fitted as in "
    "reprojection), "
)
register_geometric(
    "rays",
    lambda seq, lengths: rays_sequence(seq, lengths=lengths),
    own_bones=reprojected_bones,
    label="Bones on the 2D rays",
    settings=_RAYS + "the two depths a joint can have (in front of or behind its parent) weighed "
    f"by how near each is to the estimate's (a Gaussian of spread {100 * RAYS_SIGMA:g} cm); no "
    "ground truth",
    uses_bones=True,
)
register_geometric(
    "rays-nearest",
    lambda seq, lengths: rays_sequence(seq, sigma=0.0, lengths=lengths),
    own_bones=reprojected_bones,
    label="Bones on the 2D rays, nearer depth",
    settings=_RAYS + "of the two depths a joint can have the one nearer the estimate's; no "
    "ground truth",
    uses_bones=True,
)
#: The baselines evaluated by default: the filters and the geometric baselines (the closed-form
#: CND joins them when a noise model is given).
DEFAULT_BASELINES = (*FILTERS, *GEOMETRIC)

# ----------------------------------------------------------- a filter chosen on validation

#: Relative MPJPE gain a filter needs over no filter to be chosen (guards against noise).
SMOOTHING_MIN_GAIN = 0.005
#: Filters whose MPJPE is within this (relative) of the lowest are a tie on validation, won by a
#: filter that adapts to each sequence (:attr:`Filter.adapts`).
SMOOTHING_TIE = 0.005


def smoothing_candidates() -> tuple[tuple[str, dict], ...]:
    """The filter settings :func:`choose_smoothing` tries beside no filter, ``(name, params)``:
    every registered filter's :attr:`Filter.candidates`, in registry order."""
    return tuple((n, dict(p)) for n, f in FILTERS.items() for p in f.candidates)


def smoothing_label(choice: dict) -> str:
    """``{"filter": "savgol", "window": 9}`` → ``"savgol(window=9)"``; ``"none"`` for none."""
    params = ", ".join(f"{k}={v:g}" for k, v in choice.items() if k != "filter")
    return f"{choice['filter']}({params})" if params else str(choice["filter"])


def params_at_rate(name: str, params: dict, fps: float, reference_fps: float | None) -> dict:
    """``params`` of filter ``name``, given in frames at ``reference_fps``, for a sequence at
    ``fps``: the same duration (Savitzky–Golay's window, the nearest odd length; the Gaussian's σ).
    One Euro works in seconds and is returned unchanged, as is everything when the rates agree
    or ``reference_fps`` is None. Which parameters are in frames: :attr:`Filter.in_frames`."""
    if reference_fps is None or not params or abs(fps / reference_fps - 1.0) <= 1e-6:
        return params
    ratio = fps / reference_fps
    out = dict(params)
    in_frames = FILTERS[name].in_frames if name in FILTERS else {}
    for k, how in in_frames.items():
        if k in out and how == "odd":
            out[k] = max(1, 2 * int(round((out[k] * ratio - 1) / 2)) + 1)
        elif k in out:
            out[k] = float(out[k]) * ratio
    return out


def smooth_predictions(
    preds: Predictions, choice: dict, reference_fps: float | None = None
) -> Predictions:
    """``preds`` with every ``pred3d (F, 17, 3)`` filtered as ``choice`` says:
    ``{"filter": name, **params}`` (``"none"``: unchanged; params: keyword arguments of
    :func:`savgol`, :func:`gaussian` or :func:`one_euro`). ``reference_fps``: the rate the params
    were chosen at (a refiner's training rate); sequences at another rate get them scaled to the
    same duration (:func:`params_at_rate`). The estimator gains ``+<label>``."""
    name = choice.get("filter")
    params = {k: v for k, v in choice.items() if k != "filter"}
    if name == "none":
        return preds
    if name not in FILTERS:
        raise D3PRError(f"unknown filter '{name}' (choose from none, {', '.join(FILTERS)})")
    f = FILTERS[name]
    f.check_params(params)
    out = [f(s.pred3d, s.fps, **params_at_rate(name, params, s.fps, reference_fps)) for s in preds]
    return preds.with_pred3d(out, estimator=f"{preds.estimator}+{smoothing_label(choice)}")


def choose_smoothing(
    preds: Predictions,
    candidates=None,
    min_gain: float = SMOOTHING_MIN_GAIN,
    tie: float = SMOOTHING_TIE,
) -> dict:
    """Choose a temporal filter (or none) on predictions with ground truth, e.g. a refiner's
    output on its validation subjects.

    The candidates, ``(name, params)`` pairs, are by default :func:`smoothing_candidates` (the
    registry's). Every candidate is scored by the root-relative MPJPE over all frames; a filter is
    applied only when the lowest lowers the MPJPE of no filter by more than ``min_gain``
    (relative), else ``none`` is kept. Which one: of the filters within ``tie`` (relative) of the
    lowest, which validation cannot tell apart, one that adapts to each sequence
    (:attr:`Filter.adapts`) is preferred, the lowest of those; a fixed one would smooth motion
    faster than the validation's as much.

    Returns:
        ``{"choice": {"filter": name, **params}, "label", "val_mpjpe_mm": {label: mm},
        "val_frames", "min_gain"}`` (JSON-ready).
    """
    from .metrics import frame_errors

    if len(preds) == 0 or not preds.has_gt:
        raise D3PRError("choosing a filter needs predictions with gt3d")
    gt = preds.concat("gt3d")  # (N, J, 3): the filters leave it as it is

    def mpjpe_mm(c: dict) -> float:
        return 1000 * float(frame_errors(smooth_predictions(preds, c), "root", gt).mean())

    def score(c: dict) -> float:
        return scores[smoothing_label(c)]

    if candidates is None:
        candidates = smoothing_candidates()
    choices = [{"filter": "none"}] + [{"filter": n, **p} for n, p in candidates]
    scores = {smoothing_label(c): mpjpe_mm(c) for c in choices}
    best = min(choices[1:], key=score, default=choices[0])
    if score(best) < (1 - min_gain) * scores["none"]:
        tied = [c for c in choices[1:] if score(c) <= (1 + tie) * score(best)]
        best = min([c for c in tied if FILTERS[c["filter"]].adapts] or tied, key=score)
    else:
        best = choices[0]
    return {
        "choice": best,
        "label": smoothing_label(best),
        "val_mpjpe_mm": scores,
        "val_frames": preds.num_frames,
        "min_gain": min_gain,
    }


def _closed_form(noise_model) -> Callable:
    from .noise import NoiseModel

    if not isinstance(noise_model, NoiseModel):
        raise D3PRError(
            f"baseline '{CND_BASELINE}': {type(noise_model).__name__} is not a noise model "
            "(d3prefiner.noise.NoiseModel)"
        )
    return noise_model.closed_form_refine


def _to_numpy(y) -> np.ndarray:
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    return np.asarray(y, dtype=np.float32)


def apply_baseline(
    name: str, preds: Predictions, noise_model=None, progress: bool = True
) -> Predictions:
    """Refine every sequence of ``preds`` with one baseline.

    Args:
        name: one of :func:`baseline_names`.
        preds: predictions; ``pred3d`` ``(F, 17, 3)`` metres, ``pose2d`` ``(F, 17, 2)`` per sequence
            (and its ``intrinsics``, which the geometric baselines use). No baseline reads
            ``gt3d``.
        noise_model: a fitted noise model with ``closed_form_refine(pose2d (B, T, 17, 2),
            pred3d (B, T, 17, 3)) -> (B, T, 17, 3)`` (torch; called on each whole sequence as
            B = 1, T = F), e.g. :class:`d3prefiner.noise.PoseNoiseModel`; required for
            ``cnd_closed_form``.
        progress: show a tqdm bar.

    Returns:
        A copy of ``preds`` whose ``pred3d`` is the baseline's output and whose estimator is
        ``name``.
    """
    if name not in baseline_names():
        raise D3PRError(f"unknown baseline '{name}' (choose from {', '.join(baseline_names())})")
    if name == CND_BASELINE:
        if noise_model is None:
            raise D3PRError(f"baseline '{CND_BASELINE}' needs a fitted noise model (--noise)")
        fn = _closed_form(noise_model)
    out = []
    for s in tqdm(preds.sequences, desc=name, unit="seq", disable=not progress, leave=False):
        if name == CND_BASELINE:
            # one sequence as a batch of one: (1, F, 17, 2), (1, F, 17, 3) → (1, F, 17, 3)
            y = fn(torch.from_numpy(s.pose2d)[None], torch.from_numpy(s.pred3d)[None])
            y = _to_numpy(y)
            y = y[0] if y.ndim == 4 and y.shape[0] == 1 else y
            if y.shape != s.pred3d.shape:
                raise D3PRError(
                    f"{CND_BASELINE}: returned shape {y.shape} for sequence "
                    f"{s.subject}/{s.action}/{s.camera}, expected {s.pred3d.shape}"
                )
        elif name in GEOMETRIC:
            y = GEOMETRIC[name](s)
        else:
            y = smooth_sequence(name, s.pred3d, s.fps)
        out.append(y)
    return preds.with_pred3d(out, estimator=name)

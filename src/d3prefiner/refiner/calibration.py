"""How a trained refiner is applied: the calibration record saved in its checkpoint, and the options
of one application.

A refiner's output is never taken as it is. Six choices shape what reaches the user:

* **strength** α: the share of the correction kept, ``x + α·(refined − x)`` (0 passes the input
  through, 1 is the network's own output);
* **correction part** (:data:`CORRECTIONS`): ``full``, or ``in-plane``, the correction's camera
  x, y components only (the input's depth is kept);
* **guard**: sequences whose 2D–3D disagreement is outside the training estimator's range
  (:mod:`~d3prefiner.refiner.guard`) get their correction shrunk (``shrink``), are only reported
  (``warn``), or are treated like the others (``off``);
* **geometric step**: a training-free step after the correction (:data:`GEOMETRIC_STEPS`, the
  geometric baselines of :mod:`d3prefiner.baselines`: the root fitted so the pose projects onto
  its 2D, each joint's x, y taken from its 2D ray, and/or bones at their sequence-median
  lengths), applied by default when it lowered the error on validation (it pays with exact 2D
  and costs with noisy 2D, so it is chosen, never assumed); a step that sets bone lengths may
  pull the sequence's medians toward the training bodies' (:class:`BonePrior`), and a step may
  apply a share of what it takes from the 2D, or each joint its own weights of several steps'
  moves (:data:`PER_JOINT`, :mod:`~d3prefiner.refiner.shares`);
* **smoothing**: a temporal filter after the correction and the geometric step, applied by default
  when one lowered the error on validation (``auto``; none for an estimator it does not know);
* **resampling**: sequences at another frame rate than the training one are refined at the
  training rate and the correction is interpolated back.

:class:`Calibration` is what a checkpoint records of them: the choices made on validation
predictions (strength, part, filter, with the scores of every candidate) and the training
estimator's guard range and frame rate. :class:`ApplyOptions` is what one call asks for; its
defaults are ``d3pr refine``'s. :meth:`d3prefiner.refiner.Refiner.apply` combines the two.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..errors import ArgumentError, D3PRError
from .guard import GUARD_MODES, GuardFlag, GuardRange, correction_weights, flag_sequences

#: The parts of a correction that can be applied.
CORRECTIONS = ("full", "in-plane")
#: Correction strengths α tried on validation.
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: The geometric steps after the correction (names of :data:`d3prefiner.baselines.GEOMETRIC`).
GEOMETRIC_STEPS = ("none", "reproject", "bones", "bones+reproject", "rays", "rays-nearest")
#: The calibrated step: per-joint weights of several steps' moves, fitted on validation
#: (:mod:`~d3prefiner.refiner.shares`); applied only by ``geometric="auto"``.
PER_JOINT = "per-joint"
#: Those that read no later frame (``reproject`` fits each frame on its own; ``bones`` takes
#: medians over the whole sequence).
CAUSAL_GEOMETRIC = ("none", "reproject")
#: Weights of a sequence's own median bone lengths tried on validation against the training
#: bodies' (:class:`BonePrior`); 1: the sequence's own alone.
BONE_WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)
#: Shares of the part of a geometric step that reads the 2D tried on validation
#: (:func:`geometric_step`); 1: the step as it is.
GEOMETRIC_SHARES = (1.0, 0.7, 0.5, 0.3, 0.2, 0.1)
#: The longest bone (metres) a prior accepts: longer ones are not a person's, or not in metres.
MAX_BONE_M = 2.5


def _a_persons(lengths) -> bool:
    """Whether every bone length (metres) is one a person can have: in (0, :data:`MAX_BONE_M`]."""
    return bool(np.all((np.asarray(lengths) > 0) & (np.asarray(lengths) <= MAX_BONE_M)))


@dataclass(frozen=True)
class BonePrior:
    """The bone lengths of the bodies a refiner was trained on, and how much a geometric step that
    sets bone lengths trusts a sequence's own: it sets each bone to ``weight·own + (1 −
    weight)·lengths_m``, ``own`` the sequence's median length of that bone as the step measures
    it. A sequence's medians inherit the estimator's bias toward an average body and its noise;
    the training bodies' lengths are a prior over people, so the weight is chosen on validation
    (:data:`BONE_WEIGHTS`; 1 = the sequence's own alone, the step as without a prior).

    Args:
        lengths_m: ``(J − 1,)`` metres, in the order of the skeleton's bones: the median over the
            training frames' ground truth (:meth:`of`).
        frames: how many frames they were measured on.
        weight: the weight of the sequence's own medians.
        pooled: a sequence's own medians are those of its body: the frame-weighted mean of the
            medians of every sequence of the file with its ``subject`` (the same person, so the
            same bones; :func:`sequence_lengths`).
    """

    lengths_m: tuple[float, ...]
    frames: int
    weight: float = 1.0
    pooled: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "lengths_m", tuple(float(v) for v in self.lengths_m))
        if not _a_persons(self.lengths_m) or not 0 <= self.weight <= 1:
            raise D3PRError(
                f"a bone prior needs lengths of 0-{MAX_BONE_M:g} m and a weight in [0, 1], got "
                f"{[round(v, 3) for v in self.lengths_m]} and {self.weight}"
            )

    @classmethod
    def of(cls, preds, every: int = 5) -> BonePrior | None:
        """The median bone lengths of the ground truth of ``preds`` (every ``every``-th frame of
        each sequence), weight 1; None for predictions without ``gt3d``, or whose bones are not
        a person's (a length outside 0–2.5 m)."""
        from ..geometry import bone_lengths

        if len(preds) == 0 or not preds.has_gt:
            return None
        lengths = np.concatenate([bone_lengths(s.gt3d[::every]) for s in preds])  # (N, J - 1)
        median = np.median(lengths, axis=0)
        return cls(tuple(median), len(lengths)) if _a_persons(median) else None

    def __call__(self, own: np.ndarray) -> np.ndarray:
        """The lengths a step sets, from the sequence's own medians ``own`` ``(J − 1,)``."""
        if len(own) != len(self.lengths_m):
            raise D3PRError(f"the bone prior has {len(self.lengths_m)} bones, the pose {len(own)}")
        return self.weight * own + (1.0 - self.weight) * np.asarray(self.lengths_m)

    def at(self, weight: float, pooled: bool | None = None) -> BonePrior:
        pooled = self.pooled if pooled is None else bool(pooled)
        return replace(self, weight=float(weight), pooled=pooled)

    def to_dict(self) -> dict:
        out = {"lengths_m": [round(v, 5) for v in self.lengths_m], "frames": self.frames,
               "weight": self.weight}  # fmt: skip
        return {**out, "pooled": True} if self.pooled else out

    @classmethod
    def from_dict(cls, d: dict) -> BonePrior:
        return cls(tuple(d["lengths_m"]), int(d["frames"]), float(d.get("weight", 1.0)),
                   bool(d.get("pooled", False)))  # fmt: skip


def sequence_lengths(preds, name: str, bones: BonePrior | None) -> list:
    """How the geometric step ``name`` sets each sequence's bones under the prior ``bones``: one
    :data:`~d3prefiner.baselines.BoneLengths` per sequence of ``preds``, None for its own medians
    (no prior, or weight 1). With ``bones.pooled`` a sequence's own medians are its body's: the
    frame-weighted mean of the medians (as the step measures them,
    :attr:`~d3prefiner.baselines.Geometric.own_bones`) of the file's sequences with its subject."""
    from ..baselines import GEOMETRIC

    seqs = list(preds)
    if not GEOMETRIC[name].uses_bones or bones is None or (bones.weight == 1 and not bones.pooled):
        return [None] * len(seqs)
    if not bones.pooled:
        return [bones] * len(seqs)
    own = GEOMETRIC[name].own_bones
    groups: dict[str, list] = {}
    for seq in seqs:
        groups.setdefault(seq.subject, []).append((len(seq.pred3d), own(seq)))
    body = {k: np.average([m for _, m in v], axis=0, weights=[n for n, _ in v])
            for k, v in groups.items()}  # fmt: skip
    return [lambda _own, b=body[seq.subject]: bones(b) for seq in seqs]


def estimator_names(estimator: str) -> list[str]:
    """The estimators a predictions file's ``estimator`` names: one, or those of a pooled file
    (``pool(a+b)``, :meth:`~d3prefiner.predictions.Predictions.pool`)."""
    if estimator.startswith("pool(") and estimator.endswith(")"):
        return [n for n in estimator[5:-1].split("+") if n]
    return [estimator]


def _older_name(name: str) -> str | None:
    """The name our lifters gave their predictions before it named the training run
    (``"tcn-T27-1500-gt"`` → ``"tcn-T27"``), so that checkpoints trained on such files still know
    the lifter they learned; None for any other name."""
    m = re.fullmatch(r"([a-z0-9_]+-T\d+)-\d+(-[a-z]+)?", name)
    return m.group(1) if m else None


def check_strength(strength) -> float | str:
    """``"auto"`` or a number in [0, 1] (a string such as ``"0.5"`` is converted)."""
    if strength == "auto":
        return "auto"
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ArgumentError("strength", f"must be 'auto' or a number in [0, 1], got {strength!r}")
    return value


def check_correct(correct: str, auto: bool = True) -> str:
    """``correct`` checked: one of :data:`CORRECTIONS` (or ``"auto"`` where ``auto``)."""
    allowed = (*(("auto",) if auto else ()), *CORRECTIONS)
    if correct not in allowed:
        raise ArgumentError("correct", f"must be one of {', '.join(allowed)}, got {correct!r}")
    return correct


def apply_correction(
    x: np.ndarray, refined: np.ndarray, weight: float, correct: str = "full"
) -> np.ndarray:
    """``x + weight·(refined − x)`` (``(F, J, 3)``, camera frame), with the correction's depth
    component dropped when ``correct`` is ``"in-plane"``."""
    delta = refined - x
    if check_correct(correct, auto=False) == "in-plane":
        delta = delta * np.array([1.0, 1.0, 0.0], dtype=delta.dtype)
    return (x + weight * delta).astype(np.float32)


def corrected(x: np.ndarray, refined: np.ndarray | None, weight: float, correct: str) -> np.ndarray:
    """What applying a correction of ``weight`` writes for one sequence ``(F, J, 3)``: ``x``
    itself at weight 0 (``refined`` may then be None: the network need not run), the network's
    output at weight 1 of the full correction, else :func:`apply_correction`."""
    if weight == 0.0:
        return x.astype(np.float32)
    if weight != 1.0 or correct != "full":
        return apply_correction(x, refined, weight, correct)
    return refined


@dataclass(frozen=True)
class ApplyOptions:
    """What one application of a refiner asks for; the defaults are ``d3pr refine``'s.

    Args:
        strength: α in [0, 1], or ``"auto"``: the calibration's (1 for an uncalibrated refiner).
        correct: ``"full"``, ``"in-plane"`` or ``"auto"``: the calibration's part.
        guard: ``"shrink"``, ``"warn"`` or ``"off"`` (see the module docstring).
        smooth: ``"auto"``: the calibration's filter (none for an estimator it does not know,
            or where none was chosen); ``"none"``; or a filter name of
            :data:`d3prefiner.baselines.FILTERS`.
        resample: refine sequences at another rate than the training one at the training rate.
        causal: each output frame depends only on the current and past frames (a window that
            ends at the frame; the guard from the frames so far; only a causal filter,
            :data:`CAUSAL_FILTERS`, and geometric step, :data:`CAUSAL_GEOMETRIC`).
        geometric: the geometric step after the correction, one of :data:`GEOMETRIC_STEPS`, or
            ``"auto"``: the calibration's (none for an estimator it does not know).
    """

    strength: float | str = "auto"
    correct: str = "auto"
    guard: str = "shrink"
    smooth: str = "auto"
    resample: bool = True
    causal: bool = False
    geometric: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", check_strength(self.strength))
        check_correct(self.correct)
        if self.guard not in GUARD_MODES:
            modes = ", ".join(GUARD_MODES)
            raise ArgumentError("guard", f"must be one of {modes}, got {self.guard!r}")
        if self.causal and self.smooth not in ("none", "auto", *CAUSAL_FILTERS):
            raise ArgumentError("smooth", f"{self.smooth} needs later frames; with --causal "
                                f"choose none, auto or {', '.join(CAUSAL_FILTERS)}")  # fmt: skip
        if self.geometric not in ("auto", *GEOMETRIC_STEPS):
            steps = ", ".join(("auto", *GEOMETRIC_STEPS))
            raise ArgumentError("geometric", f"must be one of {steps}, got {self.geometric!r}")
        if self.causal and self.geometric not in ("auto", *CAUSAL_GEOMETRIC):
            raise ArgumentError("geometric", f"{self.geometric} takes medians over the whole "
                                "sequence; with --causal choose none, auto or reproject")  # fmt: skip

    def replace(self, **changes) -> ApplyOptions:
        return replace(self, **changes)


#: The filters of :data:`d3prefiner.baselines.FILTERS` that read no later frame.
CAUSAL_FILTERS = ("one_euro",)

#: Help of every :class:`ApplyOptions` field (``d3pr refine`` makes its options from them).
APPLY_HELP = {
    "strength": "Share of the correction applied, 0…1, or auto (default): the one chosen on "
    "validation when it was trained or calibrated (0: refining did not help there; 1: none was "
    "chosen).",
    "correct": "Part of each correction applied: full, in-plane (camera x, y only; the input's "
    "depth kept), or auto (default): the one its strength was chosen for; only in-plane for an "
    "estimator it was neither trained nor calibrated on.",
    "guard": "Input unlike the refiner's training estimator: shrink its correction toward the "
    "input (default), warn only, or off.",
    "smooth": "Temporal filter after refinement: auto (default: the one chosen on validation, "
    "often none; none for an estimator it was not calibrated on), none, savgol, one_euro, "
    "gaussian or adaptive.",
    "resample": "Refine sequences at another frame rate at the refiner's training rate and "
    "interpolate the correction back (default), or at their own rate.",
    "causal": "Each output frame depends only on the current and past frames (for live use): "
    "windows that end at the frame, the guard from the frames so far, and only a causal filter "
    "(auto keeps the calibrated one only if it is causal).",
    "geometric": "Training-free step after the correction: auto (default: the one chosen on "
    "validation, often none; none for an estimator it was not calibrated on), none, reproject "
    "(root fitted per frame, x, y from the 2D), bones (sequence-median bone lengths), "
    "bones+reproject, rays or rays-nearest (each joint on its 2D ray at its bone's length); bone "
    "lengths pulled toward the training bodies' and auto's share of what it takes from the 2D as "
    "calibrated (a named step: all of it); auto may also apply per-joint (each joint's own "
    "weights of those steps' moves, fitted on validation). Uses each sequence's camera from the "
    "file, else the default focal length.",
}


def geometric_step(
    preds, name: str, bones: BonePrior | None = None, share: float = 1.0, joint_shares=None
):
    """``preds`` (:class:`~d3prefiner.predictions.Predictions`) after the geometric step
    ``name`` (:data:`GEOMETRIC_STEPS`; ``"none"``: unchanged), each sequence from its own
    estimate, 2D and camera (never ``gt3d``); a step that sets bone lengths pulls the sequence's
    own toward ``bones`` by its weight (None, or weight 1: its own alone).

    ``share`` < 1 applies that share of what the step takes from the 2D: ``b + share·(step(x) −
    b)``, where ``b`` is the input ``x`` with its bones set as the step sets them (the ``bones``
    step, for a step that sets bone lengths) or ``x`` itself. The 2D is then trusted as much as
    validation says it deserves: fully where it is exact, a fifth where a detector's noise would
    be copied into the pose.

    ``name`` :data:`PER_JOINT` applies ``joint_shares``
    (:class:`~d3prefiner.refiner.shares.JointShares`, fitted on validation) instead: each joint's own weights of several steps' moves."""
    from ..baselines import GEOMETRIC

    if name == "none":
        return preds
    if name == PER_JOINT:
        from .shares import apply_shares

        if joint_shares is None:
            raise ArgumentError("geometric", f"{PER_JOINT} needs joint shares fitted on validation")
        return apply_shares(preds, bones, joint_shares)
    if name not in GEOMETRIC_STEPS or name not in GEOMETRIC:
        raise ArgumentError(
            "geometric", f"must be one of {', '.join(GEOMETRIC_STEPS)}, got {name!r}"
        )
    if not 0 <= share <= 1:
        raise ArgumentError("geometric", f"a step's share must be in [0, 1], got {share}")
    step = GEOMETRIC[name]
    lengths = sequence_lengths(preds, name, bones) if step.uses_bones else [None] * len(preds)
    out = preds.with_pred3d([step(s, n) for s, n in zip(preds, lengths)])  # the name is kept
    if share == 1 or name == "bones":
        return out
    return shared(share_base(preds, name, bones), out, share)


def share_base(preds, name: str, bones: BonePrior | None = None):
    """What a share of the geometric step ``name`` starts from (:func:`geometric_step`): ``preds``
    with their bones set as the step sets them, or ``preds`` for a step that sets none."""
    from ..baselines import GEOMETRIC

    return geometric_step(preds, "bones", bones) if GEOMETRIC[name].uses_bones else preds


def shared(base, out, share: float):
    """``base + share·(out − base)``, sequence by sequence (two predictions alike but in
    ``pred3d``)."""
    return out.with_pred3d([b.pred3d + share * (o.pred3d - b.pred3d) for b, o in zip(base, out)])


#: The network's own output: full strength, full correction, no guard, no geometric step, no
#: filter.
FULL = ApplyOptions(strength=1.0, correct="full", guard="off", smooth="none", geometric="none")
#: The whole correction of the calibrated part, no guard, no geometric step, no filter (a study's
#: "refined" row).
AT_FULL_STRENGTH = ApplyOptions(strength=1.0, guard="off", smooth="none", geometric="none")


@dataclass(frozen=True)
class Applied:
    """What :meth:`Refiner.apply <d3prefiner.refiner.core.Refiner.apply>` returns: the refined
    ``predictions``, and what was applied — the strength ``alpha``, the correction ``part``, the
    guard's out-of-range ``flags`` (computed unless the guard is off; their corrections were shrunk
    only under ``shrink``), the filter ``choice`` (``{"filter": "none"}`` when none), whether the
    file's estimator is one the refiner was neither trained nor calibrated on (``unseen``), the
    ``geometric`` step applied after the correction, the ``bones`` prior it was applied with
    (a step that sets bone lengths uses it at its weight) and the ``share`` of what it takes from
    the 2D (:func:`geometric_step`), or the ``joint_shares`` of the step :data:`PER_JOINT`."""

    predictions: object
    alpha: float
    part: str
    flags: list[GuardFlag]
    choice: dict
    unseen: bool = False
    geometric: str = "none"
    bones: BonePrior | None = None
    share: float = 1.0
    joint_shares: object = None


@dataclass(frozen=True)
class Plan:
    """One application of a refiner to one predictions file (:meth:`Calibration.plan`): what it
    applies (as :class:`Applied` records it), each sequence's correction ``weights`` (a float, or
    ``(F, 1, 1)`` per frame under the causal guard; 0: the sequence passes through, the network
    need not run) and the filter's ``rate`` (None: each sequence's own)."""

    alpha: float
    part: str
    unseen: bool
    flags: list[GuardFlag]
    weights: list
    geometric: str
    choice: dict
    rate: float | None
    bones: BonePrior | None = None
    share: float = 1.0
    joint_shares: object = None

    def runs(self, i: int) -> bool:
        """Whether sequence ``i`` needs the network's output."""
        w = self.weights[i]
        return isinstance(w, np.ndarray) or w != 0.0

    def finish(self, preds, refined: list) -> Applied:
        """``preds`` with each sequence's correction toward ``refined`` (the network's output, None
        where :meth:`runs` is false) under its weight, then the geometric step, then the filter."""
        from ..baselines import smooth_predictions

        out = [
            apply_correction(s.pred3d, r, w, self.part) if isinstance(w, np.ndarray)
            else corrected(s.pred3d, r, w, self.part)
            for s, r, w in zip(preds, refined, self.weights)
        ]  # fmt: skip
        name = f"{preds.estimator}+d3prefiner" if preds.estimator else "d3prefiner"
        result = geometric_step(
            preds.with_pred3d(out, estimator=name),
            self.geometric,
            self.bones,
            self.share,
            self.joint_shares,
        )
        if self.choice["filter"] != "none":
            result = smooth_predictions(result, self.choice, self.rate)
        return Applied(result, self.alpha, self.part, self.flags, self.choice, self.unseen,
                       self.geometric, self.bones, self.share, self.joint_shares)  # fmt: skip


@dataclass(frozen=True)
class StrengthScores:
    """Validation MPJPE (mm) of every candidate strength, as the strength was chosen.

    ``mpjpe_mm``: α → MPJPE over every validation frame; ``by_fold``: fold → α → MPJPE where the
    validation predictions came from several lifters (the choice then follows the worst one);
    ``parts``: part → the chosen α's MPJPE relative to the unchanged input, where the part was
    chosen too.
    """

    mpjpe_mm: dict[float, float]
    frames: int
    min_gain: float
    by_fold: dict[str, dict[float, float]] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)

    def relative(self, alpha: float) -> float:
        """α's MPJPE relative to the unchanged input (α = 0): the worst fold's where several."""
        groups = self.by_fold or {"all": self.mpjpe_mm}
        return max(g[alpha] / g[0.0] for g in groups.values())

    def to_dict(self) -> dict:
        out = {
            "mpjpe_mm": [[a, round(v, 3)] for a, v in self.mpjpe_mm.items()],
            "frames": self.frames,
            "min_gain": self.min_gain,
        }
        if self.by_fold:
            out["by_fold"] = {
                k: [[a, round(v, 3)] for a, v in g.items()] for k, g in self.by_fold.items()
            }
        if self.parts:
            out["parts"] = dict(self.parts)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> StrengthScores:
        def pairs(p) -> dict[float, float]:
            return {float(a): float(v) for a, v in p}

        by_fold = {str(k): pairs(g) for k, g in d.get("by_fold", {}).items()}
        return cls(pairs(d["mpjpe_mm"]), int(d["frames"]), float(d["min_gain"]), by_fold,
                   {str(k): float(v) for k, v in d.get("parts", {}).items()})  # fmt: skip


@dataclass(frozen=True)
class SmoothingScores:
    """Validation MPJPE (mm) of every candidate filter (by label), as the filter was chosen."""

    mpjpe_mm: dict[str, float]
    frames: int
    min_gain: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SmoothingScores:
        scores = {str(k): float(v) for k, v in d["mpjpe_mm"].items()}
        return cls(scores, int(d["frames"]), float(d["min_gain"]))


@dataclass(frozen=True)
class Calibration:
    """How a checkpoint's refiner is applied by default (``d3pr refine``), saved in its config.json.

    Args:
        strength: α applied by ``strength="auto"`` (1 until chosen on validation).
        correct: the part applied by ``correct="auto"``.
        filter: the filter applied by ``smooth="auto"`` (``"none"``), with ``filter_params``.
        guard: the training estimator's disagreement range (None: no guard).
        fps: the training predictions' frame rate (None: input is refined at its own rate).
        estimators: the estimators (predictions files' ``estimator``) it was trained or
            calibrated on; another estimator's file gets only :meth:`for_unseen` unless told
            otherwise (empty: not recorded, no restriction).
        geometric: the geometric step applied by ``geometric="auto"`` (:data:`GEOMETRIC_STEPS`).
        bones: the training bodies' bone lengths and the weight chosen for a sequence's own
            (:class:`BonePrior`; None: not recorded, a step sets each sequence's own).
        strength_scores, smoothing_scores, geometric_scores: the validation scores behind the
            choices (None until calibrated; ``geometric_scores``: step → validation MPJPE, mm).
        geometric_bodies: the subjects the geometric step, the bones' weight and the filter were
            chosen on, each with the others' bones as its prior (empty: on the validation
            predictions alone, with ``bones`` as their prior).
        geometric_share: the share of what the geometric step takes from the 2D
            (:func:`geometric_step`; 1: all of it).
        geometric_shares: the per-joint weights of the step :data:`PER_JOINT`
            (:class:`~d3prefiner.refiner.shares.JointShares`; None for any other step).
    """

    strength: float = 1.0
    correct: str = "full"
    filter: str = "none"
    filter_params: dict = field(default_factory=dict)
    guard: GuardRange | None = None
    fps: float | None = None
    estimators: tuple[str, ...] = ()
    strength_scores: StrengthScores | None = None
    smoothing_scores: SmoothingScores | None = None
    geometric: str = "none"
    geometric_scores: dict | None = None
    bones: BonePrior | None = None
    geometric_bodies: tuple[str, ...] = ()
    geometric_share: float = 1.0
    geometric_shares: object = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimators", tuple(str(e) for e in self.estimators))
        object.__setattr__(self, "geometric_bodies", tuple(str(e) for e in self.geometric_bodies))
        object.__setattr__(self, "geometric_share", float(self.geometric_share))
        if not 0 < self.geometric_share <= 1:
            raise D3PRError(f"a calibration's geometric share must be in (0, 1], got "
                            f"{self.geometric_share}")  # fmt: skip
        if self.geometric not in (*GEOMETRIC_STEPS, PER_JOINT):
            raise D3PRError(f"a calibration's geometric step must be one of "
                            f"{', '.join((*GEOMETRIC_STEPS, PER_JOINT))}, got {self.geometric!r}")  # fmt: skip
        if (self.geometric == PER_JOINT) != (self.geometric_shares is not None):
            raise D3PRError(f"a calibration's geometric step is {PER_JOINT} exactly when it records "
                            "joint shares")  # fmt: skip
        value = check_strength(self.strength)
        if value == "auto":
            raise D3PRError("a calibration's strength is a number in [0, 1], not 'auto'")
        object.__setattr__(self, "strength", value)
        check_correct(self.correct, auto=False)

    @property
    def calibrated(self) -> bool:
        """True when the strength was chosen on validation predictions."""
        return self.strength_scores is not None

    def knows(self, estimator: str) -> bool:
        """Whether ``estimator`` (a predictions file's) is one it was trained or calibrated on;
        True when no estimators were recorded. A pooled file's name ``pool(a+b)`` stands for
        ``a`` and ``b``."""
        if not self.estimators:
            return True
        known = {n for e in self.estimators for n in estimator_names(e)}
        return bool(estimator) and all(
            n in known or _older_name(n) in known for n in estimator_names(estimator)
        )

    @property
    def pooled(self) -> bool:
        """Whether it was trained or calibrated on several estimators at once (a pooled file)."""
        return any(len(estimator_names(e)) > 1 for e in self.estimators)

    def for_unseen(self) -> tuple[float, str]:
        """``(strength, part)`` applied by default to an estimator it does not know: the in-plane
        part at its strength for a refiner trained or calibrated on a pool of estimators (its
        strength chosen by the worst of them); nothing (strength 0) for one that learned a single
        estimator's errors, which can make another estimator much worse, its in-plane part too."""
        return (self.strength, "in-plane") if self.pooled else (0.0, self.correct)

    def plan(self, options: ApplyOptions, preds) -> Plan:
        """How ``options`` apply this calibration to ``preds`` (a
        :class:`~d3prefiner.predictions.Predictions`): ``"auto"`` choices resolved to the
        calibration's (for an estimator it does not know, :meth:`for_unseen` and no geometric
        step), the guard's flags and the weight of every sequence's correction, and, with
        ``causal``, only a causal geometric step and filter."""
        opts = options
        alpha = self.strength if opts.strength == "auto" else opts.strength
        part = self.correct if opts.correct == "auto" else opts.correct
        unseen = not self.knows(preds.estimator)
        if unseen and opts.strength == "auto" and opts.correct == "auto":
            alpha, part = (
                self.for_unseen()
            )  # what was validated as safe for estimators it never saw
        flags = flag_sequences(self.guard, preds) if opts.guard != "off" else []
        weights = correction_weights(self.guard, preds, flags, alpha, opts.guard, opts.causal)
        geometric, share, joint_shares = opts.geometric, 1.0, None
        if geometric == "auto":
            geometric = "none" if unseen else self.geometric
            if opts.causal and geometric not in CAUSAL_GEOMETRIC:
                geometric = "none"  # the calibrated step takes whole-sequence medians
            share = self.geometric_share if geometric != "none" else 1.0
            joint_shares = self.geometric_shares if geometric == PER_JOINT else None
        if opts.smooth == "auto":
            choice = {"filter": "none"} if unseen else self.filter_choice
        else:
            choice = {"filter": opts.smooth}
        if opts.causal and choice["filter"] not in ("none", *CAUSAL_FILTERS):
            choice = {"filter": "none"}  # the calibrated filter reads later frames
        rate = self.fps if opts.smooth == "auto" and opts.resample else None
        return Plan(alpha, part, unseen, flags, weights, geometric, choice, rate, self.bones,
                    share, joint_shares)  # fmt: skip

    def learned(self, estimator: str) -> Calibration:
        """This calibration with ``estimator`` recorded as known."""
        if not estimator or estimator in self.estimators:
            return self
        return self.replace(estimators=(*self.estimators, estimator))

    @property
    def filter_choice(self) -> dict:
        """The filter as :func:`d3prefiner.baselines.smooth_predictions` takes it."""
        return {"filter": self.filter, **self.filter_params}

    @property
    def filter_label(self) -> str:
        """The filter's label, as the report names it (``"none"`` when none)."""
        from ..baselines import smoothing_label

        return smoothing_label(self.filter_choice)

    def replace(self, **changes) -> Calibration:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        out: dict = {"strength": self.strength, "correct": self.correct, "filter": self.filter}
        if self.filter_params:
            out["filter_params"] = dict(self.filter_params)
        if self.guard is not None:
            out["guard"] = self.guard.to_dict()
        if self.fps is not None:
            out["fps"] = self.fps
        if self.estimators:
            out["estimators"] = list(self.estimators)
        if self.geometric != "none":
            out["geometric"] = self.geometric
        if self.geometric_share != 1.0:
            out["geometric_share"] = self.geometric_share
        if self.geometric_shares is not None:
            out["geometric_shares"] = self.geometric_shares.to_dict()
        if self.bones is not None:
            out["bones"] = self.bones.to_dict()
        validation = {}
        if self.strength_scores is not None:
            validation["strength"] = self.strength_scores.to_dict()
        if self.smoothing_scores is not None:
            validation["smoothing"] = self.smoothing_scores.to_dict()
        if self.geometric_scores is not None:
            validation["geometric"] = {"mpjpe_mm": dict(self.geometric_scores)}
            if self.geometric_bodies:
                validation["geometric"]["bodies"] = list(self.geometric_bodies)
        if validation:
            out["validation"] = validation
        return out

    @classmethod
    def from_dict(cls, d: dict, where: str = "calibration") -> Calibration:
        """Read :meth:`to_dict`'s output (a checkpoint's ``calibration`` entry)."""
        try:
            val = d.get("validation", {})
            return cls(
                strength=float(d["strength"]),
                correct=str(d["correct"]),
                filter=str(d.get("filter", "none")),
                filter_params=dict(d.get("filter_params", {})),
                guard=GuardRange.from_dict(d["guard"]) if d.get("guard") else None,
                fps=float(d["fps"]) if d.get("fps") else None,
                estimators=tuple(str(e) for e in d.get("estimators", [])),
                strength_scores=StrengthScores.from_dict(val["strength"])
                if "strength" in val
                else None,
                smoothing_scores=SmoothingScores.from_dict(val["smoothing"])
                if "smoothing" in val
                else None,
                geometric=str(d.get("geometric", "none")),
                geometric_scores={str(k): float(v) for k, v in val["geometric"]["mpjpe_mm"].items()}
                if "geometric" in val
                else None,
                bones=BonePrior.from_dict(d["bones"]) if d.get("bones") else None,
                geometric_bodies=tuple(val.get("geometric", {}).get("bodies", ())),
                geometric_share=float(d.get("geometric_share", 1.0)),
                geometric_shares=_joint_shares(d.get("geometric_shares")),
            )
        except D3PRError as exc:
            raise D3PRError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise D3PRError(f"{where}: bad calibration record ({exc!r})") from None

    @classmethod
    def from_legacy(
        cls,
        data: dict,
        strength: dict | None,
        smoothing: dict | None,
        correct: str,
        where: str = "config.json",
    ) -> Calibration:
        """The calibration of a checkpoint written before calibration records: the guard range and
        fps from its ``data``, its ``strength`` and ``smoothing`` records (or None), and
        ``correct``, the config's part, where no strength was recorded."""
        try:
            out = cls(
                correct=correct,
                guard=GuardRange.from_dict(data["guard"]) if data.get("guard") else None,
                fps=float(data["fps"]) if data.get("fps") else None,
            )
            if strength is not None:
                alpha = strength.get("alpha") if isinstance(strength, dict) else None
                if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
                    raise D3PRError(f"'strength' must hold an 'alpha' in [0, 1], got {strength!r}")
                folds = strength.get("val_mpjpe_mm_by_fold") or {}
                out = out.replace(
                    strength=float(alpha),
                    correct=strength.get("correct", "full"),
                    strength_scores=StrengthScores(
                        {float(a): float(v) for a, v in strength["val_mpjpe_mm"].items()},
                        int(strength["val_frames"]),
                        float(strength["min_gain"]),
                        {
                            str(k): {float(a): float(v) for a, v in g.items()}
                            for k, g in folds.items()
                        },
                        {str(k): float(v) for k, v in strength.get("parts", {}).items()},
                    ),
                )
            if smoothing is not None:
                choice = dict(smoothing["choice"])
                out = out.replace(
                    filter=str(choice.pop("filter")),
                    filter_params=choice,
                    smoothing_scores=SmoothingScores(
                        {str(k): float(v) for k, v in smoothing["val_mpjpe_mm"].items()},
                        int(smoothing.get("val_frames", 0)),
                        float(smoothing.get("min_gain", 0.0)),
                    ),
                )
            return out
        except D3PRError as exc:
            raise D3PRError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise D3PRError(f"{where}: bad strength or smoothing record ({exc!r})") from None


def _joint_shares(d):
    """A calibration's recorded joint shares (None where it records none)."""
    from .shares import JointShares

    return None if d is None else JointShares.from_dict(d)

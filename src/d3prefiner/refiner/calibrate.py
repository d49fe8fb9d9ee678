"""Calibrate a refiner on validation predictions: choose the strength, the correction part and the
temporal filter it is applied with by default (:class:`~d3prefiner.refiner.calibration.Calibration`).

The network is run once, at full strength, with :meth:`Refiner.apply
<d3prefiner.refiner.core.Refiner.apply>`; every candidate is then scored on what applying it
writes (:func:`applied`, the same :func:`~d3prefiner.refiner.calibration.corrected` per sequence
as ``Refiner.apply``), so what is chosen is what ``d3pr refine`` then writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import torch

from ..errors import D3PRError
from ..metrics import frame_errors
from ..predictions import Predictions
from .calibration import (
    BONE_WEIGHTS,
    FULL,
    GEOMETRIC_SHARES,
    GEOMETRIC_STEPS,
    PER_JOINT,
    STRENGTHS,
    BonePrior,
    Calibration,
    SmoothingScores,
    StrengthScores,
    check_correct,
    corrected,
    geometric_step,
    share_base,
    shared,
)
from .core import Refiner
from .shares import LOCAL_SPANS_S, SHARES_SPANS_S, JointShares, crossfit_sets

#: Refining (α > 0) is kept only when it lowers the validation MPJPE of the unchanged input by
#: more than this share.
STRENGTH_MIN_GAIN = 0.002
#: A geometric step is kept only when it lowers the validation MPJPE by more than this share.
GEOMETRIC_MIN_GAIN = 0.01
#: Geometric steps within this share of the lowest validation MPJPE are a tie, broken by their
#: MPJPE under their own best filter.
GEOMETRIC_TIE = 0.005


def applied(val: Predictions, full: Predictions, alpha: float, correct: str) -> Predictions:
    """``val`` with the share ``alpha`` of each correction (its ``correct`` part) applied: what
    ``Refiner.apply(val, ApplyOptions(alpha, correct, guard="off", geometric="none"), full=full)``
    writes (:func:`calibrate` chooses the geometric step after it)."""
    if len(full) != len(val):
        raise D3PRError(f"{len(val)} sequences but {len(full)} refined ones")
    out = [corrected(s.pred3d, f.pred3d, alpha, correct) for s, f in zip(val, full)]
    return val.with_pred3d(out)


def choose_strength(
    val: Predictions,
    full: Predictions,
    correct: str = "full",
    candidates=STRENGTHS,
    min_gain: float = STRENGTH_MIN_GAIN,
) -> tuple[float, StrengthScores]:
    """The share α of the refiner's correction (its ``correct`` part) that is safest on ``val``.

    ``val``: validation predictions with ``gt3d``; ``full``: the refiner's own output on them
    (``refiner.apply(val, FULL).predictions``). The sequences are grouped by their cross-fitting
    ``fold`` (the lifter that predicted them; a file with no folds is one group). Each α is scored
    by its **worst** group's MPJPE relative to that group's unchanged input, and the lowest wins;
    α = 0 (the input unchanged) unless that worst group gains more than ``min_gain``. With one
    group this is the α of the lowest MPJPE. The worst case, not the mean: a strength that helps
    a pool of estimators on average while one of them loses is not kept.

    Returns:
        ``(alpha, scores)``.
    """
    if len(val) == 0 or not val.has_gt:
        raise D3PRError("choosing a strength needs validation predictions with gt3d")
    check_correct(correct, auto=False)
    gt = torch.from_numpy(val.concat("gt3d")).double()  # (N, J, 3)
    fold = torch.from_numpy(np.repeat([s.fold for s in val], [s.num_frames for s in val]))
    groups = sorted(set(fold.tolist()))
    errors = {}
    for a in candidates:
        refined = applied(val, full, float(a), correct)
        errors[float(a)] = 1000 * frame_errors(refined, "root", gt)  # (N,) mm
    by_group = {g: {a: float(e[fold == g].mean()) for a, e in errors.items()} for g in groups}
    means = {a: float(e.mean()) for a, e in errors.items()}
    ref = 0.0 if 0.0 in means else min(means)

    def worst(a: float) -> float:
        return max(by_group[g][a] / by_group[g][ref] for g in groups)

    best = min(means, key=lambda a: (worst(a), means[a]))
    if 0.0 in means and not worst(best) < 1 - min_gain:
        best = 0.0

    def recorded(d: dict) -> dict:  # as config.json keeps them
        return {a: round(v, 3) for a, v in d.items()}

    folds = {str(g): recorded(v) for g, v in by_group.items()} if len(groups) > 1 else {}
    scores = StrengthScores(recorded(means), val.num_frames, min_gain, folds)
    return best, scores


def choose_part(val: Predictions, full: Predictions) -> tuple[str, float, StrengthScores]:
    """:func:`choose_strength` for the in-plane part and for the full correction; the part whose
    chosen α scores lower on ``val`` relative to the unchanged input (in-plane on a tie, as the
    safer). Returns ``(part, alpha, scores)`` with the parts' scores in ``scores.parts``."""
    chosen = {c: choose_strength(val, full, c) for c in ("in-plane", "full")}
    relative = {c: s.relative(a) for c, (a, s) in chosen.items()}
    part = min(("in-plane", "full"), key=lambda c: relative[c])
    alpha, scores = chosen[part]
    return part, alpha, replace(scores, parts={c: round(r, 5) for c, r in relative.items()})


def geometric_label(
    step: str, weight: float = 1.0, share: float = 1.0, pooled: bool = False
) -> str:
    """A geometric candidate's name in the validation scores: the step; where its bones are
    pulled toward the training bodies', the weight of the sequence's own (``"rays@0.5"``), or of
    its body's, pooled over the sequences of its subject (``"rays@body0.5"``); where it takes only
    a share of what it reads from the 2D, that share (``"rays@0.5×0.7"``)."""
    own = f"{step}@{weight:g}" if weight != 1.0 else step
    label = f"{step}@body{weight:g}" if pooled else own
    return label if share == 1.0 else f"{label}×{share:g}"


def geometric_candidates(bones: BonePrior | None) -> list[tuple[str, float, float, bool]]:
    """``(step, weight of the sequence's own bone lengths, share of the 2D, pooled)`` tried on
    validation: every step of :data:`GEOMETRIC_STEPS` as it is; with a prior, each step that sets
    bone lengths at every weight of :data:`BONE_WEIGHTS`, with each sequence's own medians and
    (but at weight 0, the prior alone) with its body's, pooled over its subject's sequences
    (:func:`~d3prefiner.refiner.calibration.sequence_lengths`); and each of these that reads the
    2D at every share of :data:`GEOMETRIC_SHARES` (:func:`geometric_step`)."""
    from ..baselines import GEOMETRIC

    out = [(g, 1.0, False) for g in GEOMETRIC_STEPS]
    if bones is not None:
        bony = [g for g in GEOMETRIC_STEPS[1:] if GEOMETRIC[g].uses_bones]
        out += [(g, w, False) for g in bony for w in BONE_WEIGHTS if w != 1.0]
        out += [(g, w, True) for g in bony for w in BONE_WEIGHTS if w != 0.0]
    return [(g, w, s, p) for g, w, p in out
            for s in (GEOMETRIC_SHARES if g != "none" and GEOMETRIC[g].uses_camera else (1.0,))]  # fmt: skip


#: A candidate's validation outputs: the predictions it scores on, with the bone prior each uses.
Parts = Sequence[tuple[Predictions, BonePrior | None]]


class GeometricChoice(NamedTuple):
    """What :func:`choose_geometric` chose: the ``step``, the ``weight`` of each sequence's own bone
    lengths, the ``share`` of what the step takes from the 2D, the validation ``scores`` of every
    candidate (:func:`geometric_label` → MPJPE mm over all frames, no filter), the ``filter``
    choice after the step, and the ``joint_shares`` of the step :data:`PER_JOINT` (None for another)."""

    step: str
    weight: float
    share: float
    scores: dict[str, float]
    filter: dict
    joint_shares: JointShares | None = None
    pooled: bool = False


def choose_geometric(
    out: Predictions | Parts,
    bones: BonePrior | None = None,
    min_gain: float = GEOMETRIC_MIN_GAIN,
    tie: float = GEOMETRIC_TIE,
    per_joint: bool = True,
    progress: bool = False,
) -> GeometricChoice:
    """The geometric step (:data:`GEOMETRIC_STEPS`) after the correction that lowers the
    root-relative MPJPE of ``out`` (the refiner's applied output on validation predictions with
    ``gt3d``) the most, if by more than ``min_gain``; else ``"none"``; with a bone prior
    ``bones``, the weight of each sequence's own bone lengths too (:func:`geometric_candidates`);
    and the filter after it (:func:`d3prefiner.baselines.choose_smoothing` of the step's output).
    Candidates whose MPJPE is within ``tie`` (relative) of the lowest are a tie on validation,
    broken by their MPJPE under their own best filter. A step pays where the 2D is exact and costs
    where it is noisy, so it is measured here, never assumed.

    ``out`` may instead be several parts, ``[(predictions, prior), ...]`` (one per body, each
    with a prior made without it: :func:`left_out_parts`): a candidate is then ranked by its mean
    over the parts of its MPJPE relative to the part's unchanged input, so that every body
    counts alike, and ``min_gain`` and ``tie`` apply to that mean.

    With ``per_joint``, one more candidate: :data:`PER_JOINT`
    (:mod:`~d3prefiner.refiner.shares`), each joint's weights of several steps' moves, at the
    bones' weight of the best step that sets bone lengths; its weights are fitted by least squares on the parts, and it is scored on
    each part under weights fitted on the *others* (:func:`~d3prefiner.refiner.shares.crossfit_sets`),
    so that its score is as out-of-sample as a body can make it; with and without the moves' means
    over each sequence (:data:`~d3prefiner.refiner.shares.LOCAL_SPANS_S`), the better held out
    kept; its filter (and a tie's break) is chosen on those held-out outputs too.

    ``progress``: a bar over the candidates and the filters.

    Returns:
        a :class:`GeometricChoice`.
    """
    from tqdm.auto import tqdm

    from ..baselines import GEOMETRIC, choose_smoothing

    parts = [(out, bones)] if isinstance(out, Predictions) else list(out)
    gts = [torch.from_numpy(p.concat("gt3d")).double() for p, _ in parts]
    priors = [b for _, b in parts if b is not None]

    def outputs(g: str, w: float, share: float = 1.0, pooled: bool = False) -> list[Predictions]:
        return [geometric_step(p, g, None if b is None else b.at(w, pooled), share, joint_shares)
                for p, b in parts]  # fmt: skip

    scores, errors, candidates = {}, {}, {}
    joint_shares = held = None  # fitted after the grid
    grid = geometric_candidates(priors[0] if priors else None)
    bar = tqdm(total=len(grid) + 1 + per_joint, desc="calibrate: geometric steps", leave=False,
               disable=not progress)  # fmt: skip
    for g, w, share, pooled in grid:
        if share == 1.0:  # the step once; its shares from it and from its start
            whole, starts = outputs(g, w, 1.0, pooled), None
        elif starts is None:
            starts = [share_base(p, g, None if b is None else b.at(w, pooled)) for p, b in parts]
        key = geometric_label(g, w, share, pooled)
        outs = whole if share == 1.0 else [shared(b, o, share) for b, o in zip(starts, whole)]
        e = [1000 * frame_errors(o, "root", gt) for o, gt in zip(outs, gts)]
        scores[key], candidates[key] = round(float(torch.cat(e).mean()), 3), (g, w, share, pooled)
        errors[key] = [float(x.mean()) for x in e]
        bar.update()
    if per_joint and (len(parts) > 1 or len(parts[0][0]) > 1):  # else nothing to hold out
        _, w, _, pooled = min(
            (c for c in candidates.values() if c[0] != "none" and GEOMETRIC[c[0]].uses_bones),
            key=lambda c: scores[geometric_label(*c)],
        )  # the bones of the best single step
        bar.set_description("calibrate: per-joint shares")
        fitted = None
        both = crossfit_sets(  # the better held out
            [(p, None if b is None else b.at(w, pooled)) for p, b in parts],
            (SHARES_SPANS_S, LOCAL_SPANS_S),
        )
        for outs, shares in both:
            mine = [1000 * frame_errors(o, "root", gt) for o, gt in zip(outs, gts)]
            r = float(np.mean([float(x.mean()) / y for x, y in zip(mine, errors["none"])]))
            if fitted is None or r < fitted[0]:
                fitted = (r, outs, shares, mine)
        _, held, joint_shares, e = fitted
        key = geometric_label(PER_JOINT, w, 1.0, pooled)
        scores[key], candidates[key] = (
            round(float(torch.cat(e).mean()), 3),
            (PER_JOINT, w, 1.0, pooled),
        )
        errors[key] = [float(x.mean()) for x in e]
    ratio = {k: float(np.mean([a / b for a, b in zip(v, errors["none"])]))
             for k, v in errors.items()}  # fmt: skip
    if len(parts) == 1:  # one part: the MPJPE itself, as recorded
        ratio = {k: v / scores["none"] for k, v in scores.items()}
    lowest = min(v for k, v in ratio.items() if k != "none")
    tied = [k for k, v in ratio.items() if k != "none" and v <= (1 + tie) * lowest]

    def smoothing(key: str) -> dict:  # made again, not kept: 22 outputs of a training file are GBs
        # the per-joint step's filter on its held-out outputs, as it was scored
        outs = held if candidates[key][0] == PER_JOINT else outputs(*candidates[key])
        return choose_smoothing(outs[0] if len(outs) == 1 else Predictions.pool(outs))

    bar.update(bar.total - 1 - bar.n)  # the per-joint step done (or not tried)
    bar.set_description("calibrate: filters")
    chosen = {k: smoothing(k) for k in ["none", *tied]}
    bar.update()
    bar.close()
    best = min(tied, key=lambda k: chosen[k]["val_mpjpe_mm"][chosen[k]["label"]])
    if not ratio[best] < 1 - min_gain:
        best = "none"
    step, weight, share, pooled = candidates[best]
    return GeometricChoice(step, weight, share, scores, chosen[best],
                           joint_shares if step == PER_JOINT else None, pooled)  # fmt: skip


def left_out_parts(
    refiner: Refiner,
    val: Predictions,
    out: Predictions,
    bodies: Predictions,
    alpha: float,
    correct: str,
    batch_size: int = 256,
    progress: bool = False,
) -> tuple[list[tuple[Predictions, BonePrior | None]], list[str]]:
    """The parts :func:`choose_geometric` scores when the training bodies are given, one per
    subject of ``val`` and ``bodies`` (cross-fitted predictions with ``gt3d`` of the training
    subjects): a validation subject's applied output ``out``, another subject's predictions with
    the chosen correction applied (``alpha`` of its ``correct`` part; the refiner is run on them
    only when ``alpha`` > 0, and it may have learned from them), each with the bone prior of the
    *other* subjects' ground truth (leave one subject out: the prior never knows the body it is
    scored on, as at test). Returns ``(parts, subjects)``; one subject alone gives no part."""
    subjects = sorted({s.subject for s in bodies} | {s.subject for s in val})
    if len(subjects) < 2:
        return [], subjects
    mine = {s.subject for s in val}
    extra = bodies.filter(subjects=[s for s in subjects if s not in mine])
    if alpha > 0 and len(extra):
        full = refiner.apply(extra, FULL, batch_size=batch_size, progress=progress).predictions
        extra = applied(extra, full, alpha, correct)
    parts = []
    for subject in subjects:
        own = (out if subject in mine else extra).filter(subjects=[subject])
        parts.append(
            (own, BonePrior.of(bodies.filter(subjects=[s for s in subjects if s != subject])))
        )
    return parts, subjects


def calibrate(
    refiner: Refiner,
    val: Predictions,
    correct: str | None = None,
    batch_size: int = 256,
    progress: bool = False,
    bodies: Predictions | None = None,
) -> Calibration:
    """Choose on validation predictions (with ``gt3d``) the strength (:func:`choose_strength`),
    then the geometric step after it and the filter after both (:func:`choose_geometric`), and
    record them in ``refiner.calibration`` (save the refiner to keep them). ``correct``: the part
    they are chosen for (default: the config's, ``full`` but for the ``any`` recipe), or
    ``"either"``: that part too (:func:`choose_part`).

    ``bodies``: cross-fitted predictions with ``gt3d`` of the training subjects (the validation
    subjects may be among them). With two subjects or more, the geometric step, the weight of the
    bone prior and the filter are chosen on every subject, each with the prior of the others
    (:func:`left_out_parts`), not on the validation subjects alone, and the prior recorded is all
    of theirs. One validation subject's body is one draw; how much a sequence's own bone lengths
    deserve against a prior is a question about bodies. Returns the new calibration."""
    if len(val) == 0 or not val.has_gt:
        raise D3PRError("calibrating needs validation predictions with gt3d")
    correct = correct or refiner.config.correct
    if correct != "either":
        check_correct(correct, auto=False)
    if val.num_frames < 2:
        raise D3PRError(
            f"calibrating needs validation predictions of 2 frames or more, got {val.num_frames}"
        )
    if bodies is not None and not bodies.has_gt:
        raise D3PRError("the training bodies' predictions need gt3d")
    full = refiner.apply(val, FULL, batch_size=batch_size, progress=progress).predictions
    if correct == "either":
        correct, alpha, scores = choose_part(val, full)
    else:
        alpha, scores = choose_strength(val, full, correct)
    out = applied(val, full, alpha, correct)
    bones = refiner.calibration.bones
    parts, subjects = [], []
    if bodies is not None:
        parts, subjects = left_out_parts(
            refiner, val, out, bodies, alpha, correct, batch_size, progress
        )
        bones = BonePrior.of(bodies) or bones
    chosen = choose_geometric(parts or out, bones, progress=progress)
    smoothing, weight = chosen.filter, chosen.weight
    choice = dict(smoothing["choice"])
    refiner.calibration = refiner.calibration.learned(val.estimator).replace(
        strength=alpha,
        correct=correct,
        filter=choice.pop("filter"),
        filter_params=choice,
        strength_scores=scores,
        smoothing_scores=SmoothingScores(
            smoothing["val_mpjpe_mm"], smoothing["val_frames"], smoothing["min_gain"]
        ),
        geometric=chosen.step,
        geometric_scores=chosen.scores,
        geometric_bodies=tuple(subjects) if parts else (),
        bones=None if bones is None else bones.at(weight, chosen.pooled),
        geometric_share=chosen.share,
        geometric_shares=chosen.joint_shares,
    )
    if progress:
        from tqdm.auto import tqdm

        for line in summary(refiner.calibration):
            tqdm.write(line)
    return refiner.calibration


#: Geometric candidates a summary names (with ``none`` and the chosen one); the rest are counted.
SUMMARY_CANDIDATES = 8


def _best(scores: dict, chosen: str) -> str:
    """``none``, the :data:`SUMMARY_CANDIDATES` lowest and ``chosen``, lowest first, and how many
    more the calibration records."""
    ranked = sorted((k for k in scores if k != "none"), key=lambda k: scores[k])
    named = ["none", *ranked[:SUMMARY_CANDIDATES]]
    if chosen in scores and chosen not in named:
        named.append(chosen)
    figures = ", ".join(f"{k} {scores[k]:.1f}" for k in named if k in scores)
    if len(scores) > len(named):
        figures += (f", and {len(scores) - len(named)} more (all in the checkpoint's config.json: "
                    "calibration.validation.geometric)")  # fmt: skip
    return figures


def summary(cal: Calibration) -> list[str]:
    """The validation MPJPE of every strength and the one chosen; of every geometric step and
    the one chosen; of every filter and the one chosen (one line each)."""
    lines = []
    where = "validation"
    if cal.geometric_bodies:
        where = f"{len(cal.geometric_bodies)} bodies ({', '.join(cal.geometric_bodies)})"
    scores = cal.strength_scores
    if scores is not None:
        figures = ", ".join(f"α={a:g} {v:.1f}" for a, v in scores.mpjpe_mm.items())
        part = " (in-plane part of the correction)" if cal.correct == "in-plane" else ""
        line = f"strength{part} on validation (MPJPE mm): {figures} -> α={cal.strength:g}"
        if scores.by_fold:
            line += f" (chosen by the worst of its {len(scores.by_fold)} lifters)"
        if scores.parts:
            parts = ", ".join(f"{p} ×{v:.3f}" for p, v in scores.parts.items())
            line += f"; part chosen on validation (MPJPE vs unrefined: {parts})"
        if cal.strength == 0:
            line += " (refining did not help on validation: the input passes through)"
        lines.append(line)
    if cal.geometric_scores is not None:
        step = cal.geometric
        if cal.geometric != "none":
            weight = 1.0 if cal.bones is None else cal.bones.weight
            pooled = cal.bones is not None and cal.bones.pooled
            step = geometric_label(step, weight, cal.geometric_share, pooled)
        figures = _best(cal.geometric_scores, step)
        prior = ", each with the others' bones as its prior" if cal.geometric_bodies else ""
        line = f"geometric step on {where}{prior} (MPJPE mm): {figures} -> {step}"
        none = cal.geometric_scores.get("none")
        if step == "none" and none is not None and min(cal.geometric_scores.values()) < none:
            line += f" (no step gained {GEOMETRIC_MIN_GAIN:.0%} or more)"
        if cal.bones is not None:
            line += (
                " (STEP@w: the bones at w × the sequence's median + (1 − w) × the training bodies'"
            )
            line += ("; STEP@bodyw: its body's median, over the sequences of its subject; ×s: a "
                     "share s of what the step takes from the 2D)")  # fmt: skip
        elif cal.geometric_scores and any("×" in k for k in cal.geometric_scores):
            line += " (×s: a share s of what the step takes from the 2D)"
        lines.append(line)
    if cal.smoothing_scores is not None:
        scores = cal.smoothing_scores.mpjpe_mm
        figures = ", ".join(f"{k} {v:.1f}" for k, v in scores.items())
        line = f"smoothing on {where} (MPJPE mm): {figures} -> {cal.filter_label}"
        if scores.get(cal.filter_label, 0.0) > min(scores.values()):
            line += " (within a tie of the lowest: the filter that adapts to each sequence)"
        lines.append(line)
    return lines

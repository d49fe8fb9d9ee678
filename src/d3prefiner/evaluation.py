"""Score predictions / refined files side by side with the baselines: plain results.

The first method is the *base* estimator; the baselines (:mod:`d3prefiner.baselines`) are applied
to its predictions; every method is scored per action
(:func:`~d3prefiner.metrics.evaluate_predictions`: sequences grouped by
:func:`~d3prefiner.metrics.action_group`) and the results dict (:func:`results_from_tables`,
layout in :mod:`d3prefiner.report`) is returned. Nothing here draws or writes: ``d3pr evaluate``,
the demo and the bench go through :mod:`d3prefiner.report`, which builds on this module (it adds
the figures of :func:`d3prefiner.viz.make_figures` and writes ``report.md`` / ``results.json``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .baselines import (
    CND_BASELINE,
    DEFAULT_BASELINES,
    GEOMETRIC,
    apply_baseline,
    baseline_names,
)
from .errors import ArgumentError, D3PRError
from .metrics import (
    METRIC_KEYS,
    ActionTable,
    compile_action_pattern,
    evaluate_predictions,
    frame_errors,
    joint_errors,
)
from .predictions import Predictions

#: Tolerance on ground-truth agreement between files, metres.
GT_TOLERANCE_M = 1e-3


def _key(s) -> tuple[str, str, str]:
    return (s.subject, s.action, s.camera)


def align_methods(methods: Mapping[str, Predictions]) -> dict[str, Predictions]:
    """Check that every method describes the same sequences as the first and reorder them to
    its order (matched by subject/action/camera; by position where those repeat).

    Raises:
        D3PRError: on a missing ground truth, a different set of sequences, a length mismatch or
            ground truths that differ by more than 1 mm.
    """
    if not methods:
        raise D3PRError("no predictions to evaluate")
    names = list(methods)
    base_name = names[0]
    base = methods[base_name]
    for name, p in methods.items():
        if len(p) == 0:
            raise D3PRError(f"{name}: no sequences")
        if not p.has_gt:
            raise D3PRError(f"{name}: some sequences have no gt3d; evaluation needs ground truth")
    keys = [_key(s) for s in base]
    unique = len(set(keys)) == len(keys)
    out = {base_name: base}
    for name in names[1:]:
        p = methods[name]
        if len(p) != len(base):
            raise D3PRError(
                f"{name}: {len(p)} sequences, but {base_name} has {len(base)}; "
                "the files must describe the same sequences"
            )
        if unique:
            by_key = {_key(s): s for s in p}
            missing = [k for k in keys if k not in by_key]
            if missing:
                raise D3PRError(
                    f"{name}: sequence {'/'.join(missing[0])} of {base_name} is missing "
                    f"({len(missing)} missing in all)"
                )
            seqs = [by_key[k] for k in keys]
        else:
            seqs = list(p.sequences)
        for a, b in zip(base, seqs):
            where = "/".join(_key(a))
            if _key(a) != _key(b):
                raise D3PRError(
                    f"{name}: sequence {'/'.join(_key(b))} where {base_name} has {where}"
                )
            if a.num_frames != b.num_frames:
                raise D3PRError(
                    f"{name}: sequence {where} has {b.num_frames} frames, {base_name} {a.num_frames}"
                )
            diff = float(np.abs(a.gt3d - b.gt3d).max())
            if diff > GT_TOLERANCE_M:
                raise D3PRError(
                    f"{name}: ground truth of {where} differs from {base_name}'s by "
                    f"{diff * 1000:.1f} mm"
                )
        out[name] = Predictions(seqs, p.estimator)
    return out


def per_frame_errors(p: Predictions) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's errors, the sequences' frames pooled in order (the figures' data): MPJPE
    ``(N,)`` and per-joint error ``(N, 17)``, mm, root-aligned."""
    pred = torch.from_numpy(p.concat("pred3d")).double()
    gt = torch.from_numpy(p.concat("gt3d")).double()
    per_joint = joint_errors(pred, gt, align="root")  # (N, 17)
    return (frame_errors(p, align="root") * 1000).numpy(), (per_joint * 1000).numpy()


def frame_labels(p: Predictions) -> list[str]:
    """``"<subject> <action> #<frame>"`` of every frame, in the order of :func:`per_frame_errors`."""
    labels = []
    for s in p:
        labels += [f"{s.subject} {s.action} #{i}" for i in range(s.num_frames)]
    return labels


# ----------------------------------------------------------------------------- the results


#: Unit of every metric of the results (``meta.units``).
UNITS = {
    "mpjpe_mm": "mm",
    "p_mpjpe_mm": "mm",
    "n_mpjpe_mm": "mm",
    "mpjve_mm_s": "mm/s",
    "accel_mm_s2": "mm/s^2",
}

#: The two averages, in words (``meta.averages``).
AVERAGES_NOTE = (
    "action-weighted = unweighted mean over actions of the per-action means (the papers' Avg.); "
    "frame-weighted = mean over all frames pooled"
)


def pct_change(value: float | None, base: float | None) -> float | None:
    """Relative change ``(value − base) / base`` in percent; None where undefined."""
    if value is None or base is None or not base or math.isnan(value) or math.isnan(base):
        return None
    return (value - base) / base * 100.0


def results_from_tables(
    tables: Mapping[str, ActionTable], base: str | None = None, meta: Mapping | None = None
) -> dict:
    """Build the results dict (layout in :mod:`d3prefiner.report`) from one table per method.

    Args:
        tables: method name → :class:`~d3prefiner.metrics.ActionTable`, the base method first.
        base: name of the base method (default: the first).
        meta: extra entries for ``meta``.
    """
    if not tables:
        raise D3PRError("no methods to report")
    base = base if base is not None else next(iter(tables))
    if base not in tables:
        raise D3PRError(f"base method '{base}' is not among {', '.join(tables)}")
    methods = {}
    for name, t in tables.items():
        d = t.to_dict()
        aw = d["action_weighted"]
        entry = {k: aw[k] for k in METRIC_KEYS}
        entry["frames"] = aw["frames"]
        entry["action_weighted"] = aw
        entry["frame_weighted"] = d["frame_weighted"]
        entry["per_action"] = d["per_action"]
        methods[name] = entry
    for entry in methods.values():
        entry["change_vs_base_pct"] = {
            k: pct_change(entry[k], methods[base][k]) for k in METRIC_KEYS
        }
    m = {"base": base, "averages": AVERAGES_NOTE, "units": dict(UNITS)}
    m.update(meta or {})
    return {"methods": methods, "meta": m}


@dataclass(frozen=True)
class Evaluation:
    """What an evaluation gives: the results and the predictions they score.

    Attributes:
        results: the results dict (layout in :mod:`d3prefiner.report`).
        methods: method name → predictions, in the results' order: the given methods aligned to
            the base's sequences (the base first), then the baselines' outputs.
    """

    results: dict
    methods: dict[str, Predictions]


def _baselines_to_run(methods: Mapping, baselines: Sequence[str], noise_model) -> list[str]:
    todo = list(dict.fromkeys(baselines))
    if noise_model is not None and CND_BASELINE not in todo:
        todo.append(CND_BASELINE)
    for b in todo:
        if b not in baseline_names():
            raise D3PRError(f"unknown baseline '{b}' (choose from {', '.join(baseline_names())})")
        if b in methods:
            raise D3PRError(f"method name '{b}' clashes with a baseline's name")
    return todo


def evaluate(
    methods: Mapping[str, Predictions],
    baselines: Sequence[str] = DEFAULT_BASELINES,
    noise_model=None,
    meta: Mapping | None = None,
    progress: bool = True,
    action_pattern: str | re.Pattern | None = None,
) -> Evaluation:
    """Score in-memory methods and the baselines.

    Args:
        methods: name → predictions with ``gt3d``, the base estimator first (e.g. ``base``,
            ``refined``).
        baselines: filters to apply to the base (:func:`d3prefiner.baselines.baseline_names`);
            ``cnd_closed_form`` is added automatically when ``noise_model`` is given.
        noise_model: fitted noise model with ``closed_form_refine(pose2d, pred3d)``, or None.
        meta: extra ``meta`` entries.
        progress: tqdm bars.
        action_pattern: how sequence names become the tables' actions
            (:func:`~d3prefiner.metrics.action_group`).

    Returns:
        The :class:`Evaluation`: the results dict and every method's predictions.
    """
    methods = align_methods(methods)
    names = list(methods)
    base = names[0]
    regex = compile_action_pattern(action_pattern)
    _check_pattern_matches(regex, methods[base])
    todo = _baselines_to_run(methods, baselines, noise_model)
    all_methods = dict(methods)
    for b in todo:
        all_methods[b] = apply_baseline(b, methods[base], noise_model, progress=progress)
    tables = {n: evaluate_predictions(p, regex) for n, p in all_methods.items()}
    m = {
        "methods_given": names,
        "baselines": todo,
        "sequences": len(methods[base]),
        "frames": methods[base].num_frames,
        "subjects": sorted({s.subject for s in methods[base]}),
        "fps": sorted({float(s.fps) for s in methods[base]}),
    }
    if any(b in GEOMETRIC for b in todo):  # which cameras the geometric baselines used
        m["intrinsics"] = {
            "with_camera": methods[base].num_with_intrinsics,
            "sequences": len(methods[base]),
        }
    m.update(meta or {})
    return Evaluation(results_from_tables(tables, base=base, meta=m), all_methods)


def _check_pattern_matches(regex: re.Pattern | None, preds: Predictions) -> None:
    """Refuse an action pattern that matches no sequence's action name (a typo: every table would
    silently fall back to the default grouping)."""
    if regex is None or not len(preds):
        return
    actions = sorted({s.action for s in preds})
    if not any(regex.search(str(a).strip()) for a in actions):
        shown = ", ".join(map(repr, actions[:3])) + (", ..." if len(actions) > 3 else "")
        raise ArgumentError(
            "action_pattern", f"{regex.pattern!r} matches none of the {len(actions)} action "
            f"names ({shown}); fix the regular expression or leave it out",
        )  # fmt: skip


def evaluate_methods(methods: Mapping[str, Predictions], *args, **kwargs) -> dict:
    """The results dict of :func:`evaluate` (arguments as there); figures and report files:
    :func:`d3prefiner.report.evaluate_methods`."""
    return evaluate(methods, *args, **kwargs).results


def evaluate_paths(
    paths: Sequence[str | os.PathLike],
    names: Sequence[str] | None = None,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    noise_model=None,
    progress: bool = True,
    action_pattern: str | re.Pattern | None = None,
) -> Evaluation:
    """Load predictions / refined npz files (all with ``gt3d``) and evaluate them together.

    Args:
        paths: predictions files, the base estimator's first.
        names: one name per file (default ``base``, ``refined``, ``refined2``, ...).
        baselines, noise_model, progress, action_pattern: as in :func:`evaluate`.

    Returns:
        The :class:`Evaluation`; ``meta.files`` of its results lists the inputs.

    Raises:
        D3PRError: on unreadable files, missing ground truth or files that do not describe the
            same sequences (subject/action/camera/length).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise D3PRError("no predictions files given")
    action_pattern = compile_action_pattern(action_pattern)  # a bad regex before any loading
    if names is None or len(names) == 0:
        names = ["base", "refined"] + [f"refined{i}" for i in range(2, len(paths))]
        names = names[: len(paths)]
    names = [str(n).strip() for n in names]
    if len(names) != len(paths):
        raise D3PRError(f"{len(names)} names for {len(paths)} files")
    if len(set(names)) != len(names) or any(not n for n in names):
        raise D3PRError(f"method names must be distinct and non-empty, got {', '.join(names)}")
    methods = {}
    for n, p in zip(names, paths):
        preds = Predictions.load(p)
        if not preds.has_gt:
            raise D3PRError(f"{p}: has no gt3d; evaluation needs ground truth")
        methods[n] = preds
    meta = {"files": {n: str(p) for n, p in zip(names, paths)}}
    return evaluate(methods, baselines, noise_model, meta, progress, action_pattern)


def evaluate_files(paths: Sequence[str | os.PathLike], *args, **kwargs) -> dict:
    """The results dict of :func:`evaluate_paths` (arguments as there); figures and report files:
    :func:`d3prefiner.report.evaluate_files`."""
    return evaluate_paths(paths, *args, **kwargs).results

"""Evaluate predictions / refined files side by side with the baselines: tables and figures.

Used by ``d3pr evaluate`` and by the demo. The first method is the *base* estimator; the
baselines (:mod:`d3prefiner.baselines`) are applied to its predictions; every method is scored
per action (:func:`evaluate_by_action`: sequences grouped by :func:`action_group`) and the
results dict of :mod:`d3prefiner.report` is returned.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .baselines import CND_BASELINE, DEFAULT_BASELINES, apply_baseline, baseline_names
from .errors import D3PRError
from .metrics import (
    H36M_ACTIONS,
    ActionTable,
    aggregate_actions,
    canonical_action,
    frame_errors,
    joint_errors,
    sequence_errors,
)
from .predictions import Predictions
from .report import results_from_tables

#: Tolerance on ground-truth agreement between files, metres.
GT_TOLERANCE_M = 1e-3

_LEADING_NAME = re.compile(r"[^\d_]+")


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


def evaluate_by_action(
    preds: Predictions, action_pattern: str | re.Pattern | None = None
) -> ActionTable:
    """Per-action errors (:class:`~d3prefiner.metrics.ActionTable`, mm, mm/s, mm/s²) of
    predictions against their ``gt3d``, sequences grouped by :func:`action_group`."""
    regex = compile_action_pattern(action_pattern)
    records = []
    for s in preds:
        if s.gt3d is None:
            raise D3PRError(f"sequence {s.subject}/{s.action}/{s.camera} has no gt3d to evaluate")
        records.append((action_group(s.action, regex), sequence_errors(s.pred3d, s.gt3d, s.fps)))
    return aggregate_actions(records, canonical=False)


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


def _frame_errors(p: Predictions) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame MPJPE ``(N,)`` mm and per-joint error ``(N, 17)`` mm, root-aligned."""
    pred = torch.from_numpy(p.concat("pred3d")).double()
    gt = torch.from_numpy(p.concat("gt3d")).double()
    per_joint = joint_errors(pred, gt, align="root")  # (N, 17)
    return (frame_errors(p, align="root") * 1000).numpy(), (per_joint * 1000).numpy()


def make_figures(
    methods: Mapping[str, Predictions],
    figures_dir: str | os.PathLike,
    refined: str | None = None,
    gif: bool = True,
) -> dict[str, Path]:
    """Write the figures: MPJPE histogram (base vs ``refined``), skeletons, error per joint and
    an animated GIF of one sequence.

    Args:
        methods: aligned method name → predictions, the base first.
        figures_dir: output folder.
        refined: method compared with the base (default: the second method).
        gif: also write the GIF.

    Returns:
        Figure title → path.
    """
    from . import viz  # matplotlib only when figures are asked for

    out = Path(figures_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(methods)
    base = names[0]
    if refined is None and len(names) > 1:
        refined = names[1]
    errs = {n: _frame_errors(p) for n, p in methods.items()}
    figs: dict[str, Path] = {}
    hist = {base: errs[base][0]}
    if refined:
        hist[refined] = errs[refined][0]
    figs["MPJPE per frame"] = viz.plot_error_histogram(hist, out / "mpjpe_histogram.png")
    figs["Error per joint"] = viz.plot_joint_errors(
        {n: e[1].mean(axis=0) for n, e in errs.items()}, out / "joint_errors.png"
    )
    # three frames at the 50th, 80th and 95th percentile of the base error
    gt_all = methods[base].concat("gt3d")
    est_all = methods[base].concat("pred3d")
    ref_all = methods[refined].concat("pred3d") if refined else None
    order = np.argsort(errs[base][0], kind="stable")
    picks = [int(order[min(len(order) - 1, int(q * len(order)))]) for q in (0.5, 0.8, 0.95)]
    where = _frame_labels(methods[base])
    titles = [
        f"{where[i]}\nbase {errs[base][0][i]:.0f} mm"
        + (f", {refined} {errs[refined][0][i]:.0f} mm" if refined else "")
        for i in picks
    ]

    def rel(x):
        return x - x[:, :1]

    figs["Qualitative skeletons"] = viz.plot_skeletons(
        rel(gt_all[picks]),
        rel(est_all[picks]),
        rel(ref_all[picks]) if ref_all is not None else None,
        out / "skeletons.png",
        titles=titles,
    )
    if gif:
        s0 = methods[base].sequences[0]
        n = min(s0.num_frames, max(2, int(round(3 * s0.fps))))  # a 3-second clip
        ref0 = methods[refined].sequences[0].pred3d[:n] if refined else None
        figs["Sequence animation"] = viz.animate_sequence(
            rel(s0.gt3d[:n]),
            rel(s0.pred3d[:n]),
            rel(ref0) if ref0 is not None else None,
            out / "sequence.gif",
            fps=s0.fps,
            max_frames=75,
            title=f"{s0.subject} {s0.action}",
        )
    return figs


def _frame_labels(p: Predictions) -> list[str]:
    labels = []
    for s in p:
        labels += [f"{s.subject} {s.action} #{i}" for i in range(s.num_frames)]
    return labels


def evaluate_methods(
    methods: Mapping[str, Predictions],
    baselines: Sequence[str] = DEFAULT_BASELINES,
    noise_model=None,
    figures_dir: str | os.PathLike | None = None,
    report_dir: str | os.PathLike | None = None,
    meta: Mapping | None = None,
    gif: bool = True,
    progress: bool = True,
    action_pattern: str | re.Pattern | None = None,
) -> dict:
    """Score in-memory methods and the baselines; optionally write figures.

    Args:
        methods: name → predictions with ``gt3d``, the base estimator first (e.g. ``base``,
            ``refined``).
        baselines: filters to apply to the base (:func:`d3prefiner.baselines.baseline_names`);
            ``cnd_closed_form`` is added automatically when ``noise_model`` is given.
        noise_model: fitted noise model with ``closed_form_refine(pose2d, pred3d)``, or None.
        figures_dir: where to write PNG/GIF figures, or None for none.
        report_dir: figure paths in ``meta.figures`` are made relative to it (default: the
            parent of ``figures_dir``).
        meta: extra ``meta`` entries.
        gif: write the animated GIF with the figures.
        progress: tqdm bars.
        action_pattern: how sequence names become the tables' actions (:func:`action_group`).

    Returns:
        The results dict (:mod:`d3prefiner.report` layout).
    """
    methods = align_methods(methods)
    names = list(methods)
    base = names[0]
    todo = list(dict.fromkeys(baselines))
    if noise_model is not None and CND_BASELINE not in todo:
        todo.append(CND_BASELINE)
    for b in todo:
        if b not in baseline_names():
            raise D3PRError(f"unknown baseline '{b}' (choose from {', '.join(baseline_names())})")
        if b in methods:
            raise D3PRError(f"method name '{b}' clashes with a baseline's name")
    all_methods = dict(methods)
    for b in todo:
        all_methods[b] = apply_baseline(b, methods[base], noise_model, progress=progress)
    regex = compile_action_pattern(action_pattern)
    tables = {n: evaluate_by_action(p, regex) for n, p in all_methods.items()}
    m = {
        "methods_given": names,
        "baselines": todo,
        "sequences": len(methods[base]),
        "frames": methods[base].num_frames,
        "subjects": sorted({s.subject for s in methods[base]}),
        "fps": sorted({float(s.fps) for s in methods[base]}),
    }
    m.update(meta or {})
    if figures_dir is not None:
        figs = make_figures(all_methods, figures_dir, names[1] if len(names) > 1 else None, gif)
        start = Path(report_dir) if report_dir is not None else Path(figures_dir).parent
        m["figures"] = {k: os.path.relpath(v, start) for k, v in figs.items()}
    return results_from_tables(tables, base=base, meta=m)


def evaluate_files(
    paths: Sequence[str | os.PathLike],
    names: Sequence[str] | None = None,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    noise_model=None,
    figures_dir: str | os.PathLike | None = None,
    report_dir: str | os.PathLike | None = None,
    gif: bool = True,
    progress: bool = True,
    action_pattern: str | re.Pattern | None = None,
) -> dict:
    """Load predictions / refined npz files (all with ``gt3d``) and evaluate them together.

    Args:
        paths: predictions files, the base estimator's first.
        names: one name per file (default ``base``, ``refined``, ``refined2``, ...).
        baselines, noise_model, figures_dir, report_dir, gif, progress, action_pattern: as in
            :func:`evaluate_methods`.

    Returns:
        The results dict (:mod:`d3prefiner.report` layout); ``meta.files`` lists the inputs.

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
    return evaluate_methods(
        methods, baselines, noise_model, figures_dir, report_dir, meta, gif, progress,
        action_pattern,
    )  # fmt: skip

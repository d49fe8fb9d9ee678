"""Finished runs' results as Markdown tables, one section per run (``d3pr summary``).

A run is a ``d3pr bench`` run folder (``RUN/results.json``), a ``d3pr evaluate --out DIR`` folder
(``DIR/results.json``) or a ``results.json`` itself; the layout is the one
:mod:`d3prefiner.report` documents. Each section: a line saying what was run (when the run is a
bench run), then every method's MPJPE and P-MPJPE with their change from the base, MPJVE,
acceleration error and the frame-weighted MPJPE; with ``per_action``, the MPJPE and P-MPJPE of
every method per action, as the paper's Tables I and II.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import D3PRError
from ..metrics import action_label, order_actions

RESULTS_FILE = "results.json"


def results_path(run: str | os.PathLike) -> Path:
    """The ``results.json`` of ``run`` (a folder holding one, or the file itself)."""
    path = Path(run)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise D3PRError(f"{path}: not found (a `d3pr bench` run or `d3pr evaluate --out` folder)")
    return path


def load_results(run: str | os.PathLike) -> tuple[str, dict]:
    """``(name, results)`` of a run: the name is the folder holding ``results.json``."""
    path = results_path(run)
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise D3PRError(f"{path}: not valid JSON ({exc})") from None
    methods = results.get("methods") if isinstance(results, dict) else None
    base = (results.get("meta") or {}).get("base") if isinstance(results, dict) else None
    if not methods or base not in methods:
        raise D3PRError(
            f"{path}: no methods with a base (not the results.json of `d3pr bench` or "
            "`d3pr evaluate`)"
        )
    return path.parent.name, results


def _fmt(x: float | None, nd: int = 1) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def _change(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "—"
    return f"{100 * (value / base - 1):+.1f}%"


def _describe(meta: Mapping) -> list[str]:
    exp = meta.get("experiment")
    if not exp:
        return []
    return [
        f"lifter {exp.get('model')} ({exp.get('lifter_preset')}), {exp.get('setting')} 2D; "
        f"train MPJPE in-sample {meta.get('in_sample_train_mpjpe_mm')} mm, cross-fitted "
        f"{meta.get('cross_fitted_train_mpjpe_mm')} mm; stage seconds {meta.get('timings_s')}",
        "",
    ]


def _per_action(methods: Mapping, base: Mapping) -> list[str]:
    actions = order_actions(list(base.get("per_action") or {}))
    lines = []
    for key, title in (("mpjpe_mm", "MPJPE"), ("p_mpjpe_mm", "P-MPJPE")):
        lines += ["", f"{title} (mm) per action:", ""]
        lines.append("| method | " + " | ".join(action_label(a) for a in actions) + " | Avg |")
        lines.append("|---|" + "---:|" * (len(actions) + 1))
        for name, m in methods.items():
            per = m.get("per_action") or {}
            row = [_fmt(per.get(a, {}).get(key)) for a in actions]
            lines.append(f"| {name} | " + " | ".join(row) + f" | {_fmt(m.get(key))} |")
    return lines


def summarize(name: str, results: Mapping, per_action: bool = False) -> str:
    """One run's section: ``### name``, what was run, the methods table (and per action)."""
    methods, meta = results["methods"], results.get("meta") or {}
    base = methods[meta["base"]]
    lines = [f"### {name}", "", *_describe(meta)]
    lines += [
        "| method | MPJPE | Δ | P-MPJPE | Δ | MPJVE (mm/s) | accel (mm/s²) | MPJPE frame-w. |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, m in methods.items():
        frame = (m.get("frame_weighted") or {}).get("mpjpe_mm")
        lines.append(
            f"| {method} | {_fmt(m.get('mpjpe_mm'))} "
            f"| {_change(m.get('mpjpe_mm'), base.get('mpjpe_mm'))} "
            f"| {_fmt(m.get('p_mpjpe_mm'))} | {_change(m.get('p_mpjpe_mm'), base.get('p_mpjpe_mm'))} "
            f"| {_fmt(m.get('mpjve_mm_s'), 0)} | {_fmt(m.get('accel_mm_s2'), 0)} | {_fmt(frame)} |"
        )
    if per_action:
        lines += _per_action(methods, base)
    return "\n".join(lines) + "\n"


def summarize_runs(runs: Sequence[str | os.PathLike], per_action: bool = False) -> str:
    """Every run's section (:func:`summarize`), in the order given, one blank line apart.

    Raises:
        D3PRError: a run without a readable ``results.json`` (nothing is printed then).
    """
    if not runs:
        raise D3PRError("no runs given")
    loaded = [load_results(r) for r in runs]
    return "\n".join(summarize(name, res, per_action) for name, res in loaded)

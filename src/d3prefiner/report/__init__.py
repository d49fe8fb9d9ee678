"""Results as a report that reads like a paper's results section, terminal tables and JSON.

Modules: :mod:`.evaluate` (the evaluation of :mod:`d3prefiner.evaluation` with its figures:
:func:`evaluate_methods`, :func:`evaluate_files`), :mod:`.tables` (per-action tables and their
rendering), :mod:`.methods` (labels, order, Table 1 and the verdict), :mod:`.run` (what was run, in
words, and the appendix); this one puts them together (:func:`to_markdown`, :func:`format_text`,
:func:`write_report`). The report builds on the evaluation, never the other way round.

``report.md`` (:func:`to_markdown`): what was run, in words; Table 1 (every method, every metric,
action-weighted, change vs the base); the verdict (the refiner against the base and the
closed-form CND, in mm and %); the metrics' definitions; per-action tables like the paper's
Tables I and II; the figures; an appendix with the settings and the run record.

The results dict (written as ``results.json``) has this layout::

    {
      "methods": {
        "<name>": {                       # base, refined, savgol, one_euro, gaussian, cnd_closed_form
          "mpjpe_mm": ..., "p_mpjpe_mm": ..., "n_mpjpe_mm": ...,   # action-weighted averages
          "mpjve_mm_s": ..., "accel_mm_s2": ..., "frames": N,
          "action_weighted": {...same keys...},
          "frame_weighted": {...same keys...},
          "change_vs_base_pct": {"mpjpe_mm": -3.1, ...},           # action-weighted, vs base
          "per_action": {"<action>": {"frames": n, "mpjpe_mm": ..., ...}}
        }
      },
      "meta": {"base": "<name>", "averages": "...", "units": {...}, "figures": {...}, ...}
    }

``meta`` entries the report puts in words when present: ``methods_given``, ``baselines``,
``sequences``, ``frames``, ``subjects``, ``fps``, ``files`` (from
:func:`~d3prefiner.evaluation.evaluate`), ``figures`` (from :func:`evaluate_methods`); ``experiment`` (an
``ExperimentConfig.to_dict()``), ``timings_s``, ``in_sample_train_mpjpe_mm``,
``cross_fitted_train_mpjpe_mm``, ``verdict`` (from the study layer); ``cnd`` (the noise model's
options) or ``cnd_ridge``, and ``filter_settings`` (name → settings; default: the filters'
defaults in :mod:`d3prefiner.baselines`). Any other entry goes to the run record as it is.

The top-level numbers of a method are the **action-weighted** averages (the unweighted mean over
actions, the papers' "Avg."); ``frame_weighted`` pools all frames. Undefined values are ``null``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..io import atomic_path, save_json
from .evaluate import add_figures, evaluate_files, evaluate_methods
from .methods import (
    CND,
    FIGURE_CAPTIONS,
    METHOD_LABELS,
    METRIC_DEFINITIONS,
    REFINED_METHODS,
    WEIGHTING_DEFINITIONS,
    _present,
    main_rows,
    method_labels,
    method_order,
    refined_method,
    verdict,
)
from .run import _subjects, appendix, describe_run, filter_settings
from .tables import (
    AVERAGES_NOTE,
    TABLE_METRICS,
    _check,
    _nan_to_none,
    pct_change,
    render_markdown,
    render_text,
    results_from_tables,
    summary_rows,
    table_rows,
)

__all__ = [
    "CND", "METHOD_LABELS", "REFINED_METHODS", "TABLE_METRICS", "add_figures", "appendix",
    "describe_run", "evaluate_files", "evaluate_methods", "filter_settings", "format_text",
    "main_rows", "method_labels", "method_order", "pct_change", "refined_method",
    "render_markdown", "render_text", "results_from_tables", "summary_rows", "table_rows",
    "to_markdown", "verdict", "write_report",
]  # fmt: skip


def format_text(results: Mapping) -> str:
    """The whole report as plain text for the terminal: summary, then one table per metric,
    then the verdict."""
    parts = ["Summary (action-weighted averages)", render_text(summary_rows(results))]
    for metric, title in TABLE_METRICS.items():
        parts += ["", title, render_text(table_rows(results, metric))]
    parts += ["", AVERAGES_NOTE, "", f"Verdict: {verdict(results)}"]
    return "\n".join(parts)


def _scope(meta: Mapping) -> str:
    subjects, frames = meta.get("subjects"), meta.get("frames")
    bits = [_subjects(subjects) if subjects else "", f"{frames} frames" if frames else ""]
    bits = [x for x in bits if x]
    return f" ({'; '.join(bits)})" if bits else ""


def _relabel(rows: list[list[str]], labels: Mapping[str, str]) -> list[list[str]]:
    return [[labels.get(r[0], r[0]), *r[1:]] for r in rows]


def to_markdown(results: Mapping, title: str = "D3PRefiner evaluation") -> str:
    """The report as Markdown, in the order of a paper's results section: what was run, Table 1
    and the verdict, the metrics' definitions, per-action tables, figures (``meta.figures``,
    paths relative to the report), then the settings and the run record."""
    methods, _ = _check(results)
    meta = results.get("meta", {})
    order = method_order(results)
    ordered = {"methods": {n: methods[n] for n in order}, "meta": meta}
    labels = method_labels(results)
    parts = [f"# {title}", "", "## What was run", ""]
    for p in describe_run(results):
        parts += [p, ""]
    parts += [
        "## Results",
        "",
        f"**Table 1.** Errors on the test data{_scope(meta)}, action-weighted means; in "
        "parentheses the change vs the base. Lower is better; the best value of each column "
        "in bold.",
        "",
        render_markdown(main_rows(results)),
        "",
        f"**Verdict.** {verdict(results)}",
        "",
        "## Metrics and protocols",
        "",
        *[f"- {METRIC_DEFINITIONS[k]}" for k in _present(methods)],
        *[f"- {d}" for d in WEIGHTING_DEFINITIONS],
        "",
        "## Per-action results",
    ]
    for k, (metric, t) in enumerate(TABLE_METRICS.items(), start=2):
        rows = _relabel(table_rows(ordered, metric), labels)
        parts += ["", f"**Table {k}.** {t}, per action.", "", render_markdown(rows)]
    figs = meta.get("figures") or {}
    if figs:
        parts += ["", "## Figures", ""]
        for name, rel in figs.items():
            parts += [f"### {name}", "", f"![{name}]({rel})", ""]
            if name in FIGURE_CAPTIONS:
                parts += [FIGURE_CAPTIONS[name], ""]
    parts += ["", *appendix(results)]
    return "\n".join(parts).rstrip() + "\n"


def write_report(results: Mapping, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``out_dir/report.md`` and ``out_dir/results.json`` (atomically).

    Returns:
        ``{"report": path, "results": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check(results)
    clean = _json_clean(results)
    save_json(out / "results.json", clean)
    with atomic_path(out / "report.md", ".md") as tmp:
        tmp.write_text(to_markdown(clean))
    return {"report": out / "report.md", "results": out / "results.json"}


def _json_clean(obj):
    if isinstance(obj, Mapping):
        return {str(k): _json_clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_clean(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and not isinstance(obj, str):
        obj = obj.item()
    return _nan_to_none(obj)

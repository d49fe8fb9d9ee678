"""The results' tables: per-action rows, the summary, plain-text and Markdown rendering (the results
dict itself, its units and its averages come from :mod:`d3prefiner.evaluation`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..errors import D3PRError
from ..evaluation import AVERAGES_NOTE, UNITS, pct_change, results_from_tables
from ..metrics import METRIC_KEYS, action_label, order_actions

__all__ = [
    "AVERAGES_NOTE", "SHORT_NAMES", "TABLE_METRICS", "UNITS", "pct_change", "render_markdown",
    "render_text", "results_from_tables", "summary_rows", "table_rows",
]  # fmt: skip

#: Metric key → table title, in report order.
TABLE_METRICS: dict[str, str] = {
    "mpjpe_mm": "MPJPE (mm) ↓ — Protocol #1",
    "p_mpjpe_mm": "P-MPJPE (mm) ↓ — Protocol #2",
    "mpjve_mm_s": "MPJVE (mm/s) ↓ — velocity error",
    "accel_mm_s2": "Acceleration error (mm/s²) ↓",
}

#: Short column names for the summary table.
SHORT_NAMES = {
    "mpjpe_mm": "MPJPE",
    "p_mpjpe_mm": "P-MPJPE",
    "n_mpjpe_mm": "N-MPJPE",
    "mpjve_mm_s": "MPJVE",
    "accel_mm_s2": "Accel",
}


def _nan_to_none(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


# ----------------------------------------------------------------------------- formatting


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.1f}"


def _fmt_pct(v) -> str:
    return "–" if v is None else f"{v:+.1f}%"


def _check(results: Mapping) -> tuple[dict, str]:
    methods = results.get("methods") if isinstance(results, Mapping) else None
    if not methods:
        raise D3PRError("results hold no methods")
    base = results.get("meta", {}).get("base", next(iter(methods)))
    if base not in methods:
        base = next(iter(methods))
    return methods, base


def _actions(methods: Mapping) -> list[str]:
    acts = set()
    for m in methods.values():
        acts.update(m.get("per_action", {}))
    return order_actions(acts)


def table_rows(results: Mapping, metric: str) -> list[list[str]]:
    """One metric's per-action table as rows of cells (first row the header).

    Rows: each method; under every non-base method a ``Δ vs <base>`` row with the change in %.
    Columns: method, the actions, ``Avg (action-w.)``, ``Avg (frame-w.)``.
    """
    if metric not in METRIC_KEYS:
        raise D3PRError(f"unknown metric '{metric}' (choose from {', '.join(METRIC_KEYS)})")
    methods, base = _check(results)
    actions = _actions(methods)
    header = ["Method", *[action_label(a) for a in actions], "Avg (action-w.)", "Avg (frame-w.)"]
    rows = [header]
    b = methods[base]
    for name, m in methods.items():
        pa = m.get("per_action", {})
        vals = [pa.get(a, {}).get(metric) for a in actions]
        aw, fw = m.get(metric), m.get("frame_weighted", {}).get(metric)
        rows.append([name, *[_fmt(v) for v in vals], _fmt(aw), _fmt(fw)])
        if name != base:
            bpa = b.get("per_action", {})
            ch = [pct_change(v, bpa.get(a, {}).get(metric)) for v, a in zip(vals, actions)]
            ch_aw = pct_change(aw, b.get(metric))
            ch_fw = pct_change(fw, b.get("frame_weighted", {}).get(metric))
            rows.append(
                [f"  Δ vs {base}", *[_fmt_pct(c) for c in ch], _fmt_pct(ch_aw), _fmt_pct(ch_fw)]
            )
    return rows


def summary_rows(results: Mapping) -> list[list[str]]:
    """Averages of every metric per method (action-weighted), plus frame-weighted MPJPE and the
    MPJPE / P-MPJPE change vs base."""
    methods, base = _check(results)
    header = [
        "Method",
        *[f"{SHORT_NAMES[k]} ({UNITS[k]})" for k in METRIC_KEYS],
        "MPJPE frame-w. (mm)",
        "Δ MPJPE",
        "Δ P-MPJPE",
        "frames",
    ]
    rows = [header]
    for name, m in methods.items():
        ch = m.get("change_vs_base_pct") or {
            k: pct_change(m.get(k), methods[base].get(k)) for k in METRIC_KEYS
        }
        rows.append(
            [
                name,
                *[_fmt(m.get(k)) for k in METRIC_KEYS],
                _fmt(m.get("frame_weighted", {}).get("mpjpe_mm")),
                _fmt_pct(ch.get("mpjpe_mm")) if name != base else "",
                _fmt_pct(ch.get("p_mpjpe_mm")) if name != base else "",
                str(m.get("frames", "")),
            ]
        )
    return rows


def render_text(rows: list[list[str]]) -> str:
    """Rows of cells → a plain-text table with aligned columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows: list[list[str]]) -> str:
    """Rows of cells → a Markdown pipe table."""
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    lines = [
        "| " + " | ".join(esc[0]) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(esc[0]) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(lines)

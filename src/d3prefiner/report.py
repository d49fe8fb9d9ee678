"""Results as a report that reads like a paper's results section, terminal tables and JSON.

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
:func:`~d3prefiner.evaluation.evaluate_methods`); ``experiment`` (an
``ExperimentConfig.to_dict()``), ``timings_s``, ``in_sample_train_mpjpe_mm``,
``cross_fitted_train_mpjpe_mm``, ``verdict`` (from the study layer); ``cnd`` (the noise model's
options) or ``cnd_ridge``, and ``filter_settings`` (name → settings; default: the filters'
defaults in :mod:`d3prefiner.baselines`). Any other entry goes to the run record as it is.

The top-level numbers of a method are the **action-weighted** averages (the unweighted mean over
actions, the papers' "Avg."); ``frame_weighted`` pools all frames. Undefined values are ``null``.
"""

from __future__ import annotations

import inspect
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

from .errors import D3PRError
from .io import atomic_path, save_json
from .metrics import METRIC_KEYS, ActionTable, action_label, order_actions

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

UNITS = {
    "mpjpe_mm": "mm",
    "p_mpjpe_mm": "mm",
    "n_mpjpe_mm": "mm",
    "mpjve_mm_s": "mm/s",
    "accel_mm_s2": "mm/s^2",
}

AVERAGES_NOTE = (
    "action-weighted = unweighted mean over actions of the per-action means (the papers' Avg.); "
    "frame-weighted = mean over all frames pooled"
)


def pct_change(value: float | None, base: float | None) -> float | None:
    """Relative change ``(value − base) / base`` in percent; None where undefined."""
    if value is None or base is None or not base or math.isnan(value) or math.isnan(base):
        return None
    return (value - base) / base * 100.0


def _nan_to_none(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def results_from_tables(
    tables: Mapping[str, ActionTable], base: str | None = None, meta: Mapping | None = None
) -> dict:
    """Build the results dict (layout in the module docstring) from one table per method.

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


# ------------------------------------------------------------------------- the written report

CND = "cnd_closed_form"

#: Readable method names for the report's tables (``results.json`` keeps the keys).
METHOD_LABELS = {
    "base": "Base estimate",
    "refined": "D3PRefiner",
    "refined_guard": "D3PRefiner, guard shrink",
    "refined_auto": "D3PRefiner as `d3pr refine` applies it (strength chosen on validation, guard)",
    "savgol": "Savitzky–Golay filter",
    "one_euro": "One-Euro filter",
    "gaussian": "Gaussian filter",
    CND: "Closed-form CND",
}

#: The refiner's own rows (never baselines).
REFINED_METHODS = ("refined", "refined_guard", "refined_auto")

#: Units as printed in the report.
DISPLAY_UNITS = {**UNITS, "accel_mm_s2": "mm/s²"}

#: What every metric measures (the report lists those the results hold).
METRIC_DEFINITIONS = {
    "mpjpe_mm": "**MPJPE** (Protocol #1, mm): mean over the 17 joints of the Euclidean distance "
    "between the estimated and the true joint positions, both root-relative (hip at the origin).",
    "p_mpjpe_mm": "**P-MPJPE** (Protocol #2, mm): the MPJPE after aligning each estimated pose to "
    "the ground truth by the best similarity transform (rotation, uniform scale, translation: "
    "Procrustes alignment); it ignores errors of global orientation and size.",
    "n_mpjpe_mm": "**N-MPJPE** (mm): the MPJPE after the best uniform scale of each estimated "
    "pose (scale alignment only).",
    "mpjve_mm_s": "**MPJVE** (mm/s, velocity error): mean over joints of the Euclidean distance "
    "between estimated and true velocities (differences of consecutive frames × frame rate); "
    "it measures jitter.",
    "accel_mm_s2": "**Accel** (mm/s², acceleration error): the same for accelerations (second "
    "differences x[t+1] − 2·x[t] + x[t−1] × frame rate²).",
}

WEIGHTING_DEFINITIONS = (
    '**Action-weighted mean** (the papers\' "Avg."; Table 1 and the verdict): the per-frame '
    "errors of all sequences of one action are pooled over subjects and cameras and averaged; "
    "the per-action means are then averaged with equal weight per action.",
    "**Frame-weighted mean**: the mean over all frames pooled, so that long actions weigh more "
    '(the "Avg (frame-w.)" columns, and the means in the histogram\'s legend).',
    "**Δ** / change in parentheses: (value − base) / base in percent; negative is better.",
)

#: Captions of the figures that :func:`d3prefiner.evaluation.make_figures` writes.
FIGURE_CAPTIONS = {
    "MPJPE per frame": "Distribution of the per-frame MPJPE of the base estimate (green) and the "
    "refined poses (blue); the legend's means are frame-weighted.",
    "Error per joint": "Mean error of every joint over all frames (frame-weighted): base green, "
    "refined blue, baselines in shades of grey.",
    "Qualitative skeletons": "Ground truth red, base estimate green, refined blue; frames at the "
    "50th, 80th and 95th percentile of the base error.",
    "Sequence animation": "The first seconds of one test sequence, in the same colours.",
}

#: Readable names of the experiment's settings, in the appendix's order.
CONFIG_LABELS = {
    "source": "motion source",
    "path": "source path",
    "setting": "2D input",
    "detector_scale": "detector-noise scale",
    "fps": "frame rate (Hz)",
    "n_cameras": "virtual cameras per sequence",
    "train_subjects": "training subjects",
    "test_subjects": "test subjects",
    "protocol": "protocol",
    "val_subject": "validation subject",
    "model": "base lifter",
    "lifter_preset": "lifter preset",
    "lifter_overrides": "lifter training overrides",
    "lifter_minutes": "lifter budget per run (min)",
    "folds": "cross-fitting folds",
    "noise": "CND options",
    "refiner_preset": "refiner preset",
    "refiner_overrides": "refiner overrides",
    "refiner_minutes": "refiner budget (min)",
    "baselines": "baselines",
    "gif": "animated GIF",
    "seed": "seed",
}

#: The refiner's switches in words, as they differ from the paper's method.
_SWITCH_WORDS = {
    ("mode", "residual"): "starts from the closed-form CND estimate and diffuses only the "
    "zero-mean residual",
    ("noise_temporal", "ar1"): "training noise correlated in time (AR(1))",
    ("noise_temporal", "window"): "training noise drawn per window plus a white part",
    ("input_noisy", True): "the network also sees the pose it started from",
    ("loss_x0", True): "trained on the x̂0 error",
    ("use_cnd", False): "trained on the lifter's own errors instead of CND samples (w/o CND)",
    ("use_diffusion", False): "one direct step without diffusion (w/o diff.)",
}

_PROTOCOL_WORDS = {
    "leak_free": "the CND and the refiner never see the validation subject nor the data its fold "
    "lifter was trained on; the CND's ridge and the refiner's kept weights are chosen on it",
    "pooled": "the CND sees every training subject and the refiner all but the validation "
    "subject (more data, optimistic validation)",
}

# meta entries the report writes in its own words (others go to the run record as they are)
_META_DONE = {
    "base", "averages", "units", "figures", "experiment", "methods_given", "baselines",
    "sequences", "frames", "subjects", "fps", "files", "cnd", "cnd_ridge", "filter_settings",
    "timings_s", "verdict", "in_sample_train_mpjpe_mm", "cross_fitted_train_mpjpe_mm",
    "test_frames", "refiner_validation",
}  # fmt: skip

#: How an unset (None) setting reads in the appendix.
_UNSET = {
    "path": "the source's default location",
    "val_subject": "the last training subject",
    "lifter_minutes": "none (the preset's steps)",
    "refiner_minutes": "none (the configured steps)",
    "fps": "the source's own",
}


def _num(v) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _plain(v) -> str:
    """A setting's value in words: lists joined, mappings as ``key = value``, never a repr."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, Mapping):
        items = [f"{k} = {_plain(x)}" for k, x in _flatten(v)]
        return "; ".join(items) if items else "none (defaults)"
    if isinstance(v, list | tuple):
        return ", ".join(_plain(x) for x in v) if v else "none"
    return str(v)


def _flatten(d: Mapping, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, Mapping) and v:
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _present(methods: Mapping) -> list[str]:
    """The metric keys that some method holds a value for."""
    return [k for k in METRIC_KEYS if any(_num(m.get(k)) is not None for m in methods.values())]


def _lifter_name(model: str | None) -> str | None:
    """``"stcformer"`` → ``"STCFormer"`` (the network class's name), else the name itself."""
    if not model:
        return None
    from .lifters.registry import get_lifter

    try:
        return get_lifter(model).cls.split(":")[-1]
    except D3PRError:
        return model


def _baseline_set(results: Mapping) -> set[str]:
    meta = results.get("meta", {})
    return set(meta.get("baselines") or ()) | (set(METHOD_LABELS) - {"base", *REFINED_METHODS})


def method_order(results: Mapping) -> list[str]:
    """Methods in the report's order: the base, the filters, the closed-form CND, then the given
    methods (the refiner last, as papers put theirs)."""
    methods, base = _check(results)
    known = _baseline_set(results)
    filters = [n for n in methods if n in known and n not in (base, CND)]
    cnd = [CND] if CND in methods and base != CND else []
    rest = [n for n in methods if n != base and n not in filters and n not in cnd]
    return [base, *filters, *cnd, *rest]


def refined_method(results: Mapping) -> str | None:
    """The refiner's method name: ``refined``, else the second given method, else None."""
    methods, base = _check(results)
    if "refined" in methods and base != "refined":
        return "refined"
    given = results.get("meta", {}).get("methods_given") or []
    given = [n for n in given if n in methods and n != base]
    if given:
        return given[0]
    known = _baseline_set(results)
    rest = [n for n in methods if n != base and n not in known]
    return rest[0] if rest else None


def method_labels(results: Mapping) -> dict[str, str]:
    """Method name → its label in the report (the key in code font beside a readable name)."""
    methods, base = _check(results)
    model = _lifter_name((results.get("meta", {}).get("experiment") or {}).get("model"))
    out = {}
    for n in methods:
        label = METHOD_LABELS.get(n)
        if n == base:
            label = f"Base lifter, {model}" if model else label or "Base estimate"
        out[n] = f"{label} (`{n}`)" if label else f"`{n}`"
    return out


def main_rows(results: Mapping) -> list[list[str]]:
    """Table 1: one row per method, one column per metric held (action-weighted), the change
    vs the base in parentheses, the best value of each column in bold."""
    methods, base = _check(results)
    keys = _present(methods)
    order = method_order(results)
    labels = method_labels(results)
    rows = [["Method", *[f"{SHORT_NAMES[k]} ({DISPLAY_UNITS[k]}) ↓" for k in keys]]]
    best, worst = {}, {}
    for k in keys:
        vals = [v for n in order if (v := _num(methods[n].get(k))) is not None]
        best[k], worst[k] = min(vals), max(vals)
    for n in order:
        cells = [labels[n]]
        for k in keys:
            v = _num(methods[n].get(k))
            cell = _fmt(v)
            if v is not None and v == best[k] and best[k] != worst[k]:
                cell = f"**{cell}**"
            if n != base and v is not None:
                ch = pct_change(v, _num(methods[base].get(k)))
                cell += f" ({_fmt_pct(ch)})" if ch is not None else ""
            cells.append(cell)
        rows.append(cells)
    return rows


def _versus(value: float, other: float) -> str:
    d = value - other
    if abs(d) < 0.05:
        return "equal to"
    pct = pct_change(value, other)
    word = "better" if d < 0 else "worse"
    return f"{abs(d):.1f} mm ({_fmt_pct(pct)}) {word} than"


def verdict(results: Mapping) -> str:
    """The report's verdict in plain words: the refiner's action-weighted MPJPE against the base
    and the closed-form CND (margins in mm and %), and against the best filter."""
    methods, base = _check(results)
    labels = method_labels(results)
    mp = {n: _num(m.get("mpjpe_mm")) for n, m in methods.items()}
    pm = {n: _num(m.get("p_mpjpe_mm")) for n, m in methods.items()}
    ref, b = refined_method(results), mp[base]
    cnd = mp.get(CND) if base != CND else None
    parts = []
    if ref is None or mp.get(ref) is None or b is None:
        parts.append("These results hold no refined method: the table compares the base with the "
                     "baselines only.")  # fmt: skip
        if cnd is not None and b is not None:
            parts.append(f"The closed-form CND is {_versus(cnd, b)} the base ({b:.1f} mm).")
        return " ".join(parts)
    r = mp[ref]
    text = (
        f"The refiner (`{ref}`) reaches {r:.1f} mm MPJPE (action-weighted): "
        f"{_versus(r, b)} the base ({b:.1f} mm)"
    )
    if cnd is not None:
        text += f" and {_versus(r, cnd)} the closed-form CND ({cnd:.1f} mm)."
    else:
        text += (
            ". The closed-form CND was not evaluated (no noise model was given), so the "
            "refiner's margin over it is unknown."
        )
    parts.append(text)
    if pm.get(ref) is not None and pm.get(base) is not None:
        p = f"P-MPJPE: {pm[ref]:.1f} mm ({_fmt_pct(pct_change(pm[ref], pm[base]))} vs the base"
        if cnd is not None and pm.get(CND) is not None:
            p += f", {_fmt_pct(pct_change(pm[ref], pm[CND]))} vs the closed form"
        parts.append(p + ").")
    auto = mp.get("refined_auto") if ref == "refined" else None
    if auto is not None:
        parts.append(
            f"As `d3pr refine` applies it (correction strength chosen on validation, guard): "
            f"{auto:.1f} mm, {_versus(auto, b)} the base."
        )
    if r > b + 0.05:
        parts.append(
            "The refiner at full strength makes the base estimate worse."
            if auto is not None
            else "The refiner makes the base estimate worse."
        )
    if cnd is not None and r > cnd + 0.05:
        parts.append(
            "The refiner is worse than the closed-form CND, which needs no training: "
            "use the closed form, or improve the refiner until it beats it."
        )
    known = _baseline_set(results)
    filters = [n for n in methods if n in known and n not in (CND, base) and mp[n] is not None]
    if filters:
        f = min(filters, key=mp.get)
        parts.append(f"The best smoothing filter, {labels[f]}, is {_versus(mp[f], b)} the base.")
    return " ".join(parts)


# ------------------------------------------------------------------- what was run, in words


def _subjects(v) -> str:
    """Subject ids in natural order (S9 before S11), comma-separated."""
    if not isinstance(v, list | tuple):
        return str(v)
    key = [(re.sub(r"\d+", "", str(x)), int(re.sub(r"\D", "", str(x)) or 0), str(x)) for x in v]
    return ", ".join(k[2] for k in sorted(key))


def _fps(meta: Mapping) -> str | None:
    fps = meta.get("fps")
    if isinstance(fps, list | tuple):
        return ", ".join(f"{f:g}" for f in fps) if fps else None
    return f"{fps:g}" if isinstance(fps, int | float) else None


def _source_words(name: str) -> tuple[str, bool]:
    from .data.sources import get_source

    try:
        s = get_source(name)
    except D3PRError:
        return f"`{name}`", False
    return f"`{name}`" + (f" — {s.description}" if s.description else ""), s.single_performer


def _refiner_config(e: Mapping):
    from .refiner.config import RefinerConfig

    try:
        return RefinerConfig.from_preset(
            e.get("refiner_preset", "cpu"), **(e.get("refiner_overrides") or {})
        )
    except (D3PRError, TypeError, ValueError):
        return None


def _refiner_words(e: Mapping) -> str:
    over = e.get("refiner_overrides") or {}
    recipe = over.get("recipe", "default")
    cfg = _refiner_config(e)
    if cfg is None:
        return f"recipe `{recipe}`, preset `{e.get('refiner_preset')}`, overrides {_plain(over)}"
    from .refiner.config import RECIPES

    paper = RECIPES["paper"]
    diffs = [w for (k, v), w in _SWITCH_WORDS.items() if getattr(cfg, k) == v != paper.get(k)]
    how = "; ".join(diffs) if diffs else "the method as published"
    return (
        f"recipe `{recipe}` ({how}); network preset `{cfg.preset}` (C = {cfg.dim}, "
        f"L = {cfg.depth} blocks), {cfg.steps} training steps, K = {cfg.K} DDIM steps at "
        "inference"
    )


def _split(e: Mapping):
    from .study.split import Split

    try:
        return Split.make(
            e.get("protocol", "leak_free"),
            e.get("train_subjects") or (),
            e.get("test_subjects") or (),
            e.get("folds", 2),
            e.get("val_subject"),
        )
    except (D3PRError, StopIteration, TypeError, ValueError):
        return None


def describe_run(results: Mapping) -> list[str]:
    """What was run, on what, as paragraphs of Markdown."""
    methods, base = _check(results)
    meta = results.get("meta", {})
    e = meta.get("experiment") or {}
    n_seq, n_frames, fps = meta.get("sequences"), meta.get("frames"), _fps(meta)
    scored = ", ".join(
        x
        for x in (
            f"{n_seq} sequences" if n_seq else "",
            f"{n_frames} frames" if n_frames else "",
            f"{fps} fps" if fps else "",
        )
        if x
    )
    if not e:
        given = [n for n in meta.get("methods_given") or methods if n in methods]
        files = meta.get("files") or {}
        names = ", ".join(f"`{n}`" + (f" (`{files[n]}`)" if n in files else "") for n in given)
        text = f"**Evaluated.** {names}; the first, `{base}`, is the base estimate."
        if meta.get("subjects"):
            text += f" Test subjects {_subjects(meta['subjects'])}"
            text += f" ({scored})." if scored else "."
        bl = [n for n in meta.get("baselines") or () if n in methods]
        if bl:
            text += f" Baselines applied to the base: {', '.join(f'`{n}`' for n in bl)}."
        return [text]
    src, views = _source_words(e.get("source", "?"))
    who = "camera-view groups" if views else "subjects"
    setting = e.get("setting")
    if setting == "gt":
        two_d = "ground-truth 2D: the 3D poses projected into the cameras (setting `gt`)"
    else:
        two_d = (
            "detector-like 2D: the projected keypoints with synthetic detector noise "
            f"(setting `{setting}`, noise scale ×{_plain(e.get('detector_scale', 1.0))})"
        )
    data = (
        f"**Data.** {src}, {e.get('n_cameras', '?')} virtual cameras per sequence, "
        f"{two_d}. Training {who} {_subjects(e.get('train_subjects', ()))}; test {who} "
        f"{_subjects(e.get('test_subjects', ()))}" + (f" ({scored})." if scored else ".")
    )
    if views:
        data += " One performer: the test group is seen from cameras no training group has."
    model = _lifter_name(e.get("model")) or "?"
    lifter = (
        f"**Base lifter.** {model} (`{e.get('model')}`, preset `{e.get('lifter_preset')}`), "
        f"with {e.get('folds', '?')}-fold cross-fitting: each training {who[:-1]} is predicted "
        "by a lifter that did not see it, as the test data are."
    )
    ins, cross = meta.get("in_sample_train_mpjpe_mm"), meta.get("cross_fitted_train_mpjpe_mm")
    if ins is not None and cross is not None:
        lifter += f" Training MPJPE: {ins:.1f} mm in-sample, {cross:.1f} mm cross-fitted."
    split = _split(e)
    seen = f" of {', '.join(split.cnd)}" if split else ""
    cnd = (
        "**Conditional noise model (CND).** A Gaussian of the lifter's error "
        f"e = x_noisy − x0 given [y, x_noisy], fitted on the cross-fitted predictions{seen}. "
        "Its conditional mean alone gives the closed-form refiner x_noisy − μ_e|b, "
        f"reported as the baseline `{CND}`."
    )
    refiner = f"**Refiner.** D3PRefiner, {_refiner_words(e)}"
    if split:
        refiner += (
            f"; trained on {', '.join(split.refiner)}, validated on {', '.join(split.val)}. "
            f"Protocol `{split.protocol}`: {_PROTOCOL_WORDS.get(split.protocol, '')}."
        )
    else:
        refiner += "."
    bl = [n for n in meta.get("baselines") or () if n in methods]
    paras = [data, lifter, cnd, refiner]
    if bl:
        names = ", ".join(METHOD_LABELS.get(n, n) for n in bl)
        paras.append(
            f"**Baselines**, applied to the base lifter's test predictions: {names} "
            "(settings in Appendix A)."
        )
    return paras


# -------------------------------------------------------------------------------- appendix


def _defaults(fn) -> dict:
    return {
        k: p.default
        for k, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _seconds(frames: float, meta: Mapping) -> str:
    fps = meta.get("fps")
    fps = fps[0] if isinstance(fps, list | tuple) and len(fps) == 1 else fps
    return f", {frames / fps:.2f} s at {fps:g} fps" if isinstance(fps, int | float) else ""


def filter_settings(name: str, meta: Mapping) -> str:
    """One baseline's settings in words: from ``meta.filter_settings`` if the results hold
    them, else the defaults :mod:`d3prefiner.baselines` applies."""
    given = (meta.get("filter_settings") or {}).get(name)
    if given:
        return _plain(given)
    from . import baselines as bl

    if name == "savgol":
        s = _defaults(bl.savgol)
        return (
            f"window {s['window']} frames{_seconds(s['window'], meta)}, polynomial order "
            f"{s['order']} (scipy `savgol_filter`, mode `interp`; a shorter sequence uses the "
            "largest odd window that fits)"
        )
    if name == "one_euro":
        s = _defaults(bl.one_euro)
        return (
            f"min_cutoff {s['min_cutoff']:g} Hz, beta {s['beta']:g} s/m, d_cutoff "
            f"{s['d_cutoff']:g} Hz, at each sequence's frame rate; causal, per coordinate"
        )
    if name == "gaussian":
        s = _defaults(bl.gaussian)
        return (
            f"σ = {s['sigma']:g} frames{_seconds(s['sigma'], meta)} (scipy "
            "`gaussian_filter1d`, edges extended)"
        )
    if name == CND:
        cnd = dict(meta.get("cnd") or {})
        e = meta.get("experiment") or {}
        ridge = meta.get("cnd_ridge", cnd.pop("ridge", None))
        if ridge is None and isinstance((e.get("noise") or {}).get("ridge"), int | float):
            ridge = e["noise"]["ridge"]
        text = "x_noisy − μ_e|[y, x_noisy], the CND's conditional mean; ridge " + (
            f"{_plain(ridge)}" if ridge is not None else "not recorded in these results"
        )
        opts = {**(e.get("noise") or {}), **cnd}
        opts.pop("ridge", None)
        return text + (f"; options: {_plain(opts)}" if opts else "")
    return "its registered defaults (d3prefiner.baselines)"


def appendix(results: Mapping) -> list[str]:
    """Appendix A (settings) and B (run record) as Markdown lines."""
    methods, _ = _check(results)
    meta = results.get("meta", {})
    e = meta.get("experiment") or {}
    lines = ["## Appendix A: settings", ""]
    if e:
        lines += ["### Experiment configuration", ""]
        keys = [k for k in CONFIG_LABELS if k in e] + [k for k in e if k not in CONFIG_LABELS]
        lines += [
            f"- {CONFIG_LABELS.get(k, k.replace('_', ' '))}: "
            + (_UNSET.get(k, "none") if e[k] is None else _plain(e[k]))
            for k in keys
        ]
        lines.append("")
    bl = [n for n in methods if n in _baseline_set(results)]
    if bl:
        lines += ["### Baselines", ""]
        lines += [f"- {METHOD_LABELS.get(n, n)} (`{n}`): {filter_settings(n, meta)}" for n in bl]
        lines.append("")
        if any(n != CND for n in bl):
            lines += [
                "The filters smooth every joint coordinate along time relative to the root and "
                "leave the root trajectory unchanged.",
                "",
            ]
    record = []
    t = meta.get("timings_s") or {}
    if t:
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in t.items())
        record.append(f"- stage times: {parts} (total {sum(t.values()) / 60:.1f} min)")
    if meta.get("files"):
        record.append(f"- files: {_plain(meta['files'])}")
    if meta.get("verdict"):
        record.append(f"- the run's own summary: {meta['verdict']}")
    for k, v in meta.items():
        if k not in _META_DONE:
            record.append(f"- {k.replace('_', ' ')}: {_plain(v)}")
    if record:
        lines += ["## Appendix B: run record", "", *record, ""]
    return lines


# -------------------------------------------------------------------------------- outputs


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

"""The comparison of methods: their labels and order, Table 1 and the verdict in words."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..baselines import CND_BASELINE, FILTERS, GEOMETRIC
from ..errors import D3PRError
from ..metrics import METRIC_KEYS
from .tables import SHORT_NAMES, UNITS, _check, _fmt, _fmt_pct, pct_change

CND = CND_BASELINE

#: Readable method names for the report's tables (``results.json`` keeps the keys); the filters'
#: and the geometric baselines' come from their registry entries
#: (:data:`d3prefiner.baselines.FILTERS`, :data:`d3prefiner.baselines.GEOMETRIC`).
METHOD_LABELS = {
    "base": "Base estimate",
    "refined": "D3PRefiner",
    "refined_guard": "D3PRefiner, guard shrink",
    "refined_auto": "D3PRefiner as `d3pr refine` applies it (strength, geometric step and its "
    "bone prior, and filter chosen on validation, guard)",
    "refined_auto_unfiltered": "the same without the filter (`--smooth none`)",
    **{name: f.label or name for name, f in FILTERS.items()},
    **{name: g.label or name for name, g in GEOMETRIC.items()},
    CND: "Closed-form CND",
}

#: The refiner's own rows (never baselines).
REFINED_METHODS = ("refined", "refined_guard", "refined_auto", "refined_auto_unfiltered")

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

#: Captions of the figures that :func:`d3prefiner.viz.make_figures` writes.
FIGURE_CAPTIONS = {
    "MPJPE per frame": "Distribution of the per-frame MPJPE of the base estimate (green) and the "
    "refined poses (blue); the legend's means are frame-weighted. The hatched last bin, past the "
    "end of the range (the 99th percentile, rounded up), counts every larger error; the legend "
    "gives each method's share of frames in it.",
    "Error per joint": "Mean error of every joint over all frames (frame-weighted): base green, "
    "refined blue, further rows of the refiner and the baselines (hatched) in other colours. The "
    "root (Hip) is left out: poses are root-relative, so its error is 0.",
    "Qualitative skeletons": "Ground truth red, base estimate green, refined blue; frames at the "
    "50th, 80th and 95th percentile of the base error. Each title names the sequence (subject, "
    "action, camera) and the frame's index in it, counted from 0, with its time.",
    "Sequence animation": "The first seconds of one test sequence, in the same colours.",
}


def _num(v) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _present(methods: Mapping) -> list[str]:
    """The metric keys that some method holds a value for."""
    return [k for k in METRIC_KEYS if any(_num(m.get(k)) is not None for m in methods.values())]


def _lifter_name(model: str | None) -> str | None:
    """``"stcformer"`` → ``"STCFormer"`` (the network class's name), else the name itself."""
    if not model:
        return None
    from ..lifters.registry import get_lifter

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
    and the closed-form CND (margins in mm and %), and against the best filter; and one sentence
    naming every metric (MPJPE, P-MPJPE, MPJVE, acceleration error) on which the refiner, and
    ``refined_auto`` (as ``d3pr refine`` applies it) where present, is worse than the base."""
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
        if b is not None:
            parts += _geometric_words(results, mp, labels, None)
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
            f"As `d3pr refine` applies it (strength, geometric step and filter chosen on "
            f"validation, guard): {auto:.1f} mm, {_versus(auto, b)} the base."
        )
    unfiltered = mp.get("refined_auto_unfiltered") if auto is not None else None
    if unfiltered is not None:
        parts.append(
            f"Without the filter (`--smooth none`): {unfiltered:.1f} mm, "
            f"{_versus(unfiltered, b)} the base."
        )
    who = "At full strength, the refiner" if auto is not None else "The refiner"
    parts += worse_words(methods, base, ref, who)
    if "refined_auto" in methods and ref == "refined":
        parts += worse_words(
            methods, base, "refined_auto", "As `d3pr refine` applies it, the refiner"
        )
    if cnd is not None and r > cnd + 0.05:
        parts.append(
            "The refiner is worse than the closed-form CND, which needs no training: "
            "use the closed form, or improve the refiner until it beats it."
        )
    known = _baseline_set(results)
    others = [n for n in methods if n in known and n not in (CND, base) and mp[n] is not None]
    filters = [n for n in others if n not in GEOMETRIC]
    if filters:
        f = min(filters, key=mp.get)
        parts.append(f"The best smoothing filter, {labels[f]}, is {_versus(mp[f], b)} the base.")
    parts += _geometric_words(results, mp, labels, r)
    return " ".join(parts)


#: The metrics the verdict checks for a worsening, with their names in a sentence.
WORSE_NAMES = {
    "mpjpe_mm": ("the MPJPE", "MPJPE"),
    "p_mpjpe_mm": ("the P-MPJPE", "P-MPJPE"),
    "mpjve_mm_s": ("the velocity error (MPJVE)", "MPJVE"),
    "accel_mm_s2": ("the acceleration error", "acceleration error"),
}


def _fmt_value(v: float) -> str:
    """``2081.4`` → ``"2,081"``, ``75.04`` → ``"75.0"`` (the verdict's figures)."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.1f}"


def worse_metrics(methods: Mapping, base: str, name: str) -> list[tuple[str, float, float]]:
    """The metrics of :data:`WORSE_NAMES` on which method ``name`` is worse than the base:
    ``(key, base value, its value)``, in report order. A difference that rounds to 0.0 (in the
    metric's unit or in %) is no worsening."""
    out = []
    for key in WORSE_NAMES:
        b, v = _num(methods[base].get(key)), _num(methods.get(name, {}).get(key))
        if b is None or v is None:
            continue
        pct = pct_change(v, b)
        if v - b >= 0.05 and (pct is None or pct >= 0.05):
            out.append((key, b, v))
    return out


def worse_words(methods: Mapping, base: str, name: str, who: str) -> list[str]:
    """One sentence naming every metric on which ``name`` is worse than the base, with the
    figures (``"The refiner makes the acceleration error worse: 2,081 → 4,290 mm/s² (+106.1%)."``);
    none if it is worse on none. Where the MPJPE is among them, this is the sentence that says the
    refiner makes the base estimate worse."""
    if name not in methods or name == base:
        return []
    worse = worse_metrics(methods, base, name)
    if not worse:
        return []
    names = [WORSE_NAMES[k][0] for k, _, _ in worse]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    figures = [
        f"{_fmt_value(b)} → {_fmt_value(v)} {DISPLAY_UNITS[k]} ({_fmt_pct(pct_change(v, b))})"
        for k, b, v in worse
    ]
    if len(worse) > 1:
        figures = [f"{WORSE_NAMES[k][1]} {f}" for (k, _, _), f in zip(worse, figures)]
    return [f"{who} (`{name}`) makes {listed} worse than the base: {'; '.join(figures)}."]


def _geometric_words(results: Mapping, mp: Mapping, labels: Mapping, refined) -> list[str]:
    """The verdict's sentences on the best geometric baseline (none if none was scored)."""
    methods, base = _check(results)
    known = _baseline_set(results)
    geometric = [n for n in methods if n in known and n in GEOMETRIC and mp.get(n) is not None]
    if not geometric or base in GEOMETRIC:
        return []
    g = min(geometric, key=mp.get)
    out = [
        f"The best training-free geometric baseline, {labels[g]}, is "
        f"{_versus(mp[g], mp[base])} the base."
    ]
    if refined is not None and mp[g] < refined - 0.05:
        out.append(f"The refiner is worse than {labels[g]}, which needs no training.")
    return out

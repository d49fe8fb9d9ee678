"""The paper's published Human3.6M rows (Table I: CPN 2D, Table II: ground-truth 2D), quoted, and
a bench run's per-action MPJPE printed beside them.

The numbers are the paper's (MPJPE in mm on S9 and S11, the 15 actions in its column order and
the unweighted average over actions, "Avg."); nothing here is measured. STCFormer at T = 81 uses
TDS 3 and at T = 243 TDS 2, MixSTE none, as the paper says.
"""

from __future__ import annotations

from ..metrics import H36M_ACTIONS

#: The paper's columns: the 15 actions (canonical names, its order), then "avg".
COLUMNS = (*H36M_ACTIONS, "avg")

_ROWS = {
    # (2D setting, lifter, T): (base row, refined row) — 15 actions, then Avg.
    ("cpn", "mixste", 81): (
        "39.8 43.0 38.6 40.1 43.4 50.6 40.6 41.4 52.2 56.7 43.8 40.8 43.9 29.4 30.3 42.4",
        "34.0 37.3 34.3 35.9 38.8 45.5 36.0 36.7 47.4 53.3 38.7 36.8 39.3 24.9 26.0 37.7",
    ),
    ("cpn", "mixste", 243): (
        "37.6 40.9 37.3 39.7 42.3 49.9 40.1 39.8 51.7 55.0 42.1 39.8 41.0 27.9 27.9 40.9",
        "33.2 36.4 33.2 34.8 37.4 46.0 35.1 36.9 47.0 52.2 37.6 35.3 37.2 23.6 24.5 36.7",
    ),
    ("cpn", "stcformer", 81): (
        "40.6 43.0 38.3 40.2 43.5 52.6 40.3 40.1 51.8 57.7 42.8 39.8 42.3 28.0 29.5 42.0",
        "34.1 37.0 33.6 34.3 37.8 47.9 35.3 35.1 48.3 53.5 38.0 34.9 37.4 23.4 24.9 37.0",
    ),
    ("cpn", "stcformer", 243): (
        "39.6 41.6 37.4 38.8 43.1 51.1 39.1 39.7 51.4 57.4 41.8 38.5 40.7 27.1 28.6 41.0",
        "34.4 36.8 33.3 34.8 37.2 46.4 34.4 33.8 48.1 53.5 37.9 35.0 36.9 23.1 23.8 36.6",
    ),
    ("gt", "mixste", 81): (
        "25.6 27.8 24.5 25.7 24.9 29.9 28.6 27.4 29.9 29.0 26.1 25.0 25.2 18.7 19.9 25.9",
        "16.7 18.6 17.9 16.8 19.3 24.7 19.8 19.5 26.1 26.5 20.3 19.5 19.5 12.7 13.2 19.4",
    ),
    ("gt", "mixste", 243): (
        "21.6 22.0 20.4 21.0 20.8 24.3 24.7 21.9 26.9 24.9 21.2 21.5 20.8 14.7 15.7 21.6",
        "14.6 16.4 18.0 15.3 17.7 20.9 17.5 19.3 24.2 24.1 17.4 17.0 16.5 10.9 11.7 17.4",
    ),
    ("gt", "stcformer", 81): (
        "26.2 26.5 23.4 24.6 25.0 28.6 28.3 24.6 30.9 33.7 25.7 25.3 24.6 18.6 19.7 25.7",
        "14.3 16.2 16.2 14.2 17.8 21.3 17.2 16.1 23.1 24.3 17.4 15.7 15.3 9.5 10.7 16.6",
    ),
    ("gt", "stcformer", 243): (
        "21.4 22.6 21.0 21.3 23.8 26.0 24.2 20.0 28.9 28.0 22.3 21.4 20.1 14.2 15.0 22.0",
        "13.2 15.3 14.7 12.9 16.5 19.7 16.5 15.3 21.1 21.5 16.6 14.0 14.6 8.5 9.2 15.3",
    ),
}

#: ``(setting, lifter, T)`` → ``{"base" | "refined": {column: MPJPE mm}}`` (Tables I and II).
PAPER_MPJPE: dict[tuple[str, str, int], dict[str, dict[str, float]]] = {
    key: {
        name: dict(zip(COLUMNS, map(float, row.split()), strict=True))
        for name, row in zip(("base", "refined"), rows, strict=True)
    }
    for key, rows in _ROWS.items()
}

#: The methods of a run shown beside the paper's rows, in this order, where present.
SHOWN = ("base", "refined_auto", "refined", "cnd_closed_form")


def paper_rows(setting: str, model: str, window: int) -> tuple[int, dict] | None:
    """``(T, rows)`` of the paper for a run: its T if published, else the nearest published T;
    None where the paper has no row (``detected`` 2D, a lifter it did not use)."""
    ts = sorted(t for s, m, t in PAPER_MPJPE if (s, m) == (setting, model))
    if not ts:
        return None
    t = min(ts, key=lambda x: (abs(x - window), x))
    return t, PAPER_MPJPE[(setting, model, t)]


def _cells(values: dict[str, float | None]) -> str:
    return " | ".join("—" if values.get(c) is None else f"{values[c]:.1f}" for c in COLUMNS)


def run_rows(results: dict) -> dict[str, dict[str, float | None]]:
    """Per-action MPJPE (mm) and the action-weighted average of the :data:`SHOWN` methods of a
    run's results (``methods[name]["per_action"][action]["mpjpe_mm"]``)."""
    out = {}
    for name in SHOWN:
        m = results.get("methods", {}).get(name)
        if m is None:
            continue
        row = {a: v.get("mpjpe_mm") for a, v in m.get("per_action", {}).items()}
        out[name] = {**row, "avg": m.get("mpjpe_mm")}
    return out


def paper_comparison(results: dict, setting: str, model: str, window: int) -> str:
    """A markdown table: this run's per-action MPJPE beside the paper's rows for the same lifter
    and 2D setting (Table I for ``cpn``, II for ``gt``); a note where the paper has none."""
    head = "| MPJPE (mm) | " + " | ".join(H36M_ACTIONS.values()) + " | Avg. |"
    lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in run_rows(results).items():
        lines.append(f"| ours: {name} ({model}, T={window}) | {_cells(row)} |")
    paper = paper_rows(setting, model, window)
    if paper is None:
        note = f"the paper has no row for {model} with {setting} 2D"
        return (
            "\n".join(lines) + f"\n\n({note}; its tables are CPN and GT 2D, MixSTE and STCFormer)"
        )
    t, rows = paper
    table = "I" if setting == "cpn" else "II"
    for name, row in rows.items():
        label = "MixSTE" if model == "mixste" else "STCFormer"
        lines.append(f"| paper Table {table}: {label}{'+ours' * (name == 'refined')} (T={t}) "
                     f"| {_cells(row)} |")  # fmt: skip
    return "\n".join(lines)

"""Summarise `d3pr bench` / `scripts/ablations.sh` results as Markdown for BENCHMARKS.md.

usage: python scripts/bench_summary.py RESULTS.json [RESULTS.json ...] [--per-action]
Each RESULTS.json is a run's results.json (``d3pr bench`` writes RUN/results.json,
``d3pr evaluate --out DIR`` writes DIR/results.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from d3prefiner.metrics import action_label, order_actions


def _fmt(x, nd=1):
    return "—" if x is None else f"{x:.{nd}f}"


def summary(path: Path, per_action: bool) -> str:
    r = json.loads(path.read_text())
    methods = r["methods"]
    base = methods[r["meta"]["base"]]
    meta = r["meta"]
    lines = [f"### {path.parent.name}", ""]
    exp = meta.get("experiment")
    if exp:
        lines.append(
            f"lifter {exp['model']} ({exp['lifter_preset']}), {exp['setting']} 2D; "
            f"train MPJPE in-sample {meta.get('in_sample_train_mpjpe_mm')} mm, cross-fitted "
            f"{meta.get('cross_fitted_train_mpjpe_mm')} mm; stage seconds {meta.get('timings_s')}"
        )
        lines.append("")
    lines += [
        "| method | MPJPE | Δ | P-MPJPE | Δ | MPJVE (mm/s) | accel (mm/s²) | MPJPE frame-w. |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in methods.items():
        d1 = 100 * (m["mpjpe_mm"] / base["mpjpe_mm"] - 1)
        d2 = 100 * (m["p_mpjpe_mm"] / base["p_mpjpe_mm"] - 1)
        lines.append(
            f"| {name} | {_fmt(m['mpjpe_mm'])} | {d1:+.1f}% | {_fmt(m['p_mpjpe_mm'])} | {d2:+.1f}% "
            f"| {_fmt(m['mpjve_mm_s'], 0)} | {_fmt(m['accel_mm_s2'], 0)} "
            f"| {_fmt(m['frame_weighted']['mpjpe_mm'])} |"
        )
    if per_action:
        actions = order_actions(list(base["per_action"]))
        for key, title in (("mpjpe_mm", "MPJPE"), ("p_mpjpe_mm", "P-MPJPE")):
            lines += ["", f"{title} (mm) per action:", ""]
            lines.append("| method | " + " | ".join(action_label(a) for a in actions) + " | Avg |")
            lines.append("|---|" + "---:|" * (len(actions) + 1))
            for name, m in methods.items():
                row = [_fmt(m["per_action"].get(a, {}).get(key)) for a in actions]
                lines.append(f"| {name} | " + " | ".join(row) + f" | {_fmt(m[key])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--per-action", action="store_true")
    args = ap.parse_args()
    for p in args.results:
        print(summary(p, args.per_action))


if __name__ == "__main__":
    main()

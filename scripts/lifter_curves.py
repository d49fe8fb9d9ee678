"""Lifter runs of `d3pr bench` / `d3pr lifter` side by side: steps, minutes, precision, frames/s,
validation MPJPE against minutes (the held-out fold), and the test MPJPE of the full model.

usage: python scripts/lifter_curves.py RUN [RUN ...] [--test RUN=MM ...] [--plot curves.png]

A RUN is a bench run directory (``lifter/{fold0,fold1,full}`` and ``results.json``: the fold runs
validate on the group they were trained without, never the test subjects; the full model's test
MPJPE is the bench's ``base``) or a single ``d3pr lifter train`` run directory (``history.json``;
its validation records are on ``--val-subjects``). ``--test NAME=MM`` marks the test MPJPE of the
run named NAME (a run directory's name) at its training minutes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from d3prefiner.engine import read_history


def _parts(run: Path) -> list[tuple[str, Path]]:
    """``(label, lifter run dir)`` of a bench run's lifters, or of one lifter run."""
    if (run / "history.json").exists():
        return [(run.name, run)]
    return [(f"{run.name}/{n}", run / "lifter" / n) for n in ("fold0", "fold1", "full")]


def rows(run: Path, tests: dict[str, float]) -> list[str]:
    out = []
    res = run / "results.json"
    test = json.loads(res.read_text())["methods"]["base"]["mpjpe_mm"] if res.exists() else None
    for label, d in _parts(run):
        h = read_history(d)
        if not h:
            continue
        name = "full" if label.endswith("/full") or d.name in tests else label
        fps = [r["frames_per_s"] for r in h["records"]]
        val = [f"{r['seconds'] / 60:.0f} min: {r['val_mpjpe_mm']:.1f}" for r in h["records"]
               if r.get("val_mpjpe_mm") is not None]  # fmt: skip
        t = tests.get(d.name, test if name == "full" else None)
        t = f"{t:.1f}" if t is not None else "—"
        out.append(
            f"| {label} | {h['steps']} | {h['train_seconds'] / 60:.1f} | {h['precision']} "
            f"| {sum(fps) / len(fps):.0f} | {'; '.join(val) or '—'} | {t} |"
        )
    return out


def plot(runs: list[Path], path: Path, tests: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for run in runs:
        for label, d in _parts(run):
            h = read_history(d)
            pts = [(r["seconds"] / 60, r["val_mpjpe_mm"]) for r in h.get("records", [])
                   if r.get("val_mpjpe_mm") is not None]  # fmt: skip
            if pts:
                ax.plot(*zip(*pts), marker="o", label=label)
            if d.name in tests and h:
                ax.plot(h["train_seconds"] / 60, tests[d.name], marker="*", ms=13, ls="none",
                        label=f"{label}: test")  # fmt: skip
    ax.axhline(60, color="grey", ls="--", lw=1, label="issue 13 target (test)")
    ax.set_xlabel("training minutes (one thread, another job beside it)")
    ax.set_ylabel("MPJPE (mm): validation (lines), test (stars)")
    ax.set_title("Lifter convergence on h36m-fk17, GT 2D, T = 27")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--test", action="append", default=[], metavar="NAME=MM")
    a = ap.parse_args()
    tests = {}
    for item in a.test:
        name, _, mm = item.partition("=")
        tests[name] = float(mm)
    print("| run | steps | minutes | precision | frames/s | validation MPJPE (mm) vs minutes "
          "| test MPJPE (mm) |")  # fmt: skip
    print("|---|---:|---:|---|---:|---|---:|")
    for run in a.runs:
        print("\n".join(rows(run, tests)))
    if a.plot:
        plot(a.runs, a.plot, tests)
        print(f"\nwrote {a.plot}")


if __name__ == "__main__":
    main()

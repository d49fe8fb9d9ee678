"""Lifter runs of `d3pr bench` / `d3pr lifter` side by side: steps, minutes, precision, frames/s,
validation MPJPE against minutes (the held-out fold), and the test MPJPE of the full model.

usage: python scripts/lifter_curves.py BENCH_RUN_DIR [BENCH_RUN_DIR ...] [--plot curves.png]

A bench run directory holds ``lifter/{fold0,fold1,full}`` and ``results.json``; the fold runs
validate on the group they were trained without (never the test subjects), so their records give
validation MPJPE against minutes; the full model's test MPJPE is the bench's ``base``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from d3prefiner.train import read_history


def rows(run: Path) -> list[str]:
    out = []
    res = run / "results.json"
    test = json.loads(res.read_text())["methods"]["base"]["mpjpe_mm"] if res.exists() else None
    for name in ("fold0", "fold1", "full"):
        h = read_history(run / "lifter" / name)
        if not h:
            continue
        fps = [r["frames_per_s"] for r in h["records"]]
        val = [f"{r['seconds'] / 60:.0f} min: {r['val_mpjpe_mm']:.1f}" for r in h["records"]
               if r.get("val_mpjpe_mm") is not None]  # fmt: skip
        t = f"{test:.1f}" if name == "full" and test is not None else "—"
        out.append(
            f"| {run.name}/{name} | {h['steps']} | {h['train_seconds'] / 60:.1f} | {h['precision']} "
            f"| {sum(fps) / len(fps):.0f} | {'; '.join(val) or '—'} | {t} |"
        )
    return out


def plot(runs: list[Path], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for run in runs:
        for name in ("fold0", "fold1"):
            h = read_history(run / "lifter" / name)
            pts = [(r["seconds"] / 60, r["val_mpjpe_mm"]) for r in h.get("records", [])
                   if r.get("val_mpjpe_mm") is not None]  # fmt: skip
            if pts:
                ax.plot(*zip(*pts), marker="o", label=f"{run.name} {name}")
    ax.axhline(60, color="grey", ls="--", lw=1, label="issue 13 target (test)")
    ax.set_xlabel("training minutes (one thread, another job beside it)")
    ax.set_ylabel("validation MPJPE, held-out fold (mm)")
    ax.set_title("Lifter convergence on h36m-fk17, GT 2D, T = 27")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--plot", type=Path, default=None)
    a = ap.parse_args()
    print("| run | steps | minutes | precision | frames/s | validation MPJPE (mm) vs minutes "
          "| test MPJPE (mm) |")  # fmt: skip
    print("|---|---:|---:|---|---:|---|---:|")
    for run in a.runs:
        print("\n".join(rows(run)))
    if a.plot:
        plot(a.runs, a.plot)
        print(f"\nwrote {a.plot}")


if __name__ == "__main__":
    main()

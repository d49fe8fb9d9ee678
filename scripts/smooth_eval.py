"""Does a temporal filter after refinement help? Validation first, then test (issue 8's grid).

The residual refiners and the closed-form CND correct each frame from that frame's own 2D input,
so with detected 2D they inherit its frame-to-frame jitter (acceleration error above the base's).
For every grid cell (``scripts/grid.py`` output) this scores, on the validation subject and then
on test, each method raw and followed by each filter of ``--filters`` (``d3pr refine --smooth``):
the closed-form CND and each refiner variant of ``--variants`` (checkpoint ``CELL/NAME``, test
output ``CELL/NAME.npz``). The validation predictions are refined once and cached as
``CELL/val_NAME.npz``. MPJPE and acceleration error are action-weighted, as in BENCHMARKS.md.

usage:
  python scripts/smooth_eval.py RUN_DIR... --grid GRID_DIR [--variants combo-s0,residual-s0]
      [--filters savgol] [--val-subjects S8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from d3prefiner.baselines import CND_BASELINE, apply_baseline
from d3prefiner.metrics import evaluate_predictions
from d3prefiner.noise import PoseNoiseModel
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import Refiner


def scores(p: Predictions) -> tuple[float, float]:
    aw = evaluate_predictions(p).action_weighted
    return aw.mpjpe_mm, aw.accel_mm_s2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--grid", type=Path, required=True)
    ap.add_argument("--variants", default="combo-s0,residual-s0")
    ap.add_argument("--filters", default="savgol")
    ap.add_argument("--val-subjects", default="S8")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    filters = [f for f in a.filters.split(",") if f]
    print("| cell | method | val MPJPE | " + " | ".join(f"val +{f}" for f in filters), end="")
    print(" | test MPJPE | " + " | ".join(f"test +{f}" for f in filters), end="")
    print(" | test accel | " + " | ".join(f"accel +{f}" for f in filters) + " |")
    print("|---|---|" + "---:|" * (3 * (1 + len(filters))))
    for run in a.runs:
        cell = a.grid / run.name
        val = Predictions.load(run / "predictions/train_crossfit.npz").filter(
            subjects=a.val_subjects.split(",")
        )
        test = Predictions.load(run / "predictions/test.npz")
        noise = PoseNoiseModel.load(cell / "noise.safetensors")
        methods = {
            "closed-form CND": (
                apply_baseline(CND_BASELINE, val, noise, progress=False),
                apply_baseline(CND_BASELINE, test, noise, progress=False),
            )
        }
        for name in a.variants.split(","):
            if not (cell / name).is_dir():
                print(f"<!-- {cell / name}: no checkpoint, skipped -->")
                continue
            cached = cell / f"val_{name}.npz"
            if not cached.exists():
                ref = Refiner.load(cell / name).refine_predictions(val, progress=False)
                ref.save(cached)
            methods[name] = (Predictions.load(cached), Predictions.load(cell / f"{name}.npz"))
        for name, (v, t) in methods.items():
            row_val, row_test, row_acc = [], [], []
            for f in [None, *filters]:
                vf = v if f is None else apply_baseline(f, v, progress=False)
                tf = t if f is None else apply_baseline(f, t, progress=False)
                row_val.append(scores(vf)[0])
                m, acc = scores(tf)
                row_test.append(m)
                row_acc.append(acc)
            cells = [f"{x:.1f}" for x in row_val + row_test] + [f"{x:.0f}" for x in row_acc]
            print(f"| {run.name} | {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

"""Which part of a refiner's correction helps an estimator: its image-plane part or its depth?
(BENCHMARKS.md, "Leave one estimator out on five-fold GT benches").

    python scripts/correction_parts.py pooled_gt5/without-tcn/refiner \\
        bench_qk/stcformer-gt-1000-5folds bench_qk/tcn-gt-1500-5folds --threads 1

For each finished ``d3pr bench`` run, the refiner refines the run's cross-fitted predictions of
its validation subject (S8, at most ``--max-frames`` frames, evenly spaced whole sequences) at full
strength, and the script prints the validation MPJPE when a share α of the correction is kept:
the whole correction, its image-plane part only (camera x, y: what ``d3pr refine --correct
in-plane`` applies) and its depth part only; and the 2D–3D disagreement of the guard (mean, mm),
which sees the image-plane part alone. Validation only: nothing here touches the test subjects.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
PARTS = {"full": (1.0, 1.0, 1.0), "in-plane": (1.0, 1.0, 0.0), "depth": (0.0, 0.0, 1.0)}


def part_table(base, refined, alphas=ALPHAS) -> dict:
    """``{part: {α: MPJPE mm}}`` of ``base + α·m·(refined − base)`` for each axis mask ``m`` of
    :data:`PARTS`, and ``{"disagreement": {α: mean r mm}}`` (the same for every part that keeps
    x, y); ``base`` has ``gt3d``."""
    from d3prefiner.metrics import evaluate_predictions
    from d3prefiner.refiner.guard import disagreement

    table: dict = {}
    for part, mask in PARTS.items():
        m = np.array(mask, dtype=np.float32)
        row, dis = {}, {}
        for a in alphas:
            out = [(b.pred3d + a * m * (r.pred3d - b.pred3d)).astype(np.float32)
                   for b, r in zip(base, refined)]  # fmt: skip
            p = base.with_pred3d(out)
            row[a] = evaluate_predictions(p).action_weighted.mpjpe_mm
            if part == "in-plane":
                r = np.concatenate([disagreement(s.pose2d, s.pred3d) for s in p])
                dis[a] = float(r.mean() * 1000)
        table[part] = row
        if dis:
            table["disagreement"] = dis
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("refiner", help="refiner checkpoint directory")
    parser.add_argument("runs", nargs="+", help="finished `d3pr bench` run folders")
    parser.add_argument("--max-frames", type=int, default=15000)
    parser.add_argument("--threads", type=int, default=0, help="0: a share of the free cores")
    args = parser.parse_args(argv)

    from d3prefiner.errors import D3PRError
    from d3prefiner.refiner import Refiner
    from d3prefiner.runtime import configure_threads
    from d3prefiner.study.grid import GridConfig, make_cell
    from d3prefiner.study.pooled import validation_part

    try:
        configure_threads(args.threads)
        refiner = Refiner.load(Path(args.refiner))
        for run in args.runs:
            cell = make_cell(run, Path(run).parent, GridConfig())
            val = validation_part(cell, args.max_frames)
            raw = refiner.refine_predictions(val, progress=False, strength=1.0, correct="full")
            table = part_table(val, raw)
            print(f"{cell.name}: S8 MPJPE (mm) by the share α of the correction kept")
            print("| part | " + " | ".join(f"α = {a:g}" for a in ALPHAS) + " |")
            print("|---|" + "---:|" * len(ALPHAS))
            for part, row in table.items():
                print(f"| {part} | " + " | ".join(f"{row[a]:.2f}" for a in ALPHAS) + " |")
            print()
    except D3PRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

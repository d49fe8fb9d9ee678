"""Leave-one-estimator-out: a refiner trained on the pooled cross-fitted errors of the other
estimators, scored on the left-out one's test set (``d3prefiner.study.pooled``).

    python scripts/bench_pooled.py bench_out/stcformer-gt bench_out/mixste-gt bench_out/tcn-gt \
        --out pooled_gt --steps 1200 --threads 1

Runs of one model at several budgets (``d3pr bench --lifter-steps N --until lifter``) are one
estimator, left out together. Prints one markdown table per left-out run (the rows of BENCHMARKS.md) and writes
``OUT/results.json``; rerunning continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="finished `d3pr bench` run folders (3 or more)")
    ap.add_argument("--out", required=True, help="output folder (resumable)")
    ap.add_argument(
        "--steps",
        type=int,
        default=1200,
        help="pooled refiner's optimiser steps (400 was too few: BENCHMARKS.md)",
    )
    ap.add_argument("--preset", default="cpu", help="denoiser size")
    ap.add_argument("--recipe", default="default", help="refiner recipe")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: the idle cores)")
    ap.add_argument(
        "--only",
        default=None,
        help="comma-separated estimators (models) or run names to leave out (others: as cached)",
    )
    ap.add_argument(
        "--recalibrate",
        action="store_true",
        help="choose the trained pooled refiners' strength and filter again (each time it is given), "
        "then score again every run left out of them",
    )
    ap.add_argument(
        "--adapt-steps",
        type=int,
        default=0,
        help="also fine-tune the pooled refiner this many steps on half of each left-out run's "
        "validation subject and score it (0: not)",
    )
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    from d3prefiner.errors import D3PRError
    from d3prefiner.runtime import configure_threads
    from d3prefiner.study.pooled import PooledConfig, format_results, leave_one_out

    configure_threads(args.threads)
    try:
        config = PooledConfig(steps=args.steps, preset=args.preset, recipe=args.recipe)
        only = [n for n in args.only.split(",") if n] if args.only else None
        results = leave_one_out(
            args.runs, args.out, config, not args.no_progress, only, args.recalibrate,
            args.adapt_steps,
        )  # fmt: skip
    except D3PRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

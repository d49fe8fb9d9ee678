"""Is the refiner's strength grid fine enough? For each bench run, the strength α is chosen on the
run's validation subject from the default grid (``STRENGTHS``: 0, 0.25, …, 1) and from a finer one
(``--step``, default 0.05), both with :func:`choose_strength` (the rule ``d3pr train`` uses), and
each α is applied to the run's full-strength test refinement (``predictions/refined_test.npz``).

usage: python scripts/bench_strength.py RUN [RUN ...] --out strength.json [--step 0.05]
                                        [--val-subject S8] [--threads 1]

Prints and saves, per run: the validation MPJPE at every α of the fine grid, both chosen α, and the
action-weighted test MPJPE of the base and of both choices. The validation subject's full-strength
refinement is cached beside --out; a finished run is not recomputed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from d3prefiner.evaluation import evaluate_methods
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import Refiner
from d3prefiner.refiner.core import STRENGTHS, scale_correction
from d3prefiner.refiner.train import choose_strength
from d3prefiner.runtime import configure_threads


def measure(run: Path, cache: Path, step: float, val_subject: str) -> dict:
    """Both choices of α for one bench run (see the module docstring)."""
    val = Predictions.load(run / "predictions" / "train_crossfit.npz").filter(
        subjects=[val_subject]
    )
    cached = cache / f"{run.name}-{val_subject}-refined.npz"
    if not cached.exists():
        refined = Refiner.load(run / "refiner").refine_predictions(val, strength=1.0)
        refined.save(cached)
    val_refined = Predictions.load(cached)
    fine_grid = [round(float(a), 6) for a in np.arange(0.0, 1.0 + 1e-9, step)]
    coarse = choose_strength(val, val_refined, STRENGTHS)
    fine = choose_strength(val, val_refined, fine_grid)
    base = Predictions.load(run / "predictions" / "test.npz")
    test_refined = Predictions.load(run / "predictions" / "refined_test.npz")
    methods = {
        "base": base,
        "default_grid": scale_correction(base, test_refined, coarse["alpha"]),
        "fine_grid": scale_correction(base, test_refined, fine["alpha"]),
    }
    scored = evaluate_methods(methods, baselines=(), progress=False)["methods"]
    return {
        "val_subject": val_subject,
        "val_mpjpe_mm": fine["val_mpjpe_mm"],
        "alpha_default_grid": coarse["alpha"],
        "alpha_fine_grid": fine["alpha"],
        "test_mpjpe_mm": {k: scored[k]["mpjpe_mm"] for k in methods},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="d3pr bench run directories")
    ap.add_argument("--out", type=Path, required=True, help="JSON file of the results")
    ap.add_argument("--step", type=float, default=0.05, help="spacing of the fine grid")
    ap.add_argument("--val-subject", default="S8", help="the bench's validation subject")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not 0 < args.step <= 0.5:
        ap.error("--step must be in (0, 0.5]")
    configure_threads(args.threads)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    cache = args.out.with_suffix("")
    cache.mkdir(parents=True, exist_ok=True)
    for run in args.runs:
        if run.name not in results:
            results[run.name] = measure(run, cache, args.step, args.val_subject)
            args.out.write_text(json.dumps(results, indent=1))
        r = results[run.name]
        t = r["test_mpjpe_mm"]
        print(
            f"{run.name}: α {r['alpha_default_grid']} (default grid) / {r['alpha_fine_grid']} "
            f"(step {args.step}); test MPJPE base {t['base']:.1f}, default grid "
            f"{t['default_grid']:.1f}, fine grid {t['fine_grid']:.1f} mm"
        )


if __name__ == "__main__":
    main()

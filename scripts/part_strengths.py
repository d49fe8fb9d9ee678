"""A strength for each part of a pooled refiner's correction, chosen on the left-out estimator's
validation subject: does calibrating the image-plane part and the depth part separately keep more
of the specific refiner's gain than ``d3pr calibrate --correct either``? (BENCHMARKS.md, "Two
budgets of every estimator, all three left out").

    python scripts/part_strengths.py bench_qk/stcformer-gt-1000-5folds \\
        pooled_gt5b/without-stcformer/on-stcformer-gt-1000-5folds

Reads what ``scripts/bench_pooled.py`` cached for that left-out run (``val_pooled_raw.npz``: the
pooled refiner at full strength on the run's validation subject, at most ``--val-frames`` frames
as there; ``test_pooled_raw.npz``: on its test set). For every pair (α_plane, α_depth) of
strengths it computes the validation MPJPE of ``base + (α_plane·Δx, α_plane·Δy, α_depth·Δz)``
(camera frame), chooses the pair with the lowest, and prints the test MPJPE there, at (1, 1)
(the whole correction) and at (1, 0) (its in-plane part). The guard is off throughout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def moved(base, refined, a_plane: float, a_depth: float):
    """``base`` moved by the two shares of the correction ``refined − base`` (camera x, y by
    ``a_plane``, depth by ``a_depth``)."""
    m = np.array([a_plane, a_plane, a_depth], dtype=np.float32)
    return base.with_pred3d([b.pred3d + m * (r.pred3d - b.pred3d) for b, r in zip(base, refined)])


def frame_mpjpe(base, refined, a_plane: float, a_depth: float) -> float:
    """Mean per-frame root-relative MPJPE (mm) of :func:`moved`; ``base`` has ``gt3d``."""
    x, g = moved(base, refined, a_plane, a_depth).concat("pred3d"), base.concat("gt3d")
    x, g = x - x[:, :1], g - g[:, :1]
    return float(1000 * np.linalg.norm(x - g, axis=-1).mean())


def choose_pair(base, refined, alphas=ALPHAS) -> tuple[tuple[float, float], dict]:
    """The (α_plane, α_depth) of lowest MPJPE on ``base`` (ties: the smaller shares) and the grid."""
    grid = {(a, z): frame_mpjpe(base, refined, a, z) for a in alphas for z in alphas}
    return min(grid, key=lambda k: (round(grid[k], 6), k[0] + k[1])), grid


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="the left-out `d3pr bench` run")
    ap.add_argument("cached", help="bench_pooled's OUT/without-<E>/on-<run> folder")
    ap.add_argument("--val-frames", type=int, default=30000, help="as bench_pooled's (30000)")
    args = ap.parse_args(argv)

    from d3prefiner.errors import D3PRError
    from d3prefiner.metrics import evaluate_predictions
    from d3prefiner.predictions import Predictions
    from d3prefiner.study.grid import GridConfig, make_cell
    from d3prefiner.study.pooled import validation_part

    try:
        d = Path(args.cached)
        cell = make_cell(args.run, d, GridConfig())  # reads the run; writes nothing
        for f in ("val_pooled_raw.npz", "test_pooled_raw.npz"):
            if not (d / f).exists():
                raise D3PRError(
                    f"{d / f}: absent; run scripts/bench_pooled.py on {cell.name} first"
                )
        val, val_raw = (
            validation_part(cell, args.val_frames),
            Predictions.load(d / "val_pooled_raw.npz"),
        )
        test, test_raw = cell.predictions("test"), Predictions.load(d / "test_pooled_raw.npz")
        if len(val) != len(val_raw) or len(test) != len(test_raw):
            raise D3PRError(f"{d}: its refinements do not match {cell.name}'s predictions")
    except D3PRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pair, grid = choose_pair(val, val_raw)
    print(f"{cell.name}: validation MPJPE (mm) by (α_plane, α_depth)")
    print("α_plane \\ α_depth " + " ".join(f"{z:>6g}" for z in ALPHAS))
    for a in ALPHAS:
        print(f"{a:>17g} " + " ".join(f"{grid[(a, z)]:6.1f}" for z in ALPHAS))

    def test_mm(a, z):
        return evaluate_predictions(moved(test, test_raw, a, z)).action_weighted.mpjpe_mm

    base = test_mm(0, 0)
    print(f"test (action-weighted MPJPE): base {base:.1f} mm")
    for name, (a, z) in {"chosen on validation": pair, "whole correction": (1.0, 1.0),
                         "in-plane part": (1.0, 0.0)}.items():  # fmt: skip
        m = test_mm(a, z)
        print(
            f"  {name} (α_plane {a:g}, α_depth {z:g}): {m:.1f} mm ({100 * (m / base - 1):+.1f} %)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

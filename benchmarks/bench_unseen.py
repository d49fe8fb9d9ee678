"""An estimator the refiner never saw: what `d3pr refine` does to it by default, at full strength,
and once calibrated on a few of its sequences.

The stand-in estimator is the ground truth of a predictions file plus a smooth, temporally
correlated error (white noise per joint and coordinate, Gaussian-filtered in time, scaled to a
mean per-joint error of ``--error-mm``; the root stays exact), under another estimator name. Its
sequences are split by action: every other action calibrates (``d3pr calibrate``), the others are
scored. Every row is a `Refiner.apply` (what `d3pr refine` writes); MPJPE in mm, root-relative,
and its ratio to the unrefined stand-in::

    python benchmarks/bench_unseen.py demo_out/refiner demo_out/predictions/test.npz

With ``--calibration VAL.npz`` the predictions file is a real estimator's test file, used as it
is (no stand-in), and the calibration row is calibrated on ``VAL.npz``, that estimator's
predictions of validation subjects (never the test ones)::

    d3pr lifter predict RUN --subjects S8 --split val -o val.npz
    d3pr lifter predict RUN --subjects S9,S11 -o test.npz
    python benchmarks/bench_unseen.py CKPT test.npz --calibration val.npz

Nothing reads the estimator's ground truth at refinement; the calibration reads it on the
calibration half (or file) only.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def stand_in(preds, error_mm: float, sigma_frames: float, seed: int):
    """``preds``' ground truth plus a smooth correlated error of mean per-joint norm ``error_mm``."""
    from scipy.ndimage import gaussian_filter1d

    from d3prefiner.predictions import Predictions

    rng = np.random.default_rng(seed)
    noisy = []
    for s in preds:
        e = gaussian_filter1d(
            rng.standard_normal(s.gt3d.shape), sigma_frames, axis=0, mode="nearest"
        )
        e[:, 0] = 0.0  # (F, J, 3): the root stays exact
        e *= error_mm / 1000 / np.linalg.norm(e[:, 1:], axis=-1).mean()
        noisy.append((s.gt3d + e).astype(np.float32))
    return Predictions(preds.with_pred3d(noisy).sequences, "stand-in")


def halves(preds):
    """``(calibration, test)``: the sequences of every other action (actions sorted)."""
    from d3prefiner.predictions import Predictions

    actions = sorted({s.action for s in preds})
    first = set(actions[::2])
    cal = [s for s in preds if s.action in first]
    test = [s for s in preds if s.action not in first]
    return Predictions(cal, preds.estimator), Predictions(test, preds.estimator)


def mm(preds) -> float:
    from d3prefiner.metrics import frame_errors

    return 1000 * float(frame_errors(preds, align="root").mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="a refiner checkpoint (d3pr train / demo / bench)")
    ap.add_argument("predictions", help="a predictions file with gt3d (its motion and 2D are used)")
    ap.add_argument("--error-mm", type=float, default=40.0, help="the stand-in's mean error")
    ap.add_argument("--sigma-frames", type=float, default=5.0, help="its smoothness in time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--calibration",
        help="a real estimator's validation predictions (with gt3d): score the predictions file "
        "as it is and calibrate on this one",
    )
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    from d3prefiner.predictions import Predictions
    from d3prefiner.refiner import FULL, ApplyOptions, Refiner, calibrate_refiner

    torch.set_num_threads(args.threads)
    refiner = Refiner.load(args.checkpoint)
    if args.calibration:
        test = Predictions.load(args.predictions, need_gt="scoring the estimator")
        cal = Predictions.load(args.calibration, need_gt="the calibration")
        what = f"{test.estimator} ({args.predictions}; calibrated on {args.calibration})"
    else:
        base = Predictions.load(args.predictions, need_gt="the stand-in estimator")
        cal, test = halves(stand_in(base, args.error_mm, args.sigma_frames, args.seed))
        what = f"a stand-in of {args.predictions} ({args.error_mm:g} mm, σ = {args.sigma_frames:g} frames)"
    full = refiner.apply(test, FULL).predictions  # the network once; every row applies it
    rows = {
        "unrefined": test,
        "d3pr refine (default)": refiner.apply(test, full=full).predictions,
        "--correct in-plane (a pooled refiner's default)": refiner.apply(
            test, ApplyOptions(correct="in-plane"), full=full
        ).predictions,
        "--strength 1 --correct full --guard off": full,
        "--strength 1 --correct full (guard shrink)": refiner.apply(
            test, ApplyOptions(strength=1.0, correct="full"), full=full
        ).predictions,
    }
    calibrate_refiner(refiner, cal, "either")
    rows[
        f"calibrated on {'its validation file' if args.calibration else 'the other actions'} (--correct either), default"
    ] = refiner.apply(test, full=full).predictions
    base_mm = mm(test)
    known = ", ".join(refiner.calibration.estimators) or "none recorded"
    print(f"{args.checkpoint} (knows: {known}) on {what}; {test.num_frames} test frames")
    print("| row | MPJPE (mm) | vs unrefined |\n|---|---:|---:|")
    for name, p in rows.items():
        print(f"| {name} | {mm(p):.1f} | {100 * (mm(p) / base_mm - 1):+.1f} % |")
    c = refiner.calibration
    print(f"calibration: α = {c.strength:g}, part {c.correct}, geometric step {c.geometric}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Leave one subject out: a geometric step with each bone pulled toward the other subjects' bodies
(:class:`d3prefiner.refiner.calibration.BonePrior`), at each weight of a sequence's own medians.
For every subject of a predictions file with ``gt3d`` (cross-fitted training predictions, never
the test subjects), the prior is the median bone lengths of the other subjects' ground truth;
MPJPE (mm, action-weighted) of the subject's sequences after the step at each weight (1: the step
alone). Shows whether the prior helps people it was not measured on. ``--oracle`` adds what no
method can reach: the step with each sequence's bones at its own ground truth's median lengths
(``bones``: the estimate's directions kept, the ceiling of any step that changes bone lengths
alone; ``rays``: each joint on its 2D ray at the true bone length from its parent, so what is left
is the choice of its two depths and the 2D's error); a file of one subject (e.g. a transfer test
file) gets only that column.

    python benchmarks/bone_prior.py TRAIN_CROSSFIT.npz [--step rays] [--every 4] [--oracle]
"""

import argparse

import numpy as np
import torch

from d3prefiner.baselines import GEOMETRIC
from d3prefiner.geometry import bone_lengths
from d3prefiner.metrics import evaluate_predictions
from d3prefiner.predictions import Predictions
from d3prefiner.refiner.calibration import BONE_WEIGHTS, BonePrior, geometric_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("predictions")
    ap.add_argument("--step", default="rays", help="bones, bones+reproject, rays, rays-nearest")
    ap.add_argument("--every", type=int, default=1, help="Score every N-th sequence only.")
    ap.add_argument("--oracle", action="store_true", help="Add the own-gt-bone-lengths column.")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    preds = Predictions.load(a.predictions, need_gt="a bone prior")
    subjects = sorted({s.subject for s in preds})
    if len(subjects) < 2 and not a.oracle:
        raise SystemExit(f"error: {a.predictions}: needs two subjects or more, has {subjects}")
    table = {}
    for subject in subjects:
        own = preds.filter(subjects=[subject])
        own = Predictions(own.sequences[:: a.every], own.estimator)
        row = {"as given": evaluate_predictions(own).action_weighted.mpjpe_mm}
        others = [s for s in subjects if s != subject]
        prior = BonePrior.of(preds.filter(subjects=others)) if others else None
        for w in BONE_WEIGHTS if prior is not None else ():
            out = geometric_step(own, a.step, prior.at(w))
            row[f"w = {w:g}"] = evaluate_predictions(out).action_weighted.mpjpe_mm
        if a.oracle:
            step = GEOMETRIC[a.step]
            truth = [np.median(bone_lengths(s.gt3d), axis=0) for s in own]
            out = own.with_pred3d([step(s, lambda _, n=n: n) for s, n in zip(own, truth)])
            row["oracle: own gt bones"] = evaluate_predictions(out).action_weighted.mpjpe_mm
        table[subject] = row
    cols = list(next(iter(table.values())))
    print(f"{a.predictions}: `{a.step}`, each bone at w × the sequence's median + (1 − w) × the "
          "other subjects' (MPJPE, mm)")  # fmt: skip
    print(f"| subject | {' | '.join(cols)} |\n|---|{'---:|' * len(cols)}")
    for subject, row in table.items():
        print(f"| {subject} | {' | '.join(f'{v:.1f}' for v in row.values())} |")
    mean = {c: np.mean([r[c] for r in table.values()]) for c in cols}
    print(f"| mean | {' | '.join(f'{v:.1f}' for v in mean.values())} |")


if __name__ == "__main__":
    main()

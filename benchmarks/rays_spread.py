"""How `rays` depends on the spread with which it weighs a joint's two depths on its ray
(``d3prefiner.geometry.on_rays(..., sigma=)``; 0 = the nearer depth, `rays-nearest`): MPJPE and
P-MPJPE (mm, action-weighted) and the acceleration error (mm/s², frame-weighted) of a predictions
file with ``gt3d`` after `rays` at each spread, beside the file as it is and `bones+reproject`.
Choose the spread on validation predictions (``--subject S8``), never on the test subjects.

    python benchmarks/rays_spread.py PREDICTIONS.npz [--subject S8] [--sigmas 0,0.02,0.05,0.1]
"""

import argparse

import torch

from d3prefiner.baselines import apply_baseline, rays_sequence
from d3prefiner.geometry import RAYS_SIGMA
from d3prefiner.metrics import evaluate_predictions
from d3prefiner.predictions import Predictions


def rays_at(preds: Predictions, sigma: float) -> Predictions:
    """``preds`` after `rays` with the spread ``sigma`` (metres)."""
    return preds.with_pred3d([rays_sequence(s, sigma) for s in preds])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("predictions")
    ap.add_argument("--subject", default=None, help="Score this subject's sequences only.")
    ap.add_argument("--sigmas", default="0,0.02,0.05,0.1,0.2", help="Spreads, metres.")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    preds = Predictions.load(a.predictions, need_gt="scoring rays")
    if a.subject:
        preds = preds.filter(subjects=[a.subject])
    rows = {
        "as given": preds,
        "bones+reproject": apply_baseline("bones+reproject", preds, progress=False),
    }
    for s in (float(v) for v in a.sigmas.split(",")):
        name = f"rays, sigma {s:g} m" + (" (default)" if s == RAYS_SIGMA else "")
        rows[name] = rays_at(preds, s)
    print(f"{a.predictions}{f' ({a.subject})' if a.subject else ''}, {preds.num_frames} frames")
    print("| row | MPJPE | P-MPJPE | accel. error |\n|---|---:|---:|---:|")
    for name, p in rows.items():
        m = evaluate_predictions(p)
        w = m.action_weighted
        print(
            f"| {name} | {w.mpjpe_mm:.2f} | {w.p_mpjpe_mm:.2f} | {m.frame_weighted.accel_mm_s2:.0f} |"
        )


if __name__ == "__main__":
    main()

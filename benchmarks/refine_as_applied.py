"""A refiner on a test predictions file, scored as `d3pr refine` writes it, beside its parts:
base, full strength, as applied without the geometric step and the filter, without the filter,
as applied (default: both chosen on validation), the `bones+reproject` and `rays` baselines alone
and the closed-form CND (action-weighted MPJPE / P-MPJPE, mm).

    python benchmarks/refine_as_applied.py CKPT TEST.npz NOISE.safetensors [--threads N]
"""

import argparse

import torch

from d3prefiner.baselines import apply_baseline
from d3prefiner.metrics import evaluate_predictions
from d3prefiner.noise import load_noise_model
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import FULL, ApplyOptions, Refiner


def _score(p: Predictions) -> str:
    m = evaluate_predictions(p).action_weighted
    return f"{m.mpjpe_mm:.1f} / {m.p_mpjpe_mm:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpt")
    ap.add_argument("test")
    ap.add_argument("noise")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    refiner = Refiner.load(a.ckpt)
    test = Predictions.load(a.test)
    full = refiner.apply(test, FULL).predictions
    rows = {
        "base": test,
        "full strength": full,
        "as applied, --geometric none --smooth none": refiner.apply(
            test, ApplyOptions(geometric="none", smooth="none"), full=full
        ).predictions,
        "as applied, --smooth none": refiner.apply(
            test, ApplyOptions(smooth="none"), full=full
        ).predictions,
        "as applied (default)": refiner.apply(test, full=full).predictions,
        **{
            f"{g} alone": apply_baseline(g, test, progress=False)
            for g in ("bones+reproject", "rays")
        },
        "closed form": apply_baseline(
            "cnd_closed_form", test, load_noise_model(a.noise), progress=False
        ),
    }
    cal = refiner.calibration
    print(f"recorded: strength {cal.strength:g}, geometric step {cal.geometric}, filter "
          f"{cal.filter_label}")  # fmt: skip
    for name, p in rows.items():
        print(f"{name:30s} {_score(p)}")


if __name__ == "__main__":
    main()

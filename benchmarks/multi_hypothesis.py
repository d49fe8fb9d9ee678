"""Several starting points against one: each start is the sampler's own start plus a draw of the
CND's zero-mean residual (``NoiseModel.residual_sample``), refined at full strength with the
refiner's K steps, then aggregated by the mean and by the median over hypotheses; root-relative
MPJPE (mm, over all frames) beside the base and the single start, and the cost against one start.

    python benchmarks/multi_hypothesis.py CKPT PREDS.npz NOISE.safetensors [--subject S8]
        [--every 4] [--hypotheses 4] [--seed 0] [--threads 1]

PREDS needs ``gt3d`` (a validation subject: never the test subjects).
"""

import argparse
import time
from unittest import mock

import numpy as np
import torch

from d3prefiner.metrics import frame_errors
from d3prefiner.noise import load_noise_model
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import FULL, Refiner, core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpt")
    ap.add_argument("preds")
    ap.add_argument("noise")
    ap.add_argument("--subject", default=None, help="only this subject's sequences")
    ap.add_argument("--every", type=int, default=1, help="every n-th sequence")
    ap.add_argument("--hypotheses", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    refiner = Refiner.load(a.ckpt)
    noise = load_noise_model(a.noise)
    preds = Predictions.load(a.preds, need_gt="scoring hypotheses")
    if a.subject:
        preds = preds.filter(subjects=[a.subject])
    preds = Predictions(preds.sequences[:: a.every], preds.estimator)
    gt = torch.from_numpy(preds.concat("gt3d")).double()
    splits = np.cumsum([s.num_frames for s in preds])[:-1]

    def mm(p: Predictions) -> float:
        return 1000 * float(frame_errors(p, "root", gt).mean())

    def as_predictions(pose: np.ndarray) -> Predictions:
        return preds.with_pred3d([x.astype(np.float32) for x in np.split(pose, splits)])

    t = time.perf_counter()
    single = refiner.apply(preds, FULL).predictions
    one = time.perf_counter() - t
    start = core.start_pose
    gen = torch.Generator().manual_seed(a.seed)

    def perturbed(config, noise_model, y, x):
        x_start = start(config, noise_model, y, x)
        r = noise.residual_sample(y, x, gen).to(x_start.dtype)
        return x_start + (r - r[..., :1, :])  # the root stays where it was

    t = time.perf_counter()
    with mock.patch.object(core, "start_pose", perturbed):
        hyps = [refiner.apply(preds, FULL).predictions for _ in range(a.hypotheses)]
    cost = (time.perf_counter() - t) / one
    stack = np.stack([h.concat("pred3d") for h in hyps])  # (H, N, J, 3)
    rows = {
        "base": mm(preds),
        "one start (the refiner's)": mm(single),
        "one perturbed start": mm(hyps[0]),
        f"mean of {a.hypotheses}": mm(as_predictions(stack.mean(0))),
        f"median of {a.hypotheses}": mm(as_predictions(np.median(stack, 0))),
    }
    print(f"{preds.num_frames} frames; {a.hypotheses} hypotheses cost {cost:.1f}x one start")
    for name, v in rows.items():
        print(f"{name:28s} {v:.1f}")


if __name__ == "__main__":
    main()

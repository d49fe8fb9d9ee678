"""A lifter's predictions in fp32 and in bf16: time, MPJPE and how far apart (BENCHMARKS.md,
"Lifters predict as they were trained").

    python scripts/predict_precision.py bench_qk/mixste-detected --threads 1

Loads ``RUN/lifter/full`` and every ``--every``-th sequence (up to ``--max``) of
``RUN/predictions/test.npz``, and predicts their 2D with flip test both ways.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch


def compare(model, seqs) -> dict[str, float]:
    """Seconds and MPJPE (mm) of fp32 and bf16 prediction of ``seqs`` (with ``pose2d`` and
    ``gt3d``), and the mean / max distance between the two (mm, per joint)."""
    from d3prefiner.lifters.predict import predict

    clips = [s.pose2d for s in seqs]
    out, row = {}, {"frames": sum(len(c) for c in clips)}
    for pr in ("fp32", "bf16"):
        t = time.perf_counter()
        out[pr] = predict(model, clips, precision=pr)
        row[f"{pr}_s"] = time.perf_counter() - t
        err = np.concatenate(
            [np.linalg.norm(o - s.gt3d, axis=-1).mean(-1) for o, s in zip(out[pr], seqs)]
        )
        row[f"{pr}_mpjpe_mm"] = float(err.mean() * 1000)
    d = np.concatenate([np.linalg.norm(a - b, axis=-1).ravel() for a, b in zip(*out.values())])
    row["diff_mean_mm"], row["diff_max_mm"] = float(d.mean() * 1000), float(d.max() * 1000)
    return row


def main() -> None:
    from d3prefiner.lifters.train import load_lifter
    from d3prefiner.predictions import Predictions

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="A `d3pr bench` run directory.")
    p.add_argument("--every", type=int, default=9, help="Take every N-th test sequence.")
    p.add_argument("--max", type=int, default=24, help="At most this many sequences.")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    seqs = list(Predictions.load(a.run / "predictions" / "test.npz"))[:: a.every][: a.max]
    r = compare(load_lifter(a.run / "lifter" / "full"), seqs)
    for pr in ("fp32", "bf16"):
        print(f"{pr}: {r[f'{pr}_s']:.1f} s, MPJPE {r[f'{pr}_mpjpe_mm']:.2f} mm "
              f"over {r['frames']} frames")  # fmt: skip
    print(f"bf16 vs fp32: mean {r['diff_mean_mm']:.3f} mm, max {r['diff_max_mm']:.2f} mm per joint")


if __name__ == "__main__":
    main()

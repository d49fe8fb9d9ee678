"""How often the out-of-distribution guard fires, and what it saves (BENCHMARKS.md, "The guard").

    python scripts/bench_guard.py demo_out/refiner demo_out/predictions/test.npz \\
        --other mixste=demo_mixste/predictions/test.npz --synthetic 20,40,80

For the refiner's own estimator on held-out data (the first file: in-domain), for other estimators'
predictions of the same kind of data (``--other name=file``), and for synthetic estimators made
from the first file's ground truth (``--synthetic`` MPJPE targets in mm: ground truth plus a fixed
per-sequence bias and AR(1) noise, root kept), it prints the share of sequences the guard flags and
the frame-weighted MPJPE of the input, of the refined output with
``--guard off`` and with ``--guard shrink``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from d3prefiner.predictions import Predictions
from d3prefiner.refiner import Refiner


def _mpjpe_mm(preds: Predictions, gt: Predictions) -> float:
    errs = []
    for p, g in zip(preds, gt):
        x = p.pred3d - p.pred3d[:, :1]
        y = g.gt3d - g.gt3d[:, :1]
        errs.append(np.linalg.norm(x - y, axis=-1).mean(axis=-1))
    return 1000 * float(np.concatenate(errs).mean())


def synthetic(test: Predictions, target_mm: float, seed: int) -> Predictions:
    """Ground truth + per-sequence bias + AR(1) noise (rho 0.9), scaled to ``target_mm`` MPJPE."""
    rng = np.random.default_rng(seed)
    raw = []
    for s in test:
        F = s.num_frames
        bias = rng.normal(0, 1, (1, 17, 3))
        z = np.empty((F, 17, 3))
        z[0] = rng.normal(0, 1, (17, 3))
        for t in range(1, F):
            z[t] = 0.9 * z[t - 1] + np.sqrt(1 - 0.81) * rng.normal(0, 1, (17, 3))
        e = 0.5 * bias + z
        e[:, 0] = 0.0
        raw.append(e)
    scale = np.concatenate([np.linalg.norm(e, axis=-1)[:, 1:].ravel() for e in raw]).mean()
    k = target_mm / 1000 * 17 / 16 / scale  # MPJPE averages over 17 joints, the root's error is 0
    out = [(s.gt3d + k * e).astype(np.float32) for s, e in zip(test, raw)]
    return test.with_pred3d(out, estimator=f"synthetic-{target_mm:g}mm")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("test", type=Path, help="the refiner's own estimator on held-out data (gt3d)")
    ap.add_argument("--other", action="append", default=[], help="name=predictions.npz")
    ap.add_argument("--synthetic", default="20,40,80", help="synthetic estimators' MPJPE, mm")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    ref = Refiner.load(args.checkpoint)
    test = Predictions.load(args.test, need_gt="the benchmark")
    inputs = {"own estimator (in-domain)": test}
    for item in args.other:
        name, _, path = item.partition("=")
        inputs[name] = Predictions.load(path, need_gt="the benchmark")
    for mm in [float(x) for x in args.synthetic.split(",") if x.strip()]:
        inputs[f"synthetic {mm:g} mm"] = synthetic(test, mm, args.seed)
    st = ref.data.get("guard", {})
    print(f"guard range (2D-3D disagreement): {1000 * st['r_low_m']:.1f}-"
          f"{1000 * st['r_high_m']:.1f} mm over {st['sequences']} training sequences")  # fmt: skip
    rows = []
    for name, preds in inputs.items():
        flags = ref.guard_flags(preds)
        off = ref.refine_predictions(preds, progress=False, guard="off", strength=1.0)
        shrink = ref.refine_predictions(preds, progress=False, guard="shrink", strength=1.0)
        row = {
            "input": name,
            "flagged": f"{len(flags)}/{len(preds)}",
            "input_mm": _mpjpe_mm(preds, preds),
            "guard_off_mm": _mpjpe_mm(off, preds),
            "guard_shrink_mm": _mpjpe_mm(shrink, preds),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| input | sequences flagged | input MPJPE (mm) | refined, --guard off | "
          "refined, --guard shrink |\n|---|---:|---:|---:|---:|")  # fmt: skip
    for r in rows:
        print(f"| {r['input']} | {r['flagged']} | {r['input_mm']:.1f} | {r['guard_off_mm']:.1f} | "
              f"{r['guard_shrink_mm']:.1f} |")  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps({"guard": st, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

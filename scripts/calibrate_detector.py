"""Calibrate the detector-noise profile: lifter MPJPE with detected 2D / with GT 2D.

The paper's Tables I/II put a lifter's MPJPE with CPN detections at about 1.5–1.8× its MPJPE with GT
2D. This script measures that ratio for a *trained neural lifter* (default: the `cpu` TCN, the
lifter that converges here), trained and evaluated on the same kind of 2D: GT, or detected at each
profile scale (``DEFAULT_PROFILE.scaled(s)``). Train S1 S5 S6 S7, evaluate on the validation subject
S8: the test subjects S9 / S11 are never used, so the profile is not tuned on them.

Each (lifter, 2D) run lands in ``OUT/<model>-<2d>/`` (a lifter run directory plus ``result.json``)
and is skipped when its result exists, so the script is resumable and two copies with different
``--scales`` can run side by side (``--threads 1`` each).

usage: python scripts/calibrate_detector.py --out runs/calib --scales gt,1,2,3 [--model tcn]
       [--steps 1500] [--threads 1]
       python scripts/calibrate_detector.py --out runs/calib --summary
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from d3prefiner.data.detector import DEFAULT_PROFILE
from d3prefiner.data.pipeline import load_source, make_clips
from d3prefiner.lifters.config import train_config
from d3prefiner.lifters.predict import clips_mpjpe, predict
from d3prefiner.lifters.train import train_lifter

TRAIN, VAL = ["S1", "S5", "S6", "S7"], ["S8"]


def run_one(args, scale: str) -> dict:
    name = f"{args.model}-{'gt' if scale == 'gt' else 'det' + scale}"
    run = Path(args.out) / name
    result = run / "result.json"
    if result.exists():
        return json.loads(result.read_text())
    profile = None if scale == "gt" else DEFAULT_PROFILE.scaled(float(scale))

    def clips(subjects):
        seqs = load_source("h36m-fk17", subjects=subjects)
        return make_clips(seqs, n_cameras=args.cameras, detector=profile, target_fps=25)

    train, val = clips(TRAIN), clips(VAL)
    cfg = train_config(args.model, "cpu", {}, steps=args.steps, seed=args.seed)
    t0 = time.time()
    model = train_lifter(cfg, train, (), run, resume=(run / "state.safetensors").exists())
    minutes = (time.time() - t0) / 60
    mm = clips_mpjpe(predict(model, val, precision="fp32"), val)
    px = None
    if (
        profile is not None
    ):  # mean 2D error on S8 in pixels (normalised 2D = xy / w * 2 - c; w = 1000)
        gt2d = make_clips(
            load_source("h36m-fk17", subjects=VAL),
            n_cameras=args.cameras,
            detector=None,
            target_fps=25,
        )
        px = (
            float(
                torch.cat(
                    [
                        torch.from_numpy(d.pose2d - g.pose2d).norm(dim=-1).flatten()
                        for d, g in zip(val, gt2d)
                    ]
                ).mean()
            )
            * 1000
            / 2
        )
    out = dict(
        model=args.model,
        scale=scale,
        steps=args.steps,
        val_mpjpe_mm=mm,
        mean_2d_error_px=px,
        minutes=minutes,
    )
    result.write_text(json.dumps(out, indent=1))
    return out


def summary(out: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*/result.json"))]
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        gt = next((r for r in mine if r["scale"] == "gt"), None)
        print(f"| {model} 2D | steps | mean 2D error (px) | S8 MPJPE (mm) | detected / GT |")
        print("|---|---:|---:|---:|---:|")
        for r in sorted(mine, key=lambda r: -1.0 if r["scale"] == "gt" else float(r["scale"])):
            ratio = f"{r['val_mpjpe_mm'] / gt['val_mpjpe_mm']:.2f}" if gt else "—"
            px = "0" if r["mean_2d_error_px"] is None else f"{r['mean_2d_error_px']:.1f}"
            label = "GT" if r["scale"] == "gt" else f"detected ×{r['scale']}"
            print(f"| {label} | {r['steps']} | {px} | {r['val_mpjpe_mm']:.1f} | {ratio} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--scales", default="gt,1,2,3", help="'gt' and/or profile scales")
    ap.add_argument("--model", default="tcn")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--summary", action="store_true", help="only print the table of what landed")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.summary:
        for s in args.scales.split(","):
            r = run_one(args, s.strip())
            print(json.dumps(r), flush=True)
    summary(args.out)


if __name__ == "__main__":
    main()

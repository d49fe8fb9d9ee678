"""The fair comparison of issue 8: the bench's lifter trained for as much longer as the CND fit plus
the refiner's training took, then scored on the same test predictions.

A cosine schedule cannot simply be continued, so it trains a new full lifter (same data, same config)
with ``steps = bench steps + extra``, where ``extra`` converts RUN's noise + refiner stage seconds
(or ``--minutes``) into steps at the bench lifter's own measured seconds per step. It predicts the
test subjects and writes OUT/test_longer.npz, so that
``d3pr evaluate RUN/predictions/test.npz RUN/predictions/refined_test.npz OUT/test_longer.npz``
compares them.

usage: python scripts/longer_lifter.py RUN_DIR OUT_DIR [--minutes M] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from d3prefiner.study import Experiment, ExperimentConfig
from d3prefiner.lifters.train import predict, predictions_from_clips, read_config, train_lifter
from d3prefiner.predictions import Predictions
from d3prefiner.train import read_history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    exp_cfg = json.loads((args.run / "experiment.json").read_text())
    for k in ("train_subjects", "test_subjects", "baselines"):
        exp_cfg[k] = tuple(exp_cfg[k])
    exp = Experiment(ExperimentConfig(**exp_cfg), args.run, progress=False)
    minutes = args.minutes
    if minutes is None:
        t = json.loads((args.run / "results.json").read_text())["meta"]["timings_s"]
        minutes = (t["noise"] + t["refiner"]) / 60
    full = args.run / "lifter" / "full"
    config = read_config(full)
    h = read_history(full)
    per_step = h["train_seconds"] / h["steps"]
    extra = int(round(minutes * 60 / per_step))
    config = replace(config, steps=config.steps + extra)
    clips = exp.clips_by_subject()
    c = exp.config
    train = [x for s in c.train_subjects for x in clips[s]]
    test = [x for s in c.test_subjects for x in clips[s]]
    print(f"{minutes:.1f} min more = {extra} steps at {per_step:.2f} s/step: {config.steps} steps")
    model = train_lifter(config, train, [], args.out / "lifter", resume=True, progress=False)
    preds = predict(model, test, flip_test=config.flip_test)
    out = Predictions(predictions_from_clips(test, preds, split="test"), "lifter-longer")
    out.save(args.out / "test_longer.npz")
    base = Predictions.load(args.run / "predictions" / "test.npz")
    print(f"wrote {args.out / 'test_longer.npz'} ({out.num_frames} frames; base {base.num_frames})")


if __name__ == "__main__":
    main()

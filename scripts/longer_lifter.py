"""The fair comparison of issue 8: the bench's lifter trained on for as long as the CND fit plus the
refiner's training took, then scored on the same test predictions.

It copies RUN/lifter/full to OUT/lifter, resumes its training (same data, same config; only the
epoch limit is raised) for ``--minutes`` of wall-clock time (default: RUN's noise + refiner stage
seconds from results.json), predicts the test subjects and writes OUT/test_longer.npz, so that
``d3pr evaluate RUN/predictions/test.npz RUN/predictions/refined_test.npz OUT/test_longer.npz``
compares them.

usage: python scripts/longer_lifter.py RUN_DIR OUT_DIR [--minutes M] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from d3prefiner.experiment import Experiment, ExperimentConfig
from d3prefiner.lifters.train import predict, predictions_from_clips, read_config, train_lifter
from d3prefiner.predictions import Predictions


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
    lifter_dir = args.out / "lifter"
    if not lifter_dir.exists():
        shutil.copytree(args.run / "lifter" / "full", lifter_dir)
    config = read_config(lifter_dir)
    config = replace(config, epochs=config.epochs + 1000)  # the budget decides
    clips = exp.clips_by_subject()
    c = exp.config
    train = [x for s in c.train_subjects for x in clips[s]]
    test = [x for s in c.test_subjects for x in clips[s]]
    print(f"training on for {minutes:.1f} min")
    model = train_lifter(
        config, train, test, lifter_dir, resume=True, max_minutes=minutes, progress=False
    )
    preds = predict(model, test, flip_test=config.flip_test)
    out = Predictions(predictions_from_clips(test, preds, split="test"), "lifter-longer")
    out.save(args.out / "test_longer.npz")
    base = Predictions.load(args.run / "predictions" / "test.npz")
    print(f"wrote {args.out / 'test_longer.npz'} ({out.num_frames} frames; base {base.num_frames})")


if __name__ == "__main__":
    main()

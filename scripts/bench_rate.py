"""A bench run's lifter and refiner on its test subjects at other frame rates: refined with and
without resampling to the refiner's training rate (``d3pr refine --resample`` / ``--no-resample``).

usage: python scripts/bench_rate.py RUN --out rate.json [--subjects S11] [--cameras 2] [--threads 1]

For each case the run's full lifter predicts the subjects' clips (the run's source, setting, seed
and cameras; only the rate changes): 12.5, 50 and 100 fps (100: the 50 fps source upsampled by
interpolation), 50 fps "interleaved" (the lifter at the run's rate on the even and on the odd
frames, merged), and the run's own rate. The refiner refines each at full strength, with and
without resampling, and at the strength chosen on validation (α × the same correction). Prints
and saves MPJPE (mm, frame-weighted, root-relative); a finished case is not recomputed.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from d3prefiner.lifters.predict import predict, predictions_from_clips
from d3prefiner.lifters.runs import read_data_spec, source_clips
from d3prefiner.lifters.train import load_lifter, read_config
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import Refiner
from d3prefiner.refiner.core import scale_correction
from d3prefiner.runtime import configure_threads

CASES = ("own", "12.5", "50", "50-interleaved", "100")


def _mm(p: Predictions) -> float:
    x = torch.from_numpy(p.concat("pred3d")).double()
    g = torch.from_numpy(p.concat("gt3d")).double()
    return float(((x - x[:, :1]) - (g - g[:, :1])).norm(dim=-1).mean()) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--subjects", default="S11")
    ap.add_argument("--cameras", type=int, default=2, help="use the first N cameras of each rig")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    configure_threads(a.threads)
    spec, _ = read_data_spec(a.run / "lifter" / "full")
    tc = read_config(a.run / "lifter" / "full")
    lifter = load_lifter(a.run / "lifter" / "full")
    refiner = Refiner.load(a.run / "refiner")
    if refiner.fps is None:  # a checkpoint from before the rate was recorded: the run's rate
        refiner.data["fps"] = float(spec.fps)
    alpha = refiner.resolve_strength("auto")
    subjects = a.subjects.split(",")

    def clips(fps: float):
        cs = source_clips(replace(spec, fps=fps), subjects)
        keep = sorted({c.camera for c in cs})[: a.cameras]
        return [c for c in cs if c.camera in keep]

    def lift(cs) -> Predictions:
        p3d = predict(lifter, cs, flip_test=tc.flip_test)
        return Predictions(predictions_from_clips(cs, p3d, split="test"), "lifter")

    results = json.loads(a.out.read_text()) if a.out.exists() else {}
    own = float(spec.fps)
    for case in CASES:
        if case in results:
            print(case, results[case])
            continue
        t0 = time.time()
        if case == "50-interleaved":  # the lifter at its own rate on each phase, merged
            c50 = clips(2 * own)
            p3d = [np.zeros_like(c.pose3d) for c in c50]
            for ph in (0, 1):
                sub = [replace(c, pose2d=c.pose2d[ph::2], pose3d=c.pose3d[ph::2], fps=own)
                       for c in c50]  # fmt: skip
                for arr, q in zip(p3d, predict(lifter, sub, flip_test=tc.flip_test)):
                    arr[ph::2] = q
            base = Predictions(predictions_from_clips(c50, p3d, split="test"), "lifter")
        else:
            base = lift(clips(own if case == "own" else float(case)))
        row = {"fps": base.sequences[0].fps, "frames": base.num_frames, "base": _mm(base)}
        for resample in (True, False) if case != "own" else (True,):
            key = "resampled" if resample else "own rate"
            full = refiner.refine_predictions(base, progress=False, strength=1.0, resample=resample)
            row[f"{key}, strength 1"] = _mm(full)
            row[f"{key}, strength {alpha:g} (chosen)"] = _mm(scale_correction(base, full, alpha))
        row["seconds"] = round(time.time() - t0)
        results[case] = row
        print(case, row, flush=True)
        a.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

"""What `--causal` costs: a lifter run and a refiner on the same clips, whole-sequence (the
default) against causal (each frame from a window that ends at it): MPJPE of the lifter and of
the refiner as `d3pr refine` applies it, batched milliseconds per frame, and the one-frame-at-a-time
cost and latency of streaming::

    d3pr lifter train --model tcn --preset cpu --setting detected --steps 252 --out lifter
    d3pr lifter predict lifter --subjects S8 --split val -o s8.npz
    d3pr noise fit s8.npz -o noise.safetensors
    d3pr train s8.npz --noise noise.safetensors --preset tiny --minutes 5 --val-subjects S8 --out ckpt
    python benchmarks/bench_causal.py lifter ckpt --subjects S9,S11 --every 3

The clips are remade as the lifter run's ``data.json`` says (source, 2D setting, rate); one
camera, every ``--every``-th clip. Nothing reads ground truth at inference; it scores only.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lifter", help="a lifter run directory (d3pr lifter train)")
    ap.add_argument("refiner", help="a refiner checkpoint trained on that lifter's predictions")
    ap.add_argument(
        "--subjects", help="test subjects, comma-separated (default: the run's test split)"
    )
    ap.add_argument("--every", type=int, default=3, help="keep every N-th clip of one camera")
    ap.add_argument("--stream-frames", type=int, default=50, help="frames timed one at a time")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from d3prefiner.lifters.predict import causal_index, flip_pose, predict, predictions_from_clips
    from d3prefiner.lifters.runs import estimator_of, predict_spec, source_clips
    from d3prefiner.lifters.train import load_lifter
    from d3prefiner.metrics import frame_errors
    from d3prefiner.predictions import Predictions
    from d3prefiner.quality import bone_cv, jitter
    from d3prefiner.refiner import ApplyOptions, Refiner

    torch.set_num_threads(args.threads)
    model = load_lifter(args.lifter)
    spec, default_subjects, _ = predict_spec(args.lifter, None, None, None, None)
    clips = source_clips(spec, args.subjects.split(",") if args.subjects else default_subjects)
    clips = [c for c in clips if c.camera == clips[0].camera][:: args.every]
    n = sum(len(c.pose2d) for c in clips)
    context = getattr(model, "context", 0)
    refiner = Refiner.load(args.refiner)
    print(f"{len(clips)} clips, camera {clips[0].camera}, {n} frames at {clips[0].fps:g} fps; "
          f"lifter window {model.config.window} (+{context} context), refiner window "
          f"{refiner.config.window}; {args.threads} thread(s)")  # fmt: skip

    def mm(p: Predictions) -> float:
        return 1000 * float(frame_errors(p, align="root").mean())

    def weighted(f, seqs) -> float:
        return float(np.average([f(q, c.fps) for q, c in zip(seqs, clips)],
                                weights=[len(q) for q in seqs]))  # fmt: skip

    print("| mode | lifter (mm) | refined (mm) | change | lifter ms/frame | refiner ms/frame |"
          " jitter lifter / refined (m/s²) | bone CV lifter / refined (%) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for causal in (False, True):
        t = time.perf_counter()
        pred = predict(model, clips, causal=causal)
        t_lift = time.perf_counter() - t
        base = Predictions(predictions_from_clips(clips, pred), estimator_of(args.lifter))
        t = time.perf_counter()
        out = refiner.apply(base, ApplyOptions(causal=causal)).predictions
        t_ref = time.perf_counter() - t
        refined = [s.pred3d for s in out]
        a, b = mm(base), mm(out)
        print(f"| {'--causal' if causal else 'default'} | {a:.1f} | {b:.1f} | "
              f"{100 * (b / a - 1):+.1f} % | {1000 * t_lift / n:.2f} | {1000 * t_ref / n:.2f} | "
              f"{weighted(jitter, pred):.2f} / {weighted(jitter, refined):.2f} | "
              f"{weighted(lambda q, _: bone_cv(q), pred):.2f} / "
              f"{weighted(lambda q, _: bone_cv(q), refined):.2f} |")  # fmt: skip

    # streaming: one new frame at a time, batch 1, one window (the lifter's with its flip) each
    y = clips[0].pose2d.astype(np.float32)
    k, T = args.stream_frames, refiner.config.window
    first = max(model.config.window + context, T)
    if len(y) < first + k:
        print(f"streaming: clip of {len(y)} frames too short for {k} timed frames")
        return 0
    x = predict(model, [y], causal=True)[0].astype(np.float32)
    idx = causal_index(len(y), model.config.window, context)
    with torch.inference_mode():
        t = time.perf_counter()
        for f in range(first, first + k):
            w = torch.from_numpy(y[idx[f]][None])
            0.5 * (model(w) + flip_pose(model(flip_pose(w))))
        t_l = (time.perf_counter() - t) / k
    t = time.perf_counter()
    for f in range(first, first + k):
        refiner.refine_windows(torch.from_numpy(y[f - T + 1 : f + 1][None]),
                               torch.from_numpy(x[f - T + 1 : f + 1][None]))  # fmt: skip
    t_r = (time.perf_counter() - t) / k
    later = model.config.window - 1 + context + T - 1
    print(f"streaming, one frame at a time: lifter {1000 * t_l:.1f} ms + refiner {1000 * t_r:.1f} "
          f"ms per frame, latency 0 frames (the default waits for up to {later} later frames, "
          f"{later / clips[0].fps:.1f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

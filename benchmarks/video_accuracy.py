"""d3pr video's path (keypoints file -> lift -> refine -> trajectory -> label-free metrics) on
predictions with ground truth (e.g. h36m-fk17 S9 + S11, detector-like 2D), against the truth:
MPJPE and P-MPJPE beside the label-free metrics, frame-weighted over the sequences.

    python benchmarks/video_accuracy.py LIFTER_RUN TEST.npz NOISE.safetensors WORK_DIR CAMERA [REFINER]

TEST.npz: the lifter's own test predictions (with cameras); CAMERA: the camera name to keep.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from d3prefiner import quality
from d3prefiner.baselines import smooth_sequence
from d3prefiner.metrics import mpjpe, p_mpjpe
from d3prefiner.noise import load_noise_model
from d3prefiner.predictions import Predictions
from d3prefiner.video import VideoOptions, run_video
from d3prefiner.video.kpfile import Keypoints, write_keypoints
from d3prefiner.video.outputs import intrinsics_of

run, test, noise, work, camera = sys.argv[1:6]
refiner = sys.argv[6] if len(sys.argv) > 6 else None
work = Path(work)
preds = Predictions.load(test)
nm = load_noise_model(noise)
seqs = [s for s in preds if camera is None or s.camera == camera]
rows = {}
for i, s in enumerate(seqs):
    intr = s.intrinsics
    w, h = intr.width, intr.height
    px = (s.pose2d + np.array([1.0, h / w])) * w / 2  # the detector-like 2D in pixels
    kp = Keypoints(px, np.ones(px.shape[:2]), w, h, s.fps, layout="h36m17")
    src = work / f"kp{i}.npz"
    write_keypoints(src, kp)
    opts = VideoOptions(lifter=run, refiner=refiner, focal=float(intr.f[0]), overlay=False)
    res = run_video(src, work / f"out{i}", opts, progress=False)
    assert len(res.segments) == 1 and res.segments[0].frames == s.num_frames
    base = res.segments[0].base
    cf = nm.closed_form_refine(torch.from_numpy(s.pose2d)[None], torch.from_numpy(base)[None])
    motions = {
        "base": base,
        "refined": res.segments[0].refined,
        "savgol": smooth_sequence("savgol", base, s.fps),
        "closed form": cf[0].detach().numpy(),
    }
    vintr = intrinsics_of(res)
    for name, p in motions.items():
        m = quality.label_free(p, s.fps, kp2d=px, intr=vintr)
        m["MPJPE"] = float(mpjpe(p, s.gt3d).mean()) * 1000
        m["P-MPJPE"] = float(p_mpjpe(p, s.gt3d).mean()) * 1000
        for k, v in m.items():
            rows.setdefault(name, {}).setdefault(k, []).append((v, s.num_frames))
    print(
        i,
        s.subject,
        s.action,
        s.camera,
        f"{rows['base']['MPJPE'][-1][0]:.1f}",
        f"{rows['refined']['MPJPE'][-1][0]:.1f}",
        res.applied,
        flush=True,
    )
out = {}
for name, ms in rows.items():
    out[name] = {}
    for k, vals in ms.items():
        v = np.array([a for a, _ in vals])
        n = np.array([b for _, b in vals], float)
        ok = np.isfinite(v)
        out[name][k] = float((v[ok] * n[ok]).sum() / n[ok].sum())
print(json.dumps(out, indent=1))

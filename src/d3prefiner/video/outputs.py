"""The 3D of each segment (lifted, refined, placed in the world) and the files of ``d3pr video``:
``poses.npz`` (the predictions format plus the video's own arrays), the BVH, the overlay video
and ``report.md``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..io import load_npz, save_npz
from ..predictions import Predictions, PredictionSequence
from .lift import intrinsics_of, normalise


def default_focal(width: int, height: int) -> float:
    """The focal length (pixels) assumed without ``--focal``
    (:func:`d3prefiner.trajectory.default_focal_px`: the image diagonal)."""
    from ..trajectory import default_focal_px

    return default_focal_px(width, height)


def predictions_of(result, pred3d: list[np.ndarray], name: str) -> Predictions:
    """One predictions-file sequence per segment (subject ``person<rank>``, one per tracked
    person: a body; action the segment's name)."""
    intr = intrinsics_of(result)
    seqs = [
        PredictionSequence(f"person{s.person}", s.name, "video", result.fps,
                           normalise(s.points, result.width, result.height), p, intrinsics=intr)
        for s, p in zip(result.segments, pred3d)
    ]  # fmt: skip
    return Predictions(seqs, name)


def lift_segments(result, lifter, causal: bool = False) -> Predictions:
    """Each segment's ``base`` 3D: the lifter's (``causal``: from past frames only), or
    BlazePose's own (``lifter`` None; per frame). Returns them as predictions (one sequence per
    segment)."""
    if lifter is not None:
        base = [lifter.lift(normalise(s.points, result.width, result.height), result.fps, causal)
                for s in result.segments]  # fmt: skip
        result.estimator = lifter.name
    else:
        base = [s.world.astype(np.float32) for s in result.segments]
        result.estimator = "blazepose"
    for s, b in zip(result.segments, base):
        s.base = np.asarray(b, np.float32)
    return predictions_of(result, base, result.estimator)


def refine_segments(result, preds: Predictions, refiner, causal: bool = False) -> None:
    """Each segment's ``refined`` 3D: the refiner's output under the default apply options (as
    ``d3pr refine`` applies it); the base without a refiner. Also the alternatives of the
    quality table (:func:`alternatives`)."""
    refined = [s.pred3d for s in preds]
    if refiner is not None:
        from ..refiner import ApplyOptions

        applied = refiner.apply(preds, ApplyOptions(causal=causal))
        refined = [s.pred3d for s in applied.predictions]
        result.applied = (
            f"strength {applied.alpha:g}, {applied.part} correction"
            + (", estimator unseen by the refiner" if applied.unseen else "")
            + (f", guard flagged {len(applied.flags)} sequence(s)" if applied.flags else "")
        )
    for s, r in zip(result.segments, refined):
        s.refined = np.asarray(r, np.float32)
    result.alternatives = alternatives(preds, refiner)


def alternatives(preds: Predictions, refiner) -> dict[str, list[np.ndarray]]:
    """The cheap alternatives to refining, applied to the base, for the quality table: the
    refiner's calibrated filter (else Savitzky–Golay with its defaults) and, when the checkpoint
    holds a noise model, the closed-form CND correction (:mod:`d3prefiner.baselines`)."""
    from ..baselines import CND_BASELINE, apply_baseline, smooth_predictions, smoothing_label

    cal = refiner.calibration if refiner is not None else None
    if cal is not None and cal.filter != "none":
        choice, ref = cal.filter_choice, refiner.fps
    else:
        choice, ref = {"filter": "savgol"}, None
    out = {f"filter {smoothing_label(choice)}": [
        s.pred3d for s in smooth_predictions(preds, choice, ref)]}  # fmt: skip
    if refiner is not None and refiner.noise_model is not None:
        closed = apply_baseline(CND_BASELINE, preds, refiner.noise_model, progress=False)
        out["closed form"] = [s.pred3d for s in closed]
    return out


def place_in_world(result, smooth: bool = True) -> None:
    """Each segment's root trajectory (camera frame) from its 2D and refined 3D (``smooth``:
    smoothed in time), and the refined motion in the world frame (:mod:`d3prefiner.trajectory`;
    the floor and the up direction from the whole segment)."""
    from .. import trajectory as traj

    intr = intrinsics_of(result)
    for s in result.segments:
        t = traj.camera_trajectory(s.refined, s.points, intr, s.conf, smooth, fps=result.fps)
        s.trajectory = np.asarray(t, dtype=np.float32)
        s.positions = np.asarray(traj.to_world(s.refined + s.trajectory[:, None]).positions)


def poses_arrays(result) -> dict[str, np.ndarray]:
    """``poses.npz``: the predictions file of the refined 3D plus the video's arrays (per frame,
    segments back to back): ``base3d (N, 17, 3)``, ``pose2d_px (N, 17, 2)``, ``conf2d (N, 17)``,
    ``filled2d (N, 17)`` bool, ``trajectory (N, 3)`` camera frame metres, ``world3d (N, 17, 3)``
    z-up metres; per segment ``person (S,)`` and ``start (S,)`` (its first video frame)."""
    preds = predictions_of(result, [s.refined for s in result.segments], result.estimator)
    with tempfile.TemporaryDirectory() as tmp:
        preds.save(Path(tmp) / "p.npz")
        arrays = load_npz(Path(tmp) / "p.npz")
    segs = result.segments
    arrays.update(
        base3d=np.concatenate([s.base for s in segs]).astype(np.float32),
        pose2d_px=np.concatenate([s.points for s in segs]).astype(np.float32),
        conf2d=np.concatenate([s.conf for s in segs]).astype(np.float32),
        filled2d=np.concatenate([s.filled for s in segs]),
        person=np.array([s.person for s in segs], dtype=np.int64),
        start=np.array([s.start for s in segs], dtype=np.int64),
        video_size=np.array([result.width, result.height], dtype=np.int64),
    )
    if all(s.trajectory is not None for s in segs):
        arrays["trajectory"] = np.concatenate([s.trajectory for s in segs]).astype(np.float32)
        arrays["world3d"] = np.concatenate([s.positions for s in segs]).astype(np.float32)
    return arrays


def bvh_name(result, seg) -> str:
    return "motion.bvh" if len(result.segments) == 1 else f"{seg.name}.bvh"


def write_outputs(result, src: Path, out: Path, options, progress: bool, timer) -> list[Path]:
    """Write ``poses.npz``, one BVH per segment, ``overlay.mp4`` (a GIF without a video encoder)
    and ``report.md`` into ``out``; returns the files written. ``timer(name)`` times a stage."""
    from ..export.bvh import write_bvh
    from .overlay import write_overlay
    from .report import write_report

    files = [out / "poses.npz"]
    with timer("export"):
        save_npz(files[0], **poses_arrays(result))
        for s in result.segments:
            files.append(out / bvh_name(result, s))
            write_bvh(files[-1], s.positions, result.fps)
    if options.overlay:
        with timer("overlay"):
            files.append(write_overlay(result, src, out, options.max_frames, progress))
    files.append(write_report(result, src, out, options))
    return files

"""A predictions file (:mod:`d3prefiner.predictions`) → BVH files, one per sequence, with the
motion placed in a levelled world (:func:`d3prefiner.trajectory.to_world`).

Which 3D: ``pred3d`` by default (a file written by ``d3pr refine`` or ``d3pr video`` holds the
refined 3D there, an estimator's file its estimate), or any other ``(N, 17, 3)`` array of the file
(``base3d``, the estimate before refinement in a ``d3pr video`` file; ``gt3d``).

Where the root goes, first that applies:

1. the file's own ``trajectory`` ``(N, 3)`` (camera frame, metres; ``d3pr video`` writes it);
2. fitted from the 2D and the sequence's camera (:func:`d3prefiner.trajectory.camera_trajectory`;
   the 2D in pixels from ``pose2d_px`` if the file has it, else ``pose2d`` de-normalised with the
   camera's image size; ``conf2d`` ``(N, 17)`` weighs the joints when present);
3. pinned: the pose levelled in place, its root not moving (no camera, or ``trajectory=False``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ArgumentError
from ..io import check_output_dir, check_output_file, load_npz
from ..predictions import Predictions, PredictionSequence
from ..trajectory import camera_trajectory, to_world
from .bvh import write_bvh


@dataclass(frozen=True)
class Motion:
    """One sequence ready to write: ``positions (T, 17, 3)`` metres, z up; how the root was
    placed; its name."""

    name: str
    positions: np.ndarray
    fps: float
    root: str


def _extras(path: Path, n: int) -> dict[str, np.ndarray]:
    """The file's per-frame arrays (first dimension ``n``) beside the predictions format's."""
    return {k: v for k, v in load_npz(path).items() if v.ndim >= 1 and len(v) == n}


def _pixels(s: PredictionSequence, extra: dict[str, np.ndarray]) -> np.ndarray:
    if "pose2d_px" in extra and extra["pose2d_px"].shape[1:] == (17, 2):
        return extra["pose2d_px"].astype(np.float64)
    w, h = s.intrinsics.width, s.intrinsics.height
    return (s.pose2d.astype(np.float64) + [1.0, h / w]) * w / 2  # (T, 17, 2) pixels


def place(s: PredictionSequence, pose: np.ndarray, extra: dict[str, np.ndarray],
          trajectory: bool = True) -> tuple[np.ndarray, str]:  # fmt: skip
    """``(positions (T, 17, 3) z up, how the root was placed)`` of one sequence's ``pose``
    (camera frame) with the per-frame ``extra`` arrays of the file (see the module docstring)."""
    rel = pose.astype(np.float64) - pose[:, :1]
    if trajectory and "trajectory" in extra and extra["trajectory"].shape[1:] == (3,):
        return to_world(rel + extra["trajectory"][:, None]).positions, "the file's trajectory"
    if trajectory and s.intrinsics is not None:
        conf = extra.get("conf2d")
        conf = conf if conf is not None and conf.shape[1:] == (17,) else None
        t = camera_trajectory(rel, _pixels(s, extra), s.intrinsics, conf, fps=s.fps)
        return to_world(rel + t[:, None]).positions, "fitted from the 2D and the camera"
    why = "no camera in the file" if trajectory else "--no-trajectory"
    return to_world(rel).positions, f"pinned ({why})"


def _name(s: PredictionSequence) -> str:
    raw = "_".join(p for p in (s.subject, s.action, s.camera) if p) or "sequence"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw)


def _pick(preds: Predictions, sequence: str | None) -> list[int]:
    if sequence is None:
        return list(range(len(preds)))
    names = [f"{s.subject}/{s.action}/{s.camera}" for s in preds]
    if sequence.isdigit() and int(sequence) < len(preds):
        return [int(sequence)]
    if sequence in names:
        return [names.index(sequence)]
    raise ArgumentError("sequence", f"no sequence {sequence!r}: give an index 0-{len(preds) - 1} "
                        f"or one of {', '.join(names[:5])}{' …' if len(names) > 5 else ''}")  # fmt: skip


def motions(path: str | os.PathLike, pose: str = "pred3d", trajectory: bool = True,
            sequence: str | None = None) -> list[Motion]:  # fmt: skip
    """Every chosen sequence of a predictions file as world motion (see the module docstring).

    Raises:
        D3PRError / ArgumentError: a file that is not a predictions file, an unknown ``pose``
            array, an unknown ``sequence``.
    """
    path = Path(path)
    preds = Predictions.load(path)
    extra = _extras(path, preds.num_frames)
    poses = {k for k, v in extra.items() if v.shape[1:] == (17, 3)}
    if pose not in poses:
        raise ArgumentError("pose", f"{path} has no 3D array {pose!r}; it has "
                            f"{', '.join(sorted(poses))}")  # fmt: skip
    ends = np.cumsum([s.num_frames for s in preds])
    out = []
    for i in _pick(preds, sequence):
        s, sl = (
            preds.sequences[i],
            slice(int(ends[i] - preds.sequences[i].num_frames), int(ends[i])),
        )
        mine = {k: v[sl] for k, v in extra.items()}
        positions, root = place(s, mine[pose], mine, trajectory)
        out.append(Motion(_name(s), positions, s.fps, root))
    names = [m.name for m in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:  # two sequences would write one file
        out = [Motion(f"{k:03d}_{m.name}", m.positions, m.fps, m.root) for k, m in enumerate(out)]
    return out


def export_bvh(path: str | os.PathLike, out: str | os.PathLike, pose: str = "pred3d",
               trajectory: bool = True, sequence: str | None = None,
               force: bool = False) -> list[str]:  # fmt: skip
    """Write the BVH of every chosen sequence: ``out`` itself for one sequence (a ``.bvh`` name),
    else one file per sequence in the folder ``out`` (written in a temporary folder first, so that
    a failure leaves nothing). Returns one line per file written."""
    out = Path(out)
    motions_list = motions(path, pose, trajectory, sequence)
    if len(motions_list) == 1 and out.suffix.lower() == ".bvh":
        check_output_file(out, (path,), force, flag="--bvh")
        m = motions_list[0]
        write_bvh(out, m.positions, m.fps)
        return [_line(out, m, pose)]
    if out.suffix.lower() == ".bvh":
        raise ArgumentError("bvh", f"{path} holds {len(motions_list)} sequences: give a folder "
                            "(one BVH each) or pick one with --sequence")  # fmt: skip
    check_output_dir(out, (path,), force=force, flag="--bvh")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for m in motions_list:
            write_bvh(tmp / f"{m.name}.bvh", m.positions, m.fps)
        out.mkdir(exist_ok=True)
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [_line(out / f"{m.name}.bvh", m, pose) for m in motions_list]


def _line(f: Path, m: Motion, pose: str) -> str:
    return f"wrote {f}: {len(m.positions)} frames at {m.fps:g} fps, {pose}, root {m.root}"

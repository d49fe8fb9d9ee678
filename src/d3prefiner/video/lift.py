"""From one person's 2D (H36M-17 pixels) to 3D: normalising with the video's own size, lifting
with a trained lifter at its training frame rate (or taking BlazePose's own 3D), and refining."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ArgumentError, D3PRError
from ..geometry import Intrinsics

#: The base estimates ``--base`` accepts besides a lifter run.
BASES = ("lifter", "blazepose")


def normalise(points_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels ``(..., 2)`` → VideoPose3D-normalised ``x / w * 2 - [1, h / w]`` (what the lifters
    are trained on, :mod:`d3prefiner.geometry`)."""
    return (np.asarray(points_px, dtype=np.float64) / width * 2 - [1.0, height / width]).astype(
        np.float32
    )


def intrinsics_of(result) -> Intrinsics:
    """The pinhole assumed for the video: ``result.focal`` pixels, principal point at the centre."""
    from ..trajectory import video_intrinsics

    return video_intrinsics(result.width, result.height, result.focal)


def missing_estimator_message() -> str:
    return (
        "is needed (or --base blazepose): a lifter run directory trained on detector-like 2D, e.g. "
        "`d3pr lifter train --model tcn --setting detected --out lifter_run`"
    )


def _training_fps(spec) -> float | None:
    """The frame rate a lifter run was trained at (None: each source sequence's own rate)."""
    from ..data.sources import get_source

    if spec is None:  # a run from before data.json: the default source's rate
        return 25.0
    return spec.fps or get_source(spec.source).fps


class LifterRun:
    """A trained lifter run directory (``d3pr lifter train``) used on a video's 2D."""

    def __init__(self, run_dir: str | Path, device: str = "cpu") -> None:
        from ..lifters.runs import read_data_spec
        from ..lifters.train import load_lifter, read_config

        self.run_dir = Path(run_dir)
        if not self.run_dir.is_dir():
            raise ArgumentError("lifter", f"{self.run_dir}: not a lifter run directory")
        self.model = load_lifter(self.run_dir, device)
        self.config = read_config(self.run_dir)
        self.device = device
        spec = read_data_spec(self.run_dir)[0] if (self.run_dir / "data.json").exists() else None
        self.fps = _training_fps(spec)
        self.setting = spec.setting if spec is not None else "gt"

    @property
    def name(self) -> str:
        """The estimator name ``d3pr lifter predict`` writes for this lifter."""
        from ..lifters.runs import estimator_of

        return estimator_of(self.run_dir)

    def lift(self, pose2d: np.ndarray, fps: float, causal: bool = False) -> np.ndarray:
        """Normalised 2D ``(F, 17, 2)`` at ``fps`` → root-relative 3D ``(F, 17, 3)`` metres, the
        2D resampled to the lifter's training rate and the output read back at the video's.

        ``causal``: each frame from a window that ends at it, read back at the latest lifter
        frame not after it (no later video frame is read)."""
        from ..data.resample import interp_frames, resample_times

        rate = self.fps or fps  # a lifter trained at its sources' own rates: the video's
        at_rate = interp_frames(pose2d, resample_times(len(pose2d), fps, rate))
        out = self._predict(at_rate, causal)
        back = np.arange(len(pose2d)) * (rate / fps)  # (F,) positions in lifter frames
        if causal:
            back = np.floor(back + 1e-9)
        pose3d = interp_frames(out, back)
        return (pose3d - pose3d[:, :1]).astype(np.float32)

    def _predict(self, pose2d: np.ndarray, causal: bool) -> np.ndarray:
        from ..lifters.predict import predict_as_trained

        extra = {"causal": True} if causal else {}
        return predict_as_trained(self.model, [pose2d], self.config, device=self.device, **extra)[0]


def blazepose_base(world33: np.ndarray) -> np.ndarray:
    """BlazePose's metric world landmarks ``(F, 33, 3)`` → H36M-17 root-relative ``(F, 17, 3)``
    metres in the camera's axes (:func:`d3prefiner.video.joints.to_h36m17`)."""
    from .joints import to_h36m17

    pose, _ = to_h36m17(world33)
    if not np.isfinite(pose).all():
        raise D3PRError("BlazePose's 3D landmarks are missing in some frames to be lifted")
    return (pose - pose[:, :1]).astype(np.float32)


def refine(checkpoint: str | Path, preds, device: str = "cpu", progress: bool = False):
    """Refine a :class:`~d3prefiner.predictions.Predictions` with a checkpoint under the default
    :class:`~d3prefiner.refiner.ApplyOptions` (as ``d3pr refine`` applies it). Returns the
    :class:`~d3prefiner.refiner.calibration.Applied`."""
    from ..refiner import ApplyOptions, Refiner

    refiner = Refiner.load(checkpoint, device=device)
    return refiner.apply(preds, ApplyOptions(), progress=progress)

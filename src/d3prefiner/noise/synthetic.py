"""A synthetic predictions file for tests and demos: smooth motion plus smooth, b-dependent errors.

Not a stand-in for a real lifter's errors; it only has their broad shape: a bias, a part that is a
linear function of the 2D input (as depth ambiguity would give) and an AR(1) part correlated across
joints and smooth in time (lag-1 correlation ``rho``).
"""

from __future__ import annotations

import numpy as np

from ..geometry import Intrinsics
from ..predictions import Predictions, PredictionSequence
from ..skeleton import NUM_JOINTS

#: The pinhole that :func:`make_synthetic_predictions` projects with: normalised f = 2 f / w = 2.
SYNTHETIC_CAMERA = Intrinsics(f=(1000.0, 1000.0), c=(500.0, 500.0), width=1000, height=1000)


def make_synthetic_predictions(
    n_sequences: int = 6,
    n_frames: int = 200,
    seed: int = 0,
    rho: float = 0.95,
    error_scale: float = 0.03,
    subjects: tuple[str, ...] = ("S1", "S5", "S6"),
    intrinsics: bool = False,
) -> Predictions:
    """Predictions with ``gt3d`` whose ``pred3d − gt3d`` has a known linear + AR(1) structure.

    Args:
        n_sequences: sequences (subjects assigned round-robin from ``subjects``).
        n_frames: frames per sequence.
        seed: numpy seed.
        rho: lag-1 correlation of the random part of the error.
        error_scale: standard deviation (metres) of the random part per coordinate.
        intrinsics: record the camera of the 2D (:data:`SYNTHETIC_CAMERA`): the 2D is the
            pinhole projection of ``gt3d`` with the root 4 m in front of it, normalised focal
            length 2, principal point at the centre.

    Returns:
        :class:`~d3prefiner.predictions.Predictions` (pose2d ``(F, 17, 2)``, pred3d/gt3d
        ``(F, 17, 3)`` root-relative metres, float32).
    """
    rng = np.random.default_rng(seed)
    J = NUM_JOINTS
    base = rng.normal(0.0, 0.3, (J, 3))
    base[0] = 0.0
    mix = rng.normal(0.0, 1.0, ((J - 1) * 3, (J - 1) * 3)) / np.sqrt((J - 1) * 3)  # joint coupling
    gain = rng.normal(0.0, 0.05, ((J - 1) * 3, J * 2))  # error as a linear function of 2D
    bias = rng.normal(0.0, 0.01, (J - 1) * 3)
    seqs = []
    t = np.arange(n_frames)[:, None, None]
    for s in range(n_sequences):
        freq = rng.uniform(0.01, 0.05, (1, J, 3))
        phase = rng.uniform(0, 2 * np.pi, (1, J, 3))
        gt = base + 0.15 * np.sin(2 * np.pi * freq * t + phase)  # (F, J, 3)
        gt = gt - gt[:, :1]
        depth = 4.0 + gt[..., 2:3]
        pose2d = gt[..., :2] / depth * 2.0  # (F, J, 2) normalised-ish
        w = rng.normal(0.0, 1.0, (n_frames, (J - 1) * 3))
        z = np.empty_like(w)
        z[0] = w[0]
        c = np.sqrt(1 - rho**2)
        for i in range(1, n_frames):
            z[i] = rho * z[i - 1] + c * w[i]
        err = bias + pose2d.reshape(n_frames, -1) @ gain.T + error_scale * z @ mix.T
        pred = gt.copy()
        pred[:, 1:] += err.reshape(n_frames, J - 1, 3)
        seqs.append(
            PredictionSequence(
                subject=subjects[s % len(subjects)],
                action=f"synthetic_{s}",
                camera="cam0",
                fps=25.0,
                pose2d=pose2d.astype(np.float32),
                pred3d=pred.astype(np.float32),
                gt3d=gt.astype(np.float32),
                intrinsics=SYNTHETIC_CAMERA if intrinsics else None,
            )
        )
    return Predictions(seqs, "synthetic")

"""Geometric conditioning of the denoiser (``RefinerConfig.geometry``): what the estimate's own 2D
says about it, per frame and joint, so that the network can take the image-plane position from the
2D where the 2D is good and ignore it where it is noisy.

``geometry="fuse"`` gives the denoiser :data:`FUSE_CHANNELS` extra channels per joint, computed
from the estimate ``x`` (root-relative, metres, camera axes), its 2D ``y`` and the sequence's camera
only (training-free, no ground truth), once per sequence (training: per training sequence, cached;
refinement: per refined sequence, before it is cut into windows):

====== ===== ===========================================================================================
chans  name  meaning
====== ===== ===========================================================================================
0-2    p     the ``bones+reproject`` pose: ``x`` with each bone at its median length over the
             sequence, then each joint moved onto its 2D ray at its own depth under the fitted root
             (:func:`d3prefiner.geometry.median_bones`, :func:`d3prefiner.geometry.reproject`);
             metres, root-relative, like ``x_t`` (so ``x_t − p`` is one linear map away)
3-4    r     the estimate's in-plane reprojection residual: ``reproject(x) − x`` in camera x, y, i.e. the
             2D's disagreement with the estimate under the fitted root, in metres at each joint's
             depth, times :data:`RESIDUAL_GAIN`
5      j     the 2D's local temporal jitter: the RMS over :data:`JITTER_FRAMES` frames of its second
             difference ``y_t − (y_{t−1} + y_{t+1}) / 2``, in metres at the joint's depth, as
             ``log1p(jitter / JITTER_UNIT)``
6      J     the same jitter's median over the whole sequence, per joint (the 2D's reliability)
====== ===== ===========================================================================================

Real motion moves a joint's second difference by millimetres at 25-50 fps; a detector's white noise
of 30 px moves it by about 10 cm, so ``j`` and ``J`` tell clean 2D from noisy 2D.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from ..errors import D3PRError
from ..geometry import (
    DEFAULT_INTRINSICS,
    MIN_DEPTH,
    Intrinsics,
    median_bones,
    reproject,
    undistort,
)

#: ``RefinerConfig.geometry`` values: no geometric input (every checkpoint before it), or the
#: :func:`fuse_features` channels.
GEOMETRY = ("none", "fuse")
#: Extra per-joint channels of the denoiser for each ``geometry``.
CHANNELS = {"none": 0, "fuse": 7}
FUSE_CHANNELS = CHANNELS["fuse"]
#: Frames of the local jitter's moving RMS.
JITTER_FRAMES = 9
#: The jitter's unit inside ``log1p`` (metres): 5 mm.
JITTER_UNIT = 0.005
#: The residual's scale: metres → decimetres, the size of the other inputs.
RESIDUAL_GAIN = 10.0


def geometry_channels(geometry: str) -> int:
    """Extra per-joint input channels of the denoiser for ``geometry`` (:data:`GEOMETRY`)."""
    if geometry not in CHANNELS:
        raise D3PRError(f"geometry must be one of {GEOMETRY}, got {geometry!r}")
    return CHANNELS[geometry]


def second_difference(y: np.ndarray) -> np.ndarray:
    """``y_t − (y_{t−1} + y_{t+1}) / 2`` of ``y (F, J, C)`` with the edges repeated → ``(F, J, C)``
    (zeros for a single frame)."""
    pad = np.concatenate([y[:1], y, y[-1:]], axis=0)  # (F + 2, J, C)
    return y - 0.5 * (pad[:-2] + pad[2:])


def jitter(y: np.ndarray, depth: np.ndarray, focal: float) -> tuple[np.ndarray, np.ndarray]:
    """The 2D's local and sequence jitter in metres at each joint's depth.

    Args:
        y: ``(F, J, 2)`` undistorted normalised 2D.
        depth: ``(F, J)`` each joint's camera depth, metres.
        focal: the normalised focal length (mean of ``f_n``).

    Returns:
        ``(local (F, J), sequence (J,))``: the RMS of the second difference over
        :data:`JITTER_FRAMES` frames, and its median over the frames.
    """
    a2 = (second_difference(y) ** 2).sum(-1)  # (F, J) squared normalised units
    local = np.sqrt(uniform_filter1d(a2, JITTER_FRAMES, axis=0, mode="nearest"))  # (F, J)
    local = local * np.maximum(depth, MIN_DEPTH) / focal
    return local, np.median(local, axis=0)


def fuse_features(pose2d: np.ndarray, pose3d: np.ndarray, intr: Intrinsics | None) -> np.ndarray:
    """The ``fuse`` channels of one sequence (see the module docstring).

    Args:
        pose2d: ``(F, J, 2)`` the 2D as stored (distorted, normalised).
        pose3d: ``(F, J, 3)`` the estimate, metres, camera axes (made root-relative here).
        intr: the sequence's camera; None: :data:`~d3prefiner.geometry.DEFAULT_INTRINSICS`.

    Returns:
        ``(F, J, 7)`` float32.
    """
    cam = intr if intr is not None else DEFAULT_INTRINSICS
    x = np.asarray(pose3d, dtype=np.float64)
    x = x - x[:, :1]  # (F, J, 3) root-relative
    y = undistort(pose2d, cam)  # (F, J, 2)
    p = reproject(median_bones(x), y, cam)  # (F, J, 3)
    q, t = reproject(x, y, cam, return_root=True)  # (F, J, 3), (F, 3)
    r = (q - x)[..., :2] * RESIDUAL_GAIN  # (F, J, 2)
    local, seq = jitter(y, x[..., 2] + t[:, None, 2], float(cam.f_norm.mean()))
    j = np.log1p(local / JITTER_UNIT)[..., None]  # (F, J, 1)
    J = np.broadcast_to(np.log1p(seq / JITTER_UNIT), local.shape)[..., None]  # (F, J, 1)
    return np.concatenate([p, r, j, J], axis=-1).astype(np.float32)


def sequence_features(
    geometry: str, pose2d: np.ndarray, pose3d: np.ndarray, intr: Intrinsics | None
) -> np.ndarray | None:
    """The denoiser's extra channels ``(F, J, C)`` for one sequence under ``geometry``; None for
    ``"none"``."""
    if geometry_channels(geometry) == 0:
        return None
    return fuse_features(pose2d, pose3d, intr)

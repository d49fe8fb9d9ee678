"""Label-free quality of a 3D motion: what can be measured on a video with no ground truth.

=================  ======  ==========================================================================
metric             unit    definition (:data:`DEFINITIONS`)
=================  ======  ==========================================================================
``jitter``         m/s²    mean acceleration of the joints relative to the pelvis (second
                           differences × fps², norm, averaged over joints and frames)
``bone_cv``        %       coefficient of variation of each bone's length over the track
                           (std / mean), averaged over the 16 bones: people do not change size
``reprojection``   px      mean distance between the detector's 2D and the pose projected into the
                           camera on its trajectory, weighted by the detector's confidence
``foot_sliding``   cm/s    mean horizontal speed of a foot while it touches the floor (within
                           :data:`CONTACT_M` of it, both frames), in the levelled world
``contact``        %       share of frames × feet counted as touching the floor
=================  ======  ==========================================================================

Lower is better for the first four. ``reprojection``, ``foot_sliding`` and ``contact`` need the
motion in the camera with a trajectory: the positions' own (their root not at 0), else
:func:`d3prefiner.trajectory.camera_trajectory` from the 2D (then ``kp2d`` and ``intr`` are needed);
without either they are NaN. A pose that follows a noisy detector closely scores a low
``reprojection`` and a high ``jitter``: read them together.
"""

from __future__ import annotations

import numpy as np

from .errors import D3PRError, check_motion
from .geometry import Intrinsics, distort, project_normalised
from .skeleton import H36M17
from .trajectory import camera_trajectory, to_world

#: A foot closer than this to the floor (metres) touches it.
CONTACT_M = 0.05
_FEET = (3, 6)

DEFINITIONS: dict[str, str] = {
    "jitter": "Mean acceleration of the joints relative to the pelvis (m/s²): how much the pose "
    "shakes from frame to frame.",
    "bone_cv": "Coefficient of variation of each bone's length over the track, averaged over the "
    "16 bones (%): people do not change size, so 0 is ideal.",
    "reprojection": "Mean distance in pixels between the detector's 2D keypoints and the 3D pose "
    "projected into the camera on its trajectory, weighted by the detector's confidence.",
    "foot_sliding": "Mean horizontal speed of a foot while it touches the floor (within "
    f"{CONTACT_M * 100:g} cm of it), in cm/s: a planted foot should not move.",
    "contact": "Share of the frames in which a foot touches the floor (%), the frames "
    "foot_sliding is measured on.",
}
UNITS = {"jitter": "m/s²", "bone_cv": "%", "reprojection": "px", "foot_sliding": "cm/s",
         "contact": "%"}  # fmt: skip


def jitter(positions: np.ndarray, fps: float) -> float:
    """Mean acceleration norm (m/s²) of ``positions (T, 17, 3)`` relative to the root; NaN for
    fewer than 3 frames."""
    rel = positions - positions[:, :1]
    if len(rel) < 3:
        return float("nan")
    acc = (rel[2:] - 2 * rel[1:-1] + rel[:-2]) * fps**2  # (T - 2, 17, 3)
    return float(np.linalg.norm(acc[:, 1:], axis=-1).mean())


def bone_cv(positions: np.ndarray) -> float:
    """Mean over bones of std / mean of the bone's length over frames, in % (``(T, 17, 3)``)."""
    lengths = H36M17.bone_lengths(positions)  # (T, 16)
    mean = lengths.mean(0)
    cv = np.divide(lengths.std(0), mean, out=np.zeros_like(mean), where=mean > 0)
    return float(100 * cv.mean())


def reprojection_px(cam: np.ndarray, kp2d: np.ndarray, intr: Intrinsics, conf=None) -> float:
    """Confidence-weighted mean pixel distance between the projection of camera-frame poses
    ``cam (T, 17, 3)`` (with their trajectory) and ``kp2d (T, 17, 2)`` pixels."""
    y = distort(project_normalised(cam, intr), intr)  # (T, 17, 2) normalised
    px = (y + [1.0, intr.height / intr.width]) * intr.width / 2  # (T, 17, 2)
    d = np.linalg.norm(px - kp2d, axis=-1)  # (T, 17)
    w = np.ones_like(d) if conf is None else np.asarray(conf, dtype=np.float64)
    return float((d * w).sum() / w.sum()) if w.sum() > 0 else float("nan")


def foot_sliding(cam: np.ndarray, fps: float, contact_m: float = CONTACT_M) -> tuple[float, float]:
    """``(mean horizontal foot speed in cm/s while touching the floor, contact share in %)`` of
    camera-frame poses with their trajectory ``(T, 17, 3)``, levelled by
    :func:`~d3prefiner.trajectory.to_world`."""
    world = to_world(cam).positions
    feet = world[:, _FEET]  # (T, 2, 3)
    down = feet[..., 2] < contact_m  # (T, 2)
    both = down[1:] & down[:-1]  # (T - 1, 2)
    speed = np.linalg.norm(feet[1:, :, :2] - feet[:-1, :, :2], axis=-1) * fps  # (T - 1, 2)
    share = float(100 * down.mean())
    return (float(100 * speed[both].mean()) if both.any() else float("nan")), share


def _check(positions, fps, kp2d, conf) -> tuple[np.ndarray, np.ndarray | None]:
    P = check_motion(positions, "quality positions")
    if isinstance(fps, bool) or not (np.isfinite(fps) and fps > 0):
        raise D3PRError(f"quality: fps must be > 0, got {fps!r}")
    if kp2d is None:
        return P, None
    kp = np.asarray(kp2d, dtype=np.float64)
    if kp.shape != (len(P), 17, 2):
        raise D3PRError(f"quality: kp2d must be ({len(P)}, 17, 2) pixels, got {kp.shape}")
    if conf is not None and np.shape(conf) != (len(P), 17):
        raise D3PRError(f"quality: conf must be ({len(P)}, 17), got {np.shape(conf)}")
    return P, kp


def label_free(
    positions: np.ndarray,
    fps: float,
    kp2d: np.ndarray | None = None,
    intr: Intrinsics | None = None,
    conf: np.ndarray | None = None,
    trajectory: np.ndarray | None = None,
    contact_m: float = CONTACT_M,
) -> dict[str, float]:
    """Every metric of the module docstring for one person's track.

    Args:
        positions: ``(T, 17, 3)`` metres, camera frame (x right, y down, z forward), root-relative
            or with a trajectory.
        fps: frames per second.
        kp2d: ``(T, 17, 2)`` the detector's 2D, pixels.
        intr: the camera.
        conf: ``(T, 17)`` the detector's confidences (weights of the reprojection error and of
            the trajectory's fit).
        trajectory: ``(T, 3)`` the root's camera-frame path to use (default: the positions' own
            if their root moves off 0, else fitted from ``kp2d``).
        contact_m: the foot-contact height, metres.

    Returns:
        ``{name: value}`` in :data:`UNITS`; NaN where a metric cannot be computed.
    """
    P, kp = _check(positions, fps, kp2d, conf)
    out = {"jitter": jitter(P, fps), "bone_cv": bone_cv(P)}
    rel = P - P[:, :1]
    if trajectory is not None:
        cam = rel + np.asarray(trajectory, dtype=np.float64).reshape(len(P), 1, 3)
    elif np.abs(P[:, 0]).max() > 0:
        cam = P
    elif kp is not None and intr is not None:
        cam = rel + camera_trajectory(rel, kp, intr, conf, fps=fps)[:, None]
    else:
        cam = None
    nan = float("nan")
    out["reprojection"] = (
        reprojection_px(cam, kp, intr, conf) if cam is not None and kp is not None and intr else nan
    )
    out["foot_sliding"], out["contact"] = (
        foot_sliding(cam, fps, contact_m) if cam is not None else (nan, nan)
    )
    return out


def table(rows: dict[str, dict[str, float]]) -> list[str]:
    """A markdown table, one row per method (``{method: label_free(...)}``), metric columns with
    their units."""
    names = list(DEFINITIONS)
    head = "| method | " + " | ".join(f"{n} ({UNITS[n]})" for n in names) + " |"
    lines = [head, "|---" * (len(names) + 1) + "|"]
    for method, m in rows.items():
        cells = ["—" if not np.isfinite(m.get(n, np.nan)) else f"{m[n]:.3g}" for n in names]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines

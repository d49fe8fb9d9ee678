"""A skeleton that moves through the scene: the root's camera-frame path from the 2D and the 3D pose,
and the motion in a levelled world frame.

* :func:`camera_trajectory` places a root-relative pose in the camera each frame: the translation
  ``t`` that projects it onto its 2D keypoints (the linear least squares of
  :func:`d3prefiner.geometry.fit_root`, each joint's two equations weighted by its detector
  confidence when one is given). Frames with no usable 2D (every confidence 0, or the fit puts a
  joint behind the camera) are filled by linear interpolation from their neighbours. Then, by
  default, it is smoothed in time (:func:`smooth_trajectory`): the fitted depth is the noisy part
  (it comes from the pose's size in the image), the image position of the root the reliable one, so
  the two are smoothed apart — a 5-frame median (removes single-frame outliers), then a
  Savitzky–Golay fit of order 2 over :data:`SMOOTH_S` seconds of ``log tz`` and over
  :data:`SMOOTH_XY_S` seconds of the root's image position ``(tx / tz, ty / tz)``. A local quadratic
  keeps accelerations (a start, a stop, a turn) that a moving average would blunt and lag.
* :func:`to_world` turns camera-frame poses into a z-up world: the camera's "down" (+y) is the first
  guess of the floor's normal, refined from the feet (:func:`d3prefiner.data.cameras.estimate_up`:
  the plane through the stance foot's positions), and the floor (the 2nd percentile of the lowest
  joint) put at z = 0. The camera stays above the origin.
* :func:`default_focal_px`: the focal length to assume for a video of unknown camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import savgol_filter

from .errors import ArgumentError, D3PRError, check_joints, check_motion
from .geometry import MIN_DEPTH, Intrinsics, fit_root, undistort

#: Savitzky–Golay window (seconds) for the depth and for the root's image position.
SMOOTH_S, SMOOTH_XY_S = 0.5, 0.2
#: The frame rate assumed when none is given (a common video rate).
DEFAULT_FPS = 25.0
#: Camera axes (x right, y down, z forward) → the nominal world (x right, y forward, z up).
CAMERA_TO_NOMINAL = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])


def default_focal_px(width: float, height: float) -> float:
    """The focal length (pixels) assumed for an unknown camera: the image diagonal
    ``sqrt(w² + h²)``, a 53° diagonal field of view (44° across a 4:3 image; the Human3.6M cameras
    have 47°, phone main cameras 65-75°). Depth scales with it: 10 % off the focal length puts
    the person about 10 % too near or too far; the pose is unchanged.

    Raises:
        ArgumentError: a size that is not positive.
    """
    if not (np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
        raise ArgumentError("size", f"image size must be > 0 pixels, got {width}x{height}")
    return float(np.hypot(width, height))


def video_intrinsics(width: int, height: int, focal: float | None = None) -> Intrinsics:
    """A pinhole camera for a video: ``focal`` pixels (default :func:`default_focal_px`), the
    principal point at the image centre, no distortion.

    Raises:
        ArgumentError: ``focal`` not > 0 (named ``focal``).
    """
    if focal is None:
        focal = default_focal_px(width, height)
    if isinstance(focal, bool) or not (np.isfinite(focal) and focal > 0):
        raise ArgumentError("focal", f"must be > 0 pixels, got {focal!r}")
    return Intrinsics(f=(focal, focal), c=(width / 2, height / 2), width=width, height=height)


def pixels_to_normalised(kp2d: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Pixels ``(..., 2)`` → undistorted VideoPose3D-normalised 2D (``u / w * 2 − [1, h / w]``)."""
    y = np.asarray(kp2d, dtype=np.float64) / intr.width * 2 - [1.0, intr.height / intr.width]
    return undistort(y, intr)


def _weighted_root(pose: np.ndarray, y: np.ndarray, w: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """:func:`fit_root` with each joint's equations weighted by ``w (F, J)`` → ``(F, 3)``."""
    s = np.sqrt(np.clip(w, 0, None))[..., None]  # (F, J, 1)
    fn, cn = intr.f_norm, intr.c_norm
    d = y - cn  # (F, J, 2)
    F, J = pose.shape[:2]
    A = np.zeros((F, J, 2, 3))
    A[..., 0, 0], A[..., 1, 1], A[..., 2] = fn[0], fn[1], -d
    A = (A * s[..., None]).reshape(F, 2 * J, 3)  # (F, 2J, 3)
    b = ((d * pose[..., 2:3] - fn * pose[..., :2]) * s).reshape(F, 2 * J)  # (F, 2J)
    AtA = A.transpose(0, 2, 1) @ A  # (F, 3, 3)
    scale = np.trace(AtA, axis1=1, axis2=2)[:, None, None] / 3 + 1e-300
    AtA = AtA + 1e-9 * scale * np.eye(3)
    return np.linalg.solve(AtA, np.einsum("fki,fk->fi", A, b)[..., None])[..., 0]


def _fill(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``values (F, C)`` with the rows where ``ok (F,)`` is False linearly interpolated (held
    beyond the ends)."""
    if ok.all():
        return values
    t = np.arange(len(values))
    return np.stack([np.interp(t, t[ok], values[ok, c]) for c in range(values.shape[1])], 1)


def _savgol(x: np.ndarray, seconds: float, fps: float) -> np.ndarray:
    n = min(int(round(seconds * fps)) // 2 * 2 + 1, len(x) - (1 - len(x) % 2))
    return x if n < 5 else savgol_filter(x, n, 2, axis=0, mode="interp")


def smooth_trajectory(t: np.ndarray, fps: float) -> np.ndarray:
    """Smooth a camera-frame root path ``t (F, 3)`` (metres, ``tz > 0``) in time (see the module
    docstring) → ``(F, 3)``."""
    t = np.asarray(t, dtype=np.float64)
    depth = np.log(t[:, 2])
    ray = t[:, :2] / t[:, 2:]  # (F, 2) the root's normalised image position
    if len(t) >= 5:
        depth = median_filter(depth, size=5, mode="nearest")
        ray = median_filter(ray, size=(5, 1), mode="nearest")
    z = np.exp(_savgol(depth, SMOOTH_S, fps))  # (F,)
    ray = _savgol(ray, SMOOTH_XY_S, fps)
    return np.concatenate([ray * z[:, None], z[:, None]], axis=1)


def camera_trajectory(
    pose_rel: np.ndarray,
    kp2d: np.ndarray,
    intr: Intrinsics,
    conf: np.ndarray | None = None,
    smooth: bool = True,
    fps: float | None = None,
) -> np.ndarray:
    """The root's camera-frame position in every frame.

    Args:
        pose_rel: ``(T, 17, 3)`` root-relative pose, metres, camera axes (x right, y down,
            z forward).
        kp2d: ``(T, 17, 2)`` the 2D keypoints, pixels (distorted as the camera saw them).
        intr: the camera (pixels).
        conf: ``(T, 17)`` per-joint confidence in [0, 1] (None: all 1).
        smooth: smooth the path in time (:func:`smooth_trajectory`).
        fps: the frame rate (the smoothing windows are in seconds); None: :data:`DEFAULT_FPS`.

    Returns:
        ``(T, 3)`` metres: ``pose_rel + t[:, None]`` is the pose in the camera.

    Raises:
        D3PRError: bad shapes, NaN/inf, or no frame with usable 2D.
    """
    pose = np.asarray(pose_rel, dtype=np.float64)
    kp = np.asarray(kp2d, dtype=np.float64)
    if pose.ndim != 3 or kp.ndim != 3 or len(pose) != len(kp) or not len(pose):
        raise D3PRError(f"trajectory: expected pose (T, 17, 3) and 2D (T, 17, 2) of the same T > 0, "
                        f"got {pose.shape}, {kp.shape}")  # fmt: skip
    check_joints(pose, 17, 3, "trajectory pose")
    check_joints(kp, 17, 2, "trajectory 2D")
    if not (np.isfinite(pose).all() and np.isfinite(kp).all()):
        raise D3PRError("trajectory: NaN or inf in the pose or the 2D")
    fps = DEFAULT_FPS if fps is None else fps
    if not (np.isfinite(fps) and fps > 0):
        raise D3PRError(f"trajectory: fps must be > 0, got {fps}")
    pose = pose - pose[:, :1]
    y = pixels_to_normalised(kp, intr)
    if conf is None:
        t, ok = fit_root(pose, y, intr), np.ones(len(pose), bool)
    else:
        w = np.asarray(conf, dtype=np.float64)
        if w.shape != pose.shape[:2] or not np.isfinite(w).all():
            raise D3PRError(f"trajectory: conf must be finite (T, 17), got {w.shape}")
        t, ok = _weighted_root(pose, y, w, intr), (w > 0).sum(1) >= 2
    ok &= (pose[..., 2] + t[:, None, 2] >= MIN_DEPTH).all(1)
    if not ok.any():
        raise D3PRError("trajectory: no frame has 2D that places the person in front of the camera")
    t = _fill(t, ok)
    return smooth_trajectory(t, fps) if smooth else t


@dataclass(frozen=True)
class World:
    """Camera-frame motion in a levelled world: ``positions = (R @ p_cam) + offset``.

    Attributes:
        positions: ``(T, 17, 3)`` metres, z up, the floor at z = 0, the camera above the origin.
        rotation: ``(3, 3)`` camera → world.
        offset: ``(3,)`` metres (``(0, 0, camera height)``).
        up_camera: ``(3,)`` the world's up direction in camera axes.
    """

    positions: np.ndarray
    rotation: np.ndarray
    offset: np.ndarray
    up_camera: np.ndarray

    @property
    def camera_height(self) -> float:
        """The camera's height above the floor, metres."""
        return float(self.offset[2])


def _turn_onto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation ``(3, 3)`` taking unit ``a`` onto unit ``b`` (not opposite)."""
    v, c = np.cross(a, b), float(a @ b)
    K = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + K + K @ K / (1.0 + c)


def to_world(poses_cam: np.ndarray) -> World:
    """Level camera-frame motion (see the module docstring).

    Args:
        poses_cam: ``(T, 17, 3)`` metres, camera axes, with the trajectory (``pose_rel + t``).

    Returns:
        :class:`World`.
    """
    from .data.cameras import estimate_up

    P = check_motion(poses_cam, "to_world poses")
    nominal = P @ CAMERA_TO_NOMINAL.T  # (T, 17, 3) z up if the camera is level
    up = estimate_up(nominal)  # (3,)
    if up[2] <= 0:  # the person upside down in the camera: keep the camera's own up
        up = np.array([0.0, 0.0, 1.0])
    R = _turn_onto(up, np.array([0.0, 0.0, 1.0])) @ CAMERA_TO_NOMINAL  # camera → world
    out = P @ R.T
    floor = np.percentile(out[..., 2].min(axis=1), 2)
    offset = np.array([0.0, 0.0, -floor])
    return World(out + offset, R, offset, R.T @ np.array([0.0, 0.0, 1.0]))

"""Training-free geometry: camera intrinsics, root fitting, reprojection onto the 2D, bone lengths.

Everything here is pure numpy (float64 inside) on one sequence at a time.

Units and frames
----------------
* 3D poses ``(F, J, 3)`` are metres in the camera frame (x right, y down, z forward), usually
  root-relative (joint 0 = 0), as in the predictions file.
* 2D ``(F, J, 2)`` is VideoPose3D-normalised: pixels ``u`` → ``u / w * 2 - [1, h / w]`` (the image
  width ``w`` spans [-1, 1]).
* In these units the pinhole reads ``u_n = f_n · X / Z + c_n`` with the *normalised* focal length
  ``f_n = 2 f / w`` and principal point ``c_n = 2 c / w − [1, h / w]`` (:func:`normalised_intrinsics`),
  where ``f``, ``c`` are pixels. The principal point at the image centre is ``c_n = 0``.
* Distortion is the Human3.6M model of :func:`d3prefiner.data.cameras.project` (radial
  ``k = (k1, k2, k3)``, tangential ``p = (p1, p2)`` in H36M order), applied to ``(X/Z, Y/Z)``; it
  does not depend on the units of the 2D, so :func:`undistort` works on normalised 2D.

The baselines built on this (:mod:`d3prefiner.baselines`: ``reproject``, ``bones``,
``bones+reproject``) read only the estimate and its own 2D input, never ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .errors import D3PRError, check_joints
from .skeleton import H36M17, Skeleton

#: Focal length (pixels) and image width of the typical Human3.6M camera (their four cameras:
#: f = 1145-1150 px at w = 1000 px); :data:`DEFAULT_INTRINSICS` uses them.
DEFAULT_FOCAL_PX = 1145.0
DEFAULT_WIDTH_PX = 1000
#: The default normalised focal length ``2 · 1145 / 1000 = 2.29``, for files with no camera: a
#: horizontal field of view of ``2 · atan(1 / 2.29) ≈ 47°`` (how much it matters:
#: :func:`focal_sensitivity`).
DEFAULT_FOCAL = 2.0 * DEFAULT_FOCAL_PX / DEFAULT_WIDTH_PX

#: The largest radial (``k``) and tangential (``p``) distortion coefficients a lens is taken to
#: have (Brown–Conrady, normalised image coordinates). Calibrated lenses, wide-angle ones included,
#: stay far inside (Human3.6M's: |k| < 0.3, |p| < 0.003); beyond, the coefficients are in other
#: units or not a lens's.
MAX_RADIAL = 10.0
MAX_TANGENTIAL = 1.0

#: A relative ridge on the normal equations of :func:`fit_root`, added only where they are
#: (near-)singular, so that degenerate 2D (every joint at the principal point, e.g. a missing
#: detection) gives ``tz = 0`` (the frame then passes through :func:`reproject`) instead of an error.
RIDGE = 1e-9

#: Joints whose depth (z, metres) is below this after :func:`fit_root` make a frame unusable for
#: :func:`reproject` (the frame is passed through unchanged).
MIN_DEPTH = 0.1
#: :func:`on_rays`' default spread (metres) of the estimate's depth offset of a joint from its
#: parent: the two depths a joint can have on its ray are weighted by a Gaussian of this spread
#: around the estimate's. Chosen on validation predictions (TCN, GT 2D, subject S8; from 0.02 to
#: 0.2 m: 0.05 best, 0 = the nearer of the two, 14 % worse).
RAYS_SIGMA = 0.05


def _vec(x, n: int, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if a.shape != (n,) or not np.all(np.isfinite(a)):
        raise D3PRError(f"intrinsics: {name} must be {n} finite numbers, got {np.shape(x)}")
    return a


@dataclass(frozen=True, eq=False)
class Intrinsics:
    """A camera's intrinsics in pixels, as stored in a predictions file.

    Attributes:
        f: ``(2,)`` focal lengths ``(fx, fy)``, pixels (> 0).
        c: ``(2,)`` principal point, pixels.
        width, height: image size, pixels (> 0): the 2D's normalisation uses them.
        k: ``(3,)`` radial distortion (zeros: none or unknown).
        p: ``(2,)`` tangential distortion, H36M order (zeros: none or unknown).

    Raises:
        D3PRError: on wrong shapes, non-finite values, ``f <= 0``, a bad image size, or
            distortion beyond :data:`MAX_RADIAL` / :data:`MAX_TANGENTIAL`.
    """

    f: np.ndarray
    c: np.ndarray
    width: int
    height: int
    k: np.ndarray = field(default_factory=lambda: np.zeros(3))
    p: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def __post_init__(self) -> None:
        for key, n in (("f", 2), ("c", 2), ("k", 3), ("p", 2)):
            object.__setattr__(self, key, _vec(getattr(self, key), n, key))
        if np.any(self.f <= 0):
            raise D3PRError(f"intrinsics: focal lengths must be > 0, got {self.f.tolist()}")
        for key, most in (("k", MAX_RADIAL), ("p", MAX_TANGENTIAL)):
            if np.any(np.abs(getattr(self, key)) > most):
                raise D3PRError(
                    f"intrinsics: distortion {key} must be within ±{most:g}, got "
                    f"{getattr(self, key).tolist()}"
                )
        w, h = self.width, self.height
        ok = all(np.isfinite(v) and int(v) == v and v >= 1 for v in (w, h))
        if not ok:
            raise D3PRError(f"intrinsics: bad image size {w}x{h} (positive integers, pixels)")
        object.__setattr__(self, "width", int(w))
        object.__setattr__(self, "height", int(h))

    @classmethod
    def from_camera(cls, cam) -> Intrinsics:
        """From a :class:`d3prefiner.data.cameras.Camera` (or anything with ``f``, ``c``, ``k``,
        ``p``, ``width``, ``height`` in its units)."""
        return cls(cam.f, cam.c, cam.width, cam.height, cam.k, cam.p)

    @property
    def distorted(self) -> bool:
        """Whether any distortion coefficient is non-zero."""
        return bool(np.any(self.k != 0) or np.any(self.p != 0))

    @property
    def f_norm(self) -> np.ndarray:
        """``(2,)`` focal lengths in normalised 2D units: ``2 f / w``."""
        return normalised_intrinsics(self.f, self.c, self.width, self.height)[0]

    @property
    def c_norm(self) -> np.ndarray:
        """``(2,)`` principal point in normalised 2D units: ``2 c / w − [1, h / w]``."""
        return normalised_intrinsics(self.f, self.c, self.width, self.height)[1]

    def scaled(self, factor: float) -> Intrinsics:
        """The same camera with the focal length times ``factor`` (a sensitivity check)."""
        return replace(self, f=self.f * float(factor))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Intrinsics):
            return NotImplemented
        return (self.width, self.height) == (other.width, other.height) and all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in "fckp"
        )

    __hash__ = object.__hash__


#: What the geometric baselines assume for a sequence with no camera: f = 1145 px at w = h = 1000
#: px (normalised f = :data:`DEFAULT_FOCAL`), principal point at the image centre (normalised 0),
#: no distortion.
DEFAULT_INTRINSICS = Intrinsics(
    f=(DEFAULT_FOCAL_PX, DEFAULT_FOCAL_PX),
    c=(DEFAULT_WIDTH_PX / 2, DEFAULT_WIDTH_PX / 2),
    width=DEFAULT_WIDTH_PX,
    height=DEFAULT_WIDTH_PX,
)


def normalised_intrinsics(f, c, width: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixels → VideoPose3D-normalised units.

    Args:
        f: focal length(s), pixels: a number or ``(fx, fy)``.
        c: principal point ``(cx, cy)``, pixels.
        width, height: image size, pixels.

    Returns:
        ``(f_n (2,), c_n (2,))`` with ``f_n = 2 f / w`` and ``c_n = 2 c / w − [1, h / w]``, so that
        ``u_n = f_n · X / Z + c_n`` is the undistorted projection in normalised 2D.
    """
    if not (width > 0 and height > 0):
        raise D3PRError(f"intrinsics: image size must be > 0, got {width}x{height}")
    f = np.broadcast_to(np.asarray(f, dtype=np.float64), (2,))
    c = np.asarray(c, dtype=np.float64).reshape(2)
    return 2.0 * f / width, 2.0 * c / width - np.array([1.0, height / width])


def _lens(xy: np.ndarray, k: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``r²`` and the radial + tangential factor of the H36M model at ``xy = (X/Z, Y/Z)``
    ``(..., 2)``: both ``(..., 1)``."""
    u, v = xy[..., 0:1], xy[..., 1:2]
    r2 = u * u + v * v
    return r2, 1 + r2 * (k[0] + r2 * (k[1] + r2 * k[2])) + p[0] * v + p[1] * u


def _distort_xy(xy: np.ndarray, k: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The H36M distortion of ``xy = (X/Z, Y/Z)`` ``(..., 2)`` (as data.cameras.project)."""
    r2, scale = _lens(xy, k, p)
    return xy * scale + p[::-1] * r2


#: :func:`undistort` stops once no point moves by more than this (in ``X/Z`` units: ~1e-9 px).
UNDISTORT_TOL = 1e-12


def undistort(y: np.ndarray, intr: Intrinsics, iterations: int = 20) -> np.ndarray:
    """Remove the lens distortion from normalised 2D.

    The inverse of the H36M model by fixed-point iteration from the distorted point:
    ``xy ← (xy_d − p̃ r²) / (radial(r²) + tan)``, with ``xy_d = (y − c_n) / f_n``, until no point
    moves by more than :data:`UNDISTORT_TOL` (H36M's lenses: 8 steps).

    Args:
        y: ``(..., 2)`` distorted 2D, VideoPose3D-normalised.
        intr: the camera (nothing is done when it has no distortion).
        iterations: at most this many fixed-point steps (20 reach 1e-10 px inside an H36M image).

    Returns:
        ``(..., 2)`` float64 undistorted 2D in the same normalised units.
    """
    y = np.asarray(y, dtype=np.float64)
    if not intr.distorted:
        return y.copy()
    fn, cn = intr.f_norm, intr.c_norm
    xy_d = (y - cn) / fn  # (..., 2)
    xy = xy_d.copy()
    for _ in range(iterations):
        r2, scale = _lens(xy, intr.k, intr.p)
        new = (xy_d - intr.p[::-1] * r2) / scale
        done = np.abs(new - xy).max(initial=0.0) <= UNDISTORT_TOL
        xy = new
        if done:
            break
    return xy * fn + cn


def distort(y: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Apply the lens distortion to undistorted normalised 2D ``(..., 2)`` (inverse of
    :func:`undistort`)."""
    y = np.asarray(y, dtype=np.float64)
    fn, cn = intr.f_norm, intr.c_norm
    return _distort_xy((y - cn) / fn, intr.k, intr.p) * fn + cn


def project_normalised(pose: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Undistorted pinhole projection of camera-frame points ``(..., 3)`` (metres, z > 0) to
    normalised 2D ``(..., 2)``: ``f_n · (X/Z, Y/Z) + c_n``."""
    pose = np.asarray(pose, dtype=np.float64)
    return pose[..., :2] / pose[..., 2:3] * intr.f_norm + intr.c_norm


def _check_pair(pose: np.ndarray, y: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    pose = np.asarray(pose, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if pose.ndim != 3 or y.ndim != 3:
        raise D3PRError(f"{name}: expected pose (F, J, 3) and 2D (F, J, 2), got {pose.shape}, "
                        f"{y.shape}")  # fmt: skip
    check_joints(pose, pose.shape[1], 3, f"{name} pose")
    check_joints(y, pose.shape[1], 2, f"{name} 2D")
    if len(pose) != len(y):
        raise D3PRError(f"{name}: pose has {len(pose)} frames, 2D {len(y)}")
    if not (np.all(np.isfinite(pose)) and np.all(np.isfinite(y))):
        raise D3PRError(f"{name}: NaN or inf in the input")
    return pose, y


def fit_root(pose_rel: np.ndarray, y: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """The camera-frame translation of each frame that best projects the pose onto its 2D.

    For joint ``j`` of a frame, with ``(x, y, z)`` its root-relative position, ``(u, v)`` its
    (undistorted) normalised 2D and ``t = (tx, ty, tz)`` the unknown root position, the pinhole
    ``u (z + tz) = f_x (x + tx) + c_x (z + tz)`` is linear in ``t``:
    ``f_x tx − (u − c_x) tz = (u − c_x) z − f_x x`` (and the same in y). The 2J equations of a
    frame are solved by linear least squares (the algebraic error); :data:`RIDGE` where singular.

    Args:
        pose_rel: ``(F, J, 3)`` root-relative pose, metres, camera axes.
        y: ``(F, J, 2)`` undistorted 2D, normalised (:func:`undistort` first if needed).
        intr: the camera.

    Returns:
        ``(F, 3)`` root translations, metres (``pose_rel + t[:, None]`` is the camera-frame pose).
    """
    pose, y = _check_pair(pose_rel, y, "fit_root")
    F, J = pose.shape[:2]
    fn, cn = intr.f_norm, intr.c_norm
    d = y - cn  # (F, J, 2)
    A = np.zeros((F, J, 2, 3))
    A[..., 0, 0] = fn[0]
    A[..., 1, 1] = fn[1]
    A[..., 2] = -d  # (F, J, 2): the tz column of both rows
    b = d * pose[..., 2:3] - fn * pose[..., :2]  # (F, J, 2)
    A = A.reshape(F, 2 * J, 3)  # (F, 2J, 3)
    b = b.reshape(F, 2 * J)  # (F, 2J)
    AtA = A.transpose(0, 2, 1) @ A  # (F, 3, 3)
    scale = np.trace(AtA, axis1=1, axis2=2) / 3  # (F,)
    singular = np.abs(np.linalg.det(AtA)) <= RIDGE * scale**3  # (F,)
    AtA[singular] += RIDGE * scale[singular, None, None] * np.eye(3)
    Atb = np.einsum("fki,fk->fi", A, b)  # (F, 3)
    return np.linalg.solve(AtA, Atb[..., None])[..., 0]


def reproject(
    pose: np.ndarray, y: np.ndarray, intr: Intrinsics, return_root: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Move each joint onto its 2D ray, at its own estimated depth.

    The root-relative pose is placed in the camera by :func:`fit_root`; each joint's ``X, Y``
    then become ``(y − c_n) / f_n · Z`` at its depth ``Z = z + tz`` (depth kept), and the pose is
    made root-relative again. Frames where a joint's depth is below :data:`MIN_DEPTH` are passed
    through unchanged. Only the pose and its own 2D are read.

    Args:
        pose: ``(F, J, 3)`` pose, metres, camera axes (its root is subtracted first and added
            back at the end, so a root-relative input gives a root-relative output).
        y: ``(F, J, 2)`` undistorted normalised 2D (:func:`undistort`).
        intr: the camera.
        return_root: also return the fitted translations.

    Returns:
        ``(F, J, 3)`` float64 (and ``(F, 3)`` translations when ``return_root``).
    """
    pose, y = _check_pair(pose, y, "reproject")
    root = pose[:, :1]  # (F, 1, 3)
    rel = pose - root
    t = fit_root(rel, y, intr)  # (F, 3)
    Z = rel[..., 2] + t[:, None, 2]  # (F, J)
    xy = (y - intr.c_norm) / intr.f_norm * Z[..., None]  # (F, J, 2)
    out = np.concatenate([xy, Z[..., None]], axis=-1)  # (F, J, 3) camera frame
    out = out - out[:, :1]
    bad = (Z < MIN_DEPTH).any(axis=1)  # (F,)
    out[bad] = rel[bad]
    out = out + root
    return (out, t) if return_root else out


def bone_lengths(pose: np.ndarray, skeleton: Skeleton = H36M17) -> np.ndarray:
    """Bone lengths ``(F, J − 1)`` of ``pose (F, J, 3)``, in its units, in the order of
    ``skeleton.bones`` (bone ``i`` ends at joint ``i + 1`` for H36M-17)."""
    pose = np.asarray(pose, dtype=np.float64)
    check_joints(pose, skeleton.num_joints, 3, "bone_lengths pose")
    return skeleton.bone_lengths(pose)


def _tree_order(skeleton: Skeleton) -> list[int]:
    """Joints ordered so that each comes after its parent (root first)."""
    order, seen = [], set()
    pending = list(range(skeleton.num_joints))
    while pending:
        rest = [j for j in pending if skeleton.parents[j] < 0 or skeleton.parents[j] in seen]
        if not rest:
            raise D3PRError("skeleton: the parents do not form a tree")
        order += rest
        seen.update(rest)
        pending = [j for j in pending if j not in seen]
    return order


def set_bone_lengths(
    pose: np.ndarray, lengths: np.ndarray, skeleton: Skeleton = H36M17
) -> np.ndarray:
    """Rescale every bone to ``lengths`` keeping its direction, from the root outwards.

    Each joint is put at its (already moved) parent plus the unit direction parent → joint of the
    input times the bone's new length; a zero-length bone stays at its parent. The root is kept.

    Args:
        pose: ``(F, J, 3)``, metres.
        lengths: ``(J − 1,)`` or ``(F, J − 1)`` new lengths, in the order of ``skeleton.bones``.

    Returns:
        ``(F, J, 3)`` float64.
    """
    pose = np.asarray(pose, dtype=np.float64)
    check_joints(pose, skeleton.num_joints, 3, "set_bone_lengths pose")
    bones = skeleton.bones
    lengths = np.broadcast_to(np.asarray(lengths, dtype=np.float64), (len(pose), len(bones)))
    index = {child: i for i, (child, _) in enumerate(bones)}
    out = pose.copy()
    for j in _tree_order(skeleton):
        parent = skeleton.parents[j]
        if parent < 0:
            continue
        v = pose[:, j] - pose[:, parent]  # (F, 3)
        n = np.linalg.norm(v, axis=-1, keepdims=True)  # (F, 1)
        u = np.divide(v, n, out=np.zeros_like(v), where=n > 1e-12)
        out[:, j] = out[:, parent] + u * lengths[:, index[j], None]
    return out


def median_bones(pose: np.ndarray, skeleton: Skeleton = H36M17) -> np.ndarray:
    """Each bone rescaled to its median length over the sequence, directions kept, applied from
    the root outwards (:func:`set_bone_lengths`).

    Args:
        pose: ``(F, J, 3)``, metres.

    Returns:
        ``(F, J, 3)`` float64, root kept.
    """
    return set_bone_lengths(pose, np.median(bone_lengths(pose, skeleton), axis=0), skeleton)


def on_rays(
    pose: np.ndarray,
    y: np.ndarray,
    intr: Intrinsics,
    lengths: np.ndarray | None = None,
    skeleton: Skeleton = H36M17,
    sigma: float = RAYS_SIGMA,
) -> np.ndarray:
    """Every joint on its own 2D ray, at its bone's length from its parent: the depth of each
    joint from the 2D and the bone lengths, the estimate weighing the two solutions.

    The pose, its bones set to ``lengths`` (:func:`set_bone_lengths`), is placed in the camera by
    :func:`fit_root`; the root goes onto its ray at its fitted depth. Then, from the root outwards,
    joint ``j`` with parent ``p`` (already placed at ``P``) and ray ``d = ((y − c_n) / f_n, 1)``
    goes to ``X = s·d`` with ``|X − P| = L``: ``s² |d|² − 2 s (d·P) + |P|² − L² = 0``. Its two
    roots are weighed by a Gaussian of spread ``sigma`` around ``w``, ``P_z`` plus the estimate's
    depth offset of ``j`` from ``p``: ``s = (g(s₁) s₁ + g(s₂) s₂) / (g(s₁) + g(s₂))``, the mean
    depth if the estimate's offset errs by ``sigma``. Where the roots are far apart (a bone
    along the ray) this is the nearer one; where they are close (a bone across the ray) a hedge
    between them, which costs less on average than a wrong pick. ``sigma = 0``: the nearer root.
    Where the ray misses the sphere (``L`` shorter than the bone's in-plane span), the point of
    the ray nearest ``P``. So with exact 2D and bone lengths a joint's depth error is only the
    choice between the roots (in front of or behind its parent). Frames with a depth below
    :data:`MIN_DEPTH` pass through unchanged. Only the pose and its own 2D are read.

    Args:
        pose: ``(F, J, 3)`` estimate, metres, camera axes (its root is kept).
        y: ``(F, J, 2)`` undistorted normalised 2D (:func:`undistort`).
        intr: the camera.
        lengths: ``(J − 1,)`` bone lengths, metres, in the order of ``skeleton.bones``; default:
            the median bone lengths of the estimate after :func:`reproject` (its in-plane spans
            read from the 2D at the estimate's depths).
        skeleton: the joints' tree.
        sigma: the spread (metres) of the estimate's depth offsets, :data:`RAYS_SIGMA`; 0: the
            nearer root.

    Returns:
        ``(F, J, 3)`` float64.
    """
    pose, y = _check_pair(pose, y, "on_rays")
    if not sigma >= 0:
        raise D3PRError(f"on_rays: sigma must be >= 0 metres, got {sigma}")
    if lengths is None:
        lengths = np.median(bone_lengths(reproject(pose, y, intr), skeleton), axis=0)
    root = pose[:, :1]  # (F, 1, 3)
    x = set_bone_lengths(pose - root, lengths, skeleton)
    est = x + fit_root(x, y, intr)[:, None]  # (F, J, 3) camera frame
    d = np.concatenate([(y - intr.c_norm) / intr.f_norm, np.ones_like(y[..., :1])], axis=-1)
    out = est.copy()
    out[:, 0] = d[:, 0] * est[:, 0, 2:3]
    index = {child: i for i, (child, _) in enumerate(skeleton.bones)}
    for j in _tree_order(skeleton):
        p = skeleton.parents[j]
        if p < 0:
            continue
        P, D, L = out[:, p], d[:, j], lengths[index[j]]  # (F, 3), (F, 3), ()
        a, b = (D * D).sum(-1), (D * P).sum(-1)  # (F,)
        disc = b * b - a * ((P * P).sum(-1) - L * L)  # (F,)
        root_off = np.sqrt(np.maximum(disc, 0.0))
        near, far = (b - root_off) / a, (b + root_off) / a  # ray parameter = depth (d_z = 1)
        want = P[:, 2] + est[:, j, 2] - est[:, p, 2]
        s = _weigh_roots(near, far, want, sigma)
        out[:, j] = D * np.where(disc > 0, s, b / a)[:, None]
    out = out - out[:, :1]
    bad = (est[..., 2] < MIN_DEPTH).any(axis=1) | (out[..., 2] + est[:, :1, 2] < MIN_DEPTH).any(
        axis=1
    )
    out[bad] = pose[bad] - root[bad]
    return out + root


def _weigh_roots(near: np.ndarray, far: np.ndarray, want: np.ndarray, sigma: float) -> np.ndarray:
    """The mean of the roots ``near``, ``far`` under Gaussian weights of spread ``sigma`` around
    ``want`` (all ``(F,)``); ``sigma = 0``: the root nearer ``want``."""
    if sigma == 0:
        return np.where(np.abs(near - want) <= np.abs(far - want), near, far)
    a, b = ((near - want) / sigma) ** 2, ((far - want) / sigma) ** 2
    w = 1.0 / (1.0 + np.exp(np.clip(0.5 * (a - b), -700.0, 700.0)))  # weight of near
    return w * near + (1.0 - w) * far


def focal_sensitivity(
    poses: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    gt: Sequence[np.ndarray],
    intrinsics: Sequence[Intrinsics | None],
    factors: Sequence[float] = (0.85, 1.0, 1.15),
    bones: bool = False,
) -> dict[float, float]:
    """The MPJPE (mm, root-relative, over all frames) of :func:`reproject` with every sequence's
    focal length times each factor: how much the result depends on knowing the camera.

    Args:
        poses: per sequence ``(F, J, 3)`` estimates, metres.
        y: per sequence ``(F, J, 2)`` *distorted* normalised 2D (undistorted here).
        gt: per sequence ``(F, J, 3)`` ground truth, metres (only for the score).
        intrinsics: per sequence its camera, None for :data:`DEFAULT_INTRINSICS`.
        factors: focal-length factors.
        bones: apply :func:`median_bones` before reprojecting.

    Returns:
        ``{factor: MPJPE mm}`` and ``{"base": ...}`` (the estimates as given), frame-weighted.
    """
    if not (len(poses) == len(y) == len(gt) == len(intrinsics)) or not len(poses):
        raise D3PRError(
            "focal_sensitivity: give one pose, 2D, ground truth and camera per sequence"
        )

    def score(outs) -> float:
        from .metrics import mpjpe

        errs = [mpjpe(o, np.asarray(g, dtype=np.float64), align="root") for o, g in zip(outs, gt)]
        return 1000.0 * float(torch.cat(errs).mean())

    result: dict = {"base": score([np.asarray(p, dtype=np.float64) for p in poses])}
    starts = [median_bones(p) if bones else np.asarray(p, dtype=np.float64) for p in poses]
    for a in factors:
        outs = []
        for p, yy, cam in zip(starts, y, intrinsics):
            cam = cam or DEFAULT_INTRINSICS
            outs.append(reproject(p, undistort(yy, cam), cam.scaled(a)))
        result[float(a)] = score(outs)
    return result

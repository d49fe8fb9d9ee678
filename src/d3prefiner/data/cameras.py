"""Cameras: pinhole projection with Human3.6M distortion, 2D normalisation, a virtual rig, levelling.

Conventions
-----------
* A :class:`Camera` maps world points to its frame by ``X_cam = R @ X_world + t`` (``R`` world→camera,
  ``t`` metres). Camera axes: x right, y down (image rows), z forward (depth).
* Projection (:func:`project`) is the Human3.6M model (its ``ProjectPointRadial``, also used by
  VideoPose3D and mmpose): with ``(x, y) = (X/Z, Y/Z)``, ``r² = x² + y²``,
  ``radial = 1 + k1 r² + k2 r⁴ + k3 r⁶``, ``tan = p1 y + p2 x``,
  ``x' = x (radial + tan) + p2 r²``, ``y' = y (radial + tan) + p1 r²``, pixels ``f * (x', y') + c``.
  ``p = (p1, p2)`` in the order of the H36M metadata / mmpose ``cameras.pkl`` (VideoPose3D stores the
  same two numbers reversed and swaps them back in its formula).
* 2D normalisation (:func:`normalize_screen`) is VideoPose3D's: ``xy / w * 2 - [1, h / w]``.
* The Human3.6M camera files (mmpose ``cameras.pkl``, its JSON copy) store ``R`` camera→world and
  ``T`` the camera centre in world metres (``X_world = R X_cam + T``); :func:`load_h36m_cameras`
  converts to our world→camera form: ``R_ours = Rᵀ``, ``t = -Rᵀ T``. (Checked: ``R`` equals
  VideoPose3D's camera→world orientation quaternion of S1/54138969, and ``T`` is about 1.5 m above
  the floor, ~5.5 m from the capture centre.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import D3PRError, check_joints, check_shape
from ..io import load_json

#: The four Human3.6M cameras in the standard order.
H36M_CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")

#: Intrinsics of the four real Human3.6M cameras (identical for every subject; public numbers of the
#: dataset's metadata, as listed in VideoPose3D and mmpose): focal length f and principal point c in
#: pixels, radial k = (k1, k2, k3), tangential p = (p1, p2), image width and height.
H36M_INTRINSICS: dict[str, dict] = {
    "54138969": {
        "f": (1145.04940458804, 1143.78109572365),
        "c": (512.541504956548, 515.4514869776),
        "k": (-0.207098910824901, 0.247775183068982, -0.00307515035078854),
        "p": (-0.00142447157470321, -0.000975698859470499),
        "width": 1000,
        "height": 1002,
    },
    "55011271": {
        "f": (1149.67569986785, 1147.59161666764),
        "c": (508.848621645943, 508.064917088557),
        "k": (-0.194213629607385, 0.240408539138292, 0.00681997559022603),
        "p": (-0.0027408943961907, -0.001619026613787),
        "width": 1000,
        "height": 1000,
    },
    "58860488": {
        "f": (1149.14071676148, 1148.7989685676),
        "c": (519.815837182153, 501.402658888552),
        "k": (-0.208338188251856, 0.255488007488945, -0.00246049749891915),
        "p": (-0.000759999321030303, 0.00148438698385668),
        "width": 1000,
        "height": 1000,
    },
    "60457274": {
        "f": (1145.51133842318, 1144.77392807652),
        "c": (514.968197319863, 501.882018537695),
        "k": (-0.198384093827848, 0.218323676298049, -0.00894780704152122),
        "p": (-0.00181336200488089, -0.000587205583421232),
        "width": 1000,
        "height": 1002,
    },
}


def _vec(x, n: int, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if a.shape != (n,) or not np.all(np.isfinite(a)):
        raise D3PRError(f"camera {name}: expected {n} finite values, got {np.asarray(x).shape}")
    return a


@dataclass(frozen=True, eq=False)  # arrays: compare fields explicitly, hash by identity
class Camera:
    """A calibrated camera. ``X_cam = R @ X_world + t``; all lengths in metres.

    Attributes:
        name: camera id, e.g. ``"54138969"`` or ``"virtual0"``.
        R: (3, 3) world→camera rotation.
        t: (3,) translation, metres.
        f: (2,) focal lengths, pixels.
        c: (2,) principal point, pixels.
        k: (3,) radial distortion.
        p: (2,) tangential distortion (H36M order).
        width, height: image size in pixels.
    """

    name: str
    R: np.ndarray
    t: np.ndarray
    f: np.ndarray
    c: np.ndarray
    k: np.ndarray = field(default_factory=lambda: np.zeros(3))
    p: np.ndarray = field(default_factory=lambda: np.zeros(2))
    width: int = 1000
    height: int = 1000

    def __post_init__(self) -> None:
        R = np.asarray(self.R, dtype=np.float64)
        if R.shape != (3, 3) or not np.all(np.isfinite(R)):
            raise D3PRError(f"camera {self.name}: R must be a finite (3, 3) matrix, got {R.shape}")
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-5) or np.linalg.det(R) < 0:
            raise D3PRError(f"camera {self.name}: R is not a rotation matrix")
        object.__setattr__(self, "R", R)
        for key, n in (("t", 3), ("f", 2), ("c", 2), ("k", 3), ("p", 2)):
            object.__setattr__(self, key, _vec(getattr(self, key), n, f"{self.name} {key}"))
        if np.any(self.f <= 0):
            raise D3PRError(f"camera {self.name}: focal lengths must be > 0, got {self.f}")
        if int(self.width) < 1 or int(self.height) < 1:
            raise D3PRError(f"camera {self.name}: bad image size {self.width}x{self.height}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @property
    def center(self) -> np.ndarray:
        """(3,) camera centre in world coordinates, metres."""
        return -self.R.T @ self.t


def world_to_camera(X: np.ndarray, cam: Camera) -> np.ndarray:
    """World points ``(..., 3)`` → camera frame ``(..., 3)`` (metres)."""
    X = np.asarray(X, dtype=np.float64)
    check_shape(X, "* 3", "world points")
    return X @ cam.R.T + cam.t


def camera_to_world(X: np.ndarray, cam: Camera) -> np.ndarray:
    """Camera-frame points ``(..., 3)`` → world ``(..., 3)`` (metres)."""
    X = np.asarray(X, dtype=np.float64)
    check_shape(X, "* 3", "camera points")
    return (X - cam.t) @ cam.R


def project(X_cam: np.ndarray, cam: Camera, distort: bool = True) -> np.ndarray:
    """Project camera-frame points ``(..., 3)`` to pixels ``(..., 2)`` (H36M distortion model).

    Points must lie in front of the camera (z > 0); with ``distort=False`` it is a plain pinhole.
    """
    X = np.asarray(X_cam, dtype=np.float64)
    check_shape(X, "* 3", "camera points")
    z = X[..., 2:3]
    if np.any(z <= 1e-6):
        raise D3PRError(f"camera {cam.name}: {int((z <= 1e-6).sum())} point(s) behind the camera")
    xy = X[..., :2] / z  # (..., 2)
    if distort:
        r2 = (xy**2).sum(-1, keepdims=True)  # (..., 1)
        radial = 1 + cam.k[0] * r2 + cam.k[1] * r2**2 + cam.k[2] * r2**3
        tan = cam.p[0] * xy[..., 1:2] + cam.p[1] * xy[..., 0:1]
        xy = xy * (radial + tan) + cam.p[::-1] * r2
    return xy * cam.f + cam.c


def unproject(uv: np.ndarray, depth: np.ndarray, cam: Camera) -> np.ndarray:
    """Undistorted inverse of :func:`project` with ``distort=False``: pixels ``(..., 2)`` and depth
    ``(...)`` (metres along z) → camera-frame points ``(..., 3)``."""
    uv = np.asarray(uv, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)[..., None]
    xy = (uv - cam.c) / cam.f
    return np.concatenate([xy * depth, depth], axis=-1)


def normalize_screen(xy: np.ndarray, w: int, h: int) -> np.ndarray:
    """VideoPose3D's 2D normalisation ``xy / w * 2 - [1, h / w]`` of pixels ``(..., 2)``."""
    xy = np.asarray(xy)
    check_shape(xy, "* 2", "2D points")
    return (xy / w * 2 - np.array([1.0, h / w])).astype(xy.dtype if xy.dtype.kind == "f" else float)


def image_coordinates(xy: np.ndarray, w: int, h: int) -> np.ndarray:
    """Inverse of :func:`normalize_screen`: normalised ``(..., 2)`` → pixels."""
    xy = np.asarray(xy)
    check_shape(xy, "* 2", "2D points")
    return ((xy + np.array([1.0, h / w])) * w / 2).astype(
        xy.dtype if xy.dtype.kind == "f" else float
    )


def load_h36m_cameras(json_path: str | os.PathLike) -> dict[tuple[str, str], Camera]:
    """Read the Human3.6M camera parameters from JSON (keys ``"S1/54138969"``; never a pickle).

    Each entry holds ``R`` (3,3) camera→world, ``T`` (3,1) camera centre (metres), ``f``, ``c``,
    ``k``, ``p``, ``w``, ``h``. Returns ``{(subject, camera_id): Camera}`` with world→camera ``R``.
    """
    path = Path(json_path)
    raw = load_json(path)
    if not isinstance(raw, dict) or not raw:
        raise D3PRError(f"{path}: expected a non-empty JSON object of cameras")
    out: dict[tuple[str, str], Camera] = {}
    for key, e in raw.items():
        if "/" not in key or not isinstance(e, dict):
            raise D3PRError(f"{path}: bad camera entry {key!r} (expected 'S1/54138969': {{...}})")
        subject, cam_id = key.split("/", 1)
        try:
            R_c2w = np.asarray(e["R"], dtype=np.float64)
            T = np.asarray(e["T"], dtype=np.float64).reshape(-1)
            if np.abs(T).max() > 100:  # millimetres (the raw H36M metadata) → metres
                T = T / 1000.0
            out[(subject, cam_id)] = Camera(
                name=cam_id,
                R=R_c2w.T,
                t=-R_c2w.T @ T,
                f=e["f"],
                c=e["c"],
                k=e["k"],
                p=e["p"],
                width=int(e["w"]),
                height=int(e["h"]),
            )
        except KeyError as exc:
            raise D3PRError(f"{path}: camera {key!r} lacks field {exc}") from None
        except (TypeError, ValueError) as exc:
            raise D3PRError(f"{path}: camera {key!r}: {exc}") from None
    return out


def look_at(
    center: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """World→camera ``(R, t)`` of a camera at ``center (3,)`` looking at ``target (3,)``, no roll."""
    center = np.asarray(center, dtype=np.float64)
    fwd = np.asarray(target, dtype=np.float64) - center
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, np.asarray(up, dtype=np.float64))
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])  # rows: camera axes in world
    return R, -R @ center


def virtual_rig(
    n_cameras: int = 4,
    seed: int = 0,
    distance: tuple[float, float] = (4.5, 6.0),
    height: tuple[float, float] = (0.8, 1.8),
    intrinsics: dict[str, dict] | None = None,
    target_height: float = 0.9,
) -> list[Camera]:
    """``n_cameras`` cameras around the origin, looking at ``(0, 0, target_height)``, z up.

    Azimuths are evenly spaced from a random start, each jittered by up to ±15°; distance (horizontal,
    metres) and height (metres above the ground z = 0) are uniform in the given ranges. Intrinsics
    cycle through ``intrinsics`` (default: the four real H36M cameras). Deterministic for a seed.
    Use it on a motion levelled and centred by :func:`level_and_center`.
    """
    if n_cameras < 1:
        raise D3PRError(f"virtual rig: n_cameras must be >= 1, got {n_cameras}")
    intrinsics = H36M_INTRINSICS if intrinsics is None else intrinsics
    if not intrinsics:
        raise D3PRError("virtual rig: no intrinsics given")
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 2 * np.pi)
    jitter = rng.uniform(-np.pi / 12, np.pi / 12, n_cameras)
    az = start + 2 * np.pi * np.arange(n_cameras) / n_cameras + jitter
    dist = rng.uniform(*distance, n_cameras)
    hgt = rng.uniform(*height, n_cameras)
    names = list(intrinsics)
    cams = []
    for i in range(n_cameras):
        intr = intrinsics[names[i % len(names)]]
        center = np.array([dist[i] * np.cos(az[i]), dist[i] * np.sin(az[i]), hgt[i]])
        R, t = look_at(center, np.array([0.0, 0.0, target_height]))
        cams.append(
            Camera(
                name=f"virtual{i}",
                R=R,
                t=t,
                f=intr["f"],
                c=intr["c"],
                k=intr["k"],
                p=intr["p"],
                width=intr["width"],
                height=intr["height"],
            )
        )
    return cams


# --- levelling ---------------------------------------------------------------------------------

_FEET = (3, 6)
_PELVIS, _THORAX = 0, 8


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (3, 3) taking unit vector ``a`` onto unit vector ``b``."""
    v = np.cross(a, b)
    s, c = np.linalg.norm(v), float(a @ b)
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        axis = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    K = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + K + K @ K * ((1 - c) / s**2)


def estimate_up(joints3d: np.ndarray, planarity: float = 0.25) -> np.ndarray:
    """Estimate the world's up direction (3,) of a motion ``(F, 17, 3)`` in metres.

    1. A first guess ``u`` is the mean trunk direction (pelvis → thorax, unit vectors averaged).
    2. In every frame the lower foot along ``u`` is taken as the stance foot, and a plane is fitted
       to these ground-contact points (PCA, standard deviations ``s0 ≥ s1 ≥ s2``). If they spread in
       two directions (``s1 > 3 cm``) and are flat (``s2 < planarity · s1``), the plane normal is the
       up direction.
    3. Else, if they spread along one direction ``d`` only (standing, stepping sideways), the up
       direction is ``u`` made perpendicular to ``d`` (the ground contains ``d``); else ``u``.

    The trunk alone is biased by leaning (10–25° in H36M's purchases, taking-photo); the foot plane
    is not, but needs the feet to move on the ground. Sitting motions (feet lifted, legs crossed) fail
    the flatness test and fall back to the trunk. The sign makes the trunk point up. On the fk17
    data this finds tilts of 1–37° (median 9°); the lower ankle's height then varies by < 3 cm
    (10th–90th percentile) in half of the sequences (docs/data.md).
    """
    J = np.asarray(joints3d, dtype=np.float64)
    trunk = J[:, _THORAX] - J[:, _PELVIS]
    trunk /= np.linalg.norm(trunk, axis=-1, keepdims=True) + 1e-12
    u = trunk.mean(0)
    if np.linalg.norm(u) < 1e-6:
        return np.array([0.0, 0.0, 1.0])
    u /= np.linalg.norm(u)
    n = u
    for _ in range(2):  # refit once with the stance feet chosen along the plane normal
        feet = J[:, _FEET]  # (F, 2, 3)
        lower = np.argmin(feet @ n, axis=1)  # (F,)
        pts = feet[np.arange(len(J)), lower]  # (F, 3)
        pts = pts - pts.mean(0)
        _, s, vt = np.linalg.svd(pts, full_matrices=False)
        std = np.zeros(3)
        std[: len(s)] = s / np.sqrt(max(len(pts), 1))
        if len(s) == 3 and std[1] > 0.03 and std[2] < planarity * std[1]:
            n = vt[2]
        elif std[0] > 0.03 and std[1] < planarity * std[0]:
            d = vt[0]
            n = u - (u @ d) * d
            break
        else:
            n = u
            break
        n = n / np.linalg.norm(n)
        n = n if n @ u >= 0 else -n
    n = n / np.linalg.norm(n)
    return n if n @ u >= 0 else -n


def level_and_center(
    joints3d: np.ndarray, up_axis: str = "auto", ground_height: float = 0.0
) -> np.ndarray:
    """Level a motion (up = +z), put its ground at z = ``ground_height`` and centre it horizontally.

    Args:
        joints3d: (F, 17, 3) metres.
        up_axis: ``"z"`` (already z-up), ``"y"`` (y-up: rotated by the proper rotation
            ``(x, y, z) → (x, -z, y)``) or ``"auto"`` (estimated by :func:`estimate_up`, then the
            smallest rotation that takes it onto +z).

    Returns:
        (F, 17, 3) metres: the ground (the 2nd percentile over frames of the lowest joint) at
        ``ground_height`` and the first frame's pelvis at x = y = 0.
    """
    J = np.asarray(joints3d, dtype=np.float64)
    check_joints(J, 17, 3, "motion")
    if len(J) == 0:
        raise D3PRError("motion: no frames")
    if up_axis == "z":
        R = np.eye(3)
    elif up_axis == "y":
        R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    elif up_axis == "auto":
        R = _rotation_between(estimate_up(J), np.array([0.0, 0.0, 1.0]))
    else:
        raise D3PRError(f"up_axis must be 'z', 'y' or 'auto', got {up_axis!r}")
    out = J @ R.T  # (F, 17, 3)
    ground = np.percentile(out[..., 2].min(axis=1), 2)
    out[..., 2] += ground_height - ground
    out[..., :2] -= out[0, _PELVIS, :2]
    return out


# ------------------------------------------------ the cameras JSON from VideoPose3D's parameters


def quaternion_to_matrix(q) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` → ``(3, 3)`` rotation matrix."""
    q = np.asarray(q, dtype=np.float64).reshape(-1)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or not np.linalg.norm(q) > 1e-9:
        raise D3PRError(f"quaternion must be 4 finite values, not all zero; got {q.tolist()}")
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def cameras_from_videopose3d(intrinsic: list, extrinsic: dict) -> dict:
    """VideoPose3D's camera parameters (``h36m_cameras_intrinsic_params``: 4 dicts with ``id``,
    ``center``, ``focal_length``, ``radial_distortion``, ``tangential_distortion``, ``res_w``,
    ``res_h``; ``h36m_cameras_extrinsic_params``: subject → 4 dicts with ``orientation``, the
    camera→world quaternion ``(w, x, y, z)``, and ``translation``, the camera centre in mm) → the
    cameras JSON :func:`load_h36m_cameras` reads (``"S1/54138969"``: ``R`` camera→world, ``T``
    centre in metres, ``f``, ``c``, ``k``, ``p``, ``w``, ``h``). VideoPose3D stores the two
    tangential coefficients in the other order. Subjects without parameters (S2-S4) are left
    out."""
    if not isinstance(intrinsic, list) or len(intrinsic) != 4 or not isinstance(extrinsic, dict):
        raise D3PRError("VideoPose3D cameras: expected 4 intrinsic dicts and a dict of subjects")
    out = {}
    for subject, cams in extrinsic.items():
        if len(cams) != 4:
            raise D3PRError(f"VideoPose3D cameras: {subject} has {len(cams)} cameras, not 4")
        for inner, outer in zip(intrinsic, cams):
            if not outer:
                continue
            try:
                out[f"{subject}/{inner['id']}"] = {
                    "R": quaternion_to_matrix(outer["orientation"]).tolist(),
                    "T": [[v / 1000.0] for v in outer["translation"]],
                    "c": [[v] for v in inner["center"]],
                    "f": [[v] for v in inner["focal_length"]],
                    "k": [[v] for v in inner["radial_distortion"]],
                    "p": [[v] for v in inner["tangential_distortion"][::-1]],
                    "w": int(inner["res_w"]), "h": int(inner["res_h"]), "id": str(inner["id"]),
                }  # fmt: skip
            except (KeyError, TypeError, ValueError) as exc:
                raise D3PRError(
                    f"VideoPose3D cameras: {subject}/{inner.get('id')}: {exc!r}"
                ) from None
    return out


def convert_videopose3d_cameras(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the cameras JSON from a JSON dump ``{"intrinsic": [...], "extrinsic": {...}}`` of
    VideoPose3D's two parameter tables (docs/protocol.md shows the one-line dump); returns
    ``out``. Every camera is checked by :func:`load_h36m_cameras` before anything is written."""
    import tempfile

    from ..io import save_json

    raw = load_json(source)
    if not isinstance(raw, dict) or not {"intrinsic", "extrinsic"} <= set(raw):
        raise D3PRError(f"{source}: expected {{'intrinsic': [...], 'extrinsic': {{...}}}}")
    cams = cameras_from_videopose3d(raw["intrinsic"], raw["extrinsic"])
    with tempfile.TemporaryDirectory() as tmp:  # every camera checked before ``out`` is written
        save_json(Path(tmp) / "cameras.json", cams)
        load_h36m_cameras(Path(tmp) / "cameras.json")
    save_json(out, cams)
    return Path(out)

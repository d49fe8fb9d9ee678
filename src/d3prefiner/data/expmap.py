"""The Human3.6M exp-map text release → 17 joint positions by forward kinematics.

Each text file (``<subject>/<action>_<n>.txt``) holds one frame per line, 99 comma-separated values
at 50 Hz: ``[0:3]`` root translation delta (mm, in the root frame of the previous frame),
``[3:6]`` root rotation delta (exp-map), ``[3 + 3j : 6 + 3j]`` the exp-map of joint ``j`` for
``j = 1..31`` relative to its parent.

Conversion (the convention of the prepared ``h36m-expmap-fk17`` folder, see its ``SOURCE.txt``):

1. The root is integrated from identity: ``R_t = exp(r_t) R_{t-1}``,
   ``T_t = T_{t-1} + R_{t-1}ᵀ d_t`` with ``R_{-1} = I``, ``T_{-1} = 0``.
2. Forward kinematics on the fixed 32-joint skeleton of the release, row-vector convention:
   ``x_j = off_j · R_parent + x_parent``, ``R_j = exp(r_j) R_parent``.
3. y-up → z-up by the proper rotation ``(x, y, z) → (x, -z, y)`` (an axis swap would mirror).
4. Keep H36M-32 indices ``[0,1,2,3,6,7,8,12,13,14,15,17,18,19,25,26,27]`` (VideoPose3D's 17).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import D3PRError, check_shape
from ..io import atomic_path, load_json

#: The 17 of the 32 H36M joints kept, in VideoPose3D order.
H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

#: Parent of each of the 32 joints of the exp-map skeleton (-1: root).
EXPMAP_PARENTS = (
    -1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14,
    12, 16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30,
)  # fmt: skip

#: Bone offsets (mm, y-up, in the parent's frame) of the exp-map release's skeleton.
EXPMAP_OFFSETS_MM = np.array(
    [
        [0, 0, 0],
        [-132.948591, 0, 0],
        [0, -442.894612, 0],
        [0, -454.206447, 0],
        [0, 0, 162.767078],
        [0, 0, 74.999437],
        [132.948826, 0, 0],
        [0, -442.894413, 0],
        [0, -454.20659, 0],
        [0, 0, 162.767426],
        [0, 0, 74.999948],
        [0, 0.1, 0],
        [0, 233.383263, 0],
        [0, 257.077681, 0],
        [0, 121.134938, 0],
        [0, 115.002227, 0],
        [0, 257.077681, 0],
        [0, 151.034226, 0],
        [0, 278.882773, 0],
        [0, 251.733451, 0],
        [0, 0, 0],
        [0, 0, 99.999627],
        [0, 100.000188, 0],
        [0, 0, 0],
        [0, 257.077681, 0],
        [0, 151.031437, 0],
        [0, 278.892924, 0],
        [0, 251.72868, 0],
        [0, 0, 0],
        [0, 0, 99.999888],
        [0, 137.499922, 0],
        [0, 0, 0],
    ]
)

_YUP_TO_ZUP = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # column form: v_z = M @ v_y


def expmap_to_rotmat(r: np.ndarray) -> np.ndarray:
    """Rodrigues: exp-maps ``(..., 3)`` → rotation matrices ``(..., 3, 3)`` (column convention)."""
    r = np.asarray(r, dtype=np.float64)
    theta = np.linalg.norm(r, axis=-1)[..., None, None]  # (..., 1, 1)
    axis = r / np.maximum(np.linalg.norm(r, axis=-1, keepdims=True), 1e-12)
    K = np.zeros((*r.shape[:-1], 3, 3))
    K[..., 0, 1], K[..., 0, 2] = -axis[..., 2], axis[..., 1]
    K[..., 1, 0], K[..., 1, 2] = axis[..., 2], -axis[..., 0]
    K[..., 2, 0], K[..., 2, 1] = -axis[..., 1], axis[..., 0]
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * (K @ K)


def load_skeleton_json(path: str | os.PathLike) -> tuple[tuple[int, ...], np.ndarray]:
    """Read ``(parents (32,), offsets (32, 3) mm)`` from a ``skeleton17.json`` of the fk17 folder."""
    raw = load_json(path)
    try:
        sk = raw["expmap_skeleton_32"]
        parents = tuple(int(p) for p in sk["parents_0based"])
        offsets = np.asarray(sk["offsets_mm_yup"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise D3PRError(f"{path}: no usable 'expmap_skeleton_32' table ({exc})") from None
    if offsets.shape != (len(parents), 3) or len(parents) != 32:
        raise D3PRError(f"{path}: expected 32 parents and (32, 3) offsets, got {offsets.shape}")
    return parents, offsets


def expmap_to_positions(
    raw: np.ndarray,
    parents: tuple[int, ...] = EXPMAP_PARENTS,
    offsets: np.ndarray = EXPMAP_OFFSETS_MM,
    keep: tuple[int, ...] | None = H36M32_TO_17,
) -> np.ndarray:
    """Exp-map frames ``(F, 99)`` → joint positions ``(F, 17, 3)`` in mm, z-up (see module doc).

    With ``keep=None`` all 32 joints are returned ``(F, 32, 3)``.
    """
    raw = np.asarray(raw, dtype=np.float64)
    check_shape(raw, "F 99", "exp-map frames")
    if len(raw) == 0:
        raise D3PRError("exp-map frames: no frames")
    if not np.all(np.isfinite(raw)):
        raise D3PRError("exp-map frames: NaN or inf values")
    n = len(raw)
    # Root trajectory: a sequential integration (cheap: one 3x3 product per frame).
    d_rot = expmap_to_rotmat(raw[:, 3:6])  # (F, 3, 3)
    R_root = np.empty((n, 3, 3))
    T_root = np.empty((n, 3))
    R_prev, T_prev = np.eye(3), np.zeros(3)
    for i in range(n):
        T_prev = T_prev + R_prev.T @ raw[i, 0:3]
        R_prev = d_rot[i] @ R_prev
        R_root[i], T_root[i] = R_prev, T_prev
    # Forward kinematics, vectorised over frames.
    local = expmap_to_rotmat(raw[:, 3:].reshape(n, 32, 3))  # (F, 32, 3, 3); joint 0 unused
    rot = np.empty((n, 32, 3, 3))
    pos = np.empty((n, 32, 3))
    for j, p in enumerate(parents):
        if p < 0:
            rot[:, j], pos[:, j] = R_root, T_root
        else:
            pos[:, j] = np.einsum("k,fkl->fl", offsets[j], rot[:, p]) + pos[:, p]
            rot[:, j] = local[:, j] @ rot[:, p]
    pos = pos @ _YUP_TO_ZUP.T  # (F, 32, 3) z-up
    return pos if keep is None else pos[:, list(keep)]


def read_expmap_txt(path: str | os.PathLike) -> np.ndarray:
    """Read one exp-map text file → ``(F, 99)`` float64, with clear errors."""
    path = Path(path)
    if not path.exists():
        raise D3PRError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise D3PRError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            data = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise D3PRError(f"{path}: not a comma-separated exp-map file ({exc})") from None
    if data.size == 0:
        raise D3PRError(f"{path}: empty file")
    if data.shape[1] != 99:
        raise D3PRError(f"{path}: expected 99 values per line, got {data.shape[1]}")
    if not np.all(np.isfinite(data)):
        raise D3PRError(f"{path}: NaN or inf values")
    return data


_SUBJECT_RE = re.compile(r"^S\d+$")


def convert_expmap_dir(
    src_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    skeleton_json: str | os.PathLike | None = None,
    subjects: list[str] | None = None,
) -> dict[str, int]:
    """Convert ``src_dir/<S*>/<action>.txt`` into the fk17 folder format in ``out_dir``.

    Writes one ``h36m_expmap_fk17_<S>.npz`` per subject (action → ``(F, 17, 3)`` float32 mm, z-up),
    atomically. Returns the frame count per subject.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise D3PRError(f"{src}: not a directory")
    parents, offsets = (
        load_skeleton_json(skeleton_json)
        if skeleton_json is not None
        else (EXPMAP_PARENTS, EXPMAP_OFFSETS_MM)
    )
    subject_dirs = sorted(
        (d for d in src.iterdir() if d.is_dir() and _SUBJECT_RE.match(d.name)),
        key=lambda d: int(d.name[1:]),
    )
    if subjects is not None:
        subject_dirs = [d for d in subject_dirs if d.name in subjects]
    if not subject_dirs:
        raise D3PRError(f"{src}: no subject folders (S1, S5, ...) found")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for sdir in subject_dirs:
        files = sorted(sdir.glob("*.txt"))
        if not files:
            continue
        arrays = {}
        for f in tqdm(files, desc=sdir.name, leave=False):
            arrays[f.stem] = expmap_to_positions(
                read_expmap_txt(f), parents=parents, offsets=offsets
            ).astype(np.float32)
        with atomic_path(out / f"h36m_expmap_fk17_{sdir.name}.npz") as tmp:
            np.savez_compressed(tmp, **arrays)
        counts[sdir.name] = sum(len(a) for a in arrays.values())
    if not counts:
        raise D3PRError(f"{src}: no .txt files in the subject folders")
    return counts

"""VideoPose3D's Human3.6M files → sequences with the real H36M cameras.

* ``data_3d_h36m.npz``: ``positions_3d`` = {subject: {action: (F, 32, 3) world metres}}.
* ``data_2d_h36m_gt.npz`` / ``data_2d_h36m_cpn_ft_h36m_dbb.npz``: ``positions_2d`` =
  {subject: {action: [4 × (F, 17, 2) pixels, one per camera in the standard order]}}, ``metadata``.

These files store their dicts as pickled object arrays. This module never lets ``np.load`` unpickle
(pickles stay disallowed there): it reads each member of the npz itself and unpickles object arrays with a
restricted unpickler that can only rebuild numpy arrays / dtypes / scalars and builtin containers;
any other global (``os.system``, ``builtins.eval``, ...) is refused with :class:`D3PRError`.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from ..errors import D3PRError
from .cameras import H36M_CAMERA_IDS, Camera, load_h36m_cameras
from .expmap import H36M32_TO_17
from .sequences import Sequence

#: Frame rate of the Human3.6M videos and mocap in VideoPose3D's files.
H36M_FPS = 50.0


def _numpy_globals() -> dict[tuple[str, str], object]:
    mu = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
    allowed: dict[tuple[str, str], object] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = mu.multiarray._reconstruct
        allowed[(mod, "scalar")] = mu.multiarray.scalar
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = mu.numeric._frombuffer
    allowed[("collections", "OrderedDict")] = __import__("collections").OrderedDict
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array / dtype / scalar reconstruction."""

    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed") from None


def load_npz_restricted(path: str | os.PathLike) -> dict[str, object]:
    """Load every member of an npz; object arrays go through the restricted unpickler.

    Returns plain arrays as ``np.ndarray`` and 0-d object arrays as the object they hold.
    """
    path = Path(path)
    if not path.exists():
        raise D3PRError(f"{path}: file not found")
    out: dict[str, object] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                key = member[:-4] if member.endswith(".npy") else member
                with zf.open(member) as raw:
                    f = io.BytesIO(raw.read())
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                if dtype.hasobject:
                    arr = _RestrictedUnpickler(f).load()
                    if not isinstance(arr, np.ndarray):
                        raise D3PRError(f"{path}: member {key!r} does not hold an array")
                    out[key] = arr.item() if arr.shape == () else arr
                else:
                    f.seek(0)
                    out[key] = np.lib.format.read_array(f, allow_pickle=False)
    except pickle.UnpicklingError as exc:
        raise D3PRError(f"{path}: refused to unpickle ({exc})") from None
    except D3PRError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, TypeError, KeyError) as exc:
        raise D3PRError(f"{path}: not a readable npz file ({exc})") from None
    return out


def _dict_member(data: dict, key: str, path: Path) -> dict:
    if key not in data or not isinstance(data[key], dict):
        raise D3PRError(f"{path}: expected a '{key}' dict (VideoPose3D layout)")
    return data[key]


def _joints_17(x, where: str) -> np.ndarray:
    """One action's ``(F, 32|17, 3)`` positions checked and reduced to the 17 H36M joints."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != 3 or x.shape[1] not in (32, 17):
        raise D3PRError(f"{where}: expected (F, 32, 3) positions, got {x.shape}")
    if len(x) == 0:
        raise D3PRError(f"{where}: no frames")
    if not np.all(np.isfinite(x)):
        raise D3PRError(f"{where}: NaN or inf values")
    return x[:, list(H36M32_TO_17)] if x.shape[1] == 32 else x


def _views(pos2d: dict, subject, action, n_frames: int, path_2d) -> dict[str, np.ndarray]:
    """Camera id → one action's 2D ``(n_frames, 17, 2)`` pixels (longer 2D is trimmed)."""
    views = pos2d.get(subject, {}).get(action)
    if views is None:
        raise D3PRError(f"{path_2d}: no 2D for {subject}/{action}")
    if len(views) != len(H36M_CAMERA_IDS):
        raise D3PRError(f"{path_2d}: {subject}/{action} has {len(views)} views, not 4")
    out = {}
    for cam_id, v in zip(H36M_CAMERA_IDS, views):
        v = np.asarray(v, dtype=np.float64)
        where = f"{path_2d}: {subject}/{action} camera {cam_id}"
        if v.ndim != 3 or v.shape[1:] != (17, 2):
            raise D3PRError(f"{where}: expected (F, 17, 2), got {v.shape}")
        if len(v) < n_frames:
            raise D3PRError(f"{where}: {len(v)} 2D frames < {n_frames} 3D frames")
        out[cam_id] = v[:n_frames]
    return out


def load_videopose3d(
    path_3d: str | os.PathLike,
    path_2d: str | os.PathLike | None = None,
    cameras_json: str | os.PathLike | None = None,
    subjects: list[str] | None = None,
) -> list[Sequence]:
    """Load VideoPose3D's Human3.6M files → sequences (world metres, 50 fps, 17 joints).

    Args:
        path_3d: ``data_3d_h36m.npz`` (``positions_3d``: subject → action → (F, 32, 3) metres).
        path_2d: optional ``data_2d_h36m_*.npz`` (``positions_2d``: subject → action → list of 4
            (F, 17, 2) pixel arrays in the camera order 54138969, 55011271, 58860488, 60457274);
            2D longer than the 3D is trimmed (as VideoPose3D does), shorter is an error.
        cameras_json: the H36M cameras JSON (key ``"S1/54138969"``); with it every sequence gets
            its subject's 4 real cameras, so 3D can be taken to each camera's frame.
        subjects: subjects to keep (default all).
    """
    path_3d = Path(path_3d)
    pos3d = _dict_member(load_npz_restricted(path_3d), "positions_3d", path_3d)
    pos2d: dict = {}
    if path_2d is not None:
        path_2d = Path(path_2d)
        pos2d = _dict_member(load_npz_restricted(path_2d), "positions_2d", path_2d)
    cams = load_h36m_cameras(cameras_json) if cameras_json is not None else {}
    seqs = []
    for subject in sorted(pos3d, key=lambda s: (len(str(s)), str(s))):
        if subjects is not None and subject not in subjects:
            continue
        actions = pos3d[subject]
        if not isinstance(actions, dict):
            raise D3PRError(f"{path_3d}: positions_3d[{subject!r}] is not a dict of actions")
        subject_cams: dict[str, Camera] = {}
        if cams:
            missing = [c for c in H36M_CAMERA_IDS if (subject, c) not in cams]
            if missing:
                raise D3PRError(f"{cameras_json}: no camera {missing[0]} for subject {subject}")
            subject_cams = {c: cams[(subject, c)] for c in H36M_CAMERA_IDS}
        for action in sorted(actions):
            joints = _joints_17(actions[action], f"{path_3d}: {subject}/{action}")
            p2d = _views(pos2d, subject, action, len(joints), path_2d) if pos2d else {}
            seqs.append(
                Sequence(
                    subject=str(subject),
                    action=str(action),
                    fps=H36M_FPS,
                    joints3d=joints.astype(np.float64),
                    pose2d=p2d,
                    cameras=dict(subject_cams),
                )
            )
    if not seqs:
        raise D3PRError(f"{path_3d}: no sequences (subjects {subjects})")
    return seqs

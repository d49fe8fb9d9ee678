"""VideoPose3D's Human3.6M files → sequences with the real H36M cameras (and back: the writer).

* ``data_3d_h36m.npz``: ``positions_3d`` = {subject: {action: (F, 32, 3) float32 world metres}}
  (actions as ``"Directions 1"``, ``"Photo"``, ``"WalkDog"``; S11's corrupted ``Directions``
  absent).
* ``data_2d_h36m_gt.npz`` / ``data_2d_h36m_cpn_ft_h36m_dbb.npz``: ``positions_2d`` =
  {subject: {action: [4 × (F, 17, 2) float32 pixels, one per camera in the standard order]}} and
  ``metadata`` = {``layout_name``: ``"h36m"``, ``num_joints``: 17, ``keypoints_symmetry``: [left,
  right]}. The CPN file also holds subjects without 3D (S2, S3, S4), and some of its sequences are
  a few frames longer than their 3D (trimmed, as VideoPose3D trims them).

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

from ..errors import ArgumentError, D3PRError
from .cameras import H36M_CAMERA_IDS, Camera, load_h36m_cameras
from .expmap import EXPMAP_PARENTS, H36M32_TO_17
from .sequences import Sequence

#: Frame rate of the Human3.6M videos and mocap in VideoPose3D's files.
H36M_FPS = 50.0

#: VideoPose3D's file names: the 3D, and the 2D of each 2D setting that has a file.
FILE_3D = "data_3d_h36m.npz"
FILES_2D = {"gt": "data_2d_h36m_gt.npz", "cpn": "data_2d_h36m_cpn_ft_h36m_dbb.npz"}

#: The ``metadata`` member of VideoPose3D's H36M 2D files (17 joints, left and right joints).
H36M_METADATA = {
    "layout_name": "h36m",
    "num_joints": 17,
    "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
}


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


def check_metadata(data: dict, path: Path) -> None:
    """Refuse a 2D file whose ``metadata`` names another keypoint layout (e.g. MPII's 16 joints
    of the Stacked Hourglass files, COCO's order): only H36M's 17 joints are read."""
    meta = data.get("metadata")
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise D3PRError(f"{path}: 'metadata' is not a dict (VideoPose3D layout)")
    layout, joints = meta.get("layout_name", "h36m"), meta.get("num_joints", 17)
    if layout != "h36m" or joints != 17:
        raise D3PRError(
            f"{path}: 2D keypoints in layout {layout!r} with {joints} joints; only VideoPose3D's "
            "H36M layout (17 joints) is supported"
        )


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
        data_2d = load_npz_restricted(path_2d)
        check_metadata(data_2d, path_2d)
        pos2d = _dict_member(data_2d, "positions_2d", path_2d)
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


def videopose3d_paths(
    folder: Path,
    setting: str | None = None,
    camera_file: str | os.PathLike | None = None,
    fallback_cameras: Path | None = None,
) -> tuple[Path, Path | None, Path | None]:
    """``(3D file, 2D file or None, cameras JSON or None)`` of a folder of VideoPose3D files.

    Args:
        folder: holds ``data_3d_h36m.npz`` and the 2D files.
        setting: ``None`` (the GT 2D file if present), ``"gt"`` (the same), ``"cpn"`` (the CPN
            detections, required) or ``"detected"`` (no 2D file: the 2D is projected from the 3D
            with the real cameras and given the detector-noise profile); a setting needs cameras.
        camera_file: the cameras JSON (default ``folder/cameras.json``, else ``fallback_cameras``).
    """
    f3d = folder / FILE_3D
    if not f3d.exists():
        raise D3PRError(f"{f3d}: file not found (VideoPose3D's {FILE_3D}; see docs/protocol.md)")
    if setting not in (None, "gt", "cpn", "detected"):
        raise ArgumentError("setting", f"must be gt, cpn or detected, got {setting!r}")
    f2d = folder / FILES_2D[setting or "gt"] if setting != "detected" else None
    if setting == "cpn" and not f2d.exists():
        raise D3PRError(
            f"{f2d}: file not found (VideoPose3D's CPN detections; see docs/protocol.md)"
        )
    if f2d is not None and not f2d.exists():
        f2d = None  # GT 2D is the projection of the 3D with the real cameras
    if camera_file is not None:
        cams = Path(camera_file)
        if not cams.is_file():
            raise ArgumentError("camera_file", f"{cams}: file not found")
    else:
        cams = folder / "cameras.json"
        if not cams.exists():
            cams = fallback_cameras if fallback_cameras and fallback_cameras.exists() else None
    if cams is None and setting is not None:
        raise ArgumentError(
            "camera_file", f"{folder}: no cameras.json beside the data; give the H36M cameras "
            "JSON with {0} (docs/protocol.md says how to make it)", ("camera_file",),
        )  # fmt: skip
    return f3d, f2d, cams


# ----------------------------------------------------------------------------------- writer


def expand_to_32(joints: np.ndarray) -> np.ndarray:
    """H36M-17 joints ``(F, 17, 3)`` → VideoPose3D's 32 joints ``(F, 32, 3)``: the 17 at their
    indices, every other joint at its parent's position (as several of the real 32 are)."""
    joints = np.asarray(joints, dtype=np.float64)
    out = np.zeros((len(joints), 32, 3))  # (F, 32, 3)
    out[:, list(H36M32_TO_17)] = joints
    kept = set(H36M32_TO_17)
    for j, parent in enumerate(EXPMAP_PARENTS):
        if j not in kept:
            out[:, j] = out[:, parent]  # parents precede their children
    return out


def _project_views(seq: Sequence) -> list[np.ndarray]:
    """The 4 views' 2D ``(F, 17, 2)`` pixels of ``seq`` (its real cameras, with distortion)."""
    from .cameras import project, world_to_camera

    if list(seq.cameras) != list(H36M_CAMERA_IDS):
        raise D3PRError(f"sequence {seq.subject}/{seq.action}: needs the 4 H36M cameras")
    return [project(world_to_camera(seq.joints3d, seq.cameras[c]), seq.cameras[c])
            for c in H36M_CAMERA_IDS]  # fmt: skip


def _save_dicts(path: Path, **members) -> Path:
    """Write dict members as VideoPose3D does (pickled 0-d object arrays, compressed), atomically."""
    from ..io import atomic_path

    with atomic_path(path, ".npz") as tmp:
        np.savez_compressed(tmp, **members)
    return path


def write_videopose3d(
    folder: str | os.PathLike,
    sequences: list[Sequence],
    detections: dict | None = None,
    seed: int = 0,
    extra_frames: int = 0,
    unlabeled: tuple[str, ...] = (),
) -> dict[str, Path]:
    """Write sequences as VideoPose3D's Human3.6M files, in exactly its layout.

    Args:
        folder: output folder (``data_3d_h36m.npz``, ``data_2d_h36m_gt.npz``, one file per
            detection).
        sequences: world metres, 50 fps, each with the 4 H36M cameras of its subject.
        detections: file suffix (e.g. ``"cpn_ft_h36m_dbb"``) → a
            :class:`~d3prefiner.data.detector.DetectorProfile`: its noise on the projected 2D,
            seeded by ``seed``; these files are ``extra_frames`` longer than the 3D (the last
            frame repeated) and also hold the ``unlabeled`` subjects (2D without 3D, copies of
            the first subject's), as the real CPN file does.

    Returns:
        ``{"3d" | "gt" | suffix: path}``.
    """
    from .detector import apply_detector_noise

    folder = Path(folder)
    pos3d: dict = {}
    gt2d: dict = {}
    for s in sequences:
        pos3d.setdefault(s.subject, {})[s.action] = expand_to_32(s.joints3d).astype(np.float32)
        gt2d.setdefault(s.subject, {})[s.action] = [v.astype(np.float32) for v in _project_views(s)]
    out = {"3d": _save_dicts(folder / FILE_3D, positions_3d=pos3d)}
    out["gt"] = _save_dicts(folder / FILES_2D["gt"], positions_2d=gt2d, metadata=H36M_METADATA)
    rng = np.random.default_rng(seed)
    for suffix, profile in (detections or {}).items():
        det: dict = {}
        for subject, actions in gt2d.items():
            for action, views in actions.items():
                noisy = [apply_detector_noise(v, H36M_FPS, profile, rng) for v in views]
                det.setdefault(subject, {})[action] = [
                    np.concatenate([v, np.repeat(v[-1:], extra_frames, 0)]).astype(np.float32)
                    for v in noisy
                ]
        first = next(iter(det.values()), {})
        det.update({u: dict(first) for u in unlabeled})
        path = folder / f"data_2d_h36m_{suffix}.npz"
        out[suffix] = _save_dicts(path, positions_2d=det, metadata=H36M_METADATA)
    return out

"""pybullet's DeepMimic motion clips → H36M-17 joint positions (the embedded default data).

A clip (``pybullet_data/data/motions/humanoid3d_<name>.txt``) is JSON: ``{"Loop": "wrap"|"none",
"Frames": [[duration, root position (3), root quaternion (w, x, y, z), chest (4), neck (4),
right hip (4), right knee (1), right ankle (4), right shoulder (4), right elbow (1), left hip (4),
left knee (1), left ankle (4), left shoulder (4), left elbow (1)], ...]}`` — 44 numbers a frame,
y-up, metres, quaternions local to the parent link, knees/elbows revolute about the link's z axis.

Forward kinematics uses the joint offsets of ``pybullet_data/humanoid/humanoid.urdf`` (parsed at
load time) scaled by 0.25, the ``globalScaling`` DeepMimic loads that URDF with. The humanoid faces
+x with +z to its right in its y-up frame. Output is z-up via the proper rotation
``(x, y, z) → (x, -z, y)`` and the ground (lowest 2nd-percentile joint) moved to z = 0.

H36M-17 mapping (joint ← humanoid link origin):
Hip ← root, R/LHip ← right/left_hip, R/LKnee ← right/left_knee, R/LFoot ← right/left_ankle,
Spine ← chest, Thorax ← neck, L/RShoulder ← left/right_shoulder, L/RElbow ← left/right_elbow,
L/RWrist ← left/right_wrist (the fixed hand joint). Synthesised: Neck/Nose = neck + R_neck·(0, 0.12,
0) and Head = neck + R_neck·(0, 0.24, 0) metres (the humanoid's head is a sphere of radius 0.1025
centred 0.175 above the neck joint; H36M's nose and head-top markers are ~0.12 and ~0.235 above the
thorax in the exp-map skeleton).

Frames with varying durations are resampled to a uniform rate (quaternions by slerp, positions and
revolute angles linearly); the rate defaults to the clip's most common frame rate.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..errors import D3PRError
from .sequences import Sequence

URDF_SCALE = 0.25
_YUP_TO_ZUP = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])

# (link, parent link, kind, number of values in a frame)
_LINKS = (
    ("root", None, "root", 0),
    ("chest", "root", "spherical", 4),
    ("neck", "chest", "spherical", 4),
    ("right_hip", "root", "spherical", 4),
    ("right_knee", "right_hip", "revolute", 1),
    ("right_ankle", "right_knee", "spherical", 4),
    ("right_shoulder", "chest", "spherical", 4),
    ("right_elbow", "right_shoulder", "revolute", 1),
    ("left_hip", "root", "spherical", 4),
    ("left_knee", "left_hip", "revolute", 1),
    ("left_ankle", "left_knee", "spherical", 4),
    ("left_shoulder", "chest", "spherical", 4),
    ("left_elbow", "left_shoulder", "revolute", 1),
)
_FIXED = (("right_wrist", "right_elbow"), ("left_wrist", "left_elbow"))
FRAME_SIZE = 1 + 3 + 4 + sum(n for *_, n in _LINKS)  # 44

_H36M_FROM_LINK = {
    0: "root",
    1: "right_hip",
    2: "right_knee",
    3: "right_ankle",
    4: "left_hip",
    5: "left_knee",
    6: "left_ankle",
    7: "chest",
    8: "neck",
    11: "left_shoulder",
    12: "left_elbow",
    13: "left_wrist",
    14: "right_shoulder",
    15: "right_elbow",
    16: "right_wrist",
}
_NOSE_OFFSET = np.array([0.0, 0.12, 0.0])
_HEAD_OFFSET = np.array([0.0, 0.24, 0.0])


def pybullet_data_path() -> Path:
    """The folder of the ``pybullet_data`` package (``pip install pybullet==3.2.7``)."""
    try:
        import pybullet_data
    except ImportError:
        raise D3PRError(
            "the DeepMimic clips need pybullet: pip install 'd3prefiner[demo]' (pybullet==3.2.7)"
        ) from None
    return Path(pybullet_data.getDataPath())


def urdf_offsets(urdf_path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Joint origins ``{child link: (3,) metres in the parent frame}`` of the humanoid URDF."""
    path = Path(urdf_path) if urdf_path else pybullet_data_path() / "humanoid" / "humanoid.urdf"
    if not path.exists():
        raise D3PRError(f"{path}: file not found")
    try:
        root = ET.fromstring(path.read_bytes().replace(b"\x00", b""))  # pybullet's has a NUL
    except ET.ParseError as exc:
        raise D3PRError(f"{path}: not a readable URDF ({exc})") from None
    out = {}
    for joint in root.iter("joint"):
        child = joint.find("child")
        origin = joint.find("origin")
        if child is None or origin is None:
            continue
        if any(abs(float(v)) > 1e-9 for v in origin.get("rpy", "0 0 0").split()):
            raise D3PRError(f"{path}: joint {joint.get('name')} has a rotated origin (unsupported)")
        out[child.get("link")] = np.array([float(v) for v in origin.get("xyz").split()])
    needed = [name for name, *_ in _LINKS[1:]] + [name for name, _ in _FIXED]
    missing = [n for n in needed if n not in out]
    if missing:
        raise D3PRError(f"{path}: no joint for link(s) {', '.join(missing)}")
    return {k: v * URDF_SCALE for k, v in out.items()}


def _quat_to_mat(q: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(..., 4)`` (w, x, y, z) → rotation matrices ``(..., 3, 3)``."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def _rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack(
        [np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2
    )


def _slerp(q0: np.ndarray, q1: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Slerp between unit quaternions ``(N, 4)`` with weights ``(N,)``."""
    dot = (q0 * q1).sum(-1)
    q1 = np.where(dot[:, None] < 0, -q1, q1)
    dot = np.abs(dot).clip(-1, 1)
    theta = np.arccos(dot)
    s = np.sin(theta)
    small = s < 1e-6
    w0 = np.where(small, 1 - a, np.sin((1 - a) * theta) / np.where(small, 1, s))
    w1 = np.where(small, a, np.sin(a * theta) / np.where(small, 1, s))
    q = w0[:, None] * q0 + w1[:, None] * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _split(frames: np.ndarray) -> dict[str, np.ndarray]:
    """(N, 44) frames → {"pos": (N, 3), "root": (N, 4), link: (N, 4) or (N, 1)}."""
    parts = {"pos": frames[:, 1:4], "root": frames[:, 4:8]}
    i = 8
    for name, _, _kind, n in _LINKS[1:]:
        parts[name] = frames[:, i : i + n]
        i += n
    return parts


def _resample(frames: np.ndarray, fps: float | None) -> tuple[np.ndarray, float]:
    """Resample (N, 44) keyframes to a uniform rate; returns (frames, fps)."""
    dur = frames[:-1, 0]
    if np.any(dur <= 0):
        raise D3PRError("DeepMimic clip: non-positive frame duration")
    times = np.concatenate([[0.0], np.cumsum(dur)])
    if fps is None:
        vals, counts = np.unique(np.round(dur, 4), return_counts=True)
        fps = float(np.round(1.0 / vals[np.argmax(counts)]))  # 0.033332 s → 30 Hz
    if np.allclose(dur, 1.0 / fps, rtol=1e-3, atol=1e-5):
        return frames, fps
    t = np.arange(0.0, times[-1] + 1e-9, 1.0 / fps)
    idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    a = ((t - times[idx]) / (times[idx + 1] - times[idx])).clip(0, 1)
    src = _split(frames)
    out = np.empty((len(t), frames.shape[1]))
    out[:, 0] = 1.0 / fps
    out[:, 1:4] = src["pos"][idx] * (1 - a)[:, None] + src["pos"][idx + 1] * a[:, None]
    out[:, 4:8] = _slerp(src["root"][idx], src["root"][idx + 1], a)
    i = 8
    for name, _, _kind, n in _LINKS[1:]:
        v0, v1 = src[name][idx], src[name][idx + 1]
        out[:, i : i + n] = _slerp(v0, v1, a) if n == 4 else v0 * (1 - a)[:, None] + v1 * a[:, None]
        i += n
    return out, fps


def deepmimic_fk(frames: np.ndarray, offsets: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Forward kinematics of DeepMimic frames ``(N, 44)`` → H36M-17 joints ``(N, 17, 3)``, metres,
    y-up (the clip's own frame)."""
    offsets = urdf_offsets() if offsets is None else offsets
    parts = _split(frames)
    rot: dict[str, np.ndarray] = {"root": _quat_to_mat(parts["root"])}
    pos: dict[str, np.ndarray] = {"root": parts["pos"]}
    for name, parent, kind, _ in _LINKS[1:]:
        local = _quat_to_mat(parts[name]) if kind == "spherical" else _rot_z(parts[name][:, 0])
        pos[name] = pos[parent] + rot[parent] @ offsets[name]
        rot[name] = rot[parent] @ local
    for name, parent in _FIXED:
        pos[name] = pos[parent] + rot[parent] @ offsets[name]
    out = np.empty((len(frames), 17, 3))
    for j, link in _H36M_FROM_LINK.items():
        out[:, j] = pos[link]
    out[:, 9] = pos["neck"] + rot["neck"] @ _NOSE_OFFSET
    out[:, 10] = pos["neck"] + rot["neck"] @ _HEAD_OFFSET
    return out


def deepmimic_clips() -> list[str]:
    """Names of the humanoid clips shipped with pybullet (e.g. ``"walk"``, ``"run"``)."""
    folder = pybullet_data_path() / "data" / "motions"
    return sorted(p.stem[len("humanoid3d_") :] for p in folder.glob("humanoid3d_*.txt"))


def read_clip(path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """Read a DeepMimic motion file → ``(frames (N, 44), loop mode)`` with clear errors."""
    path = Path(path)
    if not path.exists():
        raise D3PRError(f"{path}: file not found")
    try:
        raw = json.loads(path.read_text())
        frames = np.asarray(raw["Frames"], dtype=np.float64)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise D3PRError(f"{path}: not a DeepMimic motion file ({exc})") from None
    if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE or len(frames) < 2:
        raise D3PRError(f"{path}: expected >= 2 frames of {FRAME_SIZE} values, got {frames.shape}")
    if not np.all(np.isfinite(frames)):
        raise D3PRError(f"{path}: NaN or inf values")
    return frames, str(raw.get("Loop", "none"))


def load_deepmimic(
    clips: list[str] | None = None,
    fps: float | None = None,
    cycles: int = 1,
    folder: str | os.PathLike | None = None,
) -> list[Sequence]:
    """Load DeepMimic clips → sequences (subject ``"deepmimic"``, action = clip name).

    Args:
        clips: clip names (``"walk"``, ``"run"``, ...); default: every ``humanoid3d_*`` clip.
        fps: output frame rate; default: the clip's own (30 or 60 Hz, 16 for backflip).
        cycles: for ``"wrap"`` clips, repeat the cycle this many times, each repetition shifted
            horizontally by the clip's root displacement (DeepMimic's own looping).
        folder: where the ``humanoid3d_*.txt`` files are (default: pybullet_data's motions).

    Returns:
        Sequences with joints3d ``(F, 17, 3)`` in metres, z-up, ground at z = 0.
    """
    if cycles < 1:
        raise D3PRError(f"cycles must be >= 1, got {cycles}")
    folder = Path(folder) if folder else pybullet_data_path() / "data" / "motions"
    names = clips if clips is not None else deepmimic_clips()
    if not names:
        raise D3PRError(f"{folder}: no humanoid3d_*.txt clips")
    offsets = urdf_offsets()
    seqs = []
    for name in names:
        frames, loop = read_clip(folder / f"humanoid3d_{name}.txt")
        frames, clip_fps = _resample(frames, fps)
        joints = deepmimic_fk(frames, offsets)  # (N, 17, 3) y-up
        if loop == "wrap" and cycles > 1:
            shift = joints[-1, 0] - joints[0, 0]
            shift[1] = 0.0  # horizontal (y is up here)
            body = joints[:-1]  # the last frame repeats the first pose of the next cycle
            joints = np.concatenate(
                [body + k * shift for k in range(cycles)] + [joints[-1:] + (cycles - 1) * shift]
            )
        joints = joints @ _YUP_TO_ZUP.T  # (N, 17, 3) z-up
        joints[..., 2] -= np.percentile(joints[..., 2].min(axis=1), 2)
        seqs.append(Sequence("deepmimic", name, clip_fps, joints))
    return seqs

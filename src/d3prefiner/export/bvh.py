"""Write H36M-17 motion as a Biovision BVH file: a skeleton with joint rotations and a root path.

The file's skeleton (CMU-style names, so that BVH tools and :func:`d3prefiner.data.mocap.load_bvh`
recognise every joint)::

    Hips (H36M Hip; root: 6 channels)
    ├── LHipJoint ─ LeftUpLeg (LHip) ─ LeftLeg (LKnee) ─ LeftFoot (LFoot) ─ End Site (toe)
    ├── RHipJoint ─ RightUpLeg (RHip) ─ RightLeg (RKnee) ─ RightFoot (RFoot) ─ End Site
    └── Spine (Spine) ─ Neck (Thorax)
                        ├── Head (Neck/Nose) ─ End Site (H36M Head, the head top)
                        ├── LeftShoulder ─ LeftArm (LShoulder) ─ LeftForeArm (LElbow) ─ LeftHand (LWrist) ─ End Site
                        └── RightShoulder ─ RightArm (RShoulder) ─ …

``LHipJoint``, ``RHipJoint`` and the clavicles ``LeftShoulder``, ``RightShoulder`` sit at their
parent (zero OFFSET): each turns one bone of a branching joint on its own, so that every bone of the
input keeps its direction exactly (one rotation per joint could not place three children whose
angles change from frame to frame).

* **Units and axes**: centimetres, y up, the rest pose facing +z with the person's left at +x (the
  BVH convention Blender and most tools assume). Input is metres, z up (the world frame of
  :mod:`d3prefiner.trajectory`): ``(x, y, z)`` → ``100 · (x, z, −y)``.
* **Offsets** (the rest pose, a T-pose): each bone's median length over the sequence along its
  rest direction (legs and trunk vertical, arms and hips horizontal).
* **Rotations**, solved from positions per frame: the pelvis frame from the spine and the hip line,
  the chest frame from the neck and the shoulder line; every other bone by the smallest rotation
  from its parent's frame onto its direction (positions carry no twist about a bone, so none is
  added). Leaves (feet, wrists) keep their parent's rotation. Written as ``Zrotation Xrotation
  Yrotation`` Euler angles in degrees (``R = Rz · Rx · Ry``).
* **Root**: ``Hips`` position channels carry the root trajectory.

The exported positions are therefore the input with every bone at its median length, directions
kept (:func:`d3prefiner.geometry.median_bones`); :func:`write_bvh` returns them, and reading the
file back (:func:`read_exported`) gives them to within the text's rounding (micrometres).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import D3PRError, check_joints
from ..geometry import bone_lengths
from ..io import atomic_path
from ..skeleton import H36M17

#: Centimetres per metre in the file.
SCALE = 100.0
#: End Site lengths as a share of the bone before them (feet: a toe stub forward).
TIP_SHARE = {"LeftFoot": 0.4, "RightFoot": 0.4, "LeftHand": 0.35, "RightHand": 0.35}
_EPS = 1e-9

X, Y, Z = np.eye(3)


@dataclass(frozen=True)
class _Joint:
    name: str
    parent: int  # index into JOINTS, -1 for the root
    h36m: int | None  # the H36M-17 joint it is, None for a helper at its parent
    rest: np.ndarray  # (3,) unit rest direction of the bone parent -> joint (file axes)


def _joints() -> tuple[_Joint, ...]:
    i = {n: k for k, n in enumerate(H36M17.names)}
    spec = [("Hips", None, "Hip", Y)]
    for side, s in (("Left", 1.0), ("Right", -1.0)):
        h = side[0]
        spec += [
            (f"{h}HipJoint", "Hips", None, s * X),
            (f"{side}UpLeg", f"{h}HipJoint", f"{h}Hip", s * X),
            (f"{side}Leg", f"{side}UpLeg", f"{h}Knee", -Y),
            (f"{side}Foot", f"{side}Leg", f"{h}Foot", -Y),
        ]
    spec += [("Spine", "Hips", "Spine", Y), ("Neck", "Spine", "Thorax", Y),
             ("Head", "Neck", "Neck/Nose", Y)]  # fmt: skip
    for side, s in (("Left", 1.0), ("Right", -1.0)):
        h = side[0]
        spec += [
            (f"{side}Shoulder", "Neck", None, s * X),
            (f"{side}Arm", f"{side}Shoulder", f"{h}Shoulder", s * X),
            (f"{side}ForeArm", f"{side}Arm", f"{h}Elbow", s * X),
            (f"{side}Hand", f"{side}ForeArm", f"{h}Wrist", s * X),
        ]
    names = [n for n, *_ in spec]
    return tuple(
        _Joint(n, names.index(p) if p else -1, i[h] if h else None, r) for n, p, h, r in spec
    )


JOINTS = _joints()
_BY_NAME = {j.name: k for k, j in enumerate(JOINTS)}
#: The End Site of each leaf and its rest direction (the Head's is the H36M head top).
TIPS = (("LeftFoot", Z), ("RightFoot", Z), ("Head", Y), ("LeftHand", X), ("RightHand", -X))


def _to_file(p: np.ndarray) -> np.ndarray:
    """Metres, z up ``(..., 3)`` → centimetres, y up."""
    return SCALE * np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def _from_file(p: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_to_file`."""
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1) / SCALE


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """``v (T, 3)`` normalised; ``fallback (T, 3)`` (unit) where ``v`` is (near) zero."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)  # (T, 1)
    return np.where(n > _EPS, v / np.maximum(n, _EPS), fallback)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations ``(T, 3, 3)`` taking unit vectors ``a (T, 3)`` onto ``b (T, 3)``
    (a half turn about an axis normal to ``a`` where they are opposite)."""
    v = np.cross(a, b)  # (T, 3)
    c = (a * b).sum(-1)  # (T,)
    K = np.zeros((len(a), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    K = K - K.transpose(0, 2, 1)  # (T, 3, 3) the cross-product matrix of v
    opposite = c < -1 + 1e-9
    R = np.eye(3) + K + K @ K / np.where(opposite, 1.0, 1.0 + c)[:, None, None]
    if opposite.any():
        ao = a[opposite]
        other = np.where(np.abs(ao[:, :1]) < 0.9, X, Y)  # (n, 3)
        n = np.cross(ao, other)
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
        R[opposite] = 2 * n[:, :, None] * n[:, None, :] - np.eye(3)
    return R


def frame(up: np.ndarray, side: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rotations ``(T, 3, 3)`` whose columns are ``side`` made normal to ``up``, ``up`` and their
    cross product: the rest frame (x left, y up, z forward) turned onto a body part's axes.
    ``up (T, 3)`` unit; ``side (T, 3)``; ``fallback (T, 3, 3)`` where side is parallel to up."""
    s = side - (side * up).sum(-1, keepdims=True) * up
    s = _unit(s, fallback[:, :, 0])
    return np.stack([s, up, np.cross(s, up)], axis=-1)


def euler_zxy(R: np.ndarray) -> np.ndarray:
    """Angles ``(T, 3)`` in degrees ``(z, x, y)`` with ``R = Rz(z) · Rx(x) · Ry(y)`` for
    ``R (T, 3, 3)``; at gimbal lock (x = ±90°) y is set to 0."""
    x = np.arctan2(R[:, 2, 1], np.hypot(R[:, 0, 1], R[:, 1, 1]))
    z = np.arctan2(-R[:, 0, 1], R[:, 1, 1])
    y = np.arctan2(-R[:, 2, 0], R[:, 2, 2])
    lock = np.hypot(R[:, 0, 1], R[:, 1, 1]) < 1e-9
    z = np.where(lock, np.arctan2(R[:, 1, 0], R[:, 0, 0]), z)
    y = np.where(lock, 0.0, y)
    return np.degrees(np.stack([z, x, y], axis=-1))


def _rz_rx_ry(angles: np.ndarray) -> np.ndarray:
    """``R = Rz · Rx · Ry`` ``(T, 3, 3)`` of degrees ``(T, 3)`` in ``(z, x, y)`` order."""
    a, b, c = np.radians(angles).T
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    return np.stack(
        [
            np.stack([ca * cc - sa * sb * sc, -sa * cb, ca * sc + sa * sb * cc], -1),
            np.stack([sa * cc + ca * sb * sc, ca * cb, sa * sc - ca * sb * cc], -1),
            np.stack([-cb * sc, sb, cb * cc], -1),
        ],
        axis=1,
    )


def _lengths(positions: np.ndarray) -> np.ndarray:
    """Median length (file units) of the bone ending at each BVH joint ``(len(JOINTS),)``; 0 for
    the root and the helpers."""
    med = np.median(bone_lengths(positions), axis=0) * SCALE  # (16,) bone i ends at joint i + 1
    return np.array([med[j.h36m - 1] if j.h36m else 0.0 for j in JOINTS])


def solve_rotations(P: np.ndarray) -> np.ndarray:
    """World rotations ``(len(JOINTS), T, 3, 3)`` of every BVH joint for positions ``P (T, 17, 3)``
    in file axes (see the module docstring)."""
    T = len(P)
    at = {j.name: P[:, j.h36m] for j in JOINTS if j.h36m is not None}
    W = np.zeros((len(JOINTS), T, 3, 3))
    eye = np.broadcast_to(np.eye(3), (T, 3, 3))
    for k, j in enumerate(JOINTS):
        parent = W[j.parent] if j.parent >= 0 else eye
        kids = [c for c, cj in enumerate(JOINTS) if cj.parent == k]
        bones = [c for c in kids if JOINTS[c].h36m is not None]  # children at an offset
        if j.name in ("Hips", "Neck"):  # a frame from the bone up and the left-right line
            up_kid = JOINTS[bones[0]]
            rest_up = parent @ up_kid.rest
            up = _unit(at[up_kid.name] - at[j.name], rest_up)
            left, right = (
                ("LeftUpLeg", "RightUpLeg") if j.name == "Hips" else ("LeftArm", "RightArm")
            )
            W[k] = frame(up, at[left] - at[right], swing(rest_up, up) @ parent)
        elif bones or j.name == "Head":  # one bone: the smallest turn from the parent's frame
            rest, target = (
                (JOINTS[bones[0]].rest, at[JOINTS[bones[0]].name]) if bones else (Y, P[:, 10])
            )
            start = parent @ rest
            anchor = at[j.name] if j.h36m is not None else at[JOINTS[j.parent].name]
            W[k] = swing(start, _unit(target - anchor, start)) @ parent
        else:  # a leaf
            W[k] = parent
    return W


def _forward(W: np.ndarray, root: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Positions ``(T, len(JOINTS), 3)`` of world rotations ``W``, root path ``(T, 3)``."""
    pos = np.zeros((W.shape[1], len(JOINTS), 3))
    for k, j in enumerate(JOINTS):
        if j.parent < 0:
            pos[:, k] = root
        else:
            pos[:, k] = pos[:, j.parent] + W[j.parent] @ offsets[k]
    return pos


def _hierarchy(offsets: np.ndarray, tips: dict[str, np.ndarray]) -> list[str]:
    lines = ["HIERARCHY"]

    def node(k: int, depth: int) -> None:
        pad, j = "  " * depth, JOINTS[k]
        kind = "ROOT" if j.parent < 0 else "JOINT"
        chans = "6 Xposition Yposition Zposition" if j.parent < 0 else "3"
        lines.extend([f"{pad}{kind} {j.name}", f"{pad}{{"])
        lines.append(f"{pad}  OFFSET {' '.join(f'{v:.6f}' for v in offsets[k])}")
        lines.append(f"{pad}  CHANNELS {chans} Zrotation Xrotation Yrotation")
        for c, cj in enumerate(JOINTS):
            if cj.parent == k:
                node(c, depth + 1)
        if j.name in tips:
            tip = " ".join(f"{v:.6f}" for v in tips[j.name])
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {tip}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    node(0, 0)
    return lines


def _check(positions, fps) -> np.ndarray:
    P = np.asarray(positions, dtype=np.float64)
    if P.ndim != 3:
        raise D3PRError(f"BVH export: positions must be (T, 17, 3), got {P.shape}")
    check_joints(P, 17, 3, "BVH export positions")
    if len(P) == 0:
        raise D3PRError("BVH export: no frames")
    if not np.all(np.isfinite(P)):
        raise D3PRError("BVH export: NaN or inf in the positions")
    ok = not isinstance(fps, bool) and isinstance(fps, (int, float, np.floating, np.integer))
    if not (ok and np.isfinite(fps) and fps > 0):
        raise D3PRError(f"BVH export: fps must be a number > 0, got {fps!r}")
    return P


def write_bvh(path: str | os.PathLike, positions: np.ndarray, fps: float) -> np.ndarray:
    """Write ``positions`` as a BVH file (atomically; see the module docstring).

    Args:
        path: the ``.bvh`` file to write.
        positions: ``(T, 17, 3)`` H36M-17 joints, metres, world frame, z up.
        fps: frames per second (``Frame Time = 1 / fps``).

    Returns:
        ``(T, 17, 3)`` the positions the file holds (metres, z up): the input with every bone at
        its median length, directions kept.

    Raises:
        D3PRError: bad shape, NaN/inf, no frames, ``fps`` not > 0, or the file cannot be written.
    """
    P = _check(positions, fps)
    Pf = _to_file(P)  # (T, 17, 3) cm, y up
    lengths = _lengths(P)
    offsets = np.array([j.rest * L for j, L in zip(JOINTS, lengths)])  # (n, 3)
    W = solve_rotations(Pf)  # (n, T, 3, 3)
    root = Pf[:, 0]
    local = [W[k] if j.parent < 0 else W[j.parent].transpose(0, 2, 1) @ W[k]
             for k, j in enumerate(JOINTS)]  # fmt: skip
    angles = [euler_zxy(R) for R in local]  # n × (T, 3)
    back = np.stack([_rz_rx_ry(a) for a in angles])  # the rotations the file will hold
    Wf = np.zeros_like(W)
    for k, j in enumerate(JOINTS):
        Wf[k] = back[k] if j.parent < 0 else Wf[j.parent] @ back[k]
    tips = {n: d * TIP_SHARE.get(n, 0.0) * lengths[_BY_NAME[n]] for n, d in TIPS}
    head = _BY_NAME["Head"]
    tips["Head"] = Y * np.median(H36M17.bone_lengths(Pf)[:, 10 - 1])  # head <- neck
    values = np.concatenate([root] + angles, axis=1)  # (T, 3 + 3n)
    lines = _hierarchy(offsets, tips)
    lines += ["MOTION", f"Frames: {len(P)}", f"Frame Time: {1.0 / float(fps):.8f}"]
    buf = io.StringIO()
    buf.write("\n".join(lines) + "\n")
    np.savetxt(buf, values, fmt="%.6f")
    text = buf.getvalue()
    with atomic_path(path, ".bvh", len(text)) as tmp:
        tmp.write_text(text)
    pos = _forward(Wf, root, offsets)  # (T, n, 3)
    out = np.zeros_like(Pf)
    for k, j in enumerate(JOINTS):
        if j.h36m is not None:
            out[:, j.h36m] = pos[:, k]
    out[:, 10] = pos[:, head] + Wf[head] @ tips["Head"]
    return _from_file(out)


def read_exported(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read a BVH written by :func:`write_bvh` (or any BVH whose joints
    :func:`~d3prefiner.data.mocap.h36m_mapping` finds) back to H36M-17 in the input's frame:
    ``((T, 17, 3) metres, z up, not re-centred, fps)``."""
    from ..data.bvh import read_bvh
    from ..data.mocap import h36m_mapping

    bvh = read_bvh(Path(path))
    joints = h36m_mapping(bvh).apply(bvh.positions())  # (T, 17, 3) cm, y up
    return _from_file(joints), 1.0 / bvh.frame_time

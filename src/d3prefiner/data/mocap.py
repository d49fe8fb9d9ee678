"""Any motion capture as a motion source: BVH files and folders of per-subject npz → H36M-17.

**BVH** (:func:`load_bvh`, :func:`load_bvh_source`): the file is read and its joints placed by
forward kinematics (:mod:`d3prefiner.data.bvh`), then mapped to H36M-17 by joint name
(:func:`h36m_mapping`). A name is split into words (``LeftUpLeg`` → left, up, leg; ``UpperLeg_R``
→ upper, leg, r; ``Bip01 L Thigh`` → l, thigh), case and separators ignored, a namespace prefix
(``mixamorig:``, ``mixamorig_``) and a 3ds Max ``Bip01`` prefix dropped, and the side (``l``,
``left``, ``r``, ``right``, first or last word) taken apart from the rest. Each H36M joint takes
the first of its candidates (below) that the skeleton has:

============  =========================================  ==========================================
H36M joint    candidate names (side L/R where shown)      examples
============  =========================================  ==========================================
Hip           hips, pelvis, hip, spinebase                CMU/Mixamo ``Hips``, Poser ``hip``
R/LHip        side + upleg, upperleg, thigh, femur, hip   ``LeftUpLeg``, ``UpperLeg_L``, ``lThigh``
R/LKnee       side + lowerleg, knee, shin, calf, tibia,   ``LeftLeg``, ``LowerLeg_L``, ``lShin``
              leg
R/LFoot       side + ankle, foot                          ``LeftFoot``, ``Foot_L``, ``AnkleLeft``
Thorax        thorax, spineshoulder, neck                 ``Neck`` (base of the neck)
Neck/Nose     nose, head                                  ``Head`` (the skull's base joint)
Head          headtop, headtopend, headend, else the      Mixamo ``HeadTop_End``, the ``Head``
              End Site of the Neck/Nose joint             joint's End Site (``Head_End``)
L/RShoulder   side + upperarm, arm, shoulder, shldr,      ``LeftArm``, ``UpperArm_L``, Biovision's
              humerus                                     ``LeftShoulder``, Poser ``lShldr``
L/RElbow      side + forearm, lowerarm, elbow             ``LeftForeArm``, ``LowerArm_L``
L/RWrist      side + wrist, hand                          ``LeftHand``, ``Hand_L``, ``LeftWrist``
============  =========================================  ==========================================

This covers the CMU mocap BVH conversions (``Hips, LeftUpLeg, LeftLeg, LeftFoot, …, Spine, Spine1,
Neck, Head, LeftShoulder`` (a clavicle), ``LeftArm, LeftForeArm, LeftHand``), Mixamo
(``mixamorig:…``, same names), the Bandai-Namco research motion datasets (``Hips, Spine, Chest,
Neck, Head, Shoulder_L`` (clavicle), ``UpperArm_L, LowerArm_L, Hand_L, UpperLeg_L, LowerLeg_L,
Foot_L``), Biovision's example skeleton (``LeftHip, LeftKnee, LeftAnkle, LeftCollar,
LeftShoulder, LeftElbow, LeftWrist``), 3ds Max Biped, Poser/DAZ and Kinect-style names.
Clavicles (CMU's ``LeftShoulder``, ``Shoulder_L``) lose to the upper-arm names listed before them.

Joints the skeleton lacks are synthesised, as for COCO-17 (:mod:`d3prefiner.skeleton`):
``Hip = mean(LHip, RHip)``, ``Thorax = mean(LShoulder, RShoulder)``, ``Neck/Nose = mean(Thorax,
Head)``, ``Head = Neck/Nose + (Neck/Nose − Thorax)`` (the head top as far above the nose as the
nose is above the thorax: 0.12 / 0.24 m in H36M). **Spine** is the joint of the BVH chain from
the Thorax joint (or the shoulders' common ancestor) down to the Hip joint (or the hips' common
ancestor) nearest the trunk's midpoint in the rest pose (``Spine1`` or ``Spine``, say), if one lies
within a quarter of the trunk's length of it; otherwise ``mean(Hip, Thorax)`` (naming schemes
number their spine joints differently, so names are not used).

A mapping file (JSON) names the rest: ``{"LKnee": "L_Knee_Joint", "Head": "Head_End",
"Hip": ["LeftUpLeg", "RightUpLeg"]}`` — H36M-17 names (``d3prefiner.skeleton.H36M17.names``,
case-insensitive; ``Pelvis`` and ``Nose`` are accepted too) to a BVH joint name, or a list of them
(their mean); keys starting with ``_`` are comments. It wins over the table.

**Units** (``units``): ``"m"``, ``"cm"``, ``"mm"``, ``"inch"``, ``"cmu"`` (the CMU conversions'
1/0.45 inch = 0.05644 m), a number of metres per file unit, or ``"auto"``: the ankle → knee → hip →
pelvis → thorax → head-top length (≈ 0.94 × standing height, independent of the pose) is measured
in file units and the unit that makes it nearest 1.6 m is taken; none giving 0.9–2.4 m is an error.
**Up axis** (``up``): ``"y"`` (the BVH default), ``"z"`` or ``"auto"``
(:func:`~d3prefiner.data.cameras.level_and_center`). **Frame rate**: ``fps``, else ``1 / Frame
Time`` rounded to an integer when within 0.1 % of one (0.008333 s → 120 fps).

Output (both sources): :class:`~d3prefiner.data.sequences.Sequence` in metres, z-up, the ground (the
2nd percentile of the lowest joint) at z = 0 and the first frame's pelvis at x = y = 0.

**Options files.** A folder (or any folder above a file, up to the one given) may hold
``bvh.json`` — ``{"units": "cm", "up": "y", "fps": 120, "mapping": "my_mapping.json"}`` (``mapping``
a file name relative to it, or the mapping itself) — and a folder of npz ``npz-folder.json`` —
``{"units": "mm", "fps": 50, "up": "z"}``. The nearest ``bvh.json`` applies to each BVH file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import D3PRError
from ..io import load_json, load_npz
from ..skeleton import H36M17
from .bvh import BVH, read_bvh
from .cameras import level_and_center
from .sequences import Sequence

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
UP_AXES = ("y", "z", "auto")
BVH_OPTIONS = "bvh.json"
NPZ_OPTIONS = "npz-folder.json"

_NAMES = H36M17.names
_IDX = {n: i for i, n in enumerate(_NAMES)}
_ALIASES = {n.lower(): n for n in _NAMES} | {"pelvis": "Hip", "nose": "Neck/Nose"}
_SIDED = {  # joint without its side letter -> base-name candidates, best first
    "Hip": ("upleg", "upperleg", "thigh", "femur", "hip"),
    "Knee": ("lowerleg", "knee", "shin", "calf", "tibia", "leg"),
    "Foot": ("ankle", "foot"),
    "Shoulder": ("upperarm", "arm", "shoulder", "shldr", "humerus"),
    "Elbow": ("forearm", "lowerarm", "elbow"),
    "Wrist": ("wrist", "hand"),
}
_CENTRAL = {
    "Hip": ("hips", "pelvis", "hip", "spinebase"),
    "Thorax": ("thorax", "spineshoulder", "neck"),
    "Neck/Nose": ("nose", "head"),
    "Head": ("headtop", "headtopend", "headend"),
}
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_LEFT, _RIGHT = ("l", "left"), ("r", "right")


def name_key(name: str) -> tuple[str, str]:
    """``(side, base)`` of a joint name: ``"mixamorig:LeftUpLeg"`` → ``("l", "upleg")``,
    ``"UpperLeg_R"`` → ``("r", "upperleg")``, ``"Hips"`` → ``("", "hips")``."""
    words = [w.lower() for w in _WORD.findall(name.rsplit(":", 1)[-1])]
    if words[:1] == ["mixamorig"]:
        words = words[1:]
    if words[:1] == ["bip"] and words[1:2] and words[1].isdigit():
        words = words[2:]
    side = ""
    if len(words) > 1:
        for end in (0, -1):
            if words[end] in _LEFT + _RIGHT:
                side = "l" if words[end] in _LEFT else "r"
                del words[end]
                break
    return side, "".join(words)


@dataclass(frozen=True)
class H36MMapping:
    """How BVH joints make H36M-17 joints: ``weights (17, J)`` (rows sum to 1) and, per H36M
    joint, a description (``"LeftUpLeg"``, ``"mean(LeftUpLeg, RightUpLeg)"``, …)."""

    weights: np.ndarray
    how: tuple[str, ...]

    def apply(self, positions: np.ndarray) -> np.ndarray:
        """``positions (F, J, 3)`` → ``(F, 17, 3)``."""
        return np.einsum("kj,fjc->fkc", self.weights, positions)


def read_mapping(path: str | os.PathLike) -> dict[str, str | list[str]]:
    """A mapping file ``{"h36m joint": "bvh joint" or ["bvh joint", ...]}`` (keys checked)."""
    raw = load_json(path)
    return _check_mapping(raw, str(path))


def _check_mapping(raw, where: str) -> dict[str, str | list[str]]:
    if not isinstance(raw, dict):
        raise D3PRError(f"{where}: a mapping must be a JSON object {{h36m joint: bvh joint}}")
    out: dict[str, str | list[str]] = {}
    for key, value in raw.items():
        if key.startswith("_"):
            continue
        name = _ALIASES.get(key.lower())
        if name is None:
            raise D3PRError(
                f"{where}: {key!r} is not an H36M-17 joint (one of {', '.join(_NAMES)})"
            )
        ok = isinstance(value, str) or (
            isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        )
        if not ok:
            raise D3PRError(f"{where}: {key!r} must map to a joint name or a list of them")
        out[name] = value
    return out


def h36m_mapping(
    bvh: BVH, mapping: dict[str, str | list[str]] | None = None, where: str | None = None
) -> H36MMapping:
    """Map a BVH skeleton to H36M-17 (the table and rules of the module docstring).

    Args:
        bvh: the parsed file.
        mapping: user choices ``{h36m joint: bvh joint name or [names]}``, applied first.
        where: the name used in errors (default: the BVH file).
    """
    where = where or str(bvh.path)
    J = len(bvh.names)
    exact = {n: j for j, n in reversed(list(enumerate(bvh.names)))}
    keyed: dict[tuple[str, str], int] = {}
    for j, n in enumerate(bvh.names):  # the first in file order wins (nearest the root)
        keyed.setdefault(name_key(n), j)
    rows: dict[str, np.ndarray] = {}
    how: dict[str, str] = {}
    direct: dict[str, int] = {}  # H36M joints taken from one BVH joint

    def onehot(j: int) -> np.ndarray:
        w = np.zeros(J)
        w[j] = 1.0
        return w

    for name, value in _check_mapping(mapping or {}, where).items():
        picks = [value] if isinstance(value, str) else value
        idx = []
        for p in picks:
            j = exact[p] if p in exact else keyed.get(name_key(p))
            if j is None:
                raise D3PRError(
                    f"{where}: the mapping names {p!r} for {name}, which the skeleton lacks "
                    f"(its joints: {', '.join(bvh.names)})"
                )
            idx.append(j)
        rows[name] = sum(onehot(j) for j in idx) / len(idx)
        how[name] = picks[0] if len(picks) == 1 else f"mean({', '.join(picks)})"
        if len(idx) == 1:
            direct[name] = idx[0]
    for name in _NAMES:
        if name in rows or name == "Spine":
            continue
        if name[0] in "LR" and name[1:] in _SIDED:
            cands = [(name[0].lower(), b) for b in _SIDED[name[1:]]]
        else:
            cands = [("", b) for b in _CENTRAL[name]]
        j = next((keyed[c] for c in cands if c in keyed), None)
        if j is not None:
            rows[name], how[name], direct[name] = onehot(j), bvh.names[j], j
    _synthesise(bvh, rows, how, direct, where)
    return H36MMapping(np.stack([rows[n] for n in _NAMES]), tuple(how[n] for n in _NAMES))


def _synthesise(bvh: BVH, rows: dict, how: dict, direct: dict, where: str) -> None:
    """Fill Hip, Thorax, Spine, Neck/Nose and Head from the others where missing (in place)."""
    needed = [n for n in _NAMES if n[0] in "LR" and n[1:] in _SIDED and n not in rows]
    if needed:
        raise D3PRError(
            f"{where}: no joint found for {', '.join(needed)} (its joints: "
            f"{', '.join(bvh.names)}); name them in a mapping file, e.g. "
            + json.dumps({n: "<bvh joint>" for n in needed[:2]})
        )

    def mean(name: str, a: str, b: str) -> None:
        rows[name] = (rows[a] + rows[b]) / 2
        how[name] = f"mean({a}, {b})"

    if "Hip" not in rows:
        mean("Hip", "LHip", "RHip")
    if "Thorax" not in rows:
        mean("Thorax", "LShoulder", "RShoulder")
    if "Spine" not in rows:
        j = _spine_joint(bvh, rows, direct)
        if j is None:
            mean("Spine", "Hip", "Thorax")
        else:
            rows["Spine"] = np.eye(len(bvh.names))[j]
            how["Spine"] = bvh.names[j]
    if "Neck/Nose" not in rows:
        if "Head" not in rows:
            raise D3PRError(
                f"{where}: no head joint found (its joints: {', '.join(bvh.names)}); name one "
                'in a mapping file, e.g. {"Neck/Nose": "<bvh joint>"}'
            )
        mean("Neck/Nose", "Thorax", "Head")
    if "Head" not in rows and "Neck/Nose" in direct:  # the head joint's End Site: its top
        tips = [c for c in bvh.children(direct["Neck/Nose"]) if not bvh.channels[c]]
        tips = [c for c in tips if not bvh.children(c)]
        if len(tips) == 1:
            rows["Head"] = np.eye(len(bvh.names))[tips[0]]
            how["Head"] = bvh.names[tips[0]]
    if "Head" not in rows:
        rows["Head"] = 2 * rows["Neck/Nose"] - rows["Thorax"]
        how["Head"] = "Neck/Nose + (Neck/Nose - Thorax)"


def _common_ancestor(parents: tuple[int, ...], a: int, b: int) -> int:
    up = set()
    while a >= 0:
        up.add(a)
        a = parents[a]
    while b not in up:
        b = parents[b]
    return b


def _spine_joint(bvh: BVH, rows: dict, direct: dict) -> int | None:
    """The BVH joint between the pelvis and the thorax nearest the trunk's midpoint at rest (within
    a quarter of the trunk's length), or None. A synthesised pelvis or thorax stands for the
    common ancestor of its two source joints (which is then a candidate on the thorax's side)."""

    def anchor(name: str, a: str, b: str) -> int | None:
        if name in direct:
            return direct[name]
        if a in direct and b in direct:
            return _common_ancestor(bvh.parents, direct[a], direct[b])
        return None

    low, high = anchor("Hip", "LHip", "RHip"), anchor("Thorax", "LShoulder", "RShoulder")
    if low is None or high is None:
        return None
    chain, j = [], (bvh.parents[high] if "Thorax" in direct else high)
    while j >= 0 and j != low:
        chain.append(j)
        j = bvh.parents[j]
    if j != low or not chain:
        return None
    rest = bvh.rest_positions()  # (J, 3)
    pelvis, thorax = rows["Hip"] @ rest, rows["Thorax"] @ rest
    dist = [np.linalg.norm(rest[c] - (pelvis + thorax) / 2) for c in chain]
    best = int(np.argmin(dist))
    return chain[best] if dist[best] <= 0.25 * np.linalg.norm(thorax - pelvis) else None


# ----------------------------------------------------------------------------- units, loading


def body_length(joints17: np.ndarray) -> float:
    """Ankle → knee → hip → pelvis → thorax → head-top length of ``(F, 17, 3)`` (median over
    frames, legs averaged), in the joints' units: about 0.94 × standing height."""
    J = np.asarray(joints17, dtype=np.float64)

    def bone(a: str, b: str) -> np.ndarray:
        return np.linalg.norm(J[:, _IDX[a]] - J[:, _IDX[b]], axis=-1)

    legs = bone("RFoot", "RKnee") + bone("RKnee", "RHip") + bone("LFoot", "LKnee")
    legs = (legs + bone("LKnee", "LHip")) / 2 + (bone("RHip", "Hip") + bone("LHip", "Hip")) / 2
    trunk = bone("Hip", "Spine") + bone("Spine", "Thorax")
    head = bone("Thorax", "Neck/Nose") + bone("Neck/Nose", "Head")
    return float(np.median(legs + trunk + head))


def guess_units(joints17: np.ndarray, where: str) -> tuple[str, float]:
    """``(unit name, metres per unit)`` that makes :func:`body_length` nearest 1.6 m."""
    length = body_length(joints17)
    if not length > 0:
        raise D3PRError(f"{where}: the skeleton has zero size; cannot guess its units")
    name = min(UNITS, key=lambda u: abs(np.log(length * UNITS[u] / 1.6)))
    if not 0.9 <= length * UNITS[name] <= 2.4:
        raise D3PRError(
            f"{where}: cannot guess the units: ankle to head top measures {length:.4g} file "
            f"units, no unit of {', '.join(UNITS)} makes that a person's 0.9-2.4 m; set "
            '"units" (a unit name or metres per unit) in the options file'
        )
    return name, UNITS[name]


def _unit_scale(units, joints17: np.ndarray, where: str) -> float:
    if isinstance(units, bool):
        units = str(units)
    if isinstance(units, (int, float)):
        if not (np.isfinite(units) and units > 0):
            raise D3PRError(f"{where}: units must be > 0 metres per unit, got {units!r}")
        return float(units)
    if units == "auto":
        return guess_units(joints17, where)[1]
    if units not in UNITS:
        raise D3PRError(
            f"{where}: units must be one of {', '.join(UNITS)}, auto or metres per unit, "
            f"got {units!r}"
        )
    return UNITS[units]


def _fps_of(frame_time: float) -> float:
    fps = 1.0 / frame_time
    return float(round(fps)) if abs(fps - round(fps)) <= 1e-3 * fps else fps


def _check_up(up, where: str) -> str:
    if up not in UP_AXES:
        raise D3PRError(f"{where}: up must be one of {', '.join(UP_AXES)}, got {up!r}")
    return up


def load_bvh(
    path: str | os.PathLike,
    *,
    units: str | float = "auto",
    up: str = "y",
    fps: float | None = None,
    mapping: dict[str, str | list[str]] | str | os.PathLike | None = None,
    subject: str | None = None,
    action: str | None = None,
) -> Sequence:
    """One BVH file → a :class:`Sequence` of H36M-17 joints ``(F, 17, 3)`` (metres, z-up, ground
    at z = 0, first pelvis at x = y = 0).

    Args:
        path: the ``.bvh`` file.
        units: ``"m"``, ``"cm"``, ``"mm"``, ``"inch"``, ``"cmu"``, metres per unit, or ``"auto"``.
        up: the file's up axis, ``"y"`` (default), ``"z"`` or ``"auto"``.
        fps: the frame rate (default: from ``Frame Time``).
        mapping: ``{h36m joint: bvh joint(s)}`` or a JSON file of it (see the module docstring).
        subject, action: the sequence's names (default: the parent folder's name, the file stem).
    """
    path = Path(path)
    bvh = read_bvh(path)
    if isinstance(mapping, (str, os.PathLike)):
        mapping = read_mapping(mapping)
    joints = h36m_mapping(bvh, mapping).apply(bvh.positions())  # (F, 17, 3) file units
    joints = joints * _unit_scale(units, joints, str(path))
    joints = level_and_center(joints, _check_up(up, str(path)))
    if fps is not None and (
        isinstance(fps, bool) or not (isinstance(fps, (int, float)) and fps > 0)
    ):
        raise D3PRError(f"{path}: fps must be > 0, got {fps!r}")
    rate = float(fps) if fps is not None else _fps_of(bvh.frame_time)
    return Sequence(subject or path.resolve().parent.name, action or path.stem, rate, joints)


def _options(folder: Path, top: Path, filename: str, allowed: tuple[str, ...]) -> dict:
    """The nearest ``filename`` in ``folder`` or a folder above it up to ``top`` (or {})."""
    folder, top = folder.resolve(), top.resolve()
    while True:
        f = folder / filename
        if f.is_file():
            opts = load_json(f)
            if not isinstance(opts, dict):
                raise D3PRError(f"{f}: expected a JSON object of options")
            unknown = sorted(set(opts) - set(allowed))
            if unknown:
                raise D3PRError(
                    f"{f}: unknown option(s) {', '.join(unknown)} (known: {', '.join(allowed)})"
                )
            if isinstance(opts.get("mapping"), str):
                opts["mapping"] = read_mapping(f.parent / opts["mapping"])
            elif "mapping" in opts:
                opts["mapping"] = _check_mapping(opts["mapping"], f"{f}: mapping")
            return opts
        if folder == top or folder.parent == folder:
            return {}
        folder = folder.parent


def bvh_files(path: str | os.PathLike) -> list[Path]:
    """The ``.bvh`` files of a folder (recursively, sorted), or ``[path]`` for one file."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise D3PRError(f"{path}: not found (expected a .bvh file or a folder of them)")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())
    if not files:
        raise D3PRError(f"{path}: no .bvh files in this folder or below it")
    return files


def _select(named: list[tuple[str, str, Path]], subjects, where: Path) -> list:
    seen: dict[tuple[str, str], Path] = {}
    for subject, action, p in named:
        if (subject, action) in seen:
            raise D3PRError(
                f"{p}: same subject/action {subject}/{action} as {seen[subject, action]}"
            )
        seen[subject, action] = p
    if subjects is None:
        return named
    have = sorted({s for s, _, _ in named})
    if not subjects:  # e.g. a command's default split: these sources have none
        raise D3PRError(
            f"{where}: no subjects chosen and this source has no standard split; name them "
            f"(e.g. {','.join(have[:2])}); its subjects: {', '.join(have)}"
        )
    missing = [s for s in subjects if s not in have]
    if missing:
        raise D3PRError(
            f"{where}: no files for subject(s) {', '.join(missing)} (its subjects: "
            f"{', '.join(have)})"
        )
    return [t for t in named if t[0] in subjects]


def load_bvh_source(
    path: str | os.PathLike, subjects: list[str] | None = None, **options
) -> list[Sequence]:
    """The ``bvh`` source: every ``.bvh`` file under a folder (or one file) → sequences.

    Subject = the name of the folder holding the file (``cmu/01/01_02.bvh`` → ``01``; a file
    directly in the folder given takes that folder's name), action = the file stem. Options
    (``units``, ``up``, ``fps``, ``mapping``: see :func:`load_bvh`) come from keyword arguments,
    else from the nearest ``bvh.json``, else the defaults.
    """
    path = Path(path)
    top = path if path.is_dir() else path.parent
    named = [(p.resolve().parent.name, p.stem, p) for p in bvh_files(path)]
    seqs = []
    for subject, action, p in _select(named, subjects, path):
        opts = _options(p.parent, top, BVH_OPTIONS, ("units", "up", "fps", "mapping"))
        opts.update({k: v for k, v in options.items() if v is not None})
        seqs.append(load_bvh(p, subject=subject, action=action, **opts))
    return seqs


def load_npz_folder(
    path: str | os.PathLike,
    subjects: list[str] | None = None,
    *,
    units: str | float | None = None,
    fps: float | None = None,
    up: str | None = None,
) -> list[Sequence]:
    """The ``npz-folder`` source: per-subject npz files of any name, each ``action → (F, 17, 3)``
    H36M-17 joints (the fk17 layout: mm, 50 fps, z-up unless ``npz-folder.json`` or the keyword
    arguments say otherwise; ``units`` as in :func:`load_bvh`).

    Subject = the file stem (``alice.npz`` → ``alice``), action = the array's name; ``path`` may
    also be one ``.npz`` file.
    """
    path = Path(path)
    if path.is_file():
        files, top = [path], path.parent
    elif path.is_dir():
        files, top = sorted(p for p in path.iterdir() if p.suffix.lower() == ".npz"), path
        if not files:
            raise D3PRError(f"{path}: no .npz files in this folder")
    else:
        raise D3PRError(f"{path}: not found (expected a folder of per-subject .npz files)")
    opts = {"units": "mm", "fps": 50.0, "up": "z"}
    opts.update(_options(top, top, NPZ_OPTIONS, tuple(opts)))
    opts.update({k: v for k, v in dict(units=units, fps=fps, up=up).items() if v is not None})
    rate = opts["fps"]
    if isinstance(rate, bool) or not (isinstance(rate, (int, float)) and rate > 0):
        raise D3PRError(f"{top / NPZ_OPTIONS}: fps must be > 0, got {rate!r}")
    seqs = []
    for subject, _, f in _select([(p.stem, "", p) for p in files], subjects, path):
        arrays = load_npz(f)
        if not arrays:
            raise D3PRError(f"{f}: holds no arrays")
        for action in sorted(arrays):
            x = arrays[action]
            if x.ndim != 3 or x.shape[1:] != (17, 3) or x.dtype.kind not in "fiu":
                raise D3PRError(
                    f"{f}: action {action!r} has shape {x.shape} ({x.dtype}), expected "
                    "(F, 17, 3) numbers"
                )
            if len(x) == 0:
                raise D3PRError(f"{f}: action {action!r} has no frames")
            if not np.all(np.isfinite(x)):
                raise D3PRError(f"{f}: action {action!r} holds NaN or inf")
            where = f"{f}: action {action!r}"
            J = x.astype(np.float64) * _unit_scale(opts["units"], x, where)
            J = level_and_center(J, _check_up(opts["up"], where))
            seqs.append(Sequence(subject, action, float(rate), J))
    return seqs

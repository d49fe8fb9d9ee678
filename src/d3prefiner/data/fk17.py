"""The prepared ``h36m-expmap-fk17`` folder: one npz per subject, action → ``(F, 17, 3)`` mm, 50 fps.

Files are named ``h36m_expmap_fk17_<subject>.npz`` (written by
:func:`d3prefiner.data.expmap.convert_expmap_dir`); poses are z-up, but the ground is tilted (the
global frame is the first frame's pelvis frame), so level them with
:func:`d3prefiner.data.cameras.level_and_center` before placing cameras.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import D3PRError
from ..io import load_npz
from .sequences import Sequence

FK17_FPS = 50.0
_FILE_RE = re.compile(r"^h36m_expmap_fk17_(S\d+)\.npz$")


def fk17_files(folder: str | os.PathLike) -> dict[str, Path]:
    """``{subject: path}`` of the subject files in ``folder``, sorted by subject number."""
    folder = Path(folder)
    if not folder.is_dir():
        raise D3PRError(f"{folder}: fk17 folder not found")
    found = {}
    for p in folder.iterdir():
        m = _FILE_RE.match(p.name)
        if m:
            found[m.group(1)] = p
    if not found:
        raise D3PRError(f"{folder}: no h36m_expmap_fk17_S*.npz files")
    return dict(sorted(found.items(), key=lambda kv: int(kv[0][1:])))


def load_fk17(
    folder: str | os.PathLike,
    subjects: list[str] | None = None,
    actions: list[str] | None = None,
) -> list[Sequence]:
    """Load the fk17 folder → sequences (metres, 50 fps, z-up with a tilted ground).

    Args:
        folder: the folder holding ``h36m_expmap_fk17_S*.npz``.
        subjects: e.g. ``["S9", "S11"]``; all by default (a missing one is an error).
        actions: action names to keep (e.g. ``"walking_1"``, or ``"walking"`` for every take).
    """
    files = fk17_files(folder)
    if subjects is not None:
        missing = [s for s in subjects if s not in files]
        if missing:
            raise D3PRError(f"{folder}: no file for subject(s) {', '.join(missing)}")
        files = {s: files[s] for s in subjects}
    seqs = []
    for subject, path in files.items():
        arrays = load_npz(path)
        for action in sorted(arrays):
            if actions is not None and not any(
                action == a or action.rsplit("_", 1)[0] == a for a in actions
            ):
                continue
            x = arrays[action]
            if x.ndim != 3 or x.shape[1:] != (17, 3):
                raise D3PRError(
                    f"{path}: action {action!r} has shape {x.shape}, expected (F, 17, 3)"
                )
            if len(x) == 0:
                raise D3PRError(f"{path}: action {action!r} has no frames")
            if not np.all(np.isfinite(x)):
                raise D3PRError(f"{path}: action {action!r} holds NaN or inf")
            seqs.append(Sequence(subject, action, FK17_FPS, x.astype(np.float64) / 1000.0))
    return seqs


# ------------------------------------------------------------------ per-subject skeletons

#: Skeleton choices of the fk17 source: ``fixed`` (the exp-map release's one skeleton, S1's, for
#: every subject) or ``subject`` (:func:`subject_bone_lengths`).
SKELETONS = ("fixed", "subject")

#: Relative spread of the bone lengths drawn for subjects without a measurement: stature (one
#: factor for the whole body), then each bone pair (left and right alike). Adult stature varies
#: by about 4 % (one standard deviation) within a sex; segment proportions by about 2 % more.
STATURE_SD, BONE_SD = 0.04, 0.02


def _bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) → (..., 16) lengths of the H36M-17 bones (child order, root excluded)."""
    from ..skeleton import H36M17

    return H36M17.bone_lengths(joints)


def _symmetric(lengths: np.ndarray) -> np.ndarray:
    """Bone lengths (16,) with each left/right pair set to its mean."""
    from ..skeleton import H36M17

    kids = [j for j, p in enumerate(H36M17.parents) if p >= 0]
    out = lengths.copy()
    for left, right in zip(H36M17.joints_left, H36M17.joints_right):
        i, k = kids.index(left), kids.index(right)
        out[i] = out[k] = (lengths[i] + lengths[k]) / 2
    return out


def measured_bone_lengths(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Subject → (16,) bone lengths (metres, left/right averaged) measured on the H36M frames of
    an mmpose-style sample (``S`` (N, 17, 4) metres, ``imgname`` ``"S5/..."``)."""
    d = load_npz(path)
    if "S" not in d or "imgname" not in d or d["S"].shape[1:] != (17, 4):
        raise D3PRError(f"{path}: expected 'S' (N, 17, 4) and 'imgname' (an H36M sample)")
    out: dict[str, list] = {}
    for joints, name in zip(d["S"][..., :3], d["imgname"]):
        out.setdefault(str(name).split("/", 1)[0], []).append(_bone_lengths(joints))
    return {s: _symmetric(np.mean(v, axis=0)) for s, v in out.items()}


def subject_bone_lengths(
    subject: str, measured: dict[str, np.ndarray], seed: int = 0
) -> np.ndarray:
    """(16,) bone lengths of ``subject``: measured where it was, else the measured subjects' mean
    scaled by a seeded stature factor (sd :data:`STATURE_SD`) and per-pair factors
    (sd :data:`BONE_SD`), the same for a subject on every call."""
    if subject in measured:
        return measured[subject]
    if not measured:
        raise D3PRError("per-subject skeletons need at least one measured subject")
    import zlib

    rng = np.random.default_rng([seed, zlib.crc32(subject.encode())])
    mean = np.mean(list(measured.values()), axis=0)
    factors = _symmetric(1.0 + BONE_SD * rng.standard_normal(len(mean)))
    return mean * (1.0 + STATURE_SD * rng.standard_normal()) * factors


def with_bone_lengths(joints: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Forward kinematics with new bone lengths: ``joints (F, 17, 3)`` → ``(F, 17, 3)`` with
    every bone's direction kept and its length set to ``lengths (16,)`` (what the exp-maps give
    with scaled bone offsets: a 17-joint bone spanning several exp-map bones scales them alike).
    The root stays where it is."""
    from ..skeleton import H36M17

    joints = np.asarray(joints, dtype=np.float64)
    out = joints.copy()
    kids = [j for j, p in enumerate(H36M17.parents) if p >= 0]
    for i, j in enumerate(kids):  # parents precede their children
        p = H36M17.parents[j]
        bone = joints[:, j] - joints[:, p]  # (F, 3)
        norm = np.linalg.norm(bone, axis=-1, keepdims=True)
        out[:, j] = out[:, p] + bone / np.maximum(norm, 1e-9) * lengths[i]
    return out

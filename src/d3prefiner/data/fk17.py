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

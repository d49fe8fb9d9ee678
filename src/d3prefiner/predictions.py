"""The predictions file: the one format every estimator's output is put into.

Layout of a predictions ``.npz`` (no pickled objects; S sequences, N frames in all):

================  ===============  =====================================================
key               shape / dtype    meaning
================  ===============  =====================================================
``version``       () int64         format version, 1
``estimator``     () str           name of the estimator that produced ``pred3d``
``lengths``       (S,) int64       frames per sequence; sequences are stored back to back
``subject``       (S,) str         subject id, e.g. ``S9``
``action``        (S,) str         action name, e.g. ``walking_1``
``camera``        (S,) str         camera name
``fps``           (S,) float64     frame rate
``fold``          (S,) int64       cross-fitting fold that produced the sequence, -1 if none
``split``         (S,) str         ``train`` / ``val`` / ``test`` / ``""``
``pose2d``        (N,17,2) float32 2D input, VideoPose3D-normalised (``x / w * 2 - [1, h / w]``)
``pred3d``        (N,17,3) float32 estimated 3D, metres, camera frame, root-relative
``gt3d``          (N,17,3) float32 ground-truth 3D, same frame (optional: absent if unknown)
``cam_f``         (S,2) float64    focal lengths, pixels (optional, with the next four: the
                                   sequence's camera; a row of NaN: that sequence has none)
``cam_c``         (S,2) float64    principal point, pixels
``cam_size``      (S,2) int64      image width and height, pixels
``cam_k``         (S,3) float64    radial distortion (optional: zeros)
``cam_p``         (S,2) float64    tangential distortion, H36M order (optional: zeros)
================  ===============  =====================================================

Joints are H36M-17 in VideoPose3D order (:mod:`d3prefiner.skeleton`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import D3PRError, check_joints
from .geometry import MAX_RADIAL, MAX_TANGENTIAL, Intrinsics
from .io import load_npz, save_npz
from .joint_order import check_joint_order
from .skeleton import NUM_JOINTS

FORMAT_VERSION = 1

#: The highest frame rate a predictions file may give (video and motion capture stay far below).
MAX_FPS = 1000.0
#: The values ``split`` may take.
SPLITS = ("train", "val", "test", "")

#: A person's joints lie this far from the pelvis on average, in metres (H36M-17: about 0.45).
PERSON_SCALE_M = 0.45


def check_units(
    pose2d: np.ndarray | None,
    pose3d: np.ndarray | None,
    name: str,
    scale: float | None = None,
    absmax: float | None = None,
    trained: str = "",
) -> None:
    """Refuse poses in the wrong units, with one message wherever poses are read.

    ``pose3d (N, 17, 3)`` must be in metres: the mean distance of a joint from the root is
    compared with ``scale`` (a checkpoint's training data; default :data:`PERSON_SCALE_M`) and
    refused beyond ×10 either way (millimetres are ×1000). ``pose2d (N, 17, 2)`` must be
    VideoPose3D-normalised: values beyond ``max(3, 3·absmax)`` (10 without ``absmax``) are refused
    as pixels.
    ``trained`` names what the reference scale comes from in the message.
    """
    ref = scale if scale else PERSON_SCALE_M
    what = trained or "a person's joints lie"
    if pose3d is not None and len(pose3d):
        rel = pose3d - pose3d[:, :1]
        s = float(np.linalg.norm(rel[:, 1:], axis=-1).mean())
        if s > 10 * ref:
            raise D3PRError(
                f"{name}: joints lie {s:.3g} units from the root on average, {what} "
                f"{ref:.3g} m; are they millimetres? convert to metres"
            )
        if 0 < s < ref / 10:
            raise D3PRError(
                f"{name}: joints lie {s:.3g} units from the root on average, {what} "
                f"{ref:.3g} m; wrong units? give metres"
            )
    if pose2d is not None and len(pose2d):
        lim = max(3.0, 3 * absmax) if absmax else 10.0
        m = float(np.abs(pose2d).max())
        if m > lim:
            within = (
                f"training data lay within ±{absmax:.3g}"
                if absmax
                else "normalised 2D lies within about ±1"
            )
            raise D3PRError(
                f"{name}: 2D values up to {m:.4g} look like pixels; normalise them like "
                f"VideoPose3D (x / w * 2 - [1, h / w]); {within}"
            )


@dataclass
class PredictionSequence:
    """One sequence of a predictions file. Arrays are float32 ``(F, 17, C)``; ``intrinsics``: the
    camera that saw it (:class:`d3prefiner.geometry.Intrinsics`, pixels), None if unknown."""

    subject: str
    action: str
    camera: str
    fps: float
    pose2d: np.ndarray
    pred3d: np.ndarray
    gt3d: np.ndarray | None = None
    fold: int = -1
    split: str = ""
    intrinsics: Intrinsics | None = None

    def __post_init__(self) -> None:
        where = f"sequence {self.subject}/{self.action}/{self.camera}"
        if self.intrinsics is not None and not isinstance(self.intrinsics, Intrinsics):
            raise D3PRError(
                f"{where}: intrinsics must be a d3prefiner.geometry.Intrinsics or None, got "
                f"{type(self.intrinsics).__name__}"
            )
        check_joints(self.pose2d, NUM_JOINTS, 2, f"{where} pose2d")
        check_joints(self.pred3d, NUM_JOINTS, 3, f"{where} pred3d")
        n = len(self.pred3d)
        if n == 0:
            raise D3PRError(f"{where}: no frames")
        if len(self.pose2d) != n:
            raise D3PRError(f"{where}: pose2d has {len(self.pose2d)} frames, pred3d {n}")
        if self.gt3d is not None:
            check_joints(self.gt3d, NUM_JOINTS, 3, f"{where} gt3d")
            if len(self.gt3d) != n:
                raise D3PRError(f"{where}: gt3d has {len(self.gt3d)} frames, pred3d {n}")
        if not 0 < self.fps <= MAX_FPS:
            raise D3PRError(f"{where}: fps must be > 0 and <= {MAX_FPS:g}, got {self.fps:g}")

    @property
    def num_frames(self) -> int:
        return len(self.pred3d)


@dataclass
class Predictions:
    """A list of :class:`PredictionSequence` plus the estimator's name."""

    sequences: list[PredictionSequence] = field(default_factory=list)
    estimator: str = ""

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self):
        return iter(self.sequences)

    @property
    def has_gt(self) -> bool:
        return bool(self.sequences) and all(s.gt3d is not None for s in self.sequences)

    @property
    def num_frames(self) -> int:
        return sum(s.num_frames for s in self.sequences)

    @property
    def num_with_intrinsics(self) -> int:
        """How many sequences know their camera's intrinsics."""
        return sum(s.intrinsics is not None for s in self.sequences)

    def filter(self, subjects=None, split=None, fold=None) -> Predictions:
        """Sequences whose subject is in ``subjects`` / split equals ``split`` / fold equals ``fold``."""
        keep = [
            s
            for s in self.sequences
            if (subjects is None or s.subject in set(subjects))
            and (split is None or s.split == split)
            and (fold is None or s.fold == fold)
        ]
        return Predictions(keep, self.estimator)

    def with_pred3d(self, pred3d: list[np.ndarray], estimator: str | None = None) -> Predictions:
        """A copy whose ``pred3d`` is replaced per sequence (e.g. by a refinement)."""
        if len(pred3d) != len(self.sequences):
            raise D3PRError(f"expected {len(self.sequences)} sequences, got {len(pred3d)}")
        seqs = [
            replace(s, pred3d=np.asarray(p, dtype=np.float32))
            for s, p in zip(self.sequences, pred3d)
        ]
        return Predictions(seqs, self.estimator if estimator is None else estimator)

    @classmethod
    def pool(cls, parts: Sequence[Predictions], estimator: str | None = None) -> Predictions:
        """The sequences of several predictions files (e.g. several estimators' cross-fitted
        predictions) as one. Cross-fitting folds are renumbered so that the folds of different
        files stay apart (file 0's folds first, then file 1's, ...); ``fold = -1`` stays -1.
        Nothing tells the estimators apart but their poses (no estimator id is kept)."""
        parts = list(parts)
        if not parts or not any(len(p) for p in parts):
            raise D3PRError("pooling needs at least one non-empty predictions file")
        seqs, offset = [], 0
        for p in parts:
            folds = [s.fold for s in p if s.fold >= 0]
            seqs += [replace(s, fold=s.fold + offset if s.fold >= 0 else -1) for s in p]
            offset += max(folds) + 1 if folds else 0
        name = estimator or "pool(" + "+".join(p.estimator or "?" for p in parts) + ")"
        return cls(seqs, name)

    def concat(self, key: str) -> np.ndarray:
        """All frames of one array (``pose2d``, ``pred3d`` or ``gt3d``) back to back ``(N, 17, C)``."""
        arrays = [getattr(s, key) for s in self.sequences]
        if any(a is None for a in arrays):
            raise D3PRError(f"some sequences have no {key}")
        return np.concatenate(arrays, axis=0)

    def save(self, path: str | os.PathLike) -> None:
        """Write the npz atomically (see the module docstring for the layout)."""
        if not self.sequences:
            raise D3PRError(f"{path}: refusing to write an empty predictions file")
        seqs = self.sequences
        arrays = dict(
            version=np.int64(FORMAT_VERSION),
            estimator=np.str_(self.estimator),
            lengths=np.array([s.num_frames for s in seqs], dtype=np.int64),
            subject=np.array([s.subject for s in seqs], dtype=str),
            action=np.array([s.action for s in seqs], dtype=str),
            camera=np.array([s.camera for s in seqs], dtype=str),
            fps=np.array([s.fps for s in seqs], dtype=np.float64),
            fold=np.array([s.fold for s in seqs], dtype=np.int64),
            split=np.array([s.split for s in seqs], dtype=str),
            pose2d=self.concat("pose2d").astype(np.float32),
            pred3d=self.concat("pred3d").astype(np.float32),
        )
        if self.has_gt:
            arrays["gt3d"] = self.concat("gt3d").astype(np.float32)
        if self.num_with_intrinsics:
            arrays.update(_intrinsics_arrays(seqs))
        save_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, need_gt: str = "") -> Predictions:
        """Read a predictions npz, checking every key, shape and value.

        ``need_gt``: what needs ground truth (e.g. "the noise model"); refuses a file without
        ``gt3d`` naming it and the file."""
        d = load_npz(path)
        required = ["lengths", "subject", "action", "camera", "fps", "pose2d", "pred3d"]
        missing = [k for k in required if k not in d]
        if missing:
            raise D3PRError(f"{path}: not a predictions file (missing {', '.join(missing)})")
        if need_gt and "gt3d" not in d:
            raise D3PRError(f"{path}: has no gt3d (ground-truth 3D), which {need_gt} needs")
        version = int(d.get("version", FORMAT_VERSION))
        if version != FORMAT_VERSION:
            raise D3PRError(f"{path}: predictions format version {version} is not supported")
        lengths = d["lengths"].astype(np.int64)
        n = int(lengths.sum())
        for k in ("pose2d", "pred3d", "gt3d"):
            if k in d and len(d[k]) != n:
                raise D3PRError(f"{path}: '{k}' has {len(d[k])} frames, lengths sum to {n}")
        for k in ("subject", "action", "camera", "fps"):
            if len(d[k]) != len(lengths):
                raise D3PRError(
                    f"{path}: '{k}' has {len(d[k])} entries for {len(lengths)} sequences"
                )
        S = len(lengths)
        _check_dtypes(d, path)
        fold, split = _folds_and_splits(d, S, path)
        intrinsics = _load_intrinsics(d, S, path)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        seqs = []
        try:
            for i in range(S):
                sl = slice(int(starts[i]), int(ends[i]))
                seqs.append(
                    PredictionSequence(
                        subject=str(d["subject"][i]),
                        action=str(d["action"][i]),
                        camera=str(d["camera"][i]),
                        fps=float(d["fps"][i]),
                        pose2d=d["pose2d"][sl].astype(np.float32),
                        pred3d=d["pred3d"][sl].astype(np.float32),
                        gt3d=d["gt3d"][sl].astype(np.float32) if "gt3d" in d else None,
                        fold=int(fold[i]),
                        split=str(split[i]),
                        intrinsics=intrinsics[i],
                    )
                )
        except D3PRError as exc:
            raise D3PRError(f"{path}: {exc}") from None
        _check_not_all_zero(seqs, path)
        check_units(d["pose2d"], None, f"{path} pose2d")
        check_units(None, d["pred3d"], f"{path} pred3d")
        check_joint_order(d["pose2d"], d["pred3d"], str(path))
        if "gt3d" in d:
            check_units(None, d["gt3d"], f"{path} gt3d")
        return cls(seqs, str(d.get("estimator", "")))


def _check_dtypes(d: dict, path) -> None:
    """Poses must be real numbers (not bool, complex or text), ``lengths`` whole numbers."""
    for k in ("pose2d", "pred3d", "gt3d", "fps"):
        if k in d and d[k].dtype.kind not in "fiu":
            raise D3PRError(f"{path}: '{k}' holds {d[k].dtype} values; expected real numbers")
    if d["lengths"].dtype.kind not in "iu":
        raise D3PRError(f"{path}: 'lengths' holds {d['lengths'].dtype} values; expected integers")


def _folds_and_splits(d: dict, S: int, path) -> tuple[np.ndarray, np.ndarray]:
    """The ``fold`` (integers >= -1) and ``split`` (one of :data:`SPLITS`) columns, one entry per
    sequence; defaults -1 and ``""`` when absent."""
    fold = np.asarray(d.get("fold", np.full(S, -1)))
    split = np.asarray(d.get("split", np.array([""] * S)))
    for k, a in (("fold", fold), ("split", split)):
        if a.shape != (S,):
            raise D3PRError(
                f"{path}: '{k}' has shape {a.shape}; expected one entry per sequence ({S},)"
            )
    if fold.dtype.kind not in "iu":
        raise D3PRError(
            f"{path}: 'fold' holds {fold.dtype} values; expected integers (-1: no fold)"
        )
    if S and fold.min() < -1:
        raise D3PRError(f"{path}: 'fold' holds {int(fold.min())}; folds are >= 0, or -1 for none")
    if split.dtype.kind != "U":
        raise D3PRError(f"{path}: 'split' holds {split.dtype} values; expected text")
    bad = sorted(set(split.tolist()) - set(SPLITS))
    if bad:
        raise D3PRError(
            f"{path}: 'split' holds unknown value(s) {', '.join(map(repr, bad))}; expected one "
            f"of {', '.join(map(repr, SPLITS))}"
        )
    return fold, split


def _check_not_all_zero(seqs: Sequence[PredictionSequence], path) -> None:
    """Refuse a sequence whose 2D or 3D poses are all zero: a missing estimate, not a pose."""
    for i, s in enumerate(seqs):
        for k in ("pose2d", "pred3d", "gt3d"):
            a = getattr(s, k)
            if a is not None and not np.any(a):
                raise D3PRError(
                    f"{path}: sequence {i} ({s.subject}/{s.action}/{s.camera}) has {k} all "
                    "zero (every joint at 0 in every frame); a missing estimate?"
                )


#: The intrinsics' keys in the npz → (attribute of Intrinsics, columns, required with cam_f).
INTRINSICS_KEYS = {
    "cam_f": ("f", 2, True),
    "cam_c": ("c", 2, True),
    "cam_size": ("size", 2, True),
    "cam_k": ("k", 3, False),
    "cam_p": ("p", 2, False),
}


def _intrinsics_arrays(seqs: Sequence[PredictionSequence]) -> dict[str, np.ndarray]:
    """The ``cam_*`` arrays of the file: one row per sequence, NaN (size 0) where it has none."""
    out = {k: np.full((len(seqs), n), np.nan) for k, (_, n, _) in INTRINSICS_KEYS.items()}  # (S, n)
    out["cam_size"] = np.zeros((len(seqs), 2), dtype=np.int64)
    for i, s in enumerate(seqs):
        c = s.intrinsics
        if c is not None:
            out["cam_f"][i], out["cam_c"][i], out["cam_k"][i], out["cam_p"][i] = c.f, c.c, c.k, c.p
            out["cam_size"][i] = (c.width, c.height)
    return out


def _load_intrinsics(d: dict, S: int, path) -> list[Intrinsics | None]:
    """Per sequence its :class:`Intrinsics` from the ``cam_*`` arrays (None where the ``cam_f``
    row is NaN, or for every sequence when the file has none); one error naming the field."""
    present = [k for k in INTRINSICS_KEYS if k in d]
    if not present:
        return [None] * S
    missing = [k for k, (_, _, req) in INTRINSICS_KEYS.items() if req and k not in d]
    if missing:
        raise D3PRError(f"{path}: has {', '.join(present)} but not {', '.join(missing)}")
    arrays = {}
    for k in present:
        n = INTRINSICS_KEYS[k][1]
        a = np.asarray(d[k])
        if a.shape != (S, n) or a.dtype.kind not in "fiu":
            raise D3PRError(
                f"{path}: '{k}' must be numbers of shape ({S}, {n}), got {a.dtype} {a.shape}"
            )
        arrays[k] = a.astype(np.float64)
    has = ~np.isnan(arrays["cam_f"]).all(axis=1)  # (S,)
    for k, a in arrays.items():
        bad = ~np.isfinite(a[has]).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(has)[np.flatnonzero(bad)[0]])
            raise D3PRError(f"{path}: '{k}' of sequence {i} is not finite: {a[i].tolist()}")
    checks = (
        ("cam_f", lambda a: a > 0, "must be > 0 (pixels)"),
        ("cam_size", lambda a: (a >= 1) & (a == np.round(a)), "must be whole pixels >= 1"),
        ("cam_k", lambda a: np.abs(a) <= MAX_RADIAL, f"must be within ±{MAX_RADIAL:g} (a lens's)"),
        ("cam_p", lambda a: np.abs(a) <= MAX_TANGENTIAL, f"must be within ±{MAX_TANGENTIAL:g}"),
    )
    for k, ok, what in checks:
        if k not in arrays:
            continue
        bad = has & ~ok(arrays[k]).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise D3PRError(f"{path}: '{k}' of sequence {i} {what}, got {arrays[k][i].tolist()}")
    out: list[Intrinsics | None] = []
    for i in range(S):
        if not has[i]:
            out.append(None)
            continue
        w, h = (int(v) for v in arrays["cam_size"][i])
        k = arrays["cam_k"][i] if "cam_k" in arrays else np.zeros(3)
        p = arrays["cam_p"][i] if "cam_p" in arrays else np.zeros(2)
        out.append(Intrinsics(arrays["cam_f"][i], arrays["cam_c"][i], w, h, k, p))
    return out


def base_action(action: str) -> str:
    """An action's name without its trial number (``"walking_2"``, ``"Walking 1"`` → ``walking``)."""
    return re.sub(r"[ _-]*\d+$", "", action).strip().lower() or action.lower()


def action_split(preds: Predictions) -> tuple[Predictions, Predictions]:
    """``(fit, held)``: the sequences of ``preds`` split by action, trials of one action together:
    the actions in sorted order, every third (the 3rd, 6th ...) held. Needs two actions or more."""
    names = sorted({base_action(s.action) for s in preds})
    if len(names) < 2:
        raise D3PRError(f"holding actions out needs two actions or more; got {names or 'none'}")
    held = {n for i, n in enumerate(names) if i % 3 == 2} or {names[-1]}
    parts = ([s for s in preds if base_action(s.action) not in held],
             [s for s in preds if base_action(s.action) in held])  # fmt: skip
    return tuple(Predictions(p, preds.estimator) for p in parts)

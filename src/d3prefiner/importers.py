"""Put any 3D pose estimator's output into the predictions file (:mod:`d3prefiner.predictions`).

* :func:`from_arrays` — one sequence from plain arrays: 2D ``(F, 17, 2)`` (H36M-17, normalised or
  pixels with the image size) or COCO-17 ``(F, 17, 2|3)``, and 3D ``(F, 17, 3)``;
* :func:`from_videopose3d_dict` — VideoPose3D-style nested dicts ``subject → action → array`` (or a
  list of arrays, one per camera).

Both accept the camera's intrinsics (:func:`as_intrinsics`), which the geometric baselines use.
3D is made root-relative (joint 0 subtracted) and must be in metres: input whose root-relative
coordinates reach beyond :data:`MAX_METRES` is refused as probably millimetres unless
``units="mm"`` is given (it is then divided by 1000). See ``docs/predictions.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import D3PRError, check_finite, check_shape
from .geometry import Intrinsics
from .predictions import Predictions, PredictionSequence
from .skeleton import NUM_JOINTS, coco17_to_h36m17

#: Largest plausible |coordinate| of a root-relative joint in metres (a person is < 2.5 m tall).
MAX_METRES = 3.0
#: Largest plausible |coordinate| of VideoPose3D-normalised 2D (the image spans [-1, 1] in x).
MAX_NORMALISED = 4.0


def _pose2d(pose2d, coco: bool, image_size: tuple[float, float] | None, where: str) -> np.ndarray:
    a = np.asarray(pose2d, dtype=np.float64)
    if coco:
        check_shape(a, "F 17 C", f"{where} COCO-17 2D")
        if a.shape[-1] not in (2, 3):
            raise D3PRError(f"{where} COCO-17 2D: expected (F, 17, 2|3), got {a.shape}")
        check_finite(a, f"{where} COCO-17 2D")
        a = coco17_to_h36m17(a)[..., :2]  # confidence dropped
    else:
        check_shape(a, f"F {NUM_JOINTS} 2", f"{where} pose2d")
        check_finite(a, f"{where} pose2d")
    if image_size is not None:
        w, h = (float(v) for v in image_size)
        if not (w > 0 and h > 0):
            raise D3PRError(f"{where}: image_size must be positive (w, h), got {image_size}")
        a = a / w * 2.0 - np.array([1.0, h / w])  # pixels → VideoPose3D-normalised
    elif np.abs(a).max(initial=0.0) > MAX_NORMALISED:
        raise D3PRError(
            f"{where} pose2d: values up to {np.abs(a).max():.0f} look like pixels; pass "
            "image_size=(width, height) to normalise them"
        )
    return a.astype(np.float32)


def _pose3d(pose3d, units: str, name: str) -> np.ndarray:
    a = np.asarray(pose3d, dtype=np.float64)
    check_shape(a, f"F {NUM_JOINTS} 3", name)
    check_finite(a, name)
    a = a - a[:, :1]  # root-relative
    if units == "mm":
        a = a / 1000.0
    elif units != "m":
        raise D3PRError(f"{name}: units must be 'm' or 'mm', got {units!r}")
    biggest = float(np.abs(a).max(initial=0.0))
    if biggest > MAX_METRES:
        hint = "; pass units='mm'" if units == "m" else ""
        raise D3PRError(
            f"{name}: joints reach {biggest:.1f} m from the root, which looks like millimetres "
            f"(expected metres){hint}"
        )
    return a.astype(np.float32)


def as_intrinsics(value, where: str = "intrinsics") -> Intrinsics | None:
    """A camera's intrinsics from what an estimator's output may hold.

    Args:
        value: None; an :class:`~d3prefiner.geometry.Intrinsics`; a
            :class:`~d3prefiner.data.cameras.Camera`; or a mapping in pixels, either ours
            (``f``, ``c``, ``width``, ``height``, optional ``k``, ``p`` in H36M order; a scalar ``f``
            is both focal lengths) or VideoPose3D's ``h36m_cameras_intrinsic_params`` entry
            (``focal_length``, ``center``, ``res_w``, ``res_h``, optional ``radial_distortion``,
            ``tangential_distortion``, whose two numbers VideoPose3D stores in reverse H36M order).
        where: names the sequence in errors.

    Returns:
        The :class:`Intrinsics`, or None.
    """
    if value is None or isinstance(value, Intrinsics):
        return value
    if all(hasattr(value, a) for a in ("f", "c", "width", "height", "k", "p")):
        return Intrinsics.from_camera(value)
    if not isinstance(value, Mapping):
        raise D3PRError(f"{where}: intrinsics must be a mapping or Intrinsics, got {value!r}")
    try:
        if "focal_length" in value:  # VideoPose3D's layout
            p = value.get("tangential_distortion")
            return Intrinsics(
                f=value["focal_length"],
                c=value["center"],
                width=value["res_w"],
                height=value["res_h"],
                k=value.get("radial_distortion", np.zeros(3)),
                p=np.zeros(2) if p is None else np.asarray(p, dtype=np.float64)[::-1],
            )
        f = np.broadcast_to(np.asarray(value["f"], dtype=np.float64), (2,))
        return Intrinsics(
            f=f,
            c=value["c"],
            width=value["width"],
            height=value["height"],
            k=value.get("k", np.zeros(3)),
            p=value.get("p", np.zeros(2)),
        )
    except KeyError as exc:
        raise D3PRError(f"{where}: intrinsics lack {exc}") from None
    except (TypeError, ValueError) as exc:
        raise D3PRError(f"{where}: {exc}") from None


def from_arrays(
    pose2d,
    pose3d,
    gt3d=None,
    *,
    subject: str = "S?",
    action: str = "unknown",
    camera: str = "0",
    fps: float = 50.0,
    image_size: tuple[float, float] | None = None,
    coco: bool = False,
    units: str = "m",
    fold: int = -1,
    split: str = "",
    intrinsics=None,
) -> PredictionSequence:
    """One predictions-file sequence from plain arrays.

    Args:
        pose2d: the estimator's 2D input, H36M-17 ``(F, 17, 2)``; or COCO-17 ``(F, 17, 2|3)``
            with ``coco=True`` (converted by :func:`~d3prefiner.skeleton.coco17_to_h36m17`,
            confidence dropped). Pixels if ``image_size`` is given, else VideoPose3D-normalised.
        pose3d: the estimator's 3D ``(F, 17, 3)``, camera frame, H36M-17 order.
        gt3d: ground-truth 3D ``(F, 17, 3)`` in the same frame and units, if known.
        subject, action, camera, fps: what the sequence is.
        image_size: ``(width, height)`` in pixels when ``pose2d`` is in pixels.
        coco: ``pose2d`` is COCO-17.
        units: ``"m"`` (default) or ``"mm"`` for the 3D arrays.
        fold, split: cross-fitting fold and split (see the predictions file).
        intrinsics: the camera's intrinsics, pixels, if known (:func:`as_intrinsics`): the
            geometric baselines use them (else a default focal length).

    Returns:
        The :class:`PredictionSequence` (3D root-relative metres, float32).

    Raises:
        D3PRError: on wrong shapes, NaN/inf, pixel-looking 2D without ``image_size``,
            millimetre-looking 3D without ``units="mm"``, or frame counts that differ.
    """
    where = f"sequence {subject}/{action}/{camera}"
    p2 = _pose2d(pose2d, coco, image_size, where)
    p3 = _pose3d(pose3d, units, f"{where} pose3d")
    gt = None if gt3d is None else _pose3d(gt3d, units, f"{where} gt3d")
    return PredictionSequence(
        subject=str(subject),
        action=str(action),
        camera=str(camera),
        fps=float(fps),
        pose2d=p2,
        pred3d=p3,
        gt3d=gt,
        fold=int(fold),
        split=str(split),
        intrinsics=as_intrinsics(intrinsics, where),
    )


def _is_intrinsics_mapping(m: Mapping) -> bool:
    """Whether ``m`` is one camera's intrinsics rather than a dict camera name → intrinsics."""
    return "f" in m or "focal_length" in m


def _per_camera(value, n_expected: int | None, where: str) -> list[np.ndarray]:
    if isinstance(value, (list, tuple)):
        arrays = [np.asarray(v) for v in value]
    else:
        arrays = [np.asarray(value)]
    if n_expected is not None and len(arrays) != n_expected:
        raise D3PRError(f"{where}: {len(arrays)} camera(s), expected {n_expected}")
    return arrays


def from_videopose3d_dict(
    pred3d: Mapping[str, Mapping[str, Any]],
    pose2d: Mapping[str, Mapping[str, Any]],
    gt3d: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    cameras: Sequence[str] | None = None,
    fps: float = 50.0,
    image_size: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
    coco: bool = False,
    units: str = "m",
    trim: bool = False,
    estimator: str = "",
    split: str = "",
    fold: int = -1,
    intrinsics=None,
) -> Predictions:
    """A predictions file from VideoPose3D-style dicts ``subject → action → array | [array, ...]``.

    Each leaf is one array ``(F, 17, C)`` or a list of them, one per camera (VideoPose3D's
    ``positions_2d`` / per-camera 3D). ``pose2d`` (and ``gt3d``) must have the same subjects,
    actions and cameras as ``pred3d``.

    Args:
        pred3d: estimated 3D, camera frame.
        pose2d: 2D input (see :func:`from_arrays` for units and COCO-17).
        gt3d: ground truth 3D, optional.
        cameras: camera names, by index (default ``"0"``, ``"1"``, …).
        fps: frame rate of every sequence.
        image_size: ``(w, h)`` for pixel 2D, or a dict camera name → ``(w, h)``.
        coco: 2D is COCO-17.
        units: ``"m"`` or ``"mm"`` for the 3D arrays.
        trim: cut 2D/3D of a sequence to the shortest of them (VideoPose3D has a few sequences
            whose 2D is a frame or two longer); otherwise differing lengths are an error.
        estimator: name stored in the file.
        split: split of every sequence.
        fold: cross-fitting fold of every sequence (-1: none; see ``docs/predictions.md``).
        intrinsics: the cameras' intrinsics (:func:`as_intrinsics`): one for every camera, or a
            dict camera name → intrinsics (VideoPose3D's per-camera entries fit as they are).

    Returns:
        :class:`~d3prefiner.predictions.Predictions`, sequences in subject/action/camera order.
    """
    seqs = []
    for subject, actions in pred3d.items():
        if subject not in pose2d:
            raise D3PRError(f"pose2d has no subject {subject!r}")
        if gt3d is not None and subject not in gt3d:
            raise D3PRError(f"gt3d has no subject {subject!r}")
        for action, value in actions.items():
            where = f"{subject}/{action}"
            if action not in pose2d[subject]:
                raise D3PRError(f"pose2d has no sequence {where}")
            p3 = _per_camera(value, None, f"pred3d {where}")
            p2 = _per_camera(pose2d[subject][action], len(p3), f"pose2d {where}")
            gt = None
            if gt3d is not None:
                if action not in gt3d[subject]:
                    raise D3PRError(f"gt3d has no sequence {where}")
                gt = _per_camera(gt3d[subject][action], len(p3), f"gt3d {where}")
            if cameras is not None and len(cameras) < len(p3):
                raise D3PRError(f"{where}: {len(p3)} cameras but only {len(cameras)} names")
            for c in range(len(p3)):
                name = cameras[c] if cameras is not None else str(c)
                arrays = [p2[c], p3[c]] + ([gt[c]] if gt is not None else [])
                n = min(len(a) for a in arrays)
                if not trim and any(len(a) != n for a in arrays):
                    lens = ", ".join(str(len(a)) for a in arrays)
                    raise D3PRError(
                        f"{where} camera {name}: frame counts differ ({lens}); pass trim=True"
                    )
                size = image_size.get(name) if isinstance(image_size, Mapping) else image_size
                intr = intrinsics
                if isinstance(intrinsics, Mapping) and not _is_intrinsics_mapping(intrinsics):
                    intr = intrinsics.get(name)
                seqs.append(
                    from_arrays(
                        p2[c][:n],
                        p3[c][:n],
                        None if gt is None else gt[c][:n],
                        subject=subject,
                        action=action,
                        camera=name,
                        fps=fps,
                        image_size=size,
                        coco=coco,
                        units=units,
                        split=split,
                        fold=fold,
                        intrinsics=intr,
                    )
                )
    if not seqs:
        raise D3PRError("no sequences to import")
    return Predictions(seqs, estimator)

"""2D keypoints files: one person's COCO-17 or BlazePose-33 keypoints in pixels, so that
``d3pr video`` can skip detection (and so that its own 2D stage can be reused).

npz: ``keypoints (F, J, 2 | 3)`` pixels (a third channel: the confidence), optional
``confidence (F, J)``, ``width`` and ``height`` (pixels, required), ``fps`` (or ``--fps``),
optional ``world (F, 33, 3)`` (BlazePose's metric 3D, metres), ``start`` (the first frame's
index in the video) and ``layout``: ``coco17`` (the default for J = 17), ``blazepose33`` (J = 33)
or ``h36m17`` (H36M-17 in VideoPose3D order, taken as it is). NaN marks a missing joint.

JSON: ``{"width": W, "height": H, "fps": R, "keypoints": [frame, ...]}`` where each frame is a
list of J ``[x, y]`` or ``[x, y, confidence]`` triples, or ``null`` when nobody was found;
optionally ``"layout"`` as above.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, D3PRError
from ..io import load_npz, save_npz
from .joints import DEFAULT_LAYOUT, LAYOUTS

#: Suffixes read as keypoints files (anything else is taken for a video).
KEYPOINT_SUFFIXES = (".npz", ".json")


@dataclass
class Keypoints:
    """One person's 2D keypoints: ``points (F, J, 2)`` pixels, ``conf (F, J)``, J = 17 or 33;
    ``world (F, 33, 3)`` BlazePose's own 3D or None; the image size and frame rate."""

    points: np.ndarray
    conf: np.ndarray
    width: int
    height: int
    fps: float
    world: np.ndarray | None = None
    start: int = 0
    layout: str = ""

    def __post_init__(self) -> None:
        self.layout = self.layout or DEFAULT_LAYOUT[self.points.shape[1]]


def is_keypoints_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in KEYPOINT_SUFFIXES


def _check(kp: np.ndarray, path) -> np.ndarray:
    kp = np.asarray(kp, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] not in (2, 3):
        raise D3PRError(f"{path}: keypoints must be (frames, joints, 2 or 3), got {kp.shape}")
    if kp.shape[1] not in DEFAULT_LAYOUT:
        raise D3PRError(
            f"{path}: {kp.shape[1]} joints per frame; expected 17 (COCO-17) or 33 (BlazePose-33)"
        )
    if np.isinf(kp).any():
        raise D3PRError(f"{path}: keypoints hold inf values (NaN marks a missing joint)")
    return kp


def _scalar(d: dict, key: str, path, fallback=None) -> float:
    value = d.get(key, fallback)
    if value is None:
        if key == "fps":
            raise ArgumentError("fps", f"is needed: {path} gives no frame rate ('fps')")
        raise D3PRError(
            f"{path}: no '{key}' (the image {key} in pixels, needed to normalise the 2D)"
        )
    try:
        v = float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        raise D3PRError(f"{path}: '{key}' must be one number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise D3PRError(f"{path}: '{key}' must be > 0, got {v:g}")
    return v


def _from_json(path: Path) -> dict:
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise D3PRError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(d, dict) or not isinstance(d.get("keypoints"), list) or not d["keypoints"]:
        raise D3PRError(f"{path}: expected an object with a non-empty 'keypoints' list")
    frames = [f for f in d["keypoints"] if f is not None]
    if not frames:
        raise D3PRError(f"{path}: no frame holds keypoints")
    try:
        shape = np.asarray(frames[0], dtype=np.float64).shape
        kp = np.array([np.full(shape, np.nan) if f is None else f for f in d["keypoints"]],
                      dtype=np.float64)  # fmt: skip
    except (TypeError, ValueError):
        raise D3PRError(f"{path}: frames must be lists of [x, y(, confidence)] numbers") from None
    return {**d, "keypoints": kp}


def read_keypoints(path: str | Path, fps: float | None = None) -> Keypoints:
    """Read a keypoints file (see the module docstring); ``fps`` overrides the file's rate.

    Raises:
        D3PRError: a wrong joint count or shape, no image size, no frame rate.
    """
    path = Path(path)
    d = _from_json(path) if path.suffix.lower() == ".json" else load_npz(path)
    if "keypoints" not in d:
        raise D3PRError(f"{path}: no 'keypoints' array (frames, 17 or 33 joints, 2 or 3)")
    kp = _check(d["keypoints"], path)
    conf = (
        kp[..., 2] if kp.shape[2] == 3 else np.asarray(d.get("confidence", np.ones(kp.shape[:2])))
    )
    if conf.shape != kp.shape[:2]:
        raise D3PRError(f"{path}: 'confidence' has shape {conf.shape}, expected {kp.shape[:2]}")
    world = d.get("world")
    if world is not None and np.shape(world) != (len(kp), 33, 3):
        raise D3PRError(f"{path}: 'world' has shape {np.shape(world)}, expected ({len(kp)}, 33, 3)")
    layout = str(np.asarray(d.get("layout", DEFAULT_LAYOUT[kp.shape[1]])))
    if LAYOUTS.get(layout) != kp.shape[1]:
        raise D3PRError(
            f"{path}: layout {layout!r} with {kp.shape[1]} joints; expected one of "
            + ", ".join(f"{k} ({n} joints)" for k, n in LAYOUTS.items())
        )
    size = [_scalar(d, k, path) for k in ("width", "height")]
    if any(int(s) != s for s in size):
        raise D3PRError(f"{path}: width and height must be whole pixels, got {size}")
    return Keypoints(kp[..., :2], np.asarray(conf, dtype=np.float64), int(size[0]), int(size[1]),
                     float(fps) if fps else _scalar(d, "fps", path),
                     None if world is None else np.asarray(world, dtype=np.float64),
                     int(np.asarray(d.get("start", 0))), layout)  # fmt: skip


def write_keypoints(path: str | Path, kp: Keypoints) -> None:
    """Write ``kp`` as an npz keypoints file, atomically."""
    arrays = dict(keypoints=kp.points, confidence=kp.conf, width=np.int64(kp.width),
                  height=np.int64(kp.height), fps=np.float64(kp.fps), start=np.int64(kp.start),
                  layout=np.str_(kp.layout))  # fmt: skip
    if kp.world is not None:
        arrays["world"] = kp.world
    save_npz(path, **arrays)

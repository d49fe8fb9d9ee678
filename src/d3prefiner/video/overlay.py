"""``overlay.mp4``: each video frame with the detector's 2D skeleton (H36M-17; joints filled
across a gap drawn hollow), beside the 3D skeletons seen from the side: base green, refined blue
(the palette of :mod:`d3prefiner.viz`). A GIF when OpenCV has no MP4 encoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..io import atomic_path
from ..skeleton import H36M17
from ..viz import BASE_COLOR, REFINED_COLOR
from .frames import cv2_module, probe, read_frames

#: Height of the overlay video, pixels.
HEIGHT = 480
#: The 3D view: turned this far about the vertical axis, and tilted down, degrees.
YAW, PITCH = 55.0, 15.0
TWOD_COLOR = (40, 220, 255)  # BGR: amber, for the detector's 2D


def bgr(hex_color: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` → OpenCV's ``(b, g, r)``."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r


def view_rotation(yaw: float = YAW, pitch: float = PITCH) -> np.ndarray:
    """``(3, 3)`` rotation of camera-frame points (x right, y down, z forward) for the side view."""
    a, b = np.radians(yaw), np.radians(pitch)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return tilt @ turn


def project_view(pose: np.ndarray, centre: tuple[float, float], scale: float) -> np.ndarray:
    """Root-relative 3D ``(17, 3)`` metres → panel pixels ``(17, 2)`` (orthographic side view)."""
    p = pose @ view_rotation().T  # (17, 3)
    return np.asarray(centre) + scale * p[:, :2]


def draw_skeleton(img: np.ndarray, pts: np.ndarray, color, hollow=None, thickness: int = 2):
    """H36M-17 bones and joints of ``pts (17, 2)`` pixels; joints where ``hollow`` drawn open."""
    cv2 = cv2_module()
    p = np.round(pts).astype(int)
    for child, parent in H36M17.bones:
        cv2.line(img, tuple(p[child]), tuple(p[parent]), color, thickness, cv2.LINE_AA)
    for j in range(17):
        filled = -1 if hollow is None or not hollow[j] else 1
        cv2.circle(img, tuple(p[j]), thickness + 1, color, filled, cv2.LINE_AA)


def _frames(result, src: Path, n: int) -> Iterator[np.ndarray]:
    """The video's frames, or black frames for a keypoints file."""
    if src.is_file() and src.suffix.lower() in (".npz", ".json"):
        for _ in range(n):
            yield np.zeros((result.height, result.width, 3), np.uint8)
        return
    yield from read_frames(probe(src, result.fps, n))


def inset(img: np.ndarray, pts: np.ndarray, hollow, share: float = 0.45) -> None:
    """Zoom into the region around the 2D ``pts (17, 2)`` and paste it, skeleton drawn, into the
    lower left corner of ``img`` (in place) when the person is small, so the 2D stays readable."""
    cv2 = cv2_module()
    h, w = img.shape[:2]
    lo, hi = pts.min(0), pts.max(0)
    side = int(1.5 * max(hi - lo))
    if side >= share * h or side < 8:
        return
    size = int(share * h)
    cx, cy = ((lo + hi) / 2).astype(int)
    x0, y0 = np.clip([cx - side // 2, cy - side // 2], 0, [w - side, h - side])
    crop = img[y0 : y0 + side, x0 : x0 + side]
    zoom = cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)
    draw_skeleton(zoom, (pts - [x0, y0]) * (size / side), TWOD_COLOR, hollow)
    img[h - size :, :size] = zoom
    cv2.rectangle(img, (0, h - size), (size - 1, h - 1), (255, 255, 255), 2)
    cv2.rectangle(img, (int(x0), int(y0)), (int(x0) + side, int(y0) + side), (255, 255, 255), 1)


def render_frame(frame: np.ndarray, t: int, result) -> np.ndarray:
    """One overlay frame: ``frame`` with the 2D at video frame ``t`` beside the 3D panel."""
    cv2 = cv2_module()
    s = HEIGHT / result.height
    left = cv2.resize(frame, (int(round(result.width * s)), HEIGHT))
    panel = np.full((HEIGHT, HEIGHT, 3), 255, np.uint8)
    active = [g for g in result.segments if g.start <= t < g.start + g.frames]
    if active:
        g = active[0]
        inset(left, g.points[t - g.start] * s, g.filled[t - g.start])
    for k, g in enumerate(active):
        i = t - g.start
        draw_skeleton(left, g.points[i] * s, TWOD_COLOR, g.filled[i], thickness=1)
        centre = (HEIGHT * (k + 0.5) / len(active), HEIGHT * 0.5)
        scale = HEIGHT * 0.4 / max(1, len(active))
        draw_skeleton(panel, project_view(g.base[i], centre, scale), bgr(BASE_COLOR), None, 4)
        draw_skeleton(panel, project_view(g.refined[i], centre, scale), bgr(REFINED_COLOR))
    text = [(f"base: {result.estimator}", bgr(BASE_COLOR)), ("refined" if result.applied else "refined: no refiner given", bgr(REFINED_COLOR)),
            (f"frame {t}  {t / result.fps:.1f} s", (60, 60, 60))]  # fmt: skip
    for row, (line, color) in enumerate(text):
        cv2.putText(panel, line, (10, 24 + 22 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, 1,
                    cv2.LINE_AA)  # fmt: skip
    return np.concatenate([left, panel], axis=1)


def write_overlay(result, src: Path, out: Path, max_frames: int | None, progress: bool) -> Path:
    """Write ``out/overlay.mp4`` (or ``overlay.gif``) over the frames up to the last segment's."""
    cv2 = cv2_module()
    end = max(g.start + g.frames for g in result.segments)
    frames = tqdm(_frames(result, src, end), total=end, disable=not progress, desc="overlay")
    images = (render_frame(f, t, result) for t, f in enumerate(frames))
    width = int(round(result.width * HEIGHT / result.height)) + HEIGHT
    path = out / "overlay.mp4"
    with atomic_path(path, ".mp4") as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), result.fps,
                                 (width, HEIGHT))  # fmt: skip
        if writer.isOpened():
            for img in images:
                writer.write(img)
            writer.release()
    if path.stat().st_size:
        return path
    path.unlink()  # no MP4 encoder: nothing was written
    return _write_gif(out / "overlay.gif", list(images), result.fps)


def _write_gif(path: Path, images: list[np.ndarray], fps: float) -> Path:
    """The fallback without an MP4 encoder: an animated GIF at half size."""
    from PIL import Image

    pics = [Image.fromarray(np.ascontiguousarray(i[::2, ::2, ::-1])) for i in images]
    with atomic_path(path, ".gif") as tmp:
        pics[0].save(tmp, save_all=True, append_images=pics[1:], duration=1000 / fps, loop=0)
    return path

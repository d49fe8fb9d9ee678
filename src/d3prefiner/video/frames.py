"""Frames from a video file or a folder of images (OpenCV), with the video's size and rate."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, D3PRError

#: Image files a folder of frames may hold (read in name order).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def cv2_module():
    """OpenCV, or an error that says how to install the video extra."""
    try:
        import cv2
    except ImportError:
        raise D3PRError(
            'video input needs OpenCV and MediaPipe: pip install -e ".[video]" (or '
            "pip install mediapipe==0.10.14)"
        ) from None
    return cv2


@dataclass(frozen=True)
class VideoInfo:
    """What a video is: ``width`` × ``height`` pixels, ``fps``, ``frames`` (the count to read)."""

    path: Path
    width: int
    height: int
    fps: float
    frames: int

    @property
    def is_folder(self) -> bool:
        return self.path.is_dir()


def _folder_images(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _first_frame(path: Path) -> np.ndarray:
    cv2 = cv2_module()
    if path.is_dir():
        images = _folder_images(path)
        if not images:
            raise D3PRError(f"{path}: a folder with no image files ({', '.join(IMAGE_SUFFIXES)})")
        frame = cv2.imread(str(images[0]))
        if frame is None:
            raise D3PRError(f"{images[0]}: not a readable image")
        return frame
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read() if cap.isOpened() else (False, None)
    cap.release()
    if not ok or frame is None:
        raise D3PRError(f"{path}: not a readable video (OpenCV could not decode a frame of it)")
    return frame


def _count(path: Path) -> tuple[int, float]:
    """Frames and frame rate the container declares (a folder: its images, rate 0)."""
    cv2 = cv2_module()
    if path.is_dir():
        return len(_folder_images(path)), 0.0
    cap = cv2.VideoCapture(str(path))
    n, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS))
    if n <= 0:  # some containers do not say: count them
        n = 0
        while cap.grab():
            n += 1
    cap.release()
    return n, fps


def probe(path: str | Path, fps: float | None = None, max_frames: int | None = None) -> VideoInfo:
    """Check that ``path`` (a video file or a folder of images) is readable and describe it.

    Args:
        fps: the frame rate, overriding the file's (required for a folder of images).
        max_frames: read at most this many frames.

    Raises:
        D3PRError: not found, unreadable, no frame rate.
    """
    path = Path(path)
    if not path.exists():
        raise D3PRError(f"{path}: file not found")
    frame = _first_frame(path)
    n, own_fps = _count(path)
    rate = fps or own_fps
    if not rate or not np.isfinite(rate) or rate <= 0:
        what = "a folder of frames has" if path.is_dir() else "the video declares"
        raise ArgumentError("fps", f"is needed: {what} no frame rate ({path})")
    if max_frames:
        n = min(n, max_frames)
    h, w = frame.shape[:2]
    return VideoInfo(path, int(w), int(h), float(rate), max(n, 1))


def read_frames(info: VideoInfo) -> Iterator[np.ndarray]:
    """The frames ``(H, W, 3)`` uint8 BGR of a probed video, at most ``info.frames`` of them; a
    frame of another size raises :class:`D3PRError`."""
    cv2 = cv2_module()
    if info.is_folder:
        source = (cv2.imread(str(p)) for p in _folder_images(info.path))
    else:
        source = _video_frames(info.path)
    for i, frame in enumerate(source):
        if i >= info.frames:
            break
        if frame is None or frame.shape[:2] != (info.height, info.width):
            got = "unreadable" if frame is None else f"{frame.shape[1]}x{frame.shape[0]}"
            raise D3PRError(f"{info.path}: frame {i} is {got}, expected {info.width}x{info.height}")
        yield frame


def _video_frames(path: Path) -> Iterator[np.ndarray]:
    cv2 = cv2_module()
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()

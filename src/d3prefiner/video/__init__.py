"""From a video to 3D motion (``d3pr video``): frames → people boxes and tracks (OpenCV HOG) →
BlazePose 2D on upscaled crops → H36M-17 (:mod:`.joints`) with gaps filled (:mod:`.gaps`) →
lifted (a lifter run, or BlazePose's own 3D) → refined → trajectory, BVH, overlay and report.

OpenCV and MediaPipe come with the ``video`` extra (``pip install -e ".[video]"``); only the
detection stages and the overlay need them.
"""

from __future__ import annotations

from .pipeline import VideoOptions, is_video_output
from .run import VideoResult, run_video


def set_threads(threads: int) -> None:
    """OpenCV's threads: ``threads`` (0: torch's count, as set by the CLI)."""
    import torch

    try:
        import cv2
    except ImportError:
        return
    cv2.setNumThreads(threads or torch.get_num_threads())


__all__ = ["VideoOptions", "VideoResult", "is_video_output", "run_video", "set_threads"]

"""``d3pr video``: a video file, a folder of frames or a 2D keypoints file → 3D motion.

Stages (each writes atomically into the output folder and is skipped when run again with the
same input and options; ``work/stages.json`` records what each was made from):

1. ``people``: HOG people boxes in every frame, tracked by IoU (``work/people.npz``);
2. ``2d``: BlazePose on upscaled crops of the chosen tracks (``work/person<N>.npz``, a keypoints
   file :mod:`d3prefiner.video.kpfile` reads back);
3. lift (a lifter run, or BlazePose's own 3D), refine, trajectory → ``poses.npz``, the BVH,
   ``overlay.mp4`` and ``report.md``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ArgumentError, D3PRError
from ..io import load_json, save_json
from .gaps import MAX_GAP, MIN_CONFIDENCE, MIN_SEGMENT
from .lift import BASES

STAGES_FILE = "work/stages.json"


@dataclass(frozen=True)
class VideoOptions:
    """What ``d3pr video`` is asked for (see ``d3pr video --help``)."""

    person: str = "0"
    base: str = "lifter"
    lifter: str | None = None
    refiner: str | None = None
    focal: float | None = None
    fps: float | None = None
    max_frames: int | None = None
    min_conf: float = MIN_CONFIDENCE
    max_gap: int = MAX_GAP
    overlay: bool = True
    only_2d: bool = False
    causal: bool = False

    def __post_init__(self) -> None:
        if self.person != "all" and not (self.person.isdigit()):
            raise ArgumentError(
                "person", f"must be a track number (0, 1, ...) or all, got {self.person!r}"
            )
        if self.base not in BASES:
            raise ArgumentError("base", f"must be one of {', '.join(BASES)}, got {self.base!r}")
        if self.base == "lifter" and not self.lifter and not self.only_2d:
            from .lift import missing_estimator_message

            raise ArgumentError("lifter", missing_estimator_message())
        if self.base == "blazepose" and self.lifter:
            raise ArgumentError("lifter", "and --base blazepose are two base estimates; give one")
        if self.focal is not None and not (self.focal > 0 and self.focal < 1e6):
            raise ArgumentError(
                "focal", f"must be a focal length in pixels > 0, got {self.focal:g}"
            )
        if self.fps is not None and not 0 < self.fps <= 1000:
            raise ArgumentError("fps", f"must be > 0 (frames per second), got {self.fps:g}")
        if self.max_frames is not None and self.max_frames < MIN_SEGMENT:
            raise ArgumentError("max_frames", f"must be >= {MIN_SEGMENT}, got {self.max_frames}")
        if not 0 <= self.min_conf < 1:
            raise ArgumentError("min_conf", f"must be in [0, 1), got {self.min_conf:g}")
        if self.max_gap < 0:
            raise ArgumentError("max_gap", f"must be >= 0 frames, got {self.max_gap}")


def fingerprint(*parts) -> str:
    """A short hash of JSON-able parts (input identity and the options a stage depends on)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_identity(path: Path) -> dict:
    """What identifies an input file or folder without reading it: path, size, mtime."""
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime": st.st_mtime_ns}


class Stages:
    """The record of finished stages of one output folder (``work/stages.json``)."""

    def __init__(self, out: Path) -> None:
        self.path = out / STAGES_FILE
        self.done = load_json(self.path) if self.path.exists() else {}

    def is_done(self, name: str, key: str, files: list[Path]) -> bool:
        return self.done.get(name) == key and all(f.exists() for f in files)

    def mark(self, name: str, key) -> None:
        self.done[name] = key
        save_json(self.path, self.done)

    def replace_outputs(self, out: Path, files: list[Path]) -> None:
        """Record the output files of this run and delete those an earlier run recorded that
        this one did not write (another segmentation leaves other BVH names)."""
        names = [f.name for f in files]
        for old in self.done.get("outputs", []):
            if old not in names and (out / old).is_file():
                (out / old).unlink()
        self.mark("outputs", names)


def is_video_output(out: Path) -> bool:
    """Whether ``out`` is a folder an earlier ``d3pr video`` wrote (it may be resumed)."""
    return (out / STAGES_FILE).exists()


def options_key(options: VideoOptions, *names: str) -> dict:
    d = asdict(options)
    return {k: d[k] for k in names}


def check_input(path: Path) -> None:
    if not path.exists():
        raise D3PRError(f"{path}: file not found")

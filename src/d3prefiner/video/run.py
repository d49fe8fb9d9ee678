"""Running ``d3pr video`` end to end (:func:`run_video`); stages in :mod:`.pipeline`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ArgumentError, D3PRError
from .gaps import MIN_SEGMENT
from .kpfile import Keypoints, is_keypoints_file, read_keypoints, write_keypoints
from .motion import Segment, person_segments
from .pipeline import Stages, VideoOptions, file_identity, fingerprint, options_key


@dataclass
class VideoResult:
    """What :func:`run_video` made: the segments (with their 3D), the files written, the
    estimator's name, what the refiner applied, and the seconds each stage took."""

    segments: list[Segment]
    files: list[Path]
    estimator: str
    width: int
    height: int
    fps: float
    focal: float
    applied: str = ""
    quality: list[str] = field(default_factory=list)
    alternatives: dict[str, list] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


class _Timer:
    """Seconds per stage (``with timer("lift"): ...``) and the stages read back from disk."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cached: list[str] = []

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _detect_stage(src: Path, out: Path, options: VideoOptions, stages: Stages, timer: _Timer,
                  progress: bool) -> tuple[list[Keypoints], list[int]]:  # fmt: skip
    """Stages ``people`` and ``2d`` of a video (skipped when already done): keypoints per track."""
    from ..io import load_npz, save_npz
    from .detect import (
        choose_tracks,
        detect_tracks,
        track_keypoints,
        tracks_from_array,
        tracks_to_array,
    )
    from .frames import probe

    info = probe(src, options.fps, options.max_frames)
    if info.frames < MIN_SEGMENT:
        raise D3PRError(
            f"{src}: {info.frames} frame(s); lifting a motion needs at least {MIN_SEGMENT}"
        )
    people_file = out / "work" / "people.npz"
    key = fingerprint(file_identity(src), options_key(options, "fps", "max_frames"))
    with timer("people"):
        if stages.is_done("people", key, [people_file]):
            tracks = tracks_from_array(load_npz(people_file)["tracks"])
            timer.cached.append("people")
        else:
            tracks = detect_tracks(info, progress)
            save_npz(people_file, tracks=tracks_to_array(tracks))
            stages.mark("people", key)
    chosen = choose_tracks(tracks, options.person)
    files = [out / "work" / f"person{k.id}.npz" for k in chosen]
    key2 = fingerprint(key, options.person)
    with timer("2d"):
        if stages.is_done("2d", key2, files):
            kps = [read_keypoints(f) for f in files]
            timer.cached.append("2d")
        else:
            found = track_keypoints(info, chosen, progress=progress)
            kps = [Keypoints(p.points, p.visibility, info.width, info.height, info.fps, p.world,
                             p.start) for p in found]  # fmt: skip
            for f, kp in zip(files, kps):
                write_keypoints(f, kp)
            stages.mark("2d", key2)
    return kps, [k.id for k in chosen]


def load_models(options: VideoOptions, device: str):
    """The lifter run and the refiner, loaded before any work (so that a bad one stops first)."""
    from .lift import LifterRun

    lifter = LifterRun(options.lifter, device) if options.lifter else None
    refiner = None
    if options.refiner:
        from ..refiner import Refiner

        refiner = Refiner.load(options.refiner, device=device)
    return lifter, refiner


def _keypoints_input(src: Path, options: VideoOptions) -> list[Keypoints]:
    """A keypoints file given instead of a video, checked against the options."""
    kp = read_keypoints(src, options.fps)
    if len(kp.points) < MIN_SEGMENT:
        raise D3PRError(
            f"{src}: {len(kp.points)} frame(s); lifting a motion needs at least {MIN_SEGMENT}"
        )
    if options.base == "blazepose" and kp.world is None:
        raise D3PRError(f"{src}: --base blazepose needs BlazePose's 3D ('world') in the file")
    if options.only_2d:
        raise ArgumentError("only_2d", "has nothing to do: the input is already 2D keypoints")
    return [kp]


def _segments(src: Path, kps: list[Keypoints], ids: list[int], options: VideoOptions):
    segs = [s for kp, i in zip(kps, ids)
            for s in person_segments(kp, i, options.min_conf, options.max_gap, MIN_SEGMENT)]  # fmt: skip
    if not segs:
        raise D3PRError(
            f"{src}: no stretch of {MIN_SEGMENT} frames in which every joint of the person was "
            f"found (confidence >= {options.min_conf:g}, gaps up to {options.max_gap} frames "
            "filled); try --min-conf lower or --max-gap higher"
        )
    return segs


def _estimate(result: VideoResult, lifter, refiner, options: VideoOptions, timer: _Timer):
    """Lift, refine, place in the world and score (:mod:`.outputs`, :mod:`.report`)."""
    from .outputs import lift_segments, place_in_world, refine_segments
    from .report import quality_rows

    with timer("lift"):
        preds = lift_segments(result, lifter, options.causal)
    with timer("refine"):
        refine_segments(result, preds, refiner, options.causal)
    with timer("trajectory"):
        place_in_world(result, smooth=not options.causal)
    with timer("quality"):  # before any output: a stage that fails writes nothing
        result.quality = quality_rows(result)


def run_video(src: str | Path, out: str | Path, options: VideoOptions, device: str = "cpu",
              progress: bool = True) -> VideoResult:  # fmt: skip
    """Run every stage of ``d3pr video`` on ``src`` (a video file, a folder of frames or a
    keypoints file) into the folder ``out``; see :mod:`d3prefiner.video.pipeline`.

    Raises:
        D3PRError: unreadable input, too few frames, nobody found, bad models or options.
    """
    from .outputs import default_focal, write_outputs

    src, out = Path(src), Path(out)
    if not src.exists():
        raise D3PRError(f"{src}: file not found")
    lifter, refiner = load_models(options, device)
    stages, timer = Stages(out), _Timer()
    if is_keypoints_file(src):
        kps, ids = _keypoints_input(src, options), [0]
    else:
        kps, ids = _detect_stage(src, out, options, stages, timer, progress)
        if options.only_2d:
            files = [out / "work" / f"person{i}.npz" for i in ids]
            return VideoResult([], files, "", kps[0].width, kps[0].height, kps[0].fps, 0.0,
                               seconds=timer.seconds, cached=timer.cached)  # fmt: skip
    kp0 = kps[0]
    focal = options.focal or default_focal(kp0.width, kp0.height)
    result = VideoResult(_segments(src, kps, ids, options), [], "", kp0.width, kp0.height,
                         kp0.fps, focal, seconds=timer.seconds, cached=timer.cached)  # fmt: skip
    _estimate(result, lifter, refiner, options, timer)
    result.files = write_outputs(result, src, out, options, progress, timer)
    stages.replace_outputs(out, result.files)
    return result

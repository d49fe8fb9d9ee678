"""`d3pr video`: a video (file or folder of frames) or a 2D keypoints file → 3D motion."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import DEVICE, FORCE, PROGRESS, THREADS, setup


def video(
    source: Path = typer.Argument(
        ...,
        help="A video file, a folder of frames, or a 2D keypoints file (.npz / .json, "
        "COCO-17 or BlazePose-33, pixels).",
    ),  # fmt: skip
    out: Path = typer.Option(..., "--out", help="Output folder (run again to resume)."),
    lifter: Path = typer.Option(None, "--lifter", help="A lifter run directory (the base 3D)."),
    base: str = typer.Option("lifter", "--base", help="lifter, or blazepose: BlazePose's own 3D."),
    refiner: Path = typer.Option(None, "--refiner", help="A refiner checkpoint (`d3pr train`)."),
    person: str = typer.Option("0", "--person", help="Track N (0: most often seen) or all."),
    focal: float = typer.Option(None, "--focal", help="Focal length, px (default: diagonal)."),
    fps: float = typer.Option(None, "--fps", help="Frame rate (default: the video's)."),
    max_frames: int = typer.Option(None, "--max-frames", help="Read at most N frames."),
    min_conf: float = typer.Option(
        0.3, "--min-conf", help="Joints below it are missing; short gaps filled."
    ),
    max_gap: int = typer.Option(
        5, "--max-gap", help="Fill gaps up to N frames; absent longer: split."
    ),
    overlay: bool = typer.Option(True, "--overlay/--no-overlay", help="Write overlay.mp4."),
    only_2d: bool = typer.Option(False, "--only-2d", help="Stop after the 2D keypoints files."),
    causal: bool = typer.Option(False, "--causal", help="3D from past and current frames only."),
    device: str = DEVICE,
    threads: int = THREADS,
    progress: bool = PROGRESS,
    force: bool = FORCE,
) -> None:
    """Detect, track, lift, refine and export the people of a video (stages resume)."""
    from ..io import check_output_dir, lock_output
    from ..video import VideoOptions, is_video_output, run_video, set_threads

    options = VideoOptions(person, base, lifter and str(lifter), refiner and str(refiner), focal,
                           fps, max_frames, min_conf, max_gap, overlay, only_2d, causal)  # fmt: skip
    check_output_dir(out, (source, lifter, refiner), resume=is_video_output(out) or None,
                     force=force)  # fmt: skip
    lock_output(out, "--out")
    setup(threads, device)
    set_threads(threads)
    result = run_video(source, out, options, device=device, progress=progress)
    frames = sum(s.frames for s in result.segments)
    if not only_2d:
        typer.echo(f"{len(result.segments)} segment(s), {frames} frames of 3D -> {out}")
    for f in result.files:
        typer.echo(f"  {f}")


def register(app: typer.Typer) -> None:
    """Add ``video`` to the `d3pr` app."""
    app.command("video")(video)

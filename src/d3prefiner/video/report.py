"""``report.md`` of ``d3pr video``: what was read and assumed, what each stage found, the
label-free quality of the base and refined motion (no ground truth exists for a video), and the
time each stage took."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_path


def _segment_rows(result) -> list[str]:
    rows = ["| person | frames (video) | seconds | joints filled | mean 2D confidence |",
            "|---|---|---|---|---|"]  # fmt: skip
    for s in result.segments:
        seen = s.conf[~s.filled]
        rows.append(
            f"| {s.person} | {s.start}–{s.start + s.frames - 1} | {s.frames / result.fps:.1f} | "
            f"{100 * s.filled.mean():.1f} % | {seen.mean() if seen.size else 0:.2f} |"
        )
    return rows


def quality_rows(result) -> list[str]:
    """The label-free metrics (:func:`d3prefiner.quality.label_free`, frame-weighted over the
    segments) of the base, the refined motion and the alternatives, each defined below."""
    from .. import quality

    motions = {"base": [s.base for s in result.segments]}
    if result.applied:
        motions["refined"] = [s.refined for s in result.segments]
    motions.update(result.alternatives)
    rows = {name: quality_of(quality, result, poses) for name, poses in motions.items()}
    lines = quality.table(rows) + [""]
    return lines + [f"* **{n}**: {d}" for n, d in quality.DEFINITIONS.items()]


def quality_of(quality, result, poses: list[np.ndarray]) -> dict[str, float]:
    """:func:`d3prefiner.quality.label_free` of one motion, each metric averaged over the
    segments weighted by their frames (each segment on its own trajectory, fitted from its 2D)."""
    from .lift import intrinsics_of

    intr = intrinsics_of(result)
    n = sum(s.frames for s in result.segments)
    total: dict[str, float] = {}
    for s, p in zip(result.segments, poses):
        m = quality.label_free(p, result.fps, kp2d=s.points, intr=intr, conf=s.conf)
        for k, v in m.items():
            total[k] = total.get(k, 0.0) + float(v) * s.frames / n
    return total


def report_text(result, src: Path, options) -> str:
    """The report as Markdown."""
    focal = "given" if options.focal else "assumed: the image diagonal; set it with --focal"
    lines = [
        f"# d3pr video: {src.name}", "",
        f"* input: `{src}`, {result.width} × {result.height} px, {result.fps:g} fps",
        f"* focal length: {result.focal:.0f} px ({focal})",
        f"* base 3D: {result.estimator}; refiner: "
        + (f"`{options.refiner}` ({result.applied})" if options.refiner else "none (refined = base)"),
        "* causal: the lifter and the refiner saw only the current and past frames; the "
        "trajectory is not smoothed; the floor and up direction come from the whole segment"
        if options.causal else "* offline: every stage saw the whole segment",
        f"* persons: {options.person}; {len(result.segments)} segment(s) of every joint found "
        f"(gaps of up to {options.max_gap} frames below confidence {options.min_conf:g} "
        "interpolated; longer gaps of absent joints split the track)", "",
        *_segment_rows(result), "",
        "## Label-free quality", "",
        "No ground truth exists for a video; these measure plausibility, not accuracy.", "",
        *result.quality, "",
        "## Time per stage", "",
        "| stage | seconds |", "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in result.seconds.items()],
        "", f"(stages done by an earlier run are read back: {', '.join(result.cached) or 'none'})",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_report(result, src: Path, out: Path, options) -> Path:
    path = out / "report.md"
    text = report_text(result, src, options)
    with atomic_path(path, ".md") as tmp:
        tmp.write_text(text)
    return path

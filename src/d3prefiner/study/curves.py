"""Lifter training runs side by side (``d3pr curves``): steps, minutes, precision, frames/s, the
validation MPJPE against training minutes, and the test MPJPE where it is known; as a Markdown
table (:func:`format_curves`) and a figure (:func:`plot_curves`).

A run is a ``d3pr bench`` run folder (its lifters in ``RUN/lifter/<fold0, fold1, ..., full>``,
each with a ``history.json``: the fold lifters validate on the subjects they were trained
without, never the test subjects; the full lifter's test MPJPE is the bench's ``base`` in
``RUN/results.json``) or one ``d3pr lifter train`` run folder (``history.json``; its validation
records are on its ``--val-subjects``). Test MPJPEs not in a bench's results are given by name:
``tests = {"NAME": mm}``, NAME a lifter's label (the run folder's name, or ``RUN/full`` for a
bench's lifter) or a bench run's name (its full lifter).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import read_history
from ..errors import ArgumentError, D3PRError


@dataclass
class LifterCurve:
    """One lifter run: ``points`` are (training minutes, validation MPJPE mm)."""

    label: str
    steps: int
    minutes: float
    precision: str
    frames_per_s: float | None
    points: list[tuple[float, float]] = field(default_factory=list)
    test_mpjpe_mm: float | None = None


def parse_tests(items: Iterable[str]) -> dict[str, float]:
    """``["NAME=MM", ...]`` -> ``{NAME: MM}``."""
    tests = {}
    for item in items:
        name, sep, mm = item.partition("=")
        try:
            tests[name.strip()] = float(mm)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ArgumentError("test", f"must be NAME=MM (e.g. tcn-gt/full=64.3), got {item!r}")
    return tests


def _parts(run: Path) -> list[tuple[str, Path]]:
    """``(label, lifter run folder)`` of a bench run's lifters (folds, then full), or of a run."""
    if (run / "history.json").exists():
        return [(run.name, run)]
    lifters = run / "lifter"
    dirs = sorted(p for p in lifters.glob("*") if (p / "history.json").exists())
    dirs.sort(key=lambda p: p.name == "full")
    if not dirs:
        raise D3PRError(
            f"{run}: no lifter training history (not a `d3pr lifter train` run folder, nor a "
            "`d3pr bench` run with lifter/<name>/history.json)"
        )
    return [(f"{run.name}/{p.name}", p) for p in dirs]


def _bench_test(run: Path) -> float | None:
    """The bench's test MPJPE of its full lifter (``base`` in ``results.json``), if finished."""
    res = run / "results.json"
    if not res.exists():
        return None
    try:
        results = json.loads(res.read_text())
    except json.JSONDecodeError as exc:
        raise D3PRError(f"{res}: not valid JSON ({exc})") from None
    base = (results.get("meta") or {}).get("base", "base")
    return (results.get("methods", {}).get(base) or {}).get("mpjpe_mm")


def lifter_curves(
    runs: Sequence[str | os.PathLike], tests: Mapping[str, float] | None = None
) -> list[LifterCurve]:
    """Every lifter of ``runs`` (see the module docstring), in the order given.

    Raises:
        D3PRError: a run without any lifter history; a name in ``tests`` that is no lifter's.
    """
    tests = dict(tests or {})
    curves, names = [], set()
    for run in map(Path, runs):
        bench_test = _bench_test(run)
        for label, d in _parts(run):
            h = read_history(d)
            records = h.get("records", [])
            fps = [r["frames_per_s"] for r in records if r.get("frames_per_s")]
            test = tests.get(label)
            if test is None and label.endswith("/full"):
                test = tests.get(run.name, bench_test)
            names.update((label, run.name))
            curves.append(LifterCurve(
                label=label, steps=h.get("steps", 0), minutes=h.get("train_seconds", 0) / 60,
                precision=h.get("precision", "—"),
                frames_per_s=sum(fps) / len(fps) if fps else None,
                points=[(r["seconds"] / 60, r["val_mpjpe_mm"]) for r in records
                        if r.get("val_mpjpe_mm") is not None],
                test_mpjpe_mm=test,
            ))  # fmt: skip
    unknown = sorted(set(tests) - names)
    if unknown:
        raise ArgumentError("test", f"names no lifter given: {', '.join(unknown)}")
    return curves


def _minutes(m: float) -> str:
    return f"{m:.0f}" if m >= 10 else f"{m:.2g}"  # 0.0013, 2.5, 12


def format_curves(curves: Sequence[LifterCurve]) -> str:
    """A Markdown table, one row per lifter."""
    lines = [
        "| run | steps | minutes | precision | frames/s | validation MPJPE (mm) vs minutes "
        "| test MPJPE (mm) |",
        "|---|---:|---:|---|---:|---|---:|",
    ]
    for c in curves:
        val = "; ".join(f"{_minutes(m)} min: {mm:.1f}" for m, mm in c.points) or "—"
        fps = "—" if c.frames_per_s is None else f"{c.frames_per_s:.0f}"
        test = "—" if c.test_mpjpe_mm is None else f"{c.test_mpjpe_mm:.1f}"
        lines.append(
            f"| {c.label} | {c.steps} | {c.minutes:.1f} | {c.precision} | {fps} | {val} | {test} |"
        )
    return "\n".join(lines)


def plot_curves(
    curves: Sequence[LifterCurve], path: str | os.PathLike, target: float | None = None,
    title: str = "Lifter convergence",
) -> Path:  # fmt: skip
    """Validation MPJPE against training minutes (a line per lifter) and each known test MPJPE
    at the lifter's training minutes (a star of the line's colour); ``target``: a dashed line.

    Raises:
        D3PRError: no lifter has a validation record or a test MPJPE to draw.
    """
    if not any(c.points or c.test_mpjpe_mm is not None for c in curves):
        raise D3PRError("nothing to plot: no validation records and no test MPJPE")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, c in enumerate(curves):
        colour = f"C{i % 10}"
        if c.points:
            ax.plot(*zip(*c.points), marker="o", ms=4, color=colour, label=c.label)
        if c.test_mpjpe_mm is not None:
            ax.plot(c.minutes, c.test_mpjpe_mm, marker="*", ms=13, ls="none", color=colour,
                    mec="black", mew=0.6, label=f"{c.label}: test")  # fmt: skip
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:g} mm")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("MPJPE (mm): validation (lines), test (stars)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def curves_report(
    runs: Sequence[str | os.PathLike], tests: Iterable[str] = (),
    plot: str | os.PathLike | None = None, target: float | None = None,
    title: str = "Lifter convergence",
) -> tuple[str, Path | None]:  # fmt: skip
    """``d3pr curves``: the table of ``runs``' lifters (``tests`` as ``NAME=MM`` strings, see
    :func:`parse_tests`) and, with ``plot``, the figure written there → ``(table, figure path)``."""
    found = lifter_curves(runs, parse_tests(tests))
    figure = plot_curves(found, plot, target, title) if plot is not None else None
    return format_curves(found), figure

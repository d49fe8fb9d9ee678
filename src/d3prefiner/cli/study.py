"""`d3pr` commands of the study layer that read finished runs: pooled (one refiner for estimators
it never saw, leave one estimator out), summary (results as Markdown) and curves (lifter training
runs side by side)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import PROGRESS, THREADS, resumes_itself, setup

_BENCH_RUNS = typer.Argument(..., help="Finished `d3pr bench` run folders (3 or more).")


def pooled(
    runs: list[Path] = _BENCH_RUNS,
    out: Path = typer.Option(..., "--out", help="Output folder (resumable)."),
    steps: int = typer.Option(
        1200, "--steps", help="The pooled refiner's optimiser steps (400 were too few)."
    ),
    preset: str = typer.Option(
        "cpu", "--preset", help="Denoiser size: cpu, paper, paper8 (eight layers) or tiny."
    ),
    recipe: str = typer.Option("default", "--recipe", help="Refiner recipe: default | paper."),
    threads: int = THREADS,
    only: str = typer.Option(
        None,
        "--only",
        help="Comma-separated estimators (models) or run names to leave out (the others: as "
        "cached in OUT).",
    ),
    recalibrate: bool = typer.Option(
        False,
        "--recalibrate",
        help="Choose the trained pooled refiners' strength and filter again, then score again "
        "every run left out of them.",
    ),
    adapt_steps: int = typer.Option(
        0,
        "--adapt-steps",
        help="Also fine-tune the pooled refiner this many steps on half of each left-out run's "
        "validation subject and score it (0: not).",
    ),
    progress: bool = PROGRESS,
) -> None:
    """Leave one estimator out: a refiner pooled over the others, scored on the one left out.

    The pooled refiner is trained on the cross-fitted errors of the other estimators' runs. Runs
    of one model at several budgets are one estimator, left out together. Prints a table
    per left-out run and writes OUT/results.json; run it again to continue where it stopped.
    """
    from ..study.pooled import PooledConfig, format_results, leave_one_out

    setup(threads)
    names = [n.strip() for n in only.split(",") if n.strip()] if only else None
    config = PooledConfig(steps=steps, preset=preset, recipe=recipe)
    with resumes_itself():
        results = leave_one_out(runs, out, config, progress, names, recalibrate, adapt_steps)
    typer.echo(format_results(results))
    typer.echo(f"wrote {out / 'results.json'}")


def summary(
    runs: list[Path] = typer.Argument(
        ..., help="`d3pr bench` run folders, `d3pr evaluate --out` folders or results.json files."
    ),
    per_action: bool = typer.Option(
        False, "--per-action", help="Also MPJPE and P-MPJPE per action (the paper's tables)."
    ),
) -> None:
    """Finished runs' results as Markdown: every method against the base, one section a run."""
    from ..study.summary import summarize_runs

    typer.echo(summarize_runs(runs, per_action), nl=False)


def curves(
    runs: list[Path] = typer.Argument(
        ..., help="`d3pr bench` run folders and/or `d3pr lifter train` run folders."
    ),
    test: list[str] = typer.Option(
        [],
        "--test",
        metavar="NAME=MM",
        help="The test MPJPE of the lifter NAME (a run folder's name, or RUN/full), drawn at its "
        "training minutes; repeatable. A finished bench's full lifter needs none.",
    ),
    plot: Path = typer.Option(None, "--plot", help="Also draw the curves into this PNG."),
    target: float = typer.Option(None, "--target", help="A dashed line at this MPJPE (mm)."),
    title: str = typer.Option("Lifter convergence", "--title", help="The figure's title."),
) -> None:
    """Lifter runs side by side: training time and speed, validation and test MPJPE.

    Prints steps, minutes, precision, frames/s, the validation MPJPE against training minutes and
    the test MPJPE of each lifter; --plot draws the validation curves and the test stars.
    """
    from ..study.curves import curves_report

    table, figure = curves_report(runs, test, plot, target, title)
    typer.echo(table)
    if figure is not None:
        typer.echo(f"\nwrote {figure}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.command("pooled")(pooled)
    app.command("summary")(summary)
    app.command("curves")(curves)

"""`d3pr noise` commands: fit the conditional noise model (CND) of an estimator and report on it."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import THREADS, setup


# over 60 lines: most of it is the typer option declarations; the body parses and calls the library
def fit(
    predictions: Path = typer.Argument(..., help="Predictions .npz with gt3d (cross-fitted)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write noise.safetensors."),
    granularity: str = typer.Option("pose", help="pose | joint | window."),
    window: int = typer.Option(5, help="Condition window (frames) of --granularity window."),
    temporal: str = typer.Option(None, help="white | ar1 | window (default: the library's)."),
    temporal_window: int = typer.Option(27, help="Block length of --temporal window."),
    ridge: str = typer.Option(
        "auto",
        help="Relative ridge of the Cholesky factorisations, or 'auto': the value whose closed-form "
        "correction has the lowest held-out MPJPE (across cross-fitting folds when the file has "
        "several and no --holdout-subject is given; else on the held-out part).",
    ),
    max_lag: int = typer.Option(30, help="Lags of the fitted autocorrelation."),
    subjects: str = typer.Option(
        None, help="Comma-separated subjects to fit on (default: every subject in the file)."
    ),
    holdout_subject: str = typer.Option(
        None, help="Hold this subject out for the report (default: the last 10% of sequences)."
    ),
    refit: bool = typer.Option(
        True,
        help="Save a model refitted on all sequences (else the one fitted without the held-out part).",
    ),
    figures: Path = typer.Option(None, help="Folder for histogram / autocorrelation PNGs."),
    report_json: Path = typer.Option(None, help="Also write the report as JSON."),
    seed: int = typer.Option(0, help="Seed of the samples in the report."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
    threads: int = THREADS,
) -> None:
    """Fit e = pred3d − gt3d | [2D, pred3d] and print a held-out report."""
    from ..io import check_output_file, save_json
    from ..noise import DEFAULT_TEMPORAL
    from ..noise.summary import fit_with_report, format_report
    from ..predictions import Predictions

    check_output_file(output, (predictions,), force)
    if report_json is not None:
        check_output_file(report_json, (predictions, output), force, "--report-json")
    setup(threads)
    try:
        ridge_value: float | str = float(ridge)
    except ValueError:
        ridge_value = ridge
    res = fit_with_report(
        Predictions.load(predictions, need_gt="the noise model"),
        ridge=ridge_value,
        subjects=[x.strip() for x in subjects.split(",") if x.strip()] if subjects else None,
        holdout_subject=holdout_subject,
        refit=refit,
        seed=seed,
        progress=True,
        where=str(predictions),
        granularity=granularity,
        window=window,
        temporal=temporal or DEFAULT_TEMPORAL,
        temporal_window=temporal_window,
        max_lag=max_lag,
    )
    if res.ridge_by_folds:
        typer.echo(f"ridge: chosen across {res.ridge_by_folds} cross-fitting folds")
    for r, m in res.ridge_scores.items():
        typer.echo(f"ridge {r:g}: held-out closed-form MPJPE {1000 * m:.1f} mm")
    if res.ridge_scores:
        typer.echo(f"ridge: chose {res.model.config.ridge:g}")
    typer.echo(format_report(res.report))
    if figures is not None:
        from ..viz import noise_figures

        for p in noise_figures(res.model, res.report, figures):
            typer.echo(f"figure: {p}")
    if report_json is not None:
        save_json(report_json, {k: v for k, v in res.report.items() if not k.startswith("_")})
    res.model.save(output)
    what = "all" if refit else "fit-part"
    typer.echo(f"saved {output} ({what} {res.model.n_frames_} frames)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    sub = typer.Typer(
        help="Conditional noisy-3D-pose distribution (CND) of an estimator.", no_args_is_help=True
    )
    sub.command("fit")(fit)
    app.add_typer(sub, name="noise")

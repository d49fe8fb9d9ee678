"""`d3pr noise` commands: fit the conditional noise model (CND) of an estimator and report on it."""

from __future__ import annotations

from pathlib import Path

import typer


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
) -> None:
    """Fit e = pred3d − gt3d | [2D, pred3d] and print a held-out report."""
    from ..errors import D3PRError
    from ..io import check_output_file, save_json
    from ..noise import DEFAULT_TEMPORAL, PoseNoiseModel
    from ..noise.report import (
        format_report,
        holdout_split,
        noise_report,
        select_ridge,
    )
    from ..predictions import Predictions

    check_output_file(output, (predictions,), force)
    if report_json is not None:
        check_output_file(report_json, (predictions, output), force, "--report-json")
    options = dict(
        granularity=granularity,
        window=window,
        temporal=temporal or DEFAULT_TEMPORAL,
        temporal_window=temporal_window,
        max_lag=max_lag,
    )
    auto = ridge.strip().lower() == "auto"
    try:
        options["ridge"] = 1e-6 if auto else float(ridge)
    except ValueError:
        raise D3PRError(f"--ridge must be a number or 'auto', got {ridge!r}") from None
    preds = Predictions.load(predictions)
    if subjects:
        wanted = [x.strip() for x in subjects.split(",") if x.strip()]
        missing = sorted(set(wanted) - {seq.subject for seq in preds})
        if missing:
            raise D3PRError(f"{predictions}: no sequences of subject(s) {', '.join(missing)}")
        preds = preds.filter(subjects=wanted)
    PoseNoiseModel(**options)  # validate options before any work
    train, test = holdout_split(preds, holdout_subject)
    if auto:
        folds = {seq.fold for seq in preds if seq.fold >= 0}
        by_folds = holdout_subject is None and len(folds) >= 2
        if by_folds:
            typer.echo(f"ridge: choosing across {len(folds)} cross-fitting folds")
        fit_on = preds if by_folds else train
        options["ridge"], scores = select_ridge(fit_on, None if by_folds else test, **options)
        for r, m in scores.items():
            typer.echo(f"ridge {r:g}: held-out closed-form MPJPE {1000 * m:.1f} mm")
        typer.echo(f"ridge: chose {options['ridge']:g}")
    model = PoseNoiseModel(**options).fit(train, progress=True)
    rep = noise_report(model, test, train=train, seed=seed)
    typer.echo(format_report(rep))
    if figures is not None:
        from ..viz import noise_figures

        for p in noise_figures(model, rep, figures):
            typer.echo(f"figure: {p}")
    if report_json is not None:
        save_json(report_json, {k: v for k, v in rep.items() if not k.startswith("_")})
    if refit:
        model = PoseNoiseModel(**options).fit(preds, progress=True)
    model.save(output)
    typer.echo(f"saved {output} ({'all' if refit else 'fit-part'} {model.n_frames_} frames)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    sub = typer.Typer(
        help="Conditional noisy-3D-pose distribution (CND) of an estimator.", no_args_is_help=True
    )
    sub.command("fit")(fit)
    app.add_typer(sub, name="noise")

"""`d3pr noise` commands: fit the conditional noise model (CND) of an estimator and report on it."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import FORCE, THREADS, Args, Options, setup, split_list, with_options

#: `d3pr noise fit`'s options (see :func:`~d3prefiner.cli.common.with_options`).
FIT_OPTIONS: Options = {
    "predictions": (Path, typer.Argument(..., help="Predictions .npz with gt3d (cross-fitted).")),
    "output": (Path, typer.Option(..., "-o", "--output", help="Where to write noise.safetensors.")),
    "granularity": (str, typer.Option("pose", help="pose | joint | window.")),
    "window": (int, typer.Option(5, help="Condition window (frames) of --granularity window.")),
    "temporal": (str, typer.Option(None, help="white | ar1 | window (default: the library's).")),
    "temporal_window": (int, typer.Option(27, help="Block length of --temporal window.")),
    "ridge": (
        str,
        typer.Option(
            "auto",
            help="Relative ridge of the Cholesky factorisations, or "
            "'auto': the value whose closed-form correction has the lowest held-out MPJPE "
            "(across cross-fitting folds when the file has several and no --holdout-subject is "
            "given; else on the held-out part).",
        ),
    ),
    "max_lag": (int, typer.Option(30, help="Lags of the fitted autocorrelation.")),
    "subjects": (
        str,
        typer.Option(
            None, help="Comma-separated subjects to fit on (default: every subject in the file)."
        ),
    ),
    "holdout_subject": (
        str,
        typer.Option(
            None, help="Hold this subject out for the report (default: the last 10% of sequences)."
        ),
    ),
    "refit": (
        bool,
        typer.Option(
            True,
            help="Save a model refitted on all sequences (else the one "
            "fitted without the held-out part).",
        ),
    ),
    "figures": (Path, typer.Option(None, help="Folder for histogram / autocorrelation PNGs.")),
    "report_json": (Path, typer.Option(None, help="Also write the report as JSON.")),
    "seed": (int, typer.Option(0, help="Seed of the samples in the report.")),
    "force": (bool, FORCE),
    "threads": (int, THREADS),
}


@with_options(FIT_OPTIONS)
def fit(a: Args) -> None:
    """Fit e = pred3d − gt3d | [2D, pred3d] and print a held-out report."""
    from ..io import check_output_file, save_json
    from ..noise import DEFAULT_TEMPORAL
    from ..noise.summary import fit_with_report
    from ..predictions import Predictions

    check_output_file(a.output, (a.predictions,), a.force)
    if a.report_json is not None:
        check_output_file(a.report_json, (a.predictions, a.output), a.force, "--report-json")
    setup(a.threads)
    res = fit_with_report(
        Predictions.load(a.predictions, need_gt="the noise model"), ridge=_number_or(a.ridge),
        subjects=split_list(a.subjects) or None, holdout_subject=a.holdout_subject, refit=a.refit,
        seed=a.seed, progress=True, where=str(a.predictions), granularity=a.granularity,
        window=a.window, temporal=a.temporal or DEFAULT_TEMPORAL, temporal_window=a.temporal_window,
        max_lag=a.max_lag,
    )  # fmt: skip
    _print_fit(res, a.figures)
    if a.report_json is not None:
        save_json(a.report_json, {k: v for k, v in res.report.items() if not k.startswith("_")})
    res.model.save(a.output)
    what = "all" if a.refit else "fit-part"
    typer.echo(f"saved {a.output} ({what} {res.model.n_frames_} frames)")


def _number_or(text: str) -> float | str:
    """``"0.01"`` → 0.01; a word (``auto``) as it is."""
    try:
        return float(text)
    except ValueError:
        return text


def _print_fit(res, figures: Path | None) -> None:
    """The ridge choice, the held-out report and (``figures``) the figures written."""
    from ..noise.summary import format_report

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


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    sub = typer.Typer(
        help="Conditional noisy-3D-pose distribution (CND) of an estimator.", no_args_is_help=True
    )
    sub.command("fit")(fit)
    app.add_typer(sub, name="noise")

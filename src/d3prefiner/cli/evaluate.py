"""`d3pr` commands: evaluate (demo and bench are added here later)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import D3PRError
from .common import THREADS, Args, Options, setup, split_list, with_options

#: `d3pr evaluate`'s options (see :func:`~d3prefiner.cli.common.with_options`).
EVALUATE_OPTIONS: Options = {
    "files": (
        list[Path],
        typer.Argument(
            ..., help="Predictions / refined .npz files with gt3d; the base estimator's first."
        ),
    ),
    "names": (
        str,
        typer.Option(
            None,
            "--names",
            help="Comma-separated method names, one per file (default base,refined).",
        ),
    ),
    "noise": (
        Path,
        typer.Option(
            None,
            "--noise",
            help="Fitted noise model (noise.safetensors): adds the cnd_closed_form baseline.",
        ),
    ),
    "baselines": (
        str,
        typer.Option(
            None,
            "--baselines",
            help="Comma-separated filters applied to "
            "the base (default: every registered filter, and the geometric reproject, "
            "bones, bones+reproject, rays, rays-nearest); 'none' for none.",
        ),
    ),
    "out": (
        Path,
        typer.Option(
            None, "--out", help="Write report.md, results.json and figures/ here (else only print)."
        ),
    ),
    "figures": (
        bool,
        typer.Option(True, "--figures/--no-figures", help="Write figures with --out."),
    ),
    "gif": (bool, typer.Option(True, "--gif/--no-gif", help="Include the animated GIF.")),
    "action_pattern": (
        str,
        typer.Option(
            None,
            "--action-pattern",
            help="Regex whose first group "
            "(or whole match) names a sequence's action in the tables, e.g. "
            r"'^(\[a-z]+)_\d'. Default: Human3.6M actions by name ('Walking 1' -> "
            "walking), others by the part before the first digit or underscore "
            "(box_1_chunk0 -> box).",
        ),
    ),
    "force": (bool, typer.Option(False, "--force", help="Write into a non-empty --out.")),
    "threads": (int, THREADS),
}


@with_options(EVALUATE_OPTIONS)
def evaluate(a: Args) -> None:
    """Per-action MPJPE / P-MPJPE / MPJVE / acceleration tables for base, refined and baselines."""
    from ..baselines import DEFAULT_BASELINES
    from ..io import check_output_dir
    from ..noise import load_noise_model
    from ..report import evaluate_files, format_text, write_report

    if a.out is not None:
        check_output_dir(a.out, tuple(a.files) + (a.noise,), force=a.force)
    setup(a.threads)
    base_list = list(DEFAULT_BASELINES) if a.baselines is None else split_list(a.baselines)
    if [b.lower() for b in base_list] == ["none"]:
        base_list = []
    name_list = split_list(a.names)
    if a.names is not None and len(name_list) != len(a.files):
        raise D3PRError(f"--names gives {len(name_list)} names for {len(a.files)} files")
    noise_model = load_noise_model(a.noise) if a.noise is not None else None
    fig_dir = a.out / "figures" if (a.out is not None and a.figures) else None
    results = evaluate_files(
        a.files,
        names=name_list or None,
        baselines=base_list,
        noise_model=noise_model,
        figures_dir=fig_dir,
        report_dir=a.out,
        gif=a.gif,
        action_pattern=a.action_pattern,
    )
    typer.echo(format_text(results))
    if a.out is not None:
        paths = write_report(results, a.out)
        typer.echo(f"\nwrote {paths['report']} and {paths['results']}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.command("evaluate")(evaluate)

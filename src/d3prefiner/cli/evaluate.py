"""`d3pr` commands: evaluate (demo and bench are added here later)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import D3PRError
from .common import THREADS, setup, split_list

_FILES = typer.Argument(
    ..., help="Predictions / refined .npz files with gt3d; the base estimator's first."
)
_NAMES = typer.Option(
    None, "--names", help="Comma-separated method names, one per file (default base,refined)."
)
_NOISE = typer.Option(
    None,
    "--noise",
    help="Fitted noise model (noise.safetensors): adds the cnd_closed_form baseline.",
)
_BASELINES = typer.Option(
    None,
    "--baselines",
    help="Comma-separated filters applied to the base (default: every registered filter, "
    "and the geometric reproject, bones, bones+reproject, rays, rays-nearest); 'none' for none.",
)
_OUT = typer.Option(
    None, "--out", help="Write report.md, results.json and figures/ here (else only print)."
)
_FIGURES = typer.Option(True, "--figures/--no-figures", help="Write figures with --out.")
_GIF = typer.Option(True, "--gif/--no-gif", help="Include the animated GIF.")
_ACTION_PATTERN = typer.Option(
    None,
    "--action-pattern",
    help="Regex whose first group (or whole match) names a sequence's action in the tables, "
    r"e.g. '^([a-z]+)_\d'. Default: Human3.6M actions by name ('Walking 1' -> walking), "
    "others by the part before the first digit or underscore (box_1_chunk0 -> box).",
)
_FORCE = typer.Option(False, "--force", help="Write into a non-empty --out.")


def evaluate(
    files: list[Path] = _FILES,
    names: str = _NAMES,
    noise: Path = _NOISE,
    baselines: str = _BASELINES,
    out: Path = _OUT,
    figures: bool = _FIGURES,
    gif: bool = _GIF,
    action_pattern: str = _ACTION_PATTERN,
    force: bool = _FORCE,
    threads: int = THREADS,
) -> None:
    """Per-action MPJPE / P-MPJPE / MPJVE / acceleration tables for base, refined and baselines."""
    from ..baselines import DEFAULT_BASELINES
    from ..io import check_output_dir
    from ..noise import load_noise_model
    from ..report import evaluate_files, format_text, write_report

    if out is not None:
        check_output_dir(out, tuple(files) + (noise,), force=force)
    setup(threads)
    base_list = list(DEFAULT_BASELINES) if baselines is None else split_list(baselines)
    if [b.lower() for b in base_list] == ["none"]:
        base_list = []
    name_list = split_list(names)
    if names is not None and len(name_list) != len(files):
        raise D3PRError(f"--names gives {len(name_list)} names for {len(files)} files")
    noise_model = load_noise_model(noise) if noise is not None else None
    fig_dir = out / "figures" if (out is not None and figures) else None
    results = evaluate_files(
        files,
        names=name_list or None,
        baselines=base_list,
        noise_model=noise_model,
        figures_dir=fig_dir,
        report_dir=out,
        gif=gif,
        action_pattern=action_pattern,
    )
    typer.echo(format_text(results))
    if out is not None:
        paths = write_report(results, out)
        typer.echo(f"\nwrote {paths['report']} and {paths['results']}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.command("evaluate")(evaluate)

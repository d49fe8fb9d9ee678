"""The ``d3pr`` command (Typer). Thin commands that call the library; no logic here.

Each sub-module registers its commands on the app. Bad input raises
:class:`d3prefiner.errors.D3PRError`; :func:`main` prints it as one line and exits with code 2,
naming the flag of the argument an :class:`~d3prefiner.errors.ArgumentError` names.
"""

from __future__ import annotations

import sys

import typer

from ..errors import D3PRError, Interrupted
from . import data, evaluate, export, lifter, noise, pipeline, refine, study, train, video

app = typer.Typer(
    name="d3pr",
    help="Refine monocular 3D human pose estimates with D3PRefiner (diffusion-based refinement).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from ..version import __version__

        typer.echo(f"d3prefiner {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the package version and exit.",
    ),
) -> None:
    """Refine monocular 3D human pose estimates with D3PRefiner."""


for module in (data, lifter, noise, train, refine, evaluate, pipeline, study, video, export):
    module.register(app)


@app.command()
def version() -> None:
    """Print the package version."""
    from ..version import __version__

    typer.echo(__version__)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``d3pr`` console script. Output locks the command took
    (:func:`d3prefiner.io.lock_output`) are released when it ends, whatever the outcome."""
    from ..io import release_output_locks

    try:
        _run(argv)
    finally:
        release_output_locks()


def _run(argv: list[str] | None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        if exc.code == 130:  # Typer turns Ctrl-C outside a training loop into exit code 130
            typer.echo(
                "interrupted: no file was left half-written (all are written atomically); run "
                "the command again (training runs continue with --resume)",
                err=True,
            )
        raise
    except Interrupted as exc:
        typer.echo(f"interrupted: {exc}", err=True)
        sys.exit(130)
    except D3PRError as exc:
        from .common import error_line

        args = sys.argv[1:] if argv is None else [str(a) for a in argv]
        typer.echo(error_line(exc, typer.main.get_command(app), args), err=True)
        sys.exit(2)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc.filename or exc}: file not found", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)

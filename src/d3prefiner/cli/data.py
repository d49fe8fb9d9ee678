"""`d3pr data` commands: convert the exp-map release, summarise a motion source."""

from __future__ import annotations

from pathlib import Path

import typer

data_app = typer.Typer(help="Motion sources: convert and inspect.", no_args_is_help=True)


@data_app.command("convert-expmap")
def convert_expmap(
    src_dir: Path = typer.Argument(..., help="Folder with S1/, S5/, ... of exp-map .txt files."),
    out_dir: Path = typer.Argument(..., help="Output folder (h36m_expmap_fk17_<S>.npz files)."),
    skeleton: Path = typer.Option(
        None, "--skeleton", help="skeleton17.json with the 32-joint table (default: built in)."
    ),
) -> None:
    """Convert the Human3.6M exp-map text release to 17-joint positions (mm, 50 fps, z-up)."""
    from ..data.expmap import convert_expmap_dir

    counts = convert_expmap_dir(src_dir, out_dir, skeleton_json=skeleton)
    for subject, n in counts.items():
        typer.echo(f"{subject}: {n} frames -> {out_dir / f'h36m_expmap_fk17_{subject}.npz'}")


@data_app.command("info")
def info(
    source: str = typer.Argument(..., help="h36m-fk17, deepmimic, videopose3d, bvh or npz-folder."),
    path: Path = typer.Option(None, "--path", help="Where the source lives (default per source)."),
) -> None:
    """Print sequences and frames per subject of a motion source."""
    from ..data.pipeline import load_source

    seqs = load_source(source, path)
    per: dict[str, list] = {}
    for s in seqs:
        per.setdefault(s.subject, []).append(s)
    typer.echo(f"{'subject':<10}{'sequences':>10}{'frames':>10}{'minutes':>9}  fps")
    for subject, ss in per.items():
        frames = sum(s.num_frames for s in ss)
        minutes = sum(s.num_frames / s.fps for s in ss) / 60
        fps = ",".join(sorted({f"{s.fps:g}" for s in ss}))
        typer.echo(f"{subject:<10}{len(ss):>10}{frames:>10}{minutes:>9.1f}  {fps}")
    total = sum(s.num_frames for s in seqs)
    typer.echo(f"{'total':<10}{len(seqs):>10}{total:>10}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.add_typer(data_app, name="data")

"""`d3pr export`: a predictions file → BVH (Blender, Unity, robot retargeting)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.command("export")(export)


def export(
    predictions: Path = typer.Argument(..., help="Predictions .npz (e.g. from d3pr refine/video)."),
    bvh: Path = typer.Option(
        ..., "--bvh", help="BVH file to write; a folder (one BVH per sequence) for several."
    ),
    pose: str = typer.Option(
        "pred3d",
        "--pose",
        help="Which 3D array: pred3d (the refined 3D in a refined file), "
        "base3d (d3pr video's estimate before refinement) or gt3d.",
    ),  # fmt: skip
    trajectory: bool = typer.Option(
        True,
        "--trajectory/--no-trajectory",
        help="Move the root along the file's trajectory, "
        "or one fitted from the 2D and the camera (default); else pin it.",
    ),  # fmt: skip
    sequence: str = typer.Option(
        None, "--sequence", help="Only this sequence: its index or subject/action/camera."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
) -> None:
    """Write the 3D motion of a predictions file as BVH: H36M-17 skeleton (CMU joint names),
    rotations solved from the positions, bones at their median lengths, centimetres, y up."""
    from ..export.predictions import export_bvh

    for line in export_bvh(predictions, bvh, pose, trajectory, sequence, force):
        typer.echo(line)

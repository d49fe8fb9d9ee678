"""Options shared by every `d3pr` command that computes: threads and device."""

from __future__ import annotations

import typer

THREADS = typer.Option(
    0,
    "--threads",
    help="torch CPU threads; 0 (default): the cores idle at start, so a busy machine does not "
    "slow the run down 10-20x.",
)
DEVICE = typer.Option("cpu", "--device", help="torch device: cpu, cuda, cuda:1, mps.")


def setup(threads: int = 0, device: str | None = None) -> None:
    """Check ``device`` and set torch's threads (see :mod:`d3prefiner.runtime`)."""
    from ..runtime import check_device, configure_threads

    if device is not None:
        check_device(device)
    configure_threads(threads)

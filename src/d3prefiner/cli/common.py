"""Options shared by every `d3pr` command that computes: threads and device."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

THREADS = typer.Option(
    0,
    "--threads",
    help="torch CPU threads; 0 (default): the cores idle at start, so a busy machine does not "
    "slow the run down 10-20x.",
)
JOBS = typer.Option(
    0,
    "--jobs",
    help="Cross-fitting lifter runs trained side by side on the CPU, one process and thread "
    "each; 0 (default): one per torch thread (1 with --threads 1).",
)
DEVICE = typer.Option("cpu", "--device", help="torch device: cpu, cuda, cuda:1, mps.")


def setup(threads: int = 0, device: str | None = None) -> None:
    """Check ``device`` and set torch's threads (see :mod:`d3prefiner.runtime`)."""
    from ..runtime import check_device, configure_threads

    if device is not None:
        check_device(device)
    configure_threads(threads)


def resolve_jobs(jobs: int) -> int:
    """``--jobs``: a positive count as given, ``0`` = one per torch thread set by :func:`setup`."""
    import torch

    from ..errors import D3PRError

    if jobs < 0:
        raise D3PRError(f"--jobs must be 0 (one per thread) or a positive count, got {jobs}")
    return jobs or torch.get_num_threads()


@contextmanager
def resumes_itself() -> Iterator[None]:
    """For commands that pick up their own finished and interrupted parts (bench, grid, crossfit,
    ...): a stop says to run the same command again, not to pass a ``--resume`` they lack."""
    from ..errors import Interrupted

    try:
        yield
    except Interrupted as exc:
        raise exc.with_hint(
            "run the same command again to continue (finished parts are kept, the rest resumes)"
        ) from None


def flag_of(command, argv: list[str], name: str) -> str:
    """How the command line spells the argument ``name`` of the (sub)command that ``argv`` runs
    under the click ``command``: its first long option (``--threads``), an argument's metavar, or
    ``--name-with-dashes`` when no option has that name."""
    import click

    params = []
    tokens = list(argv)
    while isinstance(command, click.Group):
        params = command.params + params
        sub = next((i for i, t in enumerate(tokens) if t in command.commands), None)
        if sub is None:
            break
        command, tokens = command.commands[tokens[sub]], tokens[sub + 1 :]
    else:
        params = command.params + params
    for p in params:
        if p.name == name:
            if isinstance(p, click.Argument):
                return p.human_readable_name
            long = [o for o in p.opts if o.startswith("--")]
            return (long or p.opts)[0]
    return "--" + name.replace("_", "-")


def error_line(exc, command, argv: list[str]) -> str:
    """The one ``error:`` line of a library error; an
    :class:`~d3prefiner.errors.ArgumentError` names the command-line flag of its argument."""
    from ..errors import ArgumentError

    if isinstance(exc, ArgumentError):
        return f"error: {exc.message_for(lambda n: flag_of(command, argv, n))}"
    return f"error: {exc}"

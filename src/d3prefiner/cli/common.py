"""Options shared by every `d3pr` command that computes (threads, device), the options made from
config dataclasses (:func:`config_options`, :func:`with_options`), and the error line."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

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
FORCE = typer.Option(False, "--force", help="Overwrite an existing output.")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bars.")
CAMERAS = typer.Option(4, "--cameras", help="Virtual cameras per sequence.")


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
    under the click ``command``: its first long option (``--threads``), an argument's metavar
    (``PREDICTIONS``), or ``--name-with-dashes`` when no parameter has that name."""
    params = list(command.params)
    tokens = list(argv)
    while hasattr(command, "commands"):  # a group: descend into the subcommand named in argv
        sub = next((i for i, t in enumerate(tokens) if t in command.commands), None)
        if sub is None:
            break
        command, tokens = command.commands[tokens[sub]], tokens[sub + 1 :]
        params = list(command.params) + params
    for p in params:
        if p.name == name:
            if p.param_type_name == "argument":
                return name.upper()
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


#: What :func:`config_options` gives: option name -> (its type, its ``typer.Option``).
Options = dict[str, tuple[type, Any]]


def config_options(
    *configs: type,
    help: Mapping[str, str],
    flags: Mapping[str, tuple[str, ...]] | None = None,
    exclude: tuple[str, ...] = (),
) -> Options:
    """One typer option per field of the dataclasses ``configs``, default ``None`` (not given).

    A field that is itself a dataclass (``loop``) gives the options of its own fields. The flag is
    ``--field-name`` (a bool: ``--field-name/--no-field-name``) unless ``flags`` spells it; the
    help is ``help[field]``. A field whose type has no command-line form must be in ``exclude``.
    """
    flags = flags or {}
    out: Options = {}
    for cls in configs:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            typ = hints[f.name]
            if f.name in exclude or f.name in out:
                continue
            if dataclasses.is_dataclass(typ):
                out.update(config_options(typ, help=help, flags=flags, exclude=exclude))
                continue
            if str in typing.get_args(typ):  # e.g. float | str ("auto" or a number): as given
                typ = str
            if typ not in (int, float, str, bool):
                raise TypeError(f"{cls.__name__}.{f.name} ({typ}) has no option: exclude it")
            dash = f.name.replace("_", "-")
            default = (f"--{dash}/--no-{dash}",) if typ is bool else (f"--{dash}",)
            out[f.name] = (typ, typer.Option(None, *flags.get(f.name, default), help=help[f.name]))
    return out


class Args(SimpleNamespace):
    """A command's own options and arguments by name (``a.out``), as :func:`with_options` hands
    them over when a table declares them."""


def with_options(table: Options | None = None, /, **groups: Options) -> Callable:
    """Decorator: the command's command line is declared by tables of options (name -> (type,
    ``typer.Option`` or ``typer.Argument``)), each option once.

    ``table``: the command's own options and arguments, in command-line order; the command takes
    them all as one :class:`Args`, its first parameter. Without it, the command's own parameters
    are those of its signature. Each group: further options after them; the command receives, as
    its parameter named like the group, the dict of those that were given, e.g. ``{"steps": 300,
    "use_cnd": False}``.
    """

    def decorate(command: Callable) -> Callable:
        if table is None:
            hints = typing.get_type_hints(command)
            own = [
                p.replace(annotation=hints.get(p.name, p.annotation))
                for p in inspect.signature(command).parameters.values()
                if p.name not in groups
            ]
        else:
            own = _parameters(table, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        owner = {name: group for group, options in groups.items() for name in options}
        clash = sorted(set(owner) & {p.name for p in own})
        if clash or len(owner) != sum(len(o) for o in groups.values()):
            raise TypeError(f"{command.__name__}: options named twice ({', '.join(clash)})")
        extra = [p for options in groups.values() for p in _parameters(options)]

        @functools.wraps(command)
        def run(**kwargs):
            given: dict[str, dict] = {group: {} for group in groups}
            for name, group in owner.items():
                value = kwargs.pop(name, None)
                if value is not None:
                    given[group][name] = value
            if table is None:
                return command(**kwargs, **given)
            return command(Args(**kwargs), **given)

        del run.__wrapped__  # Typer must see the signature below, not the command's own
        run.__signature__ = inspect.Signature(own + extra)
        run.__annotations__ = {p.name: p.annotation for p in own + extra}
        run.option_groups = owner
        return run

    return decorate


def _parameters(options: Options, kind=inspect.Parameter.KEYWORD_ONLY) -> list:
    """The signature parameters that declare ``options`` to Typer."""
    return [
        inspect.Parameter(name, kind, default=opt, annotation=typ)
        for name, (typ, opt) in options.items()
    ]


def split_list(text: str | None) -> list[str]:
    """A comma-separated command-line list (``"S1, S5,"`` → ``["S1", "S5"]``; None → [])."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]

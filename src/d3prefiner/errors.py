"""One error type for bad input, and the shape / value checks used at public entry points.

Every check raises :class:`D3PRError` (a ``ValueError``) with a one-line message that names the
offending array or file and what was expected; the CLI prints that line and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

import numpy as np
import torch


class D3PRError(ValueError):
    """Bad input: wrong shapes, joint counts, NaN, too-short sequences, corrupt files, ..."""


class ArgumentError(D3PRError):
    """A bad value of one argument of a library function (or one field of a config).

    ``argument`` is its Python name (``threads``, ``val_every``); the message reads
    ``"<argument> <problem>"``. ``others`` name further arguments the problem refers to as
    ``{0}``, ``{1}`` ... (a problem without ``others`` is taken literally). A front end spells the
    names its own way: the CLI prints ``--threads must be >= 0, got -1`` (:meth:`message_for`).
    """

    def __init__(self, argument: str, problem: str, others: tuple[str, ...] = ()) -> None:
        self.argument, self.problem, self.others = argument, problem, tuple(others)
        super().__init__(self.message_for(str))

    def message_for(self, spell) -> str:
        """The message with every argument name ``n`` written ``spell(n)`` (e.g. its flag)."""
        problem = self.problem
        if self.others:
            with suppress(IndexError, KeyError, ValueError):  # braces of an interpolated value
                problem = problem.format(*map(spell, self.others))
        return f"{spell(self.argument)} {problem}"


class Interrupted(D3PRError):
    """Ctrl-C or SIGTERM stopped a run; the message says what was saved and how to go on.

    ``what`` says what stopped and what was saved; ``hint`` how to go on (empty when nothing was
    saved). A command that resumes by itself (``d3pr bench``, ``grid``, ...) swaps the hint with
    :meth:`with_hint`, since it has no ``--resume`` flag.
    """

    RESUME = "run the same command again with --resume to continue"

    def __init__(self, what: str, hint: str = RESUME) -> None:
        self.what, self.hint = what, hint
        super().__init__(f"{what}: {hint}" if hint else what)

    def with_hint(self, hint: str) -> Interrupted:
        """The same stop with another way to go on (none if nothing was saved)."""
        return Interrupted(self.what, hint if self.hint else "")


def _shape(x) -> tuple[int, ...]:
    return tuple(int(s) for s in x.shape)


def check_shape(x, pattern: str, name: str = "input") -> dict[str, int]:
    """Check ``x.shape`` against a pattern such as ``"B T J 3"`` (kornia style).

    Tokens that are integers must match exactly; letters bind a size (the same letter must bind
    the same size within one call); ``*`` matches any number of leading dimensions.

    Returns:
        The sizes bound to the letters, e.g. ``{"B": 4, "T": 27, "J": 17}``.

    Raises:
        D3PRError: if the shape does not match.
    """
    if not hasattr(x, "shape"):
        raise D3PRError(f"{name}: expected an array of shape ({pattern}), got {type(x).__name__}")
    shape = _shape(x)
    tokens = pattern.split()
    if tokens and tokens[0] == "*":
        tokens = tokens[1:]
        if len(shape) < len(tokens):
            raise D3PRError(f"{name}: expected shape (..., {' '.join(tokens)}), got {shape}")
        shape = shape[len(shape) - len(tokens) :]
    elif len(shape) != len(tokens):
        raise D3PRError(f"{name}: expected shape ({pattern}), got {_shape(x)}")
    bound: dict[str, int] = {}
    for tok, size in zip(tokens, shape):
        if tok.isdigit():
            if int(tok) != size:
                raise D3PRError(f"{name}: expected shape ({pattern}), got {_shape(x)}")
        elif tok in bound and bound[tok] != size:
            raise D3PRError(f"{name}: expected shape ({pattern}), got {_shape(x)}")
        else:
            bound[tok] = size
    return bound


def check_finite(x, name: str = "input") -> None:
    """Raise :class:`D3PRError` if ``x`` holds NaN or inf."""
    bad = ~torch.isfinite(x) if isinstance(x, torch.Tensor) else ~np.isfinite(np.asarray(x))
    n = int(bad.sum())
    if n:
        raise D3PRError(f"{name}: {n} value(s) are NaN or inf")


def check_joints(x, n_joints: int = 17, dim: int = 3, name: str = "input") -> None:
    """Check that the last two dimensions are ``(n_joints, dim)`` and values are finite."""
    shape = _shape(x)
    if len(shape) < 2 or shape[-1] != dim or shape[-2] != n_joints:
        raise D3PRError(f"{name}: expected shape (..., {n_joints}, {dim}), got {shape}")
    check_finite(x, name)


def check_motion(x, name: str, n_joints: int = 17, dim: int = 3) -> np.ndarray:
    """One motion ``(T, n_joints, dim)`` with at least one frame and finite values, as float64."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or not len(x):
        raise D3PRError(f"{name}: expected a motion of shape (T, {n_joints}, {dim}), got {x.shape}")
    check_joints(x, n_joints, dim, name)
    return x


def check_same_length(arrays: Sequence, names: Sequence[str]) -> None:
    """Check that arrays share their first dimension (frames)."""
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        desc = ", ".join(f"{n}={L}" for n, L in zip(names, lengths))
        raise D3PRError(f"frame counts differ: {desc}")

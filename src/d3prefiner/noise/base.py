"""The interface every noise model offers the refiner, the baselines and the evaluation, and the one
way to load one from a file.

A noise model is anything with the methods of :class:`NoiseModel` (a ``typing.Protocol``, checked
at load time). Its file is a safetensors file whose ``format`` metadata names the class that reads
it; :func:`register_noise_format` adds a format and :func:`load_noise_model` dispatches on it. A new
noise model is therefore one module with a class, ``load`` / ``save``, and one
``register_noise_format`` line (see README "Where to add …").
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch

from ..errors import D3PRError


@runtime_checkable
class NoiseModel(Protocol):
    """The conditional error distribution ``e | [y, x_noisy]`` of an estimator.

    All pose arguments are ``(B, T, 17, ·)`` tensors; results are ``(B, T, 17, 3)`` with the root's
    error 0.
    """

    def mean_error(self, pose2d, pred3d) -> torch.Tensor:
        """``E[e | b]``."""
        ...

    def closed_form_refine(self, pose2d, pred3d) -> torch.Tensor:
        """``x_noisy − E[e | b]``."""
        ...

    def sample_error(self, pose2d, pred3d, generator=None, temporal=None, z=None) -> torch.Tensor:
        """A draw of ``e | b``."""
        ...

    def residual_sample(self, pose2d, pred3d, generator=None, temporal=None, z=None):
        """A draw of ``e − E[e | b]``."""
        ...

    def save(self, path: str | os.PathLike) -> None: ...


Loader = Callable[[str | os.PathLike], NoiseModel]
_FORMATS: dict[str, Loader | str] = {}


def register_noise_format(name: str, loader: Loader | str) -> None:
    """Make :func:`load_noise_model` read files whose ``format`` metadata is ``name``: ``loader``
    is a function of the path, or ``"module:Class"`` whose ``Class.load(path)`` reads it (imported
    on first use)."""
    _FORMATS[name] = loader


def _loader(name: str) -> Loader:
    loader = _FORMATS[name]
    if isinstance(loader, str):
        module, cls = loader.split(":")
        return getattr(importlib.import_module(module), cls).load
    return loader


def load_noise_model(path: str | os.PathLike) -> NoiseModel:
    """Load a noise model file, whatever its class, by its ``format`` metadata.

    Raises:
        D3PRError: missing or unreadable file, unknown format, or a loaded object that lacks the
            :class:`NoiseModel` methods.
    """
    from safetensors import safe_open

    if not os.path.exists(path):
        raise D3PRError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            fmt = (f.metadata() or {}).get("format")
    except Exception as exc:  # safetensors raises its own error types
        raise D3PRError(f"{path}: not a readable noise model file ({exc})") from None
    if fmt not in _FORMATS:
        known = ", ".join(sorted(_FORMATS))
        raise D3PRError(f"{path}: not a noise model file (format {fmt!r}; known: {known})")
    model = _loader(fmt)(path)
    if not isinstance(model, NoiseModel):
        raise D3PRError(
            f"{path}: format {fmt!r} loaded a {type(model).__name__}, not a noise model"
        )
    return model


register_noise_format("d3prefiner.PoseNoiseModel", "d3prefiner.noise.pose:PoseNoiseModel")

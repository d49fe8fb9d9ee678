"""Base 3D pose estimators: seq2seq lifters ``(B, T, 17, 2) → (B, T, 17, 3)`` and their training.

* :class:`STCFormer` and :class:`MixSTE` (root-relative metres, root output 0);
* :mod:`.registry` — name → class, presets, training overrides (:func:`register_lifter`);
* :func:`build_lifter` — by name + preset, or by :class:`LifterConfig`;
* :mod:`.train` — ``train_lifter``, ``predict``, ``load_lifter``, ``cross_fit``.
"""

from __future__ import annotations

from typing import Any

from ..errors import D3PRError
from .config import LifterConfig, TrainConfig, lifter_config, train_config
from .mixste import MixSTE
from .registry import LifterSpec, get_lifter, lifter_names, register_lifter
from .stcformer import Lifter, STCFormer
from .tcn import TCN


def build_lifter(spec: str | LifterConfig, preset: str = "cpu", **overrides: Any) -> Lifter:
    """Build a lifter from a name and preset (``build_lifter("mixste", "cpu", window=81)``) or from a
    :class:`LifterConfig`. Parameters are initialised with the global torch RNG (seed it first)."""
    if isinstance(spec, LifterConfig):
        config = spec
        if overrides:
            config = LifterConfig.from_dict({**config.__dict__, **overrides})
    elif isinstance(spec, str):
        config = lifter_config(spec, preset, **overrides)
    else:
        raise D3PRError(f"build_lifter: expected a model name or LifterConfig, got {spec!r}")
    return get_lifter(config.model).network_class()(config)


__all__ = [
    "Lifter",
    "LifterConfig",
    "LifterSpec",
    "MixSTE",
    "STCFormer",
    "TCN",
    "TrainConfig",
    "build_lifter",
    "get_lifter",
    "lifter_names",
    "register_lifter",
    "lifter_config",
    "train_config",
]

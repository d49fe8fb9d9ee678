"""The registry of base lifters: name → network class, presets and training overrides.

Kept free of torch so that configurations validate without loading a network. Adding a lifter is
one module with a ``Lifter`` subclass (``__init__(config: LifterConfig)``, ``forward(pose2d)``)
and one :func:`register_lifter` line below (see README "Where to add …").
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from ..registry import Registry


@dataclass(frozen=True)
class LifterSpec:
    """One lifter.

    Args:
        name: ``--model`` name.
        cls: ``"module:Class"`` of the network, imported on first use.
        arch: preset (``paper``, ``cpu``, ``tiny``) → ``LifterConfig`` fields.
        train: preset → ``TrainConfig`` overrides of this model (on top of the preset's).
        channel_split: ``dim`` must be divisible by ``channel_split * heads`` (STCFormer splits
            the channels between its two branches).
    """

    name: str
    cls: str
    arch: dict[str, dict[str, Any]]
    train: dict[str, dict[str, Any]] = field(default_factory=dict)
    channel_split: int = 1

    def network_class(self):
        module, name = self.cls.split(":")
        return getattr(importlib.import_module(module), name)


_LIFTERS: Registry[LifterSpec] = Registry("lifter model must be one of {names}, got {name!r}")
#: ``register_lifter(spec)``: add (or replace) a lifter; returns ``spec``.
register_lifter = _LIFTERS.register
#: ``lifter_names()``: the registered lifters' names, in the order registered.
lifter_names = _LIFTERS.names
#: ``get_lifter(name)``: the :class:`LifterSpec` of ``name``, or an error listing the lifters.
get_lifter = _LIFTERS.get


register_lifter(LifterSpec(
    "stcformer", "d3prefiner.lifters.stcformer:STCFormer",
    arch={
        "paper": dict(dim=256, depth=6, heads=8, mlp_ratio=4.0, dropout=0.1, window=81),
        # cpu: one head per branch: 1.7x the steps/s of 4 heads here (softmax, tiny bmm dominate)
        "cpu": dict(dim=64, depth=4, heads=1, mlp_ratio=2.0, window=27, qk_norm=True),
        "tiny": dict(dim=16, depth=1, heads=2, mlp_ratio=2.0, window=9),
    },
    # cpu: QK-norm keeps the attention logits bounded (without it the first spatial layers'
    # attention was one-hot); steps and lr chosen on the validation subject S8
    train={"cpu": dict(steps=4000, lr=2e-3)},
    channel_split=2,
))  # fmt: skip
register_lifter(LifterSpec(
    "mixste", "d3prefiner.lifters.mixste:MixSTE",
    arch={
        "paper": dict(dim=512, depth=8, heads=8, mlp_ratio=2.0, dropout=0.1, window=81),
        "cpu": dict(dim=48, depth=4, heads=1, mlp_ratio=2.0, window=27, qk_norm=True),
        "tiny": dict(dim=16, depth=1, heads=2, mlp_ratio=2.0, window=9),
    },
    # cpu: QK-norm keeps the attention logits bounded (without it every temporal block's
    # attention collapsed onto one frame); lr 2e-3 needs the gradient clipped at 1 and a 300-step
    # warm-up to be stable; steps and lr chosen on the validation subject S8
    train={"cpu": dict(steps=3600, lr=2e-3, velocity_weight=0.5, warmup_steps=300, grad_clip=1.0),
           "paper": dict(velocity_weight=0.5)},
))  # fmt: skip
register_lifter(LifterSpec(
    "tcn", "d3prefiner.lifters.tcn:TCN",
    # depth = residual blocks, receptive field 3^(depth+1); T = output frames per window
    arch={
        "paper": dict(dim=1024, depth=4, heads=1, dropout=0.25, window=81),
        "cpu": dict(dim=512, depth=2, heads=1, dropout=0.0, window=27),
        "tiny": dict(dim=16, depth=1, heads=1, window=9),
    },
    train={"cpu": dict(steps=5000, lr=1e-3, val_every=1000)},
))  # fmt: skip

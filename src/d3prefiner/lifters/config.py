"""Configurations of the base lifters and of their training, with named presets.

Two frozen dataclasses, validated on construction and stored as ``config.json`` in every run dir:

* :class:`LifterConfig` — the network: which model, width, depth, window length ``T``, TDS factor.
* :class:`TrainConfig` — the optimisation: epochs, batch size, Adam learning rate with per-epoch
  decay, velocity-loss weight, flip augmentation / flip test, seed; it holds a ``LifterConfig``.

Presets (``lifter_config(model, preset)`` / ``train_config(model, preset)``):

* ``paper`` — the published sizes: MixSTE dim 512, depth 8 (8 spatial + 8 temporal blocks);
  STCFormer dim 256, depth 6. Meant for a GPU.
* ``cpu`` — small models that train well on a 2-core CPU (a few hundred thousand parameters).
* ``tiny`` — a few thousand parameters, for tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..errors import D3PRError

MODELS = ("stcformer", "mixste")
PRESETS = ("paper", "cpu", "tiny")


@dataclass(frozen=True)
class LifterConfig:
    """Architecture of a seq2seq lifter ``(B, T, 17, 2) → (B, T, 17, 3)``.

    Args:
        model: ``"stcformer"`` or ``"mixste"``.
        dim: channels C of every token (one token per joint per frame).
        depth: STCFormer: STC blocks; MixSTE: (spatial, temporal) block pairs.
        heads: attention heads (STCFormer: per branch).
        mlp_ratio: hidden size of the MLPs relative to ``dim``.
        dropout: dropout in attention and MLPs.
        T: frames per window the network sees (with TDS: after downsampling).
        tds: temporal downsampling factor k (STCFormer's TDS; 1 = off). The network sees every
            k-th frame, so a window spans ``(T - 1) * k + 1`` frames of the original sequence.
        num_joints: joints per frame (17, H36M order).
    """

    model: str = "stcformer"
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.0
    T: int = 27
    tds: int = 1
    num_joints: int = 17

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise D3PRError(f"lifter model must be one of {', '.join(MODELS)}, got {self.model!r}")
        for name in ("dim", "depth", "heads", "T", "tds", "num_joints"):
            if int(getattr(self, name)) < 1:
                raise D3PRError(f"lifter config: {name} must be >= 1, got {getattr(self, name)}")
        split = 2 if self.model == "stcformer" else 1  # STC halves the channels per branch
        if self.dim % (split * self.heads):
            raise D3PRError(
                f"lifter config: dim={self.dim} must be divisible by {split} * heads={self.heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise D3PRError(f"lifter config: dropout must be in [0, 1), got {self.dropout}")
        if self.mlp_ratio <= 0:
            raise D3PRError(f"lifter config: mlp_ratio must be > 0, got {self.mlp_ratio}")

    @property
    def span(self) -> int:
        """Frames of the original sequence one window covers: ``(T - 1) * tds + 1``."""
        return (self.T - 1) * self.tds + 1


@dataclass(frozen=True)
class TrainConfig:
    """Training of a lifter (Adam, per-epoch exponential learning-rate decay).

    Args:
        lifter: the architecture.
        epochs: passes over the training windows.
        batch_size: windows per step.
        lr: initial learning rate; epoch ``e`` (0-based) uses ``lr * lr_decay ** e``.
        lr_decay: per-epoch multiplicative decay.
        weight_decay: Adam (L2) weight decay.
        velocity_weight: weight of MixSTE's velocity loss (MPJVE between consecutive-frame
            differences) added to the MPJPE loss; 0 = off.
        flip_aug: mirror half the training windows (2D x → −x, 3D x → −x, left/right swapped).
        flip_test: average each prediction with the un-mirrored prediction of the mirrored input.
        train_stride: stride of the training windows (default ``T``: each frame about once per
            epoch); every epoch starts each clip's windows at a random phase.
        max_windows_per_epoch: cap on windows per epoch (a random subset), to shorten epochs.
        grad_clip: clip the gradient norm to this value (0 = off).
        val_max_frames: cap on validation frames evaluated after every epoch.
        seed: seed of every random choice (initialisation, windows, flips, dropout).
    """

    lifter: LifterConfig = LifterConfig()
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    lr_decay: float = 0.95
    weight_decay: float = 0.0
    velocity_weight: float = 0.0
    flip_aug: bool = True
    flip_test: bool = True
    train_stride: int | None = None
    max_windows_per_epoch: int | None = None
    grad_clip: float = 0.0
    val_max_frames: int = 20000
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.lifter, dict):  # from JSON
            object.__setattr__(self, "lifter", LifterConfig(**self.lifter))
        if self.epochs < 0 or self.batch_size < 1:
            raise D3PRError(
                f"train config: need epochs >= 0 and batch_size >= 1, got {self.epochs}, "
                f"{self.batch_size}"
            )
        if not self.lr > 0 or not 0 < self.lr_decay <= 1:
            raise D3PRError(
                f"train config: need lr > 0 and 0 < lr_decay <= 1, got {self.lr}, {self.lr_decay}"
            )
        if self.velocity_weight < 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise D3PRError("train config: velocity_weight, weight_decay, grad_clip must be >= 0")
        if self.train_stride is not None and self.train_stride < 1:
            raise D3PRError(f"train config: train_stride must be >= 1, got {self.train_stride}")
        if self.max_windows_per_epoch is not None and self.max_windows_per_epoch < 1:
            raise D3PRError("train config: max_windows_per_epoch must be >= 1")

    @property
    def stride(self) -> int:
        return self.train_stride or self.lifter.T

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`D3PRError`."""
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        lifter = d.get("lifter", {})
        unknown_l = set(lifter) - {f.name for f in fields(LifterConfig)}
        if unknown or unknown_l:
            raise D3PRError(f"config: unknown keys {sorted(unknown | unknown_l)}")
        d["lifter"] = LifterConfig(**lifter)
        return cls(**d)


_ARCH: dict[tuple[str, str], dict[str, Any]] = {
    ("stcformer", "paper"): dict(dim=256, depth=6, heads=8, mlp_ratio=4.0, dropout=0.1, T=81),
    ("stcformer", "cpu"): dict(dim=64, depth=4, heads=4, mlp_ratio=2.0, T=27),
    ("stcformer", "tiny"): dict(dim=16, depth=1, heads=2, mlp_ratio=2.0, T=9),
    ("mixste", "paper"): dict(dim=512, depth=8, heads=8, mlp_ratio=2.0, dropout=0.1, T=81),
    ("mixste", "cpu"): dict(dim=48, depth=4, heads=4, mlp_ratio=2.0, T=27),
    ("mixste", "tiny"): dict(dim=16, depth=1, heads=2, mlp_ratio=2.0, T=9),
}

_TRAIN: dict[str, dict[str, Any]] = {
    "paper": dict(epochs=120, batch_size=1024, lr=4e-5, lr_decay=0.99, flip_aug=True),
    "cpu": dict(epochs=30, batch_size=64, lr=1e-3, lr_decay=0.95),
    "tiny": dict(epochs=2, batch_size=8, lr=1e-3, lr_decay=0.95, val_max_frames=200),
}


def lifter_config(model: str, preset: str = "cpu", **overrides: Any) -> LifterConfig:
    """The architecture preset ``preset`` of ``model``, with field overrides."""
    if (model, preset) not in _ARCH:
        raise D3PRError(
            f"unknown lifter {model!r} / preset {preset!r}: models {MODELS}, presets {PRESETS}"
        )
    return LifterConfig(model=model, **{**_ARCH[model, preset], **overrides})


def train_config(
    model: str, preset: str = "cpu", lifter: dict[str, Any] | None = None, **overrides: Any
) -> TrainConfig:
    """The training preset of ``model`` (architecture overrides in ``lifter``)."""
    arch = lifter_config(model, preset, **(lifter or {}))
    base = dict(_TRAIN[preset])
    if model == "mixste":
        base.setdefault("velocity_weight", 0.5 if preset != "tiny" else 0.0)
    return TrainConfig(lifter=arch, **{**base, **overrides})


def with_lifter(config: TrainConfig, **lifter_overrides: Any) -> TrainConfig:
    """A copy of ``config`` whose lifter fields are overridden."""
    return replace(config, lifter=replace(config.lifter, **lifter_overrides))


#: Standard (train, test) subjects per motion source.
DEFAULT_SUBJECTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "h36m-fk17": (("S1", "S5", "S6", "S7", "S8"), ("S9", "S11")),
    "videopose3d": (("S1", "S5", "S6", "S7", "S8"), ("S9", "S11")),
    "deepmimic": (("deepmimic",), ("deepmimic",)),
}
SETTINGS = ("gt", "detected")


@dataclass(frozen=True)
class DataSpec:
    """Which clips a lifter sees: motion source, 2D setting, frame rate, cameras (``data.json``).

    Args:
        source: motion source name (``h36m-fk17``, ``deepmimic``, ``videopose3d``).
        path: where it lives (None: the source's default).
        setting: ``"gt"`` (projected 2D) or ``"detected"`` (projected 2D + the default
            detector-noise profile).
        fps: target frame rate (integer subsampling), None = the source's.
        n_cameras: virtual cameras per sequence (sources without cameras of their own).
        seed: seed of the virtual rig and of the detector noise.
    """

    source: str = "h36m-fk17"
    path: str | None = None
    setting: str = "gt"
    fps: float | None = 25.0
    n_cameras: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.setting not in SETTINGS:
            raise D3PRError(
                f"2D setting must be one of {', '.join(SETTINGS)}, got {self.setting!r}"
            )
        if self.n_cameras < 1:
            raise D3PRError(f"n_cameras must be >= 1, got {self.n_cameras}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

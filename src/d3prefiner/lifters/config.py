"""Configurations of the base lifters and of their training, with named presets.

Two frozen dataclasses, validated on construction and stored as ``config.json`` in every run dir:

* :class:`LifterConfig` — the network: which model, width, depth, ``window`` length, TDS factor.
* :class:`TrainConfig` — the training: a ``LifterConfig``, the engine's ``LoopConfig`` (steps,
  batch size, Adam learning rate and schedule, precision, validation period, seed) and the
  lifters' own velocity-loss weight, flip augmentation / flip test, validation frames.

Presets (``lifter_config(model, preset)`` / ``train_config(model, preset)``):

* ``paper`` — the published sizes: MixSTE dim 512, depth 8 (8 spatial + 8 temporal blocks);
  STCFormer dim 256, depth 6. Meant for a GPU.
* ``cpu`` — small models that train well on a 2-core CPU (a few hundred thousand parameters).
* ``tiny`` — a few thousand parameters, for tests.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..engine.loop import LOOP_FIELDS, HasLoop, LoopConfig, nest_loop
from ..errors import ArgumentError, D3PRError
from ..nn.shape import SHAPE_HELP, NetworkShape
from ..predictions import MAX_FPS
from .registry import get_lifter, lifter_names

PRESETS = ("paper", "cpu", "tiny")
_KIND = {
    str: "a string",
    numbers.Real: "a number",
    numbers.Integral: "an integer",
    type(None): "null",
}


#: Help of every :class:`LifterConfig` field (the ``d3pr lifter train`` options are made from it).
LIFTER_HELP: dict[str, str] = {
    "model": "stcformer, mixste or tcn.",
    **SHAPE_HELP,
    "window": "Output frames per window (default: the preset's).",
    "tds": "Temporal downsampling factor (STCFormer's TDS).",
    "num_joints": "Joints per frame (17, H36M order).",
    "qk_norm": "Layer-normalised queries and keys (attention lifters; default: preset).",
}


@dataclass(frozen=True)
class LifterConfig(NetworkShape):
    """Architecture of a seq2seq lifter ``(B, T, 17, 2) → (B, T, 17, 3)``.

    Args:
        model: ``"stcformer"`` or ``"mixste"``.
        dim, depth, heads, mlp_ratio, dropout: the network's size
            (:class:`~d3prefiner.nn.shape.NetworkShape`, keyword-only); ``depth`` counts STC blocks
            (STCFormer), (spatial, temporal) block pairs (MixSTE) or dilated blocks (TCN).
        window: frames per window the network sees (with TDS: after downsampling); ``T`` in the
            ``config.json`` of older runs.
        tds: temporal downsampling factor k (STCFormer's TDS; 1 = off). The network sees every
            k-th frame, so a window spans ``(window - 1) * k + 1`` frames of the original
            sequence.
        num_joints: joints per frame (17, H36M order).
        qk_norm: STCFormer, MixSTE: LayerNorm on each head's queries and keys before their dot
            product (bounds the attention logits; without it the MixSTE cpu preset's temporal
            attention collapsed onto one frame, its logits in the thousands).
    """

    model: str = "stcformer"
    window: int = 27
    tds: int = 1
    num_joints: int = 17
    qk_norm: bool = False

    def __post_init__(self) -> None:
        self.check_shape(get_lifter(self.model).channel_split)
        for name in ("window", "tds", "num_joints"):
            if int(getattr(self, name)) < 1:
                raise ArgumentError(name, f"must be >= 1, got {getattr(self, name)}")
        if self.qk_norm and self.model not in ("stcformer", "mixste"):
            raise ArgumentError("qk_norm", f"needs attention; {self.model} has none")

    @property
    def span(self) -> int:
        """Frames of the original sequence one window covers: ``(window - 1) * tds + 1``."""
        return (self.window - 1) * self.tds + 1

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LifterConfig:
        """Inverse of ``asdict``; reads older runs' ``T`` as ``window``."""
        d = dict(d)
        if "T" in d and "window" not in d:
            d["window"] = d.pop("T")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise D3PRError(f"config: unknown lifter keys {sorted(unknown)}")
        return cls(**d)


#: Help of the :class:`TrainConfig` fields of the lifters' own (``loop``'s are in
#: :data:`d3prefiner.engine.LOOP_HELP`, ``lifter``'s in :data:`LIFTER_HELP`).
TRAIN_HELP: dict[str, str] = {
    "velocity_weight": "MixSTE velocity-loss weight (0 = off).",
    "flip_aug": "Mirror half the training windows (left and right swapped).",
    "flip_test": "Validate on the average with the mirrored input's prediction.",
    "val_max_frames": "Cap on validation frames.",
}


@dataclass(frozen=True)
class TrainConfig(HasLoop):
    """Training of a lifter: the architecture, the engine's optimisation (Adam, in steps) and the
    lifters' own options. Flat LoopConfig field names (``steps=``, ``lr=`` ...) reach ``loop`` in
    :func:`train_config`, :meth:`create` and :meth:`replace`.

    Args:
        lifter: the architecture.
        loop: the optimisation (:class:`~d3prefiner.engine.LoopConfig`): ``steps`` (each draws
            ``batch_size`` random windows over all training frames), ``lr`` and its schedule,
            ``val_every`` (validate on the held-out clips), ``keep_best`` (the weights of the best
            validation MPJPE), ``precision``, ``seed`` (initialisation, windows, flips, dropout).
        velocity_weight: weight of MixSTE's velocity loss (MPJVE between consecutive-frame
            differences) added to the MPJPE loss; 0 = off.
        flip_aug: mirror half the training windows (2D x → −x, 3D x → −x, left/right swapped).
        flip_test: average each prediction with the un-mirrored prediction of the mirrored input.
        val_max_frames: cap on validation frames.
    """

    lifter: LifterConfig = LifterConfig()
    loop: LoopConfig = LoopConfig(steps=3000, val_every=500)
    velocity_weight: float = 0.0
    flip_aug: bool = True
    flip_test: bool = True
    val_max_frames: int = 10000

    def __post_init__(self) -> None:
        if isinstance(self.lifter, dict):  # from JSON
            object.__setattr__(self, "lifter", LifterConfig.from_dict(self.lifter))
        self._nest_loop_field()
        if self.velocity_weight < 0:
            raise ArgumentError("velocity_weight", f"must be >= 0, got {self.velocity_weight}")
        if self.val_max_frames < 1:
            raise ArgumentError("val_max_frames", f"must be >= 1, got {self.val_max_frames}")

    def estimator(self, setting: str | None = None) -> str:
        """The estimator name its predictions carry: the model, its window, its steps and the 2D
        it was trained on (``"tcn-T27-1500-gt"``), so that a refiner trained on one training run's
        errors treats another budget or 2D setting of the same model as an estimator it never saw
        (``Calibration.knows``)."""
        name = f"{self.lifter.model}-T{self.lifter.window}-{self.loop.steps}"
        return f"{name}-{setting}" if setting else name

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; also reads older runs' flat optimisation fields and their
        lifter's ``T``. Unknown keys are a :class:`D3PRError`."""
        d = dict(d)
        known = {f.name for f in fields(cls)} | set(LOOP_FIELDS)
        unknown = set(d) - known
        if unknown:
            hint = " (a run from an epoch-based version: retrain it)" if "epochs" in d else ""
            raise D3PRError(f"config: unknown keys {sorted(unknown)}{hint}")
        d["lifter"] = LifterConfig.from_dict(d.get("lifter", {}))
        loop = d.get("loop", {})
        if isinstance(loop, dict) and set(loop) - set(LOOP_FIELDS):
            raise D3PRError(f"config: unknown loop keys {sorted(set(loop) - set(LOOP_FIELDS))}")
        return cls(**nest_loop(d, cls.default_loop()))


_TRAIN: dict[str, dict[str, Any]] = {
    "paper": dict(steps=40000, batch_size=1024, lr=4e-5, warmup_steps=500, val_every=2000),
    "cpu": dict(steps=3000, batch_size=64, lr=1e-3, warmup_steps=50, val_every=500),
    "tiny": dict(steps=4, batch_size=8, lr=1e-3, val_every=2, val_max_frames=200),
}


def lifter_config(model: str, preset: str = "cpu", **overrides: Any) -> LifterConfig:
    """The architecture preset ``preset`` of ``model``, with field overrides."""
    spec = get_lifter(model)
    if preset not in spec.arch:
        raise D3PRError(
            f"unknown lifter {model!r} / preset {preset!r}: models {', '.join(lifter_names())}, "
            f"presets {', '.join(spec.arch)}"
        )
    return LifterConfig.from_dict({"model": model, **spec.arch[preset], **overrides})


def train_config(
    model: str, preset: str = "cpu", lifter: dict[str, Any] | None = None, **overrides: Any
) -> TrainConfig:
    """The training preset of ``model`` (architecture overrides in ``lifter``)."""
    arch = lifter_config(model, preset, **(lifter or {}))
    base = {**_TRAIN[preset], **get_lifter(model).train.get(preset, {})}
    return TrainConfig.create(lifter=arch, **{**base, **overrides})


SETTINGS = ("gt", "detected", "cpn")


@dataclass(frozen=True)
class DataSpec:
    """Which clips a lifter sees: motion source, 2D setting, frame rate, cameras (``data.json``).

    Args:
        source: motion source name (``h36m-fk17``, ``deepmimic``, ``videopose3d``).
        path: where it lives (None: the source's default).
        setting: ``"gt"`` (projected 2D) or ``"detected"`` (projected 2D + the default
            detector-noise profile); ``"cpn"``: a source's own detections file (``videopose3d``).
        fps: target frame rate (integer subsampling), None = the source's.
        n_cameras: virtual cameras per sequence (sources without cameras of their own).
        seed: seed of the virtual rig and of the detector noise.
        detector_scale: multiplies the detector-noise profile's magnitudes (``detected`` only).
        views: 0, or (single-performer sources such as DeepMimic) the number of camera-view
            groups that stand for subjects, ``view0`` … (see
            :func:`~d3prefiner.data.pipeline.clips_by_view`).
        camera_file: the cameras JSON of a source with real cameras (None: its default).
        skeleton: h36m-fk17's bone lengths, ``fixed`` or ``subject``.
    """

    source: str = "h36m-fk17"
    path: str | None = None
    setting: str = "gt"
    fps: float | None = 25.0
    n_cameras: int = 4
    seed: int = 0
    detector_scale: float = 1.0
    views: int = 0
    camera_file: str | None = None
    skeleton: str = "fixed"

    def __post_init__(self) -> None:
        for name, kinds in (
            ("source", (str,)), ("path", (str, type(None))), ("setting", (str,)),
            ("camera_file", (str, type(None))), ("skeleton", (str,)),
            ("fps", (numbers.Real, type(None))), ("n_cameras", (numbers.Integral,)),
            ("seed", (numbers.Integral,)),
        ):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, kinds) or isinstance(value, bool):
                raise D3PRError(
                    f"data spec: {name} must be {' or '.join(_KIND[k] for k in kinds)}, "
                    f"got {value!r}"
                )
        if self.fps is not None and not (math.isfinite(self.fps) and 0 <= self.fps <= MAX_FPS):
            raise D3PRError(
                f"data spec: fps must be a rate >= 0 and <= {MAX_FPS:g}, got {self.fps!r}"
            )
        if self.setting not in SETTINGS:
            raise D3PRError(
                f"2D setting must be one of {', '.join(SETTINGS)}, got {self.setting!r}"
            )
        if self.n_cameras < 1:
            raise D3PRError(f"n_cameras must be >= 1, got {self.n_cameras}")
        if not (isinstance(self.detector_scale, numbers.Real) and self.detector_scale > 0):
            raise D3PRError(f"data spec: detector_scale must be > 0, got {self.detector_scale!r}")
        if not (isinstance(self.views, numbers.Integral) and self.views >= 0):
            raise D3PRError(f"data spec: views must be an integer >= 0, got {self.views!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

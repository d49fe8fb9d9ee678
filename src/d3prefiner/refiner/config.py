"""RefinerConfig: every hyper-parameter and switch of a D3PRefiner, saved as ``config.json``.

Switches, each with its published (paper) value; the dataclass defaults are the `default` recipe of
:data:`RECIPES`:

* ``use_cnd`` (True): training errors e are sampled from the conditional noise model given the clip's
  own ``[y, x_noisy]``. False (Table III "wo. CND"): e is the estimator's own error ``x_noisy − x0``.
* ``use_diffusion`` (True): False (Table III "wo. diff") trains the same network without the time
  step to predict e from ``(x0 + e, y)`` and refines in one direct step ``x_noisy − ê``.
* ``K`` (2): DDIM steps at inference. ``depth`` (preset): denoising STC blocks (Table IV).
* ``mode`` ("paper"): ``"residual"`` starts from the closed-form estimate ``x_noisy − μ_{a|b}`` and
  diffuses only the zero-mean residual ``e − μ_{a|b}`` (training residuals from the noise model's
  ``residual_sample``; with ``use_cnd=False`` the true residual ``x_noisy − x0 − μ_{a|b}``).
* ``input_noisy`` (False): the network also sees the pose the sampler started from (``x_noisy``,
  or the closed-form estimate in residual mode) beside ``x_t`` and ``y``.
* ``loss_x0`` (False): train on the x̂0 error instead of the ê error, i.e. ê's error weighted by
  ``√(1−ᾱ_t) / (√(1−ᾱ_t) + √ᾱ_t)`` (in units of the e scale).
* ``noise_temporal`` ("white"): the noise model's ``temporal`` option for training samples:
  "white" (paper-faithful: z drawn independently per frame), "ar1", "window", or "" for the noise
  model's own configured default; passed to ``sample_error`` / ``residual_sample``.
* ``correct`` ("full"): which part of the refiner's correction is applied, and chosen a strength
  for on validation: ``"full"``, or ``"in-plane"`` (its image-plane part only; the estimate's depth
  is kept; :data:`d3prefiner.refiner.core.CORRECTIONS`). It does not change training.
* ``geometry`` ("none"): geometric conditioning of the denoiser. ``"fuse"`` also gives it, per
  frame and joint, the training-free ``bones+reproject`` pose of the estimate, the estimate's
  reprojection residual and the 2D's temporal jitter (:mod:`d3prefiner.refiner.features`), so it
  can take x, y from the 2D as far as the 2D deserves. Checkpoints without the key load as "none".
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..denoiser import PRESETS, DenoiserConfig
from ..diffusion import LOSSES, TERMINALS
from ..engine.loop import LOOP_FIELDS, HasLoop, LoopConfig, nest_loop
from ..errors import ArgumentError, D3PRError
from ..nn.shape import SHAPE_HELP, NetworkShape
from .features import GEOMETRY, geometry_channels

MODES = ("paper", "residual")
#: The parts of a correction that can be applied (``correct``; see
#: :func:`d3prefiner.refiner.core.apply_correction`).
CORRECTIONS = ("full", "in-plane")
#: Keys of older checkpoints, ignored on load: the epoch-based trainer's ``epochs``; Adam's betas
#: and the cosine schedule's offset s, which nothing ever set (now fixed at 0.9 / 0.999 and 0.008).
_LEGACY = ("epochs", "beta1", "beta2", "schedule_s")

#: Named sets of the switches above (``d3pr train --recipe``, ``d3pr bench --recipe``).
#: ``paper`` is the method as published. ``default`` is the combination chosen on a validation
#: subject unseen by the CND and the refiner (``d3pr grid``); it is what ``from_preset`` and the
#: CLI give unless told otherwise. ``any`` is ``default`` applying only the image-plane part of
#: each correction, its strength chosen for that part (docs/refining.md).
_PAPER = dict(
    use_cnd=True,
    use_diffusion=True,
    mode="paper",
    input_noisy=False,
    loss_x0=False,
    noise_temporal="white",
)
RECIPES = {
    "paper": _PAPER,
    # start from the closed-form estimate and diffuse only the residual, AR(1) residual samples,
    # x_noisy as an input, x̂0 loss
    "default": dict(_PAPER, mode="residual", noise_temporal="ar1", input_noisy=True, loss_x0=True),
}
RECIPES["any"] = dict(RECIPES["default"], correct="in-plane")
# the default recipe with the geometric conditioning (refiner/features.py)
RECIPES["geo"] = dict(RECIPES["default"], geometry="fuse")


#: Help of every :class:`RefinerConfig` field but ``loop`` (whose fields are in
#: :data:`d3prefiner.engine.LOOP_HELP`): the ``d3pr train`` options are made from them.
FIELD_HELP: dict[str, str] = {
    "preset": "Network size: paper | paper8 | cpu | tiny (default cpu).",
    **SHAPE_HELP,
    "depth": "Denoising STC blocks L (overrides the preset).",
    "num_steps": "Diffusion steps of the training schedule (default 50).",
    "terminal": "Schedule end: clip | zero_snr.",
    "K": "DDIM steps at inference (default 2).",
    "use_cnd": "Train on CND samples (else true errors).",
    "use_diffusion": "Diffusion (else one direct step, no timestep).",
    "mode": "paper | residual (diffuse only e − μ_{a|b}).",
    "input_noisy": "Give the network x_noisy too.",
    "loss": "l2 (per-joint) | mse.",
    "loss_x0": "Train on the x̂0 error.",
    "noise_temporal": "Noise samples' time structure: white | ar1 | window | '' (the model's). "
    "Default: the recipe's (default recipe: ar1; paper recipe: white).",
    "correct": "The part of each correction applied and calibrated: full | in-plane (camera x, y "
    "only; the input's depth kept). Default: the recipe's, or the --init checkpoint's.",
    "window": "Window length T (default 27; the strides follow it unless given).",
    "train_stride": "Stride of training windows (default: a third of the window, 9).",
    "refine_stride": "Stride of refinement windows (default: the window).",
    "geometry": "Geometric conditioning of the denoiser: none | fuse (the estimate's "
    "bones+reproject pose, reprojection residual and the 2D's jitter). Default: the recipe's.",
}


@dataclass(frozen=True)
class RefinerConfig(HasLoop, NetworkShape):
    """Everything needed to rebuild, train and run a refiner (JSON-serialisable).

    The optimisation is the training engine's :class:`~d3prefiner.engine.LoopConfig` in ``loop``;
    :meth:`from_preset`, :meth:`replace` and :meth:`create` also take its fields flat
    (``steps=``, ``lr=``, ``seed=`` ...), and :meth:`from_dict` reads the flat ``config.json`` of
    older checkpoints.
    """

    # network (PoseDenoiser; its size: NetworkShape's keyword-only fields)
    preset: str = "cpu"
    # diffusion
    num_steps: int = 50
    terminal: str = "clip"
    K: int = 2
    # switches: the defaults are the "default" recipe (RECIPES; "paper" is the method as published)
    use_cnd: bool = True
    use_diffusion: bool = True
    mode: str = "residual"
    input_noisy: bool = True
    loss: str = "l2"
    loss_x0: bool = True
    noise_temporal: str = "ar1"
    correct: str = "full"
    # data
    window: int = 27
    train_stride: int = 9
    refine_stride: int = 27
    # geometric conditioning (refiner/features.py)
    geometry: str = "none"
    # optimisation (the training engine's, in steps)
    loop: LoopConfig = LoopConfig(steps=2000, val_every=500)

    def __post_init__(self) -> None:
        self._nest_loop_field()
        if self.mode not in MODES:
            raise ArgumentError("mode", f"must be one of {MODES}, got {self.mode!r}")
        if self.loss not in LOSSES:
            raise ArgumentError("loss", f"must be one of {LOSSES}, got {self.loss!r}")
        if self.correct not in CORRECTIONS:
            raise ArgumentError("correct", f"must be 'full' or 'in-plane', got {self.correct!r}")
        if self.geometry not in GEOMETRY:
            raise ArgumentError("geometry", f"must be one of {GEOMETRY}, got {self.geometry!r}")
        if self.terminal not in TERMINALS:
            raise ArgumentError("terminal", f"must be one of {TERMINALS}, got {self.terminal!r}")
        if not 1 <= self.K <= self.num_steps:
            raise ArgumentError("K", f"must be in [1, num_steps={self.num_steps}], got {self.K}")
        for name in ("window", "train_stride", "refine_stride"):
            if getattr(self, name) < 1:
                raise ArgumentError(name, f"must be >= 1, got {getattr(self, name)}")
        for name in ("refine_stride", "train_stride"):
            if getattr(self, name) > self.window:
                raise ArgumentError(
                    name, f"must not exceed the window ({self.window}): frames would be skipped"
                )
        if self.loss_x0 and not self.use_diffusion:
            raise D3PRError("loss_x0 needs use_diffusion=True (there is no x_t without diffusion)")
        self.denoiser_config()  # validates dim/heads/depth

    @classmethod
    def from_preset(
        cls, preset: str = "cpu", recipe: str = "default", **overrides
    ) -> RefinerConfig:
        """A config with the network sizes of ``preset`` (paper, paper8, cpu, tiny), the switches of
        ``recipe`` (see :data:`RECIPES`), then ``overrides`` (``None`` values are ignored)."""
        if preset not in PRESETS:
            raise D3PRError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
        if recipe not in RECIPES:
            raise D3PRError(f"unknown recipe {recipe!r}; choose from {sorted(RECIPES)}")
        overrides = {k: v for k, v in overrides.items() if v is not None}
        return cls.create(**{"preset": preset, **PRESETS[preset], **RECIPES[recipe], **overrides})

    def denoiser_config(self) -> DenoiserConfig:
        return DenoiserConfig(
            **self.shape(),
            input_noisy=self.input_noisy,
            timestep=self.use_diffusion,
            num_steps=self.num_steps,
            geo_dim=geometry_channels(self.geometry),
        )

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> RefinerConfig:
        """Inverse of :meth:`to_dict`; also reads the flat ``config.json`` of older checkpoints
        (the optimisation fields beside the others, before ``loop`` existed)."""
        d = {k: v for k, v in d.items() if k not in _LEGACY}  # training-only, epoch-based
        loop = d.pop("loop", {})
        if not isinstance(loop, dict):
            raise D3PRError(f"{where}: refiner config key 'loop' must be an object, got {loop!r}")
        loop = {**loop, **{k: d.pop(k) for k in LOOP_FIELDS if k in d}}  # old flat files
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names) + sorted(f"loop.{k}" for k in set(loop) - {*LOOP_FIELDS})
        if unknown:
            raise D3PRError(f"{where}: unknown refiner config keys {unknown}")
        defaults = cls()
        check_json_types(d, defaults, where, "refiner config key")
        check_json_types(loop, defaults.loop, where, "refiner config key loop.")
        try:
            return cls(**nest_loop({**d, "loop": loop}, defaults.loop))
        except TypeError as exc:
            raise D3PRError(f"{where}: bad refiner config ({exc})") from None


def check_json_types(d: dict, defaults, where: str, what: str) -> None:
    """Each value of ``d`` (from JSON) has the type of the same field of ``defaults`` (an int may
    stand for a float)."""
    for k, v in d.items():
        want = type(getattr(defaults, k))
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            continue
        if want in (int, float, str, bool) and type(v) is not want:
            sep = "" if what.endswith(".") else " "
            raise D3PRError(f"{where}: {what}{sep}{k!r} must be a {want.__name__}, got {v!r}")

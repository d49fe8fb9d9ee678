"""The conditional noisy-3D-pose distribution (CND, the paper's Section III-B).

- :class:`ConditionalGaussian` — Gaussian of ``[a, b]`` from streamed float64 sums; ``a | b``.
- :class:`PoseNoiseModel` — the CND on poses (granularity pose / joint / window), closed-form
  refinement ``x_noisy − μ_{a|b}``, sampling with white / AR(1) / block-correlated ``z``.
- :class:`NoiseModel` — the interface; :func:`load_noise_model` reads any registered format.
- :mod:`.temporal` — white / AR(1) / block strategies for the samples' time structure.
- :func:`autocorrelation` — per-lag correlations of sequences.
- :mod:`.report` — the held-out report and figures of ``d3pr noise fit``.
"""

from .base import NoiseModel, load_noise_model, register_noise_format
from .gaussian import ConditionalGaussian
from .pose import (
    DEFAULT_TEMPORAL,
    GRANULARITIES,
    TEMPORALS,
    NoiseModelConfig,
    PoseNoiseModel,
    autocorrelation,
    fit_noise_model,
    iter_errors,
)
from .synthetic import make_synthetic_predictions

__all__ = [
    "DEFAULT_TEMPORAL",
    "GRANULARITIES",
    "TEMPORALS",
    "ConditionalGaussian",
    "NoiseModel",
    "NoiseModelConfig",
    "PoseNoiseModel",
    "autocorrelation",
    "fit_noise_model",
    "iter_errors",
    "load_noise_model",
    "make_synthetic_predictions",
    "register_noise_format",
]

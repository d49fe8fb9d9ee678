"""The research protocol as a library: presets, splits, the experiment pipeline and its runners.

* :mod:`.presets` — every experiment-level preset, recipe hook and named refiner variant;
* :mod:`.split` — which subjects the CND, the refiner and its validation see;
* :mod:`.experiment` — one experiment as resumable stages (``d3pr demo``, ``d3pr bench``);
* :mod:`.grid` — refiner variants × bench runs, chosen on validation and scored on test
  (``d3pr grid``, ``d3pr ablate``);
* :mod:`.transfer` — a finished run on another motion source (``d3pr bench --test-source``);
* :mod:`.pooled` — one refiner for several estimators, left-one-out (``d3pr pooled``);
* :mod:`.summary`, :mod:`.curves` — the results of finished runs (``d3pr summary``, ``d3pr curves``).
"""

from .experiment import Experiment, ExperimentConfig, verdict
from .presets import (
    BENCH_PRESETS,
    DEMO_PRESETS,
    TABLES,
    VARIANTS,
    bench_models,
    check_variants,
    named_preset,
    with_recipe,
)
from .split import PROTOCOLS, Split
from .transfer import run_transfer

__all__ = [
    "BENCH_PRESETS",
    "DEMO_PRESETS",
    "PROTOCOLS",
    "TABLES",
    "VARIANTS",
    "Experiment",
    "ExperimentConfig",
    "Split",
    "bench_models",
    "check_variants",
    "named_preset",
    "run_transfer",
    "verdict",
    "with_recipe",
]

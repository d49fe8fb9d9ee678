"""One training engine for every trainer (lifters, refiner): :func:`fit` with a :class:`LoopConfig`.

* :mod:`.loop` — steps, schedule, precision, validation + keep-best, budget, bit-identical resume;
  a trainer's config holds a ``loop: LoopConfig`` (:class:`HasLoop`: flat overrides such as
  ``steps=`` reach it through :func:`nest_loop`);
* :mod:`.precision` — ``auto | fp32 | bf16`` and the CPU's bf16 features;
* :mod:`.schedule` — learning-rate schedules in steps.
"""

from .loop import (
    HISTORY_FILE,
    LOOP_FIELDS,
    LOOP_HELP,
    STATE_FILE,
    HasLoop,
    LoopConfig,
    Task,
    TrainResult,
    calibrate_steps,
    fit,
    is_finished,
    nest_loop,
    read_history,
    step_seed,
    steps_for_budget,
    world_info,
)
from .precision import PRECISIONS, autocast, cpu_bf16_flags, resolve_precision
from .schedule import SCHEDULES, lr_at

__all__ = [
    "HISTORY_FILE",
    "LOOP_FIELDS",
    "LOOP_HELP",
    "PRECISIONS",
    "SCHEDULES",
    "STATE_FILE",
    "HasLoop",
    "LoopConfig",
    "Task",
    "TrainResult",
    "autocast",
    "calibrate_steps",
    "steps_for_budget",
    "cpu_bf16_flags",
    "fit",
    "is_finished",
    "lr_at",
    "nest_loop",
    "read_history",
    "resolve_precision",
    "step_seed",
    "world_info",
]

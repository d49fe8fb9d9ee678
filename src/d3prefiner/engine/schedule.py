"""Learning-rate schedules in steps: ``cosine`` (to 0), ``step`` (×decay every N steps), ``constant``;
all with an optional linear warm-up."""

from __future__ import annotations

import math

from ..errors import D3PRError

SCHEDULES = ("cosine", "step", "constant")


def lr_at(
    step: int,
    total: int,
    lr: float,
    schedule: str = "cosine",
    warmup: int = 0,
    decay: float = 1.0,
    decay_every: int = 1,
) -> float:
    """Learning rate of 0-based ``step`` out of ``total`` steps.

    Args:
        step: the step about to be taken (0 … total − 1).
        total: steps of the whole run.
        lr: peak learning rate.
        schedule: ``cosine``: ``lr · ½(1 + cos(π · step / total))``; ``step``:
            ``lr · decay^(step // decay_every)``; ``constant``: ``lr``.
        warmup: the first ``warmup`` steps ramp linearly from ``lr / warmup`` to ``lr``.
        decay, decay_every: the ``step`` schedule's factor and period.
    """
    if schedule not in SCHEDULES:
        raise D3PRError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if schedule == "cosine":
        value = lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))
    elif schedule == "step":
        value = lr * decay ** (step // max(decay_every, 1))
    else:
        value = lr
    if warmup > 0 and step < warmup:
        value *= (step + 1) / warmup
    return value

"""Numeric precision of training and inference: ``auto`` | ``fp32`` | ``bf16``.

``auto`` is bf16 autocast where the hardware computes bf16 matmuls natively (a CUDA GPU that
supports bf16; a CPU with AMX-BF16 or AVX512-BF16), fp32 otherwise. Under bf16 autocast the
matmuls run in bf16 with fp32 accumulation; weights, optimiser state and losses stay fp32.
"""

from __future__ import annotations

import contextlib
import functools
import platform
from pathlib import Path

import torch

from ..errors import D3PRError

PRECISIONS = ("auto", "fp32", "bf16")
_CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_bf16_flags() -> tuple[str, ...]:
    """The bf16 matrix features of this CPU (``amx_bf16``, ``avx512_bf16``), from /proc/cpuinfo
    on Linux; ``()`` elsewhere or when unknown."""
    info = Path("/proc/cpuinfo")
    if platform.system() != "Linux" or not info.exists():
        return ()
    flags: set[str] = set()
    for line in info.read_text(errors="ignore").splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return tuple(f for f in _CPU_BF16_FLAGS if f in flags)


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """``auto`` → ``bf16`` or ``fp32`` for ``device``; ``fp32`` / ``bf16`` are returned as they are.

    Raises:
        D3PRError: an unknown name.
    """
    if precision not in PRECISIONS:
        raise D3PRError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_bf16_flags() else "fp32"
    return "fp32"


def autocast(precision: str, device: torch.device | str = "cpu"):
    """A context running the enclosed forward passes in ``precision`` (already resolved)."""
    device = torch.device(device)
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "fp32":
        return contextlib.nullcontext()
    raise D3PRError(f"autocast: resolve the precision first, got {precision!r}")

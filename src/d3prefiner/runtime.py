"""Where the work runs: CPU threads that survive a busy machine, and devices that exist.

torch's default is one thread per core. On a machine where another process already keeps a core
busy, those threads wait on each other at every parallel region and a run can be 10–20× slower.
:func:`configure_threads` with ``threads=0`` (every command's default) therefore counts the
cores that are *idle now* (two ``/proc/stat`` samples 0.2 s apart; the CPU affinity mask elsewhere)
and uses that many, at least one.
"""

from __future__ import annotations

import os
import time

from .errors import ArgumentError


def _cpu_times() -> list[tuple[int, int]] | None:
    """``(idle, total)`` jiffies per CPU from ``/proc/stat``, or ``None`` where unavailable."""
    try:
        with open("/proc/stat") as f:
            lines = [ln.split() for ln in f if ln.startswith("cpu") and ln[3:4].isdigit()]
    except OSError:
        return None
    out = []
    for parts in lines:
        vals = [int(v) for v in parts[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
        out.append((idle, sum(vals[:8])))
    return out or None


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def free_cores(interval: float = 0.2) -> int:
    """How many of this process's cores are idle now (≥ 1).

    Counts the idle share of all CPUs over ``interval`` seconds, rounded to the nearest core and
    capped by :func:`available_cores`. Where ``/proc/stat`` does not exist, every available core
    is counted as free.
    """
    cores = available_cores()
    first = _cpu_times()
    if first is None:
        return cores
    time.sleep(interval)
    second = _cpu_times()
    if second is None or len(second) != len(first):
        return cores
    idle = sum(b[0] - a[0] for a, b in zip(first, second))
    total = sum(b[1] - a[1] for a, b in zip(first, second))
    if total <= 0:
        return cores
    busy_cpus = len(first) * (1.0 - idle / total)
    return max(1, min(cores, round(len(first) - busy_cpus)))


def configure_threads(threads: int = 0) -> int:
    """Set torch's CPU threads: ``threads > 0`` as given, ``0`` = the cores idle now.

    Returns the number of threads set. Raises :class:`~d3prefiner.errors.ArgumentError` for a negative count.
    """
    import torch

    if threads < 0:
        raise ArgumentError(
            "threads", f"must be 0 (the idle cores) or a positive count, got {threads}"
        )
    n = threads if threads > 0 else free_cores()
    torch.set_num_threads(n)
    return n


def check_device(device: str) -> str:
    """Refuse a device string that torch does not know or this build cannot use, in one line."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ArgumentError(
            "device", f"{device!r}: not a torch device (use cpu, cuda, cuda:1 or mps)"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ArgumentError(
                "device",
                f"{device}: this PyTorch build has no usable CUDA GPU "
                f"(torch {torch.__version__}); use {{0}} cpu",
                ("device",),
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ArgumentError(
                "device", f"{device}: only {torch.cuda.device_count()} CUDA device(s) visible"
            )
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ArgumentError(
                "device", f"{device}: MPS is not available here; use {{0}} cpu", ("device",)
            )
    elif dev.type != "cpu":
        raise ArgumentError("device", f"{device}: unsupported device type (use cpu, cuda or mps)")
    return device

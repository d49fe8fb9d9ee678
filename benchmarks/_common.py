"""What every benchmark here shares: this machine's measured matmul peaks, a timer and a FLOP
counter. Every figure a benchmark prints is divided by the peak measured at its start, so that
figures from different machines (or the same machine under other load) compare as ratios.

Not a benchmark itself; the scripts beside it import it (``python benchmarks/<name>.py`` puts
this folder on ``sys.path``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def timed(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def bf16_available() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX or AVX-512 BF16): elsewhere
    torch emulates bf16 and a "bf16 peak" would measure the emulation."""
    from d3prefiner.engine import cpu_bf16_flags

    return bool(cpu_bf16_flags())


def precisions(asked: str = "fp32,bf16") -> tuple[str, ...]:
    """The precisions of ``asked`` (comma-separated) this machine has: bf16 only where
    :func:`bf16_available`."""
    names = tuple(p.strip() for p in asked.split(",") if p.strip())
    bad = [p for p in names if p not in DTYPES]
    if bad:
        raise SystemExit(f"error: unknown precision {bad[0]!r} (fp32, bf16)")
    return tuple(p for p in names if p != "bf16" or bf16_available())


def matmul_peak(precision: str = "fp32", n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an ``n × n`` by ``n × n`` ``torch.matmul`` in ``precision`` (the best of
    ``repeats``, after one warm-up): the rate this machine's kernels reach on the easiest
    workload there is, with torch's current thread count."""
    dtype = DTYPES[precision]
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def cores_peak(precision: str, cores: int, n: int = 2048) -> float:
    """The peak of ``cores`` cores: the larger of a ``cores``-thread matmul and ``cores`` times a
    one-thread matmul (on a shared machine, threads that wait for each other under the other
    tenants' load can make the first far lower than what the cores deliver to separate runs)."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = matmul_peak(precision, n)
        torch.set_num_threads(cores)
        return max(matmul_peak(precision, n), cores * one)
    finally:
        torch.set_num_threads(threads)


def measure_peaks(names: tuple[str, ...], n: int = 2048) -> dict[str, float]:
    """``{precision: FLOP/s}`` for each of ``names``, printed as they are measured."""
    peaks = {}
    for p in names:
        peaks[p] = matmul_peak(p, n)
        print(f"matmul peak {p}: {peaks[p] / 1e9:.1f} GFLOP/s ({n}², "
              f"{torch.get_num_threads()} threads)", flush=True)  # fmt: skip
    return peaks


def forward_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the matmuls and convolutions ``fn()`` runs (``torch.utils.flop_counter``)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return counter.get_total_flops()


def of_peak(flops_per_s: float, peak: float) -> str:
    """``achieved / peak`` as a percentage, e.g. ``12.3 %``."""
    return f"{100 * flops_per_s / peak:.1f} %"

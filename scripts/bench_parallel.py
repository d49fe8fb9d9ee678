"""Cross-fitting runs side by side or one after another: which uses a CPU's cores better?

    python scripts/bench_parallel.py                 # every cpu lifter, 2 cores, 20 s per mode
    python scripts/bench_parallel.py --models mixste --seconds 30 --cores 2

For each ``cpu`` lifter (the bench's training step: batch 64, T = 27, bf16 where the CPU has it),
two ways of spending ``--cores`` cores are timed on an otherwise idle machine:

* **one run, all cores**: one process with ``--cores`` threads (``d3pr bench --jobs 1``);
* **runs side by side**: ``--cores`` processes with one thread each, started together
  (``d3pr bench --jobs N``, what the cross-fitting folds do in parallel).

Each process warms up, then counts its optimiser steps for ``--seconds``. The figure is the
machine's total steps/s; ``side by side ×`` is its ratio to one run on all cores (> 1: the
parallel schedule finishes a bench's lifter stage sooner).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

MODELS = ("stcformer", "mixste", "tcn")


def _count_steps(model: str, threads: int, seconds: float, start, out) -> None:
    import torch

    torch.set_num_threads(threads)
    from bench_speed import lifter_step

    from d3prefiner.engine import resolve_precision

    step, _, _ = lifter_step(model, resolve_precision("auto", "cpu"))
    for _ in range(3):
        step()
    start.wait()  # every process starts timing together
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        step()
        n += 1
    out.put(n / (time.monotonic() - t0))


def steps_per_second(model: str, processes: int, threads: int, seconds: float) -> float:
    """Total optimiser steps/s of ``processes`` concurrent runs with ``threads`` threads each."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=_count_steps, args=(model, threads, seconds, start, out))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    rates = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0)
    a = p.parse_args()
    print(f"{'lifter':<12}{'1 run × ' + str(a.cores) + ' thr':>16}{'side by side':>15}{'×':>7}")
    for m in a.models.split(","):
        one = steps_per_second(m, 1, a.cores, a.seconds)
        many = steps_per_second(m, a.cores, 1, a.seconds)
        print(f"{m:<12}{one:>12.2f} st/s{many:>11.2f} st/s{many / one:>7.2f}", flush=True)


if __name__ == "__main__":
    main()

"""The attention kernel of the bf16 CPU path (``d3prefiner.nn.stc.attention``) against the others,
on real training steps: the ``cpu`` refiner (batch 64, window 27) and the ``cpu`` STCFormer and
MixSTE lifters (batch 64, T = 27), one optimiser step each (bf16 autocast where the CPU has bf16).

    python benchmarks/bench_attention.py [--threads 1] [--repeats 3] [--steps 4]

Kernels: ``current`` (the library's), ``bf16-softmax`` (the same with the softmax in bf16, as
before), ``sdpa`` (PyTorch's ``scaled_dot_product_attention``). Each kernel is timed ``--repeats``
times in turn (interleaved, so a shared machine's load falls on all alike); the best time of each
is printed as the step's achieved FLOP/s over this machine's matmul peak (measured at the start)
and as its ratio to ``current``.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from _common import measure_peaks, of_peak, precisions
from bench_speed import lifter_step, refiner_step  # the speed table's steps

import d3prefiner.lifters.mixste as mixste
import d3prefiner.nn.stc as stc

CURRENT = stc.attention


def bf16_softmax(q, k, v, dropout=0.0):
    w = ((q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5).softmax(dim=-1).to(v.dtype)
    return (F.dropout(w, dropout) if dropout > 0 else w) @ v


def sdpa(q, k, v, dropout=0.0):
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)


KERNELS = {"current": CURRENT, "bf16-softmax": bf16_softmax, "sdpa": sdpa}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per repeat")
    ap.add_argument("--peak-size", type=int, default=2048, help="side of the peak's matmul")
    ap.add_argument("--only", default="", help="comma-separated steps: refiner,mixste,stcformer")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    prec = "bf16" if "bf16" in precisions() else "fp32"
    peak = measure_peaks((prec,), args.peak_size)[prec]
    workloads = {
        "refiner (cpu)": lambda: refiner_step(prec),
        "mixste (cpu)": lambda: lifter_step("mixste", prec),
        "stcformer (cpu)": lambda: lifter_step("stcformer", prec),
    }
    words = [w.strip() for w in args.only.split(",") if w.strip()]
    workloads = {k: v for k, v in workloads.items() if not words or any(w in k for w in words)}
    print(f"{prec + ' step':<18}" + "".join(f"{k:>24}" for k in KERNELS))
    print(
        f"{'':<18}" + f"{'ms':>8}{'of peak':>9}{'x cur.':>7}" * len(KERNELS) + "  (best of repeats)"
    )
    for name, make in workloads.items():
        best = {k: float("inf") for k in KERNELS}
        flops = 0
        for _ in range(args.repeats):
            for k, kernel in KERNELS.items():
                stc.attention = mixste.attention = kernel
                step, flops, _ = make()
                step()
                step()
                t = time.perf_counter()
                for _ in range(args.steps):
                    step()
                best[k] = min(best[k], (time.perf_counter() - t) / args.steps)
        stc.attention = mixste.attention = CURRENT
        cells = "".join(
            f"{best[k] * 1000:>8.0f}{of_peak(flops / best[k], peak):>9}"
            f"{best[k] / best['current']:>7.2f}"
            for k in KERNELS
        )
        print(f"{name:<18}{cells}", flush=True)


if __name__ == "__main__":
    main()

"""Speed table: training and refinement throughput in fp32 and bf16, as fractions of this machine's
measured matmul peaks, all in one run (BENCHMARKS.md, "Speed").

    python scripts/bench_speed.py --threads 1            # what one job of two gets on 2 cores
    python scripts/bench_speed.py --threads 2 --json speed.json
    python scripts/bench_speed.py --threads 1 --compile  # + each lifter's step under torch.compile

Peaks: a large square matmul (``--peak-size``) in fp32 and in bf16, timed like the workloads, at
the start and again just before and after each workload: on a shared machine the other tenants'
load drifts during a run, so each row is a fraction of the mean of the two peaks around it.
Workloads (synthetic inputs of the real shapes; speed does not depend on the values): one
optimiser step of each ``cpu`` lifter (batch 64, T = 27), each lifter's prediction of whole
sequences (flip test, batch 256 windows, as the bench predicts), one step of the ``cpu`` refiner (batch 64,
window 27, default recipe), and refinement (K = 2 DDIM steps, batch ``--refine-batch`` windows) with
the ``cpu`` and ``paper`` (C = 256, L = 4) denoisers. FLOPs are counted by ``torch.utils.flop_counter`` on one
forward pass (matmuls and convolutions; a training step counted as 3× its forward).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from d3prefiner.denoiser import PoseDenoiser
from d3prefiner.engine import autocast, cpu_bf16_flags
from d3prefiner.lifters import build_lifter
from d3prefiner.refiner import RefinerConfig

PRECISIONS = ("fp32", "bf16")


def timed(fn, repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def matmul_peak(precision: str, n: int) -> float:
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / timed(lambda: a @ b, 5)


def forward_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return counter.get_total_flops()


def lifter_step(model_name: str, precision: str, batch: int = 64, compiled: bool = False):
    torch.manual_seed(0)
    net = build_lifter(model_name, "cpu")
    c = getattr(net, "context", 0)
    T = net.config.T
    x, y = torch.randn(batch, T + 2 * c, 17, 2), torch.randn(batch, T, 17, 3)
    opt = torch.optim.Adam(net.parameters())
    forward = torch.compile(net) if compiled else net

    def step():
        with autocast(precision):
            loss = (forward(x).float() - y).norm(dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step, 3 * forward_flops(lambda: net(x)), batch * T


def lifter_predict(model_name: str, precision: str, clips: int = 4, frames: int = 1080):
    """:func:`d3prefiner.lifters.predict.predict` as the bench calls it (flip test, batch 256) on
    ``clips`` sequences of ``frames`` frames."""
    import math

    import numpy as np

    from d3prefiner.lifters.predict import predict

    torch.manual_seed(0)
    net = build_lifter(model_name, "cpu").eval()
    c, T = getattr(net, "context", 0), net.config.T
    seqs = [np.random.default_rng(i).normal(0, 0.1, (frames, 17, 2)).astype(np.float32)
            for i in range(clips)]  # fmt: skip
    windows = clips * math.ceil(frames / T)  # non-overlapping, flip-tested: two forwards each
    flops = 2 * windows * forward_flops(lambda: net(torch.randn(1, T + 2 * c, 17, 2)))
    return (lambda: predict(net, seqs, precision=precision)), flops, clips * frames


def refiner_step(precision: str, batch: int = 64):
    torch.manual_seed(0)
    cfg = RefinerConfig.from_preset("cpu")
    net = PoseDenoiser(cfg.denoiser_config()).train()
    W = cfg.window
    x, y = torch.randn(batch, W, 17, 3), torch.randn(batch, W, 17, 2)
    t = torch.randint(0, cfg.num_steps, (batch,))
    e = torch.randn(batch, W, 17, 3)
    opt = torch.optim.Adam(net.parameters())

    def step():
        with autocast(precision):
            loss = (net(x, y, t, x).float() - e).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step, 3 * forward_flops(lambda: net(x, y, t, x)), batch * W


def refinement(preset: str, precision: str, batch: int = 64):
    torch.manual_seed(0)
    cfg = RefinerConfig.from_preset(preset)
    net = PoseDenoiser(cfg.denoiser_config()).eval()
    W = cfg.window
    x, y = torch.randn(batch, W, 17, 3), torch.randn(batch, W, 17, 2)

    def run():
        with torch.inference_mode(), autocast(precision):
            for t in (49, 24)[: cfg.K]:  # K = 2 network evaluations per window
                net(x, y, t, x)

    return run, cfg.K * forward_flops(lambda: net(x, y, 49, x)), batch * W


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--peak-size", type=int, default=2048)
    p.add_argument(
        "--refine-batch", type=int, default=64, help="Windows per refinement call (K = 2 each)."
    )
    p.add_argument("--json", default=None, help="Also write the table as JSON here.")
    p.add_argument(
        "--compile", action="store_true", help="Also time each lifter's bf16 step compiled."
    )
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    peaks = {pr: matmul_peak(pr, a.peak_size) for pr in PRECISIONS}
    print(f"threads {a.threads}; CPU bf16 features: {', '.join(cpu_bf16_flags()) or 'none'}")
    for pr in PRECISIONS:
        print(f"matmul peak {pr}: {peaks[pr] / 1e9:.0f} GFLOP/s ({a.peak_size}²)")
    work = {
        **{f"train lifter {m} (cpu)": (lambda pr, m=m: lifter_step(m, pr)) for m in
           ("stcformer", "mixste", "tcn")},
        **{f"predict lifter {m} (cpu)": (lambda pr, m=m: lifter_predict(m, pr)) for m in
           ("stcformer", "mixste", "tcn")},
        "train refiner (cpu)": refiner_step,
        "refine (cpu: C=128, L=2)": lambda pr: refinement("cpu", pr, a.refine_batch),
        "refine (paper: C=256, L=4)": lambda pr: refinement("paper", pr, a.refine_batch),
    }  # fmt: skip
    rows = []
    print(f"\n{'workload':<30}{'prec':>6}{'frames/s':>11}{'GFLOP/s':>9}{'peak':>7}{'of peak':>9}"
          f"{'bf16 ×':>8}")  # fmt: skip
    for name, make in work.items():
        fps = {}
        for pr in PRECISIONS:
            fn, flops, frames = make(pr)
            before = matmul_peak(pr, a.peak_size)
            sec = timed(fn, a.repeats)
            peak = (before + matmul_peak(pr, a.peak_size)) / 2  # the load around this row
            fps[pr] = frames / sec
            rate = flops / sec
            row = dict(workload=name, precision=pr, frames_per_s=fps[pr], gflops=rate / 1e9,
                       peak_gflops=peak / 1e9, fraction_of_peak=rate / peak)  # fmt: skip
            rows.append(row)
            gain = f"{fps['bf16'] / fps['fp32']:.2f}" if pr == "bf16" else ""
            print(f"{name:<30}{pr:>6}{fps[pr]:>11.0f}{rate / 1e9:>9.1f}{peak / 1e9:>7.0f}"
                  f"{100 * rate / peak:>8.1f}%{gain:>8}", flush=True)  # fmt: skip
    compiled = compile_rows(a.repeats) if a.compile else []
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "peaks_gflops": {k: v / 1e9 for k, v in peaks.items()},
                       "rows": rows, "compile": compiled}, f, indent=1)  # fmt: skip


def compile_rows(repeats: int) -> list[dict]:
    """Each ``cpu`` lifter's bf16 training step eager and under ``torch.compile`` (steps/s; the
    compile time is the first call's)."""
    print(f"\n{'torch.compile (bf16 step)':<30}{'eager/s':>9}{'compiled/s':>12}{'compile s':>11}")
    out = []
    for m in ("stcformer", "mixste", "tcn"):
        eager = 1 / timed(lifter_step(m, "bf16")[0], repeats)
        step = lifter_step(m, "bf16", compiled=True)[0]
        t = time.perf_counter()
        step()
        first = time.perf_counter() - t
        fast = 1 / timed(step, repeats)
        out.append(dict(lifter=m, eager_steps_s=eager, compiled_steps_s=fast, compile_s=first))
        print(f"{m:<30}{eager:>9.2f}{fast:>12.2f}{first:>11.0f}", flush=True)
    return out


if __name__ == "__main__":
    main()

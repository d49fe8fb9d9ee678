"""Training and refinement throughput in fp32 and bf16, as fractions of this machine's measured
matmul peaks; optionally, how a cross-fitting stage best spends the cores.

    python benchmarks/bench_speed.py --threads 1            # what one job of two gets on 2 cores
    python benchmarks/bench_speed.py --threads 2 --json speed.json
    python benchmarks/bench_speed.py --threads 1 --compile  # + each lifter's step compiled
    python benchmarks/bench_speed.py --only tcn --parallel 2 # + one run x 2 threads vs 2 x 1
    python benchmarks/bench_speed.py --only none --geometry  # the geometric step's share only

Peaks: a square ``torch.matmul`` (``--peak-size``) in fp32, and in bf16 where the CPU has it,
measured at the start and again just before and after each workload: on a shared machine the
other tenants' load drifts during a run, so each row is a fraction of the mean of the two peaks
around it. Workloads (synthetic inputs of the real shapes; speed does not depend on the values):
one optimiser step of each ``cpu`` lifter (batch 64, T = 27), each lifter's prediction of whole
sequences (flip test, batch 256 windows, as the bench predicts), one step of the ``cpu`` refiner
(batch 64, window 27, default recipe), and the denoiser's K = 2 evaluations per window of
refinement (batch ``--refine-batch`` windows) with the ``cpu`` and ``paper`` (C = 256, L = 4)
sizes. FLOPs are counted by ``torch.utils.flop_counter`` on one forward pass (matmuls and
convolutions; a training step counted as 3x its forward).

``--parallel N``: each selected lifter's training step run by one process with N threads, then by
N processes with one thread each, side by side (``d3pr bench --jobs 1`` against ``--jobs N``);
the machine's total steps/s and its fraction of the peak of N cores (``_common.cores_peak``).

``--geometry``: the cost of the ``geo`` recipe's geometric conditioning
(:mod:`d3prefiner.refiner.features`), as ratios: the features of one sequence of ``--geo-frames``
frames (computed once per sequence) as a share of ``Refiner.refine`` of that sequence by an
untrained ``cpu`` refiner of the ``geo`` recipe, and that refinement's time against the
``default`` recipe's (same sequence, same batch).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import time

import numpy as np
import torch
from _common import (
    cores_peak,
    forward_flops,
    matmul_peak,
    measure_peaks,
    of_peak,
    precisions,
    timed,
)

from d3prefiner.denoiser import PoseDenoiser
from d3prefiner.engine import autocast
from d3prefiner.lifters import build_lifter
from d3prefiner.refiner import RefinerConfig

LIFTERS = ("stcformer", "mixste", "tcn")


def lifter_step(model_name: str, precision: str, batch: int = 64, compiled: bool = False):
    """``(step, FLOPs per step, frames per step)`` of one optimiser step of a ``cpu`` lifter."""
    torch.manual_seed(0)
    net = build_lifter(model_name, "cpu")
    c = getattr(net, "context", 0)
    T = net.config.window
    x, y = torch.randn(batch, T + 2 * c, 17, 2), torch.randn(batch, T, 17, 3)  # (B, T, J, C)
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
    from d3prefiner.lifters.predict import predict

    torch.manual_seed(0)
    net = build_lifter(model_name, "cpu").eval()
    c, T = getattr(net, "context", 0), net.config.window
    seqs = [np.random.default_rng(i).normal(0, 0.1, (frames, 17, 2)).astype(np.float32)
            for i in range(clips)]  # fmt: skip
    windows = clips * math.ceil(frames / T)  # non-overlapping, flip-tested: two forwards each
    flops = 2 * windows * forward_flops(lambda: net(torch.randn(1, T + 2 * c, 17, 2)))
    return (lambda: predict(net, seqs, precision=precision)), flops, clips * frames


def refiner_step(precision: str, batch: int = 64):
    """One optimiser step of the ``cpu`` denoiser on windows of 27 frames."""
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
    """The denoiser's K network evaluations per window of a refinement (no data handling)."""
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


def workloads(refine_batch: int) -> dict:
    """``{name: make(precision) -> (fn, flops, frames)}`` of every row of the table."""
    return {
        **{f"train lifter {m} (cpu)": (lambda pr, m=m: lifter_step(m, pr)) for m in LIFTERS},
        **{f"predict lifter {m} (cpu)": (lambda pr, m=m: lifter_predict(m, pr)) for m in LIFTERS},
        "train refiner (cpu)": refiner_step,
        "refine (cpu: C=128, L=2)": lambda pr: refinement("cpu", pr, refine_batch),
        "refine (paper: C=256, L=4)": lambda pr: refinement("paper", pr, refine_batch),
    }


def geometry_share(frames: int, repeats: int, batch: int) -> dict:
    """The geometric step's time as a share of refining one sequence of ``frames`` frames with the
    ``geo`` recipe, and the ``geo`` refinement's time relative to the ``default`` recipe's."""
    from d3prefiner import Refiner
    from d3prefiner.noise import PoseNoiseModel, make_synthetic_predictions
    from d3prefiner.predictions import Predictions
    from d3prefiner.refiner.calibration import GEOMETRIC_STEPS, PER_JOINT, geometric_step
    from d3prefiner.refiner.features import sequence_features
    from d3prefiner.refiner.shares import SHARES_SPANS_S, SHARES_STEPS, JointShares

    preds = make_synthetic_predictions(n_sequences=2, n_frames=frames, seed=0, intrinsics=True)
    noise = PoseNoiseModel().fit(preds)
    s = preds.sequences[0]
    sec = {}
    for recipe in ("default", "geo"):
        torch.manual_seed(0)
        cfg = RefinerConfig.from_preset("cpu", recipe)
        ref = Refiner(cfg, PoseDenoiser(cfg.denoiser_config()), noise)
        sec[recipe] = timed(lambda r=ref: r.refine(s.pose2d, s.pred3d, batch, intrinsics=s.intrinsics),
                            repeats)  # fmt: skip
    feats = timed(lambda: sequence_features("fuse", s.pose2d, s.pred3d, s.intrinsics), repeats)
    out = dict(frames=frames, batch=batch, features_share_of_geo_refine=feats / sec["geo"],
               geo_over_default_refine=sec["geo"] / sec["default"])  # fmt: skip
    one = Predictions([s], preds.estimator)
    steps = {g: timed(lambda g=g: geometric_step(one, g), repeats) / sec["default"]
             for g in GEOMETRIC_STEPS if g != "none"}  # fmt: skip
    shares = JointShares(np.zeros((1 + len(SHARES_STEPS) * len(SHARES_SPANS_S), 17)))
    steps[PER_JOINT] = timed(lambda: geometric_step(one, PER_JOINT, joint_shares=shares),
                             repeats) / sec["default"]  # fmt: skip
    out["step_share_of_default_refine"] = steps
    print(
        f"\ngeometric step ({frames} frames, batch {batch}): features "
        f"{100 * out['features_share_of_geo_refine']:.1f} % of the geo refinement; geo / "
        f"default refinement time {out['geo_over_default_refine']:.3f}; geometric steps after "
        f"the default refinement, share of its time: "
        + ", ".join(f"{g} {100 * v:.1f} %" for g, v in steps.items()),
        flush=True,
    )
    return out


def speed_table(work: dict, names: tuple[str, ...], repeats: int, peak_size: int) -> list[dict]:
    """Each workload in each precision: frames/s, GFLOP/s and the fraction of the peak."""
    rows = []
    print(f"\n{'workload':<30}{'prec':>6}{'frames/s':>11}{'GFLOP/s':>9}{'peak':>7}{'of peak':>9}"
          f"{'bf16 x':>8}")  # fmt: skip
    for name, make in work.items():
        fps = {}
        for pr in names:
            fn, flops, frames = make(pr)
            before = matmul_peak(pr, peak_size)
            sec = timed(fn, repeats)
            peak = (before + matmul_peak(pr, peak_size)) / 2  # the load around this row
            fps[pr] = frames / sec
            rate = flops / sec
            rows.append(dict(workload=name, precision=pr, frames_per_s=fps[pr],
                             gflops=rate / 1e9, peak_gflops=peak / 1e9,
                             fraction_of_peak=rate / peak))  # fmt: skip
            gain = f"{fps['bf16'] / fps['fp32']:.2f}" if pr == "bf16" and "fp32" in fps else ""
            print(f"{name:<30}{pr:>6}{fps[pr]:>11.0f}{rate / 1e9:>9.1f}{peak / 1e9:>7.0f}"
                  f"{of_peak(rate, peak):>9}{gain:>8}", flush=True)  # fmt: skip
    return rows


def compile_rows(models, repeats: int, peak: float) -> list[dict]:
    """Each lifter's bf16 training step eager and under ``torch.compile`` (steps/s and fraction
    of the bf16 peak; the compile time is the first call's)."""
    print(f"\n{'torch.compile (bf16 step)':<30}{'eager/s':>9}{'of peak':>9}{'compiled/s':>12}"
          f"{'of peak':>9}{'compile s':>11}")  # fmt: skip
    out = []
    for m in models:
        fn, flops, _ = lifter_step(m, "bf16")
        eager = 1 / timed(fn, repeats)
        step = lifter_step(m, "bf16", compiled=True)[0]
        t = time.perf_counter()
        step()
        first = time.perf_counter() - t
        fast = 1 / timed(step, repeats)
        out.append(dict(lifter=m, eager_steps_s=eager, compiled_steps_s=fast, compile_s=first,
                        eager_fraction_of_peak=eager * flops / peak,
                        compiled_fraction_of_peak=fast * flops / peak))  # fmt: skip
        print(f"{m:<30}{eager:>9.2f}{of_peak(eager * flops, peak):>9}{fast:>12.2f}"
              f"{of_peak(fast * flops, peak):>9}{first:>11.0f}", flush=True)  # fmt: skip
    return out


def _count_steps(model: str, precision: str, threads: int, seconds: float, start, out) -> None:
    torch.set_num_threads(threads)
    step, _, _ = lifter_step(model, precision)
    for _ in range(3):
        step()
    start.wait()  # every process starts timing together
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        step()
        n += 1
    out.put(n / (time.monotonic() - t0))


def steps_per_second(model: str, precision: str, processes: int, threads: int, seconds: float):
    """Total optimiser steps/s of ``processes`` concurrent runs with ``threads`` threads each."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(processes), ctx.Queue()
    args = (model, precision, threads, seconds, start, out)
    procs = [ctx.Process(target=_count_steps, args=args) for _ in range(processes)]
    for p in procs:
        p.start()
    rates = [out.get(timeout=300 + 2 * seconds) for _ in procs]  # a crashed process: Empty
    for p in procs:
        p.join()
    return sum(rates)


def parallel_rows(models, cores: int, seconds: float, precision: str, peak_size: int) -> list:
    """One run with ``cores`` threads against ``cores`` one-thread runs side by side."""
    peak = cores_peak(precision, cores, peak_size)
    print(f"\n{precision} lifter step, {cores} cores (peak {peak / 1e9:.1f} GFLOP/s on {cores} "
          f"cores)\n{'lifter':<12}{'1 run/s':>10}{'of peak':>11}{f'{cores} runs/s':>11}"
          f"{'of peak':>11}{'x':>7}")  # fmt: skip
    out = []
    for m in models:
        flops = lifter_step(m, precision)[1]
        one = steps_per_second(m, precision, 1, cores, seconds)
        many = steps_per_second(m, precision, cores, 1, seconds)
        out.append(dict(lifter=m, cores=cores, one_run_steps_s=one, side_by_side_steps_s=many,
                        one_run_fraction_of_peak=one * flops / peak,
                        side_by_side_fraction_of_peak=many * flops / peak))  # fmt: skip
        print(f"{m:<12}{one:>10.2f}{of_peak(one * flops, peak):>11}{many:>11.2f}"
              f"{of_peak(many * flops, peak):>11}{many / one:>7.2f}", flush=True)  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--peak-size", type=int, default=2048, help="Side of the peak's matmul.")
    p.add_argument("--precisions", default="fp32,bf16", help="bf16 only where the CPU has it.")
    p.add_argument("--only", default="", help="Only the workloads whose name holds one of these "
                   "comma-separated words (e.g. tcn,refiner); also the lifters of --compile "
                   "and --parallel.")  # fmt: skip
    p.add_argument("--refine-batch", type=int, default=64, help="Windows per refinement call.")
    p.add_argument("--compile", action="store_true", help="Also each lifter's bf16 step compiled.")
    p.add_argument(
        "--parallel",
        type=int,
        default=0,
        metavar="N",
        help="Also each lifter's step as one N-thread run and N one-thread runs.",
    )
    p.add_argument("--seconds", type=float, default=20.0, help="--parallel: timed per mode.")
    p.add_argument("--geometry", action="store_true", help="Also the geometric step's share of "
                   "refinement (geo recipe) and geo / default refinement time.")  # fmt: skip
    p.add_argument("--geo-frames", type=int, default=1500, help="--geometry: sequence length.")
    p.add_argument("--json", default=None, help="Also write the figures as JSON here.")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    names = precisions(a.precisions)
    words = [w.strip() for w in a.only.split(",") if w.strip()]
    work = {k: v for k, v in workloads(a.refine_batch).items()
            if not words or any(w in k for w in words)}  # fmt: skip
    models = [m for m in LIFTERS if not words or any(w in m for w in words)]
    peaks = measure_peaks(names, a.peak_size)
    rows = speed_table(work, names, a.repeats, a.peak_size)
    compiled = []
    if a.compile and "bf16" not in peaks:
        print("\n--compile: skipped (it times bf16 steps; this CPU has no bf16 matmul)")
    elif a.compile:
        compiled = compile_rows(models, a.repeats, peaks["bf16"])
    prec = "bf16" if "bf16" in names else "fp32"
    parallel = parallel_rows(models, a.parallel, a.seconds, prec, a.peak_size) if a.parallel else []
    geometry = geometry_share(a.geo_frames, a.repeats, a.refine_batch) if a.geometry else {}
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "peaks_gflops": {k: v / 1e9 for k, v in peaks.items()},
                       "rows": rows, "compile": compiled, "parallel": parallel,
                       "geometry": geometry}, f, indent=1)  # fmt: skip


if __name__ == "__main__":
    main()

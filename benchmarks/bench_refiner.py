"""Benchmark the refiner's compute: throughput, FLOPs, matmul-peak fraction, peak memory.

Numbers are about compute only (random weights; accuracy lives in the training benchmarks):

* this machine's float32 matmul peak (and bf16 where the CPU has it), a short ``torch.matmul``
  loop at the start;
* FLOPs per frame of one PoseDenoiser forward (``torch.utils.flop_counter.FlopCounterMode``) for
  depth 4 / 6 / 8 at the chosen width and window (paper Table IV), and for a whole K-step refine;
* refine throughput (frames/s) of :meth:`Refiner.refine` and the fraction of the matmul peak it
  reaches;
* peak resident memory (``ru_maxrss``) of a fresh process refining a long sequence (30,000 frames
  by default) versus a short one, to show memory is bounded by the window batch.

Usage::

    python benchmarks/bench_refiner.py --preset cpu --threads 2 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import time

import numpy as np
import torch
from _common import measure_peaks, precisions
from torch.utils.flop_counter import FlopCounterMode

from d3prefiner.denoiser import PoseDenoiser
from d3prefiner.noise import fit_noise_model, make_synthetic_predictions
from d3prefiner.refiner import Refiner, RefinerConfig


def make_refiner(config: RefinerConfig, seed: int = 0) -> Refiner:
    """A refiner with random weights (non-zero head) for compute measurements; the residual mode
    gets a CND fitted on synthetic predictions (its closed form is part of the refine cost)."""
    torch.manual_seed(seed)
    model = PoseDenoiser(config.denoiser_config())
    with torch.no_grad():
        model.head.weight.normal_(0, 0.02)
        model.e_scale.fill_(0.05)
    noise = None
    if config.mode == "residual":
        noise = fit_noise_model(make_synthetic_predictions(n_sequences=4, n_frames=200, seed=seed))
    return Refiner(config, model, noise, data={"pose3d_scale": 0.45, "pose2d_absmax": 1.0})


def synthetic_sequence(frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random but plausible-scale inputs: 2D ``(F, 17, 2)`` in [-1, 1], 3D ``(F, 17, 3)`` metres."""
    rng = np.random.default_rng(seed)
    pose3d = rng.normal(0, 0.3, (frames, 17, 3)).astype(np.float32)
    pose3d[:, 0] = 0
    pose2d = np.clip(pose3d[..., :2] * 1.5, -1, 1).astype(np.float32)
    return pose2d, pose3d


def flops_per_frame(config: RefinerConfig) -> dict:
    """FLOPs of one forward of one window, and of a whole K-step refine, per frame."""
    ref = make_refiner(config)
    T = config.window
    y, x = synthetic_sequence(T)
    y, x = torch.from_numpy(y)[None], torch.from_numpy(x)[None]
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        ref.model(x, y, 49, x if config.input_noisy else None)
    forward = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc2:
        ref.refine_windows(y, x)
    return {
        "params": sum(p.numel() for p in ref.model.parameters()),
        "forward_flops_per_window": forward,
        "forward_flops_per_frame": forward / T,
        "refine_flops_per_frame": fc2.get_total_flops() / T,
    }


def throughput(config: RefinerConfig, frames: int, batch_size: int, repeats: int = 3) -> float:
    """Best frames/s of :meth:`Refiner.refine` on a ``frames``-long sequence."""
    ref = make_refiner(config)
    y, x = synthetic_sequence(frames)
    ref.refine(y[: config.window * 4], x[: config.window * 4], batch_size=batch_size)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        ref.refine(y, x, batch_size=batch_size)
        best = min(best, time.perf_counter() - t)
    return frames / best


def _status_mib(key: str) -> float | None:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in MiB, or None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _memory_child(config_dict: dict, frames: int, batch_size: int, threads: int, q) -> None:
    torch.set_num_threads(threads)
    ref = make_refiner(RefinerConfig(**config_dict))
    y, x = synthetic_sequence(frames)
    ref.refine(y[:1], x[:1])  # first-call allocations (kernels, thread pools)
    before = _status_mib("VmRSS")
    try:  # reset the peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    ref.refine(y, x, batch_size=batch_size)
    peak = _status_mib("VmHWM")
    if peak is None:  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put((before, peak))


def peak_memory_mib(config: RefinerConfig, frames: int, batch_size: int, threads: int) -> dict:
    """Peak RSS (MiB) of a fresh process while it refines a ``frames``-long sequence."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_memory_child, args=(config.to_dict(), frames, batch_size, threads, q))
    p.start()
    before, peak = q.get()
    p.join()
    return {
        "frames": frames,
        "rss_before_refine_mib": before,
        "peak_rss_mib": peak,
        "refine_increment_mib": None if before is None else peak - before,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", help="paper | paper8 | cpu | tiny")
    ap.add_argument("--recipe", default="default", help="default | paper (refiner switches)")
    ap.add_argument("--window", type=int, default=27)
    ap.add_argument("--K", type=int, default=2)
    ap.add_argument("--frames", type=int, default=2700, help="sequence length for throughput")
    ap.add_argument("--memory-frames", type=int, default=30000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--peak-size", type=int, default=2048, help="side of the peak's matmul")
    ap.add_argument("--flops-only", action="store_true", help="only the FLOPs table")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = RefinerConfig.from_preset(args.preset, args.recipe, window=args.window, K=args.K)
    cfg = cfg.replace(refine_stride=args.window, train_stride=min(cfg.train_stride, args.window))

    res: dict = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "config": {
            "preset": args.preset,
            "recipe": args.recipe,
            "window": args.window,
            "K": args.K,
        },
    }
    peaks = measure_peaks(precisions(), args.peak_size)
    peak = peaks["fp32"]  # Refiner.refine computes in float32
    res["matmul_peak_gflops"] = {k: v / 1e9 for k, v in peaks.items()}

    res["depth_table"] = []
    print(f"\n| depth | params | FLOPs/frame (1 forward) | FLOPs/frame (refine, K={args.K}) |")
    print("|---|---|---|---|")
    for depth in (2, 4, 6, 8):
        f = flops_per_frame(cfg.replace(depth=depth))
        res["depth_table"].append({"depth": depth, **f})
        print(
            f"| {depth} | {f['params'] / 1e6:.2f} M | {f['forward_flops_per_frame'] / 1e6:.1f} M "
            f"| {f['refine_flops_per_frame'] / 1e6:.1f} M |"
        )

    if args.flops_only:
        _dump(res, args.json)
        return
    f = flops_per_frame(cfg)
    fps = throughput(cfg, args.frames, args.batch_size)
    frac = fps * f["refine_flops_per_frame"] / peak
    res["throughput"] = {
        "depth": cfg.depth,
        "frames": args.frames,
        "batch_size": args.batch_size,
        "frames_per_s": fps,
        "refine_flops_per_frame": f["refine_flops_per_frame"],
        "achieved_gflops": fps * f["refine_flops_per_frame"] / 1e9,
        "fraction_of_matmul_peak": frac,
    }
    print(
        f"\nrefine ({args.preset}, depth {cfg.depth}, K={args.K}, batch {args.batch_size}): "
        f"{fps:.0f} frames/s = {fps * f['refine_flops_per_frame'] / 1e9:.2f} GFLOP/s "
        f"= {100 * frac:.1f}% of the matmul peak"
    )

    res["memory"] = []
    if args.skip_memory:
        args.memory_frames = 0
    for frames in (args.window * args.batch_size, args.memory_frames):
        if frames <= 0:
            continue
        m = peak_memory_mib(cfg, frames, args.batch_size, args.threads)
        res["memory"].append(m)
        inc = m["refine_increment_mib"]
        print(
            f"refining {frames} frames: peak RSS {m['peak_rss_mib']:.0f} MiB"
            + ("" if inc is None else f" ({inc:+.1f} MiB over the loaded model and inputs)")
        )
    _dump(res, args.json)


def _dump(res: dict, path: str | None) -> None:
    if path:
        with open(path, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()

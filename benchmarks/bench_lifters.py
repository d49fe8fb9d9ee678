"""The base lifters: accuracy, training time and speed on CPU, the speed as a fraction of this
machine's matmul peak.

For every (model, 2D setting): cross-fitting with K folds plus the lifter trained on all training
subjects (``d3prefiner.lifters.crossfit.cross_fit``; resumable — a finished run is not retrained),
then per-action MPJPE / P-MPJPE of the test predictions, MPJPE of the cross-fitted and in-sample
training predictions, training time and frames/s, inference frames/s, and both speeds as the
achieved FLOP/s (``torch.utils.flop_counter`` on one forward; a training step counted as 3x its
forward, a flip-tested prediction as 2x) over the matmul peak in the run's precision, measured at
the start. Writes ``results.json`` and
``results.md`` into ``--out`` (with the run directories and predictions files: data-derived, never
commit them).

Full benchmark (hours; each training run capped at 20 minutes)::

    python benchmarks/bench_lifters.py --out runs/bench_lifters --minutes 20 --threads 2

Tiny smoke run (a minute)::

    python benchmarks/bench_lifters.py --out runs/bench_tiny --preset tiny --steps 2 \
        --train-subjects S9,S11 --test-subjects S1 --cameras 1 --fps 10
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import forward_flops, measure_peaks, precisions

from d3prefiner.io import load_json, save_json
from d3prefiner.lifters.config import DataSpec, train_config
from d3prefiner.lifters.crossfit import cross_fit
from d3prefiner.lifters.predict import predict
from d3prefiner.lifters.runs import clips_by_subject, source_clips
from d3prefiner.lifters.train import load_lifter
from d3prefiner.metrics import action_label, evaluate_predictions


def _mm(preds) -> float:
    return float(
        np.linalg.norm(preds.concat("pred3d") - preds.concat("gt3d"), axis=-1).mean() * 1e3
    )


def _runs_summary(out: Path) -> dict:
    """Training time / frames/s / steps of every run dir under ``out``."""
    runs = {}
    for d in sorted(p for p in out.iterdir() if (p / "history.json").exists()):
        t = load_json(d / "history.json")
        last = t["records"][-1] if t["records"] else {}
        runs[d.name] = {
            "steps": t["steps"],
            "stopped": t["stopped"],
            "precision": t["precision"],
            "train_minutes": t["train_seconds"] / 60,
            "train_frames_per_s": last.get("frames_per_s"),
            "final_val_mpjpe_mm": last.get("val_mpjpe_mm"),
        }
    return runs


def flops_per_frame(net) -> float:
    """FLOPs of one forward pass per output frame (one window, batch 1)."""
    c = getattr(net, "context", 0)
    x = torch.randn(1, net.config.window + 2 * c, 17, 2)  # (B, T + 2c, J, 2)
    return forward_flops(lambda: net(x)) / net.config.window


def bench_one(args, model: str, setting: str, out: Path, by_subject: dict, peaks: dict) -> dict:
    lifter = {"window": args.window} if args.window else {}
    over = {k: v for k, v in dict(steps=args.steps).items() if v}
    cfg = train_config(model, args.preset, lifter, seed=args.seed, **over)
    t0 = time.monotonic()
    res = cross_fit(
        cfg, by_subject, args.train, args.test, out, folds=args.folds,
        minutes=args.minutes, progress=not args.quiet,
    )  # fmt: skip
    wall = time.monotonic() - t0
    for name, preds in res.items():
        preds.save(out / f"{name}.npz")
    # inference speed of the full model (flip test on), on up to ~20k test frames
    net = load_lifter(out / "full")
    clips, n = [], 0
    for c in (c for s in args.test for c in by_subject[s]):
        if n >= 20000:
            break
        clips.append(c)
        n += c.num_frames
    t1 = time.monotonic()
    predict(net, clips, flip_test=cfg.flip_test)
    infer_fps = n / (time.monotonic() - t1)
    table = evaluate_predictions(res["test"])
    runs = _runs_summary(out)
    per_frame = flops_per_frame(net.eval())
    train_fps = runs.get("full", {}).get("train_frames_per_s") or 0.0
    train_peak = peaks.get(runs.get("full", {}).get("precision"), peaks["fp32"])
    return {
        "model": model,
        "setting": setting,
        "preset": args.preset,
        "window": cfg.lifter.window,
        "parameters": net.num_parameters,
        "config": cfg.to_dict(),
        "test": table.to_dict(),
        "test_mpjpe_mm": table.action_weighted.mpjpe_mm,
        "test_p_mpjpe_mm": table.action_weighted.p_mpjpe_mm,
        "crossfit_mpjpe_mm": _mm(res["train_crossfit"]),
        "insample_mpjpe_mm": _mm(res["train_insample"]),
        "inference_frames_per_s": infer_fps,
        "flops_per_frame": per_frame,
        "train_fraction_of_peak": train_fps * 3 * per_frame / train_peak,
        "inference_fraction_of_peak": infer_fps * 2 * per_frame / peaks["fp32"],
        "wall_minutes": wall / 60,
        "runs": runs,
    }


def to_markdown(results: list[dict], command: str, machine: str, peaks: dict) -> str:
    peak = ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in peaks.items())
    lines = ["# Base lifters", "", f"Command: `{command}`", "", f"Machine: {machine}"]
    lines += ["", f"Matmul peak: {peak}", ""]
    lines += [
        "| model | 2D | T | params | test MPJPE | test P-MPJPE | cross-fit MPJPE | in-sample MPJPE "
        "| train min (full) | train frames/s | of peak | infer frames/s | of peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        full = r["runs"].get("full", {})
        lines.append(
            f"| {r['model']} | {r['setting']} | {r['window']} | {r['parameters'] / 1e6:.2f}M "
            f"| {r['test_mpjpe_mm']:.1f} | {r['test_p_mpjpe_mm']:.1f} | {r['crossfit_mpjpe_mm']:.1f} "
            f"| {r['insample_mpjpe_mm']:.1f} | {full.get('train_minutes', 0):.1f} "
            f"| {full.get('train_frames_per_s') or 0:.0f} | {100 * r['train_fraction_of_peak']:.1f} % "
            f"| {r['inference_frames_per_s']:.0f} | {100 * r['inference_fraction_of_peak']:.1f} % |"
        )
    for metric, title in (("mpjpe_mm", "MPJPE (mm)"), ("p_mpjpe_mm", "P-MPJPE (mm)")):
        actions = list(results[0]["test"]["per_action"]) if results else []
        lines += ["", f"Per-action test {title}, action-weighted average last:", ""]
        lines.append("| model | 2D | " + " | ".join(action_label(a) for a in actions) + " | Avg |")
        lines.append("|---|---|" + "---|" * (len(actions) + 1))
        for r in results:
            per = r["test"]["per_action"]
            vals = [f"{per[a][metric]:.1f}" if a in per else "-" for a in actions]
            avg = r["test"]["action_weighted"][metric]
            lines.append(
                f"| {r['model']} | {r['setting']} | " + " | ".join(vals) + f" | {avg:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--models", default="stcformer,mixste")
    p.add_argument("--settings", default="gt,detected")
    p.add_argument("--preset", default="cpu")
    p.add_argument("--window", type=int, default=27, help="frames per window (the lifter's T)")
    p.add_argument("--steps", type=int, default=None, help="steps of every run (default: preset)")
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="budget per run, measured once and turned into steps",
    )
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--source", default="h36m-fk17")
    p.add_argument("--path", default=None)
    p.add_argument("--train-subjects", default="S1,S5,S6,S7,S8")
    p.add_argument("--test-subjects", default="S9,S11")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peak-size", type=int, default=2048, help="side of the peak's matmul")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.train = args.train_subjects.split(",")
    args.test = args.test_subjects.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    peaks = measure_peaks(precisions(), args.peak_size)
    results = []
    for setting in args.settings.split(","):
        spec = DataSpec(args.source, args.path, setting, args.fps or None, args.cameras, args.seed)
        by_subject = clips_by_subject(
            source_clips(spec, list(dict.fromkeys(args.train + args.test)))
        )
        for model in args.models.split(","):
            out = args.out / f"{model}_{setting}_T{args.window}"
            print(f"== {model} / {setting} -> {out}", flush=True)
            r = bench_one(args, model, setting, out, by_subject, peaks)
            print(
                f"   test MPJPE {r['test_mpjpe_mm']:.1f} mm, P-MPJPE {r['test_p_mpjpe_mm']:.1f} mm, "
                f"cross-fit {r['crossfit_mpjpe_mm']:.1f}, in-sample {r['insample_mpjpe_mm']:.1f}, "
                f"infer {r['inference_frames_per_s']:.0f} frames/s "
                f"({100 * r['inference_fraction_of_peak']:.1f} % of peak)",
                flush=True,
            )
            results.append(r)
    command = "python benchmarks/bench_lifters.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    machine = f"{platform.processor() or platform.machine()}, {args.threads} torch threads, torch {torch.__version__}"
    save_json(args.out / "results.json", {
        "command": command, "machine": machine,
        "peaks_gflops": {k: v / 1e9 for k, v in peaks.items()}, "results": results,
    })  # fmt: skip
    md = to_markdown(results, command, machine, peaks)
    (args.out / "results.md").write_text(md)
    print(md)
    print(json.dumps({"results": str(args.out / "results.json")}))


if __name__ == "__main__":
    main()

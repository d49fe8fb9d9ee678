"""Benchmark of the base lifters (issue 3, item 6): accuracy, training time and speed on CPU.

For every (model, 2D setting): cross-fitting with K folds plus the lifter trained on all training
subjects (``d3prefiner.lifters.crossfit.cross_fit``; resumable — a finished run is not retrained),
then per-action MPJPE / P-MPJPE of the test predictions, MPJPE of the cross-fitted and in-sample
training predictions, training time and frames/s, inference frames/s. Writes ``results.json`` and
``results.md`` into ``--out`` (with the run directories and predictions files: data-derived, never
commit them).

Full benchmark (hours; each training run capped at 20 minutes)::

    python scripts/bench_lifters.py --out runs/bench_lifters --minutes 20 --threads 2

Tiny smoke run (a minute)::

    python scripts/bench_lifters.py --out runs/bench_tiny --preset tiny --steps 2 \
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


def bench_one(args, model: str, setting: str, out: Path, by_subject: dict) -> dict:
    lifter = {"T": args.T} if args.T else {}
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
    return {
        "model": model,
        "setting": setting,
        "preset": args.preset,
        "T": cfg.lifter.T,
        "parameters": net.num_parameters,
        "config": cfg.to_dict(),
        "test": table.to_dict(),
        "test_mpjpe_mm": table.action_weighted.mpjpe_mm,
        "test_p_mpjpe_mm": table.action_weighted.p_mpjpe_mm,
        "crossfit_mpjpe_mm": _mm(res["train_crossfit"]),
        "insample_mpjpe_mm": _mm(res["train_insample"]),
        "inference_frames_per_s": infer_fps,
        "wall_minutes": wall / 60,
        "runs": _runs_summary(out),
    }


def to_markdown(results: list[dict], command: str, machine: str) -> str:
    lines = ["# Base lifters", "", f"Command: `{command}`", "", f"Machine: {machine}", ""]
    lines += [
        "| model | 2D | T | params | test MPJPE | test P-MPJPE | cross-fit MPJPE | in-sample MPJPE "
        "| train min (full) | train frames/s | infer frames/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        full = r["runs"].get("full", {})
        lines.append(
            f"| {r['model']} | {r['setting']} | {r['T']} | {r['parameters'] / 1e6:.2f}M "
            f"| {r['test_mpjpe_mm']:.1f} | {r['test_p_mpjpe_mm']:.1f} | {r['crossfit_mpjpe_mm']:.1f} "
            f"| {r['insample_mpjpe_mm']:.1f} | {full.get('train_minutes', 0):.1f} "
            f"| {full.get('train_frames_per_s') or 0:.0f} | {r['inference_frames_per_s']:.0f} |"
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
    p.add_argument("--T", type=int, default=27)
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
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.train = args.train_subjects.split(",")
    args.test = args.test_subjects.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for setting in args.settings.split(","):
        spec = DataSpec(args.source, args.path, setting, args.fps or None, args.cameras, args.seed)
        by_subject = clips_by_subject(
            source_clips(spec, list(dict.fromkeys(args.train + args.test)))
        )
        for model in args.models.split(","):
            out = args.out / f"{model}_{setting}_T{args.T}"
            print(f"== {model} / {setting} -> {out}", flush=True)
            r = bench_one(args, model, setting, out, by_subject)
            print(
                f"   test MPJPE {r['test_mpjpe_mm']:.1f} mm, P-MPJPE {r['test_p_mpjpe_mm']:.1f} mm, "
                f"cross-fit {r['crossfit_mpjpe_mm']:.1f}, in-sample {r['insample_mpjpe_mm']:.1f}, "
                f"infer {r['inference_frames_per_s']:.0f} frames/s",
                flush=True,
            )
            results.append(r)
    command = "python scripts/bench_lifters.py " + " ".join(sys.argv[1:] if argv is None else argv)
    machine = f"{platform.processor() or platform.machine()}, {args.threads} torch threads, torch {torch.__version__}"
    save_json(
        args.out / "results.json", {"command": command, "machine": machine, "results": results}
    )
    md = to_markdown(results, command, machine)
    (args.out / "results.md").write_text(md)
    print(md)
    print(json.dumps({"results": str(args.out / "results.json")}))


if __name__ == "__main__":
    main()

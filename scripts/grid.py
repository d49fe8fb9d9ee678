"""Issue 8's grid: refiner options x (lifter, 2D setting), chosen on validation, then scored on test.

For every bench run directory given (``d3pr bench`` output: RUN/predictions/{train_crossfit,test}.npz)
it

1. fits a CND on the cross-fitted predictions of the refiner's own training subjects only
   (``--cnd-subjects``), so that the validation subject (S8) is unseen by both the CND and the
   refiner. With ``--cnd-subjects S1,S5,S6 --train-subjects S1,S5,S6`` (the protocol used for the
   choice in BENCHMARKS.md) the validation predictions also come from a *lifter* none of whose
   predictions were trained on: the bench's 2-fold cross-fitting predicts S7 and S8 with the same
   fold lifter, so validating on S8 after training on S7 rewards learning that lifter's own bias,
   which the test predictions (made by the full lifter) do not share;
2. trains each variant (``--variants``) for ``--steps`` optimiser steps at one thread, validated on
   ``--val-subjects`` (S8), for each seed in ``--seeds``;
3. refines the run's test predictions (S9, S11) with each trained refiner;
4. evaluates base, every variant, Savitzky-Golay, the closed-form CND and, where present, the
   longer-trained lifter (``--longer RUN=PATH.npz``) on test.

Jobs run ``--jobs`` at a time (one thread each) and are skipped when their outputs exist, so the
script can be killed and started again. ``summary`` prints the Markdown tables of BENCHMARKS.md:
validation MPJPE per variant and cell (the choice), test metrics, and the spread over seeds.

usage:
  python scripts/grid.py run RUN_DIR... --out GRID_DIR [--steps 800] [--variants a,b] [--seeds 0]
  python scripts/grid.py summary RUN_DIR... --out GRID_DIR [--longer RUN=FILE.npz ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

VARIANTS = {
    "paper": [],
    "ar1": ["--noise-temporal", "ar1"],
    "residual": ["--mode", "residual"],
    "input_noisy": ["--input-noisy"],
    "loss_x0": ["--loss-x0"],
    "residual_ar1": ["--mode", "residual", "--noise-temporal", "ar1"],
    "combo": ["--mode", "residual", "--noise-temporal", "ar1", "--input-noisy", "--loss-x0"],
    "wo_diff": ["--no-diffusion"],
    "wo_cnd": ["--no-cnd"],
    # Table IV: the paper-faithful refiner at more denoising blocks (the cpu preset has L = 2)
    "depth4": ["--depth", "4"],
    "depth6": ["--depth", "6"],
    "depth8": ["--depth", "8"],
}


def sh(cmd: list[str], log: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"failed ({r.returncode}): {' '.join(cmd)} — see {log}")


def cell_of(run: Path) -> str:
    return run.name


def fit_cnd(run: Path, cell_dir: Path, a: argparse.Namespace) -> Path:
    """CND on ``--cnd-subjects``; ``--ridge auto`` picks its ridge by the closed-form MPJPE on
    ``--val-subjects`` (the saved model is the one fitted without them)."""
    noise = cell_dir / "noise.safetensors"
    if not noise.exists():
        cell_dir.mkdir(parents=True, exist_ok=True)
        val = a.val_subjects.split(",")[0]
        sh(
            [
                "d3pr",
                "noise",
                "fit",
                str(run / "predictions/train_crossfit.npz"),
                "-o",
                str(noise),
                "--subjects",
                f"{a.cnd_subjects},{val}",
                "--holdout-subject",
                val,
                "--ridge",
                a.ridge,
                "--no-refit",
            ],
            cell_dir / "noise.log",
        )
    return noise


def training_pool(run: Path, cell_dir: Path, a: argparse.Namespace) -> Path:
    """The cross-fitted predictions the refiner may see: ``--train-subjects`` + ``--val-subjects``
    (all of RUN's training subjects when ``--train-subjects`` is not given)."""
    src = run / "predictions/train_crossfit.npz"
    if not a.train_subjects:
        return src
    pool = cell_dir / "train_pool.npz"
    if not pool.exists():
        from d3prefiner.predictions import Predictions

        keep = a.train_subjects.split(",") + a.val_subjects.split(",")
        Predictions.load(src).filter(subjects=keep).save(pool)
    return pool


def train_and_refine(run: Path, cell_dir: Path, variant: str, seed: int, a: argparse.Namespace):
    name = f"{variant}-s{seed}"
    ckpt, refined, log = cell_dir / name, cell_dir / f"{name}.npz", cell_dir / f"{name}.log"
    if not (ckpt / "done").exists():
        sh(
            [
                "d3pr",
                "train",
                str(training_pool(run, cell_dir, a)),
                "--noise",
                str(cell_dir / "noise.safetensors"),
                "--out",
                str(ckpt),
                "--preset",
                a.preset,
                "--recipe",
                "paper",  # every variant is the published method plus its own switches
                "--steps",
                str(a.steps),
                "--train-stride",
                "27",
                "--val-subjects",
                a.val_subjects,
                "--seed",
                str(seed),
                "--no-progress",
                "--resume",
                *VARIANTS[variant],
            ],
            log,
        )
        (ckpt / "done").touch()
    if not refined.exists():
        sh(
            [
                "d3pr",
                "refine",
                str(ckpt),
                str(run / "predictions/test.npz"),
                "-o",
                str(refined),
                "--no-progress",
            ],
            log,
        )
    print(f"done {cell_dir.name}/{name}", flush=True)


def run_all(a: argparse.Namespace) -> None:
    jobs = []
    for run in a.runs:
        cell_dir = a.out / cell_of(run)
        fit_cnd(run, cell_dir, a)
        for seed in a.seeds:
            for v in a.variants:
                jobs.append((run, cell_dir, v, seed))
    # seed-major order: every variant's first seed before any repeat
    jobs.sort(key=lambda j: (a.seeds.index(j[3]), a.variants.index(j[2])))
    with ThreadPoolExecutor(a.jobs) as pool:
        futures = [pool.submit(train_and_refine, *j, a) for j in jobs]
        errors = [f.exception() for f in futures if f.exception() is not None]
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        sys.exit(1)


def last_val(ckpt: Path) -> dict:
    """The kept step's validation record (the engine keeps the best validated weights)."""
    h = json.loads((ckpt / "history.json").read_text())
    rec = [r for r in h["records"] if r["step"] == h["kept_step"] and "val_mpjpe_refined_mm" in r]
    rec = rec or [r for r in h["records"] if "val_mpjpe_refined_mm" in r]
    return {**rec[-1], "train_windows_seen": h["steps"] * h["batch_size"]}


def evaluate(run: Path, cell_dir: Path, names: list[str], longer: Path | None) -> dict:
    report = cell_dir / "report"
    files, labels = [run / "predictions/test.npz"], ["base"]
    for n in names:
        files.append(cell_dir / f"{n}.npz")
        labels.append(n)
    if longer is not None:
        files.append(longer)
        labels.append("longer_lifter")
    key = ",".join(labels)
    stamp = report / "methods.txt"
    if not (stamp.exists() and stamp.read_text() == key):
        sh(
            [
                "d3pr",
                "evaluate",
                *map(str, files),
                "--names",
                key,
                "--noise",
                str(cell_dir / "noise.safetensors"),
                "--baselines",
                "savgol",
                "--no-figures",
                "--out",
                str(report),
            ],
            cell_dir / "evaluate.log",
        )
        stamp.write_text(key)
    return json.loads((report / "results.json").read_text())["methods"]


def summary(a: argparse.Namespace) -> None:
    longer = dict(x.split("=", 1) for x in a.longer)
    val_rel: dict[str, list[float]] = {}
    per_cell = {}
    for run in a.runs:
        cell_dir = a.out / cell_of(run)
        names = sorted(
            p.name
            for p in cell_dir.iterdir()
            if p.is_dir() and (p / "done").exists() and (cell_dir / f"{p.name}.npz").exists()
        )
        lg = longer.get(cell_of(run))
        res = evaluate(run, cell_dir, names, Path(lg) if lg else None)
        vals = {n: last_val(cell_dir / n) for n in names}
        per_cell[cell_of(run)] = (res, vals)
        for n, v in vals.items():
            rel = v["val_mpjpe_refined_mm"] / v["val_mpjpe_base_mm"] - 1
            val_rel.setdefault(n.rsplit("-s", 1)[0], []).append(100 * rel)

    print("### Validation (S8, unseen by CND and refiner): MPJPE change vs base, %\n")
    cells = list(per_cell)
    print("| variant | " + " | ".join(cells) + " | mean |")
    print("|---|" + "---:|" * (len(cells) + 1))
    rows = {}
    for variant in a.variants or sorted(val_rel):
        cols, allv = [], []
        for c in cells:
            vs = [
                100 * (v["val_mpjpe_refined_mm"] / v["val_mpjpe_base_mm"] - 1)
                for n, v in per_cell[c][1].items()
                if n.rsplit("-s", 1)[0] == variant
            ]
            if vs:  # each cell counts once, however many seeds it has
                allv.append(statistics.mean(vs))
            cols.append(_mean_sd(vs))
        if allv:
            rows[variant] = statistics.mean(allv)
            print(f"| {variant} | " + " | ".join(cols) + f" | {rows[variant]:+.1f} |")
    cf = []
    for c in cells:
        v = next(iter(per_cell[c][1].values()))
        cf.append(100 * (v["val_mpjpe_closed_form_mm"] / v["val_mpjpe_base_mm"] - 1))
    print(
        "| *closed-form CND* | "
        + " | ".join(f"{x:+.1f}" for x in cf)
        + f" | {statistics.mean(cf):+.1f} |"
    )
    best = sorted(rows, key=rows.get)
    print(f"\nbest on validation: {', '.join(best[:2])}\n")

    for c in cells:
        res, vals = per_cell[c]
        base = res["base"]["mpjpe_mm"]
        print(f"#### {c} (test S9, S11; action-weighted)\n")
        print("| method | val MPJPE | MPJPE | Δ | P-MPJPE | MPJVE (mm/s) | accel (mm/s²) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        groups: dict[str, list[str]] = {}
        for n in res:
            groups.setdefault(n.rsplit("-s", 1)[0] if n in vals else n, []).append(n)
        for g, members in groups.items():

            def agg(k: str, members=members, res=res) -> str:
                return _mean_sd([res[m][k] for m in members], fmt="{:.1f}")

            vm = [vals[m]["val_mpjpe_refined_mm"] for m in members if m in vals]
            rel = [100 * (res[m]["mpjpe_mm"] / base - 1) for m in members]
            label = g + (f" (×{len(members)} seeds)" if len(members) > 1 else "")
            print(
                f"| {label} | {_mean_sd(vm, fmt='{:.1f}') if vm else ''} | {agg('mpjpe_mm')} | "
                f"{_mean_sd(rel)} | {agg('p_mpjpe_mm')} | {agg('mpjve_mm_s')} | "
                f"{agg('accel_mm_s2')} |"
            )
        print()


def _mean_sd(xs: list[float], fmt: str = "{:+.1f}") -> str:
    if not xs:
        return "—"
    if len(xs) == 1:
        return fmt.format(xs[0])
    return fmt.format(statistics.mean(xs)) + " ± " + f"{statistics.stdev(xs):.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("action", choices=["run", "summary"])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=800, help="refiner optimiser steps per variant")
    ap.add_argument("--variants", default="paper,ar1,residual,input_noisy,loss_x0,combo")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--cnd-subjects", default="S1,S5,S6,S7")
    ap.add_argument("--val-subjects", default="S8")
    ap.add_argument("--ridge", default="auto", help="CND ridge, or auto (chosen on --val-subjects)")
    ap.add_argument(
        "--train-subjects",
        default=None,
        help="refiner training subjects (default: every training subject but --val-subjects)",
    )
    ap.add_argument("--longer", nargs="*", default=[], help="CELL=longer_lifter_test.npz")
    a = ap.parse_args()
    a.variants = [v for v in a.variants.split(",") if v]
    unknown = [v for v in a.variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    a.seeds = [int(s) for s in a.seeds.split(",")]
    run_all(a) if a.action == "run" else summary(a)


if __name__ == "__main__":
    main()

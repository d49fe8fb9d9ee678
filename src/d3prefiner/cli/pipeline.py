"""`d3pr` commands: demo (the main job), bench (the h36m-fk17 / VideoPose3D pipeline), and
grid / ablate (refiner variants on bench runs)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from ..errors import ArgumentError
from .common import (
    CAMERAS,
    DEVICE,
    JOBS,
    PROGRESS,
    THREADS,
    Args,
    Options,
    resolve_jobs,
    resumes_itself,
    setup,
    split_list,
    with_options,
)


def _print_summary(results: dict, out: Path, seconds: float) -> None:
    from ..report import format_text

    typer.echo(format_text(results))
    typer.echo(f"\nwrote {out / 'report.md'} and {out / 'results.json'} in {seconds:.0f} s")


_RECIPE = typer.Option(
    "default", "--recipe", help="Refiner switches: default (chosen on validation), paper or any."
)
_SEED = typer.Option(0, "--seed", help="Seed of everything.")


def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Output directory."),
    mode: str = typer.Option("default", "--mode", help="default (~5 min) or tiny (<1 min, CI)."),
    setting: str = typer.Option("detected", "--setting", help="2D input: detected or gt."),
    model: str = typer.Option("stcformer", "--model", help="Base lifter: stcformer or mixste."),
    recipe: str = _RECIPE,
    seed: int = _SEED,
    threads: int = THREADS,
) -> None:
    """Whole pipeline on pybullet's DeepMimic clips: lifter, cross-fit, CND, refiner, report."""

    from ..study import DEMO_PRESETS, Experiment, ExperimentConfig, named_preset, with_recipe

    chosen = named_preset(DEMO_PRESETS, mode, "mode")
    setup(threads)
    config = ExperimentConfig(
        source="deepmimic",
        setting=setting,
        model=model,
        seed=seed,
        **with_recipe(chosen, recipe),
    )
    t0 = time.monotonic()
    with resumes_itself():
        results = Experiment(config, out).run()
    _print_summary(results, out, time.monotonic() - t0)
    val = results.get("meta", {}).get("refiner_validation") or {}
    if {"val_mpjpe_base_mm", "val_mpjpe_refined_mm"} <= set(val):
        typer.echo(
            f"on its own validation group the refiner went {val['val_mpjpe_base_mm']} -> "
            f"{val['val_mpjpe_refined_mm']} mm"
            + (f" (closed-form CND {val['val_mpjpe_closed_form_mm']} mm)"
               if "val_mpjpe_closed_form_mm" in val else "")
        )  # fmt: skip


#: `d3pr bench`'s data options: which source and cameras, which window, whose predictions.
BENCH_OPTIONS: Options = {
    "source": (str, typer.Option(None, "--source", help="h36m-fk17 (default: virtual cameras, "
               "25 fps) or videopose3d (VideoPose3D's Human3.6M files in --path: real cameras, "
               "50 fps).")),
    "camera_file": (Path, typer.Option(None, "--camera-file", help="The H36M cameras JSON "
                    "(videopose3d; default: cameras.json beside the data; docs/protocol.md).")),
    "window": (int, typer.Option(None, "--window", min=1, help="Window T of the lifter and the "
               "refiner (default: the preset's; 81 / 243 as the paper; STCFormer gets TDS 3 / 2).")),
    "predictions": (str, typer.Option(None, "--predictions", help="TRAIN.npz,TEST.npz: another "
                    "estimator's predictions instead of the lifter stage (docs/predictions.md).")),
    "skeleton": (str, typer.Option(None, "--skeleton", help="h36m-fk17's bone lengths: subject "
                 "(default: measured S1 S5 S7 S8, a seeded spread for the others; "
                 "docs/protocol.md) or fixed (one skeleton for all subjects, as in the "
                 "earlier benches).")),
    "device": (str, DEVICE),
}  # fmt: skip


#: What ``--preset`` offers (every :data:`~d3prefiner.study.presets.BENCH_PRESETS` entry).
BENCH_PRESET_HELP = (
    "cpu (T = 27, about 2 hours on 2 cores), cpu81 or cpu243 (the paper's windows at CPU sizes), "
    "paper, paper81 or paper243 (the paper's sizes, for a GPU) or tiny (seconds: a smoke test); "
    "docs/protocol.md."
)

#: `d3pr bench`'s own options; :data:`BENCH_OPTIONS`: which data and whose predictions.
BENCH_ARGS: Options = {
    "out": (Path, typer.Option(Path("bench_out"), "--out", help="Output directory (resumable).")),
    "preset": (str, typer.Option("cpu", "--preset", help=BENCH_PRESET_HELP)),
    "setting": (
        str,
        typer.Option(
            "both",
            "--setting",
            help="gt, detected, cpn (--source videopose3d: VideoPose3D's CPN detections) or both (gt and "
            "detected; with --source videopose3d gt and cpn, the paper's Tables II and I).",
        ),
    ),
    "model": (
        str,
        typer.Option(
            "both", "--model", help="stcformer, mixste, tcn, both (stcformer + mixste) or all."
        ),
    ),
    "path": (
        Path,
        typer.Option(
            None,
            "--path",
            help="h36m-expmap-fk17 folder (default ../shared/data beside the repo); with --source "
            "videopose3d the folder of data_3d_h36m.npz and its 2D files.",
        ),
    ),
    "train": (str, typer.Option("S1,S5,S6,S7,S8", "--train", help="Training subjects.")),
    "test": (str, typer.Option("S9,S11", "--test", help="Test subjects.")),
    "fps": (
        float,
        typer.Option(
            None,
            "--fps",
            help="Frame rate of the clips (default: 25 on h36m-fk17, 50 on videopose3d).",
        ),
    ),
    "cameras": (int, CAMERAS),
    "detector_scale": (
        float,
        typer.Option(
            1.0, "--detector-scale", help="Scale of the detector-noise profile (calibration knob)."
        ),
    ),
    "recipe": (str, _RECIPE),
    "protocol": (
        str,
        typer.Option(
            "leak_free",
            "--protocol",
            help="leak_free: CND and refiner never see the validation subject or its fold lifter's "
            "training data; pooled: the CND sees every training subject; insample: as pooled, on the full "
            "lifter's in-sample training predictions (the paper's likely protocol); holdout: the "
            "validation subject's fold lifter is the one refined, the CND and refiner learn its errors on "
            "that fold's subjects, two thirds of the actions, and are chosen on the rest. None sees a test "
            "subject.",
        ),
    ),
    "val_subject": (
        str,
        typer.Option(
            None,
            "--val-subject",
            help="The refiner's validation subject (default: the last --train).",
        ),
    ),
    "seed": (int, _SEED),
    "test_source": (
        str,
        typer.Option(
            None,
            "--test-source",
            help="Also evaluate each run's lifter and refiner on another motion source (e.g. "
            "deepmimic, bvh, npz-folder), same cameras and 2D setting: RUN/transfer/NAME. Works on "
            "finished runs (only the transfer is computed).",
        ),
    ),
    "test_path": (
        Path,
        typer.Option(
            None, "--test-path", help="Where the --test-source lives (default: its own default)."
        ),
    ),
    "lifter_steps": (
        int,
        typer.Option(
            None,
            "--lifter-steps",
            min=1,
            help="Optimiser steps of every lifter run, folds and full alike (default: the lifter "
            "preset's). The run directory gets the suffix -N (e.g. tcn-detected-1500).",
        ),
    ),
    "folds": (
        int,
        typer.Option(
            2,
            "--folds",
            min=2,
            help="Cross-fitting folds K (K fold lifters + the full one); K != 2 adds the suffix "
            "-Kfolds to the run directory.",
        ),
    ),
    "until": (
        str,
        typer.Option(
            None,
            "--until",
            help="Stop after this stage: lifter (cross-fitted predictions only, e.g. for `d3pr pool`), "
            "noise or refiner; rerun without it to continue.",
        ),
    ),
    "threads": (int, THREADS),
    "jobs": (int, JOBS),
}


@with_options(BENCH_ARGS, data=BENCH_OPTIONS)
def bench(a: Args, data: dict) -> None:
    """The pipeline (lifters → cross-fit → CND → refiner → evaluation) on h36m-fk17 or
    VideoPose3D's Human3.6M files, stage by stage; or on another estimator's predictions."""
    from ..study.bench import BenchSpec, run_bench
    from ..study.transfer import format_transfer

    fields = {k: v for k, v in vars(a).items() if k not in ("out", "threads", "jobs")}
    fields.update(train=split_list(a.train), test=split_list(a.test))
    device = data.pop("device", "cpu")
    spec = BenchSpec.create(**fields, **data)
    setup(a.threads, device)
    summary = {}
    with resumes_itself():
        for run in run_bench(spec, a.out, jobs=resolve_jobs(a.jobs), device=device):
            if a.until is not None:
                typer.echo(f"stopped after the {a.until} stage in {run.seconds:.0f} s: "
                           f"rerun without --until to continue {run.run_dir}")  # fmt: skip
            else:
                _print_summary(run.results, run.run_dir, run.seconds)
            if run.transfer is not None:
                typer.echo(f"\n{run.model}, {run.setting} 2D: {format_transfer(run.transfer)}")
            if run.paper:
                typer.echo(f"\n{run.model}, {run.setting} 2D beside the paper:\n{run.paper}")
            summary[f"{run.model}-{run.setting}"] = run.summary()
    typer.echo(json.dumps(summary, indent=2))


_RUNS = typer.Argument(..., help="`d3pr bench` run directories (e.g. bench_out/tcn-gt).")
_GRID_OUT = typer.Option(..., "--out", help="Grid folder (resumable; one sub-folder per run).")
#: The options `d3pr grid` and `d3pr ablate` share (see :func:`with_options`).
GRID_OPTIONS: Options = {
    "seeds": (str, typer.Option("0", "--seeds", help="Comma-separated seeds, e.g. 0,1,2.")),
    "steps": (int, typer.Option(800, "--steps", help="Refiner optimiser steps per variant.")),
    "preset": (
        str,
        typer.Option(
            "cpu", "--preset", help="Denoiser size: cpu, paper, paper8 (eight layers) or tiny."
        ),
    ),
    "protocol": (
        str,
        typer.Option(
            "leak_free",
            "--protocol",
            help="leak_free, pooled, insample or holdout (see `d3pr bench`).",
        ),
    ),
    "val_subject": (
        str,
        typer.Option(
            None, "--val-subject", help="Validation subject (default: the last training)."
        ),
    ),
    "jobs": (int, typer.Option(1, "--jobs", help="Variants trained at once (one thread each).")),
    "threads": (int, THREADS),
    "progress": (bool, PROGRESS),
}


def _grid(runs, out, variants, options: dict, **extra) -> None:
    """Run, write and print the grid of ``variants``; ``options``: the given GRID_OPTIONS."""
    from ..study.grid import GridConfig, format_grid, run_grid

    seeds = options["seeds"]
    try:
        seed_list = tuple(int(x) for x in split_list(seeds))
    except ValueError:
        raise ArgumentError("seeds", f"must be comma-separated integers, got {seeds!r}") from None
    config = GridConfig(
        variants=tuple(variants), seeds=seed_list, steps=options["steps"],
        preset=options["preset"], protocol=options["protocol"],
        val_subject=options.get("val_subject"), **extra,
    )  # fmt: skip
    setup(options["threads"])
    with resumes_itself():
        results = run_grid(runs, out, config, jobs=options["jobs"], progress=options["progress"])
    text = format_grid(results)
    (out / "grid.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    typer.echo(text)
    typer.echo(f"wrote {out / 'grid.md'} and {out / 'results.json'}")


@with_options(options=GRID_OPTIONS)
def grid(
    runs: list[Path] = _RUNS,
    out: Path = _GRID_OUT,
    variants: str = typer.Option(
        "paper,residual,combo,wo_diff", "--variants", help="Comma-separated refiner variants."
    ),
    longer: bool = typer.Option(
        False,
        "--longer/--no-longer",
        help="Also train each run's lifter on for the refiner's time (the fair comparison).",
    ),
    smooth: str = typer.Option(
        "", "--smooth", help="Filters to try after each method, e.g. savgol,one_euro."
    ),
    options: dict | None = None,
) -> None:
    """Refiner variants on bench runs: chosen on validation, scored on test (resumable)."""
    from ..study import check_variants

    names = check_variants(variants.split(","))
    filters = tuple(f.strip() for f in smooth.split(",") if f.strip())
    _grid(runs, out, names, options, longer=longer, smooth=filters)


@with_options(options=GRID_OPTIONS)
def ablate(
    runs: list[Path] = _RUNS,
    out: Path = _GRID_OUT,
    table: str = typer.Option("3", "--table", help="3 (w/o CND, w/o diffusion) or 4 (depth L)."),
    options: dict | None = None,
) -> None:
    """The paper's ablations (Table III or IV) on bench runs, as a grid of variants."""
    from ..study import TABLES, named_preset

    _grid(runs, out, named_preset(TABLES, table, "table"), options)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.command("demo")(demo)
    app.command("bench")(bench)
    app.command("grid")(grid)
    app.command("ablate")(ablate)

"""`d3pr` commands: demo (the main job) and bench (the h36m-fk17 pipeline)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from ..errors import D3PRError
from .common import JOBS, THREADS, resolve_jobs, resumes_itself, setup


def _print_summary(results: dict, out: Path, seconds: float) -> None:
    from ..report import format_text

    typer.echo(format_text(results))
    typer.echo(f"\nwrote {out / 'report.md'} and {out / 'results.json'} in {seconds:.0f} s")


def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Output directory."),
    mode: str = typer.Option("default", "--mode", help="default (~5 min) or tiny (<1 min, CI)."),
    setting: str = typer.Option("detected", "--setting", help="2D input: detected or gt."),
    model: str = typer.Option("stcformer", "--model", help="Base lifter: stcformer or mixste."),
    recipe: str = typer.Option(
        "default",
        "--recipe",
        help="Refiner switches: default (chosen on validation), paper or any.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of everything."),
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


# over 60 lines: most of it is the typer option declarations; the body parses and calls the library
def lifter_steps_in(presets: dict, steps: int | None) -> dict:
    """``presets`` with every lifter run's optimiser steps set to ``steps`` (``None``: as is)."""
    if steps is None:
        return presets
    return {**presets, "lifter_overrides": {**presets.get("lifter_overrides", {}), "steps": steps}}


def bench(
    out: Path = typer.Option(Path("bench_out"), "--out", help="Output directory (resumable)."),
    preset: str = typer.Option("cpu", "--preset", help="cpu, paper (GPU) or tiny."),
    setting: str = typer.Option("both", "--setting", help="gt, detected or both."),
    model: str = typer.Option(
        "both", "--model", help="stcformer, mixste, tcn, both (stcformer + mixste) or all."
    ),
    path: Path = typer.Option(
        None, "--path", help="h36m-expmap-fk17 folder (default ../shared/data beside the repo)."
    ),
    train: str = typer.Option("S1,S5,S6,S7,S8", "--train", help="Training subjects."),
    test: str = typer.Option("S9,S11", "--test", help="Test subjects."),
    fps: float = typer.Option(25.0, "--fps", help="Frame rate of the clips (50 Hz source)."),
    cameras: int = typer.Option(4, "--cameras", help="Virtual cameras per sequence."),
    detector_scale: float = typer.Option(
        1.0, "--detector-scale", help="Scale of the detector-noise profile (calibration knob)."
    ),
    recipe: str = typer.Option(
        "default",
        "--recipe",
        help="Refiner switches: default (chosen on validation), paper or any.",
    ),
    protocol: str = typer.Option(
        "leak_free",
        "--protocol",
        help="leak_free: CND and refiner never see the validation subject or its fold lifter's "
        "training data; pooled: the CND sees every training subject.",
    ),
    val_subject: str = typer.Option(
        None, "--val-subject", help="The refiner's validation subject (default: the last --train)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of everything."),
    test_source: str = typer.Option(
        None,
        "--test-source",
        help="Also evaluate each run's lifter and refiner on another motion source (e.g. "
        "deepmimic, bvh, npz-folder), same cameras and 2D setting: RUN/transfer/NAME. Works on "
        "finished runs (only the transfer is computed).",
    ),
    test_path: Path = typer.Option(
        None, "--test-path", help="Where the --test-source lives (default: its own default)."
    ),
    lifter_steps: int = typer.Option(
        None,
        "--lifter-steps",
        min=1,
        help="Optimiser steps of every lifter run, folds and full alike (default: the lifter "
        "preset's). The run directory gets the suffix -N (e.g. tcn-detected-1500).",
    ),
    folds: int = typer.Option(
        2,
        "--folds",
        min=2,
        help="Cross-fitting folds K (K fold lifters + the full one); K != 2 adds the suffix "
        "-Kfolds to the run directory.",
    ),
    until: str = typer.Option(
        None,
        "--until",
        help="Stop after this stage: lifter (cross-fitted predictions only, e.g. for `d3pr pool`), "
        "noise or refiner; rerun without it to continue.",
    ),
    threads: int = THREADS,
    jobs: int = JOBS,
) -> None:
    """The h36m-fk17 pipeline (lifters → cross-fit → CND → refiner → evaluation), stage by stage."""

    from ..study import (
        BENCH_PRESETS,
        Experiment,
        ExperimentConfig,
        bench_models,
        named_preset,
        with_recipe,
    )
    from ..study.experiment import STAGES
    from ..study.transfer import check_request, format_transfer, run_transfer, transfer_numbers

    if until is not None and until not in STAGES:
        raise D3PRError(f"--until must be one of {', '.join(STAGES)}, got {until!r}")
    if until is not None and test_source is not None:
        raise D3PRError("--test-source needs the finished run: drop --until")
    if test_path is not None and test_source is None:
        raise D3PRError("--test-path needs --test-source (the motion source it holds)")
    if test_source is not None:
        check_request(test_source, str(test_path) if test_path else None)
    presets = with_recipe(named_preset(BENCH_PRESETS, preset, "preset"), recipe)
    settings = ["gt", "detected"] if setting == "both" else [setting]
    models = bench_models(model)
    setup(threads)
    jobs = resolve_jobs(jobs)
    summary = {}
    for s in settings:
        for m in models:
            run_dir = out / "-".join(
                [m, s]
                + ([str(lifter_steps)] if lifter_steps else [])
                + ([f"{folds}folds"] if folds != 2 else [])
            )
            typer.echo(f"== {m}, {s} 2D → {run_dir}")
            config = ExperimentConfig(
                source="h36m-fk17",
                path=str(path) if path else None,
                setting=s,
                model=m,
                train_subjects=tuple(t for t in train.split(",") if t),
                test_subjects=tuple(t for t in test.split(",") if t),
                fps=fps,
                n_cameras=cameras,
                seed=seed,
                detector_scale=detector_scale,
                protocol=protocol,
                val_subject=val_subject,
                folds=folds,
                **lifter_steps_in(presets, lifter_steps),
            )
            t0 = time.monotonic()
            experiment = Experiment(config, run_dir, jobs=jobs)
            with resumes_itself():
                results = experiment.run(until)
            if until is not None:
                typer.echo(f"stopped after the {until} stage in {time.monotonic() - t0:.0f} s: "
                           f"rerun without --until to continue {run_dir}")  # fmt: skip
                summary[f"{m}-{s}"] = {"stopped_after": until}
                continue
            _print_summary(results, run_dir, time.monotonic() - t0)
            summary[f"{m}-{s}"] = {
                k: v.get("mpjpe_mm") for k, v in results.get("methods", {}).items()
            }
            if test_source is not None:
                tr = run_transfer(experiment, test_source, str(test_path) if test_path else None)
                typer.echo(f"\n{m}, {s} 2D: {format_transfer(tr)}")
                summary[f"{m}-{s}"]["transfer"] = transfer_numbers(tr)
    typer.echo(json.dumps(summary, indent=2))


_RUNS = typer.Argument(..., help="`d3pr bench` run directories (e.g. bench_out/tcn-gt).")
_GRID_OUT = typer.Option(..., "--out", help="Grid folder (resumable; one sub-folder per run).")
_SEEDS = typer.Option("0", "--seeds", help="Comma-separated seeds, e.g. 0,1,2.")
_STEPS = typer.Option(800, "--steps", help="Refiner optimiser steps per variant.")
_REFINER_PRESET = typer.Option("cpu", "--preset", help="Denoiser size: cpu, paper, tiny, ...")
_PROTOCOL = typer.Option("leak_free", "--protocol", help="leak_free or pooled (see `d3pr bench`).")
_VAL = typer.Option(None, "--val-subject", help="Validation subject (default: the last training).")
_JOBS = typer.Option(1, "--jobs", help="Variants trained at once (one thread each).")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bars.")
_THREADS = THREADS


def _grid(
    runs, out, variants, seeds, steps, preset, protocol, val_subject, jobs, threads, progress,
    **extra,
):  # fmt: skip

    from ..study.grid import GridConfig, format_grid, run_grid

    try:
        seed_list = tuple(int(x) for x in seeds.split(",") if x.strip())
    except ValueError:
        raise D3PRError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    config = GridConfig(
        variants=tuple(variants), seeds=seed_list, steps=steps, preset=preset, protocol=protocol,
        val_subject=val_subject, **extra,
    )  # fmt: skip
    setup(threads)
    with resumes_itself():
        results = run_grid(runs, out, config, jobs=jobs, progress=progress)
    text = format_grid(results)
    (out / "grid.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    typer.echo(text)
    typer.echo(f"wrote {out / 'grid.md'} and {out / 'results.json'}")


def grid(
    runs: list[Path] = _RUNS,
    out: Path = _GRID_OUT,
    variants: str = typer.Option(
        "paper,residual,combo,wo_diff", "--variants", help="Comma-separated refiner variants."
    ),
    seeds: str = _SEEDS,
    steps: int = _STEPS,
    preset: str = _REFINER_PRESET,
    protocol: str = _PROTOCOL,
    val_subject: str = _VAL,
    jobs: int = _JOBS,
    threads: int = _THREADS,
    progress: bool = _PROGRESS,
    longer: bool = typer.Option(
        False,
        "--longer/--no-longer",
        help="Also train each run's lifter on for the refiner's time (the fair comparison).",
    ),
    smooth: str = typer.Option(
        "", "--smooth", help="Filters to try after each method, e.g. savgol,one_euro."
    ),
) -> None:
    """Refiner variants on bench runs: chosen on validation, scored on test (resumable)."""
    from ..study import check_variants

    names = check_variants(variants.split(","))
    filters = tuple(f.strip() for f in smooth.split(",") if f.strip())
    _grid(runs, out, names, seeds, steps, preset, protocol, val_subject, jobs, threads, progress,
          longer=longer, smooth=filters)  # fmt: skip


def ablate(
    runs: list[Path] = _RUNS,
    out: Path = _GRID_OUT,
    table: str = typer.Option("3", "--table", help="3 (w/o CND, w/o diffusion) or 4 (depth L)."),
    seeds: str = _SEEDS,
    steps: int = _STEPS,
    preset: str = _REFINER_PRESET,
    protocol: str = _PROTOCOL,
    val_subject: str = _VAL,
    jobs: int = _JOBS,
    threads: int = _THREADS,
    progress: bool = _PROGRESS,
) -> None:
    """The paper's ablations (Table III or IV) on bench runs, as a grid of variants."""
    from ..study import TABLES, named_preset

    names = named_preset(TABLES, table, "table")
    _grid(runs, out, names, seeds, steps, preset, protocol, val_subject, jobs, threads, progress)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.command("demo")(demo)
    app.command("bench")(bench)
    app.command("grid")(grid)
    app.command("ablate")(ablate)

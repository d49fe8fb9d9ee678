"""`d3pr` commands: demo (the main job) and bench (the h36m-fk17 pipeline)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from ..errors import D3PRError


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
        "default", "--recipe", help="Refiner switches: default (chosen on validation) or paper."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of everything."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)."),
) -> None:
    """Whole pipeline on pybullet's DeepMimic clips: lifter, cross-fit, CND, refiner, report."""
    import torch

    from ..experiment import DEMO_PRESETS, Experiment, ExperimentConfig

    if mode not in DEMO_PRESETS:
        raise D3PRError(f"--mode must be one of {', '.join(DEMO_PRESETS)}, got {mode!r}")
    if threads > 0:
        torch.set_num_threads(threads)
    config = ExperimentConfig(
        source="deepmimic",
        setting=setting,
        model=model,
        seed=seed,
        **_with_recipe(DEMO_PRESETS[mode], recipe),
    )
    t0 = time.monotonic()
    results = Experiment(config, out).run()
    _print_summary(results, out, time.monotonic() - t0)
    if results.get("meta", {}).get("verdict"):
        typer.echo(f"\nverdict: {results['meta']['verdict']}")


def _with_recipe(preset: dict, recipe: str) -> dict:
    """``preset`` with the refiner recipe in its overrides (recorded in experiment.json unless it
    is the default, so that runs made before recipes existed still resume)."""
    from ..refiner.config import RECIPES

    if recipe not in RECIPES:
        raise D3PRError(f"--recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    if recipe == "default":
        return preset
    return {
        **preset,
        "refiner_overrides": {**preset.get("refiner_overrides", {}), "recipe": recipe},
    }


BENCH_PRESETS = {
    # fits a 2-core CPU: every lifter run (2 folds + full) takes the cpu preset's steps, the
    # refiner its steps (BENCHMARKS.md gives the minutes measured per model and setting)
    "cpu": dict(
        lifter_preset="cpu",
        refiner_preset="cpu",
        refiner_overrides=dict(steps=800, val_every=400, train_stride=27),
    ),
    # the paper's sizes, for a GPU
    "paper": dict(
        lifter_preset="paper",
        refiner_preset="paper",
        refiner_overrides=dict(steps=20000),
    ),
    # seconds, for tests
    "tiny": dict(
        lifter_preset="tiny",
        lifter_overrides=dict(steps=2),
        refiner_preset="tiny",
        refiner_overrides=dict(steps=1),
        gif=False,
    ),
}


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
        "default", "--recipe", help="Refiner switches: default (chosen on validation) or paper."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of everything."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)."),
) -> None:
    """The h36m-fk17 pipeline (lifters → cross-fit → CND → refiner → evaluation), stage by stage."""
    import torch

    from ..experiment import Experiment, ExperimentConfig

    if preset not in BENCH_PRESETS:
        raise D3PRError(f"--preset must be one of {', '.join(BENCH_PRESETS)}, got {preset!r}")
    presets = _with_recipe(BENCH_PRESETS[preset], recipe)
    settings = ["gt", "detected"] if setting == "both" else [setting]
    models = {"both": ["stcformer", "mixste"], "all": ["stcformer", "mixste", "tcn"]}.get(
        model, [model]
    )
    if threads > 0:
        torch.set_num_threads(threads)
    summary = {}
    for s in settings:
        for m in models:
            run_dir = out / f"{m}-{s}"
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
                **presets,
            )
            t0 = time.monotonic()
            results = Experiment(config, run_dir).run()
            _print_summary(results, run_dir, time.monotonic() - t0)
            summary[f"{m}-{s}"] = {
                k: v.get("mpjpe_mm") for k, v in results.get("methods", {}).items()
            }
    typer.echo(json.dumps(summary, indent=2))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.command("demo")(demo)
    app.command("bench")(bench)

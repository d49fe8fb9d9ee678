"""`d3pr lifter` commands: train a base lifter, predict with it, cross-fit predictions."""

from __future__ import annotations

from pathlib import Path

import typer

from ..engine import LOOP_HELP
from ..errors import ArgumentError
from ..lifters.config import LIFTER_HELP, TRAIN_HELP, LifterConfig, TrainConfig
from .common import (
    CAMERAS,
    DEVICE,
    FORCE,
    JOBS,
    THREADS,
    Args,
    Options,
    config_options,
    resolve_jobs,
    resumes_itself,
    split_list,
    with_options,
)
from .common import setup as _setup_runtime

lifter_app = typer.Typer(
    help="Base 3D pose estimators (STCFormer, MixSTE, TCN): train, predict, cross-fit.",
    no_args_is_help=True,
)

#: Where `d3pr lifter train` and `crossfit` take their clips from.
DATA_OPTIONS: Options = {
    "source": (str, typer.Option("h36m-fk17", "--source", help="h36m-fk17, deepmimic, "
               "videopose3d, bvh or npz-folder.")),
    "path": (Path, typer.Option(None, "--path", help="Where the source lives (default per "
             "source).")),
    "setting": (str, typer.Option("gt", "--setting", help="2D input: gt (projected) or detected "
                "(noised).")),
    "fps": (float, typer.Option(None, "--fps", help="Frame rate of the clips, subsampled or "
            "interpolated (default: 25 for H36M sources; 0: own rate).")),
    "cameras": (int, CAMERAS),
}  # fmt: skip


def _setup(threads: int, seed: int | None = None, device: str | None = None) -> None:
    import torch

    _setup_runtime(threads, device)
    if seed is not None:
        torch.manual_seed(seed)


def _training_setup(a: Args, arch: dict, overrides: dict):
    """Threads and device set; the training config and the data spec of `train` and `crossfit`."""
    from ..lifters.config import train_config
    from ..lifters.runs import data_spec

    _setup(a.threads, device=a.device)
    cfg = train_config(a.model, a.preset, arch, **overrides)
    spec = data_spec(a.source, a.path, a.setting, a.fps, a.cameras, overrides.get("seed", 0))
    return cfg, spec


#: LifterConfig fields that are not options: ``model`` is --model, ``num_joints`` is fixed (17).
ARCH_EXCLUDED = ("model", "num_joints")
#: TrainConfig fields that are not options: ``lifter`` is the architecture options above; Adam's
#: ``betas`` pair was never changed.
TRAIN_EXCLUDED = ("lifter", "betas")
#: Flags that are not ``--field-name`` (``--T``: the window's name before it was ``window``).
LIFTER_FLAGS = {"window": ("--window", "--T")}
ARCH_OPTIONS = config_options(
    LifterConfig, help=LIFTER_HELP, flags=LIFTER_FLAGS, exclude=ARCH_EXCLUDED
)
TRAIN_OPTIONS = config_options(
    TrainConfig, help={**TRAIN_HELP, **LOOP_HELP}, exclude=TRAIN_EXCLUDED
)

#: The lifter `d3pr lifter train` and `crossfit` train.
MODEL_OPTIONS: Options = {
    "model": (str, typer.Option("stcformer", "--model", help="stcformer, mixste or tcn.")),
    "preset": (str, typer.Option("cpu", "--preset", help="paper, cpu or tiny.")),
}
#: How long and where `d3pr lifter train` and `crossfit` run.
RUN_OPTIONS: Options = {
    "minutes": (
        float,
        typer.Option(
            None, "--minutes", help="A budget per run, measured once here and turned into --steps."
        ),
    ),
    "device": (str, DEVICE),
    "threads": (int, THREADS),
}
_PATH = DATA_OPTIONS["path"][1]


@lifter_app.command("train")
@with_options(
    {
        **MODEL_OPTIONS,
        **DATA_OPTIONS,
        "train_subjects": (
            str,
            typer.Option(
                None,
                "--train-subjects",
                help="e.g. S1,S5,S6,S7 (default: the standard training split).",
            ),
        ),
        "val_subjects": (
            str,
            typer.Option(
                None, "--val-subjects", help="Held-out *training* subjects to validate on, e.g. S8."
            ),
        ),
        "out": (Path, typer.Option(..., "--out", help="Run directory.")),
        "resume": (bool, typer.Option(False, "--resume", help="Continue the run in --out.")),
        **RUN_OPTIONS,
    },
    arch=ARCH_OPTIONS,
    overrides=TRAIN_OPTIONS,
)
def train(a: Args, arch: dict, overrides: dict) -> None:
    """Train a lifter on clips of a motion source; checkpoints into --out (resumable)."""
    from ..lifters.runs import HOW_TO_PREDICT, lifter_training

    cfg, spec = _training_setup(a, arch, overrides)
    job = lifter_training(cfg, spec, a.out, split_list(a.train_subjects), split_list(a.val_subjects),
                          resume=a.resume)  # fmt: skip
    n = len(job.train_clips)
    typer.echo(f"{a.model} ({a.preset}): {n} training clips, {job.frames} frames -> {a.out}")
    h, cmd, note = job.run(minutes=a.minutes, resume=a.resume, device=a.device)
    kept = [r for r in h["records"] if r["step"] == h["kept_step"]]
    val = kept[-1].get("val_mpjpe_mm") if kept else None
    typer.echo(
        f"done: {h['steps']} steps ({h['stopped']}, {h['precision']}), "
        f"{h['train_seconds']:.0f} s" + (f", val MPJPE {val:.1f} mm" if val else "")
    )
    typer.echo(f"predict with ({note}; see {a.out / HOW_TO_PREDICT}):\n  {cmd}")


@lifter_app.command("predict")
def predict_cmd(
    run_dir: Path = typer.Argument(..., help="A trained lifter's run directory."),
    source: str = typer.Option(None, "--source", help="Motion source (default: the run's)."),
    path: Path = _PATH,
    setting: str = typer.Option(None, "--setting", help="gt or detected (default: the run's)."),
    fps: float = typer.Option(
        None,
        "--fps",
        help="Frame rate of the clips, subsampled or interpolated (default: the run's; 0: the source's own).",
    ),
    subjects: str = typer.Option(
        None, "--subjects", help="e.g. S9,S11 (default: the run's HOW_TO_PREDICT.txt subjects)."
    ),
    split: str = typer.Option("test", "--split", help="Split written into the file."),
    flip_test: bool = typer.Option(
        True, "--flip-test/--no-flip-test", help="Average with the left-right mirrored input."
    ),
    causal: bool = typer.Option(
        False, "--causal", help="Each frame from a window that ends at it (no later frame read)."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Predictions .npz to write."),
    precision: str = typer.Option(
        None, "--precision", help="auto (bf16 where native) | fp32 | bf16."
    ),
    device: str = DEVICE,
    threads: int = THREADS,
    force: bool = FORCE,
) -> None:
    """Predict whole sequences with a trained lifter into a predictions file (the clips are
    remade as the run's data.json says, unless overridden)."""
    from ..io import check_output_file
    from ..lifters.predict import clips_mpjpe, predict, predictions_from_clips
    from ..lifters.runs import estimator_of, predict_spec, source_clips
    from ..lifters.train import load_lifter
    from ..predictions import MAX_FPS, SPLITS, Predictions

    if fps is not None and not 0 <= fps <= MAX_FPS:
        raise ArgumentError(
            "fps", f"must be 0 (the source's own rate) or a rate up to {MAX_FPS:g}, got {fps:g}"
        )
    if split not in SPLITS:
        raise ArgumentError(
            "split", f"must be one of {', '.join(map(repr, SPLITS))}, got {split!r}"
        )
    check_output_file(output, (run_dir,), force)
    _setup(threads, device=device)
    model = load_lifter(run_dir, device)
    spec, default_subjects, warning = predict_spec(run_dir, source, path, setting, fps)
    if warning:
        typer.echo(warning, err=True)
    clips = source_clips(spec, split_list(subjects) or default_subjects)
    preds = predict(
        model, clips, flip_test=flip_test, device=device, progress=True,
        precision=precision or "auto", causal=causal,
    )  # fmt: skip
    name = estimator_of(run_dir)
    Predictions(predictions_from_clips(clips, preds, split=split), name).save(output)
    typer.echo(f"{len(clips)} sequences, MPJPE {clips_mpjpe(preds, clips):.1f} mm -> {output}")


@lifter_app.command("crossfit")
@with_options(
    {
        **MODEL_OPTIONS,
        "folds": (int, typer.Option(2, "--folds", help="Cross-fitting folds K (>= 2).")),
        **DATA_OPTIONS,
        "train_subjects": (
            str,
            typer.Option(None, "--train-subjects", help="Default: standard split."),
        ),
        "test_subjects": (
            str,
            typer.Option(None, "--test-subjects", help="Default: standard split."),
        ),
        "insample": (
            bool,
            typer.Option(True, "--insample/--no-insample", help="Also write train_insample.npz."),
        ),
        "out": (Path, typer.Option(..., "--out", help="Output folder (run dirs + predictions).")),
        **RUN_OPTIONS,
        "jobs": (int, JOBS),
    },
    arch=ARCH_OPTIONS,
    overrides=TRAIN_OPTIONS,
)
def crossfit(a: Args, arch: dict, overrides: dict) -> None:
    """K lifters each without one fold of training subjects + one on all; write predictions."""
    from ..lifters.crossfit import cross_fit_source

    cfg, spec = _training_setup(a, arch, overrides)
    with resumes_itself():
        summary = cross_fit_source(
            cfg, spec, a.out, split_list(a.train_subjects), split_list(a.test_subjects), folds=a.folds,
            insample=a.insample, minutes=a.minutes, device=a.device, jobs=resolve_jobs(a.jobs),
        )  # fmt: skip
    for name, s in summary.items():
        typer.echo(f"{name}: MPJPE {s['mpjpe_mm']:.1f} mm over {s['frames']} frames")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.add_typer(lifter_app, name="lifter")

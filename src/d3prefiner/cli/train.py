"""`d3pr` commands: train (a D3PRefiner) and pool (several estimators' predictions for it).

Multi-process training: ``torchrun --nproc-per-node 2 -m d3prefiner train ...`` (gloo on CPU,
nccl on CUDA; the global ``--batch-size`` is split over the processes).
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..engine import LOOP_HELP
from ..refiner.config import FIELD_HELP, RefinerConfig
from .common import (
    FORCE,
    PROGRESS,
    THREADS,
    Args,
    Options,
    config_options,
    setup,
    split_list,
    with_options,
)

#: RefinerConfig fields that are not options of `d3pr train`: ``preset`` is --preset (a network
#: size: several fields at once); Adam's ``betas`` pair was never changed.
REFINER_EXCLUDED = ("preset", "betas")
#: Flags that are not ``--field-name``.
REFINER_FLAGS = {
    "K": ("--K", "-K"),
    "use_cnd": ("--cnd/--no-cnd",),
    "use_diffusion": ("--diffusion/--no-diffusion",),
}
REFINER_OPTIONS = config_options(
    RefinerConfig, help={**FIELD_HELP, **LOOP_HELP}, flags=REFINER_FLAGS, exclude=REFINER_EXCLUDED
)

#: `d3pr train`'s own options; the refiner's config fields are :data:`REFINER_OPTIONS`.
TRAIN_OPTIONS: Options = {
    "predictions": (
        Path,
        typer.Argument(..., help="Training predictions .npz with gt3d (cross-fitted)."),
    ),
    "noise_model": (
        Path,
        typer.Option(
            None,
            "--noise",
            help="Fitted noise model "
            "(noise.safetensors from `d3pr noise fit`). Required by both recipes; only "
            "--no-cnd with --mode paper trains without one.",
        ),
    ),
    "out": (Path, typer.Option(..., "--out", help="Checkpoint directory to write.")),
    "preset": (
        str,
        typer.Option(None, help="Network size: paper | paper8 | cpu | tiny (default cpu)."),
    ),
    "recipe": (
        str,
        typer.Option(
            None,
            help="Switch set (default: default): default (chosen on "
            "validation) | paper (as published) | any (the default, applying only the "
            "image-plane part of each correction: for estimators it was not trained on; train "
            "it on `d3pr pool`ed predictions).",
        ),
    ),
    "init": (
        Path,
        typer.Option(
            None,
            "--init",
            help="Fine-tune this checkpoint (e.g. a pooled "
            "refiner, on your estimator's validation predictions): its network and switches, "
            "and its CND unless --noise; 200 steps at lr 3e-4 unless --steps / --lr.",
        ),
    ),
    "max_minutes": (
        float,
        typer.Option(None, help="Wall-clock budget; stops after the step past it."),
    ),
    "minutes": (
        float,
        typer.Option(
            None,
            "--minutes",
            help="Budget turned into steps: the first "
            "steps are timed and the run gets the steps that fit (its learning-rate schedule "
            "runs to the end); instead of --steps.",
        ),
    ),
    "resume": (
        bool,
        typer.Option(False, "--resume", help="Continue the run in --out (its config)."),
    ),
    "val": (Path, typer.Option(None, help="Validation predictions .npz with gt3d.")),
    "val_subjects": (
        str,
        typer.Option(None, help="Comma-separated subjects held out of PREDICTIONS for validation."),
    ),
    "val_actions": (
        bool,
        typer.Option(
            False,
            "--val-actions",
            help="Validate on every third "
            "action of PREDICTIONS (all its trials and cameras; trained on the rest): for "
            "one person's data, or your estimator's predictions of people it never "
            "saw.",
        ),
    ),
    "device": (str, typer.Option("cpu", help="cpu, cuda, cuda:1, ...")),
    "threads": (int, THREADS),
    "progress": (bool, PROGRESS),
    "force": (
        bool,
        typer.Option(
            False, "--force", help="Write into a non-empty --out that is not a run to resume."
        ),
    ),
}


@with_options(TRAIN_OPTIONS, overrides=REFINER_OPTIONS)
def train(a: Args, overrides: dict) -> None:
    """Train a D3PRefiner on a predictions file and write a checkpoint directory."""
    from ..refiner.train import training_job

    _check_run_request(a.out, a.resume, overrides or {}, a.minutes)
    setup(a.threads, a.device)
    job = training_job(
        a.predictions, a.out, noise_model=a.noise_model, init=a.init, preset=a.preset,
        recipe=a.recipe, overrides=overrides, val=a.val, val_subjects=split_list(a.val_subjects),
        val_actions=a.val_actions, resume=a.resume, force=a.force,
    )  # fmt: skip
    if job.ignored:
        typer.echo(f"--resume: using the saved config; ignoring {', '.join(job.ignored)}", err=True)
    refiner, rank = job.run(
        a.out,
        device=a.device,
        resume=a.resume,
        max_minutes=a.max_minutes,
        minutes=a.minutes,
        progress=a.progress,
    )
    last = refiner.history[-1] if refiner.history else {}
    if rank == 0 and "val_mpjpe_refined_mm" in last:
        typer.echo(f"saved {a.out} (val MPJPE {last['val_mpjpe_base_mm']:.1f} → "
                   f"{last['val_mpjpe_refined_mm']:.1f} mm)")  # fmt: skip
    elif rank == 0:
        typer.echo(f"saved {a.out}")


def _check_run_request(out: Path, resume: bool, overrides: dict, minutes: float | None) -> None:
    """Refuse, before any work, a run that trains nothing (``--steps`` < 1, ``--minutes`` ≤ 0),
    both a budget and steps, or a ``--resume`` with no run in ``--out`` to resume (it would
    silently start afresh)."""
    from ..errors import ArgumentError

    steps = overrides.get("steps")
    if minutes is not None and not minutes > 0:
        raise ArgumentError("minutes", f"must be > 0, got {minutes}")
    if minutes is not None and steps is not None:
        raise ArgumentError("minutes", "and {0} both size the run: give one", ("steps",))
    if steps is not None and steps < 1:
        raise ArgumentError("steps", f"must be >= 1 to train (0 would save an untrained "
                            f"checkpoint), got {steps}")  # fmt: skip
    if resume and not (Path(out) / "config.json").is_file():
        raise ArgumentError(
            "resume", f"has no run to continue in {{0}} {out} (no config.json there); drop "
            "--resume to start a new run", ("out",),
        )  # fmt: skip


def _check_pool_inputs(paths: list[Path], parts: list) -> None:
    """Refuse a file given twice, and a mix of files with and without ``gt3d`` (a predictions file
    holds ground truth for all its sequences or none: pooling would drop all of it)."""
    from ..errors import D3PRError

    for i, a in enumerate(paths):
        for b in paths[:i]:
            if a.exists() and b.exists() and a.samefile(b):
                raise D3PRError(
                    f"PREDICTIONS {a}: given twice ({b}); pooling a file with itself repeats "
                    "its sequences; give each file once"
                )
    with_gt = [p for p, part in zip(paths, parts) if part.has_gt]
    without = [p for p, part in zip(paths, parts) if len(part) and not part.has_gt]
    if with_gt and without:
        raise D3PRError(
            f"{without[0]}: has no gt3d (ground-truth 3D) while {with_gt[0]} has; the pooled "
            "file would lose the ground truth of every sequence; pool only files with gt3d"
        )


def pool(
    predictions: list[Path] = typer.Argument(
        ..., help="Predictions .npz files of several estimators (cross-fitted, with gt3d)."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Pooled predictions .npz to write."),
    subjects: str = typer.Option(
        None, "--subjects", help="Keep only these comma-separated subjects."
    ),
    force: bool = FORCE,
) -> None:
    """Pool several estimators' predictions into one file for `d3pr noise fit` and `d3pr train`
    (a refiner for estimators it was not trained on); each file's folds stay apart."""
    from ..errors import D3PRError
    from ..io import check_output_file
    from ..predictions import Predictions

    check_output_file(output, tuple(predictions), force)
    parts = [Predictions.load(p) for p in predictions]
    _check_pool_inputs(list(predictions), parts)
    if subjects:
        wanted = [s.strip() for s in subjects.split(",") if s.strip()]
        parts = [p.filter(subjects=wanted) for p in parts]
        if not any(len(p) for p in parts):
            raise D3PRError(f"no sequences of subject(s) {', '.join(wanted)} in the inputs")
    pooled = Predictions.pool(parts)
    pooled.save(output)
    per = ", ".join(f"{p.estimator or path.name}: {len(p)}" for p, path in zip(parts, predictions))
    typer.echo(f"wrote {output} ({len(pooled)} sequences, {pooled.num_frames} frames; {per})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.command("train")(train)
    app.command("pool")(pool)

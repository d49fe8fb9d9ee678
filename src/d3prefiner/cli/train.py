"""`d3pr` commands: train (a D3PRefiner) and pool (several estimators' predictions for it).

Multi-process training: ``torchrun --nproc-per-node 2 -m d3prefiner train ...`` (gloo on CPU,
nccl on CUDA; the global ``--batch-size`` is split over the processes).
"""

from __future__ import annotations

from pathlib import Path

import typer

from .common import THREADS, setup


# over 60 lines: most of it is the typer option declarations; the body parses and calls the library
def train(
    predictions: Path = typer.Argument(
        ..., help="Training predictions .npz with gt3d (cross-fitted)."
    ),
    noise: Path = typer.Option(
        None,
        "--noise",
        help="Fitted noise model (noise.safetensors from `d3pr noise fit`). Required by both "
        "recipes; only --no-cnd with --mode paper trains without one.",
    ),
    out: Path = typer.Option(..., "--out", help="Checkpoint directory to write."),
    preset: str = typer.Option(
        None, help="Network size: paper | paper8 | cpu | tiny (default cpu)."
    ),
    recipe: str = typer.Option(
        None,
        help="Switch set (default: default): default (chosen on validation) | paper (as published) | any (the "
        "default, applying only the image-plane part of each correction: for estimators it was "
        "not trained on; train it on `d3pr pool`ed predictions).",
    ),
    init: Path = typer.Option(
        None,
        "--init",
        help="Fine-tune this checkpoint (e.g. a pooled refiner, on your estimator's validation "
        "predictions): its network and switches, and its CND unless --noise; 200 steps at lr "
        "3e-4 unless --steps / --lr.",
    ),
    steps: int = typer.Option(None, help="Optimiser steps (default: the preset's, 2000)."),
    max_minutes: float = typer.Option(
        None, help="Wall-clock budget; stops after the step past it."
    ),
    precision: str = typer.Option(
        None, help="auto (bf16 where the hardware has it) | fp32 | bf16."
    ),
    val_every: int = typer.Option(None, help="Validate every N steps (default 500)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out (its config)."),
    val: Path = typer.Option(None, help="Validation predictions .npz with gt3d."),
    val_subjects: str = typer.Option(
        None, help="Comma-separated subjects held out of PREDICTIONS for validation."
    ),
    correct: str = typer.Option(
        None,
        "--correct",
        help="The part of each correction applied and calibrated: full | in-plane (camera x, y "
        "only; the input's depth kept). Default: the recipe's, or the --init checkpoint's.",
    ),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:1, ..."),
    threads: int = THREADS,
    batch_size: int = typer.Option(None, help="Global batch of windows (default 64)."),
    lr: float = typer.Option(None, help="Initial learning rate (default 1e-3)."),
    window: int = typer.Option(None, help="Window length T (default 27)."),
    train_stride: int = typer.Option(None, help="Stride of training windows (default 9)."),
    depth: int = typer.Option(None, help="Denoising STC blocks L (overrides the preset)."),
    dim: int = typer.Option(None, help="Channels C (overrides the preset)."),
    k: int = typer.Option(None, "--K", "-K", help="DDIM steps at inference (default 2)."),
    cnd: bool = typer.Option(
        None, "--cnd/--no-cnd", help="Train on CND samples (else true errors)."
    ),
    diffusion: bool = typer.Option(
        None, "--diffusion/--no-diffusion", help="Diffusion (else one direct step, no timestep)."
    ),
    mode: str = typer.Option(None, help="paper | residual (diffuse only e − μ_{a|b})."),
    input_noisy: bool = typer.Option(
        None, "--input-noisy/--no-input-noisy", help="Give the network x_noisy too."
    ),
    loss: str = typer.Option(None, help="l2 (per-joint) | mse."),
    loss_x0: bool = typer.Option(None, "--loss-x0/--no-loss-x0", help="Train on the x̂0 error."),
    noise_temporal: str = typer.Option(
        None,
        help="Noise samples' time structure: white | ar1 | window | '' (the model's). Default: "
        "the recipe's (default recipe: ar1; paper recipe: white).",
    ),
    terminal: str = typer.Option(None, help="Schedule end: clip | zero_snr."),
    seed: int = typer.Option(None, help="Random seed (default 0)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
    force: bool = typer.Option(
        False, "--force", help="Write into a non-empty --out that is not a run to resume."
    ),
) -> None:
    """Train a D3PRefiner on a predictions file and write a checkpoint directory."""
    from ..errors import D3PRError
    from ..io import check_output_dir
    from ..predictions import Predictions
    from ..refiner import train_refiner
    from ..refiner.train import hold_out, init_distributed, rank_device, run_config

    overrides = dict(
        steps=steps,
        precision=precision,
        val_every=val_every,
        batch_size=batch_size,
        lr=lr,
        window=window,
        train_stride=train_stride,
        depth=depth,
        dim=dim,
        K=k,
        use_cnd=cnd,
        use_diffusion=diffusion,
        mode=mode,
        input_noisy=input_noisy,
        loss=loss,
        loss_x0=loss_x0,
        noise_temporal=noise_temporal,
        terminal=terminal,
        seed=seed,
        correct=correct,
    )
    check_output_dir(out, (predictions, noise, val, init), resume=resume, force=force)
    setup(threads, device)
    start = None
    if init is not None:
        from ..refiner import Refiner

        if preset or recipe:
            raise D3PRError(
                "--init: the network and switches are the checkpoint's; drop --preset / --recipe"
            )
        start = Refiner.load(init)
    config, ignored = run_config(
        out, resume, preset or "cpu", recipe or "default",
        start.config if start is not None else None, **overrides,
    )  # fmt: skip
    if ignored:
        typer.echo(f"--resume: using the saved config; ignoring {', '.join(ignored)}", err=True)
    if val is not None and val_subjects:
        raise D3PRError("give either --val or --val-subjects, not both")
    preds = Predictions.load(predictions, need_gt="training a refiner")
    val_preds = Predictions.load(val, need_gt="validation") if val is not None else None
    if val_subjects:
        preds, val_preds = hold_out(
            preds, [s.strip() for s in val_subjects.split(",") if s.strip()]
        )
    noise_model = start.noise_model if start is not None else None
    if noise is not None:
        from ..noise import load_noise_model

        noise_model = load_noise_model(noise)
    rank, world = init_distributed(device)
    device = rank_device(device, rank)
    refiner = train_refiner(
        config,
        preds,
        noise_model,
        out,
        val_preds,
        device=device,
        resume=resume,
        max_minutes=max_minutes,
        progress=progress,
        init=start,
    )
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    if rank == 0:
        last = refiner.history[-1] if refiner.history else {}
        msg = f"saved {out}"
        if "val_mpjpe_refined_mm" in last:
            msg += (
                f" (val MPJPE {last['val_mpjpe_base_mm']:.1f} → "
                f"{last['val_mpjpe_refined_mm']:.1f} mm)"
            )
        typer.echo(msg)


def pool(
    predictions: list[Path] = typer.Argument(
        ..., help="Predictions .npz files of several estimators (cross-fitted, with gt3d)."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Pooled predictions .npz to write."),
    subjects: str = typer.Option(
        None, "--subjects", help="Keep only these comma-separated subjects."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
) -> None:
    """Pool several estimators' predictions into one file for `d3pr noise fit` and `d3pr train`
    (a refiner for estimators it was not trained on); each file's folds stay apart."""
    from ..errors import D3PRError
    from ..io import check_output_file
    from ..predictions import Predictions

    check_output_file(output, tuple(predictions), force)
    parts = [Predictions.load(p) for p in predictions]
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

"""`d3pr` commands: refine (a predictions file with a trained refiner) and calibrate (choose how
a refiner is applied, on validation predictions)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import THREADS, setup


def refine(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory written by `d3pr train`."),
    predictions: Path = typer.Argument(..., help="Predictions .npz to refine."),
    output: Path = typer.Option(..., "-o", "--output", help="Refined predictions .npz to write."),
    device: str = typer.Option("cpu", help="cpu, cuda, ..."),
    threads: int = THREADS,
    batch_size: int = typer.Option(256, help="Windows per forward pass."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
    K: int = typer.Option(
        None, "--K", "-K", help="DDIM steps at inference (default: the checkpoint's)."
    ),
    smooth: str = typer.Option(
        None,
        "--smooth",
        help="Temporal filter applied after refinement: auto (the one chosen on validation when "
        "the checkpoint was trained, often none), none, savgol, one_euro or gaussian "
        "(default: none).",
    ),
    precision: str = typer.Option(
        "fp32", "--precision", help="fp32 | bf16 | auto (bf16 where the hardware has it)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
    guard: str = typer.Option(
        "shrink",
        "--guard",
        help="Input unlike the refiner's training estimator: shrink its correction toward the "
        "input (default), warn only, or off.",
    ),
    strength: str = typer.Option(
        "auto",
        "--strength",
        help="Share of the refiner's correction to apply, 0…1: auto (default) = the one chosen on "
        "validation when it was trained or calibrated (0 if refining did not help there; 1 if "
        "none was chosen).",
    ),
    resample: bool = typer.Option(
        True,
        "--resample/--no-resample",
        help="Sequences at another frame rate than the refiner's training data: refine them at "
        "the training rate and interpolate the correction back to their frames (default), or "
        "refine them at their own rate.",
    ),
    correct: str = typer.Option(
        "auto",
        "--correct",
        help="Part of each correction to apply: full, in-plane (only its image-plane part: the "
        "input's depth is kept; for an estimator the refiner was not trained on), or auto "
        "(default) = the one its strength was chosen for (full unless trained with --recipe any "
        "or calibrated with --correct in-plane).",
    ),
) -> None:
    """Refine every sequence of a predictions file; write the result atomically."""
    import torch

    from ..baselines import FILTERS, smooth_predictions
    from ..errors import D3PRError
    from ..io import check_output_file
    from ..metrics import mpjpe
    from ..predictions import Predictions
    from ..refiner import Refiner
    from ..refiner.core import check_correct, check_strength
    from ..refiner.guard import check_mode, guard_message

    check_output_file(output, (checkpoint, predictions), force)
    strength = check_strength(strength)
    correct = check_correct(correct)
    setup(threads, device)
    if smooth is not None and smooth not in ("auto", "none", *FILTERS):
        raise D3PRError(
            f"--smooth: unknown filter '{smooth}' (choose from auto, none, {', '.join(FILTERS)})"
        )
    refiner = Refiner.load(checkpoint, device=device).set_precision(precision)
    if K is not None:
        refiner.set_steps(K)
    check_mode(guard)
    preds = Predictions.load(predictions)
    flags = refiner.guard_flags(preds) if guard != "off" else []
    if strength == "auto":
        _say_strength(refiner, checkpoint)
    if refiner.resolve_correct(correct) == "in-plane":
        typer.echo(
            "--correct: applying the image-plane part of each correction only (depth kept as "
            "input)",
            err=True,
        )
    _say_rate(refiner, preds, resample)
    refined = refiner.refine_predictions(
        preds, batch_size=batch_size, progress=progress, guard=guard, flags=flags,
        strength=strength, resample=resample, correct=correct,
    )  # fmt: skip
    if smooth == "auto":
        chosen = refiner.smoothing
        if chosen:
            scores = chosen["val_mpjpe_mm"]
            typer.echo(
                f"--smooth auto: {chosen['label']} (chosen on validation: MPJPE "
                f"{scores['none']:.1f} mm without a filter, {scores[chosen['label']]:.1f} with it)"
            )
        else:
            typer.echo(
                f"--smooth auto: {checkpoint} records no filter choice (trained without "
                "validation predictions); no filter applied",
                err=True,
            )
        choice = chosen["choice"] if chosen else {"filter": "none"}
        refined = smooth_predictions(refined, choice, refiner.fps if resample else None)
    elif smooth is not None:
        refined = smooth_predictions(refined, {"filter": smooth})
    refined.save(output)
    msg = f"wrote {output} ({len(refined)} sequences, {refined.num_frames} frames)"
    if preds.has_gt:
        gt = torch.from_numpy(preds.concat("gt3d"))
        gt = gt - gt[:, :1]
        errs = []
        for p in (preds, refined):
            x = torch.from_numpy(p.concat("pred3d"))
            errs.append(float(mpjpe(x - x[:, :1], gt).mean()) * 1000)
        before, after = errs
        msg += f"; MPJPE {before:.1f} → {after:.1f} mm"
    typer.echo(msg)
    warning = guard_message(flags, len(preds), refiner.data.get("guard", {}), guard)
    if warning:
        typer.echo(warning, err=True)


def _say_rate(refiner, preds, resample: bool) -> None:
    """Which sequences are at another frame rate than the refiner's training data, and what is
    done about it."""
    other: dict[float, int] = {}
    for s in preds:
        if refiner.refine_rate(s.fps):
            other[float(s.fps)] = other.get(float(s.fps), 0) + 1
    if not other:
        return
    rates = ", ".join(f"{n} at {r:g} fps" for r, n in sorted(other.items()))
    if resample:
        typer.echo(
            f"refining at the refiner's training rate, {refiner.fps:g} fps: sequences {rates} are "
            "resampled to it and their correction interpolated back to every frame "
            "(--no-resample: refine at their own rate)",
            err=True,
        )
    else:
        typer.echo(
            f"--no-resample: sequences {rates} are refined at their own rate by a refiner trained "
            f"at {refiner.fps:g} fps",
            err=True,
        )


def _say_strength(refiner, checkpoint: Path) -> None:
    """What ``--strength auto`` does with this checkpoint, when it is not simply α = 1."""
    record = refiner.strength
    if not record:
        return
    alpha, scores = record["alpha"], record["val_mpjpe_mm"]
    base, full = scores.get("0"), scores.get("1")
    folds = record.get("val_mpjpe_mm_by_fold") or {}
    on = f"on each of the {len(folds)} lifters of" if folds else "on"
    if alpha == 0:
        typer.echo(
            f"--strength auto: the refiner did not lower MPJPE {on} its validation predictions "
            f"({base:.1f} → {full:.1f} mm at full strength), so the input passes through "
            "unchanged; give --strength 1 to apply it anyway, or `d3pr calibrate` it on "
            "validation predictions of this estimator",
            err=True,
        )
    elif alpha < 1:
        typer.echo(
            f"--strength auto: applying {alpha:g} of the correction (chosen on validation: "
            f"{base:.1f} mm unrefined, {full:.1f} at full strength, "
            f"{scores[f'{alpha:g}']:.1f} at {alpha:g})",
            err=True,
        )


def calibrate(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory written by `d3pr train`."),
    predictions: Path = typer.Argument(
        ...,
        help="Validation predictions .npz with gt3d, from the estimator to be refined (never the "
        "test subjects).",
    ),
    subjects: str = typer.Option(
        None, "--subjects", help="Use only these comma-separated subjects of PREDICTIONS."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="Write the calibrated checkpoint to this new folder (default: record the choice in "
        "CHECKPOINT itself).",
    ),
    device: str = typer.Option("cpu", help="cpu, cuda, ..."),
    threads: int = THREADS,
    batch_size: int = typer.Option(256, help="Windows per forward pass."),
    correct: str = typer.Option(
        None,
        "--correct",
        help="Choose them for the full correction, its in-plane part (the input's depth kept; "
        "`d3pr refine` then applies that part), or either (whichever does better on these "
        "predictions). Default: the checkpoint's recipe (full but for --recipe any).",
    ),
) -> None:
    """Choose the correction strength and the filter on validation predictions; record them in
    the checkpoint (`d3pr refine --strength auto --smooth auto` applies them)."""
    from ..errors import D3PRError
    from ..predictions import Predictions
    from ..refiner import Refiner
    from ..refiner.train import calibrate as calibrate_on
    from ..refiner.train import strength_summary

    if out is not None:
        from ..io import check_output_dir

        check_output_dir(out, (checkpoint, predictions))
    if correct not in (None, "full", "in-plane", "either"):
        raise D3PRError(f"--correct must be full, in-plane or either, got {correct!r}")
    setup(threads, device)
    refiner = Refiner.load(checkpoint, device=device)
    preds = Predictions.load(predictions, need_gt="calibrating a refiner")
    if subjects:
        wanted = [s.strip() for s in subjects.split(",") if s.strip()]
        preds = preds.filter(subjects=wanted)
        if len(preds) == 0:
            raise D3PRError(f"{predictions}: no sequences of subject(s) {', '.join(wanted)}")
    calibrate_on(refiner, preds, batch_size=batch_size, progress=False, correct=correct)
    target = checkpoint if out is None else out
    refiner.save(target)
    typer.echo(strength_summary(refiner.strength))
    typer.echo(
        f"smoothing after it: {refiner.smoothing['label']}; recorded in {target}/config.json "
        f"({preds.num_frames} validation frames)"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.command("refine")(refine)
    app.command("calibrate")(calibrate)

"""`d3pr` commands: refine (a predictions file with a trained refiner) and calibrate (choose how
a refiner is applied, on validation predictions). Both go through ``Refiner.apply``."""

from __future__ import annotations

from pathlib import Path

import typer

from ..refiner.calibration import APPLY_HELP, ApplyOptions
from .common import DEVICE, PROGRESS, THREADS, config_options, setup, split_list, with_options

#: The options of `d3pr refine` that say how the refiner is applied: one per ApplyOptions field.
APPLY_OPTIONS = config_options(ApplyOptions, help=APPLY_HELP)
CHECKPOINT = typer.Argument(..., help="Checkpoint directory written by `d3pr train`.")
BATCH = typer.Option(256, "--batch-size", help="Windows per forward pass.")


@with_options(given=APPLY_OPTIONS)
def refine(
    checkpoint: Path = CHECKPOINT,
    predictions: Path = typer.Argument(..., help="Predictions .npz to refine."),
    output: Path = typer.Option(..., "-o", "--output", help="Refined predictions .npz to write."),
    K: int = typer.Option(None, "--K", "-K", help="DDIM steps (default: the checkpoint's)."),
    precision: str = typer.Option("fp32", help="fp32 | bf16 | auto (bf16 where native)."),
    device: str = DEVICE,
    threads: int = THREADS,
    batch_size: int = BATCH,
    progress: bool = typer.Option(True, help="Progress bar."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
    given: dict | None = None,
) -> None:
    """Refine every sequence of a predictions file; write the result atomically."""
    from ..io import check_output_file
    from ..predictions import Predictions
    from ..refiner import ApplyOptions, Refiner

    check_output_file(output, (checkpoint, predictions), force)
    options = ApplyOptions(**given)
    _filter_name(options.smooth)
    setup(threads, device)
    refiner = Refiner.load(checkpoint, device=device).set_precision(precision)
    if K is not None:
        refiner.set_steps(K)
    preds = Predictions.load(predictions)
    for line in _before(refiner, preds, options, checkpoint):
        typer.echo(line, err=True)
    applied = refiner.apply(preds, options, batch_size=batch_size, progress=progress)
    applied.predictions.save(output)
    typer.echo(_after(refiner, preds, applied, options, output))


def calibrate(
    checkpoint: Path = CHECKPOINT,
    predictions: Path = typer.Argument(
        ...,
        help="Validation predictions .npz with gt3d, from the estimator to be refined (never "
        "the test subjects).",
    ),  # fmt: skip
    subjects: str = typer.Option(None, help="Use only these comma-separated subjects."),
    out: Path = typer.Option(
        None,
        "--out",
        help="Write the calibrated checkpoint to this new folder (default: "
        "record the choice in CHECKPOINT itself).",
    ),  # fmt: skip
    correct: str = typer.Option(
        None,
        help="Choose for the full correction, its in-plane part, or either (whichever "
        "does better here). Default: the checkpoint's recipe (full but for --recipe any).",
    ),  # fmt: skip
    bones_from: Path = typer.Option(
        None,
        "--bones-from",
        help="Predictions .npz with gt3d whose bodies' median bone lengths a geometric step may "
        "pull each sequence's toward (default: the training bodies', recorded by d3pr train).",
    ),  # fmt: skip
    bodies: Path = typer.Option(
        None,
        help="Cross-fitted predictions .npz with gt3d of the training subjects (not the test ones): "
        "choose the geometric step, the bones' weight and the filter on each subject with the "
        "others' bones as its prior; record all of theirs as the prior.",
    ),  # fmt: skip
    device: str = DEVICE,
    threads: int = THREADS,
    batch_size: int = BATCH,
    progress: bool = PROGRESS,
) -> None:
    """Choose the correction strength, part, geometric step and filter on validation predictions;
    record them in the checkpoint (`d3pr refine` applies them by default)."""
    from ..errors import D3PRError
    from ..predictions import Predictions
    from ..refiner import Refiner, calibrate_refiner, calibration_summary

    if out is not None:
        from ..io import check_output_dir

        check_output_dir(out, (checkpoint, predictions, bones_from, bodies))
    if correct not in (None, "full", "in-plane", "either"):
        raise D3PRError(f"--correct must be full, in-plane or either, got {correct!r}")
    setup(threads, device)
    refiner = Refiner.load(checkpoint, device=device)
    preds = _subjects_of(Predictions.load(predictions, need_gt="calibrating a refiner"),
                         subjects, predictions)  # fmt: skip
    held = _prior_of(refiner, bones_from, bodies)
    cal = calibrate_refiner(refiner, preds, correct, batch_size, progress=progress, bodies=held)
    target = checkpoint if out is None else out
    refiner.save(target)
    if not progress:  # the bars' run writes the summary as it ends
        typer.echo("\n".join(calibration_summary(cal)))
    typer.echo(f"recorded in {target}/config.json ({preds.num_frames} validation frames)")


def _subjects_of(preds, subjects: str | None, path: Path):
    """``preds`` restricted to the comma-separated ``subjects`` (all when None)."""
    from ..errors import D3PRError

    wanted = split_list(subjects)
    if not wanted:
        return preds
    preds = preds.filter(subjects=wanted)
    if len(preds) == 0:
        raise D3PRError(f"{path}: no sequences of subject(s) {', '.join(wanted)}")
    return preds


def _prior_of(refiner, bones_from: Path | None, bodies: Path | None):
    """Record ``--bones-from``'s bodies as ``refiner``'s bone prior; or return ``--bodies``'
    predictions for the calibration to choose on (None without it)."""
    from ..errors import D3PRError

    if bones_from is not None and bodies is not None:
        raise D3PRError("--bones-from and --bodies both set the bone prior: give one")
    if bones_from is not None:
        refiner.calibration = refiner.calibration.replace(bones=_bodies_of(bones_from)[1])
    return None if bodies is None else _bodies_of(bodies, "--bodies")[0]


def _bodies_of(path: Path, option: str = "--bones-from"):
    """A predictions file with ``gt3d`` and the bone prior
    (:class:`~d3prefiner.refiner.calibration.BonePrior`) of its ground truth (``option``: named
    in errors)."""
    from ..errors import D3PRError
    from ..predictions import Predictions
    from ..refiner.calibration import MAX_BONE_M, BonePrior

    try:
        preds = Predictions.load(path, need_gt=option)
        prior = BonePrior.of(preds)
    except D3PRError as exc:
        raise D3PRError(f"{option} {path}: {exc}") from None
    if prior is None:
        raise D3PRError(
            f"{option} {path}: its gt3d has no person's bone lengths (0-{MAX_BONE_M:g} m)"
        )
    return preds, prior


def _filter_name(smooth: str) -> str:
    from ..baselines import FILTERS
    from ..errors import D3PRError

    if smooth not in ("auto", "none", *FILTERS):
        raise D3PRError(
            f"--smooth: unknown filter '{smooth}' (choose from auto, none, {', '.join(FILTERS)})"
        )
    return smooth


def _before(refiner, preds, options, checkpoint: Path) -> list[str]:
    """What will be done that the user did not ask for in so many words."""
    lines = []
    cal = refiner.calibration
    seen = cal.knows(preds.estimator)
    if options.strength == "auto" and cal.calibrated and seen:
        scores = cal.strength_scores
        base, full, alpha = scores.mpjpe_mm[0.0], scores.mpjpe_mm[1.0], cal.strength
        on = f"on each of the {len(scores.by_fold)} lifters of" if scores.by_fold else "on"
        if alpha == 0:
            lines.append(
                f"--strength auto: the refiner did not lower MPJPE {on} its validation "
                f"predictions ({base:.1f} → {full:.1f} mm at full strength), so the input passes "
                "through unchanged; give --strength 1 to apply it anyway, or `d3pr calibrate` it "
                "on validation predictions of this estimator"
            )
        elif alpha < 1:
            lines.append(
                f"--strength auto: applying {alpha:g} of the correction (chosen on validation: "
                f"{base:.1f} mm unrefined, {full:.1f} at full strength, "
                f"{scores.mpjpe_mm[alpha]:.1f} at {alpha:g})"
            )
    part = cal.correct if options.correct == "auto" else options.correct
    if not seen:
        lines.append(_unseen(cal, preds.estimator, options, checkpoint))
    elif part == "in-plane":
        lines.append(
            "--correct: applying the image-plane part of each correction only (depth kept as input)"
        )
    other: dict[float, int] = {}
    for s in preds:
        if refiner.refine_rate(s.fps):
            other[float(s.fps)] = other.get(float(s.fps), 0) + 1
    if other:
        rates = ", ".join(f"{n} at {r:g} fps" for r, n in sorted(other.items()))
        lines.append(
            f"refining at the refiner's training rate, {refiner.fps:g} fps: sequences {rates} "
            "are resampled to it and their correction interpolated back to every frame "
            "(--no-resample: refine at their own rate)"
            if options.resample
            else f"--no-resample: sequences {rates} are refined at their own rate by a refiner "
            f"trained at {refiner.fps:g} fps"
        )
    return lines


def _unseen(cal, estimator: str, options, checkpoint: Path) -> str:
    """The line for a file of an estimator the refiner was neither trained nor calibrated on."""
    name = f"estimator '{estimator}'" if estimator else "an unnamed estimator"
    known = ", ".join(cal.estimators)
    unlock = (
        f"`d3pr calibrate {checkpoint} VAL.npz --out CALIBRATED` on validation predictions of it "
        "chooses how much to apply"
    )
    if options.strength != "auto" or options.correct != "auto":
        return (
            f"warning: {name} is not one this refiner was trained or calibrated on ({known}): "
            f"the correction is applied as --strength / --correct ask, which risks making it "
            f"worse; {unlock}"
        )
    if cal.pooled:
        return (
            f"{name}: not one this refiner was trained or calibrated on ({known}), so only the "
            "image-plane part of each correction is applied (depth kept as input), the part "
            f"validated as safe for estimators a pooled refiner never saw; {unlock}; --correct "
            "full applies the whole correction anyway, at the risk of making it worse"
        )
    return (
        f"{name}: not one this refiner was trained or calibrated on ({known}); a refiner that "
        "learned one estimator's errors can make another much worse, so the input passes "
        f"through unchanged; {unlock}; --strength 1 applies it anyway, at that risk"
    )


def _after(refiner, preds, applied, options, output: Path) -> str:
    """The summary line, then the guard's warning and the filter chosen on validation."""
    from ..metrics import frame_errors
    from ..refiner.guard import guard_message

    out = applied.predictions
    lines = [f"wrote {output} ({len(out)} sequences, {out.num_frames} frames)"]
    if preds.has_gt:
        before, after = (1000 * float(frame_errors(p).mean()) for p in (preds, out))
        lines[0] += f"; MPJPE {before:.1f} → {after:.1f} mm"
    cal = refiner.calibration
    if options.smooth == "auto" and applied.choice["filter"] != "none" and cal.smoothing_scores:
        scores, label = cal.smoothing_scores.mpjpe_mm, cal.filter_label
        line = f"--smooth auto: {label} after the correction"
        if {"none", label} <= set(scores):
            line += (
                f" (chosen on validation: MPJPE {scores['none']:.1f} mm without a filter, "
                f"{scores[label]:.1f} with it; --smooth none: no filter)"
            )
        lines.insert(0, line)
    if applied.geometric != "none" and options.geometric == "auto":
        lines.insert(0, _geometric_line(applied, cal.geometric_scores or {}))
    warning = guard_message(applied.flags, len(preds), cal.guard, options.guard)
    if warning:
        typer.echo(warning, err=True)
    return "\n".join(lines)


def _geometric_line(applied, scores: dict) -> str:
    """What ``--geometric auto`` applied, with its validation MPJPE beside none's."""
    from ..refiner.calibrate import geometric_label

    bones = applied.bones
    weight = 1.0 if bones is None else bones.weight
    pooled = bones is not None and bones.pooled
    step = geometric_label(applied.geometric, weight, applied.share, pooled)
    line = f"--geometric auto: {applied.geometric} after the correction"
    own = "the sequence's median length"
    if pooled:
        own = "its body's median length (over the sequences of its subject)"
    if weight != 1.0:
        line += (f", each bone at {bones.weight:g} × {own} + "
                 f"{1 - bones.weight:g} × the training bodies'")  # fmt: skip
    elif pooled:
        line += f", each bone at {own}"
    if applied.share != 1.0:
        line += f", {applied.share:g} of what it takes from the 2D"
    if applied.joint_shares is not None:
        steps = " and ".join(applied.joint_shares.steps)
        line += (f": each joint's share of what {steps} take from the 2D, as they are and "
                 f"smoothed in time, fitted on validation")  # fmt: skip
    if {"none", step} <= set(scores):
        line += (f" (chosen on validation: MPJPE {scores['none']:.1f} mm without it, "
                 f"{scores[step]:.1f} with it)")  # fmt: skip
    return line


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.command("refine")(refine)
    app.command("calibrate")(calibrate)

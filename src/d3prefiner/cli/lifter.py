"""`d3pr lifter` commands: train a base lifter, predict with it, cross-fit predictions."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import DEVICE, JOBS, THREADS, resolve_jobs, resumes_itself
from .common import setup as _setup_runtime

lifter_app = typer.Typer(
    help="Base 3D pose estimators (STCFormer, MixSTE, TCN): train, predict, cross-fit.",
    no_args_is_help=True,
)

_SOURCE = typer.Option(
    "h36m-fk17", "--source", help="h36m-fk17, deepmimic, videopose3d, bvh or npz-folder."
)
_PATH = typer.Option(None, "--path", help="Where the source lives (default per source).")
_SETTING = typer.Option("gt", "--setting", help="2D input: gt (projected) or detected (noised).")
_FPS = typer.Option(
    None,
    "--fps",
    help="Frame rate of the clips, subsampled or interpolated (default: 25 for H36M sources; 0: own rate).",
)
_CAMERAS = typer.Option(4, "--cameras", help="Virtual cameras per sequence.")
_DEVICE = DEVICE
_THREADS = THREADS


def _subjects(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [s.strip() for s in text.split(",") if s.strip()]


def _setup(threads: int, seed: int | None = None, device: str | None = None) -> None:
    import torch

    _setup_runtime(threads, device)
    if seed is not None:
        torch.manual_seed(seed)


def _train_config(
    model, preset, T, tds, steps, batch_size, lr, velocity, seed, precision, arch, optim=None
):
    from ..lifters.config import train_config

    lifter = {k: v for k, v in dict(T=T, tds=tds, **(arch or {})).items() if v is not None}
    over = dict(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        velocity_weight=velocity,
        seed=seed,
        precision=precision,
        **(optim or {}),
    )
    return train_config(model, preset, lifter, **{k: v for k, v in over.items() if v is not None})


def _arch(dim, depth, heads, qk_norm=None) -> dict:
    arch = dict(dim=dim, depth=depth, heads=heads, qk_norm=qk_norm)
    return {k: v for k, v in arch.items() if v is not None}


_MODEL = typer.Option("stcformer", "--model", help="stcformer, mixste or tcn.")
_STEPS = typer.Option(None, "--steps", help="Optimiser steps (default: the preset's).")
_MINUTES = typer.Option(
    None, "--minutes", help="A budget per run, measured once here and turned into --steps."
)
_PRECISION = typer.Option(None, "--precision", help="auto (bf16 where native) | fp32 | bf16.")
_T = typer.Option(None, "--T", help="Output frames per window (default: the preset's).")
_TDS = typer.Option(None, "--tds", help="Temporal downsampling factor (STCFormer's TDS).")
_BATCH = typer.Option(
    None, "--batch-size", help="Windows per optimiser step (default: the preset's, 64)."
)
_LR = typer.Option(
    None, "--lr", help="Peak learning rate of the cosine schedule (default: the preset's)."
)
_VELOCITY = typer.Option(None, "--velocity-weight", help="MixSTE velocity-loss weight.")
_DIM = typer.Option(None, "--dim", help="Channels (overrides the preset).")
_DEPTH = typer.Option(None, "--depth", help="Blocks (TCN: receptive field 3^(depth+1)).")
_HEADS = typer.Option(None, "--heads", help="Attention heads (overrides the preset).")
_QK_NORM = typer.Option(
    None,
    "--qk-norm/--no-qk-norm",
    help="Layer-normalised queries and keys (attention lifters; default: preset).",
)
_WARMUP = typer.Option(
    None, "--warmup-steps", help="Linear learning-rate warm-up steps (default: the preset's)."
)
_CLIP = typer.Option(
    None, "--grad-clip", help="Clip the gradient norm to this, 0 = off (default: the preset's)."
)


def _optim(warmup, clip) -> dict:
    return {k: v for k, v in dict(warmup_steps=warmup, grad_clip=clip).items() if v is not None}


def _data_spec(source, path, setting, fps, cameras, seed):
    from ..data.sources import get_source
    from ..lifters.config import DataSpec

    return DataSpec(
        source=source,
        path=str(path) if path is not None else None,
        setting=setting,
        fps=get_source(source).fps if fps is None else fps or None,
        n_cameras=cameras,
        seed=seed,
    )


def _default_subjects(source: str, which: int) -> list[str]:
    """The source's standard training (0) or test (1) subjects."""
    from ..data.sources import get_source

    src = get_source(source)
    return list(src.test if which else src.train)


def _held_out_test(source: str) -> set[str]:
    """The source's standard test subjects when they are held out of its training ones."""
    from ..data.sources import get_source

    src = get_source(source)
    return set(src.test) if src.has_test_split else set()


def _predict_subjects(source: str, train_s: list[str], val_s: list[str]) -> tuple[list, str]:
    """The subjects a trained lifter should be tried on, and what they are."""
    unseen = [s for s in _default_subjects(source, 1) if s not in train_s]
    if unseen:
        return unseen, "the source's test subjects, never trained on"
    if val_s:
        return val_s, "the held-out validation subjects"
    return train_s, "its own training subjects (the source holds no others): optimistic errors"


# over 60 lines: most of it is the typer option declarations; the body parses and calls the library
@lifter_app.command("train")
def train(
    model: str = _MODEL,
    preset: str = typer.Option("cpu", "--preset", help="paper, cpu or tiny."),
    source: str = _SOURCE,
    path: Path = _PATH,
    setting: str = _SETTING,
    train_subjects: str = typer.Option(
        None, "--train-subjects", help="e.g. S1,S5,S6,S7 (default: the standard training split)."
    ),
    val_subjects: str = typer.Option(
        None, "--val-subjects", help="Held-out *training* subjects to validate on, e.g. S8."
    ),
    T: int = _T,
    tds: int = _TDS,
    dim: int = _DIM,
    depth: int = _DEPTH,
    heads: int = _HEADS,
    qk_norm: bool = _QK_NORM,
    steps: int = _STEPS,
    minutes: float = _MINUTES,
    batch_size: int = _BATCH,
    lr: float = _LR,
    velocity: float = _VELOCITY,
    warmup: int = _WARMUP,
    clip: float = _CLIP,
    precision: str = _PRECISION,
    fps: float = _FPS,
    cameras: int = _CAMERAS,
    seed: int = typer.Option(0, "--seed", help="Seed of the weights and of every batch."),
    out: Path = typer.Option(..., "--out", help="Run directory."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    device: str = _DEVICE,
    threads: int = _THREADS,
) -> None:
    """Train a lifter on clips of a motion source; checkpoints into --out (resumable)."""
    from ..errors import D3PRError
    from ..io import check_output_dir
    from ..lifters.crossfit import budget_to_steps
    from ..lifters.runs import HOW_TO_PREDICT, describe_run, predict_command, source_clips
    from ..lifters.train import train_lifter

    _setup(threads, device=device)
    arch = _arch(dim, depth, heads, qk_norm)
    cfg = _train_config(
        model, preset, T, tds, steps, batch_size, lr, velocity, seed, precision, arch,
        _optim(warmup, clip),
    )  # fmt: skip
    if (out / "state.safetensors").exists() and not resume:
        raise D3PRError(f"{out}: already holds a run; pass --resume or another --out")
    check_output_dir(out, resume=resume)
    spec = _data_spec(source, path, setting, fps, cameras, seed)
    train_s = _subjects(train_subjects) or _default_subjects(source, 0)
    val_s = _subjects(val_subjects) or []
    test_s = _held_out_test(source)
    if set(val_s) & (set(train_s) | test_s):
        raise D3PRError(
            "--val-subjects must be held-out training subjects: neither trained on nor the "
            f"test subjects ({', '.join(sorted(test_s)) or 'none'})"
        )
    train_clips = source_clips(spec, train_s)
    val_clips = source_clips(spec, val_s) if val_s else []
    n = sum(c.num_frames for c in train_clips)
    typer.echo(f"{model} ({preset}): {len(train_clips)} training clips, {n} frames -> {out}")
    if minutes is not None:
        cfg = budget_to_steps(cfg, train_clips, minutes, out, val_clips, device)
    predict_s, note = _predict_subjects(source, train_s, val_s)
    if resume or not (out / "state.safetensors").exists():  # how the clips were made
        describe_run(out, spec, predict_s, note, train_subjects=train_s, val_subjects=val_s)
    train_lifter(cfg, train_clips, val_clips, out, resume=resume, device=device)
    from ..engine import read_history

    h = read_history(out)
    kept = [r for r in h["records"] if r["step"] == h["kept_step"]]
    val = kept[-1].get("val_mpjpe_mm") if kept else None
    typer.echo(
        f"done: {h['steps']} steps ({h['stopped']}, {h['precision']}), "
        f"{h['train_seconds']:.0f} s" + (f", val MPJPE {val:.1f} mm" if val else "")
    )
    typer.echo(
        f"predict with ({note}; see {out / HOW_TO_PREDICT}):\n  {predict_command(out, predict_s)}"
    )


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
    output: Path = typer.Option(..., "-o", "--output", help="Predictions .npz to write."),
    precision: str = _PRECISION,
    device: str = _DEVICE,
    threads: int = _THREADS,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
) -> None:
    """Predict whole sequences with a trained lifter into a predictions file (the clips are
    remade as the run's data.json says, unless overridden)."""
    from ..io import check_output_file
    from ..lifters.predict import clips_mpjpe, predict, predictions_from_clips
    from ..lifters.runs import predict_spec, source_clips
    from ..lifters.train import load_lifter
    from ..predictions import Predictions

    check_output_file(output, (run_dir,), force)
    _setup(threads, device=device)
    model = load_lifter(run_dir, device)
    spec, default_subjects, warning = predict_spec(run_dir, source, path, setting, fps)
    if warning:
        typer.echo(warning, err=True)
    clips = source_clips(spec, _subjects(subjects) or default_subjects)
    preds = predict(
        model, clips, flip_test=flip_test, device=device, progress=True,
        precision=precision or "auto",
    )  # fmt: skip
    name = f"{model.config.model}-T{model.config.window}"
    Predictions(predictions_from_clips(clips, preds, split=split), name).save(output)
    typer.echo(f"{len(clips)} sequences, MPJPE {clips_mpjpe(preds, clips):.1f} mm -> {output}")


@lifter_app.command("crossfit")
def crossfit(
    model: str = _MODEL,
    preset: str = typer.Option("cpu", "--preset", help="paper, cpu or tiny."),
    folds: int = typer.Option(2, "--folds", help="Cross-fitting folds K (>= 2)."),
    source: str = _SOURCE,
    path: Path = _PATH,
    setting: str = _SETTING,
    train_subjects: str = typer.Option(None, "--train-subjects", help="Default: standard split."),
    test_subjects: str = typer.Option(None, "--test-subjects", help="Default: standard split."),
    T: int = _T,
    tds: int = _TDS,
    dim: int = _DIM,
    depth: int = _DEPTH,
    heads: int = _HEADS,
    qk_norm: bool = _QK_NORM,
    steps: int = _STEPS,
    minutes: float = _MINUTES,
    batch_size: int = _BATCH,
    lr: float = _LR,
    velocity: float = _VELOCITY,
    warmup: int = _WARMUP,
    clip: float = _CLIP,
    precision: str = _PRECISION,
    insample: bool = typer.Option(
        True, "--insample/--no-insample", help="Also write train_insample.npz."
    ),
    fps: float = _FPS,
    cameras: int = _CAMERAS,
    seed: int = typer.Option(0, "--seed", help="Seed of the weights and of every batch."),
    out: Path = typer.Option(..., "--out", help="Output folder (run dirs + predictions)."),
    device: str = _DEVICE,
    threads: int = _THREADS,
    jobs: int = JOBS,
) -> None:
    """K lifters each without one fold of training subjects + one on all; write predictions."""

    from ..io import save_json
    from ..lifters.crossfit import cross_fit
    from ..lifters.runs import clips_by_subject, save_data_spec, source_clips
    from ..metrics import mpjpe

    _setup(threads, device=device)
    jobs = resolve_jobs(jobs)
    arch = _arch(dim, depth, heads, qk_norm)
    cfg = _train_config(
        model, preset, T, tds, steps, batch_size, lr, velocity, seed, precision, arch,
        _optim(warmup, clip),
    )  # fmt: skip
    spec = _data_spec(source, path, setting, fps, cameras, seed)
    train_s = _subjects(train_subjects) or _default_subjects(source, 0)
    test_s = _subjects(test_subjects) or _default_subjects(source, 1)
    by_subject = clips_by_subject(source_clips(spec, list(dict.fromkeys(train_s + test_s))))
    with resumes_itself():
        result = cross_fit(
            cfg, by_subject, train_s, test_s, out, folds=folds, insample=insample,
            minutes=minutes, device=device, data_spec=spec, jobs=jobs,
        )  # fmt: skip
    save_data_spec(out, spec, train_subjects=train_s, test_subjects=test_s, folds=folds)
    summary = {}
    for name, preds in result.items():
        preds.save(out / f"{name}.npz")
        err = float(mpjpe(preds.concat("pred3d"), preds.concat("gt3d")).double().mean())
        summary[name] = {"mpjpe_mm": float(err * 1000), "frames": preds.num_frames}
        typer.echo(f"{name}: MPJPE {err * 1000:.1f} mm over {preds.num_frames} frames")
    save_json(out / "crossfit.json", summary)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `d3pr` app."""
    app.add_typer(lifter_app, name="lifter")

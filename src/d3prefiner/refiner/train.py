"""Training a D3PRefiner (paper Sec. III-C2), single- or multi-process (PyTorch DDP).

What one step draws and learns, and how the refiner is validated, is the task of
:mod:`d3prefiner.refiner.task`. The loop is the shared training engine (:mod:`d3prefiner.engine`):
steps, cosine schedule, bf16 where the hardware has it, validation + keep-best, bit-identical resume and, with DDP, the global
batch sharded over the ranks (losses equal a one-process run up to summation order).

Start several processes with ``torchrun --nproc_per_node N -m d3prefiner.cli train ...`` (gloo on
CPU, nccl on CUDA); rank 0 writes the checkpoint and validates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from ..denoiser import PoseDenoiser
from ..errors import ArgumentError, D3PRError
from ..predictions import Predictions, action_split
from .calibrate import calibrate
from .config import RefinerConfig
from .core import Refiner
from .task import MIN_TRAIN_WINDOWS, RefinerTask, WindowData, min_train_frames


def init_distributed(device: str | torch.device = "cpu") -> tuple[int, int]:
    """Join the process group if launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    Returns ``(rank, world_size)``; ``(0, 1)`` when not distributed.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend)
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# -- the loop --------------------------------------------------------------------------------------
def _upgrade_meta(saved: dict) -> dict:
    """A saved training state's run config in this version's form (older checkpoints: the
    optimisation fields flat)."""
    if "refiner" not in saved:
        return saved
    return {**saved, "refiner": RefinerConfig.from_dict(saved["refiner"]).to_dict()}


def run_config(
    out_dir: str | os.PathLike,
    resume: bool,
    preset: str = "cpu",
    recipe: str = "default",
    init: RefinerConfig | None = None,
    **overrides,
) -> tuple[RefinerConfig, list[str]]:
    """The config of a training run and the overrides it ignores.

    Resuming a run directory that has a ``config.json`` uses that config (every override given is
    returned as ignored); otherwise ``preset`` + ``recipe`` + ``overrides`` (``None`` = not given),
    or, fine-tuning a refiner trained with ``init``, :func:`finetune_config` of it.
    A ``window`` override moves the strides with it unless they are given: refinement stride =
    window, training stride = window // 3.
    """
    from ..io import load_json

    given = {k: v for k, v in overrides.items() if v is not None}
    saved = Path(out_dir) / "config.json"
    if resume and saved.exists():
        return RefinerConfig.from_dict(load_json(saved)["refiner"], str(saved)), sorted(given)
    if "window" in given:
        given.setdefault("refine_stride", given["window"])
        given.setdefault("train_stride", max(1, given["window"] // 3))
    if init is not None:
        return finetune_config(init, **given), []
    return RefinerConfig.from_preset(preset, recipe, **given), []


#: Fine-tuning a trained refiner (``d3pr train --init``): default optimiser steps and learning
#: rate (a third of the presets' 1e-3), e.g. a pooled refiner on one estimator's validation errors.
FINETUNE_STEPS = 200
FINETUNE_LR = 3e-4


def finetune_config(init: RefinerConfig, **overrides) -> RefinerConfig:
    """The config of fine-tuning a refiner trained with ``init``: its network and switches, with
    :data:`FINETUNE_STEPS` steps at :data:`FINETUNE_LR`, validated at the end, and ``overrides``
    (``None`` = not given)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    steps = given.get("steps", FINETUNE_STEPS)
    return init.replace(**{"steps": steps, "lr": FINETUNE_LR, "val_every": steps, **given})


def hold_out(preds: Predictions, subjects: Sequence[str]) -> tuple[Predictions, Predictions]:
    """``(rest, held)``: the sequences of ``preds`` not of / of ``subjects``; both must be
    non-empty."""
    held = preds.filter(subjects=list(subjects))
    rest = Predictions([s for s in preds if s.subject not in set(subjects)], preds.estimator)
    if len(held) == 0 or len(rest) == 0:
        have = sorted({s.subject for s in preds})
        hint = f"; e.g. {have[-1]}" if len(have) > 1 else "; validate on a file of its own"
        raise ArgumentError(
            "val_subjects",
            f"{','.join(subjects)}: leaves no training or validation data; the file holds "
            f"subjects {', '.join(have)}{hint}",
        )
    return rest, held


@dataclass
class TrainingJob:
    """A refiner training run ready to go (:func:`training_job`): its config (``ignored``: the
    overrides a resumed run does not take), data, noise model and the refiner it starts from."""

    config: RefinerConfig
    ignored: list[str]
    train_preds: Predictions
    val_preds: Predictions | None
    noise_model: object
    init: Refiner | None

    def run(self, out: str | os.PathLike, *, device: str = "cpu", **kwargs) -> tuple[Refiner, int]:
        """Train (``kwargs``: :func:`train_refiner`'s ``resume``, ``max_minutes``, ``progress``)
        on every process of a ``torchrun`` launch; returns the refiner and this process's rank."""
        rank, world = init_distributed(device)
        bodies = None
        if self.val_preds is not None:  # every body the run holds, for the geometric step
            bodies = Predictions.pool([self.train_preds, self.val_preds], self.val_preds.estimator)
        refiner = train_refiner(
            self.config, self.train_preds, self.noise_model, out, self.val_preds,
            device=rank_device(device, rank), init=self.init, bodies=bodies, **kwargs,
        )  # fmt: skip
        if world > 1:
            dist.destroy_process_group()
        return refiner, rank


def training_job(
    predictions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    noise_model: str | os.PathLike | None = None,
    init: str | os.PathLike | None = None,
    preset: str | None = None,
    recipe: str | None = None,
    overrides: dict | None = None,
    val: str | os.PathLike | None = None,
    val_subjects: Sequence[str] = (),
    val_actions: bool = False,
    resume: bool = False,
    force: bool = False,
) -> TrainingJob:
    """Check the output folder, read the files and make the config of training a refiner.

    Args:
        predictions: training predictions ``.npz`` with ground truth (cross-fitted).
        out: the checkpoint directory to write (or to resume, ``resume``; ``force``: write into
            a non-empty one).
        noise_model: a fitted noise model file (default: ``init``'s, or none).
        init: a checkpoint to fine-tune (its network and switches; :func:`finetune_config`).
        preset, recipe: network size and switch set (not with ``init``); default cpu / default.
        overrides: :class:`RefinerConfig` fields, LoopConfig ones flat (:func:`run_config`).
        val: validation predictions ``.npz``; or ``val_subjects``, held out of ``predictions``;
            or ``val_actions``: every third action of ``predictions``, all its trials and
            cameras (:func:`~d3prefiner.predictions.action_split`; for one person's data, or an
            estimator's predictions of subjects it never saw).
    """
    from ..io import check_output_dir

    check_output_dir(out, (predictions, noise_model, val, init), resume=resume, force=force)
    start = None
    if init is not None:
        if preset or recipe:
            raise ArgumentError(
                "init", "trains the checkpoint's network and switches: drop {0} / {1}",
                ("preset", "recipe"),
            )  # fmt: skip
        start = Refiner.load(init)
    config, ignored = run_config(
        out, resume, preset or "cpu", recipe or "default",
        start.config if start is not None else None, **(overrides or {}),
    )  # fmt: skip
    given = [n for n, v in (("val", val), ("val_subjects", val_subjects),
                            ("val_actions", val_actions)) if v]  # fmt: skip
    if len(given) > 1:
        raise ArgumentError(given[0], "and {0} both give validation data: give one", given[1:2])
    preds = Predictions.load(predictions, need_gt="training a refiner")
    val_preds = Predictions.load(val, need_gt="validation") if val is not None else None
    if val_subjects:
        preds, val_preds = hold_out(preds, list(val_subjects))
    if val_actions:
        preds, val_preds = action_split(preds)
    noise = start.noise_model if start is not None else None
    if noise_model is not None:
        from ..noise import load_noise_model

        noise = load_noise_model(noise_model)
    return TrainingJob(config, ignored, preds, val_preds, noise, start)


def rank_device(device: str, rank: int) -> str:
    """The device of DDP rank ``rank``: ``cuda`` becomes ``cuda:<rank>`` on a multi-GPU node."""
    if device.startswith("cuda") and ":" not in device and torch.cuda.device_count() > 1:
        return f"cuda:{rank}"
    return device


def train_refiner(
    config: RefinerConfig,
    train_preds: Predictions,
    noise_model,
    out_dir: str | os.PathLike,
    val_preds: Predictions | None = None,
    *,
    device: str | torch.device = "cpu",
    resume: bool = False,
    max_minutes: float | None = None,
    minutes: float | None = None,
    progress: bool = True,
    val_batch_size: int = 256,
    desc: str = "refiner",
    init: Refiner | None = None,
    bodies: Predictions | None = None,
) -> Refiner:
    """Train a refiner with the training engine (:func:`d3prefiner.train.fit`) and write its
    checkpoint directory.

    Args:
        config: hyper-parameters and switches (``config.loop.steps`` optimiser steps).
        train_preds: training predictions with ``gt3d`` (cross-fitted, ideally).
        noise_model: fitted noise model (``sample_error`` / ``residual_sample`` / ``mean_error``);
            may be None only with ``use_cnd=False`` and ``mode="paper"``.
        out_dir: checkpoint directory (``config.json``, ``model.safetensors``,
            ``noise.safetensors``, and the engine's ``state.safetensors`` / ``history.json``).
        val_preds: validation predictions with ``gt3d`` (a held-out training subject): refined-vs-
            base MPJPE every ``config.loop.val_every`` steps; the kept weights are the best refined.
            After training, the correction strength and then the temporal filter (or none) that
            lower the validation MPJPE are chosen and recorded (:func:`calibrate`).
        device: where to train (each rank of a DDP run uses it).
        resume: continue from ``out_dir/state.safetensors`` (the last checkpoint).
        max_minutes: wall-clock budget; training stops after the step that exceeds it.
        minutes: a budget turned once into ``config.loop.steps`` (the steps that fit in it here,
            measured on the first steps and recorded in ``out_dir/steps.json``), so that the
            learning-rate schedule runs to its end.
        progress: a progress bar (rank 0 only).
        val_batch_size: windows per batch when validating.
        desc: the progress bar's label (a grid's variant name, when several train at once).
        init: a trained refiner to start from (fine-tuning, ``d3pr train --init``): its weights
            and error scale. ``config`` must build the same network; its steps, learning rate
            and the rest of the optimisation are this run's.
        bodies: the training subjects' cross-fitted predictions with ``gt3d``: the calibration
            chooses the geometric step and the bones' weight on each of them with the others'
            bones as its prior (:func:`calibrate`'s ``bodies``).

    Returns:
        The trained :class:`Refiner` (on ``device``). Its ``history`` attribute lists the records.
    """
    from ..engine import fit

    device = torch.device(device)
    rank, _ = init_distributed(device)
    if noise_model is None and (config.use_cnd or config.mode == "residual"):
        raise ArgumentError("noise_model", "is needed by this configuration (a fitted noise model)")
    if val_preds is not None and (len(val_preds) == 0 or not val_preds.has_gt):
        raise D3PRError("validation predictions: need at least one sequence, all with gt3d")
    out = Path(out_dir)
    need = min_train_frames(config.window)
    if train_preds.num_frames < need:
        raise D3PRError(
            f"training predictions: {train_preds.num_frames} frames in {len(train_preds)} "
            f"sequence(s) are too few to train a refiner (need at least {need}, "
            f"{MIN_TRAIN_WINDOWS} windows of {config.window} frames)"
        )
    data = WindowData(train_preds, config.window, config.train_stride, config.geometry)
    task = RefinerTask(config, data, noise_model, val_preds, val_batch_size,
                       measure_scale=init is None, device=device)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.loop.seed)
        model = PoseDenoiser(config.denoiser_config())
    if init is None:
        model.e_scale.fill_(task.e_scale)
    else:
        start_from(model, init)
    model.to(device)
    if minutes is not None:
        config = _budget(config, model, task, out, minutes, device)

    def export(kept) -> None:
        Refiner(config, kept, noise_model, data.stats).save(out)

    meta = {"refiner": config.to_dict(), "train_windows": len(data)}
    with torch.random.fork_rng(devices=[]):
        result = fit(
            model, task, config.loop, out, export=export, meta=meta, upgrade_meta=_upgrade_meta,
            resume=resume,
            max_minutes=max_minutes, device=device, progress=progress, desc=desc,
        )  # fmt: skip
    refiner = Refiner(config, model.eval(), noise_model, data.stats, history=result.history)
    if val_preds is not None and rank == 0:  # strength and filter, chosen on validation
        calibrate(refiner, val_preds, batch_size=val_batch_size, progress=progress, bodies=bodies)
        refiner.save(out)
    return refiner


def _budget(config: RefinerConfig, model, task, out: Path, minutes: float, device) -> RefinerConfig:
    """``config`` with the steps that fit in ``minutes`` (:func:`d3prefiner.engine.steps_for_budget`)."""
    from ..engine import calibrate_steps, steps_for_budget

    steps = steps_for_budget(
        out, minutes, lambda: calibrate_steps(model, task, config.loop, minutes, device=device),
        batch_size=config.loop.batch_size, window=config.window,
    )  # fmt: skip
    return config.replace(steps=steps)


def start_from(model: PoseDenoiser, init: Refiner) -> None:
    """Copy the weights and error scale of ``init`` into ``model`` (the same network)."""
    mine, theirs = model.config, init.model.config
    if mine != theirs:
        diff = ", ".join(
            f"{k} {getattr(theirs, k)} vs {getattr(mine, k)}"
            for k in vars(mine) if getattr(mine, k) != getattr(theirs, k)
        )  # fmt: skip
        raise ArgumentError("init", f"the checkpoint's network differs from this run's ({diff})")
    model.load_state_dict(init.model.state_dict())

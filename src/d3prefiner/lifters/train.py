"""Training and checkpoints of the base lifters (prediction: :mod:`.predict`; cross-fitting:
:mod:`.crossfit`; what a run directory records about its data: :mod:`.runs`).

Training runs on the shared engine (:mod:`d3prefiner.engine`): steps, cosine schedule, bf16 where
the hardware has it, validation on held-out training clips, bit-identical resume. Run directory
(self-describing, every file written atomically):

* ``config.json`` — ``{"format", "version", "train": TrainConfig}``;
* ``model.safetensors`` — the kept weights (metadata: the lifter config);
* ``state.safetensors``, ``history.json`` — the engine's resume point and log;
* ``data.json`` — how the clips were made (:class:`DataSpec`) and the subjects ``d3pr lifter
  predict`` predicts by default; ``HOW_TO_PREDICT.txt`` — that command
  (:func:`~.runs.describe_run`; written by ``d3pr lifter train``, :func:`~.crossfit.cross_fit`
  and the experiment).

Temporal downsampling (TDS, factor k = ``LifterConfig.tds``, as STCFormer uses after P-STMO): the
network sees every k-th frame, so a window of T frames spans ``(T - 1) k + 1`` frames. Each clip is
split into k phase-shifted sub-sequences ``x[o::k]`` (o = 0 … k − 1). Training draws windows from all
of them; :func:`~.predict.predict` runs the network on each one and interleaves the outputs, so every frame
of the full-rate sequence is predicted by the network directly (no interpolation).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..data.sequences import Clip
from ..errors import D3PRError
from ..io import load_json, load_safetensors, save_json, save_safetensors
from ..metrics import mpjpe, mpjve
from ..version import __version__
from . import build_lifter
from .config import TrainConfig
from .predict import _subsequences, attention_backend, clips_mpjpe, context_of, flip_pose, predict
from .stcformer import Lifter

FORMAT = "d3prefiner-lifter"


def mpjpe_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error of ``(B, T, J, 3)`` poses (a scalar, metres), compared as
    given (the clips are root-relative): :func:`d3prefiner.metrics.mpjpe`."""
    return mpjpe(pred, gt, align="none").mean()


def velocity_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """MixSTE's velocity term: MPJPE between frame differences of ``(B, T, J, 3)`` poses
    (:func:`d3prefiner.metrics.mpjve`, per frame)."""
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    return mpjve(pred, gt).mean()


# --------------------------------------------------------------------------- data


class WindowBank:
    """All training frames back to back, and random seq2seq windows drawn over them.

    A window is ``window`` output frames plus ``context`` input frames on each side (edge-replicated at the
    ends of a clip). Every (sub-)sequence's windows are equally likely: a clip is drawn with
    probability proportional to its number of window starts, then a start uniformly.
    """

    def __init__(self, clips: Sequence[Clip], window: int, tds: int, context: int = 0) -> None:
        if not clips:
            raise D3PRError("train_lifter: no training clips")
        p2 = _subsequences([c.pose2d for c in clips], tds)
        p3 = _subsequences([c.pose3d for c in clips], tds)
        self.lengths = torch.as_tensor([len(a) for a in p2], dtype=torch.long)
        self.offsets = torch.cumsum(self.lengths, 0) - self.lengths
        self.weights = (self.lengths - window + 1).clamp(min=1).double()
        self.pose2d = torch.as_tensor(np.concatenate(p2), dtype=torch.float32)  # (N, J, 2)
        self.pose3d = torch.as_tensor(np.concatenate(p3), dtype=torch.float32)  # (N, J, 3)
        self.window, self.context = window, context

    def draw(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``(n, T + 2·context)`` frame indices of ``n`` random windows."""
        clip = torch.multinomial(self.weights, n, replacement=True, generator=gen)  # (n,)
        n_starts = (self.lengths[clip] - self.window + 1).clamp(min=1)
        start = (torch.rand(n, generator=gen, dtype=torch.float64) * n_starts).long()  # (n,)
        c = self.context
        t = start[:, None] + torch.arange(-c, self.window + c)[None]  # (n, T + 2c)
        t = torch.minimum(t.clamp(min=0), self.lengths[clip][:, None] - 1)
        return t + self.offsets[clip][:, None]


def _val_subset(clips: Sequence[Clip], max_frames: int, window: int) -> list[Clip]:
    """A deterministic subset of validation clips with at most about ``max_frames`` frames."""
    if not clips:
        return []
    per = max(window, max_frames // len(clips))
    out = []
    for c in clips:
        if sum(x.num_frames for x in out) >= max_frames:
            break
        out.append(replace(c, pose2d=c.pose2d[:per], pose3d=c.pose3d[:per]))
    return out


class LifterTask:
    """The engine's task for a lifter: random windows, flip augmentation, MPJPE (+ velocity) loss,
    validation MPJPE on held-out clips (never the test subjects: the caller chooses them)."""

    metric = "val_mpjpe_mm"

    def __init__(self, config: TrainConfig, bank: WindowBank, val: Sequence[Clip]) -> None:
        self.config, self.bank, self.val = config, bank, list(val)
        self.frames_per_sample = bank.window

    def draw(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.bank.draw(n, gen)  # (n, T + 2c)
        c, T = self.bank.context, self.bank.window
        x, y = self.bank.pose2d[idx], self.bank.pose3d[idx[:, c : c + T]]  # (n,T+2c,J,2),(n,T,J,3)
        if self.config.flip_aug:
            f = (torch.rand(n, generator=gen) < 0.5)[:, None, None, None]
            x, y = torch.where(f, flip_pose(x), x), torch.where(f, flip_pose(y), y)
        return x, y

    def loss(self, net, batch) -> torch.Tensor:
        x, y = batch
        pred = net(x).float()  # (B, T, J, 3)
        per = mpjpe(pred, y, align="none").mean(dim=1)  # (B,)
        if self.config.velocity_weight > 0 and pred.shape[1] > 1:
            vel = mpjve(pred, y).mean(dim=1)  # (B,)
            per = per + self.config.velocity_weight * vel
        return per

    def validate(self, model) -> dict[str, float]:
        if not self.val:
            return {}
        preds = predict(model, self.val, flip_test=self.config.flip_test)
        return {self.metric: clips_mpjpe(preds, self.val)}


# --------------------------------------------------------------------------- run directories


def _export(run_dir: Path, config: TrainConfig):
    """The engine's export callback: ``model.safetensors`` with the lifter config as metadata."""

    def write(model: Lifter) -> None:
        meta = {"config": json.dumps(config.lifter.__dict__), "format": FORMAT}
        save_safetensors(run_dir / "model.safetensors", model.state_dict(), meta)

    return write


def _upgrade_meta(saved: dict) -> dict:
    """A saved training state's run config in this version's form (older runs: flat
    optimisation fields, the lifter's ``T``)."""
    if "train" not in saved:
        return saved
    return {**saved, "train": TrainConfig.from_dict(saved["train"]).to_dict()}


def read_config(run_dir: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` of a run directory."""
    d = load_json(Path(run_dir) / "config.json")
    if not isinstance(d, dict) or d.get("format") != FORMAT or "train" not in d:
        raise D3PRError(f"{run_dir}/config.json: not a lifter run config")
    return TrainConfig.from_dict(d["train"])


def load_lifter(run_dir: str | Path, device: torch.device | str = "cpu") -> Lifter:
    """Load a trained lifter (``config.json`` + ``model.safetensors``) in eval mode.

    Raises:
        D3PRError: if a file is missing or the weights do not match the config.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    tensors, _ = load_safetensors(run_dir / "model.safetensors")
    model = build_lifter(config.lifter)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(s.strip() for s in first[:3])
        raise D3PRError(
            f"{run_dir}/model.safetensors: weights do not match config.json ({detail[:300]})"
        ) from None
    return model.to(device).eval()


# --------------------------------------------------------------------------- training


def train_lifter(
    config: TrainConfig,
    train_clips: Sequence[Clip],
    val_clips: Sequence[Clip] = (),
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    max_minutes: float | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    desc: str | None = None,
) -> Lifter:
    """Train a lifter on clips with the training engine (:func:`d3prefiner.train.fit`).

    Run directory: ``config.json`` (``{"format", "version", "train": TrainConfig}``),
    ``model.safetensors`` (the kept weights: best validation MPJPE, or the last without
    validation), ``state.safetensors`` and ``history.json`` (see :mod:`d3prefiner.engine.loop`).

    Args:
        config: training and architecture configuration (``config.loop.steps`` optimiser steps).
        train_clips: training clips (normalised 2D, root-relative 3D metres).
        val_clips: held-out *training* clips for the validation MPJPE every ``config.loop.val_every``
            steps (at most ``val_max_frames`` frames); never pass the test subjects here.
        out_dir: run directory (None: nothing written, no resume).
        resume: continue from ``out_dir/state.safetensors`` when it exists (same config).
        max_minutes: wall-clock safety budget of this call (stops after the step past it; the
            run is then marked ``stopped: budget``). Prefer a number of steps.
        device: where to train.
        progress: a progress bar with the loss and frames/s.
        desc: the label of the bar and of the log lines (default: the model's name).

    Returns:
        The trained lifter (eval mode). Randomness comes only from ``config.loop.seed``.
    """
    from ..engine import fit

    if not train_clips:
        raise D3PRError("train_lifter: no training clips")
    run_dir = Path(out_dir) if out_dir is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.loop.seed)
        model = build_lifter(config.lifter).to(device)
    bank = WindowBank(train_clips, config.lifter.window, config.lifter.tds, context_of(model))
    task = LifterTask(
        config, bank, _val_subset(list(val_clips), config.val_max_frames, bank.window)
    )
    if run_dir is not None:
        started = (run_dir / "state.safetensors").exists()
        if started and resume and read_config(run_dir) != config:
            raise D3PRError(f"{run_dir}: saved config differs from the requested one")
        if not started:
            save_json(
                run_dir / "config.json",
                {"format": FORMAT, "version": __version__, "train": config.to_dict()},
            )
    with torch.random.fork_rng(devices=[]), attention_backend(device):
        fit(
            model, task, config.loop, run_dir,
            export=_export(run_dir, config) if run_dir is not None else None,
            meta={"train": config.to_dict()}, upgrade_meta=_upgrade_meta, resume=resume, max_minutes=max_minutes,
            device=device, progress=progress, desc=desc or config.lifter.model,
        )  # fmt: skip
    return model.eval()


def calibrate_lifter_steps(
    config: TrainConfig,
    train_clips: Sequence[Clip],
    minutes: float,
    val_clips: Sequence[Clip] = (),
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Steps of ``config`` that fit in ``minutes`` on this machine now (see
    :func:`d3prefiner.train.calibrate_steps`), validation included."""
    from ..engine import calibrate_steps

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.loop.seed)
        model = build_lifter(config.lifter).to(device)
        bank = WindowBank(train_clips, config.lifter.window, config.lifter.tds, context_of(model))
        val = _val_subset(list(val_clips), config.val_max_frames, bank.window)
        with attention_backend(device):
            return calibrate_steps(model, LifterTask(config, bank, val), config.loop, minutes,
                                   device=device)  # fmt: skip


def budget_to_steps(
    config: TrainConfig,
    train_clips: Sequence[Clip],
    minutes: float,
    out_dir: str | Path,
    val_clips: Sequence[Clip] = (),
    device: torch.device | str = "cpu",
) -> TrainConfig:
    """``config`` with ``steps`` set to what fits in ``minutes``, measured once and recorded in
    ``out_dir/steps.json``; later calls (a resumed run) reuse the recorded number."""
    from ..engine import steps_for_budget

    steps = steps_for_budget(
        out_dir, minutes,
        lambda: calibrate_lifter_steps(config, train_clips, minutes, val_clips, device),
        model=config.lifter.model, batch_size=config.loop.batch_size,
    )  # fmt: skip
    return config.replace(steps=steps)

"""Training, checkpoints, prediction and cross-fitting of the base lifters.

Training runs on the shared engine (:mod:`d3prefiner.train`): steps, cosine schedule, bf16 where
the hardware has it, validation on held-out training clips, bit-identical resume. Run directory
(self-describing, every file written atomically):

* ``config.json`` — ``{"format", "version", "train": TrainConfig}``;
* ``model.safetensors`` — the kept weights (metadata: the lifter config);
* ``state.safetensors``, ``history.json`` — the engine's resume point and log;
* ``data.json`` — how the clips were made (:class:`DataSpec`) and the subjects ``d3pr lifter
  predict`` predicts by default; ``HOW_TO_PREDICT.txt`` — that command (:func:`describe_run`;
  written by ``d3pr lifter train``, :func:`cross_fit` and the experiment).

Temporal downsampling (TDS, factor k = ``LifterConfig.tds``, as STCFormer uses after P-STMO): the
network sees every k-th frame, so a window of T frames spans ``(T - 1) k + 1`` frames. Each clip is
split into k phase-shifted sub-sequences ``x[o::k]`` (o = 0 … k − 1). Training draws windows from all
of them; :func:`predict` runs the network on each one and interleaves the outputs, so every frame
of the full-rate sequence is predicted by the network directly (no interpolation).
"""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.sequences import Clip
from ..data.windows import reassemble, window_index
from ..errors import D3PRError, check_joints
from ..io import load_json, load_safetensors, save_json, save_safetensors
from ..predictions import Predictions, PredictionSequence
from ..skeleton import H36M17
from ..version import __version__
from . import build_lifter
from .config import DataSpec, TrainConfig
from .stcformer import Lifter

FORMAT = "d3prefiner-lifter"
_FLIP = H36M17.flip_permutation


def attention_backend(device: torch.device | str):
    """Context for training/inference (kept for callers; the kernel choice now lives in
    :func:`d3prefiner.nn.stc.attention`, measured per precision): a no-op."""
    return contextlib.nullcontext()


def flip_pose(x: torch.Tensor) -> torch.Tensor:
    """Mirror poses ``(..., J, C)`` (2D normalised or 3D camera frame): x → −x, left ↔ right."""
    x = x[..., _FLIP, :].clone()
    x[..., 0] = -x[..., 0]
    return x


def mpjpe_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error of ``(B, T, J, 3)`` poses (a scalar, metres)."""
    return (pred - gt).norm(dim=-1).mean()


def velocity_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """MixSTE's velocity term: MPJPE between frame differences of ``(B, T, J, 3)`` poses."""
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    return (pred.diff(dim=1) - gt.diff(dim=1)).norm(dim=-1).mean()


# --------------------------------------------------------------------------- data


def _subsequences(arrays: Sequence[np.ndarray], tds: int) -> list[np.ndarray]:
    """Each array split into its ``tds`` phase-shifted sub-sequences ``a[o::tds]``."""
    return [a[o::tds] for a in arrays for o in range(min(tds, len(a)))]


def context_of(model: Lifter) -> int:
    """Frames of input a lifter needs on each side of its output (0 for the attention lifters)."""
    return int(getattr(model, "context", 0))


class WindowBank:
    """All training frames back to back, and random seq2seq windows drawn over them.

    A window is T output frames plus ``context`` input frames on each side (edge-replicated at the
    ends of a clip). Every (sub-)sequence's windows are equally likely: a clip is drawn with
    probability proportional to its number of window starts, then a start uniformly.
    """

    def __init__(self, clips: Sequence[Clip], T: int, tds: int, context: int = 0) -> None:
        if not clips:
            raise D3PRError("train_lifter: no training clips")
        p2 = _subsequences([c.pose2d for c in clips], tds)
        p3 = _subsequences([c.pose3d for c in clips], tds)
        self.lengths = torch.as_tensor([len(a) for a in p2], dtype=torch.long)
        self.offsets = torch.cumsum(self.lengths, 0) - self.lengths
        self.weights = (self.lengths - T + 1).clamp(min=1).double()
        self.pose2d = torch.as_tensor(np.concatenate(p2), dtype=torch.float32)  # (N, J, 2)
        self.pose3d = torch.as_tensor(np.concatenate(p3), dtype=torch.float32)  # (N, J, 3)
        self.T, self.context = T, context

    def draw(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``(n, T + 2·context)`` frame indices of ``n`` random windows."""
        clip = torch.multinomial(self.weights, n, replacement=True, generator=gen)  # (n,)
        n_starts = (self.lengths[clip] - self.T + 1).clamp(min=1)
        start = (torch.rand(n, generator=gen, dtype=torch.float64) * n_starts).long()  # (n,)
        c = self.context
        t = start[:, None] + torch.arange(-c, self.T + c)[None]  # (n, T + 2c)
        t = torch.minimum(t.clamp(min=0), self.lengths[clip][:, None] - 1)
        return t + self.offsets[clip][:, None]


def _val_subset(clips: Sequence[Clip], max_frames: int, T: int) -> list[Clip]:
    """A deterministic subset of validation clips with at most about ``max_frames`` frames."""
    if not clips:
        return []
    per = max(T, max_frames // len(clips))
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
        self.frames_per_sample = bank.T

    def draw(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.bank.draw(n, gen)  # (n, T + 2c)
        c, T = self.bank.context, self.bank.T
        x, y = self.bank.pose2d[idx], self.bank.pose3d[idx[:, c : c + T]]  # (n,T+2c,J,2),(n,T,J,3)
        if self.config.flip_aug:
            f = (torch.rand(n, generator=gen) < 0.5)[:, None, None, None]
            x, y = torch.where(f, flip_pose(x), x), torch.where(f, flip_pose(y), y)
        return x, y

    def loss(self, net, batch) -> torch.Tensor:
        x, y = batch
        pred = net(x).float()  # (B, T, J, 3)
        per = (pred - y).norm(dim=-1).mean(dim=(1, 2))  # (B,)
        if self.config.velocity_weight > 0 and pred.shape[1] > 1:
            vel = (pred.diff(dim=1) - y.diff(dim=1)).norm(dim=-1).mean(dim=(1, 2))
            per = per + self.config.velocity_weight * vel
        return per

    def validate(self, model) -> dict[str, float]:
        if not self.val:
            return {}
        preds = predict(model, self.val, flip_test=self.config.flip_test)
        return {self.metric: clips_mpjpe(preds, self.val)}


# --------------------------------------------------------------------------- prediction


@torch.inference_mode()
def predict(
    model: Lifter,
    clips: Sequence[Clip | np.ndarray],
    T: int | None = None,
    flip_test: bool = True,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    progress: bool = False,
    precision: str = "fp32",
) -> list[np.ndarray]:
    """Predict whole sequences with non-overlapping windows (the last aligned to the end).

    Args:
        model: a lifter (its ``config.tds`` is honoured, see the module docstring; a TCN's
            ``context`` frames are taken from the sequence, edge-replicated at its ends).
        clips: :class:`Clip` objects or 2D arrays ``(F, 17, 2)`` (VideoPose3D-normalised).
        T: output frames per window (default: the model's ``config.T``).
        flip_test: average with the un-mirrored prediction of the mirrored input.
        batch_size: windows per forward pass.
        device: where to run (default: the model's device).
        progress: show a tqdm bar.
        precision: ``fp32`` | ``bf16`` | ``auto`` for the forward passes (the output head is
            always fp32).

    Returns:
        One ``(F, 17, 3)`` float32 array per clip, root-relative metres; every frame once.
    """
    from ..train import autocast, resolve_precision

    T = T or model.config.T
    tds, c = model.config.tds, context_of(model)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    arrays = []
    for i, clip in enumerate(clips):
        a = clip.pose2d if isinstance(clip, Clip) else np.asarray(clip, dtype=np.float32)
        check_joints(a, model.config.num_joints, 2, f"predict: clip {i} pose2d")
        if len(a) == 0:
            raise D3PRError(f"predict: clip {i} has no frames")
        arrays.append(a)
    subs = _subsequences(arrays, tds)
    windows = [_context_windows(np.asarray(s, dtype=np.float32), T, c) for s in subs]
    counts = [len(w) for w in windows]
    allw = torch.as_tensor(np.concatenate(windows))  # (W, T + 2c, J, 2)
    was_training = model.training
    model.eval()
    outs = []
    try:
        with attention_backend(device), autocast(resolve_precision(precision, device), device):
            outs = _predict_windows(model, allw, batch_size, flip_test, device, progress)
    finally:
        model.train(was_training)
    out = torch.cat(outs).numpy()  # (W, T, J, 3)
    pieces = np.split(out, np.cumsum(counts)[:-1])
    results, k = [], 0
    for a in arrays:
        full = np.zeros((len(a), a.shape[1], 3), dtype=np.float32)
        for o in range(min(tds, len(a))):
            n = len(a[o::tds])
            full[o::tds] = reassemble(pieces[k], n, T, T)
            k += 1
        results.append(full)
    return results


def _context_windows(seq: np.ndarray, T: int, context: int) -> np.ndarray:
    """Windows ``(W, T + 2c, J, 2)`` of ``seq (F, J, 2)`` whose centre T frames tile the sequence
    like ``cut_windows(seq, T, T)``; the context beyond the ends repeats the first/last frame."""
    return seq[window_index(len(seq), T, T, context)]  # (W, T + 2c, J, 2)


def _predict_windows(model, allw, batch_size, flip_test, device, progress) -> list[torch.Tensor]:
    """Model outputs ``(B, T, J, 3)`` (flip-averaged) of all windows ``(W, T, J, 2)``, batched."""
    outs = []
    for b in tqdm(range(0, len(allw), batch_size), disable=not progress, desc="predict"):
        x = allw[b : b + batch_size].to(device)  # (B, T, J, 2)
        y = model(x)
        if flip_test:
            y = 0.5 * (y + flip_pose(model(flip_pose(x))))
        outs.append(y.float().cpu())
    return outs


def predictions_from_clips(
    clips: Sequence[Clip], pred3d: Sequence[np.ndarray], *, fold: int = -1, split: str = ""
) -> list[PredictionSequence]:
    """Predictions-file sequences from clips (2D, GT 3D) and predicted 3D ``(F, 17, 3)``."""
    return [
        PredictionSequence(
            c.subject, c.action, c.camera, c.fps, c.pose2d, p, c.pose3d, fold=fold, split=split
        )
        for c, p in zip(clips, pred3d)
    ]


def clips_mpjpe(pred3d: Sequence[np.ndarray], clips: Sequence[Clip]) -> float:
    """MPJPE over all frames of ``clips`` in millimetres."""
    from ..metrics import mpjpe

    err = [mpjpe(p, c.pose3d).double() for p, c in zip(pred3d, clips)]
    return float(torch.cat(err).mean() * 1000.0)


# --------------------------------------------------------------------------- run directories


def _export(run_dir: Path, config: TrainConfig):
    """The engine's export callback: ``model.safetensors`` with the lifter config as metadata."""

    def write(model: Lifter) -> None:
        meta = {"config": json.dumps(config.lifter.__dict__), "format": FORMAT}
        save_safetensors(run_dir / "model.safetensors", model.state_dict(), meta)

    return write


def read_config(run_dir: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` of a run directory."""
    d = load_json(Path(run_dir) / "config.json")
    if d.get("format") != FORMAT or "train" not in d:
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
) -> Lifter:
    """Train a lifter on clips with the training engine (:func:`d3prefiner.train.fit`).

    Run directory: ``config.json`` (``{"format", "version", "train": TrainConfig}``),
    ``model.safetensors`` (the kept weights: best validation MPJPE, or the last without
    validation), ``state.safetensors`` and ``history.json`` (see :mod:`d3prefiner.train.loop`).

    Args:
        config: training and architecture configuration (``config.steps`` optimiser steps).
        train_clips: training clips (normalised 2D, root-relative 3D metres).
        val_clips: held-out *training* clips for the validation MPJPE every ``config.val_every``
            steps (at most ``val_max_frames`` frames); never pass the test subjects here.
        out_dir: run directory (None: nothing written, no resume).
        resume: continue from ``out_dir/state.safetensors`` when it exists (same config).
        max_minutes: wall-clock safety budget of this call (stops after the step past it; the
            run is then marked ``stopped: budget``). Prefer a number of steps.
        device: where to train.
        progress: a progress bar with the loss and frames/s.

    Returns:
        The trained lifter (eval mode). Randomness comes only from ``config.seed``.
    """
    from ..train import fit

    if not train_clips:
        raise D3PRError("train_lifter: no training clips")
    run_dir = Path(out_dir) if out_dir is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_lifter(config.lifter).to(device)
    bank = WindowBank(train_clips, config.lifter.T, config.lifter.tds, context_of(model))
    task = LifterTask(config, bank, _val_subset(list(val_clips), config.val_max_frames, bank.T))
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
            model, task, config.loop(), run_dir,
            export=_export(run_dir, config) if run_dir is not None else None,
            meta={"train": config.to_dict()}, resume=resume, max_minutes=max_minutes,
            device=device, progress=progress, desc=f"{config.lifter.model}",
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
    from ..train import calibrate_steps

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_lifter(config.lifter).to(device)
        bank = WindowBank(train_clips, config.lifter.T, config.lifter.tds, context_of(model))
        val = _val_subset(list(val_clips), config.val_max_frames, bank.T)
        with attention_backend(device):
            return calibrate_steps(model, LifterTask(config, bank, val), config.loop(), minutes,
                                   device=device)  # fmt: skip


# --------------------------------------------------------------------------- cross-fitting


def fold_groups(subjects: Sequence[str], folds: int) -> list[list[str]]:
    """Split training subjects, in the given order, into ``folds`` contiguous groups."""
    subjects = list(subjects)
    if not 2 <= folds <= len(subjects):
        raise D3PRError(f"cross-fitting needs 2 <= folds <= {len(subjects)} subjects, got {folds}")
    return [list(g) for g in np.array_split(np.array(subjects, dtype=object), folds)]


def _train_or_load(config, train, val, run_dir: Path, device, progress) -> Lifter:
    from ..train import is_finished

    if is_finished(run_dir):
        if read_config(run_dir) != config:
            raise D3PRError(f"{run_dir}: holds a finished run with another config")
        return load_lifter(run_dir, device)
    return train_lifter(config, train, val, run_dir, resume=True, device=device, progress=progress)


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
    record = Path(out_dir) / "steps.json"
    if record.exists():
        saved = load_json(record)
        if saved.get("minutes") == minutes:
            return replace(config, steps=int(saved["steps"]))
    cal = calibrate_lifter_steps(config, train_clips, minutes, val_clips, device)
    save_json(record, {**cal, "model": config.lifter.model, "batch_size": config.batch_size})
    tqdm.write(
        f"{minutes:g} min ≈ {cal['steps']} steps here "
        f"({cal['seconds_per_step'] * 1000:.0f} ms/step); every run gets {cal['steps']} steps"
    )
    return replace(config, steps=int(cal["steps"]))


def cross_fit(
    config: TrainConfig,
    clips_by_subject: dict[str, Sequence[Clip]],
    train_subjects: Sequence[str],
    test_subjects: Sequence[str],
    out_dir: str | Path,
    *,
    folds: int = 2,
    insample: bool = True,
    minutes: float | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    estimator: str | None = None,
    data_spec: DataSpec | None = None,
) -> dict[str, Predictions]:
    """Cross-fitted training predictions, test predictions and (optionally) in-sample ones.

    ``folds`` lifters are trained (``out_dir/fold{k}``), each without one group of training
    subjects (:func:`fold_groups`), and predict that group (``fold = k``, ``split = "train"``). The
    lifter trained on all training subjects (``out_dir/full``) predicts the test subjects
    (``fold = -1``, ``split = "test"``) and, with ``insample``, its own training subjects
    (``split = "train"``, ``fold = -1``). A finished run is loaded, not retrained; an interrupted
    one resumes. Every run has the same config and number of steps, so the folds' held-out errors
    are of the size of the full model's test errors. Each fold validates on its held-out group; the
    full model, which has no held-out training subject, keeps its last weights. The test subjects
    are never used for validation (nor, to keep the runs alike, is keep-best).

    Args:
        config: training configuration (the same for every lifter).
        clips_by_subject: subject → clips (2D, GT 3D).
        train_subjects, test_subjects: subject ids (keys of ``clips_by_subject``).
        out_dir: folder of the run directories.
        folds: K >= 2.
        insample: also predict the training subjects with the full model.
        minutes: a budget per run, converted once into ``config.steps`` on the full model's data
            (:func:`budget_to_steps`; recorded in ``out_dir/steps.json``). None: ``config.steps``.
        device: where to train and predict.
        progress: tqdm bars.
        estimator: name stored in the predictions (default ``"<model>-T<T>"``).
        data_spec: how ``clips_by_subject`` were made; written into every run directory
            (:func:`describe_crossfit_runs`) so that ``d3pr lifter predict`` can remake them.

    Returns:
        ``{"train_crossfit": ..., "test": ..., "train_insample": ...}`` (the last only with
        ``insample``).
    """
    missing = [s for s in (*train_subjects, *test_subjects) if not clips_by_subject.get(s)]
    if missing:
        raise D3PRError(f"cross_fit: no clips for subject(s) {', '.join(missing)}")
    leak = sorted(set(train_subjects) & set(test_subjects))
    if leak:
        raise D3PRError(f"cross_fit: subject(s) {', '.join(leak)} both in training and test")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if data_spec is not None:
        describe_crossfit_runs(out_dir, data_spec, train_subjects, test_subjects, folds)
    config = replace(config, keep_best=False)
    name = estimator or f"{config.lifter.model}-T{config.lifter.T}"

    def clips_of(subjects):
        return [c for s in subjects for c in clips_by_subject[s]]

    if minutes is not None:
        config = budget_to_steps(config, clips_of(train_subjects), minutes, out_dir, device=device)
    crossfit: list[PredictionSequence] = []
    for k, held in enumerate(fold_groups(train_subjects, folds)):
        rest = [s for s in train_subjects if s not in held]
        if progress:
            tqdm.write(f"fold {k}: train {','.join(rest)} -> predict {','.join(held)}")
        held_clips = clips_of(held)
        model = _train_or_load(
            config, clips_of(rest), held_clips, out_dir / f"fold{k}", device, progress
        )
        preds = predict(model, held_clips, flip_test=config.flip_test, device=device)
        crossfit += predictions_from_clips(held_clips, preds, fold=k, split="train")
    if progress:
        tqdm.write(f"full: train {','.join(train_subjects)} -> predict {','.join(test_subjects)}")
    model = _train_or_load(config, clips_of(train_subjects), [], out_dir / "full", device, progress)
    test_clips = clips_of(test_subjects)
    preds = predict(model, test_clips, flip_test=config.flip_test, device=device)
    result = {
        "train_crossfit": Predictions(crossfit, name),
        "test": Predictions(predictions_from_clips(test_clips, preds, split="test"), name),
    }
    if insample:
        train_clips = clips_of(train_subjects)
        preds = predict(model, train_clips, flip_test=config.flip_test, device=device)
        result["train_insample"] = Predictions(
            predictions_from_clips(train_clips, preds, split="train"), name
        )
    return result


# --------------------------------------------------------------------------- data sources


def source_clips(
    spec: DataSpec, subjects: Sequence[str] | None = None, sequences: list | None = None
) -> list[Clip]:
    """Clips of ``subjects`` (None: all) from the motion source described by ``spec``
    (``sequences``: what ``load_source`` returned for them, when the caller has it already).

    With ``spec.views``, the subjects are camera-view groups ``view0 …`` of every sequence
    (:func:`~d3prefiner.data.pipeline.clips_by_view`), as the demo makes them.
    """
    from ..data.detector import DEFAULT_PROFILE
    from ..data.pipeline import clips_by_view, load_source, make_clips

    wanted = list(subjects) if subjects is not None else None
    seqs = sequences
    if seqs is None:
        seqs = load_source(spec.source, spec.path, None if spec.views else wanted)
    found = {f"view{g}" for g in range(spec.views)} if spec.views else {s.subject for s in seqs}
    missing = [s for s in wanted or () if s not in found]
    if missing:
        have = f" (its subjects are {', '.join(sorted(found))})" if spec.views else ""
        raise D3PRError(
            f"source {spec.source}: no sequences for subject(s) {', '.join(missing)}{have}"
        )
    detector = None
    if spec.setting == "detected":
        detector = DEFAULT_PROFILE.scaled(DEFAULT_PROFILE.scale * spec.detector_scale)
    clips = make_clips(
        seqs, n_cameras=spec.n_cameras, detector=detector, seed=spec.seed, target_fps=spec.fps
    )
    if not spec.views:
        return clips
    groups = clips_by_view(clips, spec.views)
    return [c for g, cs in groups.items() if wanted is None or g in wanted for c in cs]


def clips_by_subject(clips: Sequence[Clip]) -> dict[str, list[Clip]]:
    """Group clips by subject (order kept)."""
    out: dict[str, list[Clip]] = {}
    for c in clips:
        out.setdefault(c.subject, []).append(c)
    return out


def save_data_spec(run_dir: str | Path, spec: DataSpec, **extra) -> None:
    """Write ``data.json`` (how the run's clips were made) into a run directory."""
    save_json(Path(run_dir) / "data.json", {**spec.to_dict(), **extra})


HOW_TO_PREDICT = "HOW_TO_PREDICT.txt"


def predict_spec(
    run_dir: str | Path,
    source: str | None = None,
    path: str | Path | None = None,
    setting: str | None = None,
    fps: float | None = None,
) -> tuple[DataSpec, list[str], str]:
    """The clips ``d3pr lifter predict`` makes for a run directory.

    The run's ``data.json`` with the given overrides: another ``source`` takes its own default
    path, frame rate and subjects unless given; ``fps`` 0 means the source's own rate. A run
    without ``data.json`` is taken to be on ``source`` (default ``h36m-fk17``) at that source's
    default rate.

    Returns:
        ``(spec, subjects predicted by default, warning)`` (``warning`` empty when none).
    """
    from ..data.sources import get_source

    run_dir = Path(run_dir)
    warning, subjects = "", None
    if (run_dir / "data.json").exists():
        spec, extra = read_data_spec(run_dir)
        subjects = extra.get("predict_subjects")
    else:
        name = source or DataSpec.source
        spec = DataSpec(source=name, fps=get_source(name).fps)
        warning = (
            f"{run_dir}: no data.json (made before run directories recorded their data); "
            f"assuming --source {spec.source} --setting {spec.setting} --fps {spec.fps or 0:g} "
            f"and {spec.n_cameras} cameras"
        )
    if source is not None and source != spec.source:
        spec = replace(spec, source=source, path=None, fps=get_source(source).fps, views=0)
        subjects = None
    if path is not None:
        spec = replace(spec, path=str(path))
    if setting is not None:
        spec = replace(spec, setting=setting)
    if fps is not None:
        spec = replace(spec, fps=float(fps) or None)
    if not subjects:
        src = get_source(spec.source)
        subjects = list(src.test or src.train)
    return spec, list(subjects), warning


def predict_command(run_dir: str | Path, subjects: Sequence[str], output: str = "") -> str:
    """The ``d3pr lifter predict`` command line that predicts ``subjects`` with a run directory
    (its absolute path; output ``<run name>_predictions.npz`` in the working directory)."""
    run_dir = Path(run_dir).resolve()
    out = output or f"{run_dir.name}_predictions.npz"
    return (
        f"d3pr lifter predict {shlex.quote(str(run_dir))} --subjects {','.join(subjects)} "
        f"-o {shlex.quote(out)}"
    )


def describe_run(
    run_dir: str | Path, spec: DataSpec, predict_subjects: Sequence[str], note: str, **extra
) -> str:
    """Make a lifter run directory say how to predict with it: ``data.json`` (``spec``, the
    default ``predict_subjects`` of ``d3pr lifter predict`` and ``extra``) and
    ``HOW_TO_PREDICT.txt`` (the command and ``note``: what those subjects are). Returns the
    command line."""
    from ..io import atomic_path

    run_dir = Path(run_dir)
    save_data_spec(run_dir, spec, predict_subjects=list(predict_subjects), **extra)
    cmd = predict_command(run_dir, predict_subjects)
    rate = f"{spec.fps:g} fps" if spec.fps else "the source's own rate"
    views = f", {spec.views} camera-view groups as subjects" if spec.views else ""
    text = (
        f"Predict with this lifter (the clips are remade from data.json: source {spec.source}, "
        f"2D {spec.setting}, {rate}, {spec.n_cameras} cameras{views}):\n\n"
        f"    {cmd}\n\n"
        f"{','.join(predict_subjects)}: {note}.\n"
        "Other subjects: --subjects; another motion source, 2D setting or frame rate: --source, "
        "--path, --setting, --fps (0: the source's own rate).\n"
    )
    with atomic_path(run_dir / HOW_TO_PREDICT) as tmp:
        tmp.write_text(text)
    return cmd


def describe_crossfit_runs(
    out_dir: str | Path,
    spec: DataSpec,
    train_subjects: Sequence[str],
    test_subjects: Sequence[str],
    folds: int,
    *,
    missing_only: bool = False,
) -> None:
    """:func:`describe_run` for every run directory of :func:`cross_fit`: ``fold{k}`` predicts
    the subjects it was trained without, ``full`` the test subjects. ``missing_only``: only the
    existing runs (with a ``config.json``) that have no ``data.json`` yet."""
    out_dir = Path(out_dir)
    runs = []
    for k, held in enumerate(fold_groups(train_subjects, folds)):
        rest = [s for s in train_subjects if s not in held]
        runs.append((f"fold{k}", held, rest, f"the subjects fold {k} was trained without"))
    runs.append(("full", list(test_subjects), list(train_subjects), "the test subjects"))
    for name, predict_s, trained_s, note in runs:
        d = out_dir / name
        if missing_only and (not (d / "config.json").exists() or (d / "data.json").exists()):
            continue
        describe_run(d, spec, predict_s, note, train_subjects=trained_s)


def read_data_spec(run_dir: str | Path) -> tuple[DataSpec, dict]:
    """``(DataSpec, extra fields)`` from a run directory's ``data.json``."""
    path = Path(run_dir) / "data.json"
    d = load_json(path)
    if not isinstance(d, dict):
        raise D3PRError(f"{path}: expected a JSON object")
    names = {f.name for f in fields(DataSpec)}
    try:
        spec = DataSpec(**{k: v for k, v in d.items() if k in names})
    except D3PRError as exc:
        raise D3PRError(f"{path}: {exc}") from None
    return spec, {k: v for k, v in d.items() if k not in names}

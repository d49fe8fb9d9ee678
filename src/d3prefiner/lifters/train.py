"""Training, checkpoints, prediction and cross-fitting of the base lifters.

Run directory (self-describing, every file written atomically after each epoch):

* ``config.json`` — ``{"format", "version", "train": TrainConfig}``;
* ``model.safetensors`` — the weights (metadata: the lifter config and epoch);
* ``state.safetensors`` — the resume point: weights, Adam state, global and data RNG states
  (metadata: epoch, optimizer groups, history). It alone is read on resume, so a kill at any
  moment resumes from the last finished epoch and gives the same weights as an uninterrupted run;
* ``trainer.json`` — epochs done, why training stopped (``epochs`` / ``budget`` / null while
  running), per-epoch loss, validation MPJPE, seconds and frames/s.

Temporal downsampling (TDS, factor k = ``LifterConfig.tds``, as STCFormer uses after P-STMO): the
network sees every k-th frame, so a window of T frames spans ``(T - 1) k + 1`` frames. Each clip is
split into k phase-shifted sub-sequences ``x[o::k]`` (o = 0 … k − 1). Training draws windows from all
of them; :func:`predict` runs the network on each one and interleaves the outputs, so every frame
of the full-rate sequence is predicted by the network directly (no interpolation).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm.auto import tqdm

from .. import __version__
from ..data.sequences import Clip
from ..data.windows import cut_windows, reassemble
from ..errors import D3PRError, check_joints
from ..io import load_json, load_safetensors, save_json, save_safetensors
from ..predictions import Predictions, PredictionSequence
from ..skeleton import H36M17
from . import build_lifter
from .config import DataSpec, TrainConfig
from .stcformer import Lifter

FORMAT = "d3prefiner-lifter"
_FLIP = H36M17.flip_permutation


def attention_backend(device: torch.device | str):
    """Context for training/inference: on CPU, PyTorch's "math" scaled-dot-product attention,
    3–4× faster than the fused CPU kernel for the many short sequences (17 joints, T frames) with
    small heads of these lifters; elsewhere the default choice."""
    if torch.device(device).type == "cpu":
        return sdpa_kernel([SDPBackend.MATH])
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


class _WindowBank:
    """All training frames back to back, and random seq2seq windows over them each epoch."""

    def __init__(self, clips: Sequence[Clip], T: int, stride: int, tds: int) -> None:
        p2 = _subsequences([c.pose2d for c in clips], tds)
        p3 = _subsequences([c.pose3d for c in clips], tds)
        self.lengths = np.array([len(a) for a in p2], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.pose2d = torch.as_tensor(np.concatenate(p2), dtype=torch.float32)  # (N, J, 2)
        self.pose3d = torch.as_tensor(np.concatenate(p3), dtype=torch.float32)  # (N, J, 3)
        self.T, self.stride = T, stride

    def epoch(self, gen: torch.Generator, cap: int | None) -> torch.Tensor:
        """(W, T) frame indices of this epoch's windows, shuffled; a random phase per clip."""
        T, rows = self.T, []
        phases = torch.randint(0, 1 << 30, (len(self.lengths),), generator=gen).numpy()
        for n, off, ph in zip(self.lengths, self.offsets, phases):
            last = max(int(n) - T, 0)  # last valid start
            starts = np.arange(int(ph) % (min(self.stride, last + 1)), last + 1, self.stride)
            idx = np.minimum(starts[:, None] + np.arange(T)[None, :], n - 1) + off  # (w, T)
            rows.append(idx)
        idx = torch.as_tensor(np.concatenate(rows))  # (W, T)
        idx = idx[torch.randperm(len(idx), generator=gen)]
        return idx[:cap] if cap else idx


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
) -> list[np.ndarray]:
    """Predict whole sequences with non-overlapping windows (the last aligned to the end).

    Args:
        model: a lifter (its ``config.tds`` is honoured, see the module docstring).
        clips: :class:`Clip` objects or 2D arrays ``(F, 17, 2)`` (VideoPose3D-normalised).
        T: window length (default: the model's ``config.T``).
        flip_test: average with the un-mirrored prediction of the mirrored input.
        batch_size: windows per forward pass.
        device: where to run (default: the model's device).
        progress: show a tqdm bar.

    Returns:
        One ``(F, 17, 3)`` float32 array per clip, root-relative metres; every frame once.
    """
    T = T or model.config.T
    tds = model.config.tds
    device = torch.device(device) if device is not None else next(model.parameters()).device
    arrays = []
    for i, c in enumerate(clips):
        a = c.pose2d if isinstance(c, Clip) else np.asarray(c, dtype=np.float32)
        check_joints(a, model.config.num_joints, 2, f"predict: clip {i} pose2d")
        if len(a) == 0:
            raise D3PRError(f"predict: clip {i} has no frames")
        arrays.append(a)
    subs = _subsequences(arrays, tds)
    windows = [cut_windows(np.asarray(s, dtype=np.float32), T, T) for s in subs]  # (W, T, J, 2)
    counts = [len(w) for w in windows]
    allw = torch.as_tensor(np.concatenate(windows))  # (W, T, J, 2)
    was_training = model.training
    model.eval()
    outs = []
    try:
        with attention_backend(device):
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
    err = [np.linalg.norm(p - c.pose3d, axis=-1).mean(-1) for p, c in zip(pred3d, clips)]
    return float(np.concatenate(err).mean() * 1000.0)


# --------------------------------------------------------------------------- checkpoints


def _json_meta(**kw) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in kw.items()}


def _save_checkpoint(run_dir: Path, model, opt, gen, epoch: int, history: list) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    osd = opt.state_dict()
    for i, st in osd["state"].items():
        for k, v in st.items():
            tensors[f"opt.{i}.{k}"] = torch.as_tensor(v)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.data"] = gen.get_state()
    meta = _json_meta(epoch=epoch, param_groups=osd["param_groups"], history=history)
    save_safetensors(run_dir / "state.safetensors", tensors, meta)
    save_safetensors(
        run_dir / "model.safetensors",
        model.state_dict(),
        _json_meta(config=model.config.__dict__, epoch=epoch),
    )


def _load_checkpoint(run_dir: Path, model, opt, gen) -> tuple[int, list]:
    path = run_dir / "state.safetensors"
    tensors, meta = load_safetensors(path)
    try:
        epoch = json.loads(meta["epoch"])
        groups = json.loads(meta["param_groups"])
        history = json.loads(meta["history"])
        msd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(msd)
        state: dict[int, dict] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, i, name = k.split(".", 2)
                state.setdefault(int(i), {})[name] = v
        opt.load_state_dict({"state": state, "param_groups": groups})
        torch.set_rng_state(tensors["rng.torch"])
        gen.set_state(tensors["rng.data"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise D3PRError(f"{path}: does not match this run's config ({exc})") from None
    return int(epoch), history


def _check_resumable(run_dir: Path, config: TrainConfig) -> None:
    saved = TrainConfig.from_dict(load_json(run_dir / "config.json")["train"])
    if replace(saved, epochs=config.epochs) != config:
        raise D3PRError(
            f"{run_dir}: saved config differs from the requested one (only epochs may change "
            "on resume)"
        )


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
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> Lifter:
    """Train a lifter on clips; checkpoint every epoch into ``out_dir``.

    Args:
        config: training and architecture configuration.
        train_clips: training clips (normalised 2D, root-relative 3D metres).
        val_clips: clips for the per-epoch validation MPJPE (at most ``val_max_frames`` frames).
        out_dir: run directory (None: no checkpoints, no resume).
        resume: continue from ``out_dir/state.safetensors`` when it exists (config must match,
            except ``epochs``, which may be raised to train longer).
        max_minutes: wall-clock budget of this call; stops at an epoch boundary when the next
            epoch would not fit (at least one epoch is always run).
        device: where to train.
        progress: show a tqdm bar (loss, validation MPJPE).
        on_epoch_end: called with ``(epoch, record)`` after each epoch's checkpoint.

    Returns:
        The trained lifter (eval mode). Randomness comes only from ``config.seed``.
    """
    if not train_clips:
        raise D3PRError("train_lifter: no training clips")
    cfg, lcfg = config, config.lifter
    run_dir = Path(out_dir) if out_dir is not None else None
    if run_dir is not None:
        has_ckpt = (run_dir / "state.safetensors").exists()
        if has_ckpt and not resume:
            raise D3PRError(f"{run_dir}: already holds a run; pass resume=True or another folder")
        if has_ckpt:
            _check_resumable(run_dir, cfg)
    t_start = time.monotonic()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        model = build_lifter(lcfg).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        start, history = 0, []
        if run_dir is not None and resume and (run_dir / "state.safetensors").exists():
            start, history = _load_checkpoint(run_dir, model, opt, gen)
        if run_dir is not None:
            save_json(
                run_dir / "config.json",
                {"format": FORMAT, "version": __version__, "train": cfg.to_dict()},
            )
        bank = _WindowBank(train_clips, lcfg.T, cfg.stride, lcfg.tds)
        val = _val_subset(list(val_clips), cfg.val_max_frames, lcfg.span)
        stopped, durations = "epochs", []
        for epoch in range(start, cfg.epochs):
            elapsed = time.monotonic() - t_start
            expected = elapsed + float(np.mean(durations)) if durations else 0.0
            if max_minutes is not None and expected > max_minutes * 60.0:
                stopped = "budget"
                break
            t_epoch = time.monotonic()
            with attention_backend(device):
                record = _train_epoch(model, opt, bank, gen, cfg, epoch, device, progress, val)
            durations.append(time.monotonic() - t_epoch)  # training + validation
            history.append(record)
            if run_dir is not None:
                _save_checkpoint(run_dir, model, opt, gen, epoch + 1, history)
                _write_trainer(run_dir, epoch + 1, None, history)
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
        if run_dir is not None:
            if not (run_dir / "model.safetensors").exists():  # epochs == 0
                _save_checkpoint(run_dir, model, opt, gen, start, history)
            _write_trainer(run_dir, len(history), stopped, history)
    return model.eval()


def _write_trainer(run_dir: Path, epoch: int, stopped: str | None, history: list) -> None:
    seconds = sum(h["seconds"] for h in history)
    frames = sum(h["frames"] for h in history)
    save_json(
        run_dir / "trainer.json",
        {
            "epoch": epoch,
            "stopped": stopped,
            "train_seconds": seconds,
            "train_frames": frames,
            "frames_per_s": frames / seconds if seconds > 0 else None,
            "final_val_mpjpe_mm": history[-1]["val_mpjpe_mm"] if history else None,
            "history": history,
        },
    )


def _train_epoch(model, opt, bank, gen, cfg: TrainConfig, epoch, device, progress, val) -> dict:
    """One epoch over random windows; returns the epoch's record."""
    t0 = time.monotonic()
    lr = cfg.lr * cfg.lr_decay**epoch
    for g in opt.param_groups:
        g["lr"] = lr
    idx = bank.epoch(gen, cfg.max_windows_per_epoch)  # (W, T)
    flips = torch.rand(len(idx), generator=gen) < 0.5  # (W,)
    model.train()
    total, n_batches = 0.0, math.ceil(len(idx) / cfg.batch_size)
    bar = tqdm(
        range(n_batches), disable=not progress, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False
    )
    for b in bar:
        sel = idx[b * cfg.batch_size : (b + 1) * cfg.batch_size]
        x, y = bank.pose2d[sel], bank.pose3d[sel]  # (B, T, J, 2), (B, T, J, 3)
        if cfg.flip_aug:
            f = flips[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            x = torch.where(f[:, None, None, None], flip_pose(x), x)
            y = torch.where(f[:, None, None, None], flip_pose(y), y)
        x, y = x.to(device), y.to(device)
        pred = model(x)
        loss = mpjpe_loss(pred, y)
        if cfg.velocity_weight > 0:
            loss = loss + cfg.velocity_weight * velocity_loss(pred, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        total += float(loss.detach())
        if b % 20 == 0:
            bar.set_postfix(loss=f"{total / (b + 1):.4f}")
    seconds = time.monotonic() - t0
    record = {
        "epoch": epoch + 1,
        "lr": lr,
        "loss": total / max(n_batches, 1),
        "windows": len(idx),
        "frames": len(idx) * bank.T,
        "seconds": seconds,
        "frames_per_s": len(idx) * bank.T / seconds if seconds > 0 else None,
        "val_mpjpe_mm": None,
    }
    if val:
        preds = predict(model, val, flip_test=cfg.flip_test, device=device)
        record["val_mpjpe_mm"] = clips_mpjpe(preds, val)
    model.train()
    msg = f"epoch {epoch + 1}/{cfg.epochs} loss {record['loss'] * 1000:.1f} mm"
    if record["val_mpjpe_mm"] is not None:
        msg += f", val MPJPE {record['val_mpjpe_mm']:.1f} mm"
    if progress:
        tqdm.write(msg + f" ({seconds:.0f} s, {record['frames_per_s']:.0f} frames/s)")
    return record


# --------------------------------------------------------------------------- cross-fitting


def fold_groups(subjects: Sequence[str], folds: int) -> list[list[str]]:
    """Split training subjects, in the given order, into ``folds`` contiguous groups."""
    subjects = list(subjects)
    if not 2 <= folds <= len(subjects):
        raise D3PRError(f"cross-fitting needs 2 <= folds <= {len(subjects)} subjects, got {folds}")
    return [list(g) for g in np.array_split(np.array(subjects, dtype=object), folds)]


def _finished(run_dir: Path) -> bool:
    f = run_dir / "trainer.json"
    return f.exists() and load_json(f).get("stopped") in ("epochs", "budget")


def _train_or_load(config, train, val, run_dir: Path, max_minutes, device, progress) -> Lifter:
    if _finished(run_dir):
        _check_resumable(run_dir, config)
        return load_lifter(run_dir, device)
    return train_lifter(
        config, train, val, run_dir, resume=True, max_minutes=max_minutes, device=device,
        progress=progress,
    )  # fmt: skip


def cross_fit(
    config: TrainConfig,
    clips_by_subject: dict[str, Sequence[Clip]],
    train_subjects: Sequence[str],
    test_subjects: Sequence[str],
    out_dir: str | Path,
    *,
    folds: int = 2,
    insample: bool = True,
    max_minutes: float | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    estimator: str | None = None,
) -> dict[str, Predictions]:
    """Cross-fitted training predictions, test predictions and (optionally) in-sample ones.

    ``folds`` lifters are trained (``out_dir/fold{k}``), each without one group of training
    subjects (:func:`fold_groups`), and predict that group (``fold = k``, ``split = "train"``). The
    lifter trained on all training subjects (``out_dir/full``) predicts the test subjects
    (``fold = -1``, ``split = "test"``) and, with ``insample``, its own training subjects
    (``split = "train"``, ``fold = -1``). A finished run is loaded, not retrained; an interrupted
    one resumes. Each fold validates on its held-out group, the full model on the test subjects.

    Args:
        config: training configuration (the same for every lifter).
        clips_by_subject: subject → clips (2D, GT 3D).
        train_subjects, test_subjects: subject ids (keys of ``clips_by_subject``).
        out_dir: folder of the run directories.
        folds: K >= 2.
        insample: also predict the training subjects with the full model.
        max_minutes: wall-clock budget of each training run.
        device: where to train and predict.
        progress: tqdm bars.
        estimator: name stored in the predictions (default ``"<model>-T<T>"``).

    Returns:
        ``{"train_crossfit": ..., "test": ..., "train_insample": ...}`` (the last only with
        ``insample``).
    """
    missing = [s for s in (*train_subjects, *test_subjects) if not clips_by_subject.get(s)]
    if missing:
        raise D3PRError(f"cross_fit: no clips for subject(s) {', '.join(missing)}")
    out_dir = Path(out_dir)
    name = estimator or f"{config.lifter.model}-T{config.lifter.T}"

    def clips_of(subjects):
        return [c for s in subjects for c in clips_by_subject[s]]

    crossfit: list[PredictionSequence] = []
    for k, held in enumerate(fold_groups(train_subjects, folds)):
        rest = [s for s in train_subjects if s not in held]
        if progress:
            tqdm.write(f"fold {k}: train {','.join(rest)} -> predict {','.join(held)}")
        model = _train_or_load(
            config, clips_of(rest), clips_of(held), out_dir / f"fold{k}", max_minutes, device,
            progress,
        )  # fmt: skip
        held_clips = clips_of(held)
        preds = predict(model, held_clips, flip_test=config.flip_test, device=device)
        crossfit += predictions_from_clips(held_clips, preds, fold=k, split="train")
    if progress:
        tqdm.write(f"full: train {','.join(train_subjects)} -> predict {','.join(test_subjects)}")
    model = _train_or_load(
        config, clips_of(train_subjects), clips_of(test_subjects), out_dir / "full", max_minutes,
        device, progress,
    )  # fmt: skip
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


def source_clips(spec: DataSpec, subjects: Sequence[str] | None = None) -> list[Clip]:
    """Clips of ``subjects`` (None: all) from the motion source described by ``spec``."""
    from ..data.detector import DEFAULT_PROFILE
    from ..data.pipeline import load_source, make_clips

    seqs = load_source(spec.source, spec.path, list(subjects) if subjects is not None else None)
    if subjects is not None:
        found = {s.subject for s in seqs}
        missing = [s for s in subjects if s not in found]
        if missing:
            raise D3PRError(
                f"source {spec.source}: no sequences for subject(s) {', '.join(missing)}"
            )
    detector = DEFAULT_PROFILE if spec.setting == "detected" else None
    return make_clips(
        seqs, n_cameras=spec.n_cameras, detector=detector, seed=spec.seed, target_fps=spec.fps
    )


def clips_by_subject(clips: Sequence[Clip]) -> dict[str, list[Clip]]:
    """Group clips by subject (order kept)."""
    out: dict[str, list[Clip]] = {}
    for c in clips:
        out.setdefault(c.subject, []).append(c)
    return out


def save_data_spec(run_dir: str | Path, spec: DataSpec, **extra) -> None:
    """Write ``data.json`` (how the run's clips were made) into a run directory."""
    save_json(Path(run_dir) / "data.json", {**spec.to_dict(), **extra})


def read_data_spec(run_dir: str | Path) -> tuple[DataSpec, dict]:
    """``(DataSpec, extra fields)`` from a run directory's ``data.json``."""
    d = load_json(Path(run_dir) / "data.json")
    names = {f.name for f in fields(DataSpec)}
    return DataSpec(**{k: v for k, v in d.items() if k in names}), {
        k: v for k, v in d.items() if k not in names
    }

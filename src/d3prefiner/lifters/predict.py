"""Prediction with a trained lifter: every frame of a clip, with test-time flip, temporal
downsampling (TDS) and the TCN's receptive-field context; predictions files from clips.

TDS (factor k): each clip is split into k phase-shifted sub-sequences ``x[o::k]``; :func:`predict`
runs the network on each and interleaves the outputs, so every frame is predicted directly.

Causal prediction (``predict(..., causal=True)``): every frame is the last output frame of a window
that ends at it (:func:`causal_index`; a TCN's right context is the frame itself repeated, as at
the end of a clip), so no output depends on a later input frame. It runs one window per frame.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.sequences import Clip
from ..data.windows import reassemble, window_index
from ..errors import D3PRError, check_joints
from ..predictions import PredictionSequence
from ..skeleton import H36M17
from .stcformer import Lifter

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


def _subsequences(arrays: Sequence[np.ndarray], tds: int) -> list[np.ndarray]:
    """Each array split into its ``tds`` phase-shifted sub-sequences ``a[o::tds]``."""
    return [a[o::tds] for a in arrays for o in range(min(tds, len(a)))]


def context_of(model: Lifter) -> int:
    """Frames of input a lifter needs on each side of its output (0 for the attention lifters)."""
    return int(getattr(model, "context", 0))


@torch.inference_mode()
def predict(
    model: Lifter,
    clips: Sequence[Clip | np.ndarray],
    window: int | None = None,
    flip_test: bool = True,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    progress: bool = False,
    precision: str = "fp32",
    causal: bool = False,
) -> list[np.ndarray]:
    """Predict whole sequences with non-overlapping windows (the last aligned to the end), or
    causally: one window ending at each frame (see the module docstring).

    Args:
        model: a lifter (its ``config.tds`` is honoured, see the module docstring; a TCN's
            ``context`` frames are taken from the sequence, edge-replicated at its ends).
        clips: :class:`Clip` objects or 2D arrays ``(F, 17, 2)`` (VideoPose3D-normalised).
        window: output frames per window (default: the model's ``config.window``).
        flip_test: average with the un-mirrored prediction of the mirrored input.
        batch_size: windows per forward pass.
        device: where to run (default: the model's device).
        progress: show a tqdm bar.
        precision: ``fp32`` | ``bf16`` | ``auto`` for the forward passes (the output head is
            always fp32).
        causal: each frame from the window that ends at it (no later frame is read).

    Returns:
        One ``(F, 17, 3)`` float32 array per clip, root-relative metres; every frame once.
    """
    from ..engine import autocast, resolve_precision

    T = window or model.config.window
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
    if causal:
        index = [causal_index(len(s), T, c) for s in subs]  # (F_s, T + 2c) each
        counts = [len(i) for i in index]
        starts = np.cumsum([0] + counts[:-1])
        frames = np.concatenate(subs).astype(np.float32)  # every sub-sequence back to back
        allw = _Windows(frames, np.concatenate([i + o for i, o in zip(index, starts)]))
    else:
        windows = [_context_windows(np.asarray(s, dtype=np.float32), T, c) for s in subs]
        counts = [len(w) for w in windows]
        allw = torch.as_tensor(np.concatenate(windows))  # (W, T + 2c, J, 2)
    was_training = model.training
    model.eval()
    outs = []
    try:
        with attention_backend(device), autocast(resolve_precision(precision, device), device):
            outs = _predict_windows(model, allw, batch_size, flip_test, device, progress, causal)
    finally:
        model.train(was_training)
    out = torch.cat(outs).numpy()  # (W, T, J, 3); causal: (W, 1, J, 3)
    pieces = np.split(out, np.cumsum(counts)[:-1])
    results, k = [], 0
    for a in arrays:
        full = np.zeros((len(a), a.shape[1], 3), dtype=np.float32)
        for o in range(min(tds, len(a))):
            n = len(a[o::tds])
            full[o::tds] = pieces[k][:, 0] if causal else reassemble(pieces[k], n, T, T)
            k += 1
        results.append(full)
    return results


def predict_as_trained(model: Lifter, clips, config, **kwargs) -> list[np.ndarray]:
    """:func:`predict` with a run's training config: its flip test and its precision (``auto``:
    bf16 where the CPU has it, which measured 1.35-2.5x faster at the same MPJPE)."""
    return predict(
        model, clips, flip_test=config.flip_test, precision=config.loop.precision, **kwargs
    )


def _context_windows(seq: np.ndarray, T: int, context: int) -> np.ndarray:
    """Windows ``(W, T + 2c, J, 2)`` of ``seq (F, J, 2)`` whose centre T frames tile the sequence
    like ``cut_windows(seq, T, T)``; the context beyond the ends repeats the first/last frame."""
    return seq[window_index(len(seq), T, T, context)]  # (W, T + 2c, J, 2)


def causal_index(n_frames: int, T: int, context: int = 0) -> np.ndarray:
    """``(F, T + 2·context)`` input frames of the window whose output frame ``T − 1`` is frame f:
    ``f − T + 1 − context … f``, then ``context`` copies of f (the first frame repeated before the
    start): no index exceeds f."""
    f = np.arange(n_frames)[:, None]
    idx = f - (T - 1) - context + np.arange(T + 2 * context)[None, :]  # (F, T + 2c)
    return np.clip(idx, 0, f)


class _Windows:
    """Windows cut on demand (a batch at a time): window k is ``frames[index[k]]``."""

    def __init__(self, frames: np.ndarray, index: np.ndarray) -> None:
        self.frames, self.index = frames, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows: slice) -> torch.Tensor:
        return torch.as_tensor(self.frames[self.index[rows]])  # (B, T + 2c, J, 2)


def _predict_windows(
    model, allw, batch_size, flip_test, device, progress, last: bool = False
) -> list[torch.Tensor]:
    """Model outputs ``(B, T, J, 3)`` (flip-averaged) of all windows ``(W, T, J, 2)``, batched;
    only the last output frame ``(B, 1, J, 3)`` of each when ``last``."""
    outs = []
    for b in tqdm(range(0, len(allw), batch_size), disable=not progress, desc="predict"):
        x = allw[b : b + batch_size].to(device)  # (B, T, J, 2)
        y = model(x)
        if flip_test:
            y = 0.5 * (y + flip_pose(model(flip_pose(x))))
        outs.append((y[:, -1:] if last else y).float().cpu())
    return outs


def predictions_from_clips(
    clips: Sequence[Clip], pred3d: Sequence[np.ndarray], *, fold: int = -1, split: str = ""
) -> list[PredictionSequence]:
    """Predictions-file sequences from clips (2D, GT 3D) and predicted 3D ``(F, 17, 3)``."""
    return [
        PredictionSequence(
            c.subject,
            c.action,
            c.camera,
            c.fps,
            c.pose2d,
            p,
            c.pose3d,
            fold=fold,
            split=split,
            intrinsics=c.intrinsics,
        )
        for c, p in zip(clips, pred3d)
    ]


def clips_mpjpe(pred3d: Sequence[np.ndarray], clips: Sequence[Clip]) -> float:
    """MPJPE over all frames of ``clips`` in millimetres."""
    from ..metrics import mpjpe

    err = [mpjpe(p, c.pose3d, align="none").double() for p, c in zip(pred3d, clips)]
    return float(torch.cat(err).mean() * 1000.0)

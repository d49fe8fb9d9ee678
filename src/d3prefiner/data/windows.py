"""Seq2seq windows: cut sequences into windows of T frames and reassemble per-window outputs.

Windows start every ``stride`` frames; the last window is aligned to the end of the sequence when it
would run past it, and a sequence shorter than T is edge-padded (its last frame repeated). Reassembly
averages the windows that cover a frame, so every frame is output exactly once; with
``stride == T`` (non-overlapping) it is an exact inverse of cutting.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import D3PRError


def window_starts(n_frames: int, T: int, stride: int) -> list[int]:
    """Start frames of the windows covering ``n_frames`` frames (``T``, ``stride`` ≥ 1)."""
    if n_frames < 1:
        raise D3PRError(f"a sequence needs at least 1 frame, got {n_frames}")
    if T < 1 or stride < 1:
        raise D3PRError(f"window length and stride must be >= 1, got T={T}, stride={stride}")
    if n_frames <= T:
        return [0]
    starts = list(range(0, n_frames - T + 1, stride))
    if starts[-1] + T < n_frames:
        starts.append(n_frames - T)
    return starts


def window_index(n_frames: int, T: int, stride: int, context: int = 0) -> np.ndarray:
    """``(W, T + 2·context)`` frame indices of every window: its T frames plus ``context`` frames
    on each side, clamped to the sequence (edge frames repeated). The one window index of the
    package: lifter prediction, the refiner's training data and refinement use it."""
    starts = np.asarray(window_starts(n_frames, T, stride))
    idx = starts[:, None] - context + np.arange(T + 2 * context)[None, :]  # (W, T + 2c)
    return np.clip(idx, 0, n_frames - 1)


class OverlapAverage:
    """Streamed reassembly: add per-window outputs batch by batch, then read the per-frame mean
    over the windows that covered each frame (float64 sums, so the result does not depend on how
    the windows were batched)."""

    def __init__(self, n_frames: int, shape: tuple[int, ...]) -> None:
        self.sum = np.zeros((n_frames, *shape), dtype=np.float64)
        self.count = np.zeros(n_frames, dtype=np.float64)

    def add(self, idx: np.ndarray, values: np.ndarray) -> None:
        """``idx (B, T)`` frame indices, ``values (B, T, ...)``."""
        flat = idx.reshape(-1)
        np.add.at(
            self.sum, flat, np.asarray(values, dtype=np.float64).reshape(-1, *self.sum.shape[1:])
        )
        np.add.at(self.count, flat, 1.0)

    def result(self) -> np.ndarray:
        if not (self.count > 0).all():
            raise D3PRError("reassembly: some frames are covered by no window")
        return self.sum / self.count.reshape(-1, *([1] * (self.sum.ndim - 1)))


def cut_windows(x, T: int, stride: int):
    """Cut ``x (F, ...)`` (numpy or torch) into windows ``(W, T, ...)``."""
    idx = window_index(len(x), T, stride)
    if isinstance(x, torch.Tensor):
        return x[torch.as_tensor(idx, device=x.device)]
    return np.asarray(x)[idx]


def reassemble(windows, n_frames: int, T: int, stride: int):
    """Inverse of :func:`cut_windows`: ``(W, T, ...)`` → ``(F, ...)``, averaging overlaps."""
    idx = window_index(n_frames, T, stride)
    if len(windows) != len(idx):
        raise D3PRError(f"expected {len(idx)} windows for {n_frames} frames, got {len(windows)}")
    flat = idx.reshape(-1)  # (W*T,)
    if isinstance(windows, torch.Tensor):
        vals = windows.reshape(-1, *windows.shape[2:])  # (W*T, ...)
        ids = torch.as_tensor(flat, device=windows.device)
        out = torch.zeros(
            (n_frames, *windows.shape[2:]), dtype=windows.dtype, device=windows.device
        )
        out.index_add_(0, ids, vals)
        cnt = torch.bincount(ids, minlength=n_frames).to(windows.dtype)
        return out / cnt.reshape(-1, *([1] * (windows.dim() - 2)))
    windows = np.asarray(windows)
    vals = windows.reshape(-1, *windows.shape[2:])  # (W*T, ...)
    out = np.zeros((n_frames, *windows.shape[2:]), dtype=np.float64)
    np.add.at(out, flat, vals)
    cnt = np.bincount(flat, minlength=n_frames).astype(np.float64)
    return (out / cnt.reshape(-1, *([1] * (windows.ndim - 2)))).astype(windows.dtype)

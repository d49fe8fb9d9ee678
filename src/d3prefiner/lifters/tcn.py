"""A VideoPose3D-style dilated temporal convolution lifter (Pavllo et al., CVPR 2019), seq2seq.

Each frame's 17 2D joints are one vector of 34 numbers. A first layer looks at 3 consecutive frames
(width 3, dilation 1); then ``depth`` residual blocks each look at 3 frames spaced ``3^i`` apart
(dilation 3, 9, 27, ...) followed by a 1×1 layer. All convolutions are *valid* (no padding), so the
receptive field is ``R = 3^(depth + 1)`` frames (27 for depth 2, 243 for depth 4) and the network
needs ``context = (R - 1) / 2`` frames of input on each side of every output frame.

A width-3 dilated convolution is written as a Linear layer over the three gathered taps
``[h(t - d), h(t), h(t + d)]`` concatenated on the channel axis: one large matmul per layer, which
runs on the CPU's bf16 matrix units (AMX) far better than ``nn.Conv1d`` does.

Contract shared with the attention lifters (``context = 0`` there): ``forward`` takes
``(B, T + 2 * context, J, 2)`` and returns ``(B, T, J, 3)``, root-relative metres, root output 0.
The training windows and :func:`~d3prefiner.lifters.predict.predict` supply the context frames
(edge-replicated at the ends of a sequence, as VideoPose3D pads at inference).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import D3PRError
from ..nn.stc import fp32_head
from .config import LifterConfig
from .stcformer import Lifter


def gather_taps(h: torch.Tensor, dilation: int) -> torch.Tensor:
    """``h (B, L, C)`` → ``(B, L - 2d, 3C)``: frames ``t - d, t, t + d`` side by side (valid)."""
    L, d = h.shape[1], dilation
    return torch.cat([h[:, : L - 2 * d], h[:, d : L - d], h[:, 2 * d :]], dim=-1)  # (B, L-2d, 3C)


class _LinearBNReLU(nn.Module):
    """Linear → BatchNorm over channels → ReLU → dropout, on ``(B, L, Cin) → (B, L, Cout)``."""

    def __init__(self, c_in: int, c_out: int, dropout: float) -> None:
        super().__init__()
        self.linear = nn.Linear(c_in, c_out, bias=False)
        self.bn = nn.BatchNorm1d(c_out, momentum=0.1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, _ = x.shape
        h = self.linear(x).reshape(B * L, -1)  # (B*L, Cout)
        h = self.bn(h).relu()
        return self.drop(h.reshape(B, L, -1))  # (B, L, Cout)


class TCN(Lifter):
    """Dilated temporal convolution lifter: ``(B, T + 2c, J, 2) → (B, T, J, 3)``, ``c = context``."""

    def __init__(self, config: LifterConfig) -> None:
        super().__init__()
        self.config = config
        C, J, p = config.dim, config.num_joints, config.dropout
        self.expand = _LinearBNReLU(3 * 2 * J, C, p)
        self.dilations = [3 ** (i + 1) for i in range(config.depth)]
        self.taps = nn.ModuleList(_LinearBNReLU(3 * C, C, p) for _ in self.dilations)
        self.mix = nn.ModuleList(_LinearBNReLU(C, C, p) for _ in self.dilations)
        self.head = nn.Linear(C, 3 * J)
        self._init_root_mask(J)

    @property
    def receptive_field(self) -> int:
        """Input frames one output frame depends on: ``3^(depth + 1)``."""
        return 3 ** (self.config.depth + 1)

    @property
    def context(self) -> int:
        """Extra input frames needed on each side of the output: ``(R - 1) / 2``."""
        return (self.receptive_field - 1) // 2

    def _check(self, x: torch.Tensor) -> None:
        J = self.config.num_joints
        if x.dim() != 4 or x.shape[2] != J or x.shape[3] != 2:
            raise D3PRError(f"lifter input: expected shape (B, T, {J}, 2), got {tuple(x.shape)}")
        if x.shape[1] <= 2 * self.context:
            raise D3PRError(
                f"TCN input: {x.shape[1]} frames; it needs more than 2 × context = "
                f"{2 * self.context} (receptive field {self.receptive_field})"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        B, L, J, _ = x.shape
        h = self.expand(gather_taps(x.reshape(B, L, J * 2), 1))  # (B, L - 2, C)
        for d, taps, mix in zip(self.dilations, self.taps, self.mix):
            res = h[:, d:-d]  # (B, L', C) centre of the taps
            h = res + mix(taps(gather_taps(h, d)))  # (B, L', C), L' = L_prev - 2d
        out = fp32_head(self.head, h).reshape(B, h.shape[1], J, 3)  # (B, T, J, 3)
        return out * self.root_mask

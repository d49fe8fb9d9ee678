"""STCFormer lifter (Tang et al., CVPR 2023), seq2seq ``(B, T, 17, 2) → (B, T, 17, 3)``.

A linear embedding of each joint's 2D coordinates into C channels, ``depth`` STC blocks
(:class:`d3prefiner.nn.stc.STCBlock`: criss-cross attention over joints and over frames with the
structure-enhanced positional embedding), a LayerNorm and a linear regression head to 3D. The root
joint's output is forced to 0 (root-relative metres). Temporal downsampling (TDS) is handled by the
data side (:mod:`d3prefiner.lifters.train`): the network just sees ``T`` frames.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import D3PRError
from ..nn.stc import STCBlock, fp32_head
from .config import LifterConfig


class Lifter(nn.Module):
    """Common base: input checks and the root-zero output mask."""

    config: LifterConfig

    def _init_root_mask(self, num_joints: int) -> None:
        mask = torch.ones(num_joints, 1)
        mask[0] = 0.0
        self.register_buffer("root_mask", mask, persistent=False)  # (J, 1)

    def _check(self, x: torch.Tensor) -> None:
        cfg = self.config
        if x.dim() != 4 or x.shape[2] != cfg.num_joints or x.shape[3] != 2:
            raise D3PRError(
                f"lifter input: expected shape (B, T, {cfg.num_joints}, 2), got {tuple(x.shape)}"
            )
        if x.shape[1] > cfg.window:
            raise D3PRError(
                f"lifter input: {x.shape[1]} frames, the model takes at most {cfg.window}"
            )

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class STCFormer(Lifter):
    """STCFormer: ``forward(x (B, T, J, 2)) → (B, T, J, 3)`` root-relative metres."""

    def __init__(self, config: LifterConfig) -> None:
        super().__init__()
        self.config = config
        C = config.dim
        self.embed = nn.Linear(2, C)
        self.blocks = nn.ModuleList(
            STCBlock(C, config.heads, config.mlp_ratio, config.dropout, config.qk_norm)
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(C)
        self.head = nn.Linear(C, 3)
        self._init_root_mask(config.num_joints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        h = self.embed(x)  # (B, T, J, C)
        for block in self.blocks:
            h = block(h)  # (B, T, J, C)
        return fp32_head(self.head, self.norm(h)) * self.root_mask  # (B, T, J, 3)

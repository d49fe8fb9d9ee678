"""MixSTE lifter (Zhang et al., CVPR 2022), seq2seq ``(B, T, 17, 2) → (B, T, 17, 3)``.

Each joint of each frame is a token. A linear embedding plus a learned spatial (per-joint)
positional embedding; then ``depth`` pairs of blocks alternate: a spatial transformer block (attention
over the J joints of one frame) and a temporal transformer block (attention over the T frames of one
joint; a learned temporal positional embedding is added before the first). A LayerNorm and a linear
head regress 3D for every frame (seq2seq); the root joint's output is forced to 0.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn.stc import MLP, attention, fp32_head
from .config import LifterConfig
from .stcformer import Lifter


class SelfAttention(nn.Module):
    """Multi-head self-attention over the middle axis: ``(N, L, C) → (N, L, C)``; with
    ``qk_norm``, each head's queries and keys are layer-normalised before their dot product
    (QK-norm, Dehghani et al. 2023), which bounds the logits by the norms' learned gains."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, qk_norm: bool = False) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.q_norm = nn.LayerNorm(dim // heads) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(dim // heads) if qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, L, C = x.shape
        qkv = self.qkv(x).reshape(N, L, 3, self.heads, C // self.heads)  # (N, L, 3, h, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # (N, h, L, d) each
        q, k = self.q_norm(q), self.k_norm(k)
        p = self.dropout if self.training else 0.0
        out = attention(q, k, v, p)  # (N, h, L, d)
        return self.proj(out.transpose(1, 2).reshape(N, L, C))  # (N, L, C)


class Block(nn.Module):
    """Pre-norm transformer block over the middle axis of ``(N, L, C)``."""

    def __init__(
        self, dim: int, heads: int, mlp_ratio: float, dropout: float, qk_norm: bool = False
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout, qk_norm)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MixSTE(Lifter):
    """MixSTE: ``forward(x (B, T, J, 2)) → (B, T, J, 3)`` root-relative metres."""

    def __init__(self, config: LifterConfig) -> None:
        super().__init__()
        self.config = config
        C, J = config.dim, config.num_joints
        args = (C, config.heads, config.mlp_ratio, config.dropout, config.qk_norm)
        self.embed = nn.Linear(2, C)
        self.spatial_pos = nn.Parameter(torch.zeros(J, C))
        self.temporal_pos = nn.Parameter(torch.zeros(config.window, C))
        # joint identity comes only from spatial_pos (the 2D embedding and the head are shared by
        # all joints): at unit scale it is there from step 0 (std 0.02 left the joints hard to
        # tell apart for hundreds of steps); the temporal embedding keeps the usual small scale
        nn.init.normal_(self.spatial_pos, std=1.0)
        nn.init.trunc_normal_(self.temporal_pos, std=0.02)
        self.spatial = nn.ModuleList(Block(*args) for _ in range(config.depth))
        self.temporal = nn.ModuleList(Block(*args) for _ in range(config.depth))
        self.norm = nn.LayerNorm(C)
        self.head = nn.Linear(C, 3)
        self._init_root_mask(J)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        B, T, J, _ = x.shape
        h = self.embed(x) + self.spatial_pos  # (B, T, J, C)
        C = h.shape[-1]
        for i, (s_block, t_block) in enumerate(zip(self.spatial, self.temporal)):
            h = s_block(h.reshape(B * T, J, C))  # (B*T, J, C)
            h = h.reshape(B, T, J, C).transpose(1, 2).reshape(B * J, T, C)  # (B*J, T, C)
            if i == 0:
                h = h + self.temporal_pos[:T]
            h = t_block(h)  # (B*J, T, C)
            h = h.reshape(B, J, T, C).transpose(1, 2)  # (B, T, J, C)
        return fp32_head(self.head, self.norm(h)) * self.root_mask  # (B, T, J, 3)

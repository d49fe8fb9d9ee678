"""Spatio-temporal criss-cross (STC) attention, after STCFormer (Tang et al., CVPR 2023).

The channels are split in half: one half attends over joints within each frame (spatial), the other
over frames for each joint (temporal); the halves are concatenated and projected. The
structure-enhanced positional embedding (SPE) adds to each branch's output
* spatial: a learned embedding of the joint's body part (part-aware positional embedding), and
* temporal: a depthwise 3×3 convolution over the (time × joint) plane applied to the values.
Written from the paper's description; shapes are ``(B, T, J, C)`` throughout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..skeleton import H36M17_PARTS


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float = 0.0):
    """Multi-head scaled dot-product attention ``(N, h, L, d) → (N, h, L, d)``.

    On a CPU in bf16 (autocast) it is written out (``softmax(q kᵀ / √d) v``), its softmax reading
    the bf16 logits and computing in fp32: for these short sequences (17 joints, 27 frames) that
    is faster than PyTorch's bf16 CPU kernels (``benchmarks/bench_attention.py`` measures it).
    Elsewhere (fp32 on CPU; GPUs) PyTorch's own kernel.
    """
    if q.device.type == "cpu" and q.dtype == torch.bfloat16:
        w = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5  # (N, h, L, L) bf16
        w = torch.softmax(w, dim=-1, dtype=torch.float32).to(v.dtype)
        if dropout > 0:
            w = F.dropout(w, dropout)
        return w @ v  # (N, h, L, d)
    n, step = q.shape[0], SDPA_MAX_BATCH
    if n <= step:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    return torch.cat([
        F.scaled_dot_product_attention(q[i:i + step], k[i:i + step], v[i:i + step], dropout_p=dropout)
        for i in range(0, n, step)
    ])  # fmt: skip


#: Sequences per fused-attention call: beyond 65,535 (the `paper` STCFormer's spatial attention at
#: batch 1024 × T = 81 is 82,944) the cuDNN backend failed its backward on an H200 (torch 2.11:
#: "mha_graph.execute(...) is_good()"); larger inputs are attended in chunks of this many.
SDPA_MAX_BATCH = 65535


class STCAttention(nn.Module):
    """STC attention ``(B, T, J, C) → (B, T, J, C)``.

    Args:
        dim: channels C (even; each half is split over ``heads`` heads).
        heads: attention heads per branch.
        parts: body part id of each joint (defaults to H36M-17's six parts).
        dropout: attention dropout.
        kv_dim: channels of a separate key/value input (for cross attention); ``None`` = self.
        qk_norm: layer-normalise each head's queries and keys (per branch) before their dot
            product, which bounds the logits (QK-norm).
    """

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        parts: tuple[int, ...] = H36M17_PARTS,
        dropout: float = 0.0,
        kv_dim: int | None = None,
        qk_norm: bool = False,
    ) -> None:
        super().__init__()
        if dim % 2 or (dim // 2) % heads:
            raise ValueError(f"dim={dim} must be even and dim/2 divisible by heads={heads}")
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        half = dim // 2
        self.register_buffer("parts", torch.as_tensor(parts, dtype=torch.long), persistent=False)
        self.part_emb = nn.Embedding(max(parts) + 1, half)
        self.temporal_pe = nn.Conv2d(half, half, kernel_size=3, padding=1, groups=half)
        d = half // heads
        # (spatial q, spatial k, temporal q, temporal k)
        self.qk_norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(4)) if qk_norm else None

    def _attend(self, q, k, v, branch: int):
        # q, k, v: (N, L, C') → (N, L, C'), multi-head scaled dot-product attention
        N, L, Cp = q.shape
        h = self.heads
        q, k, v = (z.reshape(N, -1, h, Cp // h).transpose(1, 2) for z in (q, k, v))  # (N,h,L,d)
        if self.qk_norms is not None:
            q, k = self.qk_norms[2 * branch](q), self.qk_norms[2 * branch + 1](k)
        p = self.dropout if self.training else 0.0
        out = attention(q, k, v, p)  # (N, h, L, d)
        return out.transpose(1, 2).reshape(N, L, Cp)  # (N, L, C')

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``x (B, T, J, C)``; ``context (B, T, J, Ckv)`` for keys/values (default: ``x``)."""
        B, T, J, C = x.shape
        half = C // 2
        q = self.q(x)  # (B, T, J, C)
        k, v = self.kv(x if context is None else context).chunk(2, dim=-1)  # (B, T, J, C) each
        # spatial branch: attention over joints within a frame
        qs, ks, vs = (z[..., :half].reshape(B * T, J, half) for z in (q, k, v))  # (B*T, J, C/2)
        xs = self._attend(qs, ks, vs, 0).reshape(B, T, J, half)  # (B, T, J, C/2)
        xs = xs + self.part_emb(self.parts[:J])  # part-aware positional embedding
        # temporal branch: attention over frames for each joint
        qt, kt, vt = (z[..., half:].permute(0, 2, 1, 3).reshape(B * J, T, half) for z in (q, k, v))
        xt = self._attend(qt, kt, vt, 1).reshape(B, J, T, half).permute(0, 2, 1, 3)  # (B,T,J,C/2)
        v_img = v[..., half:].permute(0, 3, 1, 2)  # (B, C/2, T, J)
        xt = xt + self.temporal_pe(v_img).permute(0, 2, 3, 1)  # (B, T, J, C/2)
        return self.proj(torch.cat([xs, xt], dim=-1))  # (B, T, J, C)


class MLP(nn.Module):
    """Two-layer GELU MLP ``(..., C) → (..., C)`` with hidden size ``ratio * C``."""

    def __init__(self, dim: int, ratio: float = 2.0, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class STCBlock(nn.Module):
    """Pre-norm residual block: ``x + STC(LN(x))`` then ``x + MLP(LN(x))``; ``(B, T, J, C)``."""

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        qk_norm: bool = False,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = STCAttention(dim, heads, dropout=dropout, qk_norm=qk_norm)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def fp32_head(head: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """``head(h)`` computed in float32 even under bf16 autocast: a regression output of
    coordinates up to ~1 m would carry bf16's ~0.4 % rounding (millimetres) otherwise."""
    with torch.autocast(h.device.type, enabled=False):
        return head(h.float())

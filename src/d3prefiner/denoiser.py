"""PoseDenoiser: ê = g(y, x_t, t), the network of D3PRefiner (paper Sec. III-C1, Fig. 3c).

Per joint, ``concat(x_t, y)`` (5 channels; 8 with ``input_noisy``: ``concat(x_t, y, x_cond)``; plus
``geo_dim`` channels of geometric conditioning ``geo`` when given, see
:mod:`d3prefiner.refiner.features`) is mapped to C channels by a linear layer, plus a learned per-joint embedding. L denoising STC blocks
follow, each (pre-norm, residual):

1. STC self-attention on the data (spatial over joints, temporal over frames);
2. an STC module relating the data to the embedded time step: STC attention whose queries are the
   data and whose keys/values are the data shifted by a per-block projection of the time embedding
   (``context = LN(h) + W_b·emb(t)``, broadcast over frames and joints), so the attention weights and
   values depend on t;
3. an MLP.

A final LayerNorm + ``Linear(C→3)`` (zero-initialised, so an untrained net predicts ê = 0) gives ê.
The time step goes through a sinusoidal embedding and a two-layer MLP, then a per-block linear
projection. With ``timestep=False`` (the paper's "without diffusion" ablation) the time embedding and
the second STC module are absent.

The output is the error *normalised* by the mean per-joint magnitude of e in training; that scale is
the buffer :attr:`PoseDenoiser.e_scale` (saved with the weights). ê of the root joint is forced to 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .errors import D3PRError
from .nn.shape import NetworkShape
from .nn.stc import MLP, STCAttention, fp32_head
from .skeleton import NUM_JOINTS

PRESETS: dict[str, dict] = {
    "paper": dict(dim=256, depth=4, heads=8),
    "paper8": dict(dim=256, depth=8, heads=8),
    "cpu": dict(dim=128, depth=2, heads=8),
    "tiny": dict(dim=16, depth=1, heads=2),
}


@dataclass(frozen=True)
class DenoiserConfig(NetworkShape):
    """Hyper-parameters of :class:`PoseDenoiser`.

    Attributes:
        dim, depth, heads, mlp_ratio, dropout: the network's size
            (:class:`~d3prefiner.nn.shape.NetworkShape`, keyword-only): channels C (paper 256),
            denoising STC blocks L (paper 4; 8 in Table IV), attention heads per STC branch
            (``dim/2`` divisible by it), MLP hidden size / C, dropout.
        input_noisy: also feed ``x_cond`` (the pose the sampler started from) per joint.
        timestep: condition on the time step (False = the "without diffusion" ablation).
        num_steps: diffusion steps T (size of the time-step range the embedding covers).
        num_joints: J.
        geo_dim: extra per-joint input channels (geometric conditioning; 0: none).
    """

    input_noisy: bool = False
    timestep: bool = True
    num_steps: int = 50
    num_joints: int = NUM_JOINTS
    geo_dim: int = 0

    def __post_init__(self) -> None:
        self.check_shape(channel_split=2)  # the STC blocks' spatial and temporal branches
        if self.num_steps < 1 or self.num_joints < 1:
            raise D3PRError("num_steps and num_joints must be positive")
        if self.geo_dim < 0:
            raise D3PRError(f"geo_dim must be >= 0, got {self.geo_dim}")

    @classmethod
    def preset(cls, name: str, **overrides) -> DenoiserConfig:
        """``paper`` (C=256, L=4), ``paper8`` (L=8), ``cpu`` (C=128, L=2), ``tiny`` (tests)."""
        if name not in PRESETS:
            raise D3PRError(f"unknown denoiser preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    @property
    def in_dim(self) -> int:
        return (8 if self.input_noisy else 5) + self.geo_dim

    def to_dict(self) -> dict:
        return asdict(self)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of time steps ``t (B,)`` → ``(B, dim)`` (Transformer / DDPM style)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, dim)


class DenoisingSTCBlock(nn.Module):
    """STC self-attention, STC attention to the time step, MLP; pre-norm residual. ``(B,T,J,C)``."""

    def __init__(self, cfg: DenoiserConfig) -> None:
        super().__init__()
        C = cfg.dim
        self.norm1 = nn.LayerNorm(C)
        self.attn = STCAttention(C, cfg.heads, dropout=cfg.dropout)
        self.has_time = cfg.timestep
        if cfg.timestep:
            self.norm2 = nn.LayerNorm(C)
            self.time_proj = nn.Linear(C, C)
            self.time_attn = STCAttention(C, cfg.heads, dropout=cfg.dropout)
        self.norm3 = nn.LayerNorm(C)
        self.mlp = MLP(C, cfg.mlp_ratio, cfg.dropout)

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None) -> torch.Tensor:
        """``x (B, T, J, C)``, ``temb (B, C)`` or None → ``(B, T, J, C)``."""
        x = x + self.attn(self.norm1(x))
        if self.has_time:
            h = self.norm2(x)
            ctx = h + self.time_proj(temb)[:, None, None, :]  # (B, T, J, C)
            x = x + self.time_attn(h, context=ctx)
        return x + self.mlp(self.norm3(x))


class PoseDenoiser(nn.Module):
    """ê = g(y, x_t, t): predicts the (normalised) pose error of ``x_t``.

    Args:
        config: :class:`DenoiserConfig`.
    """

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        self.config = config
        C = config.dim
        self.embed = nn.Linear(config.in_dim, C)
        if config.geo_dim:  # the geometric inputs start switched off: an untrained net ignores them
            nn.init.zeros_(self.embed.weight.data[:, config.in_dim - config.geo_dim :])
        self.joint_emb = nn.Parameter(torch.zeros(config.num_joints, C))
        nn.init.trunc_normal_(self.joint_emb, std=0.02)
        if config.timestep:
            self.time_mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C))
        self.blocks = nn.ModuleList(DenoisingSTCBlock(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(C)
        self.head = nn.Linear(C, 3)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # mean per-joint magnitude of e in training (metres); set by the trainer, saved with weights
        self.register_buffer("e_scale", torch.ones(()))

    def forward(
        self,
        x_t: torch.Tensor,
        y: torch.Tensor,
        t: torch.Tensor | int | None = None,
        x_cond: torch.Tensor | None = None,
        geo: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the normalised error.

        Args:
            x_t: noisy 3D poses ``(B, T, J, 3)``, metres, root-relative.
            y: 2D poses ``(B, T, J, 2)``, normalised.
            t: time steps ``(B,)`` long or an int (ignored when ``config.timestep`` is False).
            x_cond: the sampler's start pose ``(B, T, J, 3)``; required iff ``config.input_noisy``.
            geo: geometric conditioning ``(B, T, J, geo_dim)``; required iff ``config.geo_dim``.

        Returns:
            ê / e_scale ``(B, T, J, 3)``, root joint 0.
        """
        B, T, J, _ = x_t.shape
        feats = [x_t, y]
        if self.config.input_noisy:
            if x_cond is None:
                raise D3PRError("this denoiser was built with input_noisy=True: pass x_cond")
            feats.append(x_cond)
        if self.config.geo_dim:
            if geo is None or geo.shape[-1] != self.config.geo_dim:
                got = None if geo is None else tuple(geo.shape)
                raise D3PRError(
                    f"this denoiser takes geo (B, T, J, {self.config.geo_dim}), got {got}"
                )
            feats.append(geo.to(x_t.dtype))
        h = self.embed(torch.cat(feats, dim=-1)) + self.joint_emb[:J]  # (B, T, J, C)
        temb = None
        if self.config.timestep:
            if t is None:
                raise D3PRError("this denoiser is conditioned on the time step: pass t")
            t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(B)  # (B,)
            temb = self.time_mlp(timestep_embedding(t, self.config.dim))  # (B, C)
        for block in self.blocks:
            h = block(h, temb)
        out = fp32_head(self.head, self.norm(h))  # (B, T, J, 3) float32
        root = torch.ones(J, 1, device=out.device, dtype=out.dtype)
        root[0] = 0.0
        return out * root  # root error is 0 by construction (root-relative poses)

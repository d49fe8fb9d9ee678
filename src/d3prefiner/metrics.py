"""Pose-error metrics in torch, batched, following the Human3.6M protocols.

Inputs are poses ``(..., J, 3)`` in any consistent unit (the library uses metres; reports multiply by
1000 for millimetres). Each function returns per-pose errors ``(...)`` in the input's unit.
"""

from __future__ import annotations

import torch

from .errors import D3PRError


def _as_tensors(pred, gt):
    pred = torch.as_tensor(pred)
    gt = torch.as_tensor(gt)
    if pred.shape != gt.shape:
        raise D3PRError(f"pred and gt shapes differ: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    if pred.dim() < 2 or pred.shape[-1] != 3:
        raise D3PRError(f"expected poses of shape (..., J, 3), got {tuple(pred.shape)}")
    dtype = torch.promote_types(pred.dtype, torch.float32)
    return pred.to(dtype), gt.to(dtype)


def mpjpe(pred, gt) -> torch.Tensor:
    """Protocol #1: mean per-joint position error. ``(..., J, 3)`` → ``(...)``."""
    pred, gt = _as_tensors(pred, gt)
    return (pred - gt).norm(dim=-1).mean(dim=-1)


def procrustes_align(pred, gt) -> torch.Tensor:
    """Align ``pred`` to ``gt`` by the best similarity transform (rotation, scale, translation)
    per pose; ``(..., J, 3)`` → ``(..., J, 3)``. Computed in float64."""
    pred, gt = _as_tensors(pred, gt)
    dtype = pred.dtype
    p, g = pred.double(), gt.double()
    mu_p, mu_g = p.mean(-2, keepdim=True), g.mean(-2, keepdim=True)
    p0, g0 = p - mu_p, g - mu_g
    norm_p = p0.pow(2).sum((-2, -1), keepdim=True).sqrt().clamp_min(1e-12)
    norm_g = g0.pow(2).sum((-2, -1), keepdim=True).sqrt().clamp_min(1e-12)
    p0, g0 = p0 / norm_p, g0 / norm_g
    H = p0.transpose(-2, -1) @ g0  # (..., 3, 3)
    U, S, Vh = torch.linalg.svd(H)
    V = Vh.transpose(-2, -1)
    # avoid reflections: flip the last singular vector where det < 0
    sign = torch.sign(torch.linalg.det(V @ U.transpose(-2, -1)))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    V = torch.cat([V[..., :2], V[..., 2:] * sign[..., None, None]], dim=-1)
    S = torch.cat([S[..., :2], S[..., 2:] * sign[..., None]], dim=-1)
    R = V @ U.transpose(-2, -1)  # (..., 3, 3) rotation mapping p0 → g0
    scale = S.sum(-1)[..., None, None] * norm_g / norm_p
    aligned = scale * (p - mu_p) @ R.transpose(-2, -1) + mu_g
    return aligned.to(dtype)


def p_mpjpe(pred, gt) -> torch.Tensor:
    """Protocol #2: MPJPE after similarity Procrustes alignment. ``(..., J, 3)`` → ``(...)``."""
    pred, gt = _as_tensors(pred, gt)
    return mpjpe(procrustes_align(pred, gt), gt)

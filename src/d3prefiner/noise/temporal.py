"""How the standard normals ``z`` of noise samples are correlated across frames: small strategies.

Each strategy is fitted on the standardised residuals ``r = L⁻¹(e − μ_{a|b})`` of real errors (one
``(T, D)`` float64 array per sequence), draws ``z (B, T, G, Da)`` that are marginally N(0, I) per
frame, and scores a sequence of residuals (total log-likelihood, nats, without the ``log det L``
term, which the noise model adds). See :mod:`d3prefiner.noise.pose` for the three options.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from ..errors import D3PRError

_LOG_2PI = math.log(2 * math.pi)


class AutocorrAccumulator:
    """Streams ``Σ_t x_t·x_{t+k}`` (summed over dimensions) for k = 0..max_lag over sequences."""

    def __init__(self, max_lag: int, mean: torch.Tensor | None = None) -> None:
        self.max_lag = max_lag
        self.mean = mean
        self.prod = torch.zeros(max_lag + 1, dtype=torch.float64)
        self.count = torch.zeros(max_lag + 1, dtype=torch.float64)

    def add(self, x: torch.Tensor) -> None:
        """Add one sequence ``x (T, D)`` (or a batch ``(B, T, D)``)."""
        x = torch.as_tensor(x).to(torch.float64)
        if x.dim() == 2:
            x = x[None]
        if self.mean is not None:
            x = x - self.mean.to(x.device)
        B, T, D = x.shape
        for k in range(min(self.max_lag, T - 1) + 1):
            self.prod[k] += float((x[:, : T - k] * x[:, k:]).sum())
            self.count[k] += B * (T - k) * D

    def result(self) -> torch.Tensor:
        """Correlations ``(max_lag+1,)`` (lag 0 is 1; NaN for lags never observed)."""
        cov = self.prod / self.count.clamp(min=1)
        cov[self.count == 0] = float("nan")
        if not cov[0] > 0:
            return torch.full_like(cov, float("nan"))
        return cov / cov[0]


class White:
    """Independent ``z`` per frame (paper-faithful)."""

    name = "white"

    def draw(self, shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, device=device, dtype=dtype)

    def log_likelihood(self, r: torch.Tensor) -> float:
        T, D = r.shape
        return -0.5 * (float((r**2).sum()) + T * D * _LOG_2PI)


class AR1(White):
    """Stationary AR(1): ``z_t = ρ z_{t−1} + √(1−ρ²) w_t`` (ρ: lag-1 autocorrelation, in [0, 1))."""

    name = "ar1"

    def __init__(self, rho: float) -> None:
        if not 0.0 <= rho < 1.0:
            raise D3PRError(f"AR(1) coefficient must be in [0, 1), got {rho}")
        self.rho = float(rho)

    def draw(self, shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        w = super().draw(shape, generator, device, dtype)
        return w if shape[1] == 0 else ar1_filter(w, self.rho)

    def log_likelihood(self, r: torch.Tensor) -> float:
        T, D = r.shape
        rho = self.rho
        innov = r[1:] - rho * r[:-1]
        ll = -0.5 * (float((r[0] ** 2).sum()) + D * _LOG_2PI)
        var = 1 - rho**2
        return ll - 0.5 * (float((innov**2).sum()) / var + (T - 1) * D * (_LOG_2PI + math.log(var)))


class Block(White):
    """``z_t = √w · u_block + √(1−w) · v_t``: one shared draw per block of ``length`` frames."""

    name = "window"

    def __init__(self, weight: float, length: int) -> None:
        if not 0.0 <= weight < 1.0 or length < 1:
            raise D3PRError(
                f"block weight must be in [0, 1) and length >= 1, got {weight}, {length}"
            )
        self.weight, self.length = float(weight), int(length)

    def draw(self, shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        B, T = shape[:2]
        w = super().draw(shape, generator, device, dtype)
        nb = (T + self.length - 1) // self.length
        u = torch.randn(B, nb, *shape[2:], generator=generator, device=device, dtype=dtype)
        blk = torch.arange(T, device=w.device) // self.length  # (T,)
        return math.sqrt(self.weight) * u[:, blk] + math.sqrt(1.0 - self.weight) * w

    def log_likelihood(self, r: torch.Tensor) -> float:
        ww, D = self.weight, r.shape[1]
        ll = 0.0
        for s in range(0, len(r), self.length):
            blk = r[s : s + self.length]  # (m, D)
            m = len(blk)
            den = 1 - ww + m * ww
            quad = (float((blk**2).sum()) - ww * float((blk.sum(0) ** 2).sum()) / den) / (1 - ww)
            ldet = (m - 1) * math.log(1 - ww) + math.log(den)
            ll += -0.5 * (quad + D * (ldet + m * _LOG_2PI))
        return ll


def fit_temporal(residuals: Iterable[torch.Tensor], max_lag: int, block: int):
    """``(acf, ρ, w)`` from standardised residual sequences: the pooled autocorrelation, the AR(1)
    coefficient (lag-1, clipped to [0, 0.999]) and the block weight of :class:`Block`."""
    acc = AutocorrAccumulator(max_lag)
    const = total = 0.0
    for r in residuals:
        acc.add(r)
        nb = len(r) // block
        if nb:
            blocks = r[: nb * block].reshape(nb, block, -1)  # (nb, block, D)
            const += float(block * (blocks.mean(1) ** 2).sum())
            total += float((blocks**2).sum())
    acf = acc.result()
    rho = float(acf[1]) if len(acf) > 1 and math.isfinite(float(acf[1])) else 0.0
    if total > 0:
        frac = const / total
    else:  # no sequence as long as a block: expected share from the fitted correlations
        lags = torch.arange(1, min(max_lag, block - 1) + 1)
        frac = 1 + 2 * float(((1 - lags / block) * torch.nan_to_num(acf[lags], nan=0.0)).sum())
        frac /= block
    weight = min(max((frac * block - 1) / (block - 1), 0.0), 0.999) if block > 1 else 0.0
    return acf, min(max(rho, 0.0), 0.999), weight


def ar1_filter(w: torch.Tensor, rho: float, block: int = 128) -> torch.Tensor:
    """Stationary AR(1) along dim 1 of white ``w (B, T, ...)``: ``z_0 = w_0``,
    ``z_t = ρ z_{t−1} + √(1−ρ²) w_t``; blockwise matrix products (GPU friendly)."""
    B, T = w.shape[:2]
    c = math.sqrt(1.0 - rho**2)
    k = torch.arange(min(block, T), device=w.device, dtype=w.dtype)
    expo = k[:, None] - k[None, :]  # (K, K)
    M = torch.where(expo >= 0, rho ** expo.clamp(min=0), torch.zeros_like(expo))  # (K, K)
    carry_pow = rho ** (k + 1)  # (K,)
    out = torch.empty_like(w)
    prev = None
    flat = w.reshape(B, T, -1)  # (B, T, D)
    out_flat = out.view(B, T, -1)
    for s in range(0, T, block):
        wb = flat[:, s : s + block]  # (B, K, D)
        K = wb.shape[1]
        scale = torch.full((K,), c, device=w.device, dtype=w.dtype)
        if prev is None:
            scale[0] = 1.0
        zb = torch.einsum("ij,bjd->bid", M[:K, :K] * scale[None, :], wb)
        if prev is not None:
            zb = zb + carry_pow[:K, None] * prev[:, None, :]
        out_flat[:, s : s + K] = zb
        prev = zb[:, -1]
    return out

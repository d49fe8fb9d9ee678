"""The D3PRefiner diffusion: cosine schedule, forward noising with a *noisy pose*, DDIM sampling.

Unlike a standard DDPM, the "noise" is a noisy pose ``ε = x0 + e`` (paper Eq. 4), where ``e`` is a
pose error (sampled from the conditional noise model in training, the estimator's own error at test
time). The forward process (Eq. 3, 8) is therefore

    x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε = (√ᾱ_t + √(1−ᾱ_t))·x0 + √(1−ᾱ_t)·e,

and given a prediction ê of ``e`` the clean pose is recovered exactly (Eq. 9):

    x̂0 = (x_t − √(1−ᾱ_t)·ê) / (√(1−ᾱ_t) + √ᾱ_t).

Inference starts at ``x_{N−1} := x_noisy``; that is exact only when ᾱ at the first step is ~0.
The cosine schedule (s = 0.008, Nichol & Dhariwal) with betas clipped at 0.999 gives
ᾱ_48 ≈ 9.7e-4 and ᾱ_49 ≈ 9.7e-7 at N = 50 (``terminal="clip"``, the default): starting from
x_noisy at t = 49 scales x̂0 by 1/(1+√ᾱ_49) ≈ 1 − 1e-3. ``terminal="zero_snr"`` rescales
√ᾱ linearly so that ᾱ_{N−1} = 0 exactly (Lin et al., 2024) — then the last step sees the noisy pose
with no trace of x0 at all.

Time steps are 0-indexed: training samples ``t ∈ {0, …, N−1}`` with N = ``num_steps`` (the letter T
is kept for frames per window throughout the package); the paper's "(0, T]" is the same set
shifted by one. This module never imports the network: the sampler receives ê from the caller.
"""

from __future__ import annotations

import math

import torch

from .errors import D3PRError

TERMINALS = ("clip", "zero_snr")
LOSSES = ("l2", "mse")


def cosine_alphas_bar(
    num_steps: int = 50, s: float = 0.008, max_beta: float = 0.999, terminal: str = "clip"
) -> torch.Tensor:
    """Cumulative products ᾱ_t of the cosine schedule, ``(num_steps,)`` float64, decreasing.

    Args:
        num_steps: N, the number of diffusion steps (t = 0 … N−1).
        s: cosine offset (0.008 as in Nichol & Dhariwal and the paper).
        max_beta: betas are clipped at this value (so the last ᾱ is tiny but not 0).
        terminal: ``"clip"`` (betas clipped, ᾱ_{N−1} ≈ 9.7e-7 at N = 50) or ``"zero_snr"`` (√ᾱ
            rescaled so ᾱ_{N−1} = 0 exactly while ᾱ_0 is unchanged).
    """
    if num_steps < 1:
        raise D3PRError(f"diffusion steps must be >= 1, got {num_steps}")
    if terminal not in TERMINALS:
        raise D3PRError(f"terminal must be one of {TERMINALS}, got {terminal!r}")

    def f(t: float) -> float:
        return math.cos((t / num_steps + s) / (1 + s) * math.pi / 2) ** 2

    betas = torch.tensor(
        [min(1.0 - f(t + 1) / f(t), max_beta) for t in range(num_steps)], dtype=torch.float64
    )
    alphas_bar = torch.cumprod(1.0 - betas, dim=0)  # (N,)
    if terminal == "zero_snr" and num_steps > 1:
        sq = alphas_bar.sqrt()
        sq = (sq - sq[-1]) * sq[0] / (sq[0] - sq[-1])
        alphas_bar = sq.square()
    return alphas_bar


def _coef(alphas_bar: torch.Tensor, t, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """√ᾱ_t and √(1−ᾱ_t) for ``t`` (int or ``(B,)`` long), shaped to broadcast against ``like``."""
    ab = alphas_bar.to(like.device)[torch.as_tensor(t, device=like.device)]
    if ab.dim() == 1:  # (B,) → (B, 1, 1, ...)
        ab = ab.reshape(-1, *([1] * (like.dim() - 1)))
    ab = ab.to(like.dtype)
    return ab.sqrt(), (1.0 - ab).sqrt()


def q_sample(x0: torch.Tensor, e: torch.Tensor, t, alphas_bar: torch.Tensor) -> torch.Tensor:
    """Forward process (Eq. 3, 4, 8): ``x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·(x0 + e)``.

    Args:
        x0: clean poses ``(B, T, J, 3)``.
        e: pose errors ``(B, T, J, 3)`` (so ``ε = x0 + e`` is a noisy pose).
        t: time steps, an int or ``(B,)`` long.
        alphas_bar: ``(num_steps,)`` from :func:`cosine_alphas_bar`.

    Returns:
        ``x_t (B, T, J, 3)``.
    """
    if x0.shape != e.shape:
        raise D3PRError(f"x0 and e shapes differ: {tuple(x0.shape)} vs {tuple(e.shape)}")
    a, b = _coef(alphas_bar, t, x0)
    return a * x0 + b * (x0 + e)


def predict_x0(x_t: torch.Tensor, e_hat: torch.Tensor, t, alphas_bar: torch.Tensor) -> torch.Tensor:
    """Invert :func:`q_sample` given ê (Eq. 9): ``x̂0 = (x_t − √(1−ᾱ_t)·ê) / (√(1−ᾱ_t) + √ᾱ_t)``.

    Shapes ``(B, T, J, 3)``; ``t`` an int or ``(B,)`` long.
    """
    a, b = _coef(alphas_bar, t, x_t)
    return (x_t - b * e_hat) / (b + a)


def denoise_loss(e_hat: torch.Tensor, e: torch.Tensor, kind: str = "l2") -> torch.Tensor:
    """Loss between predicted and true (normalised) errors, Eq. 7. ``(B, T, J, 3)`` → scalar.

    ``"l2"``: the mean per-joint Euclidean distance ``‖e − ê‖₂`` (as the paper writes it);
    ``"mse"``: the mean squared error over all coordinates.

    Deliberately not :func:`d3prefiner.metrics.mpjpe`: this is the training objective on the
    *normalised* error vectors (unitless, e divided by its mean magnitude in training), chosen
    beside its ``"mse"`` variant, not a pose error reported anywhere; the scheduler stays free of
    the metrics (``tests/test_one_metric.py`` allows it by name).
    """
    if kind == "l2":
        return (e_hat - e).norm(dim=-1).mean()
    if kind == "mse":
        return (e_hat - e).square().mean()
    raise D3PRError(f"loss must be one of {LOSSES}, got {kind!r}")


def per_sample_loss(e_hat: torch.Tensor, e: torch.Tensor, kind: str = "l2") -> torch.Tensor:
    """Like :func:`denoise_loss` but one value per sample: ``(B, T, J, 3)`` → ``(B,)``."""
    if kind == "l2":
        return (e_hat - e).norm(dim=-1).flatten(1).mean(1)
    if kind == "mse":
        return (e_hat - e).square().flatten(1).mean(1)
    raise D3PRError(f"loss must be one of {LOSSES}, got {kind!r}")


class DDIMScheduler:
    """Deterministic DDIM sampler for the noisy-pose diffusion (diffusers style).

    Usage::

        sched = DDIMScheduler(cosine_alphas_bar(50))
        sched.set_timesteps(2)                 # [49, 24]
        x = x_noisy
        for t in sched.timesteps:
            x = sched.step(net(x, y, t), t, x) # the last step returns x̂0

    Args:
        alphas_bar: ``(num_steps,)`` cumulative products (float64 recommended).
    """

    def __init__(self, alphas_bar: torch.Tensor) -> None:
        self.alphas_bar = torch.as_tensor(alphas_bar, dtype=torch.float64)
        self.num_train_timesteps = len(self.alphas_bar)
        self.timesteps: list[int] = []
        self.set_timesteps(1)

    def set_timesteps(self, num_inference_steps: int) -> list[int]:
        """Choose K strided ("trailing") time steps starting at N−1, e.g. K = 2, N = 50 → [49, 24].

        Returns:
            The time steps, decreasing.
        """
        N, K = self.num_train_timesteps, int(num_inference_steps)
        if not 1 <= K <= N:
            raise D3PRError(f"number of DDIM steps must be in [1, {N}], got {K}")
        ts = [int(round(N - i * N / K)) - 1 for i in range(K)]
        self.timesteps = ts
        return ts

    def prev_timestep(self, t: int) -> int | None:
        """The next time step of the schedule after ``t`` (None at the last step)."""
        i = self.timesteps.index(int(t))
        return self.timesteps[i + 1] if i + 1 < len(self.timesteps) else None

    def step(self, e_hat: torch.Tensor, t: int, x_t: torch.Tensor) -> torch.Tensor:
        """One deterministic step (Eq. 9): ``x_t (B, T, J, 3)`` → ``x_{t_prev}``, or x̂0 at the end.

        Args:
            e_hat: predicted error ``(B, T, J, 3)`` in the same units as ``x_t`` (de-normalised).
            t: the current time step, one of :attr:`timesteps`.
            x_t: the current sample ``(B, T, J, 3)``.
        """
        if int(t) not in self.timesteps:
            raise D3PRError(f"time step {t} is not in the schedule {self.timesteps}")
        x0 = predict_x0(x_t, e_hat, int(t), self.alphas_bar)
        t_prev = self.prev_timestep(int(t))
        if t_prev is None:
            return x0
        return q_sample(x0, e_hat, t_prev, self.alphas_bar)

"""Diffusion schedule, forward process, losses and the DDIM scheduler (no network involved)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from d3prefiner.diffusion import (
    DDIMScheduler,
    cosine_alphas_bar,
    denoise_loss,
    per_sample_loss,
    predict_x0,
    q_sample,
)
from d3prefiner.errors import D3PRError

AB = cosine_alphas_bar(50)


def _poses(seed=0, B=3, T=5):
    g = torch.Generator().manual_seed(seed)
    x0 = 0.3 * torch.randn(B, T, 17, 3, generator=g, dtype=torch.float64)
    e = 0.05 * torch.randn(B, T, 17, 3, generator=g, dtype=torch.float64)
    return x0, e


def test_cosine_schedule_hand_values():
    s, T = 0.008, 50

    def f(t):
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2

    assert AB.dtype == torch.float64 and AB.shape == (50,)
    assert AB[0].item() == pytest.approx(f(1) / f(0), rel=1e-12)
    assert AB[10].item() == pytest.approx(f(11) / f(0), rel=1e-9)
    # the step before the end is the plain cosine value; the last beta is clipped at 0.999
    assert AB[48].item() == pytest.approx(f(49) / f(0), rel=1e-9)
    assert AB[48].item() == pytest.approx(9.71e-4, rel=0.01)
    assert AB[49].item() == pytest.approx(AB[48].item() * 0.001, rel=1e-9)
    assert torch.all(AB[1:] < AB[:-1])


def test_zero_terminal_snr_schedule():
    ab = cosine_alphas_bar(50, terminal="zero_snr")
    assert ab[-1].item() == 0.0
    assert ab[0].item() == pytest.approx(AB[0].item(), rel=1e-12)
    assert torch.all(ab[1:] <= ab[:-1])
    with pytest.raises(D3PRError):
        cosine_alphas_bar(50, terminal="nope")


def test_q_sample_matches_eq3_with_noisy_pose():
    x0, e = _poses()
    t = torch.tensor([0, 24, 49])
    xt = q_sample(x0, e, t, AB)
    for i, ti in enumerate(t.tolist()):
        a = AB[ti]
        eps = x0[i] + e[i]  # Eq. 4
        expect = a.sqrt() * x0[i] + (1 - a).sqrt() * eps  # Eq. 3
        torch.testing.assert_close(xt[i], expect)
    # at the last step x_t is (almost) the noisy pose itself
    torch.testing.assert_close(q_sample(x0, e, 49, AB), x0 + e, atol=2e-3, rtol=0)


@settings(max_examples=25, deadline=None)
@given(t=st.integers(0, 49), seed=st.integers(0, 10_000))
def test_predict_x0_inverts_q_sample_at_every_t(t, seed):
    x0, e = _poses(seed)
    xt = q_sample(x0, e, t, AB)
    torch.testing.assert_close(predict_x0(xt, e, t, AB), x0, rtol=0, atol=1e-12)


def test_ddim_timesteps_are_strided_from_the_end():
    s = DDIMScheduler(AB)
    assert s.set_timesteps(1) == [49]
    assert s.set_timesteps(2) == [49, 24]
    assert s.set_timesteps(5) == [49, 39, 29, 19, 9]
    assert s.set_timesteps(50) == list(range(49, -1, -1))
    for bad in (0, 51):
        with pytest.raises(D3PRError):
            s.set_timesteps(bad)


@pytest.mark.parametrize("K", [1, 2, 3, 5])
def test_ddim_with_true_error_returns_x0_exactly(K):
    """With ê = the true e, one step returns x0 (last step) or q_sample(x0, e, t_prev)."""
    x0, e = _poses(1)
    s = DDIMScheduler(AB)
    s.set_timesteps(K)
    x = q_sample(x0, e, s.timesteps[0], AB)
    for i, t in enumerate(s.timesteps):
        x = s.step(e, t, x)
        if i + 1 < K:
            torch.testing.assert_close(x, q_sample(x0, e, s.timesteps[i + 1], AB))
    torch.testing.assert_close(x, x0, rtol=0, atol=1e-12)
    with pytest.raises(D3PRError):
        s.step(e, 7 if 7 not in s.timesteps else 8, x)


def test_starting_from_the_noisy_pose_is_nearly_exact():
    """x_T := x_noisy = x0 + e: exact up to √ᾱ_49 (≈ 6e-4 relative) with clipped betas, and
    exact with the zero-terminal-SNR schedule."""
    x0, e = _poses(2)
    for ab, tol in ((AB, 1e-3), (cosine_alphas_bar(50, terminal="zero_snr"), 1e-12)):
        s = DDIMScheduler(ab)
        s.set_timesteps(2)
        x = x0 + e
        for t in s.timesteps:
            x = s.step(e, t, x)
        assert (x - x0).abs().max().item() < tol * x0.abs().max().item() + 1e-12


def test_residual_mode_inversion():
    """Residual mode: start from x_cf = x_noisy − μ = x0 + r and diffuse r = e − μ."""
    x0, e = _poses(3)
    mu = 0.8 * e + 0.01  # any mean estimate
    r = e - mu
    x_cf = (x0 + e) - mu
    torch.testing.assert_close(x_cf, x0 + r)
    s = DDIMScheduler(cosine_alphas_bar(50, terminal="zero_snr"))
    s.set_timesteps(2)
    x = x_cf
    for t in s.timesteps:
        x = s.step(r, t, x)
    torch.testing.assert_close(x, x0, rtol=0, atol=1e-12)
    for t in (0, 24, 49):
        torch.testing.assert_close(predict_x0(q_sample(x0, r, t, AB), r, t, AB), x0)


def test_losses_hand_computed():
    e = torch.zeros(2, 1, 2, 3)
    e_hat = torch.zeros(2, 1, 2, 3)
    e_hat[0, 0, 0] = torch.tensor([3.0, 4.0, 0.0])  # distance 5 on one of 4 joints
    assert denoise_loss(e_hat, e, "l2").item() == pytest.approx(5 / 4)
    assert denoise_loss(e_hat, e, "mse").item() == pytest.approx(25 / 12)
    torch.testing.assert_close(per_sample_loss(e_hat, e, "l2"), torch.tensor([2.5, 0.0]))
    with pytest.raises(D3PRError):
        denoise_loss(e_hat, e, "l1")

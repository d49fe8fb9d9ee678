"""2D detector-noise model: statistics, temporal correlation, swaps, outliers, determinism."""

import numpy as np
import pytest

from d3prefiner.data.detector import (
    DEFAULT_PROFILE,
    NO_NOISE,
    DetectorProfile,
    apply_detector_noise,
)
from d3prefiner.errors import D3PRError

CLEAN = DetectorProfile(outlier_rate=0.0, swap_rate=0.0)


def _pose(n):
    rng = np.random.default_rng(5)
    return np.repeat(rng.uniform(200, 800, (1, 17, 2)), n, axis=0)


def test_rms_error_matches_the_profile():
    x = _pose(4000)
    errs = [
        apply_detector_noise(x, 50, CLEAN, np.random.default_rng(s)) - x for s in range(30)
    ]  # 30 sequences: bias directions vary between them
    rms = np.sqrt((np.linalg.norm(np.stack(errs), axis=-1) ** 2).mean(axis=(0, 1)))  # (17,)
    np.testing.assert_allclose(rms, CLEAN.rms_error(), rtol=0.1)
    assert 5 < DetectorProfile().rms_error().mean() < 10  # CPN-like, pixels
    assert DEFAULT_PROFILE.scale == 4.0  # calibrated: detected / GT MPJPE 1.5-1.8


def test_jitter_is_correlated_in_time_like_ar1():
    prof = DetectorProfile(bias_px=(0.0,) * 17, outlier_rate=0.0, swap_rate=0.0, tau=0.1)
    e = apply_detector_noise(np.zeros((20000, 17, 2)), 50, prof, np.random.default_rng(0))
    lag1 = (e[1:] * e[:-1]).sum() / (e * e).sum()
    assert abs(lag1 - np.exp(-1 / (50 * 0.1))) < 0.03
    lag20 = (e[20:] * e[:-20]).sum() / (e * e).sum()
    assert lag20 < 0.1


def test_deterministic_per_seed_and_scale():
    x = _pose(200)
    a = apply_detector_noise(x, 50, DEFAULT_PROFILE, np.random.default_rng(7))
    b = apply_detector_noise(x, 50, DEFAULT_PROFILE, np.random.default_rng(7))
    c = apply_detector_noise(x, 50, DEFAULT_PROFILE, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    half = apply_detector_noise(x, 50, CLEAN.scaled(0.5), np.random.default_rng(7))
    full = apply_detector_noise(x, 50, CLEAN, np.random.default_rng(7))
    np.testing.assert_allclose(half - x, 0.5 * (full - x), atol=1e-9)
    np.testing.assert_array_equal(apply_detector_noise(x, 50, NO_NOISE), x)


def test_swaps_exchange_left_and_right_limbs():
    x = np.zeros((5000, 17, 2))
    x[:, [1, 2, 3, 15, 16], 0] = 100.0  # right side at x = 100, left at 0
    prof = NO_NOISE.__class__(
        bias_px=(0.0,) * 17,
        spread_px=(0.0,) * 17,
        outlier_rate=0.0,
        swap_rate=0.05,
        swap_duration=0.1,
    )
    y = apply_detector_noise(x, 50, prof, np.random.default_rng(1))
    swapped_legs = y[:, 4, 0] == 100.0
    assert 0.02 < swapped_legs.mean() < 0.09
    np.testing.assert_array_equal(y[swapped_legs][:, [1, 2, 3], 0], 0.0)
    runs = np.diff(np.flatnonzero(np.diff(swapped_legs.astype(int)) != 0))
    assert np.median(runs) >= 4  # bursts of ~5 frames, not single frames


def test_outliers_are_rare_and_large():
    prof = DetectorProfile(
        bias_px=(0.0,) * 17, spread_px=(0.0,) * 17, swap_rate=0.0, outlier_rate=0.01, outlier_px=50
    )
    e = np.linalg.norm(
        apply_detector_noise(np.zeros((5000, 17, 2)), 50, prof, np.random.default_rng(2)), axis=-1
    )
    hit = e > 1
    assert 0.005 < hit.mean() < 0.02 and np.median(e[hit]) > 20


def test_bad_input():
    with pytest.raises(D3PRError):
        apply_detector_noise(np.zeros((10, 16, 2)), 50)
    with pytest.raises(D3PRError, match="fps"):
        apply_detector_noise(np.zeros((10, 17, 2)), 0)
    with pytest.raises(D3PRError, match="NaN"):
        apply_detector_noise(np.full((10, 17, 2), np.nan), 50)
    with pytest.raises(D3PRError, match="bias_px"):
        DetectorProfile(bias_px=(1.0,) * 16)
    with pytest.raises(D3PRError, match="tau"):
        DetectorProfile(tau=0)

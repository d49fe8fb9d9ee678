"""Baselines on synthetic signals: constants stay, noise falls, ramps survive, root untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from d3prefiner.baselines import (
    FILTERS,
    adaptive,
    apply_baseline,
    baseline_names,
    gaussian,
    one_euro,
    savgol,
    smooth_sequence,
)
from d3prefiner.errors import D3PRError
from d3prefiner.predictions import Predictions, PredictionSequence

torch.set_num_threads(1)
FPS = 50.0


def _pose(seed=0):
    p = np.random.default_rng(seed).normal(0, 0.3, (17, 3))
    p[0] = 0
    return p


@pytest.mark.parametrize("name", FILTERS)
def test_constant_stays_constant(name):
    x = np.repeat(_pose()[None], 120, axis=0)
    y = smooth_sequence(name, x, FPS)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, x, atol=1e-6)


@pytest.mark.parametrize("name", FILTERS)
def test_white_noise_variance_falls(name):
    rng = np.random.default_rng(1)
    clean = np.repeat(_pose()[None], 400, axis=0)
    noise = rng.normal(0, 0.02, clean.shape)
    noise[:, 0] = 0
    y = smooth_sequence(name, clean + noise, FPS)
    var_in = noise[:, 1:].var()
    var_out = (y - clean)[:, 1:].var()
    assert var_out < 0.3 * var_in, (name, var_out / var_in)
    np.testing.assert_array_equal(y[:, 0], 0.0)  # root stays at 0


def test_savgol_preserves_ramps_and_parabolas():
    t = np.arange(90, dtype=np.float64)[:, None, None]
    x = _pose()[None] + 0.01 * t * _pose(2)[None] + 1e-4 * t**2 * _pose(3)[None]
    x -= x[:, :1]
    np.testing.assert_allclose(savgol(x), x, atol=1e-5)


def test_gaussian_does_not_preserve_a_parabola_exactly():
    # the Gaussian blurs curvature (ramps survive in the interior), unlike Savitzky–Golay order 2
    t = np.arange(90, dtype=np.float64)[:, None, None]
    x = 1e-3 * t**2 * np.ones((1, 17, 3))
    x[:, 0] = 0
    assert np.abs(gaussian(x) - x)[10:-10].max() > 1e-3


@pytest.mark.parametrize("F", [1, 2, 3, 4, 5, 30, 31])
def test_savgol_short_sequences(F):
    x = np.random.default_rng(F).normal(0, 0.1, (F, 17, 3))
    y = savgol(x)
    assert y.shape == x.shape and np.isfinite(y).all()
    if F <= 2:  # window shrinks to 1: identity
        np.testing.assert_allclose(y, x, atol=1e-6)


def test_root_trajectory_kept():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 0.1, (60, 17, 3))  # absolute positions, root moving
    for name in FILTERS:
        y = smooth_sequence(name, x, FPS)
        np.testing.assert_allclose(y[:, 0], x[:, 0], atol=1e-6)
        assert not np.allclose(y[:, 1:], x[:, 1:], atol=1e-3)


def test_one_euro_causal_and_tracks_a_step():
    x = np.zeros((200, 17, 3))
    x[50:, 1:] = 0.2
    y = one_euro(x, fps=FPS)
    np.testing.assert_allclose(y[:50], 0.0, atol=1e-7)  # nothing before the step
    assert 0 < y[60, 5, 0] < 0.2
    assert abs(y[-1, 5, 0] - 0.2) < abs(y[60, 5, 0] - 0.2)  # converges towards the new value
    x2 = x.copy()
    x2[150:] += 1.0
    np.testing.assert_array_equal(one_euro(x2, FPS)[:150], y[:150])


def test_one_euro_faster_motion_less_lag():
    # the adaptive cutoff: a larger beta follows a moving joint more closely
    t = np.arange(200)[:, None, None] / FPS
    x = np.zeros((200, 17, 3)) + 0.5 * np.sin(2 * np.pi * 1.0 * t)
    x[:, 0] = 0
    lag_hi = np.abs(one_euro(x, FPS, beta=5.0) - x).mean()
    lag_lo = np.abs(one_euro(x, FPS, beta=0.0) - x).mean()
    assert lag_hi < lag_lo


def test_filter_bad_input():
    with pytest.raises(D3PRError, match="NaN"):
        savgol(np.full((5, 17, 3), np.nan))
    with pytest.raises(D3PRError, match=r"\(F, J, 3\)"):
        gaussian(np.zeros((17, 3)))
    with pytest.raises(D3PRError, match="fps"):
        one_euro(np.zeros((5, 17, 3)), fps=0)
    with pytest.raises(D3PRError, match="unknown filter"):
        smooth_sequence("kalman", np.zeros((5, 17, 3)), FPS)
    with pytest.raises(D3PRError, match="adaptive: noise and max_sigma must be > 0"):
        adaptive(np.zeros((5, 17, 3)), noise=0.0)


def _sine(freq_hz, amplitude_m, noise_m, F=500, fps=25.0, seed=7):
    """Every joint coordinate a sine of its own phase plus white noise; root at 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(F)[:, None, None] / fps
    clean = amplitude_m * np.sin(2 * np.pi * freq_hz * t + rng.uniform(0, 6.3, (1, 17, 3)))
    clean[:, 0] = 0
    noisy = clean + rng.normal(0, noise_m, clean.shape)
    noisy[:, 0] = 0
    return clean, noisy


def _rms(a, b):
    return float(np.sqrt(((a - b)[:, 1:] ** 2).mean()))


def test_adaptive_smooths_slow_motion_and_keeps_fast_motion():
    # slow motion under 1 cm of white noise (noise = 1): about as good as the best fixed σ
    clean, noisy = _sine(0.3, 0.2, 0.01)
    fixed = {s: _rms(gaussian(noisy, s), clean) for s in (0.75, 1.5, 3.0, 6.0)}
    got = _rms(adaptive(noisy, noise=1.0), clean)
    assert got < 0.5 * _rms(noisy, clean) and got < 1.1 * min(fixed.values()), (got, fixed)
    # and at its default (noise 16, for errors correlated in time) it smooths at least as much
    assert _rms(adaptive(noisy), clean) < 0.8 * _rms(noisy, clean)
    # fast motion (1.5 Hz at 25 fps) with 2 mm of noise: a fixed σ = 3 wipes out a third of it;
    # adaptive leaves it as it was (white noise) or nearly (its default noise factor)
    clean, noisy = _sine(1.5, 0.2, 0.002)
    assert _rms(gaussian(noisy, 3.0), clean) > 0.05
    assert _rms(adaptive(noisy, noise=1.0), clean) <= 1.05 * _rms(noisy, clean)
    assert _rms(adaptive(noisy), clean) < 0.15 * _rms(gaussian(noisy, 3.0), clean)


def test_adaptive_with_white_noise_picks_the_risk_of_the_best_sigma():
    # noise = 1: the noise is white, so SURE estimates each σ's true risk; its pick is within a
    # few per cent of the best σ of its grid chosen with the clean signal in view
    clean, noisy = _sine(0.8, 0.1, 0.01, F=800)
    grid = [6.0 * 2.0 ** (-k / 2) for k in range(7)]
    best = min(_rms(gaussian(noisy, s), clean) for s in grid)
    assert _rms(adaptive(noisy, noise=1.0), clean) < 1.05 * best
    from d3prefiner.baselines import params_at_rate

    assert params_at_rate("adaptive", {"max_sigma": 6.0}, 50.0, 25.0) == {"max_sigma": 12.0}


def _preds(n=2, F=40):
    rng = np.random.default_rng(5)
    seqs = []
    for i in range(n):
        gt = rng.normal(0, 0.2, (F, 17, 3)).astype(np.float32)
        gt[:, 0] = 0
        seqs.append(
            PredictionSequence(
                f"S{i}",
                "walking_1",
                "c0",
                FPS,
                rng.normal(size=(F, 17, 2)).astype(np.float32),
                gt + 0.01,
                gt,
            )
        )
    return Predictions(seqs, "lifter")


class FakeNoise:
    """Mimics PoseNoiseModel.closed_form_refine: (B, T, 17, 2), (B, T, 17, 3) → (B, T, 17, 3)."""

    def __init__(self):
        self.shapes = []

    def closed_form_refine(self, pose2d, pred3d):
        self.shapes.append((tuple(pose2d.shape), tuple(pred3d.shape)))
        out = pred3d - 0.01
        out[..., 0, :] = 0
        return out

    # the rest of the d3prefiner.noise.NoiseModel interface (unused by the baseline)
    def mean_error(self, pose2d, pred3d):
        raise NotImplementedError

    sample_error = residual_sample = save = mean_error


def test_apply_baseline_filters():
    p = _preds()
    for name in FILTERS:
        q = apply_baseline(name, p, progress=False)
        assert q.estimator == name and len(q) == len(p)
        for a, b in zip(p, q):
            assert b.pred3d.shape == a.pred3d.shape
            np.testing.assert_array_equal(b.gt3d, a.gt3d)
            assert (b.subject, b.action, b.camera) == (a.subject, a.action, a.camera)


def test_apply_baseline_closed_form_with_fake_model():
    p = _preds(F=30)
    fake = FakeNoise()
    q = apply_baseline("cnd_closed_form", p, noise_model=fake, progress=False)
    assert fake.shapes == [((1, 30, 17, 2), (1, 30, 17, 3))] * 2
    for a, b in zip(p, q):
        np.testing.assert_allclose(b.pred3d[:, 1:], a.gt3d[:, 1:], atol=1e-6)
    assert "cnd_closed_form" in baseline_names()


def test_apply_baseline_errors():
    p = _preds()
    with pytest.raises(D3PRError, match="unknown baseline"):
        apply_baseline("median", p)
    with pytest.raises(D3PRError, match="noise model"):
        apply_baseline("cnd_closed_form", p)
    with pytest.raises(D3PRError, match="not a noise model"):
        apply_baseline("cnd_closed_form", p, noise_model=object())


# ----------------------------------------------------------- the registry: one entry per filter


def test_registry_defaults_are_the_functions_defaults():
    import inspect

    from d3prefiner.baselines import FILTERS

    pairs = (("savgol", savgol), ("one_euro", one_euro), ("gaussian", gaussian),
             ("adaptive", adaptive))  # fmt: skip
    for name, fn in pairs:
        sig = inspect.signature(fn).parameters
        assert dict(FILTERS[name].defaults) == {
            k: p.default for k, p in sig.items() if p.default is not inspect.Parameter.empty
        }
        assert FILTERS[name].label and FILTERS[name].settings and FILTERS[name].candidates


def test_a_registered_filter_reaches_every_place(monkeypatch):
    from d3prefiner import baselines as bl
    from d3prefiner.report.run import filter_settings

    monkeypatch.setattr(bl, "FILTERS", dict(bl.FILTERS))
    f = bl.register_filter(
        "box",
        lambda x, fps, width: np.asarray(x, np.float32),  # the identity, for the plumbing
        defaults={"width": 4},
        in_frames={"width": "real"},
        label="Box filter",
        settings="width {width:g} frames{width_s}",
        candidates=({"width": 2},),
    )
    assert ("box", {"width": 2}) in bl.smoothing_candidates()
    assert bl.params_at_rate("box", {"width": 2}, 50.0, 25.0) == {"width": 4.0}
    assert filter_settings("box", {"fps": 25.0}) == "width 4 frames, 0.16 s at 25 fps"
    assert f.describe({"width": 1}) == "width 1 frames"
    p = _preds()
    q = bl.smooth_predictions(p, {"filter": "box", "width": 3})
    assert q.estimator.endswith("+box(width=3)")
    with pytest.raises(D3PRError, match="takes width, got depth"):
        bl.smooth_predictions(p, {"filter": "box", "depth": 3})
    with pytest.raises(D3PRError, match="reserved"):
        bl.register_filter("cnd_closed_form", f.fn)
    with pytest.raises(D3PRError, match="in_frames"):
        bl.register_filter("bad", f.fn, defaults={"width": 4}, in_frames={"width": "even"})

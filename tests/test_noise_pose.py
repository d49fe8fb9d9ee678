"""PoseNoiseModel: granularities, closed-form refiner, correlated sampling, likelihoods, files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from d3prefiner.errors import D3PRError
from d3prefiner.noise import (
    GRANULARITIES,
    TEMPORALS,
    PoseNoiseModel,
    autocorrelation,
    make_synthetic_predictions,
)
from d3prefiner.noise.temporal import ar1_filter as _ar1
from d3prefiner.predictions import Predictions


@pytest.fixture(scope="module")
def preds():
    return make_synthetic_predictions(n_sequences=8, n_frames=240, seed=0)


@pytest.fixture(scope="module")
def pose_model(preds):
    return PoseNoiseModel().fit(preds)


def _batch(preds, idx=0, T=None):
    s = preds.sequences[idx]
    T = T or s.num_frames
    return torch.from_numpy(s.pose2d[:T])[None], torch.from_numpy(s.pred3d[:T])[None]


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_shapes_root_zero_and_roundtrip(preds, granularity, tmp_path):
    m = PoseNoiseModel(granularity=granularity, window=3, temporal="window").fit(preds)
    y, x = _batch(preds, 1, 60)
    y, x = y.expand(3, -1, -1, -1), x.expand(3, -1, -1, -1)
    for t in TEMPORALS:
        e = m.sample_error(y, x, torch.Generator().manual_seed(0), temporal=t)
        assert e.shape == (3, 60, 17, 3) and e.dtype == torch.float32
        assert torch.all(e[..., 0, :] == 0)
        assert torch.all(m.residual_sample(y, x, torch.Generator().manual_seed(0))[..., 0, :] == 0)
    mu = m.mean_error(y, x)
    assert torch.all(mu[..., 0, :] == 0)
    torch.testing.assert_close(m.closed_form_refine(y, x), x - mu)
    m.save(tmp_path / "n.safetensors")
    back = PoseNoiseModel.load(tmp_path / "n.safetensors")
    assert back.config == m.config
    assert (back.ar1_coef_, back.window_weight_, back.n_frames_) == (
        m.ar1_coef_,
        m.window_weight_,
        m.n_frames_,
    )
    assert torch.equal(back.mean_error(y, x), mu)
    for t in TEMPORALS:
        g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        assert torch.equal(back.sample_error(y, x, g1, t), m.sample_error(y, x, g2, t))


def test_sample_is_mean_plus_residual(pose_model, preds):
    y, x = _batch(preds, 0, 40)
    z = pose_model.draw_z((1, 40), torch.Generator().manual_seed(1))
    e = pose_model.sample_error(y, x, z=z)
    r = pose_model.residual_sample(y, x, z=z)
    torch.testing.assert_close(e, pose_model.mean_error(y, x) + r)


def test_closed_form_refiner_helps_on_held_out(preds):
    train = Predictions(preds.sequences[:6])
    test = Predictions(preds.sequences[6:])
    m = PoseNoiseModel().fit(train)
    for s in test:
        y, x = torch.from_numpy(s.pose2d)[None], torch.from_numpy(s.pred3d)[None]
        gt = torch.from_numpy(s.gt3d)[None]
        before = (x - gt).norm(dim=-1).mean()
        after = (m.closed_form_refine(y, x) - gt).norm(dim=-1).mean()
        assert after < 0.8 * before


def test_fit_arrays_equals_fit(preds, pose_model):
    m = PoseNoiseModel().fit_arrays(
        preds.concat("pose2d"),
        preds.concat("pred3d"),
        preds.concat("gt3d"),
        lengths=[s.num_frames for s in preds],
    )
    torch.testing.assert_close(m.gaussians_[0].cov_, pose_model.gaussians_[0].cov_)
    torch.testing.assert_close(m.acf_, pose_model.acf_)
    assert m.ar1_coef_ == pytest.approx(pose_model.ar1_coef_)


def test_ar1_blockwise_matches_recursion():
    w = torch.randn(2, 300, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rho, c = 0.9, math.sqrt(1 - 0.81)
    ref = torch.empty_like(w)
    ref[:, 0] = w[:, 0]
    for t in range(1, 300):
        ref[:, t] = rho * ref[:, t - 1] + c * w[:, t]
    torch.testing.assert_close(_ar1(w, rho), ref)


def test_ar1_sampler_reproduces_lags_and_covariance(pose_model, preds):
    m = pose_model
    assert 0.5 < m.ar1_coef_ < 0.999  # the synthetic errors are smooth (AR(1), rho = 0.95)
    B, T = 600, 40
    y, x = _batch(preds, 0, T)
    y, x = y.expand(B, -1, -1, -1), x.expand(B, -1, -1, -1)
    r = m.residual_sample(y, x, torch.Generator().manual_seed(0), temporal="ar1").double()
    flat = r[..., 1:, :].reshape(B, T, 48)  # (B, T, 48)
    L = m.gaussians_[0].conditional_chol_
    zs = torch.linalg.solve_triangular(L, flat.reshape(-1, 48).T, upper=False).T.reshape(B, T, 48)
    acf = autocorrelation(zs, 10, demean=False)
    rho = m.ar1_coef_
    for k in (1, 2, 5, 10):
        assert abs(float(acf[k]) - rho**k) < 0.03
    # per-frame covariance: frame 20 across the batch vs Σ_{a|b}
    emp = torch.cov(flat[:, 20].T)
    ccov = m.gaussians_[0].conditional_cov_
    assert (emp - ccov).abs().max() < 0.2 * ccov.diagonal().max()
    np.testing.assert_allclose(emp.diagonal(), ccov.diagonal(), rtol=0.2)


def test_window_sampler_reproduces_block_weight(preds):
    m = PoseNoiseModel(temporal="window", temporal_window=10).fit(preds)
    assert 0.0 < m.window_weight_ < 1.0
    z = m.draw_z((2000, 20), torch.Generator().manual_seed(0)).double()  # two blocks
    zz = z.reshape(2000, 20, -1)
    within = (zz[:, 0] * zz[:, 9]).mean()
    across = (zz[:, 9] * zz[:, 10]).mean()
    assert abs(float(within) - m.window_weight_) < 0.03
    assert abs(float(across)) < 0.03
    assert abs(float((zz**2).mean()) - 1.0) < 0.02


def test_log_likelihood_consistency(pose_model, preds):
    m = pose_model
    s = preds.sequences[3]
    white = m.sequence_log_likelihood(s.pose2d, s.pred3d, s.gt3d, "white")
    a, b = m._arrays(s.pose2d, s.pred3d, s.gt3d)
    ref = float(m.gaussians_[0].log_likelihood(a[:, 0], b[:, 0]).sum())
    assert white == pytest.approx(ref, rel=1e-9)
    # the temporal models reduce to white with zero correlation
    m0 = PoseNoiseModel.__new__(PoseNoiseModel)
    m0.__dict__.update(m.__dict__)
    m0.ar1_coef_, m0.window_weight_ = 0.0, 0.0
    for t in ("ar1", "window"):
        assert m0.sequence_log_likelihood(s.pose2d, s.pred3d, s.gt3d, t) == pytest.approx(white)
    # smooth errors: the correlated models describe held-out data better than white
    train, test = Predictions(preds.sequences[:6]), Predictions(preds.sequences[6:])
    mt = PoseNoiseModel().fit(train)
    ll = {t: mt.log_likelihood(test, t) for t in TEMPORALS}
    assert ll["ar1"] > ll["white"] and ll["window"] > ll["white"]


def test_autocorrelation_helper():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(1, 20000, 3, generator=g, dtype=torch.float64)
    acf = autocorrelation(_ar1(w, 0.8)[0], 5)
    np.testing.assert_allclose(acf.numpy(), 0.8 ** np.arange(6), atol=0.03)
    white = autocorrelation([w[0, :10000].numpy(), w[0, 10000:].numpy()], 3)
    assert float(white[0]) == 1.0 and np.abs(white[1:].numpy()).max() < 0.03
    with pytest.raises(D3PRError):
        autocorrelation(torch.zeros(5), 2)


def test_explained_variance(pose_model, preds):
    ev = pose_model.explained_variance_ratio(preds)
    # equal up to the ridge (the fitted value uses the ridged Σ_{a|b})
    assert ev == pytest.approx(pose_model.gaussians_[0].explained_variance_ratio(), rel=1e-3)
    assert 0.0 < ev < 1.0


def test_bad_inputs(preds, pose_model):
    with pytest.raises(D3PRError, match="granularity"):
        PoseNoiseModel(granularity="frame")
    with pytest.raises(D3PRError, match="temporal"):
        PoseNoiseModel(temporal="pink")
    with pytest.raises(D3PRError, match="odd"):
        PoseNoiseModel(granularity="window", window=4)
    with pytest.raises(D3PRError, match="not fitted"):
        PoseNoiseModel().mean_error(torch.zeros(1, 2, 17, 2), torch.zeros(1, 2, 17, 3))
    no_gt = Predictions([s.__class__(**{**s.__dict__, "gt3d": None}) for s in preds])
    with pytest.raises(D3PRError, match="gt3d"):
        PoseNoiseModel().fit(no_gt)
    with pytest.raises(D3PRError, match="too few"):
        PoseNoiseModel().fit(make_synthetic_predictions(n_sequences=1, n_frames=100))
    y, x = _batch(preds, 0, 10)
    with pytest.raises(D3PRError, match=r"\(B, T\)"):
        pose_model.mean_error(y[:, :5], x)
    with pytest.raises(D3PRError, match="pred3d"):
        pose_model.mean_error(y, x[..., :2])
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(D3PRError, match="NaN"):
        pose_model.sample_error(y, bad)
    with pytest.raises(D3PRError, match="z"):
        pose_model.residual_sample(y, x, z=torch.zeros(1, 10, 1, 3))
    with pytest.raises(D3PRError, match="sum"):
        PoseNoiseModel().fit_arrays(y[0], x[0], x[0], lengths=[3, 3])


def test_load_noise_model_dispatches_on_the_file_format(pose_model, tmp_path):
    from d3prefiner.io import save_safetensors
    from d3prefiner.noise import NoiseModel, load_noise_model, register_noise_format

    path = tmp_path / "noise.safetensors"
    pose_model.save(path)
    back = load_noise_model(path)
    assert isinstance(back, PoseNoiseModel) and isinstance(back, NoiseModel)
    other = tmp_path / "other.safetensors"
    save_safetensors(other, {"x": torch.zeros(1)}, {"format": "someone.Else"})
    with pytest.raises(D3PRError, match="not a noise model file"):
        load_noise_model(other)
    register_noise_format("someone.Else", lambda p: object())  # loads something else
    with pytest.raises(D3PRError, match="not a noise model"):
        load_noise_model(other)
    (tmp_path / "junk.safetensors").write_text("not safetensors")
    with pytest.raises(D3PRError, match="not a readable"):
        load_noise_model(tmp_path / "junk.safetensors")


def test_with_ridge_leaves_the_model_unchanged(pose_model, preds):
    y, x = _batch(preds, T=30)[:2]
    before = pose_model.mean_error(y, x).clone()
    ridge = pose_model.config.ridge
    other = pose_model.with_ridge(0.5)
    assert other.config.ridge == 0.5 and pose_model.config.ridge == ridge
    assert not torch.allclose(other.mean_error(y, x), before)
    torch.testing.assert_close(pose_model.mean_error(y, x), before)

"""ConditionalGaussian: hand-checked values, recovery, streaming, degenerate inputs, files, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from d3prefiner.errors import D3PRError
from d3prefiner.noise import ConditionalGaussian


def _hand_data():
    # b = ±1 around 3, a = 1 + (b - 3) + s with s = ±1 uncorrelated with b (by construction):
    # mean (1, 3), ML covariance [[2, 1], [1, 1]].
    b = np.array([-1.0, 1.0, -1.0, 1.0]) + 3.0
    s = np.array([-1.0, -1.0, 1.0, 1.0])
    a = 1.0 + (b - 3.0) + s
    return a[:, None], b[:, None]


def test_two_dimensional_case_by_hand():
    a, b = _hand_data()
    cg = ConditionalGaussian(ridge=0.0).fit(a, b)
    np.testing.assert_allclose(cg.mean_.numpy(), [1.0, 3.0])
    np.testing.assert_allclose(cg.cov_.numpy(), [[2.0, 1.0], [1.0, 1.0]], atol=1e-12)
    # μ_{a|b}(5) = 1 + (1/1)(5 - 3) = 3 ; Σ_{a|b} = 2 - 1·1/1 = 1
    np.testing.assert_allclose(cg.conditional_mean(np.array([[5.0]])), [[3.0]])
    np.testing.assert_allclose(cg.conditional_cov_.numpy(), [[1.0]], atol=1e-12)
    ll = cg.log_likelihood(np.array([[3.5]]), np.array([[5.0]]))
    np.testing.assert_allclose(ll, [-0.5 * 0.25 - 0.5 * math.log(2 * math.pi)])
    assert cg.explained_variance_ratio() == pytest.approx(0.5)


def _random_joint(da, db, seed):
    g = np.random.default_rng(seed)
    A = g.normal(size=(da + db, da + db))
    cov = A @ A.T + 0.5 * np.eye(da + db)
    mean = g.normal(size=da + db) * 3
    return mean, cov


def test_known_parameters_recovered():
    da, db = 3, 4
    mean, cov = _random_joint(da, db, 0)
    z = np.random.default_rng(1).multivariate_normal(mean, cov, size=100_000)
    cg = ConditionalGaussian().fit(z[:, :da], z[:, da:])
    s_aa, s_ab, s_bb = cov[:da, :da], cov[:da, da:], cov[da:, da:]
    coef = np.linalg.solve(s_bb, s_ab.T).T
    ccov = s_aa - coef @ s_ab.T
    np.testing.assert_allclose(cg.mean_.numpy(), mean, atol=0.05 * np.sqrt(np.diag(cov)).max())
    np.testing.assert_allclose(cg.coef_.numpy(), coef, atol=0.03)
    np.testing.assert_allclose(cg.conditional_cov_.numpy(), ccov, atol=0.05 * np.abs(ccov).max())


def test_zero_cross_covariance_gives_marginal():
    g = np.random.default_rng(2)
    b = g.normal(size=(500, 3))
    a = g.normal(size=(500, 2)) + [1.0, -2.0]
    bc = np.c_[b - b.mean(0), np.ones(500)]
    a = a - bc @ np.linalg.lstsq(bc, a - a.mean(0), rcond=None)[0]  # exactly uncorrelated with b
    cg = ConditionalGaussian().fit(a, b)
    assert np.abs(cg.cov_.numpy()[:2, 2:]).max() < 1e-10
    mu = cg.conditional_mean(g.normal(size=(7, 3)) * 10)
    np.testing.assert_allclose(mu, np.broadcast_to(cg.mean_.numpy()[:2], (7, 2)), atol=1e-8)
    np.testing.assert_allclose(
        cg.conditional_cov_.numpy(), cg.cov_.numpy()[:2, :2], rtol=1e-5, atol=1e-9
    )


def test_sample_mean_and_covariance_match():
    mean, cov = _random_joint(3, 2, 3)
    z = np.random.default_rng(4).multivariate_normal(mean, cov, size=2000)
    cg = ConditionalGaussian().fit(z[:, :3], z[:, 3:])
    cond = torch.tensor([[0.5, -1.0]], dtype=torch.float64).expand(100_000, 2)
    s = cg.sample(cond, generator=torch.Generator().manual_seed(0))
    mu = cg.conditional_mean(cond[:1])[0]
    ccov = cg.conditional_cov_
    sd = torch.sqrt(torch.diagonal(ccov))
    assert torch.all((s.mean(0) - mu).abs() < 4 * sd / math.sqrt(len(s)))
    emp = torch.cov(s.T)
    assert (emp - ccov).abs().max() < 0.03 * ccov.abs().max()
    # given z, the sample is exactly μ + L z
    zz = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = cg.sample(cond[:5], z=zz)
    torch.testing.assert_close(out, mu + zz @ cg.conditional_chol_.T)


def test_streamed_fit_equals_one_shot():
    mean, cov = _random_joint(4, 6, 5)
    z = np.random.default_rng(6).multivariate_normal(mean + 100.0, cov, size=3001)
    z[500:2999] = z[500:2999].astype(np.float32)  # that chunk goes in as a float32 tensor
    one = ConditionalGaussian().fit(z[:, :4], z[:, 4:])
    streamed = ConditionalGaussian()
    for lo, hi in [(0, 1), (1, 1), (1, 500), (500, 2999), (2999, 3001)]:
        chunk = torch.from_numpy(z[lo:hi]).float() if lo == 500 else z[lo:hi]
        streamed.partial_fit(chunk[:, :4], chunk[:, 4:])
    assert streamed.n_samples_seen_ == 3001
    torch.testing.assert_close(streamed.mean_, one.mean_, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(streamed.cov_, one.cov_, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(
        streamed.conditional_cov_, one.conditional_cov_, rtol=1e-8, atol=1e-9
    )


def test_degenerate_columns_handled_by_ridge():
    g = np.random.default_rng(7)
    b = g.normal(size=(400, 3))
    a = b @ g.normal(size=(3, 2)) + 0.1 * g.normal(size=(400, 2))
    ref = ConditionalGaussian().fit(a, b)
    q = g.normal(size=(10, 3))
    # duplicated and constant columns in b
    b2 = np.c_[b, b[:, :1], np.full(400, 7.0)]
    dup = ConditionalGaussian().fit(a, b2)
    q2 = np.c_[q, q[:, :1], np.full(10, 7.0)]
    np.testing.assert_allclose(dup.conditional_mean(q2), ref.conditional_mean(q), atol=1e-4)
    # a constant error column: its conditional variance is ~0 but sampling still works
    a3 = np.c_[a, np.zeros(400)]
    const = ConditionalGaussian().fit(a3, b)
    s = const.sample(torch.from_numpy(q), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(s).all()
    assert s[:, 2].abs().max() < 1e-3
    assert np.isfinite(const.log_likelihood(a3[:5], b[:5])).all()


def test_save_load_identical(tmp_path):
    mean, cov = _random_joint(3, 5, 8)
    z = np.random.default_rng(9).multivariate_normal(mean, cov, size=300)
    cg = ConditionalGaussian(ridge=1e-5).fit(z[:, :3], z[:, 3:])
    cg.save(tmp_path / "cg.safetensors")
    back = ConditionalGaussian.load(tmp_path / "cg.safetensors")
    assert back.ridge == 1e-5 and back.n_samples_seen_ == 300
    cond = torch.from_numpy(z[:20, 3:]).float()
    assert torch.equal(back.conditional_mean(cond), cg.conditional_mean(cond))
    s1 = cg.sample(cond, generator=torch.Generator().manual_seed(3))
    s2 = back.sample(cond, generator=torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2) and s1.dtype == torch.float32
    # a loaded model keeps streaming
    back.partial_fit(z[:10, :3], z[:10, 3:])
    assert back.n_samples_seen_ == 310


def test_errors():
    cg = ConditionalGaussian()
    with pytest.raises(D3PRError, match="not fitted"):
        cg.conditional_mean(np.zeros((1, 2)))
    with pytest.raises(D3PRError, match="not fitted"):
        _ = cg.conditional_cov_
    with pytest.raises(D3PRError, match="too few"):
        ConditionalGaussian().fit(np.zeros((5, 3)), np.zeros((5, 4)))
    bad = np.ones((10, 1))
    bad[3] = np.nan
    with pytest.raises(D3PRError, match="NaN"):
        ConditionalGaussian().fit(bad, np.ones((10, 1)))
    with pytest.raises(D3PRError, match="rows"):
        ConditionalGaussian().fit(np.zeros((10, 1)), np.zeros((9, 1)))
    with pytest.raises(D3PRError, match="2-D"):
        ConditionalGaussian().fit(np.zeros(10), np.zeros((10, 1)))
    a, b = _hand_data()
    cg = ConditionalGaussian().fit(a, b)
    with pytest.raises(D3PRError, match=r"\(Da, Db\)"):
        cg.partial_fit(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(D3PRError, match="expected shape"):
        cg.conditional_mean(np.zeros((3, 2)))
    with pytest.raises(D3PRError, match="ridge"):
        ConditionalGaussian(ridge=-1.0)


def test_load_rejects_other_files(tmp_path):
    from d3prefiner.io import save_safetensors

    save_safetensors(tmp_path / "x.safetensors", {"w": torch.zeros(2)}, {"format": "other"})
    with pytest.raises(D3PRError, match="not a ConditionalGaussian"):
        ConditionalGaussian.load(tmp_path / "x.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(D3PRError):
        ConditionalGaussian.load(tmp_path / "junk.safetensors")


def test_the_ridge_does_not_inflate_the_samples():
    """The ridge regularises the regression only: at any ridge the samples' covariance is that of
    the fitted regression's residual ``a − C·b`` on the fitted rows (a relative ridge of 100 once
    made the samples ten times the estimator's real error)."""
    rng = np.random.default_rng(0)
    b = rng.normal(size=(20000, 4))
    a = 0.5 * b[:, :3] + rng.normal(scale=0.1, size=(20000, 3))
    spread = []
    for ridge in (1e-6, 1.0, 100.0):
        g = ConditionalGaussian(ridge).fit(torch.from_numpy(a), torch.from_numpy(b))
        mean, coef = g.mean_.numpy(), g.coef_.numpy()
        resid = (a - mean[:3]) - (b - mean[3:]) @ coef.T
        assert np.allclose(g.conditional_cov_.numpy(), np.cov(resid.T, bias=True), atol=1e-6)
        spread.append(float(np.trace(g.conditional_cov_.numpy())))
    assert spread[0] == pytest.approx(3 * 0.1**2, rel=0.05)  # the true residual
    assert spread[0] < spread[1] < spread[2] <= float(np.trace(np.cov(a.T, bias=True))) * 1.001

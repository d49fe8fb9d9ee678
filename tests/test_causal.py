"""Causal mode: an output frame does not change when later input frames change (refiner and
lifters), while the default (centred windows) does read later frames."""

import numpy as np
import pytest
import torch

from conftest import run_cli, tiny_refiner_files
from d3prefiner.errors import ArgumentError
from d3prefiner.lifters import build_lifter
from d3prefiner.lifters.predict import causal_index as lifter_index
from d3prefiner.lifters.predict import predict
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import ApplyOptions, Refiner
from d3prefiner.refiner.core import causal_index
from d3prefiner.refiner.guard import GuardRange, causal_guard, disagreement, shrink_weight

torch.set_num_threads(1)
K = 25  # frames 0..K are compared; every later frame is changed


def _later_changed(a: np.ndarray, seed: int, scale: float) -> np.ndarray:
    b = a.copy()
    b[K + 1 :] += np.random.default_rng(seed).normal(0, scale, b[K + 1 :].shape).astype(b.dtype)
    return b


@pytest.fixture(scope="module")
def refiner_files(tmp_path_factory):
    return tiny_refiner_files(tmp_path_factory.mktemp("causal"))


def test_refiner_output_ignores_later_frames(refiner_files):
    r = Refiner.load(refiner_files / "ckpt")
    s = Predictions.load(refiner_files / "p.npz").sequences[0]
    y2, x2 = _later_changed(s.pose2d, 0, 0.5), _later_changed(s.pred3d, 1, 0.5)
    a = r.refine(s.pose2d, s.pred3d, batch_size=7, causal=True)
    b = r.refine(y2, x2, batch_size=5, causal=True)
    assert np.abs(a[: K + 1] - b[: K + 1]).max() < 1e-6
    assert np.abs(a[K + 1 :] - b[K + 1 :]).max() > 1e-4
    assert np.abs(a - s.pred3d).max() > 1e-4  # the network did change the poses
    centred = r.refine(s.pose2d, s.pred3d), r.refine(y2, x2)
    assert np.abs(centred[0][: K + 1] - centred[1][: K + 1]).max() > 1e-5  # reads ahead


@pytest.mark.parametrize("fps", [50.0, 15.0])
def test_causal_at_another_rate_resamples_without_reading_ahead(refiner_files, fps):
    r = Refiner.load(refiner_files / "ckpt")
    assert r.fps == 25.0
    s = Predictions.load(refiner_files / "p.npz").sequences[2]
    y2, x2 = _later_changed(s.pose2d, 6, 0.5), _later_changed(s.pred3d, 7, 0.5)
    a = r.refine(s.pose2d, s.pred3d, causal=True, fps=fps)
    b = r.refine(y2, x2, causal=True, fps=fps)
    assert np.abs(a[: K + 1] - b[: K + 1]).max() < 1e-6
    own = r.refine(s.pose2d, s.pred3d, causal=True, fps=fps, resample=False)
    assert np.abs(a - own).max() > 1e-5  # it did refine at the training rate


def test_apply_causal_with_the_guard(refiner_files):
    r = Refiner.load(refiner_files / "ckpt")
    preds = Predictions.load(refiner_files / "p.npz")
    s = preds.sequences[1]
    changed = Predictions([s.__class__(**{**s.__dict__, "pose2d": _later_changed(s.pose2d, 2, 0.2),
                                          "pred3d": _later_changed(s.pred3d, 3, 0.2)})])  # fmt: skip
    opts = ApplyOptions(causal=True, strength=1.0)
    a = r.apply(Predictions([s]), opts).predictions.sequences[0].pred3d
    b = r.apply(changed, opts).predictions.sequences[0].pred3d
    np.testing.assert_allclose(a[: K + 1], b[: K + 1], atol=1e-6)
    # the guard's weight per frame comes from the frames so far: a running median
    r = disagreement(s.pose2d, s.pred3d)
    bounds = GuardRange(0.0, 0.0, float(np.median(r)), 1)  # half the frames beyond the range
    w = causal_guard(bounds, s.pose2d, s.pred3d)
    w2 = causal_guard(bounds, changed.sequences[0].pose2d, changed.sequences[0].pred3d)
    np.testing.assert_array_equal(w[: K + 1], w2[: K + 1])
    assert (w <= 1).all() and np.ptp(w) > 0.01
    assert w[0] == shrink_weight(r[0], bounds)
    assert w[-1] == shrink_weight(float(np.median(r)), bounds)
    with pytest.raises(ArgumentError, match="later frames"):
        ApplyOptions(causal=True, smooth="savgol")


@pytest.mark.parametrize("model, kwargs", [("tcn", {"depth": 1}), ("mixste", {})])
def test_lifter_output_ignores_later_frames(model, kwargs):
    torch.manual_seed(0)
    net = build_lifter(model, "tiny", **kwargs).eval()
    y = np.random.default_rng(4).normal(0, 0.3, (60, 17, 2)).astype(np.float32)
    y2 = _later_changed(y, 5, 0.3)
    a, b = (predict(net, [v], causal=True, batch_size=16)[0] for v in (y, y2))
    np.testing.assert_allclose(a[: K + 1], b[: K + 1], atol=1e-5)
    assert np.abs(a[K + 1 :] - b[K + 1 :]).max() > 1e-4
    c, d = (predict(net, [v])[0] for v in (y, y2))
    assert np.abs(c[: K + 1] - d[: K + 1]).max() > 1e-4  # the default reads ahead


def test_causal_indices():
    np.testing.assert_array_equal(causal_index(4, 3), [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3]])
    idx = lifter_index(5, 2, context=1)  # output position 1 is frame f; the right context is f
    np.testing.assert_array_equal(idx[3], [1, 2, 3, 3])
    assert (idx <= np.arange(5)[:, None]).all()


def test_refine_cli_has_causal(refiner_files, tmp_path, capsys):
    code, out = run_cli(["refine", refiner_files / "ckpt", refiner_files / "p.npz", "-o",
                         tmp_path / "r.npz", "--causal", "--no-progress"], capsys)  # fmt: skip
    assert code in (0, None), out
    assert Predictions.load(tmp_path / "r.npz").num_frames == 180
    code, out = run_cli(["refine", refiner_files / "ckpt", refiner_files / "p.npz", "-o",
                         tmp_path / "s.npz", "--causal", "--smooth", "gaussian"], capsys)  # fmt: skip
    assert code == 2 and "--smooth" in out and not (tmp_path / "s.npz").exists()

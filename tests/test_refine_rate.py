"""A refiner meets input at another frame rate than its training data: it refines at its own
rate and interpolates the correction back (Refiner.refine(fps=), d3pr refine --resample)."""

from dataclasses import replace

import numpy as np
import pytest

from conftest import run_cli, tiny_refiner_files
from d3prefiner.errors import D3PRError
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import Refiner


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tiny_refiner_files(tmp_path_factory.mktemp("rate"))


def _at(preds: Predictions, fps: float) -> Predictions:
    return Predictions([replace(s, fps=fps) for s in preds], preds.estimator)


def test_checkpoint_records_the_training_rate(files):
    refiner = Refiner.load(files / "ckpt")
    assert refiner.fps == 25.0  # the synthetic predictions' rate
    assert refiner.refine_rate(25.0) is None and refiner.refine_rate(50.0) == 25.0
    assert refiner.refine_rate(50.0, resample=False) is None
    with pytest.raises(D3PRError, match="frame rate must be > 0"):
        refiner.refine_rate(0.0)
    old = Refiner(refiner.config, refiner.model, refiner.noise_model, {"pose3d_scale": 0.5})
    assert old.fps is None and old.refine_rate(50.0) is None  # an old checkpoint: as before


def test_own_rate_or_no_resample_is_the_plain_refinement(files):
    refiner = Refiner.load(files / "ckpt")
    s = Predictions.load(files / "p.npz").sequences[0]
    plain = refiner.refine(s.pose2d, s.pred3d)
    np.testing.assert_array_equal(refiner.refine(s.pose2d, s.pred3d, fps=25.0), plain)
    np.testing.assert_array_equal(
        refiner.refine(s.pose2d, s.pred3d, fps=50.0, resample=False), plain
    )


def test_twice_the_rate_is_refined_on_every_other_frame(files):
    # 50 fps input for a 25 fps refiner: frames 0, 2, 4, ... are refined as a 25 fps sequence;
    # the odd frames get the mean of their neighbours' corrections (the last one, its left one's)
    refiner = Refiner.load(files / "ckpt")
    s = Predictions.load(files / "p.npz").sequences[1]
    x, y = s.pred3d.astype(np.float64), s.pose2d
    out = refiner.refine(y, s.pred3d, fps=50.0)
    even = refiner.refine(y[::2], s.pred3d[::2]).astype(np.float64)
    corr = even - x[::2]
    np.testing.assert_allclose(out[::2], even, atol=1e-5)
    mid = (corr[:-1] + corr[1:]) / 2
    np.testing.assert_allclose(out[1:-1:2], x[1:-1:2] + mid, atol=1e-5)
    np.testing.assert_allclose(out[-1], x[-1] + corr[-1], atol=1e-5)  # 60 frames: 59 is odd
    assert not np.allclose(out, refiner.refine(y, s.pred3d), atol=1e-4)  # it did change things
    np.testing.assert_allclose(out[:, 0], s.pred3d[:, 0], atol=1e-6)  # root passes through


def test_half_the_rate_is_upsampled_there_and_back(files):
    refiner = Refiner.load(files / "ckpt")
    s = Predictions.load(files / "p.npz").sequences[2]
    out = refiner.refine(s.pose2d, s.pred3d, fps=12.5)
    assert out.shape == s.pred3d.shape and np.isfinite(out).all()
    # every input frame k sits on resampled frame 2k, so no frame is interpolated on the way back
    up = np.repeat(np.arange(60), 2)[:119] + np.tile([0.0, 0.5], 60)[:119]  # 0, .5, 1, ..., 59
    lo, w = np.floor(up).astype(int), (up - np.floor(up))[:, None, None]
    hi = np.minimum(lo + 1, 59)
    y2 = ((1 - w) * s.pose2d[lo] + w * s.pose2d[hi]).astype(np.float32)
    x2 = ((1 - w) * s.pred3d[lo] + w * s.pred3d[hi]).astype(np.float32)
    np.testing.assert_allclose(out, refiner.refine(y2, x2)[::2], atol=1e-5)


def test_cli_says_what_it_does_with_another_rate(files, capsys, tmp_path):
    _at(Predictions.load(files / "p.npz"), 50.0).save(tmp_path / "p50.npz")
    args = ["refine", files / "ckpt", tmp_path / "p50.npz", "--no-progress"]
    code, out = run_cli([*args, "-o", tmp_path / "r.npz"], capsys)
    assert code == 0, out
    assert "training rate, 25 fps: sequences 3 at 50 fps are resampled" in out
    code, out = run_cli([*args, "-o", tmp_path / "r2.npz", "--no-resample"], capsys)
    assert code == 0 and "--no-resample: sequences 3 at 50 fps are refined at their own" in out
    a = Predictions.load(tmp_path / "r.npz").concat("pred3d")
    b = Predictions.load(tmp_path / "r2.npz").concat("pred3d")
    assert a.shape == b.shape and not np.allclose(a, b, atol=1e-4)
    code, out = run_cli(["refine", files / "ckpt", files / "p.npz", "-o", tmp_path / "r3.npz",
                         "--no-progress"], capsys)  # fmt: skip
    assert code == 0 and "training rate" not in out  # its own rate: nothing to say


def test_a_filter_chosen_at_the_training_rate_keeps_its_duration():
    from d3prefiner.baselines import params_at_rate, savgol, smooth_predictions

    assert params_at_rate("savgol", {"window": 9}, 50.0, 25.0) == {"window": 17}
    assert params_at_rate("savgol", {"window": 9}, 12.5, 25.0) == {"window": 5}
    assert params_at_rate("gaussian", {"sigma": 3.0}, 50.0, 25.0) == {"sigma": 6.0}
    assert params_at_rate("one_euro", {"beta": 0.1}, 50.0, 25.0) == {"beta": 0.1}  # seconds
    assert params_at_rate("savgol", {"window": 9}, 25.0, 25.0) == {"window": 9}
    assert params_at_rate("savgol", {"window": 9}, 50.0, None) == {"window": 9}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 17, 3)).astype(np.float32)
    x[:, 0] = 0
    from d3prefiner.predictions import PredictionSequence

    preds = Predictions([PredictionSequence("S", "a", "c", 50.0, x[..., :2], x)], "e")
    out = smooth_predictions(preds, {"filter": "savgol", "window": 9}, reference_fps=25.0)
    np.testing.assert_allclose(out.sequences[0].pred3d, savgol(x, window=17), atol=1e-6)

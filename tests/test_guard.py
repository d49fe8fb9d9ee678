"""The out-of-distribution guard: the 2D–3D disagreement, its training range, the shrink, and the
CLI's warning — silent on the training estimator's own kind of input, loud on a more accurate one."""

import math

import numpy as np
import pytest

from d3prefiner.cli import main
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.refiner import FULL, ApplyOptions, Refiner, RefinerConfig, train_refiner
from d3prefiner.refiner.guard import GuardRange, disagreement, guard_stats, shrink_weight


def test_disagreement_is_zero_for_a_weak_perspective_projection_and_in_metres():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 0.3, (5, 17, 3))
    X -= X[:, :1]
    y = 0.4 * X[..., :2] + 0.1  # scale 0.4, shift 0.1: an exact weak-perspective view
    assert np.allclose(disagreement(y, X), 0.0, atol=1e-9)
    noisy = X.copy()
    noisy[..., 0] += 0.05  # a constant shift of x is absorbed by the fitted shift
    assert np.allclose(disagreement(y, noisy), 0.0, atol=1e-9)
    bent = X.copy()
    bent[:, 5, 0] += 0.17  # one joint 0.17 m off in x: RMS over 17 joints ≈ 0.17·sqrt(16)/17
    r = disagreement(y, bent)
    assert np.all((r > 0.03) & (r < 0.05))


def test_shrink_weight_is_one_inside_and_falls_outside():
    st = GuardRange(low_m=0.1, median_m=0.15, high_m=0.2, sequences=10)
    assert shrink_weight(0.15, st) == 1.0
    assert shrink_weight(0.1, st) == 1.0 and shrink_weight(0.2, st) == 1.0
    assert shrink_weight(0.1 / 1.05, st) == pytest.approx(math.exp(-math.log(1.05) / 0.05))
    assert shrink_weight(0.2 * 1.15, st) == pytest.approx(math.exp(-math.log(1.15) / 0.05))
    assert shrink_weight(0.4, st) < 1e-5


def _noisy_like(preds, scale, seed):
    rng = np.random.default_rng(seed)
    out = []
    for s in preds:
        x = s.gt3d + rng.normal(0, scale, s.gt3d.shape).astype(np.float32)
        x[:, 0] = s.gt3d[:, 0]
        out.append(x)
    return preds.with_pred3d(out, estimator=f"noise{scale}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("guard")
    train = _noisy_like(make_synthetic_predictions(n_sequences=8, n_frames=120, seed=0), 0.05, 0)
    cfg = RefinerConfig.from_preset("tiny", "paper", steps=1, use_cnd=False, window=9,
                                    train_stride=3, refine_stride=9)  # fmt: skip
    train_refiner(cfg, train, None, d / "ckpt", progress=False)
    return d, train


def test_checkpoint_records_the_range_and_flags_only_unlike_input(trained):
    d, train = trained
    ref = Refiner.load(d / "ckpt")
    st = ref.calibration.guard
    assert st.sequences == len(train) and 0 < st.low_m < st.median_m < st.high_m
    same = _noisy_like(make_synthetic_predictions(n_sequences=6, n_frames=120, seed=5), 0.05, 9)
    assert ref.apply(same, FULL.replace(guard="warn")).flags == []  # the same estimator: in range
    better = _noisy_like(make_synthetic_predictions(n_sequences=6, n_frames=120, seed=5), 0.005, 9)
    full = ref.apply(better, FULL)
    shrunk = ref.apply(better, ApplyOptions(strength=1.0))
    assert full.flags == []  # the guard off: nothing computed
    flags = shrunk.flags
    assert len(flags) == 6 and all(f.weight < 0.2 for f in flags)
    for b, f, s, fl in zip(better, full.predictions, shrunk.predictions, flags):
        np.testing.assert_allclose(s.pred3d - b.pred3d, fl.weight * (f.pred3d - b.pred3d),
                                   atol=1e-5)  # fmt: skip


def test_refine_cli_warns_in_words_for_a_more_accurate_estimator(trained, tmp_path, capsys):
    d, _ = trained
    better = _noisy_like(make_synthetic_predictions(n_sequences=4, n_frames=120, seed=5), 0.005, 9)
    better.save(tmp_path / "better.npz")
    with pytest.raises(SystemExit) as exc:
        main(["refine", str(d / "ckpt"), str(tmp_path / "better.npz"), "-o",
              str(tmp_path / "r.npz"), "--no-progress"])  # fmt: skip
    assert exc.value.code in (0, None)
    err = capsys.readouterr().err
    assert "4 of 4 sequences" in err and "another estimator" in err and "shrunk" in err
    assert "below the" in err  # a far more accurate 3D agrees better with exact 2D here
    same = _noisy_like(make_synthetic_predictions(n_sequences=4, n_frames=120, seed=5), 0.05, 9)
    same.save(tmp_path / "same.npz")
    with pytest.raises(SystemExit):
        main(["refine", str(d / "ckpt"), str(tmp_path / "same.npz"), "-o",
              str(tmp_path / "s.npz"), "--no-progress"])  # fmt: skip
    assert "warning" not in capsys.readouterr().err


def test_guard_stats_needs_sequences():
    from d3prefiner.errors import D3PRError

    with pytest.raises(D3PRError, match="no training sequences"):
        guard_stats([])

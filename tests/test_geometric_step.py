"""The geometric step after the correction: chosen on validation (it pays with exact 2D, costs
with noisy 2D), recorded in the checkpoint, applied by `d3pr refine` by default, never to an
estimator the refiner does not know, and only causal steps with --causal."""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import run_cli, tiny_refiner_files
from d3prefiner.errors import ArgumentError, D3PRError
from d3prefiner.metrics import frame_errors
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import FULL, ApplyOptions, Calibration, Refiner, calibrate_refiner
from d3prefiner.refiner.calibrate import choose_geometric
from d3prefiner.refiner.calibration import GEOMETRIC_STEPS, PER_JOINT, BonePrior, geometric_step


def _exact_2d(seed: int) -> Predictions:
    """Synthetic predictions whose 2D is the exact pinhole projection of the truth."""
    return make_synthetic_predictions(n_sequences=3, n_frames=60, seed=seed, intrinsics=True)


def _noisy_2d(preds: Predictions, sd: float, seed: int = 0) -> Predictions:
    rng = np.random.default_rng(seed)
    seqs = [
        type(s)(**{**s.__dict__, "pose2d": (s.pose2d + rng.normal(0, sd, s.pose2d.shape))})
        for s in preds
    ]
    return Predictions(seqs, preds.estimator)


def _mm(preds: Predictions) -> float:
    return 1000 * float(frame_errors(preds, "root").mean())


def test_reprojection_is_chosen_with_exact_2d_and_refused_with_noisy_2d():
    exact = _exact_2d(3)
    step, weight, share, scores, *_ = choose_geometric(exact)
    assert step in ("reproject", "bones+reproject", "rays", "rays-nearest") and share == 1.0
    assert scores[step] < 0.99 * scores["none"] and scores["none"] == pytest.approx(
        _mm(exact), abs=1e-3
    )
    assert _mm(geometric_step(exact, step)) == pytest.approx(scores[step], abs=1e-3)
    # noisy 2D (about 40 px at 1000 px wide, white): the whole step costs; a share of it pays
    noisy = _noisy_2d(exact, 0.08)
    step, weight, share, scores, *_ = choose_geometric(noisy, per_joint=False)
    assert scores["reproject"] > 1.5 * scores["none"]
    assert step == "reproject" and share <= 0.3
    key = f"reproject×{share:g}"
    assert scores[key] < 0.99 * scores["none"] and scores[key] == min(scores.values())
    assert _mm(geometric_step(noisy, step, share=share)) == pytest.approx(scores[key], abs=1e-3)
    # 2D of no use (about 250 px): nothing of it
    step, weight, share, scores, *_ = choose_geometric(_noisy_2d(exact, 0.5), per_joint=False)
    assert (step, share) == ("none", 1.0) and min(scores.values()) >= 0.99 * scores["none"]


def test_a_share_of_a_step_lies_between_its_start_and_the_step(files):
    """share 1: the step; 0: where it starts (the input, or its bones set as the step sets them);
    between: the straight line; the calibration records the share and `Refiner.apply` uses it."""
    from d3prefiner.refiner.calibration import share_base

    preds = _noisy_2d(_exact_2d(5), 0.02)
    prior = BonePrior.of(preds).at(0.5)
    for name in ("reproject", "bones+reproject", "rays"):
        whole = geometric_step(preds, name, prior).concat("pred3d")
        start = share_base(preds, name, prior).concat("pred3d")
        half = geometric_step(preds, name, prior, share=0.5).concat("pred3d")
        np.testing.assert_allclose(half, 0.5 * (start + whole), atol=1e-5)
        np.testing.assert_allclose(geometric_step(preds, name, prior, 0.0).concat("pred3d"), start,
                                   atol=1e-6)  # fmt: skip
    np.testing.assert_array_equal(share_base(preds, "reproject").concat("pred3d"),
                                  preds.concat("pred3d"))  # fmt: skip
    with pytest.raises(D3PRError, match="share"):
        geometric_step(preds, "rays", share=1.5)
    refiner = Refiner.load(files / "ckpt")
    refiner.calibration = refiner.calibration.replace(
        strength=0.0, geometric="bones+reproject", bones=prior, geometric_share=0.3
    )
    refiner.save(files / "shared")
    again = Refiner.load(files / "shared")
    assert again.calibration.geometric_share == 0.3
    applied = again.apply(preds)
    assert applied.share == 0.3
    want = geometric_step(preds, "bones+reproject", prior, 0.3).concat("pred3d")
    np.testing.assert_allclose(applied.predictions.concat("pred3d"), want, atol=1e-5)
    with pytest.raises(D3PRError, match="share"):
        refiner.calibration.replace(geometric_share=0.0)


@pytest.fixture
def files(tmp_path):
    return tiny_refiner_files(tmp_path)


def test_calibrate_records_it_and_refine_applies_it(files, capsys):
    val = _exact_2d(7)
    refiner = Refiner.load(files / "ckpt")
    cal = calibrate_refiner(refiner, val)
    assert cal.geometric != "none" and cal.bones is not None  # the training bodies' bones
    assert {re.split("[@×]", k)[0] for k in cal.geometric_scores} == {*GEOMETRIC_STEPS, PER_JOINT}
    refiner.save(files / "ckpt")
    again = Refiner.load(files / "ckpt").calibration
    assert (again.geometric, again.geometric_scores) == (cal.geometric, cal.geometric_scores)
    assert again.geometric_shares == cal.geometric_shares
    test = _exact_2d(11)  # the same (synthetic) estimator as the calibration
    test.save(files / "t.npz")
    applied = refiner.apply(test)
    assert applied.geometric == cal.geometric
    code, out = run_cli(["refine", files / "ckpt", files / "t.npz", "-o", files / "r.npz",
                         "--no-progress"], capsys)  # fmt: skip
    assert code == 0, out
    written = Predictions.load(files / "r.npz").concat("pred3d")
    np.testing.assert_array_equal(written, applied.predictions.concat("pred3d"))
    plain = refiner.apply(test, ApplyOptions(geometric="none")).predictions
    assert _mm(applied.predictions) < _mm(plain)
    full = refiner.apply(test, FULL)  # the network's own output: no geometric step
    assert full.geometric == "none"


def test_never_for_an_unseen_estimator_and_only_causal_steps_with_causal(files):
    refiner = Refiner.load(files / "ckpt")
    refiner.calibration = refiner.calibration.replace(
        geometric="bones+reproject", estimators=("synthetic",)
    )
    test = _exact_2d(5)
    assert refiner.apply(test).geometric == "bones+reproject"
    other = Predictions(test.sequences, "another-estimator")
    assert refiner.apply(other).geometric == "none"
    assert refiner.apply(other, ApplyOptions(geometric="reproject")).geometric == "reproject"
    assert refiner.apply(test, ApplyOptions(causal=True)).geometric == "none"  # medians: dropped
    with pytest.raises(ArgumentError, match="whole sequence"):
        ApplyOptions(causal=True, geometric="bones")
    with pytest.raises(ArgumentError, match="must be one of"):
        ApplyOptions(geometric="snap")


def test_old_calibrations_load_without_a_geometric_step():
    old = {"strength": 0.5, "correct": "full", "filter": "none"}
    cal = Calibration.from_dict(old)
    assert cal.geometric == "none" and cal.geometric_scores is None
    assert "geometric" not in cal.to_dict()
    new = cal.replace(geometric="reproject", geometric_scores={"none": 50.0, "reproject": 40.0})
    assert Calibration.from_dict(new.to_dict()) == new


def test_a_tie_on_validation_goes_to_the_step_a_filter_mends(monkeypatch):
    """Two steps within the tie of each other on validation: the one whose output its own best
    filter improves (white jitter) is chosen over the one a filter cannot mend (an offset), and
    the filter recorded is that step's; without the tie the lower unfiltered one wins."""
    import d3prefiner.refiner.calibrate as cal_mod

    truth = make_synthetic_predictions(n_sequences=2, n_frames=120, seed=5)
    truth = truth.with_pred3d([s.gt3d for s in truth])
    rng = np.random.default_rng(0)
    base_err = [rng.normal(0, 0.03, s.gt3d.shape) for s in truth]  # ~50 mm, no step removes it
    jitter = [rng.normal(0, 0.012, s.gt3d.shape) for s in truth]  # white: a filter removes most
    jitter_mm = 1000 * float(np.mean([np.linalg.norm(j[:, 1:] - j[:, :1], axis=-1).mean()
                                      for j in jitter]))  # fmt: skip
    offset = [np.full_like(s.gt3d, 0.0) for s in truth]
    for o in offset:  # a constant error a little below the jitter's: no filter moves it
        o[:, 1:, 0] = 0.95 * jitter_mm / 1000
    out = truth.with_pred3d([s.gt3d + e for s, e in zip(truth, base_err)])

    def fake(preds, name, bones=None, share=1.0, joint_shares=None):
        add = {"reproject": jitter, "bones": offset}.get(name)
        if add is None:
            return preds.with_pred3d([s.gt3d + 0.0 for s in truth]) if name != "none" else preds
        return preds.with_pred3d([s.gt3d + a for s, a in zip(truth, add)])

    monkeypatch.setattr(cal_mod, "geometric_step", fake)
    monkeypatch.setattr(cal_mod, "GEOMETRIC_STEPS", ("none", "reproject", "bones"))
    monkeypatch.setattr(cal_mod, "GEOMETRIC_SHARES", (1.0,))  # the steps whole
    step, _, _, scores, smoothing, *_ = choose_geometric(out, tie=0.5, per_joint=False)
    assert scores["bones"] < scores["reproject"] < 1.5 * scores["bones"]
    assert step == "reproject" and smoothing["choice"]["filter"] != "none"
    step, _, _, scores, smoothing, *_ = choose_geometric(out, tie=0.0, per_joint=False)
    assert step == "bones" and smoothing["choice"]["filter"] == "none"


def test_the_summary_names_the_best_candidates_and_counts_the_rest():
    """A calibration scores ~180 geometric candidates; its summary names the lowest, `none` and
    the chosen one, says how many more the checkpoint records, and why `none` won if it did."""
    from d3prefiner.refiner import calibration_summary
    from d3prefiner.refiner.calibrate import SUMMARY_CANDIDATES

    scores = {"none": 100.0, **{f"rays@{i / 100:g}": 99.5 + i / 100 for i in range(40)},
              "bones@0.5": 140.0}  # fmt: skip
    line = calibration_summary(Calibration(geometric_scores=scores))[0]
    named = re.findall(r"(\S+) \d+\.\d", line.split("(MPJPE mm): ")[1])
    assert named[:3] == ["none", "rays@0", "rays@0.01"] and len(named) == 1 + SUMMARY_CANDIDATES
    assert "bones@0.5" not in named and f"and {len(scores) - len(named)} more" in line
    assert line.endswith("-> none (no step gained 1% or more)")
    chosen = Calibration(geometric_scores={**scores, "bones": 150.0}, geometric="bones")
    line = calibration_summary(chosen)[0]  # the chosen one is named wherever it ranks
    assert "bones@0.5 140.0" not in line and "bones 150.0, and" in line and "-> bones" in line

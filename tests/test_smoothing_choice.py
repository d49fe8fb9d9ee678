"""A temporal filter after refinement, chosen on validation: recorded, and applied by
`d3pr refine --smooth auto` (no fixed filter advice)."""

import json

import numpy as np
import pytest
import torch

from d3prefiner import Refiner
from d3prefiner.baselines import choose_smoothing, smooth_predictions
from d3prefiner.cli import main
from d3prefiner.noise import PoseNoiseModel, make_synthetic_predictions
from d3prefiner.predictions import Predictions, PredictionSequence
from d3prefiner.refiner import RefinerConfig, train_refiner, validate
from d3prefiner.refiner.core import CONFIG_FILE


def _motion(jitter_m: float, seed: int = 0) -> Predictions:
    """Slow smooth motion; the estimate is off by a constant per-joint bias plus white jitter."""
    rng = np.random.default_rng(seed)
    seqs = []
    for i in range(2):
        t = np.arange(150)[:, None, None] / 30.0
        base = rng.normal(0, 0.3, (1, 17, 3))
        gt = base + 0.1 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6, (1, 17, 3)))
        gt = (gt - gt[:, :1]).astype(np.float32)
        bias = rng.normal(0, 0.02, (1, 17, 3))
        pred = gt + bias + jitter_m * rng.standard_normal(gt.shape)
        pred = (pred - pred[:, :1]).astype(np.float32)
        y = (gt[..., :2] * 0.5).astype(np.float32)
        seqs.append(PredictionSequence("S1", f"walk_{i}", "0", 30.0, y, pred, gt))
    return Predictions(seqs, "est")


def test_smooth_estimates_keep_no_filter():
    res = choose_smoothing(_motion(0.0))
    assert res["choice"] == {"filter": "none"} and res["label"] == "none"
    from d3prefiner.baselines import smoothing_candidates

    assert len(res["val_mpjpe_mm"]) == 1 + len(smoothing_candidates()) and res["val_frames"] == 300
    assert all(v >= res["val_mpjpe_mm"]["none"] * 0.995 for v in res["val_mpjpe_mm"].values())
    json.dumps(res)  # recorded in config.json


def test_jittery_estimates_choose_a_filter_that_lowers_mpjpe():
    preds = _motion(0.03)
    res = choose_smoothing(preds)
    assert res["choice"]["filter"] != "none"
    scores = res["val_mpjpe_mm"]
    assert scores[res["label"]] == min(scores.values()) < 0.8 * scores["none"]
    smoothed = smooth_predictions(preds, res["choice"])  # the choice applies as recorded
    assert smoothed.estimator == f"est+{res['label']}"
    gt = torch.from_numpy(preds.concat("gt3d"))
    err = (torch.from_numpy(smoothed.concat("pred3d")) - gt).norm(dim=-1).mean() * 1000
    assert float(err) == pytest.approx(scores[res["label"]], rel=1e-4)


def test_a_tie_goes_to_the_filter_that_adapts():
    """Within 0.5 % of the lowest MPJPE, a filter that adapts to each sequence wins; further
    behind, it does not, and with no tie the lowest wins."""
    from d3prefiner.baselines import FILTERS, SMOOTHING_TIE

    def gap(res):  # the chosen filter's MPJPE relative to the lowest
        scores = res["val_mpjpe_mm"]
        return scores[res["label"]] / min(scores.values()) - 1

    slight = _motion(0.003)  # adaptive 0.45 % behind Savitzky–Golay 31
    res = choose_smoothing(slight)
    assert FILTERS[res["choice"]["filter"]].adapts and 0 < gap(res) <= SMOOTHING_TIE
    res = choose_smoothing(slight, tie=0.0)
    assert not FILTERS[res["choice"]["filter"]].adapts and gap(res) == 0
    # whether to filter is the lowest's question: a tied filter need not clear the bar itself
    scores = res["val_mpjpe_mm"]
    adaptive = min(v for k, v in scores.items() if k.startswith("adaptive"))
    bar = 0.5 * (1 - adaptive / scores["none"] + 1 - min(scores.values()) / scores["none"])
    res = choose_smoothing(slight, min_gain=bar)
    assert FILTERS[res["choice"]["filter"]].adapts and adaptive > (1 - bar) * scores["none"]
    res = choose_smoothing(_motion(0.03))  # adaptive 1.3 % behind
    assert not FILTERS[res["choice"]["filter"]].adapts and gap(res) == 0
    scores = res["val_mpjpe_mm"]
    assert (
        min(v for k, v in scores.items() if k.startswith("adaptive")) > 1.005 * scores[res["label"]]
    )


@pytest.fixture(scope="module")
def preds():
    return make_synthetic_predictions(n_sequences=3, n_frames=60, seed=0, error_scale=0.005)


def _train(preds, val, out):
    torch.set_num_threads(1)
    config = RefinerConfig.from_preset(
        "tiny", "paper", steps=8, val_every=4, batch_size=8, dim=32, window=9, train_stride=3,
        refine_stride=9,
    )  # fmt: skip
    noise = PoseNoiseModel(temporal="white").fit(preds)
    return train_refiner(config, preds, noise, out, val_preds=val, progress=False)


def _jittery(preds: Predictions, scale: float) -> Predictions:
    rng = np.random.default_rng(1)
    out = []
    for s in preds:
        x = s.pred3d + scale * rng.standard_normal(s.pred3d.shape).astype(np.float32)
        out.append(x - x[:, :1])
    return preds.with_pred3d(out)


def test_training_records_the_choice_and_refine_auto_applies_it(preds, tmp_path, capsys):
    val = _jittery(preds, 0.03)
    refiner = _train(preds, val, tmp_path / "ck")
    saved = Refiner.load(tmp_path / "ck").calibration
    assert saved == refiner.calibration and saved.filter != "none"
    # the figure of no filter is the refined validation MPJPE after the geometric step chosen
    none = validate(refiner, val)["val_mpjpe_refined_mm"]
    assert saved.strength == 1.0 and saved.geometric_scores["none"] == pytest.approx(none, rel=1e-4)
    after = saved.geometric_scores[saved.geometric]
    assert saved.smoothing_scores.mpjpe_mm["none"] == pytest.approx(after, rel=1e-4)

    val.save(tmp_path / "val.npz")
    argv = ["refine", str(tmp_path / "ck"), str(tmp_path / "val.npz"), "--no-progress"]
    for smooth, name in (("auto", "auto.npz"), ("none", "none.npz"), ("savgol", "sg.npz")):
        with pytest.raises(SystemExit) as exc:
            main([*argv, "-o", str(tmp_path / name), "--smooth", smooth, "--threads", "1"])
        assert exc.value.code in (0, None), capsys.readouterr()
    with pytest.raises(SystemExit) as exc:  # no --smooth: auto is the default
        main([*argv, "-o", str(tmp_path / "default.npz"), "--threads", "1"])
    assert exc.value.code in (0, None)
    assert capsys.readouterr().out.count(f"--smooth auto: {saved.filter_label}") == 2
    plain = Predictions.load(tmp_path / "none.npz")
    want = smooth_predictions(plain, saved.filter_choice)
    auto = Predictions.load(tmp_path / "auto.npz")
    np.testing.assert_allclose(auto.concat("pred3d"), want.concat("pred3d"), atol=1e-6)
    assert auto.estimator.endswith("+" + saved.filter_label)
    default = Predictions.load(tmp_path / "default.npz").concat("pred3d")
    np.testing.assert_array_equal(default, auto.concat("pred3d"))
    assert Predictions.load(tmp_path / "sg.npz").estimator.endswith("+savgol")


def test_no_validation_records_nothing_and_auto_applies_none(preds, tmp_path, capsys):
    refiner = _train(preds, None, tmp_path / "ck")
    assert refiner.calibration.smoothing_scores is None and refiner.calibration.filter == "none"
    assert (
        "validation" not in json.loads((tmp_path / "ck" / CONFIG_FILE).read_text())["calibration"]
    )
    preds.save(tmp_path / "p.npz")
    base = ["refine", str(tmp_path / "ck"), str(tmp_path / "p.npz"), "--no-progress"]
    for smooth, name in (("auto", "a.npz"), ("none", "n.npz")):
        with pytest.raises(SystemExit) as exc:
            main([*base, "-o", str(tmp_path / name), "--smooth", smooth, "--threads", "1"])
        assert exc.value.code in (0, None)
    assert "--smooth" not in capsys.readouterr().out  # no filter recorded, none applied
    a, n = Predictions.load(tmp_path / "a.npz"), Predictions.load(tmp_path / "n.npz")
    np.testing.assert_array_equal(a.concat("pred3d"), n.concat("pred3d"))


def test_the_summary_says_when_a_tie_chose_the_filter():
    from d3prefiner.refiner import calibration_summary
    from d3prefiner.refiner.calibration import Calibration, SmoothingScores

    res = choose_smoothing(_motion(0.003))
    scores = SmoothingScores(res["val_mpjpe_mm"], res["val_frames"], res["min_gain"])
    choice = dict(res["choice"])
    cal = Calibration(filter=choice.pop("filter"), filter_params=choice, smoothing_scores=scores)
    line = calibration_summary(cal)[-1]
    assert line.startswith("smoothing on validation") and "-> adaptive(noise=4)" in line
    assert "within a tie of the lowest" in line
    res = choose_smoothing(_motion(0.03))
    choice = dict(res["choice"])
    cal = Calibration(filter=choice.pop("filter"), filter_params=choice, smoothing_scores=SmoothingScores(
        res["val_mpjpe_mm"], res["val_frames"], res["min_gain"]))  # fmt: skip
    assert "tie" not in calibration_summary(cal)[-1]

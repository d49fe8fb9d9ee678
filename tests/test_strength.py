"""The correction strength α chosen on validation: a refiner that does not help there leaves the
estimate unchanged (`d3pr refine --strength auto`, the default), and `d3pr calibrate` chooses it
for another estimator's validation predictions."""

import json

import numpy as np
import pytest
import torch

from conftest import run_cli, tiny_refiner_files
from d3prefiner.errors import D3PRError
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import Refiner
from d3prefiner.refiner.core import CONFIG_FILE, check_strength, scale_correction
from d3prefiner.refiner.train import calibrate, choose_strength, strength_summary


@pytest.fixture(scope="module")
def val() -> Predictions:
    return make_synthetic_predictions(n_sequences=3, n_frames=40, seed=3, error_scale=0.02)


def _with(preds: Predictions, fn) -> Predictions:
    return preds.with_pred3d([fn(s).astype(np.float32) for s in preds])


def _mm(preds: Predictions) -> float:
    x = torch.from_numpy(preds.concat("pred3d")).double()
    gt = torch.from_numpy(preds.concat("gt3d")).double()
    return 1000 * float((x - x[:, :1] - gt + gt[:, :1]).norm(dim=-1).mean())


def test_a_perfect_correction_is_kept_whole(val):
    res = choose_strength(val, _with(val, lambda s: s.gt3d))
    assert res["alpha"] == 1.0 and res["val_mpjpe_mm"]["1"] < 1e-3
    assert res["val_mpjpe_mm"]["0"] == pytest.approx(_mm(val), rel=1e-6)
    json.dumps(res)  # recorded in config.json


def test_a_correction_that_overshoots_twice_is_halved(val):
    refined = _with(val, lambda s: s.pred3d + 2 * (s.gt3d - s.pred3d))  # α = 0.5 lands on gt
    res = choose_strength(val, refined)
    assert res["alpha"] == 0.5
    assert res["val_mpjpe_mm"]["0.5"] < 1e-3 < res["val_mpjpe_mm"]["1"]


def test_a_harmful_or_useless_correction_is_dropped(val):
    worse = _with(val, lambda s: s.pred3d + 0.5 * (s.pred3d - s.gt3d))
    assert choose_strength(val, worse)["alpha"] == 0.0
    # a gain below the minimum (0.2 %) is no gain
    tiny = _with(val, lambda s: s.pred3d + 0.001 * (s.gt3d - s.pred3d))
    res = choose_strength(val, tiny)
    assert res["alpha"] == 0.0 and res["val_mpjpe_mm"]["1"] < res["val_mpjpe_mm"]["0"]


def test_a_strength_that_hurts_one_estimator_of_a_pool_is_not_kept(val):
    """Pooled validation (two estimators' folds): the correction is perfect on the first and
    harmful on the second; the pooled mean favours refining, the worst estimator does not."""
    from dataclasses import replace

    pooled = Predictions([replace(s, fold=0 if i < 2 else 1) for i, s in enumerate(val)])
    refined = pooled.with_pred3d([
        (s.gt3d if s.fold == 0 else s.pred3d + 0.5 * (s.pred3d - s.gt3d)).astype(np.float32)
        for s in pooled
    ])  # fmt: skip
    res = choose_strength(pooled, refined)
    assert res["val_mpjpe_mm"]["1"] < res["val_mpjpe_mm"]["0"]  # the mean would refine
    assert res["alpha"] == 0.0 and res["rule"] == "worst fold"
    by = res["val_mpjpe_mm_by_fold"]
    assert by["0"]["1"] < 1e-3 and by["1"]["1"] > by["1"]["0"]
    assert "worst of its 2 lifters" in strength_summary(res)
    # the same files as one estimator (no folds): the mean decides, and refining is kept
    one = choose_strength(
        Predictions([replace(s, fold=-1) for s in pooled]),
        Predictions([replace(s, fold=-1) for s in refined]),
    )
    assert one["alpha"] > 0 and "rule" not in one


def test_scale_correction_is_linear_and_takes_guard_weights(val):
    refined = _with(val, lambda s: s.gt3d)
    half = scale_correction(val, refined, 0.5)
    for b, r, h in zip(val, refined, half):
        np.testing.assert_allclose(h.pred3d, 0.5 * (b.pred3d + r.pred3d), atol=1e-6)
    flagged = scale_correction(val, refined, 0.5, [{"index": 1, "weight": 0.5}])
    seqs = list(zip(val, refined, flagged))
    np.testing.assert_allclose(seqs[0][2].pred3d, half.sequences[0].pred3d, atol=1e-6)
    b, r, f = seqs[1]
    np.testing.assert_allclose(f.pred3d, b.pred3d + 0.25 * (r.pred3d - b.pred3d), atol=1e-6)
    with pytest.raises(D3PRError, match="base sequences but"):
        scale_correction(val, Predictions(list(refined)[:1], "x"), 0.5)


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "strong", "nan", None])
def test_bad_strengths_are_refused(bad):
    with pytest.raises(D3PRError, match="strength must be"):
        check_strength(bad)
    assert check_strength("0.25") == 0.25 and check_strength("auto") == "auto"


def test_refine_predictions_applies_the_strength(tmp_path, val, monkeypatch):
    refiner = Refiner.load(tiny_refiner_files(tmp_path) / "ckpt")
    full = refiner.refine_predictions(val, progress=False, strength=1.0)
    half = refiner.refine_predictions(val, progress=False, strength=0.5)
    for b, f, h in zip(val, full, half):
        np.testing.assert_allclose(h.pred3d, b.pred3d + 0.5 * (f.pred3d - b.pred3d), atol=1e-5)
    # auto without a recorded choice is full strength
    auto = refiner.refine_predictions(val, progress=False)
    np.testing.assert_array_equal(auto.concat("pred3d"), full.concat("pred3d"))

    def no_network(*a, **k):
        raise AssertionError("α = 0 must not run the network")

    monkeypatch.setattr(refiner, "refine", no_network)
    zero = refiner.refine_predictions(val, progress=False, strength=0.0)
    np.testing.assert_array_equal(zero.concat("pred3d"), val.concat("pred3d"))
    bad = val.with_pred3d([s.pred3d * 1000 for s in val])  # millimetres
    with pytest.raises(D3PRError, match="millimetres|units"):  # the input checks still run
        refiner.refine_predictions(bad, progress=False, strength=0.0)


def test_calibrate_records_and_reloads(tmp_path, val):
    ckpt = tiny_refiner_files(tmp_path) / "ckpt"
    refiner = calibrate(Refiner.load(ckpt), val)
    refiner.save(ckpt)
    again = Refiner.load(ckpt)
    assert again.strength == refiner.strength and again.smoothing == refiner.smoothing
    assert set(again.strength["val_mpjpe_mm"]) == {"0", "0.25", "0.5", "0.75", "1"}
    scores = again.strength["val_mpjpe_mm"]
    assert scores[f"{again.strength['alpha']:g}"] == min(scores.values()) or (
        again.strength["alpha"] == 0
    )
    # the recorded choice is what auto applies
    auto = again.refine_predictions(val, progress=False)
    chosen = again.refine_predictions(val, progress=False, strength=again.strength["alpha"])
    np.testing.assert_array_equal(auto.concat("pred3d"), chosen.concat("pred3d"))


def test_a_corrupt_recorded_strength_is_one_line(tmp_path):
    ckpt = tiny_refiner_files(tmp_path) / "ckpt"
    meta = json.loads((ckpt / CONFIG_FILE).read_text())
    meta["strength"] = {"alpha": 3}
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(D3PRError, match="'strength' must hold an 'alpha' in"):
        Refiner.load(ckpt)


def test_training_with_validation_records_a_strength(tmp_path, val):
    from d3prefiner.refiner import RefinerConfig, train_refiner

    torch.set_num_threads(1)
    cfg = RefinerConfig.from_preset("tiny", "paper", steps=2, use_cnd=False, window=9,
                                    train_stride=3, refine_stride=9)  # fmt: skip
    train_refiner(cfg, val, None, tmp_path / "r", val_preds=val, progress=False)
    meta = json.loads((tmp_path / "r" / CONFIG_FILE).read_text())
    assert 0 <= meta["strength"]["alpha"] <= 1 and meta["strength"]["val_frames"] == 120
    assert "smoothing" in meta and "correct" not in meta["strength"]
    # the `any` recipe's switch: the strength is chosen for the in-plane part, and applied so
    cfg = RefinerConfig.from_preset("tiny", "paper", steps=2, use_cnd=False, window=9,
                                    train_stride=3, refine_stride=9, correct="in-plane")  # fmt: skip
    refiner = train_refiner(cfg, val, None, tmp_path / "p", val_preds=val, progress=False)
    assert Refiner.load(tmp_path / "p").strength["correct"] == "in-plane"
    out = refiner.refine_predictions(val, progress=False, strength=1.0)
    np.testing.assert_array_equal(out.concat("pred3d")[..., 2], val.concat("pred3d")[..., 2])


def test_cli_calibrate_then_refine(tmp_path, capsys, val):
    d = tiny_refiner_files(tmp_path)
    # validation predictions whose "refinement" is known: the estimate is the gt plus an offset
    val.save(d / "val.npz")
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--threads", "1"], capsys)
    assert code == 0, out
    assert "strength on validation (MPJPE mm)" in out and "recorded in" in out
    alpha = Refiner.load(d / "ckpt").strength["alpha"]
    code, out = run_cli(
        ["refine", d / "ckpt", d / "val.npz", "-o", d / "r.npz", "--threads", "1",
         "--no-progress"], capsys,
    )  # fmt: skip
    assert code == 0, out
    if alpha == 0:
        assert "passes through unchanged" in out
        r = Predictions.load(d / "r.npz")
        np.testing.assert_array_equal(r.concat("pred3d"), val.concat("pred3d"))
    code, out = run_cli(
        ["refine", d / "ckpt", d / "val.npz", "-o", d / "r2.npz", "--strength", "2"], capsys
    )
    assert code == 2 and "strength must be 'auto' or a number in [0, 1]" in out
    assert not (d / "r2.npz").exists()
    # --out writes a calibrated copy and leaves the original as it was
    before = (d / "ckpt" / CONFIG_FILE).read_text()
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--out", d / "mine"], capsys)
    assert code == 0, out
    assert (d / "ckpt" / CONFIG_FILE).read_text() == before
    assert Refiner.load(d / "mine").strength == Refiner.load(d / "ckpt").strength
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--out", d / "ckpt"], capsys)
    assert code == 2 and "is the input" in out
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--subjects", "S99"], capsys)
    assert code == 2 and "no sequences of subject(s) S99" in out


def test_cli_refine_says_when_it_passes_through(tmp_path, capsys, val):
    d = tiny_refiner_files(tmp_path)
    meta = json.loads((d / "ckpt" / CONFIG_FILE).read_text())
    scores = {"0": 50.0, "0.25": 51.0, "0.5": 52.0, "0.75": 53.0, "1": 54.0}
    meta["strength"] = {"alpha": 0.0, "val_mpjpe_mm": scores, "val_frames": 9, "min_gain": 0.002}
    (d / "ckpt" / CONFIG_FILE).write_text(json.dumps(meta))
    code, out = run_cli(
        ["refine", d / "ckpt", d / "p.npz", "-o", d / "r.npz", "--no-progress"], capsys
    )
    assert code == 0, out
    assert "did not lower MPJPE on its validation predictions (50.0 → 54.0 mm" in out
    p, r = Predictions.load(d / "p.npz"), Predictions.load(d / "r.npz")
    np.testing.assert_array_equal(r.concat("pred3d"), p.concat("pred3d"))
    code, out = run_cli(
        ["refine", d / "ckpt", d / "p.npz", "-o", d / "r1.npz", "--strength", "1",
         "--no-progress"], capsys,
    )  # fmt: skip
    assert code == 0 and "passes through" not in out
    assert not np.array_equal(Predictions.load(d / "r1.npz").concat("pred3d"), p.concat("pred3d"))


# -- the in-plane part of the correction (for an estimator the refiner was not trained on) --------


def test_in_plane_keeps_the_input_depth_and_moves_x_y(val):
    """A correction that lands on the gt: in-plane, x and y land on it and z stays the input's,
    checked by hand on the numbers."""
    perfect = _with(val, lambda s: s.gt3d)
    half = scale_correction(val, perfect, 0.5, (), "in-plane")
    for b, h in zip(val, half):
        np.testing.assert_allclose(h.pred3d[..., 2], b.pred3d[..., 2], atol=1e-7)
        want = b.pred3d[..., :2] + 0.5 * (b.gt3d[..., :2] - b.pred3d[..., :2])
        np.testing.assert_allclose(h.pred3d[..., :2], want, atol=1e-6)
    # a correction whose depth part is wrong: in-plane, only the depth part is refused
    wrong_z = _with(val, lambda s: np.concatenate(
        [s.gt3d[..., :2], s.pred3d[..., 2:] + 3 * (s.pred3d[..., 2:] - s.gt3d[..., 2:])], -1
    ))  # fmt: skip
    assert _mm(scale_correction(val, wrong_z, 1.0)) > _mm(val)
    assert _mm(scale_correction(val, wrong_z, 1.0, (), "in-plane")) < _mm(val)
    with pytest.raises(D3PRError, match="correct must be one of full, in-plane"):
        scale_correction(val, wrong_z, 1.0, (), "depth")


def test_choose_strength_for_the_in_plane_part(val):
    """The full correction overshoots in depth (harmful), its x, y part is exact: the full one is
    dropped, the in-plane one kept whole, and the record says which part it was chosen for."""
    refined = _with(val, lambda s: np.concatenate(
        [s.gt3d[..., :2], s.pred3d[..., 2:] + 3 * (s.pred3d[..., 2:] - s.gt3d[..., 2:]) + 0.2], -1
    ))  # fmt: skip
    full = choose_strength(val, refined)
    plane = choose_strength(val, refined, correct="in-plane")
    assert full["alpha"] == 0.0 and "correct" not in full
    assert plane["alpha"] == 1.0 and plane["correct"] == "in-plane"
    assert "in-plane part" in strength_summary(plane)


def test_refine_and_calibrate_in_plane(tmp_path, val):
    ckpt = tiny_refiner_files(tmp_path) / "ckpt"
    refiner = Refiner.load(ckpt)
    full = refiner.refine_predictions(val, progress=False, strength=1.0)
    plane = refiner.refine_predictions(val, progress=False, strength=0.5, correct="in-plane")
    want = scale_correction(val, full, 0.5, (), "in-plane")
    np.testing.assert_allclose(plane.concat("pred3d"), want.concat("pred3d"), atol=1e-6)
    np.testing.assert_array_equal(plane.concat("pred3d")[..., 2], val.concat("pred3d")[..., 2])
    assert refiner.resolve_correct() == "full"  # the default recipe, nothing recorded
    calibrate(refiner, val, correct="in-plane").save(ckpt)
    again = Refiner.load(ckpt)
    assert again.strength["correct"] == "in-plane" and again.resolve_correct() == "in-plane"
    auto = again.refine_predictions(val, progress=False)  # auto: what it was calibrated for
    chosen = again.refine_predictions(
        val, progress=False, strength=again.strength["alpha"], correct="in-plane"
    )
    np.testing.assert_array_equal(auto.concat("pred3d"), chosen.concat("pred3d"))
    np.testing.assert_array_equal(auto.concat("pred3d")[..., 2], val.concat("pred3d")[..., 2])
    meta = json.loads((ckpt / CONFIG_FILE).read_text())
    meta["strength"]["correct"] = "depth"
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(D3PRError, match="'strength' has correct='depth'"):
        Refiner.load(ckpt)


def test_cli_refine_and_calibrate_in_plane(tmp_path, capsys, val):
    d = tiny_refiner_files(tmp_path)
    val.save(d / "val.npz")
    code, out = run_cli(["refine", d / "ckpt", d / "val.npz", "-o", d / "r.npz",
                         "--correct", "in-plane", "--no-progress"], capsys)  # fmt: skip
    assert code == 0, out
    assert "image-plane part of each correction only" in out
    r = Predictions.load(d / "r.npz")
    np.testing.assert_array_equal(r.concat("pred3d")[..., 2], val.concat("pred3d")[..., 2])
    code, out = run_cli(["refine", d / "ckpt", d / "val.npz", "-o", d / "r2.npz",
                         "--correct", "depth"], capsys)  # fmt: skip
    assert code == 2 and "correct must be one of auto, full, in-plane" in out
    assert not (d / "r2.npz").exists()
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--correct", "in-plane",
                         "--threads", "1"], capsys)  # fmt: skip
    assert code == 0 and "strength (in-plane part of the correction)" in out
    assert Refiner.load(d / "ckpt").strength["correct"] == "in-plane"


def test_either_part_is_chosen_on_validation(val):
    """choose_part keeps the part that does better on validation: in-plane when the depth part
    of the correction is wrong, full when it is right, in-plane on a tie."""
    from d3prefiner.refiner.train import choose_part

    wrong_z = _with(val, lambda s: np.concatenate(
        [s.gt3d[..., :2], s.pred3d[..., 2:] + 3 * (s.pred3d[..., 2:] - s.gt3d[..., 2:])], -1
    ))  # fmt: skip
    rec = choose_part(val, wrong_z)
    assert rec["correct"] == "in-plane" and rec["alpha"] == 1.0
    assert rec["parts"]["in-plane"] < 1 <= rec["parts"]["full"]
    assert "part chosen on validation" in strength_summary(rec)
    rec = choose_part(val, _with(val, lambda s: s.gt3d))  # right in depth too: full wins
    assert "correct" not in rec and rec["alpha"] == 1.0
    assert rec["parts"]["full"] < rec["parts"]["in-plane"]
    same = _with(val, lambda s: s.pred3d)  # no correction at all: a tie at α = 0
    assert choose_part(val, same)["correct"] == "in-plane"


def test_cli_calibrate_either(tmp_path, capsys, val):
    d = tiny_refiner_files(tmp_path)
    val.save(d / "val.npz")
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--correct", "either",
                         "--threads", "1"], capsys)  # fmt: skip
    assert code == 0, out
    assert "part chosen on validation" in out
    rec = Refiner.load(d / "ckpt").strength
    assert set(rec["parts"]) == {"full", "in-plane"}
    assert Refiner.load(d / "ckpt").resolve_correct() == rec.get("correct", "full")
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--correct", "depth"], capsys)
    assert code == 2 and "--correct must be full, in-plane or either" in out

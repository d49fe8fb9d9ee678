"""Applying a refiner: one method (`Refiner.apply`) under a calibration (strength, correction part,
filter, guard range, training rate) and options; `d3pr calibrate` chooses the calibration on
validation predictions; the studies' rows equal what `d3pr refine` writes."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import run_cli, tiny_refiner_files
from d3prefiner.errors import D3PRError
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import (
    FULL,
    ApplyOptions,
    Calibration,
    Refiner,
    calibrate_refiner,
    calibration_summary,
)
from d3prefiner.refiner.calibrate import applied, choose_part, choose_strength
from d3prefiner.refiner.calibration import check_strength
from d3prefiner.refiner.core import CONFIG_FILE


@pytest.fixture(scope="module")
def val() -> Predictions:
    return make_synthetic_predictions(n_sequences=3, n_frames=40, seed=3, error_scale=0.02)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tiny_refiner_files(tmp_path_factory.mktemp("apply"))


@pytest.fixture
def refiner(files) -> Refiner:
    return Refiner.load(files / "ckpt")


def _with(preds: Predictions, fn) -> Predictions:
    return preds.with_pred3d([fn(s).astype(np.float32) for s in preds])


def _mm(preds: Predictions) -> float:
    """Root-relative MPJPE (mm), computed by hand here to check the library's."""
    x = preds.concat("pred3d").astype(np.float64)
    gt = preds.concat("gt3d").astype(np.float64)
    d = (x - x[:, :1]) - (gt - gt[:, :1])
    return 1000 * float(np.sqrt((d**2).sum(-1)).mean())


def _wrong_depth(s):
    """A correction exact in x, y and overshooting 3x in depth."""
    z = s.pred3d[..., 2:] + 3 * (s.pred3d[..., 2:] - s.gt3d[..., 2:])
    return np.concatenate([s.gt3d[..., :2], z], -1)


# -- choosing the strength and the part --------------------------------------------------------
def test_a_perfect_correction_is_kept_whole(refiner, val):
    alpha, scores = choose_strength(val, _with(val, lambda s: s.gt3d))
    assert alpha == 1.0 and scores.mpjpe_mm[1.0] < 1e-3
    assert scores.mpjpe_mm[0.0] == pytest.approx(_mm(val), rel=1e-6)
    assert set(scores.mpjpe_mm) == {0.0, 0.25, 0.5, 0.75, 1.0}


def test_a_correction_that_overshoots_twice_is_halved(refiner, val):
    refined = _with(val, lambda s: s.pred3d + 2 * (s.gt3d - s.pred3d))  # α = 0.5 lands on gt
    alpha, scores = choose_strength(val, refined)
    assert alpha == 0.5 and scores.mpjpe_mm[0.5] < 1e-3 < scores.mpjpe_mm[1.0]


def test_a_harmful_or_useless_correction_is_dropped(refiner, val):
    worse = _with(val, lambda s: s.pred3d + 0.5 * (s.pred3d - s.gt3d))
    assert choose_strength(val, worse)[0] == 0.0
    tiny = _with(val, lambda s: s.pred3d + 0.001 * (s.gt3d - s.pred3d))  # below the 0.2 % gain
    alpha, scores = choose_strength(val, tiny)
    assert alpha == 0.0 and scores.mpjpe_mm[1.0] < scores.mpjpe_mm[0.0]


def test_a_strength_that_hurts_one_estimator_of_a_pool_is_not_kept(refiner, val):
    pooled = Predictions([replace(s, fold=0 if i < 2 else 1) for i, s in enumerate(val)])
    refined = pooled.with_pred3d([
        (s.gt3d if s.fold == 0 else s.pred3d + 0.5 * (s.pred3d - s.gt3d)).astype(np.float32)
        for s in pooled
    ])  # fmt: skip
    alpha, scores = choose_strength(pooled, refined)
    assert scores.mpjpe_mm[1.0] < scores.mpjpe_mm[0.0]  # the mean would refine
    assert alpha == 0.0 and scores.by_fold["0"][1.0] < 1e-3
    assert scores.by_fold["1"][1.0] > scores.by_fold["1"][0.0]
    cal = Calibration(strength=alpha, strength_scores=scores)
    assert "worst of its 2 lifters" in calibration_summary(cal)[0]
    one = [replace(s, fold=-1) for s in pooled]
    alpha, scores = choose_strength(Predictions(one), Predictions([
        replace(s, fold=-1) for s in refined
    ]))  # fmt: skip
    assert alpha > 0 and not scores.by_fold  # one estimator: the mean decides


def test_in_plane_strength_and_either_part(refiner, val):
    wrong_z = _with(val, _wrong_depth)
    assert choose_strength(val, wrong_z)[0] == 0.0
    assert choose_strength(val, wrong_z, "in-plane")[0] == 1.0
    part, alpha, scores = choose_part(val, wrong_z)
    assert (part, alpha) == ("in-plane", 1.0)
    assert scores.parts["in-plane"] < 1 <= scores.parts["full"]
    part, alpha, scores = choose_part(val, _with(val, lambda s: s.gt3d))
    assert (part, alpha) == ("full", 1.0) and scores.parts["full"] < scores.parts["in-plane"]
    assert choose_part(val, _with(val, lambda s: s.pred3d))[0] == "in-plane"  # a tie


# -- applying ----------------------------------------------------------------------------------
def test_candidates_are_scored_on_what_apply_writes(refiner, val):
    """Calibration scores each strength and part on arrays; they are byte-equal to what
    ``Refiner.apply`` writes with that strength and part (guard off)."""
    wrong_z = _with(val, _wrong_depth)
    for alpha in (0.0, 0.25, 1.0):
        for part in ("full", "in-plane"):
            opts = ApplyOptions(strength=alpha, correct=part, guard="off", geometric="none")
            want = refiner.apply(val, opts, full=wrong_z).predictions
            got = applied(val, wrong_z, alpha, part)
            for w, g in zip(want, got):
                assert w.pred3d.dtype == g.pred3d.dtype == np.float32
                np.testing.assert_array_equal(w.pred3d, g.pred3d)
    with pytest.raises(D3PRError, match="sequences but"):
        applied(val, Predictions(list(wrong_z)[:1]), 0.5, "full")


def test_apply_is_linear_in_the_strength_and_in_plane_keeps_depth(refiner, val):
    perfect = _with(val, lambda s: s.gt3d)
    half = refiner.apply(val, ApplyOptions(strength=0.5, guard="off"), full=perfect).predictions
    plane = refiner.apply(val, ApplyOptions(0.5, "in-plane", "off"), full=perfect).predictions
    for b, h, p in zip(val, half, plane):
        np.testing.assert_allclose(h.pred3d, 0.5 * (b.pred3d + b.gt3d), atol=1e-6)
        np.testing.assert_allclose(p.pred3d[..., 2], b.pred3d[..., 2], atol=1e-7)
        np.testing.assert_allclose(p.pred3d[..., :2], h.pred3d[..., :2], atol=1e-6)
    wrong_z = _with(val, _wrong_depth)
    assert _mm(refiner.apply(val, FULL, full=wrong_z).predictions) > _mm(val)
    in_plane = FULL.replace(correct="in-plane")
    assert _mm(refiner.apply(val, in_plane, full=wrong_z).predictions) < _mm(val)
    with pytest.raises(D3PRError, match="sequences but"):
        refiner.apply(val, FULL, full=Predictions(list(perfect)[:1]))


def test_apply_runs_the_network_once_and_never_at_zero(refiner, val, monkeypatch):
    full = refiner.apply(val, FULL).predictions
    half = refiner.apply(val, ApplyOptions(strength=0.5, guard="off")).predictions
    for b, f, h in zip(val, full, half):
        np.testing.assert_allclose(h.pred3d, b.pred3d + 0.5 * (f.pred3d - b.pred3d), atol=1e-5)
    auto = refiner.apply(val).predictions  # uncalibrated: full strength
    np.testing.assert_array_equal(auto.concat("pred3d"), full.concat("pred3d"))

    def no_network(*a, **k):
        raise AssertionError("α = 0 must not run the network")

    monkeypatch.setattr(refiner, "refine", no_network)
    zero = refiner.apply(val, ApplyOptions(strength=0.0)).predictions
    np.testing.assert_array_equal(zero.concat("pred3d"), val.concat("pred3d"))
    again = refiner.apply(val, ApplyOptions(strength=0.5, guard="off"), full=full).predictions
    np.testing.assert_array_equal(again.concat("pred3d"), half.concat("pred3d"))
    bad = val.with_pred3d([s.pred3d * 1000 for s in val])  # millimetres
    with pytest.raises(D3PRError, match="millimetres|units"):  # the input checks still run
        refiner.apply(bad, ApplyOptions(strength=0.0))


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "strong", "nan", None])
def test_bad_options_are_refused(bad):
    with pytest.raises(D3PRError, match="strength must be"):
        check_strength(bad)
    with pytest.raises(D3PRError, match="strength must be"):
        ApplyOptions(strength=bad)
    assert check_strength("0.25") == 0.25 and ApplyOptions(strength="0.5").strength == 0.5
    with pytest.raises(D3PRError, match="correct must be one of"):
        ApplyOptions(correct="depth")
    with pytest.raises(D3PRError, match="guard must be one of"):
        ApplyOptions(guard="maybe")


# -- calibrating and the record ------------------------------------------------------------------
def test_calibrate_records_reloads_and_auto_applies_it(tmp_path, val):
    ckpt = tiny_refiner_files(tmp_path) / "ckpt"
    refiner = Refiner.load(ckpt)
    cal = calibrate_refiner(refiner, val, "either")
    refiner.save(ckpt)
    again = Refiner.load(ckpt)
    assert again.calibration == cal and cal.calibrated
    assert set(cal.strength_scores.mpjpe_mm) == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert set(cal.strength_scores.parts) == {"full", "in-plane"}
    assert "none" in cal.smoothing_scores.mpjpe_mm
    auto = again.apply(val).predictions
    chosen = again.apply(val, ApplyOptions(cal.strength, cal.correct)).predictions
    np.testing.assert_array_equal(auto.concat("pred3d"), chosen.concat("pred3d"))
    json.dumps(json.loads((ckpt / CONFIG_FILE).read_text()))  # plain JSON


def test_checkpoints_written_before_the_record_still_load(tmp_path, val):
    """A config.json of the earlier layout (guard range and fps in `data`, `strength` and
    `smoothing` records with string keys) loads as the same calibration."""
    ckpt = tiny_refiner_files(tmp_path) / "ckpt"
    meta = json.loads((ckpt / CONFIG_FILE).read_text())
    cal = meta.pop("calibration")
    meta["data"]["guard"], meta["data"]["fps"] = cal["guard"], cal.get("fps")
    scores = {"0": 50.0, "0.25": 49.0, "0.5": 48.0, "0.75": 48.5, "1": 49.5}
    meta["strength"] = {"alpha": 0.5, "val_mpjpe_mm": scores, "val_frames": 9, "min_gain": 0.002,
                        "correct": "in-plane"}  # fmt: skip
    meta["smoothing"] = {"choice": {"filter": "savgol", "window": 5, "order": 2},
                         "label": "savgol(5,2)", "val_mpjpe_mm": {"none": 48.0}}  # fmt: skip
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))
    old = Refiner.load(ckpt).calibration
    assert (old.strength, old.correct, old.fps) == (0.5, "in-plane", cal.get("fps"))
    assert old.guard.to_dict() == cal["guard"] and old.strength_scores.mpjpe_mm[0.5] == 48.0
    assert old.filter_choice == {"filter": "savgol", "window": 5, "order": 2}
    meta["strength"]["alpha"] = 3
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(D3PRError, match="strength must be 'auto' or a number in"):
        Refiner.load(ckpt)
    meta["strength"] = {"alpha": 0.5, "val_mpjpe_mm": scores, "val_frames": 9, "min_gain": 0.002,
                        "correct": "depth"}  # fmt: skip
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(D3PRError, match="correct must be one of full, in-plane"):
        Refiner.load(ckpt)


def test_a_corrupt_calibration_record_is_one_line(tmp_path):
    ckpt = tiny_refiner_files(tmp_path) / "ckpt"
    meta = json.loads((ckpt / CONFIG_FILE).read_text())
    meta["calibration"] = {"strength": 2.0, "correct": "full"}
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(D3PRError, match="strength must be"):
        Refiner.load(ckpt)
    meta["calibration"] = {"correct": "full"}
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(D3PRError, match="bad calibration record"):
        Refiner.load(ckpt)


def test_training_with_validation_records_a_calibration(tmp_path, val):
    from d3prefiner.refiner import RefinerConfig, train_refiner

    torch.set_num_threads(1)
    kw = dict(steps=2, use_cnd=False, window=9, train_stride=3, refine_stride=9)
    cfg = RefinerConfig.from_preset("tiny", "paper", **kw)
    refiner = train_refiner(cfg, val, None, tmp_path / "r", val_preds=val, progress=False)
    cal = Refiner.load(tmp_path / "r").calibration
    assert cal == refiner.calibration and cal.strength_scores.frames == 120
    assert cal.correct == "full" and cal.smoothing_scores is not None and refiner.history
    # the `any` recipe's part: the strength is chosen for the in-plane part, and applied so
    cfg = RefinerConfig.from_preset("tiny", "paper", correct="in-plane", **kw)
    refiner = train_refiner(cfg, val, None, tmp_path / "p", val_preds=val, progress=False)
    assert Refiner.load(tmp_path / "p").calibration.correct == "in-plane"
    out = refiner.apply(val, ApplyOptions(strength=1.0)).predictions
    np.testing.assert_array_equal(out.concat("pred3d")[..., 2], val.concat("pred3d")[..., 2])


# -- the CLI, and the studies' rows ----------------------------------------------------------------
def test_cli_calibrate_then_refine(tmp_path, capsys, val):
    d = tiny_refiner_files(tmp_path)
    val.save(d / "val.npz")
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--threads", "1"], capsys)
    assert code == 0, out
    assert "strength on validation (MPJPE mm)" in out and "recorded in" in out
    assert "calibrate: geometric steps" in out  # minutes on a training file: a bar says where
    cal = Refiner.load(d / "ckpt").calibration
    code, out = run_cli(["refine", d / "ckpt", d / "val.npz", "-o", d / "r.npz", "--threads",
                         "1", "--no-progress"], capsys)  # fmt: skip
    assert code == 0, out
    want = Refiner.load(d / "ckpt").apply(val).predictions
    np.testing.assert_array_equal(Predictions.load(d / "r.npz").concat("pred3d"),
                                  want.concat("pred3d"))  # fmt: skip
    if cal.strength == 0:
        assert "passes through unchanged" in out
    code, out = run_cli(["refine", d / "ckpt", d / "val.npz", "-o", d / "r2.npz",
                         "--strength", "2"], capsys)  # fmt: skip
    assert code == 2 and "strength must be 'auto' or a number in [0, 1]" in out
    assert not (d / "r2.npz").exists()
    before = (d / "ckpt" / CONFIG_FILE).read_text()
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--out", d / "mine",
                         "--correct", "either", "--no-progress"], capsys)  # fmt: skip
    assert code == 0 and "part chosen on validation" in out and "calibrate:" not in out
    assert (d / "ckpt" / CONFIG_FILE).read_text() == before
    assert set(Refiner.load(d / "mine").calibration.strength_scores.parts) == {"full", "in-plane"}
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--out", d / "ckpt"], capsys)
    assert code == 2 and "is the input" in out
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--subjects", "S99"], capsys)
    assert code == 2 and "no sequences of subject(s) S99" in out
    code, out = run_cli(["calibrate", d / "ckpt", d / "val.npz", "--correct", "depth"], capsys)
    assert code == 2 and "--correct must be full, in-plane or either" in out


def test_cli_refine_says_when_it_passes_through_and_in_plane(tmp_path, capsys):
    d = tiny_refiner_files(tmp_path)
    meta = json.loads((d / "ckpt" / CONFIG_FILE).read_text())
    scores = [[0.0, 50.0], [0.25, 51.0], [0.5, 52.0], [0.75, 53.0], [1.0, 54.0]]
    meta["calibration"].update(strength=0.0, validation={"strength": {
        "mpjpe_mm": scores, "frames": 9, "min_gain": 0.002}})  # fmt: skip
    (d / "ckpt" / CONFIG_FILE).write_text(json.dumps(meta))
    argv = ["refine", d / "ckpt", d / "p.npz", "--no-progress", "-o"]
    code, out = run_cli([*argv, d / "r.npz"], capsys)
    assert code == 0, out
    assert "did not lower MPJPE on its validation predictions (50.0 → 54.0 mm" in out
    p = Predictions.load(d / "p.npz")
    np.testing.assert_array_equal(Predictions.load(d / "r.npz").concat("pred3d"),
                                  p.concat("pred3d"))  # fmt: skip
    code, out = run_cli([*argv, d / "r1.npz", "--strength", "1", "--correct", "in-plane"], capsys)
    assert code == 0 and "passes through" not in out and "image-plane part" in out
    r1 = Predictions.load(d / "r1.npz").concat("pred3d")
    assert not np.array_equal(r1, p.concat("pred3d"))
    np.testing.assert_array_equal(r1[..., 2], p.concat("pred3d")[..., 2])
    code, out = run_cli([*argv, d / "r2.npz", "--correct", "depth"], capsys)
    assert code == 2 and "correct must be one of auto, full, in-plane" in out


def test_the_studies_rows_equal_what_refine_writes(tmp_path, capsys):
    """The bench's "as applied" rows (with and without the filter) and the pooled study's
    calibrated rows are the files `d3pr refine` writes with the same options."""
    from d3prefiner.study.experiment import as_applied
    from d3prefiner.study.pooled import _options

    torch.set_num_threads(1)  # as `--threads 1` below: the same sums in the same order
    d = tiny_refiner_files(tmp_path)
    val = make_synthetic_predictions(n_sequences=3, n_frames=60, seed=7, error_scale=0.005)
    refiner = Refiner.load(d / "ckpt")
    cal = calibrate_refiner(refiner, val)
    refiner.calibration = cal.replace(strength=0.5, filter="gaussian", filter_params={})
    refiner.save(d / "ckpt")
    test = Predictions.load(d / "p.npz")
    full = refiner.apply(test, FULL).predictions  # what a study caches
    rows = as_applied(refiner, test, full)
    pooled_row = refiner.apply(test, _options(refiner.calibration), full=full).predictions
    argv = ["refine", d / "ckpt", d / "p.npz", "--no-progress", "--threads", "1", "-o"]
    said = {}
    for name, extra in (("refined_auto", []), ("refined_auto_unfiltered", ["--smooth", "none"])):
        code, said[name] = run_cli([*argv, d / f"{name}.npz", *extra], capsys)
        assert code == 0, said[name]
        written = Predictions.load(d / f"{name}.npz").concat("pred3d")
        np.testing.assert_array_equal(rows[name].concat("pred3d"), written)
    assert "--smooth auto: gaussian" in said["refined_auto"].lower()  # says what it applied
    assert "--smooth" not in said["refined_auto_unfiltered"].replace("--smooth none", "")
    written = Predictions.load(d / "refined_auto_unfiltered.npz").concat("pred3d")
    np.testing.assert_array_equal(pooled_row.concat("pred3d"), written)  # no filter in that study
    assert not np.array_equal(written, test.concat("pred3d"))  # something was applied
    filtered = Predictions.load(d / "refined_auto.npz").concat("pred3d")
    assert not np.array_equal(filtered, written)  # the calibrated filter, by default


# -- trust: the same answer for the same sequence; estimators it never saw -------------------------
def test_a_sequences_output_depends_only_on_that_sequence(refiner):
    """With the guard on (the default), a sequence refined alone and inside files of like and
    unlike sequences gives identical output."""
    like = make_synthetic_predictions(n_sequences=2, n_frames=45, seed=11, error_scale=0.005)
    unlike = make_synthetic_predictions(n_sequences=3, n_frames=45, seed=12, error_scale=0.2)
    assert refiner.apply(unlike).flags  # the guard does see them
    mixes = [like, unlike, Predictions([*unlike, *like], "synthetic")]
    outputs = {}
    for preds in mixes:
        for s, out in zip(preds, refiner.apply(preds).predictions):
            outputs.setdefault((s.action, float(s.pred3d[0, 1, 0])), []).append(out.pred3d)
    for s in [*like, *unlike]:
        alone = refiner.apply(Predictions([s], "synthetic")).predictions.sequences[0].pred3d
        for out in outputs[(s.action, float(s.pred3d[0, 1, 0]))]:
            np.testing.assert_array_equal(out, alone)


def test_an_unseen_estimator_is_left_alone_until_calibrated(tmp_path, capsys, val):
    """A refiner of one estimator passes another estimator's file through by default; a pooled
    refiner applies its in-plane part; calibrating on the estimator unlocks its calibration."""
    d = tiny_refiner_files(tmp_path)
    refiner = Refiner.load(d / "ckpt")
    assert refiner.calibration.estimators == ("synthetic",) and not refiner.calibration.pooled
    other = Predictions(list(val), "their-lifter")
    applied = refiner.apply(other)
    assert applied.unseen and applied.alpha == 0.0
    np.testing.assert_array_equal(applied.predictions.concat("pred3d"), val.concat("pred3d"))
    assert not refiner.apply(val).unseen  # its own estimator: the calibration as recorded
    filtered = Refiner.load(d / "ckpt")  # a filter chosen on validation is not applied either
    filtered.calibration = filtered.calibration.replace(filter="gaussian", filter_params={})
    assert filtered.apply(val).choice["filter"] == "gaussian"
    applied = filtered.apply(other)
    assert applied.choice == {"filter": "none"}
    np.testing.assert_array_equal(applied.predictions.concat("pred3d"), val.concat("pred3d"))
    forced = refiner.apply(other, ApplyOptions(strength=1.0))
    assert forced.alpha == 1.0 and not np.array_equal(
        forced.predictions.concat("pred3d"), val.concat("pred3d")
    )
    # a pooled refiner: the in-plane part at its strength
    pooled = Refiner.load(d / "ckpt")
    pooled.calibration = pooled.calibration.replace(estimators=("pool(a+b)",))
    applied = pooled.apply(other)
    assert applied.unseen and (applied.alpha, applied.part) == (1.0, "in-plane")
    np.testing.assert_array_equal(applied.predictions.concat("pred3d")[..., 2],
                                  val.concat("pred3d")[..., 2])  # fmt: skip
    assert not np.array_equal(applied.predictions.concat("pred3d"), val.concat("pred3d"))
    other.save(d / "other.npz")
    argv = ["refine", d / "ckpt", d / "other.npz", "--no-progress", "-o"]
    code, out = run_cli([*argv, d / "r.npz"], capsys)
    assert code == 0 and "estimator 'their-lifter': not one this refiner was trained" in out
    assert "passes through unchanged" in out and "d3pr calibrate" in out
    code, out = run_cli([*argv, d / "r1.npz", "--strength", "1"], capsys)
    assert code == 0 and "risks making it worse" in out
    # calibrated on that estimator's validation predictions: it is known
    code, out = run_cli(["calibrate", d / "ckpt", d / "other.npz", "--out", d / "mine"], capsys)
    assert code == 0, out
    mine = Refiner.load(d / "mine")
    assert mine.calibration.knows("their-lifter") and not mine.apply(other).unseen
    assert Calibration(estimators=("pool(a+their-lifter)",)).knows("their-lifter")
    assert not Calibration(estimators=("pool(a+c)",)).knows("b")
    assert Calibration().knows("anything")  # nothing recorded: no restriction
    # another training budget or 2D setting of the same model is another estimator
    from d3prefiner.lifters.config import TrainConfig

    short, long_ = (
        TrainConfig.from_dict({"steps": n, "lifter": {"model": "tcn"}}) for n in (500, 1500)
    )
    trained_on = Calibration(estimators=(short.estimator("gt"),))
    assert trained_on.knows("tcn-T27-500-gt")
    assert not trained_on.knows(long_.estimator("gt")) and not trained_on.knows(
        short.estimator("detected")
    )
    # a checkpoint that recorded the older name (model and window only) still knows that lifter
    older = Calibration(estimators=("tcn-T27",))
    assert older.knows("tcn-T27-1500-gt") and older.knows("tcn-T27-500")
    assert not older.knows("tcn-T81-1500-gt") and not older.knows("tcn-T27x")


def test_calibrating_on_one_frame_is_refused(refiner, val):
    one = Predictions([replace(val.sequences[0], pose2d=val.sequences[0].pose2d[:1],
                               pred3d=val.sequences[0].pred3d[:1], gt3d=val.sequences[0].gt3d[:1])],
                      "synthetic")  # fmt: skip
    with pytest.raises(D3PRError, match="2 frames or more"):
        calibrate_refiner(refiner, one)

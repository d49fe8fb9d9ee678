"""The per-joint geometric step: per-joint weights of the steps' moves, fitted by least squares on
validation, scored on bodies they were not fitted on, recorded in the checkpoint and applied by
`d3pr refine`; nothing but the file's estimate, 2D and camera is read when it is applied."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli, tiny_refiner_files
from d3prefiner.errors import D3PRError
from d3prefiner.metrics import frame_errors
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import Calibration, Refiner
from d3prefiner.refiner.calibrate import choose_geometric
from d3prefiner.refiner.calibration import PER_JOINT, geometric_step
from d3prefiner.refiner.shares import (
    LOCAL_SPANS_S,
    SHARES_SPANS_S,
    SHARES_STEPS,
    JointShares,
    apply_shares,
    crossfit,
    crossfit_sets,
    equations,
    moves,
    pieces,
    solve,
)

K = 1 + len(SHARES_STEPS) * len(SHARES_SPANS_S)


def _preds(seed: int, n: int = 4, frames: int = 80) -> Predictions:
    return make_synthetic_predictions(n_sequences=n, n_frames=frames, seed=seed, intrinsics=True)


def _jittered(preds: Predictions, sd: float, seed: int = 0) -> Predictions:
    """White noise of ``sd`` (normalised units; 0.02 is 10 px at 1000 px wide) on the 2D."""
    rng = np.random.default_rng(seed)
    seqs = [type(s)(**{**s.__dict__, "pose2d": s.pose2d + rng.normal(0, sd, s.pose2d.shape)})
            for s in preds]  # fmt: skip
    return Predictions(seqs, preds.estimator)


def _mm(preds: Predictions) -> float:
    return 1000 * float(frame_errors(preds, "root").mean())


def test_the_fit_recovers_planted_weights():
    """Ground truth made of known shares of the moves: least squares finds them, joint by joint."""
    preds = _preds(1)
    rng = np.random.default_rng(0)
    want = rng.uniform(-0.5, 1.2, (K, 17))
    want[:, 0] = 0.0  # the root never moves
    seqs = []
    for s in preds:
        start, m = moves(s, {})
        gt = start + np.einsum("kfjc,kj->fjc", m, want)
        seqs.append(type(s)(**{**s.__dict__, "gt3d": gt.astype(np.float32)}))
    planted = Predictions(seqs, preds.estimator)
    got = solve(*equations(planted, None))
    np.testing.assert_allclose(got, want, atol=1e-2)
    out = apply_shares(planted, None, JointShares(got))
    assert _mm(out) < 0.05  # mm: the truth itself


def test_it_weighs_the_2d_by_how_much_it_deserves():
    """Scored on halves it was not fitted on: with exact 2D it does about as well as the best whole
    step; with jittered 2D, where the whole step costs, better than any share of it. (Six
    sequences: the moves within each, which is what the calibration keeps on so few.)"""
    exact = _preds(2, n=6)
    held, _ = crossfit([(exact, None)], LOCAL_SPANS_S)
    whole = min(_mm(geometric_step(exact, g)) for g in SHARES_STEPS)
    assert whole < 0.9 * _mm(exact) and _mm(held[0]) < 1.05 * whole
    noisy = _jittered(exact, 0.02)
    held, _ = crossfit([(noisy, None)], LOCAL_SPANS_S)
    shares = {s: _mm(geometric_step(noisy, "rays", share=s)) for s in (0.1, 0.3, 0.5, 1)}
    assert shares[1] > _mm(noisy)  # the whole step copies the jitter into the pose
    assert _mm(held[0]) < min(*shares.values(), _mm(noisy))


def test_crossfit_scores_each_part_under_the_others_fit():
    a, b, c = (_jittered(_preds(s, n=2), 0.004, s) for s in (3, 4, 5))
    held, all_fit = crossfit([(a, None), (b, None), (c, None)])
    eq = {k: equations(pieces(p), None) for k, p in zip("abc", (a, b, c))}  # fitted on pieces
    only_bc = JointShares(solve(eq["b"][0] + eq["c"][0], eq["b"][1] + eq["c"][1]))
    np.testing.assert_allclose(held[0].concat("pred3d"), apply_shares(a, None, only_bc).concat("pred3d"),
                               atol=1e-6)  # fmt: skip
    total = [sum(e[i] for e in eq.values()) for i in (0, 1)]
    np.testing.assert_allclose(all_fit.array, solve(*total), atol=1e-6)
    one, _ = crossfit([(a, None)])  # one part: two halves, each under the other's fit, in order
    assert [s.action for s in one[0]] == [s.action for s in a]


def test_both_sets_of_spans_from_one_system_are_each_sets_own_fit():
    """The calibration's one pass (the moves made once, each set of spans a block of one
    system) writes what cross-fitting each set on its own writes, parts and halves alike."""
    a, b = (_jittered(_preds(s, n=3), 0.004, s) for s in (6, 7))
    for parts in ([(a, None), (b, None)], [(a, None)]):
        both = crossfit_sets(parts, (SHARES_SPANS_S, LOCAL_SPANS_S))
        for (outs, shares), spans in zip(both, (SHARES_SPANS_S, LOCAL_SPANS_S)):
            alone, fit = crossfit(parts, spans)
            assert shares == fit and shares.spans_s == spans
            for got, want in zip(outs, alone):
                np.testing.assert_allclose(got.concat("pred3d"), want.concat("pred3d"), atol=1e-6)
                assert [s.action for s in got] == [s.action for s in want]


def test_the_record_refuses_what_are_not_joint_shares():
    good = JointShares(np.zeros((K, 17)))
    assert JointShares.from_dict(json.loads(json.dumps(good.to_dict()))) == good
    for bad in (np.zeros((K - 1, 17)), np.full((K, 17), np.nan), np.full((K, 17), 9.0)):
        with pytest.raises(D3PRError, match="joint shares"):
            JointShares(bad)
    with pytest.raises(D3PRError, match="read the 2D"):
        JointShares(np.zeros((1 + len(SHARES_SPANS_S), 17)), ("bones",))
    with pytest.raises(D3PRError, match="per-joint exactly when"):
        Calibration(geometric=PER_JOINT)
    with pytest.raises(D3PRError, match="calibration: .*joint shares"):
        Calibration.from_dict({"strength": 0, "correct": "full", "geometric": PER_JOINT,
                               "geometric_shares": {"steps": ["rays", "bones+reproject"],
                                                    "spans_s": [0, 0.12, 0.32],
                                                    "weights": [[0.0] * 17] * 5}})  # fmt: skip


def test_the_spans_are_seconds_at_each_sequences_own_rate():
    s = _jittered(_preds(6, n=1, frames=120), 0.01).sequences[0]
    _, m25 = moves(s, {})
    fast = type(s)(**{**s.__dict__, "fps": 2 * s.fps})
    _, m50 = moves(fast, {})
    np.testing.assert_allclose(m25[1], m50[1])  # the raw move does not depend on the rate
    assert not np.allclose(m25[2], m50[2])  # a smoothed one spans twice the frames at twice it
    assert np.abs(np.diff(m50[3], axis=0)).mean() < np.abs(np.diff(m25[3], axis=0)).mean()


def test_chosen_with_jittered_2d_recorded_and_applied_without_reading_truth(tmp_path, capsys):
    files = tiny_refiner_files(tmp_path)
    val = _jittered(_preds(7, n=6, frames=100), 0.02)
    choice = choose_geometric(val)
    assert choice.step == PER_JOINT and isinstance(choice.joint_shares, JointShares)
    assert choice.scores["per-joint"] < min(v for k, v in choice.scores.items() if k != "per-joint")
    refiner = Refiner.load(files / "ckpt")
    refiner.calibration = refiner.calibration.replace(
        strength=0.0, geometric=PER_JOINT, geometric_shares=choice.joint_shares, bones=None,
        estimators=(val.estimator,),
    )  # fmt: skip
    refiner.save(files / "per-joint")
    again = Refiner.load(files / "per-joint")
    assert again.calibration.geometric_shares == choice.joint_shares
    test = _jittered(_preds(8, n=3, frames=100), 0.02, seed=1)
    test.save(tmp_path / "t.npz")
    blind = Predictions([type(s)(**{**s.__dict__, "gt3d": None}) for s in test], test.estimator)
    blind.save(tmp_path / "blind.npz")
    for name in ("t", "blind"):
        code, out = run_cli(["refine", files / "per-joint", tmp_path / f"{name}.npz", "-o",
                             tmp_path / f"r-{name}.npz", "--no-progress"], capsys)  # fmt: skip
        assert code == 0, out
    assert "--geometric auto: per-joint" in out
    written = Predictions.load(tmp_path / "r-t.npz").concat("pred3d")
    np.testing.assert_array_equal(
        written, Predictions.load(tmp_path / "r-blind.npz").concat("pred3d")
    )
    np.testing.assert_allclose(
        written, apply_shares(test, None, choice.joint_shares).concat("pred3d"), atol=1e-6
    )
    assert _mm(Predictions.load(tmp_path / "r-t.npz")) < _mm(test)


def _offset(preds: Predictions, sd: float, follow: float, seed: int = 0) -> Predictions:
    """A detector's constant offset per joint and sequence (``sd``, normalised units) with a
    little jitter on the 2D, and an estimate that has followed ``follow`` of it: what a lifter
    trained on such 2D does."""
    from d3prefiner.baselines import GEOMETRIC

    rng = np.random.default_rng(seed)
    seqs = []
    for s in preds:
        shape = s.pose2d.shape
        y = s.pose2d + rng.normal(0, sd, (1, *shape[1:])) + rng.normal(0, sd / 4, shape)
        truth = type(s)(**{**s.__dict__, "pred3d": s.gt3d, "pose2d": y})
        est = s.pred3d + follow * (GEOMETRIC["reproject"](truth, None) - s.gt3d)
        seqs.append(type(s)(**{**s.__dict__, "pose2d": y.astype(np.float32),
                                "pred3d": est.astype(np.float32)}))  # fmt: skip
    return Predictions(seqs, preds.estimator)


def test_a_sequences_constant_offset_takes_its_own_weight():
    """The moves' mean over each sequence is a move of its own: a detector's constant offset at a
    joint, mostly followed by the estimate, is told apart from the motion's correction and weighed
    alone (scored on halves it was not fitted on). The calibration keeps it where it pays held
    out, and drops it where a few sequences make its weights a guess."""
    many = make_synthetic_predictions(n_sequences=24, n_frames=60, seed=9, intrinsics=True,
                                      error_scale=0.01)  # fmt: skip
    preds = _offset(many, 0.03, 0.8)
    local, _ = crossfit([(preds, None)], LOCAL_SPANS_S)
    held, shares = crossfit([(preds, None)])
    assert shares.spans_s == SHARES_SPANS_S and "over the sequence" in shares.describe()
    assert _mm(held[0]) < 0.95 * _mm(local[0]) and _mm(held[0]) < 0.9 * _mm(preds)
    kept = json.loads(json.dumps(shares.to_dict()))
    assert kept["spans_s"][-1] == "sequence" and JointShares.from_dict(kept) == shares
    assert choose_geometric(preds).joint_shares.spans_s == SHARES_SPANS_S
    few = choose_geometric(_jittered(_preds(2, n=6, frames=100), 0.01)).joint_shares
    assert few.spans_s == LOCAL_SPANS_S  # six sequences: the mean's weights would be a guess


def test_the_fit_sees_clips_of_the_lengths_users_refine():
    """Pieces of 1.5 to 9 s, cut in order with the 2D and the truth alongside, every frame kept
    once; the same input gives the same pieces; a sequence under twice the shortest stays whole."""
    long = _preds(7, n=2, frames=1200)
    fps = long.sequences[0].fps
    cut = pieces(long)
    lengths = [s.num_frames for s in cut]
    assert len(cut) > 4 and [s.num_frames for s in pieces(long)] == lengths
    for k in ("pose2d", "pred3d", "gt3d"):
        np.testing.assert_array_equal(cut.concat(k), long.concat(k))
    secs = [s.num_frames / fps for s in cut]
    assert min(secs) >= 1.5 - 1 / fps and max(secs) <= 9 + 1 / fps
    assert [s.action for s in cut] == sorted(s.action for s in cut)  # in order, none mixed
    short = _preds(8, n=2, frames=int(2.5 * fps))
    assert [s.num_frames for s in pieces(short)] == [s.num_frames for s in short]

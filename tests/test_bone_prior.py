"""The training bodies' bone lengths as a prior of the geometric step: recorded by training and by
`d3pr calibrate --bones-from`, the weight of a sequence's own medians chosen on validation (kept
at 1 where the prior does not fit the bodies), applied by `d3pr refine`."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_cli, tiny_refiner_files
from d3prefiner.errors import D3PRError
from d3prefiner.geometry import bone_lengths, set_bone_lengths
from d3prefiner.metrics import frame_errors
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import ApplyOptions, Calibration, Refiner
from d3prefiner.refiner.calibrate import choose_geometric, geometric_label, left_out_parts
from d3prefiner.refiner.calibration import BonePrior, geometric_step

#: One body: 16 bone lengths (metres), longer limbs than trunk links.
BODY = np.array([0.13, 0.45, 0.44, 0.13, 0.45, 0.44, 0.23, 0.25, 0.11, 0.12,
                 0.15, 0.28, 0.25, 0.15, 0.28, 0.25])  # fmt: skip


def _bodies(seed: int, est_scale: float, n: int = 4, frames: int = 80) -> Predictions:
    """Sequences of the body :data:`BODY` with exact pinhole 2D (the synthetic camera), whose
    estimate has every bone ``est_scale`` times the truth's and 1 cm of noise per joint."""
    rng = np.random.default_rng(seed)
    seqs = []
    for s in make_synthetic_predictions(n_sequences=n, n_frames=frames, seed=seed, intrinsics=True):
        gt = set_bone_lengths(s.gt3d, BODY)
        est = set_bone_lengths(gt, est_scale * BODY) + rng.normal(0, 0.01, gt.shape)
        est -= est[:, :1]
        pose2d = gt[..., :2] / (4.0 + gt[..., 2:3]) * 2.0
        seqs.append(type(s)(**{**s.__dict__, "gt3d": gt.astype(np.float32),
                               "pred3d": est.astype(np.float32),
                               "pose2d": pose2d.astype(np.float32)}))  # fmt: skip
    return Predictions(seqs, "est")


def _mm(preds: Predictions) -> float:
    return 1000 * float(frame_errors(preds, "root").mean())


def test_the_prior_is_the_training_ground_truths_median_and_blends_by_its_weight():
    preds = _bodies(0, 1.0)
    prior = BonePrior.of(preds)
    assert prior.weight == 1.0 and prior.frames == 4 * 16
    np.testing.assert_allclose(prior.lengths_m, BODY, atol=1e-5)
    own = 0.8 * BODY
    np.testing.assert_allclose(prior.at(0.25)(own), 0.25 * own + 0.75 * BODY)
    back = BonePrior.from_dict(prior.at(0.5).to_dict())
    assert back.weight == 0.5 and np.allclose(back.lengths_m, prior.lengths_m, atol=1e-5)
    assert BonePrior.of(preds.with_pred3d([s.pred3d for s in preds])) is not None
    no_gt = Predictions([type(s)(**{**s.__dict__, "gt3d": None}) for s in preds], "est")
    assert BonePrior.of(no_gt) is None
    with pytest.raises(D3PRError, match="0-2.5 m"):
        BonePrior(tuple(1000 * BODY), 10)  # millimetres
    giants = Predictions([type(s)(**{**s.__dict__, "gt3d": 10 * s.gt3d}) for s in preds], "est")
    assert BonePrior.of(giants) is None  # training goes on without a prior
    with pytest.raises(D3PRError, match="bones"):
        prior(np.ones(5))
    cal = Calibration(bones=prior.at(0.25))
    assert Calibration.from_dict(cal.to_dict()).bones.weight == 0.25
    assert Calibration.from_dict(Calibration().to_dict()).bones is None  # older checkpoints


def test_weight_zero_sets_the_prior_and_weight_one_is_the_step_without_it():
    preds = _bodies(1, 0.85)
    prior = BonePrior(tuple(BODY), 100)
    for step in ("bones", "bones+reproject", "rays"):
        alone = geometric_step(preds, step)
        same = geometric_step(preds, step, prior)  # weight 1
        assert all(np.array_equal(a.pred3d, b.pred3d) for a, b in zip(alone, same))
    out = geometric_step(preds, "bones", prior.at(0.0))
    for s in out:
        np.testing.assert_allclose(bone_lengths(s.pred3d), np.broadcast_to(BODY, (80, 16)),
                                   atol=1e-5)  # fmt: skip
    out = geometric_step(preds, "rays", prior.at(0.0))
    assert _mm(out) < 0.5 * _mm(geometric_step(preds, "rays"))


def test_validation_pulls_short_bones_toward_the_prior_and_refuses_a_prior_of_other_bodies():
    short = _bodies(2, 0.85)  # the estimator makes everyone 15 % smaller
    got = choose_geometric(short, BonePrior(tuple(BODY), 100))
    assert got.weight < 1.0 and got.step != "none"
    own = min(got.scores[g] for g in ("bones", "bones+reproject", "rays", "rays-nearest"))
    label = geometric_label(got.step, got.weight, got.share, got.pooled)
    assert got.scores[label] < 0.9 * own
    exact = _bodies(3, 1.0)  # right bones; a prior of people 30 % taller must not be imposed
    got = choose_geometric(exact, BonePrior(tuple(1.3 * BODY), 100))
    label = geometric_label(got.step, got.weight, got.share, got.pooled)
    assert got.weight == 1.0 and got.scores[label] <= 1.005 * min(got.scores.values())  # a tie


def test_training_records_the_prior_and_refine_applies_its_weight(tmp_path, capsys):
    d = tiny_refiner_files(tmp_path)
    train = Predictions.load(d / "p.npz")
    refiner = Refiner.load(d / "ckpt")
    np.testing.assert_allclose(refiner.calibration.bones.lengths_m,
                               BonePrior.of(train).lengths_m, atol=1e-5)  # fmt: skip
    assert refiner.calibration.bones.weight == 1.0
    refiner.calibration = refiner.calibration.replace(bones=BonePrior(tuple(BODY), 1, 0.0),
                                                      geometric="bones")  # fmt: skip
    refiner.save(d / "ckpt")
    out = tmp_path / "out.npz"
    code, text = run_cli(["refine", d / "ckpt", d / "p.npz", "-o", out, "--strength", "0"], capsys)
    assert code == 0 and "0 × the sequence's median length + 1 × the training bodies'" in text
    for s in Predictions.load(out):
        np.testing.assert_allclose(bone_lengths(s.pred3d), np.broadcast_to(BODY, (60, 16)),
                                   atol=1e-4)  # fmt: skip
    applied = Refiner.load(d / "ckpt").apply(train, ApplyOptions(strength=0.0, geometric="none"))
    assert all(np.array_equal(a.pred3d, b.pred3d) for a, b in zip(applied.predictions, train))


def test_calibrate_bones_from_records_that_files_bodies(tmp_path, capsys):
    d = tiny_refiner_files(tmp_path)
    _bodies(4, 1.0).save(tmp_path / "bodies.npz")
    val = _bodies(5, 0.85, n=2)
    val.save(tmp_path / "val.npz")
    code, text = run_cli(["calibrate", d / "ckpt", tmp_path / "val.npz",
                          "--bones-from", tmp_path / "bodies.npz"], capsys)  # fmt: skip
    assert code == 0, text
    cal = Refiner.load(d / "ckpt").calibration
    np.testing.assert_allclose(cal.bones.lengths_m, BODY, atol=1e-5)
    assert cal.bones.weight < 1.0 and "@" in text
    no_gt = Predictions([type(s)(**{**s.__dict__, "gt3d": None}) for s in val], "est")
    no_gt.save(tmp_path / "no_gt.npz")
    code, text = run_cli(["calibrate", d / "ckpt", tmp_path / "val.npz",
                          "--bones-from", tmp_path / "no_gt.npz"], capsys)  # fmt: skip
    assert code == 2 and text.strip().startswith("error:") and "--bones-from" in text
    giants = Predictions([type(s)(**{**s.__dict__, "gt3d": 10 * s.gt3d}) for s in val], "est")
    giants.save(tmp_path / "giants.npz")
    code, text = run_cli(["calibrate", d / "ckpt", tmp_path / "val.npz",
                          "--bones-from", tmp_path / "giants.npz"], capsys)  # fmt: skip
    assert code == 2 and text.count("error:") == 1 and "no person's bone lengths" in text


def _person(subject: str, seed: int, body_scale: float, est_scale: float) -> Predictions:
    """:func:`_bodies` of a person ``body_scale`` times :data:`BODY`, named ``subject``."""
    seqs = []
    for s in _bodies(seed, 1.0, n=2):
        gt = set_bone_lengths(s.gt3d, body_scale * BODY)
        est = set_bone_lengths(s.pred3d, est_scale * body_scale * BODY)
        pose2d = gt[..., :2] / (4.0 + gt[..., 2:3]) * 2.0
        seqs.append(type(s)(**{**s.__dict__, "subject": subject, "gt3d": gt.astype(np.float32),
                               "pred3d": (est - est[:, :1]).astype(np.float32),
                               "pose2d": pose2d.astype(np.float32)}))  # fmt: skip
    return Predictions(seqs, "est")


def test_the_bones_weight_is_chosen_on_every_body_each_with_the_others_bones(tmp_path, capsys):
    # four training bodies near BODY whose estimates are 15 % short, and a validation subject, a
    # tall person estimated right: alone it says "trust the sequence's own bones" (weight 1);
    # every body, each scored with the others' bones as its prior, says "pull them" (weight < 1)
    others = [_person(f"S{i}", 20 + i, scale, 0.85)
              for i, scale in zip((1, 5, 6, 7), (0.97, 1.03, 0.99, 1.01))]  # fmt: skip
    val = _person("S8", 30, 1.3, 1.0)
    bodies = Predictions.pool([*others, val], "est")
    prior_of_others = BonePrior.of(Predictions.pool(others, "est"))
    step, weight, *_ = choose_geometric(val, prior_of_others)
    assert weight == 1.0 and step != "none"
    d = tiny_refiner_files(tmp_path)
    refiner = Refiner.load(d / "ckpt")
    parts, subjects = left_out_parts(refiner, val, val, bodies, 0.0, "full")
    assert subjects == ["S1", "S5", "S6", "S7", "S8"]
    for (part, prior), subject in zip(parts, subjects):
        assert {s.subject for s in part} == {subject}
        rest = bodies.filter(subjects=[x for x in subjects if x != subject])
        np.testing.assert_allclose(prior.lengths_m, BonePrior.of(rest).lengths_m)
    for s in bodies.filter(subjects=["S1"]):  # the others' predictions are taken as they are
        assert any(np.array_equal(s.pred3d, p.pred3d) for p in parts[0][0])
    val.save(tmp_path / "val.npz")
    bodies.save(tmp_path / "bodies.npz")
    code, text = run_cli(["calibrate", d / "ckpt", tmp_path / "val.npz",
                          "--bodies", tmp_path / "bodies.npz"], capsys)  # fmt: skip
    assert code == 0, text
    cal = Refiner.load(d / "ckpt").calibration
    assert cal.geometric != "none" and cal.bones.weight < 1.0
    assert cal.geometric_bodies == ("S1", "S5", "S6", "S7", "S8") and "5 bodies" in text
    np.testing.assert_allclose(cal.bones.lengths_m, BonePrior.of(bodies).lengths_m, atol=1e-6)
    assert Calibration.from_dict(cal.to_dict()) == cal
    code, text = run_cli(["calibrate", d / "ckpt", tmp_path / "val.npz", "--bodies",
                          tmp_path / "bodies.npz", "--bones-from", tmp_path / "bodies.npz"],
                         capsys)  # fmt: skip
    assert code == 2 and text.count("error:") == 1 and "--bodies" in text


def test_a_body_pooled_over_the_sequences_of_its_subject():
    """`pooled`: every sequence of a subject gets its body's lengths, the frame-weighted mean of
    the sequences' own medians; another subject keeps its own; the record keeps the flag."""
    a = _bodies(4, 1.0, n=3, frames=60)
    rng = np.random.default_rng(1)
    seqs = []
    for i, s in enumerate(a):  # each sequence's estimate a different size: noisy own medians
        est = set_bone_lengths(s.pred3d, rng.uniform(0.85, 1.15) * BODY)
        seqs.append(type(s)(**{**s.__dict__, "subject": "S1",
                               "pred3d": est.astype(np.float32)[: 40 + 10 * i],
                               "gt3d": s.gt3d[: 40 + 10 * i], "pose2d": s.pose2d[: 40 + 10 * i]}))  # fmt: skip
    tall = _person("S9", 7, 1.2, 1.0)
    preds = Predictions([*seqs, *tall], "est")
    prior = BonePrior(tuple(BODY), 100).at(1.0, pooled=True)
    out = geometric_step(preds, "bones", prior)
    own = [np.median(bone_lengths(s.pred3d), axis=0) for s in seqs]
    body = np.average(own, axis=0, weights=[len(s.pred3d) for s in seqs])
    for s in list(out)[: len(seqs)]:
        np.testing.assert_allclose(bone_lengths(s.pred3d), np.broadcast_to(body, (len(s.pred3d), 16)),
                                   rtol=1e-4)  # fmt: skip
    tall_own = np.average([np.median(bone_lengths(s.pred3d), axis=0) for s in tall], axis=0,
                          weights=[len(s.pred3d) for s in tall])  # fmt: skip
    np.testing.assert_allclose(bone_lengths(list(out)[-1].pred3d)[0], tall_own, rtol=1e-4)
    # the body's lengths are nearer the truth than a sequence's own, and validation says so
    assert _mm(out.filter(subjects=["S1"])) < _mm(
        geometric_step(preds, "bones").filter(subjects=["S1"])
    )
    assert (
        BonePrior.from_dict(prior.to_dict()) == prior
        and "pooled" not in prior.at(1.0, False).to_dict()
    )
    got = choose_geometric(Predictions(seqs, "est"), BonePrior(tuple(1.3 * BODY), 100))
    assert got.pooled and got.weight == 1.0

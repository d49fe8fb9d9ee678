"""Metrics: hand-computed values, invariances (hypothesis), per-action aggregation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from d3prefiner.errors import D3PRError
from d3prefiner.metrics import (
    METRIC_KEYS,
    accel_error,
    aggregate_actions,
    canonical_action,
    evaluate_predictions,
    frame_errors,
    frame_mpjpe_mm,
    joint_errors,
    mpjpe,
    mpjve,
    n_mpjpe,
    order_actions,
    p_mpjpe,
    sequence_errors,
)
from d3prefiner.predictions import Predictions, PredictionSequence

torch.set_num_threads(1)


def _pose(seed: int, shape=(17, 3)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * 0.3


def _rotation(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


# ------------------------------------------------------------------ hand-computed values


def test_translation_gives_its_length():
    gt = _pose(0, (4, 17, 3))
    d = torch.tensor([0.03, -0.04, 0.12], dtype=torch.float64)  # |d| = 0.13
    err = mpjpe(gt + d, gt)
    assert err.shape == (4,)
    assert torch.allclose(err, torch.full((4,), 0.13, dtype=torch.float64))
    assert torch.allclose(joint_errors(gt + d, gt), torch.full((4, 17), 0.13, dtype=torch.float64))


def test_mpjpe_one_joint_off():
    gt = torch.zeros(17, 3)
    pred = gt.clone()
    pred[5] = torch.tensor([0.0, 0.34, 0.0])
    assert mpjpe(pred, gt).item() == pytest.approx(0.02)


def test_velocity_error_two_frames():
    gt = torch.zeros(2, 17, 3)
    pred = torch.zeros(2, 17, 3)
    pred[1, 3] = torch.tensor([0.0, 0.0, 0.17])  # one joint moves 0.17 between the frames
    v = mpjve(pred, gt)
    assert v.shape == (1,)
    assert v.item() == pytest.approx(0.01)  # 0.17 / 17 joints, per frame
    assert mpjve(pred, gt, fps=50).item() == pytest.approx(0.5)  # 0.01 m/frame · 50 = 0.5 m/s


def test_acceleration_of_constant_velocity_is_zero():
    gt = _pose(1, (1, 17, 3)).repeat(10, 1, 1)
    t = torch.arange(10, dtype=torch.float64)[:, None, None]
    pred = gt + 0.02 * t * torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    a = accel_error(pred, gt, fps=50)
    assert a.shape == (8,)
    assert torch.allclose(a, torch.zeros(8, dtype=torch.float64), atol=1e-12)
    # but the velocity error is the constant drift speed
    speed = 0.02 * math.sqrt(1 + 4 + 0.25)
    assert torch.allclose(mpjve(pred, gt), torch.full((9,), speed, dtype=torch.float64))


def test_acceleration_of_a_spike():
    gt = torch.zeros(3, 17, 3)
    pred = gt.clone()
    pred[1, 2, 0] = 0.17  # second difference 0 − 2·0.17 + 0 on one joint
    assert accel_error(pred, gt).item() == pytest.approx(2 * 0.17 / 17)
    assert accel_error(pred, gt, fps=10).item() == pytest.approx(2 * 0.17 / 17 * 100)


def test_batched_temporal_shapes():
    pred, gt = _pose(2, (2, 5, 6, 17, 3)), _pose(3, (2, 5, 6, 17, 3))
    assert mpjve(pred, gt).shape == (2, 5, 5)
    assert accel_error(pred, gt).shape == (2, 5, 4)


def test_n_mpjpe_scaling_and_hand_value():
    gt = _pose(4)
    assert n_mpjpe(2.5 * gt, gt).item() == pytest.approx(0.0, abs=1e-9)
    # pred orthogonal-in-total to gt: best scale is 0, error = mean joint norm of gt
    pred = torch.zeros(17, 3, dtype=torch.float64)
    pred[1, 0] = 1.0
    g = torch.zeros(17, 3, dtype=torch.float64)
    g[2, 1] = 0.34
    assert n_mpjpe(pred, g).item() == pytest.approx(0.02)


def test_bad_inputs():
    with pytest.raises(D3PRError, match="shapes differ"):
        mpjpe(torch.zeros(17, 3), torch.zeros(16, 3))
    with pytest.raises(D3PRError, match=r"\(\.\.\., J, 3\)"):
        mpjpe(torch.zeros(17, 2), torch.zeros(17, 2))
    with pytest.raises(D3PRError, match="at least 2 frames"):
        mpjve(torch.zeros(1, 17, 3), torch.zeros(1, 17, 3))
    with pytest.raises(D3PRError, match="at least 3 frames"):
        accel_error(torch.zeros(2, 17, 3), torch.zeros(2, 17, 3))
    with pytest.raises(D3PRError, match="fps"):
        mpjve(torch.zeros(3, 17, 3), torch.zeros(3, 17, 3), fps=0)


# ------------------------------------------------------------------ properties


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    scale=st.floats(0.2, 5.0),
    shift=st.tuples(*[st.floats(-3, 3)] * 3),
)
def test_p_mpjpe_invariant_to_similarity(seed, scale, shift):
    gt = _pose(seed)
    R = _rotation(seed + 1)
    pred = scale * gt @ R.T + torch.tensor(shift, dtype=torch.float64)
    assert p_mpjpe(pred, gt).item() < 1e-6
    assert mpjpe(pred, gt).item() > 1e-6 or (abs(scale - 1) < 1e-3 and max(map(abs, shift)) < 1e-3)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.05, 20.0))
def test_n_mpjpe_invariant_to_scale(seed, scale):
    gt = _pose(seed, (3, 17, 3))
    assert n_mpjpe(scale * gt, gt).max().item() < 1e-9


@settings(max_examples=40, deadline=None)
@given(a=st.integers(0, 10_000), b=st.integers(0, 10_000))
def test_mpjpe_symmetric_nonnegative(a, b):
    x, y = _pose(a, (2, 17, 3)), _pose(b, (2, 17, 3))
    e = mpjpe(x, y)
    assert torch.all(e >= 0)
    assert torch.allclose(e, mpjpe(y, x))
    assert mpjpe(x, x).abs().max().item() == 0.0
    assert p_mpjpe(x, y).min().item() >= 0


# ------------------------------------------------------------------ actions and aggregation


@pytest.mark.parametrize(
    "name, expected",
    [
        ("walking_1", "walking"),
        ("WalkDog 1", "walkdog"),
        ("walkingdog_2", "walkdog"),
        ("Walking 1.54138969", "walking"),
        ("TakingPhoto", "photo"),
        ("Photo 1", "photo"),
        ("SittingDown 2", "sittingdown"),
        ("walkingtogether_1", "walktogether"),
        ("Directions", "directions"),
        ("backflip", "backflip"),
    ],
)
def test_canonical_action(name, expected):
    assert canonical_action(name) == expected


def test_order_actions_paper_order_then_others():
    assert order_actions(["walking", "zz", "directions", "eating", "aa"]) == [
        "directions",
        "eating",
        "walking",
        "aa",
        "zz",
    ]


def _errs(mpjpe_vals, vel=None, acc=None):
    v = np.asarray(mpjpe_vals, dtype=float)
    return {
        "mpjpe_mm": v,
        "p_mpjpe_mm": v / 2,
        "n_mpjpe_mm": v,
        "mpjve_mm_s": np.asarray(vel if vel is not None else v[1:], dtype=float),
        "accel_mm_s2": np.asarray(acc if acc is not None else v[2:], dtype=float),
    }


def test_action_mean_vs_frame_mean():
    # walking: 3 + 1 frames pooled over two takes/subjects (all error 1); eating: 1 frame, error 5
    table = aggregate_actions(
        [
            ("walking_1", _errs([1, 1, 1])),
            ("Walking 2", _errs([1])),
            ("eating", _errs([5])),
        ]
    )
    assert table.actions == ["eating", "walking"]
    assert table.per_action["walking"].frames == 4
    assert table.per_action["walking"].mpjpe_mm == pytest.approx(1.0)
    assert table.action_weighted.mpjpe_mm == pytest.approx(3.0)  # (1 + 5) / 2
    assert table.frame_weighted.mpjpe_mm == pytest.approx(9 / 5)  # (4·1 + 5) / 5
    assert table.action_weighted.p_mpjpe_mm == pytest.approx(1.5)
    assert table.action_weighted.frames == table.frame_weighted.frames == 5
    # eating has 1 frame: no velocity / acceleration; averages skip it, JSON gets null
    assert math.isnan(table.per_action["eating"].mpjve_mm_s)
    assert table.action_weighted.mpjve_mm_s == pytest.approx(1.0)
    assert table.to_dict()["per_action"]["eating"]["accel_mm_s2"] is None


def test_aggregate_rejects_missing_keys_and_empty():
    with pytest.raises(D3PRError, match="lack"):
        aggregate_actions([("walking", {"mpjpe_mm": np.ones(3)})])
    with pytest.raises(D3PRError, match="no sequences"):
        aggregate_actions([])


def _seq(action, gt, pred, subject="S9", fps=50.0):
    F = len(gt)
    return PredictionSequence(
        subject, action, "cam0", fps, np.zeros((F, 17, 2), np.float32), pred, gt
    )


def test_evaluate_predictions_hand_values():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 0.3, (20, 17, 3)).astype(np.float32)
    gt -= gt[:, :1]
    d = np.array([0.0, 0.06, 0.08], np.float32)  # |d| = 0.1 m on every non-root joint
    pred = gt.copy()
    pred[:, 1:] += d
    gt2 = gt[:10].copy()
    preds = Predictions([_seq("walking_1", gt, pred), _seq("Eating 2", gt2, gt2, "S11")])
    t = evaluate_predictions(preds)
    assert t.per_action["walking"].mpjpe_mm == pytest.approx(100 * 16 / 17, rel=1e-5)
    assert t.per_action["walking"].mpjve_mm_s == pytest.approx(0.0, abs=1e-2)  # float32 inputs
    assert t.per_action["eating"].mpjpe_mm == pytest.approx(0.0, abs=1e-6)
    assert t.action_weighted.mpjpe_mm == pytest.approx(50 * 16 / 17, rel=1e-5)
    assert t.frame_weighted.mpjpe_mm == pytest.approx(100 * 16 / 17 * 20 / 30, rel=1e-5)
    assert set(t.to_dict()["action_weighted"]) == {"frames", *METRIC_KEYS}


def test_sequence_errors_root_relative_and_short():
    gt = np.zeros((1, 17, 3), np.float32)
    pred = gt + 0.5  # a pure translation: zero after root centring
    e = sequence_errors(pred, gt, fps=25)
    assert e["mpjpe_mm"].shape == (1,) and e["mpjpe_mm"][0] == pytest.approx(0.0)
    assert e["mpjve_mm_s"].size == 0 and e["accel_mm_s2"].size == 0


def test_evaluate_predictions_needs_gt():
    s = PredictionSequence(
        "S9", "walking", "c", 50.0, np.zeros((3, 17, 2), np.float32), np.zeros((3, 17, 3))
    )
    with pytest.raises(D3PRError, match="no gt3d"):
        evaluate_predictions(Predictions([s]))


# ------------------------------------------------------------------ root alignment, per frame


def test_mpjpe_align_root_hand_values():
    gt = torch.zeros(2, 17, 3, dtype=torch.float64)
    pred = gt + torch.tensor([0.3, 0.0, 0.4], dtype=torch.float64)  # |shift| = 0.5 on all joints
    assert torch.allclose(mpjpe(pred, gt), torch.full((2,), 0.5, dtype=torch.float64))
    assert torch.allclose(mpjpe(pred, gt, align="none"), mpjpe(pred, gt))
    assert torch.allclose(mpjpe(pred, gt, align="root"), torch.zeros(2, dtype=torch.float64))
    # one non-root joint 0.17 m off, root in place: 0.01 m either way
    pred2 = gt.clone()
    pred2[:, 5, 1] = 0.17
    for align in ("none", "root"):
        assert torch.allclose(mpjpe(pred2, gt, align), torch.full((2,), 0.01, dtype=torch.float64))
    assert joint_errors(pred, gt, align="root").abs().max() == 0
    with pytest.raises(D3PRError, match="align"):
        mpjpe(pred, gt, align="pelvis")


def test_frame_errors_metres_root_aligned_by_default():
    rng = np.random.default_rng(1)
    gt = rng.normal(0, 0.3, (6, 17, 3)).astype(np.float32)
    pred = gt.copy()
    pred[:, 1:, 2] += 0.17  # 0.16 m mean over 17 joints, root-relative
    pred += np.array([1.0, 0.0, 0.0], np.float32)  # plus a root translation of 1 m
    preds = Predictions([_seq("walking", gt[:4], pred[:4]), _seq("eating", gt[4:], pred[4:])])
    e = frame_errors(preds)
    assert e.dtype == torch.float64 and e.shape == (6,)
    assert torch.allclose(e, torch.full((6,), 0.16, dtype=torch.float64), atol=1e-6)
    assert (frame_errors(preds, align="none") > 0.9).all()
    other = frame_errors(preds, gt=pred)  # against a given ground truth
    assert torch.allclose(other, torch.zeros(6, dtype=torch.float64))
    # frame_mpjpe_mm keeps comparing as given unless told
    assert frame_mpjpe_mm(preds) == pytest.approx(
        round(float(frame_errors(preds, align="none").mean()) * 1000, 2)
    )
    assert frame_mpjpe_mm(preds, align="root") == pytest.approx(160.0, abs=0.01)

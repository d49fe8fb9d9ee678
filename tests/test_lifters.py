"""Lifters: shapes, gradients, overfitting, checkpoints, resume, prediction, cross-fitting."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from d3prefiner.data.sequences import Clip
from d3prefiner.errors import D3PRError
from d3prefiner.lifters import build_lifter, lifter_config, train_config
from d3prefiner.lifters.config import LifterConfig, TrainConfig
from d3prefiner.lifters.crossfit import cross_fit, fold_groups
from d3prefiner.lifters.predict import flip_pose, predict, predictions_from_clips
from d3prefiner.lifters.train import load_lifter, mpjpe_loss, train_lifter
from d3prefiner.predictions import Predictions
from d3prefiner.skeleton import H36M17

torch.set_num_threads(1)
MODELS = ("stcformer", "mixste")  # the attention lifters (context 0)
ALL = (*MODELS, "tcn")


def make_clip(n_frames: int, seed: int, subject: str = "S1", action: str = "walk") -> Clip:
    """A smooth synthetic motion seen by a pinhole camera 4 m away (normalised 2D)."""
    rng = np.random.default_rng(seed)
    rest = rng.normal(0, 0.25, (17, 3))
    rest[0] = 0
    t = np.arange(n_frames)[:, None, None] / 25.0
    amp, freq = rng.normal(0, 0.1, (1, 17, 3)), rng.uniform(0.5, 2, (1, 17, 3))
    pose3d = rest[None] + amp * np.sin(2 * np.pi * freq * t)  # (F, 17, 3)
    pose3d = pose3d - pose3d[:, :1]
    cam = pose3d + np.array([0.0, 0.0, 4.0])
    pose2d = 1.2 * cam[..., :2] / cam[..., 2:]  # (F, 17, 2)
    return Clip(subject, action, "c0", 25.0, pose2d.astype(np.float32), pose3d.astype(np.float32))


def tiny_config(model: str = "stcformer", **kw) -> TrainConfig:
    return train_config(model, "tiny", **{"steps": 4, "batch_size": 4, **kw})


@pytest.mark.parametrize("model", MODELS)
def test_shapes_and_root_zero(model):
    torch.manual_seed(0)
    net = build_lifter(model, "tiny")
    x = torch.randn(3, net.config.window, 17, 2)
    y = net(x)
    assert y.shape == (3, net.config.window, 17, 3)
    assert torch.all(y[..., 0, :] == 0)
    assert net(x[:, :5]).shape == (3, 5, 17, 3)  # shorter windows are fine
    with pytest.raises(D3PRError, match="17, 2"):
        net(torch.randn(2, 5, 16, 2))
    with pytest.raises(D3PRError, match="at most"):
        net(torch.randn(2, net.config.window + 1, 17, 2))


def test_presets_sizes():
    mix = build_lifter("mixste", "paper")
    assert 30e6 < mix.num_parameters < 40e6  # MixSTE reports 33.6M
    stc = build_lifter("stcformer", "paper")
    assert 4e6 < stc.num_parameters < 5.5e6  # STCFormer reports 4.7M
    for m in MODELS:
        assert 5e4 < build_lifter(m, "cpu").num_parameters < 6e5


def test_config_validation():
    with pytest.raises(D3PRError, match="model"):
        LifterConfig(model="videopose")
    with pytest.raises(D3PRError, match="divisible"):
        LifterConfig(model="stcformer", dim=12, heads=4)
    with pytest.raises(D3PRError, match="preset"):
        lifter_config("mixste", "huge")
    cfg = tiny_config()
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(D3PRError, match="unknown"):
        TrainConfig.from_dict({**cfg.to_dict(), "bogus": 1})


@pytest.mark.parametrize("model", MODELS)
def test_qk_norm_bounds_the_attention_logits(model):
    """QK-norm: each head's queries and keys are unit-variance vectors, so q·k/√d is at most √d
    in size (the LayerNorms' gains start at 1), however large the query/key weights grow in
    training (as they did in the MixSTE cpu preset's temporal blocks); without it the logits
    grow with them. Old configs (no ``qk_norm`` field) build the plain model."""
    import d3prefiner.lifters.mixste as M
    import d3prefiner.nn.stc as S

    torch.manual_seed(0)
    logits = []

    def spy(q, k, v, p=0.0):
        logits.append(float((q @ k.transpose(-1, -2)).detach().abs().max() * q.shape[-1] ** -0.5))
        return torch.softmax(q @ k.transpose(-1, -2), -1) @ v

    x = torch.randn(2, 9, 17, 2)
    for qk in (True, False):
        net = build_lifter(model, "tiny", qk_norm=qk)
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name.endswith(("attn.qkv.weight", "attn.q.weight", "attn.kv.weight")):
                    p.mul_(30)  # grown weights
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(M, "attention", spy)
            mp.setattr(S, "attention", spy)
            logits.clear()
            net(x)
        d = net.config.dim // net.config.heads // (2 if model == "stcformer" else 1)
        assert logits  # every attention layer went through the spy
        if qk:
            assert max(logits) <= d**0.5 + 1e-4
            assert sum(isinstance(m, torch.nn.LayerNorm) for m in net.modules()) > (
                sum(
                    isinstance(m, torch.nn.LayerNorm) for m in build_lifter(model, "tiny").modules()
                )
            )
        else:
            assert max(logits) > 10 * d**0.5
    old = {k: v for k, v in asdict(lifter_config(model, "tiny")).items() if k != "qk_norm"}
    assert LifterConfig(**old).qk_norm is False
    with pytest.raises(D3PRError, match="needs attention"):
        LifterConfig(model="tcn", qk_norm=True)


@pytest.mark.parametrize(("model", "qk_norm"), [(m, q) for m in MODELS for q in (False, True)])
def test_gradients_reach_every_parameter(model, qk_norm):
    torch.manual_seed(0)
    net = build_lifter(model, "tiny", **({"qk_norm": True} if qk_norm else {}))
    x = torch.randn(2, net.config.window, 17, 2)
    net(x).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("model", MODELS)
def test_overfits_a_tiny_batch(model):
    torch.manual_seed(0)
    net = build_lifter(model, "tiny", dim=32)
    clip = make_clip(net.config.window * 2, seed=1)
    x = torch.as_tensor(clip.pose2d).reshape(2, net.config.window, 17, 2)  # (B, T, J, 2)
    y = torch.as_tensor(clip.pose3d).reshape(2, net.config.window, 17, 3)  # (B, T, J, 3)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    with torch.no_grad():
        first = float(mpjpe_loss(net(x), y))
    for _ in range(300):
        loss = mpjpe_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert float(mpjpe_loss(net(x), y)) < first / 10


def test_flip_pose_is_an_involution_and_mirrors():
    x = torch.randn(2, 3, 17, 3)
    assert torch.equal(flip_pose(flip_pose(x)), x)
    f = flip_pose(x)
    left, right = H36M17.joints_left[0], H36M17.joints_right[0]
    assert torch.equal(f[..., left, 0], -x[..., right, 0])
    assert torch.equal(f[..., left, 1:], x[..., right, 1:])


def _clips(n=3, frames=40, subject="S1"):
    return [make_clip(frames + 7 * i, seed=i, subject=subject, action=f"a{i}") for i in range(n)]


def test_checkpoint_round_trip_and_predict(tmp_path):
    clips = _clips()
    cfg = tiny_config("mixste", steps=2)
    model = train_lifter(cfg, clips, clips[:1], tmp_path / "run", progress=False)
    loaded = load_lifter(tmp_path / "run")
    a, b = predict(model, clips), predict(loaded, clips)
    for p, q, c in zip(a, b, clips):
        assert p.shape == c.pose3d.shape
        np.testing.assert_array_equal(p, q)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["stopped"] == "steps" and history["steps"] == 2
    assert history["records"][0]["val_mpjpe_mm"] > 0
    assert history["precision"] in ("fp32", "bf16")
    # predictions file round trip
    preds = Predictions(predictions_from_clips(clips, a, split="test"), "mixste")
    preds.save(tmp_path / "p.npz")
    back = Predictions.load(tmp_path / "p.npz")
    assert [s.action for s in back] == [c.action for c in clips]
    for s, p, c in zip(back, a, clips):
        np.testing.assert_array_equal(s.pred3d, p)
        np.testing.assert_array_equal(s.gt3d, c.pose3d)


def test_mismatched_checkpoint_is_rejected(tmp_path):
    cfg = tiny_config(steps=1)
    train_lifter(cfg, _clips(1), out_dir=tmp_path / "run", progress=False)
    conf = json.loads((tmp_path / "run" / "config.json").read_text())
    conf["train"]["lifter"]["dim"] = 32
    (tmp_path / "run" / "config.json").write_text(json.dumps(conf))
    with pytest.raises(D3PRError, match="do not match config.json"):
        load_lifter(tmp_path / "run")
    with pytest.raises(D3PRError, match="already holds a run"):
        train_lifter(cfg, _clips(1), out_dir=tmp_path / "run", progress=False)


@pytest.mark.parametrize("model", ALL)
def test_resume_gives_the_same_weights(tmp_path, model, monkeypatch):
    import d3prefiner.engine.loop as loop

    clips = _clips()
    cfg = tiny_config(model, steps=6, val_every=2, lifter={"dropout": 0.1})
    straight = train_lifter(cfg, clips, clips[:1], out_dir=tmp_path / "a", progress=False)
    real, calls = loop._checkpoint, []

    def killed_after_first(*args, **kw):
        real(*args, **kw)
        calls.append(1)
        raise KeyboardInterrupt  # a kill right after the step-2 checkpoint

    monkeypatch.setattr(loop, "_checkpoint", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        train_lifter(cfg, clips, clips[:1], out_dir=tmp_path / "b", progress=False)
    monkeypatch.setattr(loop, "_checkpoint", real)
    assert calls == [1] and (tmp_path / "b" / "state.safetensors").exists()
    resumed = train_lifter(cfg, clips, clips[:1], out_dir=tmp_path / "b", resume=True,
                           progress=False)  # fmt: skip
    for (k, v), w in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(v, w), k
    a = json.loads((tmp_path / "a" / "history.json").read_text())["records"]
    b = json.loads((tmp_path / "b" / "history.json").read_text())["records"]
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    with pytest.raises(D3PRError, match="differs"):
        train_lifter(
            tiny_config(model, lr=0.5), clips, out_dir=tmp_path / "b", resume=True, progress=False
        )


def test_budget_stops_after_the_step_past_it(tmp_path):
    cfg = tiny_config(steps=50)
    train_lifter(cfg, _clips(), out_dir=tmp_path / "r", max_minutes=1e-6, progress=False)
    history = json.loads((tmp_path / "r" / "history.json").read_text())
    assert history["stopped"] == "budget" and history["steps"] == 1


def test_predict_tds_short_clips_and_bad_input():
    torch.manual_seed(0)
    net = build_lifter("stcformer", "tiny", tds=3)
    clips = [make_clip(4, 0), make_clip(50, 1)]  # shorter and longer than the span
    out = predict(net, clips, flip_test=True, batch_size=3)
    assert [o.shape for o in out] == [(4, 17, 3), (50, 17, 3)]
    # each TDS phase is predicted from its own sub-sequence
    sub = predict(build_lifter("stcformer", "tiny", tds=1).eval(), [clips[1].pose2d[1::3]])
    assert sub[0].shape == (17, 17, 3)
    with torch.no_grad():
        direct = net.eval()(torch.as_tensor(clips[1].pose2d[1::3][: net.config.window])[None])
    # 17 sub-frames, windows [0, 9) and [8, 17): frames 0..7 come from the first window only
    np.testing.assert_allclose(
        predict(net, clips[1:], flip_test=False)[0][1::3][:8], direct[0, :8], atol=1e-6
    )
    with pytest.raises(D3PRError, match="17, 2"):
        predict(net, [np.zeros((10, 16, 2))])
    bad = np.zeros((10, 17, 2))
    bad[3, 2, 0] = np.nan
    with pytest.raises(D3PRError, match="NaN"):
        predict(net, [bad])


def test_tds_training_runs():
    cfg = train_config("stcformer", "tiny", steps=2, batch_size=4, lifter={"tds": 2})
    model = train_lifter(cfg, _clips(2), progress=False)
    assert model.config.tds == 2


def test_cross_fit(tmp_path):
    by_subject = {s: _clips(2, 30, subject=s) for s in ("S1", "S5", "S6", "S9")}
    cfg = tiny_config(steps=2)
    assert fold_groups(["S1", "S5", "S6"], 2) == [["S1", "S5"], ["S6"]]
    with pytest.raises(D3PRError, match="folds"):
        fold_groups(["S1"], 2)
    import d3prefiner.lifters.train as lt

    seen, real_task = [], lt.LifterTask

    def spy(config, bank, val):
        seen.append({c.subject for c in val})
        return real_task(config, bank, val)

    lt.LifterTask = spy
    try:
        res = cross_fit(cfg, by_subject, ["S1", "S5", "S6"], ["S9"], tmp_path, progress=False)
    finally:
        lt.LifterTask = real_task
    # each fold validates on its held-out group, the full model on nothing: never the test subject
    assert seen == [{"S1", "S5"}, {"S6"}, set()]
    steps = [
        json.loads((tmp_path / d / "history.json").read_text()) for d in ("fold0", "fold1", "full")
    ]
    assert [h["steps"] for h in steps] == [2, 2, 2]  # trained alike, in steps
    with pytest.raises(D3PRError, match="both in training and test"):
        cross_fit(cfg, by_subject, ["S1", "S5"], ["S5"], tmp_path / "x", progress=False)
    cf = res["train_crossfit"]
    assert {(s.subject, s.fold, s.split) for s in cf} == {
        ("S1", 0, "train"),
        ("S5", 0, "train"),
        ("S6", 1, "train"),
    }
    assert {(s.subject, s.fold, s.split) for s in res["test"]} == {("S9", -1, "test")}
    assert {s.subject for s in res["train_insample"]} == {"S1", "S5", "S6"}
    # a finished model is loaded, not retrained
    stamp = (tmp_path / "full" / "model.safetensors").stat().st_mtime_ns
    again = cross_fit(cfg, by_subject, ["S1", "S5", "S6"], ["S9"], tmp_path, progress=False)
    assert (tmp_path / "full" / "model.safetensors").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again["test"].concat("pred3d"), res["test"].concat("pred3d"))
    with pytest.raises(D3PRError, match="no clips"):
        cross_fit(cfg, by_subject, ["S1", "S7"], ["S9"], tmp_path, progress=False)


def test_cross_fit_side_by_side_matches_one_after_another(tmp_path):
    """``jobs=2`` trains the runs in worker processes (waves of two, then the full model) and
    ends with the same weights as the runs trained one after another with the same threads; a
    worker's error reaches the caller."""
    by_subject = {s: _clips(2, 30, subject=s) for s in ("S1", "S5", "S6", "S9")}
    cfg = tiny_config(steps=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        args = (cfg, by_subject, ["S1", "S5", "S6"], ["S9"])
        one = cross_fit(*args, tmp_path / "seq", progress=False)
        two = cross_fit(*args, tmp_path / "par", progress=False, jobs=2)
        for name in one:
            np.testing.assert_array_equal(one[name].concat("pred3d"), two[name].concat("pred3d"))
        for d in ("fold0", "fold1", "full"):
            h = json.loads((tmp_path / "par" / d / "history.json").read_text())
            assert (h["steps"], h["stopped"]) == (3, "steps")
        # an unfinished run with another config: the worker refuses it, the caller hears it
        bad = tmp_path / "bad"
        cross_fit(*args, bad, progress=False)
        (bad / "fold0" / "history.json").unlink()  # no longer finished: to be resumed
        with pytest.raises(D3PRError, match="config differs"):
            cross_fit(tiny_config(steps=4), *args[1:], bad, progress=False, jobs=2)
    finally:
        torch.set_num_threads(threads)

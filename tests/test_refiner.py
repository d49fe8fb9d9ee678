"""D3PRefiner end to end on synthetic predictions: training, checkpoint, refine, switches, bad input."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from d3prefiner import Refiner
from d3prefiner.baselines import savgol
from d3prefiner.cli import app, main
from d3prefiner.errors import D3PRError
from d3prefiner.noise import PoseNoiseModel, make_synthetic_predictions
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import RefinerConfig, train_refiner, validate
from d3prefiner.refiner.config import RECIPES
from d3prefiner.refiner.core import CONFIG_FILE, MODEL_FILE

W = 9  # window length used in these tests (short: fast)


def _config(**kw):
    base = dict(steps=28, val_every=7, batch_size=8, lr=3e-3, dim=32, window=W, train_stride=3,
                refine_stride=W)  # fmt: skip
    return RefinerConfig.from_preset("tiny", "paper", **{**base, **kw})


@pytest.fixture(scope="module")
def preds():
    # smooth motion, errors = bias + linear function of the 2D input + small AR(1) part
    return make_synthetic_predictions(n_sequences=3, n_frames=60, seed=0, error_scale=0.005)


@pytest.fixture(scope="module")
def noise_model(preds):
    return PoseNoiseModel(temporal="white").fit(preds)


@pytest.fixture(scope="module")
def trained(preds, noise_model, tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("ckpt")
    refiner = train_refiner(_config(), preds, noise_model, out, val_preds=preds, progress=False)
    return refiner, out


def test_training_lowers_mpjpe_on_its_training_windows(trained, preds):
    refiner, _ = trained
    m = validate(refiner, preds)
    assert m["val_mpjpe_refined_mm"] < 0.8 * m["val_mpjpe_base_mm"], m
    # an untrained refiner (zero-initialised head) changes nothing
    untrained = Refiner(refiner.config, type(refiner.model)(refiner.config.denoiser_config()))
    s = preds.sequences[0]
    np.testing.assert_allclose(untrained.refine(s.pose2d, s.pred3d), s.pred3d, atol=2e-3)


def test_checkpoint_directory_describes_itself(trained):
    refiner, out = trained
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "noise.safetensors", "history.json"} <= names
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["refiner"] == refiner.config.to_dict() and cfg["version"]
    assert cfg["e_scale"] == pytest.approx(float(refiner.model.e_scale))
    assert 0.01 < cfg["e_scale"] < 1.0  # metres
    history = json.loads((out / "history.json").read_text())
    assert history["stopped"] == "steps" and history["steps"] == 28
    ep = history["records"]
    assert [r["step"] for r in ep] == [7, 14, 21, 28]
    assert ep[1]["lr"] == pytest.approx(3e-3 * 0.5 * (1 + np.cos(np.pi * 13 / 28)))  # cosine
    assert ep[-1]["loss"] < ep[0]["loss"]
    assert {"val_mpjpe_base_mm", "val_mpjpe_refined_mm", "val_mpjpe_closed_form_mm"} <= set(ep[0])
    best = min(ep, key=lambda r: r["val_mpjpe_refined_mm"])
    assert history["kept_step"] == best["step"]  # keep-best on validation


def test_save_load_gives_identical_refinement(trained, preds, tmp_path):
    refiner, out = trained
    s = preds.sequences[1]
    a = refiner.refine(s.pose2d, s.pred3d)
    b = Refiner.load(out).refine(s.pose2d, s.pred3d)
    np.testing.assert_array_equal(a, b)
    refiner.save(tmp_path / "again")
    c = Refiner.load(tmp_path / "again").refine(s.pose2d, s.pred3d)
    np.testing.assert_array_equal(a, c)


def test_windowed_refine_equals_refining_each_window(trained, preds):
    refiner, _ = trained
    s = preds.sequences[2]
    F = 5 * W  # five non-overlapping windows
    y, x = s.pose2d[:F], s.pred3d[:F]
    whole = refiner.refine(y, x, batch_size=2)
    parts = [refiner.refine(y[i : i + W], x[i : i + W]) for i in range(0, F, W)]
    np.testing.assert_allclose(whole, np.concatenate(parts), atol=1e-6)
    np.testing.assert_allclose(refiner.refine(y, x, batch_size=1000), whole, atol=1e-6)
    # a root trajectory is passed through; the pose is refined root-relative
    shift = np.array([0.5, -0.2, 4.0], dtype=np.float32)
    np.testing.assert_allclose(refiner.refine(y, x + shift), whole + shift, atol=1e-5)


def test_any_length_and_overlapping_windows(trained, preds):
    refiner, _ = trained
    s = preds.sequences[0]
    for F in (1, 2, W - 1, W + 1, 37):
        out = refiner.refine(s.pose2d[:F], s.pred3d[:F], stride=4)
        assert out.shape == (F, 17, 3) and np.isfinite(out).all()
    # a sequence shorter than the window is edge-padded: same as refining the padded sequence
    F = 4
    pad = np.r_[np.arange(F), np.full(W - F, F - 1)]
    short = refiner.refine(s.pose2d[:F], s.pred3d[:F])
    padded = refiner.refine(s.pose2d[pad], s.pred3d[pad])
    np.testing.assert_allclose(short[: F - 1], padded[: F - 1], atol=1e-6)
    np.testing.assert_allclose(short[F - 1], padded[F - 1 :].mean(0), atol=1e-6)  # repeats averaged
    # overlap averaging: every frame once, still close to the non-overlapping result
    a = refiner.refine(s.pose2d, s.pred3d, stride=W)
    b = refiner.refine(s.pose2d, s.pred3d, stride=3)
    assert a.shape == b.shape == s.pred3d.shape
    assert np.abs(a - b).mean() < np.abs(a - s.pred3d).mean()


def test_apply_to_predictions(trained, preds):
    refiner, _ = trained
    out = refiner.apply(preds).predictions
    assert isinstance(out, Predictions) and len(out) == len(preds)
    assert out.estimator.endswith("d3prefiner")
    assert [s.num_frames for s in out] == [s.num_frames for s in preds]


SWITCHES = [
    dict(use_cnd=False),
    dict(use_diffusion=False),
    dict(mode="residual", input_noisy=True),
    dict(loss="mse", loss_x0=True, K=5, terminal="zero_snr"),
    dict(noise_temporal="ar1", depth=2),
]


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda d: "-".join(map(str, d.values())))
def test_switches_saved_and_restored(switches, preds, noise_model, tmp_path):
    cfg = _config(steps=2, **switches)
    small = Predictions(preds.sequences[:1], preds.estimator)
    refiner = train_refiner(cfg, small, noise_model, tmp_path, progress=False)
    saved = json.loads((tmp_path / CONFIG_FILE).read_text())["refiner"]
    for k, v in switches.items():
        assert saved[k] == v
    loaded = Refiner.load(tmp_path)
    assert loaded.config == cfg
    assert loaded.scheduler.timesteps == refiner.scheduler.timesteps
    s = small.sequences[0]
    np.testing.assert_array_equal(
        loaded.refine(s.pose2d, s.pred3d), refiner.refine(s.pose2d, s.pred3d)
    )


def test_residual_mode_without_training_is_the_closed_form(preds, noise_model):
    cfg = _config(mode="residual")
    untrained = Refiner(cfg, type_model(cfg), noise_model)
    s = preds.sequences[0]
    cf = noise_model.closed_form_refine(
        torch.from_numpy(s.pose2d)[None], torch.from_numpy(s.pred3d)[None]
    )[0].numpy()
    np.testing.assert_allclose(untrained.refine(s.pose2d, s.pred3d), cf, atol=2e-3)


def type_model(cfg):
    from d3prefiner.denoiser import PoseDenoiser

    return PoseDenoiser(cfg.denoiser_config())


def test_resume_repeats_the_uninterrupted_run(preds, noise_model, tmp_path, monkeypatch):
    import d3prefiner.engine.loop as loop

    small = Predictions(preds.sequences[:2], preds.estimator)
    cfg = _config(steps=8, val_every=4, dropout=0.1)
    full = train_refiner(cfg, small, noise_model, tmp_path / "a", small, progress=False)
    real = loop._checkpoint

    def killed(*args, **kw):
        real(*args, **kw)
        raise KeyboardInterrupt  # killed right after the step-4 checkpoint

    monkeypatch.setattr(loop, "_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        train_refiner(cfg, small, noise_model, tmp_path / "b", small, progress=False)
    monkeypatch.setattr(loop, "_checkpoint", real)
    resumed = train_refiner(
        cfg, small, noise_model, tmp_path / "b", small, resume=True, progress=False
    )
    for (k, v), w in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=0, atol=0, msg=k)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
    with pytest.raises(D3PRError, match="config differs"):
        train_refiner(_config(steps=8, lr=1e-4), small, noise_model, tmp_path / "b", resume=True)
    with pytest.raises(D3PRError, match="already holds a run"):
        train_refiner(cfg, small, noise_model, tmp_path / "b", progress=False)


def test_time_budget_stops_early(preds, noise_model, tmp_path):
    small = Predictions(preds.sequences[:2], preds.estimator)
    r = train_refiner(
        _config(steps=50), small, noise_model, tmp_path, max_minutes=0.0, progress=False
    )
    assert len(r.history) == 1 and r.history[0]["step"] == 1
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["stopped"] == "budget" and history["steps"] == 1
    assert (tmp_path / MODEL_FILE).exists()


def test_a_budget_in_minutes_becomes_steps_that_run_to_the_end(preds, noise_model, tmp_path):
    """``minutes``: the first steps are timed once, the run gets the steps that fit (recorded in
    steps.json) and finishes them, so its schedule ends; a resumed run reuses the number."""
    small = Predictions(preds.sequences[:2], preds.estimator)
    r = train_refiner(_config(), small, noise_model, tmp_path, minutes=0.02, progress=False)
    record = json.loads((tmp_path / "steps.json").read_text())
    steps = record["steps"]
    assert record["minutes"] == 0.02 and record["seconds_per_step"] > 0 and steps >= 1
    assert r.config.loop.steps == steps and r.history[-1]["step"] == steps
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["steps"] == steps and history.get("stopped") != "budget"
    again = train_refiner(_config(), small, noise_model, tmp_path, minutes=0.02, resume=True,
                          progress=False)  # fmt: skip
    assert again.config.loop.steps == steps


def test_bad_input_is_rejected(trained, preds):
    refiner, _ = trained
    s = preds.sequences[0]
    y, x = s.pose2d, s.pred3d
    nan = x.copy()
    nan[3, 4, 1] = np.nan
    cases = {
        "expected shape": (y[:, :16], x[:, :16]),
        "got \\(": (y[None], x[None]),
        "NaN": (y, nan),
        "frame counts differ": (y[:-1], x),
        "millimetres": (y, x * 1000),
        "pixels": (y * 500 + 500, x),
    }
    for msg, (a, b) in cases.items():
        with pytest.raises(D3PRError, match=msg):
            refiner.refine(a, b)
    with pytest.raises(D3PRError, match="no frames"):
        refiner.refine(y[:0], x[:0])
    with pytest.raises(D3PRError, match="batch_size"):
        refiner.refine(y, x, batch_size=0)


def test_mismatched_checkpoint_is_rejected(trained, tmp_path):
    refiner, _ = trained
    refiner.save(tmp_path)
    meta = json.loads((tmp_path / CONFIG_FILE).read_text())
    meta["refiner"]["depth"] = 3
    (tmp_path / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(D3PRError, match="weights do not match"):
        Refiner.load(tmp_path)
    meta["refiner"]["depth"], meta["refiner"]["bogus"] = refiner.config.depth, 1
    (tmp_path / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(D3PRError, match="unknown refiner config keys"):
        Refiner.load(tmp_path)
    with pytest.raises(D3PRError, match="not found"):
        Refiner.load(tmp_path / "missing")


def test_config_validation():
    with pytest.raises(D3PRError):
        RefinerConfig(mode="other")
    with pytest.raises(D3PRError):
        RefinerConfig(K=0)
    with pytest.raises(D3PRError):
        RefinerConfig(use_diffusion=False, loss_x0=True)
    with pytest.raises(D3PRError):
        RefinerConfig.from_preset("nope")
    assert RefinerConfig.from_preset("paper").dim == 256
    assert RefinerConfig.from_preset("paper", depth=8).depth == 8
    with pytest.raises(D3PRError, match="recipe"):
        RefinerConfig.from_preset("cpu", "nope")


def test_recipes():
    paper = RefinerConfig.from_preset("cpu", "paper")
    assert (paper.mode, paper.noise_temporal, paper.use_cnd, paper.use_diffusion) == (
        "paper",
        "white",
        True,
        True,
    )
    assert not paper.input_noisy and not paper.loss_x0
    default = RefinerConfig.from_preset("cpu")
    for k, v in RECIPES["default"].items():
        assert getattr(default, k) == v
    # explicit switches win over the recipe
    assert RefinerConfig.from_preset("cpu", "paper", mode="residual").mode == "residual"


def test_cli_train_and_refine(preds, noise_model, tmp_path, capsys):
    small = Predictions(preds.sequences[:2], preds.estimator)
    small.save(tmp_path / "p.npz")
    noise_model.save(tmp_path / "noise.safetensors")
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "train", str(tmp_path / "p.npz"), "--noise", str(tmp_path / "noise.safetensors"),
            "--out", str(tmp_path / "ck"), "--preset", "tiny", "--steps", "2", "--window", "9",
            "--no-progress", "--mode", "residual", "--input-noisy",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "ck" / CONFIG_FILE).read_text())["refiner"]
    assert (saved["mode"], saved["input_noisy"], saved["window"]) == ("residual", True, 9)
    res = runner.invoke(
        app,
        ["refine", str(tmp_path / "ck"), str(tmp_path / "p.npz"), "-o", str(tmp_path / "r.npz"),
         "--no-progress"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "MPJPE" in res.output
    assert Predictions.load(tmp_path / "r.npz").num_frames == small.num_frames
    # bad input: millimetres → one error line, exit code 2, nothing written
    mm = small.with_pred3d([s.pred3d * 1000 for s in small])
    mm.save(tmp_path / "mm.npz")
    with pytest.raises(SystemExit) as exc:
        main(["refine", str(tmp_path / "ck"), str(tmp_path / "mm.npz"), "-o",
              str(tmp_path / "bad.npz"), "--no-progress"])  # fmt: skip
    assert exc.value.code == 2
    assert "millimetres" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()
    # --smooth: the filter applied to the refined output, and a bad filter name rejected
    res = runner.invoke(
        app,
        ["refine", str(tmp_path / "ck"), str(tmp_path / "p.npz"), "-o", str(tmp_path / "rs.npz"),
         "--no-progress", "--smooth", "savgol"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    plain, smoothed = Predictions.load(tmp_path / "r.npz"), Predictions.load(tmp_path / "rs.npz")
    assert smoothed.estimator.endswith("+savgol")
    for a, b in zip(plain, smoothed):
        np.testing.assert_allclose(b.pred3d, savgol(a.pred3d), atol=1e-6)
    with pytest.raises(SystemExit) as exc:
        main(["refine", str(tmp_path / "ck"), str(tmp_path / "p.npz"), "-o",
              str(tmp_path / "bad.npz"), "--no-progress", "--smooth", "kalman"])  # fmt: skip
    assert exc.value.code == 2
    assert "kalman" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()


def test_set_steps_changes_the_sampler_not_the_network(trained, preds):
    _, out = trained
    s = preds.sequences[0]
    r2 = Refiner.load(out)
    r5 = Refiner.load(out).set_steps(5)
    assert r5.config.K == 5 and list(r5.scheduler.timesteps)[0] == r2.scheduler.timesteps[0]
    out2, out5 = r2.refine(s.pose2d, s.pred3d), r5.refine(s.pose2d, s.pred3d)
    assert not np.allclose(out2, out5)
    with pytest.raises(D3PRError):
        r2.set_steps(0)


def test_config_defaults_are_the_default_recipe_and_legacy_keys_load():
    from d3prefiner.refiner.config import RECIPES

    plain = RefinerConfig()
    for k, v in RECIPES["default"].items():
        assert getattr(plain, k) == v, k
    assert RefinerConfig.from_preset("cpu") == plain  # the cpu preset is the dataclass's sizes
    old = {**plain.to_dict(), "epochs": 3, "beta1": 0.9, "beta2": 0.999, "schedule_s": 0.008}
    assert RefinerConfig.from_dict(old) == plain

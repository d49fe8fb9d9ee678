"""The training engine: schedules by hand, precision choice, both precisions learn, bit-identical
resume, keep-best, budget, and the step calibration."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import d3prefiner.engine.loop as loop
from d3prefiner.engine import (
    LoopConfig,
    autocast,
    calibrate_steps,
    fit,
    lr_at,
    read_history,
    resolve_precision,
)
from d3prefiner.engine import precision as precision_mod
from d3prefiner.errors import D3PRError

torch.set_num_threads(1)


class LinearTask:
    """Regress y = x·W* + noise with a small MLP; validation = MSE on fixed held-out points."""

    metric = "val_mse"
    frames_per_sample = 1

    def __init__(self, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(8, 3, generator=g)
        self.xv = torch.randn(64, 8, generator=g)
        self.yv = self.xv @ self.w

    def draw(self, n, gen):
        x = torch.randn(n, 8, generator=gen)
        return x, x @ self.w + 0.01 * torch.randn(n, 3, generator=gen)

    def loss(self, net, batch):
        x, y = batch
        return (net(x).float() - y).square().mean(dim=1)  # (B,)

    def validate(self, model):
        with torch.no_grad():
            return {self.metric: float((model(self.xv).float() - self.yv).square().mean())}


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 3))


def test_learning_rate_schedules_by_hand():
    assert lr_at(0, 10, 1.0) == 1.0  # cosine starts at the peak
    assert lr_at(5, 10, 1.0) == pytest.approx(0.5)  # half-way: ½(1 + cos π/2)
    assert lr_at(10, 10, 1.0) == pytest.approx(0.0)
    assert lr_at(2, 10, 1.0, warmup=4) == pytest.approx(0.75 * 0.5 * (1 + math.cos(math.pi / 5)))
    assert lr_at(2500, 10_000, 1e-3, "step", decay=0.5, decay_every=1000) == pytest.approx(2.5e-4)
    assert lr_at(7, 10, 0.3, "constant") == 0.3
    with pytest.raises(D3PRError, match="schedule"):
        lr_at(0, 1, 1.0, "linear")


def test_precision_auto_follows_the_hardware(monkeypatch):
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    monkeypatch.setattr(precision_mod, "cpu_bf16_flags", lambda: ("avx512_bf16",))
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(precision_mod, "cpu_bf16_flags", lambda: ())
    assert resolve_precision("auto", "cpu") == "fp32"
    with pytest.raises(D3PRError, match="precision"):
        resolve_precision("fp16")
    with autocast("bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast("fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_precisions_train_until_the_loss_falls(precision, tmp_path):
    task = LinearTask()
    model = _net()
    before = task.validate(model)["val_mse"]
    cfg = LoopConfig(steps=150, batch_size=32, lr=1e-2, val_every=50, precision=precision)
    result = fit(model, task, cfg, tmp_path, progress=False)
    assert result.precision == precision and result.stopped == "steps"
    assert result.history[-1]["val_mse"] < 0.1 * before
    assert result.history[-1]["loss"] < 0.2 * result.history[0]["loss"]
    assert read_history(tmp_path)["precision"] == precision


def test_resume_is_bit_identical(tmp_path, monkeypatch):
    cfg = LoopConfig(steps=30, batch_size=16, lr=1e-2, val_every=10, precision="fp32", seed=3)
    straight = _net()
    fit(straight, LinearTask(), cfg, tmp_path / "a", progress=False)
    real = loop._checkpoint
    count = []

    def killed_at_second(*args, **kw):
        real(*args, **kw)
        count.append(1)
        if len(count) == 2:
            raise KeyboardInterrupt  # killed right after the step-20 checkpoint

    monkeypatch.setattr(loop, "_checkpoint", killed_at_second)
    with pytest.raises(KeyboardInterrupt):
        fit(_net(), LinearTask(), cfg, tmp_path / "b", progress=False)
    monkeypatch.setattr(loop, "_checkpoint", real)
    resumed = _net(seed=99)  # the weights come from the state file, not from this init
    fit(resumed, LinearTask(), cfg, tmp_path / "b", resume=True, progress=False)
    for (k, v), w in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(v, w), k
    a, b = read_history(tmp_path / "a"), read_history(tmp_path / "b")
    assert [r["loss"] for r in a["records"]] == [r["loss"] for r in b["records"]]
    assert a["kept_step"] == b["kept_step"]
    with pytest.raises(D3PRError, match="already holds a run"):
        fit(_net(), LinearTask(), cfg, tmp_path / "b", progress=False)
    with pytest.raises(D3PRError, match="differs"):
        fit(_net(), LinearTask(), LoopConfig(**{**cfg.__dict__, "lr": 0.5}), tmp_path / "b",
            resume=True, progress=False)  # fmt: skip


def test_ctrl_c_saves_at_a_step_boundary_and_resumes_bit_identically(tmp_path):
    import os
    import signal

    from d3prefiner.errors import Interrupted

    cfg = LoopConfig(steps=30, batch_size=16, lr=1e-2, val_every=10, precision="fp32", seed=3)
    straight = _net()
    fit(straight, LinearTask(), cfg, tmp_path / "a", progress=False)

    class CtrlCAtStep13(LinearTask):
        calls = 0

        def draw(self, n, gen):
            self.calls += 1
            if self.calls == 13:  # Ctrl-C arrives in the middle of step 13
                os.kill(os.getpid(), signal.SIGINT)
            return super().draw(n, gen)

    before = signal.getsignal(signal.SIGINT)  # default_int_handler; SIG_IGN under `nohup … &`
    with pytest.raises(Interrupted, match=r"step 13/30.*--resume"):
        fit(_net(), CtrlCAtStep13(), cfg, tmp_path / "b", progress=False)
    assert json.loads((tmp_path / "b" / "history.json").read_text())["stopped"] == "interrupted"
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    resumed = _net(seed=99)
    fit(resumed, LinearTask(), cfg, tmp_path / "b", resume=True, progress=False)
    for (k, v), w in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(v, w), k


def test_a_command_that_resumes_by_itself_does_not_ask_for_resume(tmp_path, monkeypatch, capsys):
    """`d3pr demo` / `bench` / `grid` have no --resume: a stop there says to run them again."""
    from conftest import run_cli
    from d3prefiner.errors import Interrupted
    from d3prefiner.study import Experiment

    def stopped(self):
        raise Interrupted(f"stopped at step 5/800; saved the run in {self.out / 'refiner'}")

    monkeypatch.setattr(Experiment, "run", stopped)
    code, out = run_cli(["demo", "--mode", "tiny", "--out", tmp_path / "d"], capsys)
    assert code == 130
    assert "step 5/800" in out and "run the same command again to continue" in out
    assert "--resume" not in out
    assert str(Interrupted("x")) == f"x: {Interrupted.RESUME}"  # `d3pr train` keeps its hint
    assert str(Interrupted("x", hint="").with_hint("again")) == "x"  # nothing saved: no hint


def test_state_is_saved_between_log_points_after_the_checkpoint_interval(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "CHECKPOINT_MINUTES", 0.0)  # every step
    saved = []
    real = loop._save_state
    monkeypatch.setattr(loop, "_save_state", lambda *a, **k: (saved.append(a[4]), real(*a, **k)))
    cfg = LoopConfig(steps=6, batch_size=8, lr=1e-2, val_every=3, precision="fp32")
    fit(_net(), LinearTask(), cfg, tmp_path, progress=False)
    assert {1, 2, 4, 5} <= set(saved)  # steps between the log points 3 and 6


class NoisyValidation(LinearTask):
    """Validation that is best at step 20 of 40 whatever the weights (to test keep-best)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def validate(self, model):
        self.calls += 1
        return {self.metric: abs(self.calls - 2) + 1.0}


def test_keep_best_exports_the_best_validated_weights(tmp_path):
    cfg = LoopConfig(steps=40, batch_size=8, lr=1e-2, val_every=10, precision="fp32")
    exported = []
    model = _net()
    snap = {}

    def export(m):
        exported.append({k: v.clone() for k, v in m.state_dict().items()})

    task = NoisyValidation()
    original = task.validate

    def validate(m):
        out = original(m)
        snap[task.calls] = {k: v.clone() for k, v in m.state_dict().items()}
        return out

    task.validate = validate
    result = fit(model, task, cfg, tmp_path, export=export, progress=False)
    assert result.best_step == 20 and read_history(tmp_path)["kept_step"] == 20
    for k, v in model.state_dict().items():  # the model is left holding the step-20 weights
        assert torch.equal(v, snap[2][k]), k
    assert all(torch.equal(exported[-1][k], snap[2][k]) for k in snap[2])
    last = LoopConfig(**{**cfg.__dict__, "keep_best": False})
    model2 = _net()
    fit(model2, NoisyValidation(), last, tmp_path / "last", progress=False)
    assert read_history(tmp_path / "last")["kept_step"] == 40


def test_budget_stops_and_is_recorded(tmp_path):
    cfg = LoopConfig(steps=1000, batch_size=4, precision="fp32")
    result = fit(_net(), LinearTask(), cfg, tmp_path, max_minutes=0.0, progress=False)
    assert result.stopped == "budget" and result.steps == 1
    h = json.loads((tmp_path / "history.json").read_text())
    assert h["stopped"] == "budget" and h["planned_steps"] == 1000 and h["steps"] == 1


def test_calibration_turns_minutes_into_steps():
    cfg = LoopConfig(steps=10, batch_size=16, val_every=100, precision="fp32")
    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cal = calibrate_steps(model, LinearTask(), cfg, minutes=0.5, probe_steps=4)
    assert cal["seconds_per_step"] > 0 and cal["steps"] >= 1
    per = cal["seconds_per_step"] + cal["seconds_per_validation"] / 100
    assert cal["steps"] == int(30 / per)
    for k, v in model.state_dict().items():  # the probe trains a copy
        assert torch.equal(v, before[k])
    with pytest.raises(D3PRError, match="minutes"):
        calibrate_steps(model, LinearTask(), cfg, minutes=0)


def test_the_run_says_how_long_it_will_take():
    """After its first steps a run prints the wall time of the steps left, and where a budget
    stops it."""
    line = loop._estimate("refiner", 0.5, 1000, None)
    assert line == "refiner: 0.50 s/step, about 8 min for the 1000 steps left"
    line = loop._estimate("tcn", 2.0, 5000, 30.0)
    assert (
        "about 2.8 h for the 5000 steps left" in line
        and "stops it after about 900 steps in all" in line
    )
    assert "40 s" in loop._estimate("", 0.4, 100, None)


def test_a_budget_is_measured_once_and_recorded(tmp_path):
    from d3prefiner.engine import steps_for_budget

    calls = []

    def measure(steps):
        def run():
            calls.append(steps)
            return {"steps": steps, "seconds_per_step": 0.5}

        return run

    assert steps_for_budget(tmp_path / "run", 2.0, measure(240), model="x") == 240
    assert steps_for_budget(tmp_path / "run", 2.0, measure(999)) == 240  # a resumed run
    assert json.loads((tmp_path / "run" / "steps.json").read_text())["model"] == "x"
    assert steps_for_budget(tmp_path / "run", 3.0, measure(360)) == 360  # another budget
    assert calls == [240, 360]

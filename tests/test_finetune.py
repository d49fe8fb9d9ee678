"""Fine-tuning a trained refiner (`d3pr train --init`): it starts from the checkpoint's weights and
error scale, keeps its network and switches, and refuses a checkpoint of another network."""

import json

import pytest
import torch

from conftest import run_cli, tiny_refiner_files
from d3prefiner.errors import D3PRError
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.refiner import Refiner, RefinerConfig, train_refiner
from d3prefiner.refiner.core import CONFIG_FILE
from d3prefiner.refiner.train import FINETUNE_LR, FINETUNE_STEPS, finetune_config, run_config


def _tiny(**kw) -> RefinerConfig:
    return RefinerConfig.from_preset("tiny", "paper", use_cnd=False, window=9, train_stride=3,
                                     refine_stride=9, **kw)  # fmt: skip


def test_fine_tuning_starts_from_the_checkpoint(tmp_path):
    torch.set_num_threads(1)
    preds = make_synthetic_predictions(n_sequences=3, n_frames=40, seed=1, error_scale=0.01)
    other = make_synthetic_predictions(n_sequences=3, n_frames=40, seed=2, error_scale=0.05)
    base = train_refiner(_tiny(steps=3), preds, None, tmp_path / "base", progress=False)
    # after 0 steps the fine-tuned network is the checkpoint's, whatever the new data
    same = train_refiner(finetune_config(base.config, steps=0), other, None,
                         tmp_path / "same", progress=False, init=base)  # fmt: skip
    for k, v in base.model.state_dict().items():
        torch.testing.assert_close(same.model.state_dict()[k], v, rtol=0, atol=0)
    # trained from scratch on `other` instead, its error scale would be other's (larger)
    scratch = train_refiner(_tiny(steps=1), other, None, tmp_path / "scratch", progress=False)
    assert float(scratch.model.e_scale) > 1.2 * float(base.model.e_scale)
    moved = train_refiner(finetune_config(base.config, steps=2), other, None, tmp_path / "ft",
                          progress=False, init=base)  # fmt: skip
    assert float(moved.model.e_scale) == float(base.model.e_scale)
    changed = [k for k, v in base.model.state_dict().items()
               if not torch.equal(moved.model.state_dict()[k], v)]  # fmt: skip
    assert changed, "fine-tuning at the default learning rate left every weight unchanged"
    assert moved.config.loop.lr == FINETUNE_LR and moved.config.loop.steps == 2


def test_fine_tuning_another_network_is_refused(tmp_path):
    preds = make_synthetic_predictions(n_sequences=3, n_frames=40, seed=1, error_scale=0.01)
    base = train_refiner(_tiny(steps=1), preds, None, tmp_path / "base", progress=False)
    wider = finetune_config(base.config, dim=base.config.dim * 2)
    with pytest.raises(D3PRError, match=r"network differs from this run's \(dim "):
        train_refiner(wider, preds, None, tmp_path / "w", progress=False, init=base)


def test_finetune_config_defaults_and_overrides():
    c = _tiny(steps=2000, lr=1e-3)
    f = finetune_config(c)
    assert (f.loop.steps, f.loop.lr, f.loop.val_every) == (
        FINETUNE_STEPS,
        FINETUNE_LR,
        FINETUNE_STEPS,
    )
    assert f.denoiser_config() == c.denoiser_config() and f.correct == c.correct
    g = finetune_config(c, steps=50, lr=1e-4, seed=None)
    assert (g.loop.steps, g.loop.lr, g.loop.val_every, g.loop.seed) == (50, 1e-4, 50, c.loop.seed)
    w, ignored = run_config("/nonexistent", False, init=c, window=27)
    assert ignored == [] and (w.window, w.train_stride, w.refine_stride) == (27, 9, 27)


def test_cli_train_init(tmp_path, capsys):
    d = tiny_refiner_files(tmp_path)
    code, out = run_cli(["train", d / "p.npz", "--init", d / "ckpt", "--out", d / "ft",
                         "--steps", "2", "--val", d / "p.npz", "--threads", "1",
                         "--no-progress"], capsys)  # fmt: skip
    assert code == 0, out
    meta = json.loads((d / "ft" / CONFIG_FILE).read_text())
    assert meta["refiner"]["loop"]["steps"] == 2 and meta["refiner"]["loop"]["lr"] == FINETUNE_LR
    assert meta["refiner"]["dim"] == Refiner.load(d / "ckpt").config.dim
    assert "validation" in meta["calibration"]  # calibrated on --val, as any training with it
    # --correct in-plane: the strength is chosen for the image-plane part, and recorded so
    code, out = run_cli(["train", d / "p.npz", "--init", d / "ckpt", "--out", d / "plane",
                         "--steps", "1", "--val", d / "p.npz", "--correct", "in-plane",
                         "--threads", "1", "--no-progress"], capsys)  # fmt: skip
    assert code == 0, out
    meta = json.loads((d / "plane" / CONFIG_FILE).read_text())
    assert meta["refiner"]["correct"] == "in-plane" and meta["calibration"]["correct"] == "in-plane"
    code, out = run_cli(["train", d / "p.npz", "--init", d / "ckpt", "--out", d / "z",
                         "--correct", "depth"], capsys)  # fmt: skip
    assert code == 2 and "correct must be 'full' or 'in-plane'" in out
    code, out = run_cli(["train", d / "p.npz", "--init", d / "ckpt", "--out", d / "x",
                         "--preset", "cpu"], capsys)  # fmt: skip
    assert code == 2 and "drop --preset / --recipe" in out and not (d / "x").exists()
    code, out = run_cli(["train", d / "p.npz", "--init", d / "nothing", "--out", d / "y",
                         "--steps", "1"], capsys)  # fmt: skip
    assert code == 2 and "nothing" in out and out.count("\n") <= 2
    code, out = run_cli(["train", d / "p.npz", "--init", d / "ckpt", "--out", d / "ckpt"],
                        capsys)  # fmt: skip
    assert code == 2

"""The optimisation as a nested ``loop: LoopConfig``: flat overrides route into it, old flat
``config.json`` files (refiner checkpoints, lifter runs with ``T``) load and resume, and config
errors name their argument."""

from __future__ import annotations

import json

import pytest
import torch

from d3prefiner.engine import LOOP_FIELDS, LoopConfig
from d3prefiner.errors import ArgumentError, D3PRError
from d3prefiner.io import load_json, load_safetensors, save_json, save_safetensors
from d3prefiner.lifters.config import LifterConfig, TrainConfig, train_config
from d3prefiner.refiner import RefinerConfig

#: The keys of a refiner ``config.json`` before ``loop`` existed
#: (``git show HEAD~3:src/d3prefiner/refiner/config.py`` at the engine/ rename).
OLD_REFINER_KEYS = {
    **dict.fromkeys(("preset", "dim", "depth", "heads", "mlp_ratio", "dropout", "num_steps")),
    **dict.fromkeys(("terminal", "K", "use_cnd", "use_diffusion", "mode", "input_noisy", "loss")),
    **dict.fromkeys(("loss_x0", "noise_temporal", "correct", "window", "train_stride")),
    **dict.fromkeys(("refine_stride", "steps", "batch_size", "lr", "schedule", "warmup_steps")),
    **dict.fromkeys(("lr_decay", "decay_every", "weight_decay", "grad_clip", "val_every")),
    **dict.fromkeys(("keep_best", "precision", "seed")),
}


def old_refiner_dict(config: RefinerConfig) -> dict:
    """``config`` as an old flat ``config.json`` wrote it."""
    d = config.to_dict()
    loop = d.pop("loop")
    flat = {k: v for k, v in {**d, **loop}.items() if k in OLD_REFINER_KEYS}
    assert sorted(flat) == sorted(OLD_REFINER_KEYS)  # fields added since (e.g. geometry) are absent
    return flat


def old_lifter_dict(config: TrainConfig) -> dict:
    """``config`` as an old flat lifter ``config.json`` wrote it (window called ``T``)."""
    d = config.to_dict()
    d.update(d.pop("loop"))
    d["lifter"]["T"] = d["lifter"].pop("window")
    return d


def test_flat_overrides_route_into_loop():
    c = RefinerConfig.from_preset("tiny", "paper", steps=7, lr=2e-3, seed=3, dim=32)
    assert (c.loop.steps, c.loop.lr, c.loop.seed, c.dim) == (7, 2e-3, 3, 32)
    assert c.loop.val_every == RefinerConfig().loop.val_every  # the rest of the default loop
    r = c.replace(batch_size=5, K=1)
    assert (r.loop.batch_size, r.loop.steps, r.K) == (5, 7, 1)
    assert c.replace(loop=LoopConfig(steps=1)).loop == LoopConfig(steps=1)
    assert RefinerConfig.create(steps=9).loop.steps == 9
    t = train_config("stcformer", "tiny", steps=3, grad_clip=1.0, lifter={"window": 5})
    assert (t.loop.steps, t.loop.grad_clip, t.lifter.window) == (3, 1.0, 5)
    assert t.replace(seed=2).loop.seed == 2 and t.replace(seed=2).lifter == t.lifter
    assert {"steps", "lr", "seed", "val_every", "precision", "batch_size"} <= set(LOOP_FIELDS)
    assert "steps" not in c.to_dict() and c.to_dict()["loop"]["steps"] == 7


def test_nested_and_old_flat_refiner_config_json_load(tmp_path):
    c = RefinerConfig.from_preset("tiny", "paper", steps=7, lr=2e-3, seed=3, window=9,
                                  train_stride=3, refine_stride=9)  # fmt: skip
    save_json(tmp_path / "new.json", {"refiner": c.to_dict()})
    (tmp_path / "old.json").write_text(json.dumps({"refiner": old_refiner_dict(c)}))
    for name in ("new.json", "old.json"):
        assert RefinerConfig.from_dict(load_json(tmp_path / name)["refiner"]) == c
    with pytest.raises(D3PRError, match="unknown refiner config keys"):
        RefinerConfig.from_dict({**c.to_dict(), "loop": {"stepz": 1}})
    with pytest.raises(D3PRError, match="loop.'steps' must be a int"):
        RefinerConfig.from_dict({**c.to_dict(), "loop": {"steps": "many"}})


def test_old_flat_lifter_config_json_loads():
    t = train_config("mixste", "tiny", steps=3, lr=2e-3, velocity_weight=0.5)
    assert TrainConfig.from_dict(old_lifter_dict(t)) == t
    assert TrainConfig.from_dict(t.to_dict()) == t
    assert LifterConfig.from_dict({"model": "tcn", "T": 9}).window == 9


def _to_old_format(run, key: str, old: dict) -> None:
    """Rewrite a run directory's config.json and training state as an older version wrote them."""
    cfg = load_json(run / "config.json")
    save_json(run / "config.json", {**cfg, key: old})
    tensors, info = load_safetensors(run / "state.safetensors")
    meta = json.loads(info["run"])
    save_safetensors(
        run / "state.safetensors", tensors, {**info, "run": json.dumps({**meta, key: old})}
    )


def test_old_refiner_checkpoint_resumes(tmp_path, monkeypatch):
    import d3prefiner.engine.loop as loop
    from d3prefiner.noise import make_synthetic_predictions
    from d3prefiner.refiner import train_refiner
    from d3prefiner.refiner.train import run_config

    torch.set_num_threads(1)
    preds = make_synthetic_predictions(n_sequences=2, n_frames=40, seed=0, error_scale=0.005)
    cfg = RefinerConfig.from_preset("tiny", "paper", use_cnd=False, steps=4, val_every=2, dim=16,
                                    batch_size=4, window=9, train_stride=3, refine_stride=9)  # fmt: skip
    full = train_refiner(cfg, preds, None, tmp_path / "a", progress=False)
    real = loop._checkpoint

    def killed(*args, **kw):
        real(*args, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        train_refiner(cfg, preds, None, tmp_path / "b", progress=False)
    monkeypatch.setattr(loop, "_checkpoint", real)
    _to_old_format(tmp_path / "b", "refiner", old_refiner_dict(cfg))
    saved, ignored = run_config(tmp_path / "b", True, steps=9)
    assert saved == cfg and ignored == ["steps"]
    resumed = train_refiner(saved, preds, None, tmp_path / "b", resume=True, progress=False)
    for v, w in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=0, atol=0)


def test_old_lifter_run_loads_and_resumes(tmp_path):
    from tests.test_lifters import make_clip

    from d3prefiner.lifters.train import load_lifter, read_config, train_lifter

    torch.set_num_threads(1)
    clips = [make_clip(40, seed=i) for i in range(2)]
    cfg = train_config("tcn", "tiny", steps=4, batch_size=4, val_every=2)
    train_lifter(cfg.replace(steps=2), clips, out_dir=tmp_path / "a", progress=False)
    _to_old_format(tmp_path / "a", "train", old_lifter_dict(cfg.replace(steps=2)))
    assert read_config(tmp_path / "a") == cfg.replace(steps=2)
    assert load_lifter(tmp_path / "a").config.window == cfg.lifter.window
    train_lifter(cfg.replace(steps=2), clips, out_dir=tmp_path / "a", resume=True, progress=False)


def test_config_errors_name_their_argument():
    cases = [
        (lambda: RefinerConfig(K=0), "K"),
        (lambda: RefinerConfig.from_preset("tiny", steps=-1), "steps"),
        (lambda: RefinerConfig.from_preset("tiny", precision="fp8"), "precision"),
        (
            lambda: RefinerConfig.from_preset("tiny", window=9, train_stride=12, refine_stride=9),
            "train_stride",
        ),
        (lambda: train_config("stcformer", "tiny", lifter={"window": 0}), "window"),
        (lambda: train_config("stcformer", "tiny", velocity_weight=-1), "velocity_weight"),
    ]
    for make, name in cases:
        with pytest.raises(ArgumentError) as info:
            make()
        assert info.value.argument == name and str(info.value).startswith(name + " ")

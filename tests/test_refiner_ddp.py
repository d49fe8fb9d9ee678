"""Multi-process (DDP, gloo) training equals one process with the same global batch."""

import json

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from d3prefiner.noise import PoseNoiseModel, make_synthetic_predictions
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import RefinerConfig, train_refiner
from d3prefiner.refiner.core import load_model

CFG = dict(
    steps=16,
    val_every=4,
    precision="fp32",  # equal up to summation order: bf16 rounding would differ per shard
    batch_size=7,
    lr=3e-3,
    dim=32,
    window=9,
    train_stride=3,
    refine_stride=9,
    noise_temporal="ar1",  # time-correlated samples drawn from the shared generator
)  # fmt: skip  (the switches otherwise those of the default recipe)


def _worker(rank: int, world: int, init_file: str, preds_path: str, noise_path: str, out: str):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        cfg = RefinerConfig.from_preset("tiny", **CFG)
        preds = Predictions.load(preds_path)
        train_refiner(cfg, preds, PoseNoiseModel.load(noise_path), out, progress=False)
        dist.barrier()  # both ranks past their last collective before either tears gloo down
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_match_one(tmp_path):
    torch.set_num_threads(1)
    preds = make_synthetic_predictions(n_sequences=3, n_frames=60, seed=3, error_scale=0.01)
    nm = PoseNoiseModel().fit(preds)
    preds.save(tmp_path / "p.npz")
    nm.save(tmp_path / "noise.safetensors")
    cfg = RefinerConfig.from_preset("tiny", **CFG)
    one = train_refiner(cfg, preds, nm, tmp_path / "one", progress=False)
    mp.spawn(
        _worker,
        args=(2, str(tmp_path / "init"), str(tmp_path / "p.npz"),
              str(tmp_path / "noise.safetensors"), str(tmp_path / "two")),
        nprocs=2,
        join=True,
    )  # fmt: skip
    history = json.loads((tmp_path / "two" / "history.json").read_text())
    assert history["world_size"] == 2
    # global batches of 7 random windows, split 4 + 3 over the two ranks
    losses_two = [r["loss"] for r in history["records"]]
    losses_one = [r["loss"] for r in one.history]
    assert losses_two == pytest.approx(losses_one, rel=1e-5)
    two = load_model(cfg, tmp_path / "two" / "model.safetensors")
    # key biases have a true gradient of 0 (softmax is shift-invariant), so Adam turns their
    # rounding noise into steps of ~lr: compare weights loosely, the refinement tightly
    for (k, a), b in zip(one.model.state_dict().items(), two.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=5e-4, msg=k)
    s = preds.sequences[0]
    one.model.eval()
    y, x = torch.from_numpy(s.pose2d[None, :9]), torch.from_numpy(s.pred3d[None, :9])
    with torch.no_grad():
        c = x if cfg.input_noisy else None  # the default recipe gives the network x_noisy too
        torch.testing.assert_close(one.model(x, y, 24, c), two(x, y, 24, c), rtol=1e-4, atol=1e-5)

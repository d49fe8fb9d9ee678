"""End-to-end `d3pr lifter` commands on tiny data (DeepMimic clips; H36M when present)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from d3prefiner.cli import main
from d3prefiner.predictions import Predictions

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out + out.err


def test_train_predict_and_mismatch(tmp_path, capsys):
    pytest.importorskip("pybullet")
    run_dir = tmp_path / "run"
    common = ["--source", "deepmimic", "--threads", "1"]
    code, out = run(
        ["lifter", "train", "--model", "mixste", "--preset", "tiny", "--steps", "2",
         "--warmup-steps", "1", "--grad-clip", "0.5", "--qk-norm", "--out", str(run_dir), *common],
        capsys,
    )  # fmt: skip
    assert code in (0, None), out
    assert "done: 2 steps" in out
    train = json.loads((run_dir / "config.json").read_text())["train"]
    assert train["loop"]["warmup_steps"] == 1 and train["loop"]["grad_clip"] == 0.5
    assert train["lifter"]["qk_norm"] is True  # predict below rebuilds it from config.json
    for f in ("config.json", "model.safetensors", "state.safetensors", "history.json", "data.json"):
        assert (run_dir / f).exists(), f
    pred = tmp_path / "pred.npz"
    code, out = run(["lifter", "predict", str(run_dir), "-o", str(pred), *common], capsys)
    assert code in (0, None), out
    preds = Predictions.load(pred)
    # the estimator's name says which training run made it: model, window, steps, 2D setting
    setting = json.loads((run_dir / "data.json").read_text())["setting"]
    assert preds.has_gt and preds.estimator == f"mixste-T9-2-{setting}"
    assert np.all(preds.concat("pred3d")[:, 0] == 0)
    # --causal: the library's causal prediction (each frame from a window ending at it)
    # (in fp32 as the library's default: `auto` is bf16 on a CPU with native bf16)
    code, out = run(["lifter", "predict", str(run_dir), "-o", str(tmp_path / "c.npz"), "--causal",
                     "--precision", "fp32", *common], capsys)  # fmt: skip
    assert code in (0, None), out
    from d3prefiner.lifters.predict import predict
    from d3prefiner.lifters.runs import predict_spec, source_clips
    from d3prefiner.lifters.train import load_lifter

    spec, subjects, _ = predict_spec(run_dir, "deepmimic", None, None, None)
    want = predict(load_lifter(run_dir), source_clips(spec, subjects), causal=True)
    causal = Predictions.load(tmp_path / "c.npz").concat("pred3d")
    np.testing.assert_allclose(causal, np.concatenate(want), atol=1e-6)
    assert not np.allclose(causal, preds.concat("pred3d"))
    # a checkpoint whose config does not match its weights
    conf = json.loads((run_dir / "config.json").read_text())
    conf["train"]["lifter"]["depth"] = 2
    (run_dir / "config.json").write_text(json.dumps(conf))
    code, out = run(["lifter", "predict", str(run_dir), "-o", str(pred), *common], capsys)
    assert code == 2 and "already exists; pass --force" in out  # the old output is kept
    assert Predictions.load(pred).num_frames == preds.num_frames
    code, out = run(
        ["lifter", "predict", str(run_dir), "-o", str(pred), "--force", *common], capsys
    )
    assert code == 2 and "error:" in out and "do not match config.json" in out
    code, out = run(["lifter", "train", "--model", "bogus", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "bogus" in out
    # validating on the test subjects is refused (h36m-fk17's test split is S9, S11)
    code, out = run(
        ["lifter", "train", "--val-subjects", "S9", "--out", str(tmp_path / "y"), "--threads", "1"],
        capsys,
    )  # fmt: skip
    assert code == 2 and "held-out training subjects" in out
    assert not (tmp_path / "y").exists()


def test_crossfit_cli(tmp_path, capsys):
    if not (DATA / "h36m-expmap-fk17").is_dir():
        pytest.skip(f"needs the Human3.6M fk17 data in {DATA}")
    out_dir = tmp_path / "cf"
    code, out = run(
        ["lifter", "crossfit", "--model", "stcformer", "--preset", "tiny", "--folds", "2",
         "--train-subjects", "S9,S11", "--test-subjects", "S1", "--steps", "2",
         "--cameras", "1", "--fps", "10", "--out", str(out_dir),
         "--threads", "1"],
        capsys,
    )  # fmt: skip
    assert code in (0, None), out
    cf = Predictions.load(out_dir / "train_crossfit.npz")
    assert {(s.subject, s.fold) for s in cf} == {("S9", 0), ("S11", 1)}
    test = Predictions.load(out_dir / "test.npz")
    assert {s.subject for s in test} == {"S1"} and {s.split for s in test} == {"test"}
    assert (out_dir / "train_insample.npz").exists()
    # cross-fitted and test predictions carry the full run's name, as `lifter predict` writes it
    from d3prefiner.lifters.runs import estimator_of

    assert cf.estimator == test.estimator == estimator_of(out_dir / "full") == "stcformer-T9-2-gt"
    summary = json.loads((out_dir / "crossfit.json").read_text())
    assert summary["test"]["mpjpe_mm"] > 0

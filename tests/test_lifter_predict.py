"""Every lifter run directory says how to predict with it, and `d3pr lifter predict` can."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest

from conftest import needs_pybullet
from d3prefiner.cli import main
from d3prefiner.errors import D3PRError
from d3prefiner.lifters.config import DataSpec, train_config
from d3prefiner.lifters.crossfit import cross_fit
from d3prefiner.lifters.runs import HOW_TO_PREDICT, clips_by_subject, predict_spec, source_clips
from d3prefiner.predictions import Predictions


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out + out.err


def command_of(run_dir) -> list[str]:
    """The `d3pr lifter predict ...` line of a run's HOW_TO_PREDICT.txt, as argv for main."""
    line = next(x for x in (run_dir / HOW_TO_PREDICT).read_text().splitlines() if "d3pr " in x)
    argv = shlex.split(line)
    assert argv[:3] == ["d3pr", "lifter", "predict"]
    return argv[1:]


@needs_pybullet
def test_trained_lifter_predicts_with_the_command_it_prints(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    code, out = run(
        ["lifter", "train", "--model", "mixste", "--preset", "tiny", "--steps", "2",
         "--source", "deepmimic", "--cameras", "1", "--out", str(run_dir), "--threads", "1"],
        capsys,
    )  # fmt: skip
    assert code in (0, None), out
    data = json.loads((run_dir / "data.json").read_text())
    assert data["source"] == "deepmimic" and data["fps"] is None and data["n_cameras"] == 1
    assert data["predict_subjects"] == ["deepmimic"]
    argv = command_of(run_dir)
    assert shlex.join(["d3pr", *argv]) in out  # printed at the end of training
    code, out = run([*argv, "--threads", "1"], capsys)  # no --source: the run's data.json
    assert code in (0, None), out
    preds = Predictions.load(tmp_path / "run_predictions.npz")
    assert preds.has_gt and {s.subject for s in preds} == {"deepmimic"}
    assert {s.fps for s in preds} == {30.0}

    # a rate that does not divide the source's: the clips are interpolated to it (30 -> 25 fps)
    code, out = run([*argv, "--fps", "25", "--force", "--threads", "1"], capsys)
    assert code in (0, None), out
    at25 = Predictions.load(tmp_path / "run_predictions.npz")
    assert {s.fps for s in at25} == {25.0}
    for a, b in zip(preds, at25):
        assert len(b.pred3d) == (len(a.pred3d) - 1) * 25 // 30 + 1
    code, out = run([*argv, "--fps", "15", "--force", "--threads", "1"], capsys)
    assert code in (0, None), out
    half = Predictions.load(tmp_path / "run_predictions.npz")
    assert {s.fps for s in half} == {15.0}

    # a run directory made before run directories recorded their data
    (run_dir / "data.json").unlink()
    code, out = run(
        ["lifter", "predict", str(run_dir), "--source", "deepmimic", "-o", "old.npz",
         "--threads", "1"],
        capsys,
    )  # fmt: skip
    assert code in (0, None), out
    assert "no data.json" in out and Predictions.load(tmp_path / "old.npz").num_frames > 0


def test_predict_spec_overrides():
    with pytest.raises(D3PRError, match="unknown source"):
        predict_spec("/nonexistent", source="bogus")
    spec, subjects, warning = predict_spec("/nonexistent")
    assert spec == DataSpec() and subjects == ["S9", "S11"] and "no data.json" in warning
    spec, subjects, _ = predict_spec("/nonexistent", source="deepmimic", fps=0)
    assert spec.source == "deepmimic" and spec.fps is None and subjects == ["deepmimic"]


@needs_pybullet
def test_crossfit_run_dirs_remake_their_own_predictions(tmp_path, capsys, monkeypatch):
    """The demo's layout: camera-view groups as subjects; `lifter predict FOLD_DIR` with no
    option reproduces that fold's cross-fitted predictions."""
    monkeypatch.chdir(tmp_path)
    spec = DataSpec(source="deepmimic", setting="detected", fps=15.0, n_cameras=3, views=3)
    by_subject = clips_by_subject(source_clips(spec))
    assert sorted(by_subject) == ["view0", "view1", "view2"]
    cfg = train_config("mixste", "tiny", steps=2)
    out = tmp_path / "cf"
    result = cross_fit(
        cfg, by_subject, ["view0", "view1"], ["view2"], out, folds=2, insample=False,
        progress=False, data_spec=spec,
    )  # fmt: skip
    for name, subject in (("fold0", "view0"), ("fold1", "view1"), ("full", "view2")):
        data = json.loads((out / name / "data.json").read_text())
        assert data["views"] == 3 and data["predict_subjects"] == [subject]
        assert f"--subjects {subject}" in (out / name / HOW_TO_PREDICT).read_text()
    code, log = run([*command_of(out / "fold0"), "--threads", "1"], capsys)
    assert code in (0, None), log
    again = Predictions.load(tmp_path / "fold0_predictions.npz")
    want = result["train_crossfit"].filter(fold=0)
    assert [(s.action, s.camera) for s in again] == [(s.action, s.camera) for s in want]
    np.testing.assert_allclose(again.concat("pred3d"), want.concat("pred3d"), atol=1e-5)
    np.testing.assert_allclose(again.concat("pose2d"), want.concat("pose2d"), atol=1e-6)
    with pytest.raises(D3PRError, match="its subjects are view0, view1, view2"):
        source_clips(spec, ["view7"])

"""The main job end to end: `d3pr demo --mode tiny` on the embedded DeepMimic clips."""

import json

import pytest
from typer.testing import CliRunner

from d3prefiner.cli import app
from d3prefiner.errors import D3PRError
from d3prefiner.experiment import Experiment, ExperimentConfig

pytest.importorskip("pybullet_data", reason="the demo's embedded data comes with pybullet")


def test_demo_tiny_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "--mode", "tiny", "--out", str(out), "--threads", "2"])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    methods = results["methods"]
    for name in ("base", "refined", "savgol", "one_euro", "gaussian", "cnd_closed_form"):
        assert methods[name]["mpjpe_mm"] > 0, name
        assert methods[name]["p_mpjpe_mm"] <= methods[name]["mpjpe_mm"] + 1e-6
        assert "accel_mm_s2" in methods[name] and methods[name]["per_action"]
    assert (out / "report.md").read_text().count("MPJPE") > 2
    assert (out / "figures" / "mpjpe_histogram.png").stat().st_size > 0
    # a second run skips every finished stage and reproduces the same numbers
    again = CliRunner().invoke(app, ["demo", "--mode", "tiny", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "skipping" in again.output
    results2 = json.loads((out / "results.json").read_text())
    assert results2["methods"]["refined"]["mpjpe_mm"] == methods["refined"]["mpjpe_mm"]


def test_experiment_refuses_a_run_dir_with_another_config(tmp_path):
    Experiment(ExperimentConfig(seed=0), tmp_path)._check_config()
    with pytest.raises(D3PRError, match="different configuration"):
        Experiment(ExperimentConfig(seed=1), tmp_path)._check_config()


def test_experiment_config_validates_split():
    with pytest.raises(D3PRError, match="overlap"):
        ExperimentConfig(train_subjects=("view0", "view1"), test_subjects=("view1",))

"""`d3pr bench --source videopose3d` end to end on stand-in files in VideoPose3D's layout (the
``tiny`` preset: the plumbing is real, the numbers meaningless), then on the predictions it made
given back with ``--predictions`` (no lifter stage)."""

import json

import numpy as np
import pytest

from conftest import SHARED_DATA, run_cli
from d3prefiner.data.cameras import normalize_screen
from d3prefiner.data.videopose3d import FILES_2D, load_npz_restricted
from d3prefiner.predictions import Predictions
from test_videopose3d import make_standin


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"research data not available ({SHARED_DATA} is absent)")
    folder = tmp_path_factory.mktemp("vp3d")
    make_standin(folder, SHARED_DATA, frames=100)
    (folder / "cameras.json").unlink()  # the cameras come from --camera-file
    return folder


def test_bench_on_videopose3d_files_with_cpn_2d(data_dir, tmp_path, capsys):
    cams = SHARED_DATA / "mmpose-h36m-testdata" / "cameras.json"
    out = tmp_path / "out"
    argv = ["bench", "--source", "videopose3d", "--path", data_dir, "--camera-file", cams,
            "--setting", "cpn", "--model", "mixste", "--preset", "tiny", "--threads", "1",
            "--out", out]  # fmt: skip
    code, text = run_cli(argv, capsys)
    assert code == 0, text
    run = out / "mixste-cpn"
    config = json.loads((run / "experiment.json").read_text())
    assert (config["source"], config["fps"], config["setting"]) == ("videopose3d", 50.0, "cpn")
    assert config["train_subjects"] == ["S1", "S5", "S6", "S7", "S8"]
    assert config["test_subjects"] == ["S9", "S11"] and config["camera_file"] == str(cams)
    # the lifter saw the CPN file's 2D (trimmed to the 3D), normalised, through the real cameras
    test = Predictions.load(run / "predictions" / "test.npz")
    assert {s.subject for s in test} == {"S9", "S11"} and len(test) == 7 * 4
    seq = next(
        s for s in test if (s.subject, s.action, s.camera) == ("S11", "Walking 1", "60457274")
    )
    cpn = load_npz_restricted(data_dir / FILES_2D["cpn"])["positions_2d"]["S11"]["Walking 1"][3]
    np.testing.assert_allclose(seq.pose2d, normalize_screen(cpn[:100], 1000, 1002), atol=1e-5)
    assert seq.fps == 50.0 and seq.intrinsics.width == 1000 and seq.intrinsics.f[0] > 1100
    # the 15 actions' columns beside the paper's Table I rows, printed and written
    assert "| paper Table I: MixSTE (T=81) | 39.8 | 43.0 |" in text
    assert "| ours: base (mixste, T=9) |" in text
    paper = (run / "paper.md").read_text()
    base_row = next(r for r in paper.splitlines() if r.startswith("| ours: base"))
    cells = base_row.strip("| ").split(" | ")[1:]
    results = json.loads((run / "results.json").read_text())["methods"]["base"]
    assert float(cells[0]) == pytest.approx(
        results["per_action"]["directions"]["mpjpe_mm"], abs=0.06
    )
    assert cells[1] == "—" and float(cells[-1]) == pytest.approx(results["mpjpe_mm"], abs=0.06)

    # the studies on this source: the grid (with the lifter trained on for the refiner's time,
    # from the VideoPose3D files and the camera file the run recorded), the ablations, and a
    # transfer to another motion source through the same real cameras
    code, text = run_cli(["grid", run, "--out", tmp_path / "grid", "--variants", "paper",
                          "--steps", "1", "--preset", "tiny", "--longer", "--no-progress"],
                         capsys)  # fmt: skip
    assert code == 0, text
    cell = json.loads((tmp_path / "grid" / "results.json").read_text())[run.name]
    assert {"base", "paper-s0", "longer_lifter"} <= set(cell["test"])
    code, text = run_cli(["ablate", run, "--out", tmp_path / "ablate", "--table", "3", "--steps",
                          "1", "--preset", "tiny", "--no-progress"], capsys)  # fmt: skip
    assert code == 0, text
    assert "| paper |" in (tmp_path / "ablate" / "grid.md").read_text()
    code, text = run_cli([*argv, "--test-source", "deepmimic"], capsys)
    assert code == 0, text
    moved = Predictions.load(run / "transfer" / "deepmimic" / "predictions" / "test.npz")
    assert moved.estimator == test.estimator and len(moved) > 0

    # another estimator's predictions (here: the files this run made) skip the lifter stage
    given = f"{run / 'predictions' / 'train_crossfit.npz'},{run / 'predictions' / 'test.npz'}"
    code, text = run_cli(["bench", "--predictions", given, "--preset", "tiny", "--threads", "1",
                          "--out", tmp_path / "ext"], capsys)  # fmt: skip
    assert code == 0, text
    ext = tmp_path / "ext" / "external"
    assert not (ext / "lifter").exists() and (ext / "refiner" / "done.json").exists()
    assert '"external-given": {' in text
    again = json.loads((ext / "results.json").read_text())["methods"]["base"]
    assert again["mpjpe_mm"] == pytest.approx(results["mpjpe_mm"])  # the same test predictions


def test_bench_videopose3d_refuses_bad_options(data_dir, tmp_path, capsys):
    code, text = run_cli(
        ["bench", "--setting", "cpn", "--preset", "tiny", "--out", tmp_path / "o"], capsys
    )
    assert code == 2 and "--source videopose3d" in text and "--setting" in text
    code, text = run_cli(["bench", "--source", "videopose3d", "--path", data_dir, "--camera-file",
                          tmp_path / "cams.json", "--preset", "tiny", "--out", tmp_path / "o"], capsys)  # fmt: skip
    assert code == 2 and "--camera-file" in text and "cams.json: file not found" in text
    code, text = run_cli(["bench", "--source", "videopose3d", "--path", tmp_path, "--setting",
                          "gt", "--preset", "tiny", "--out", tmp_path / "o"], capsys)  # fmt: skip
    assert code == 2 and "data_3d_h36m.npz: file not found" in text
    code, text = run_cli(
        ["bench", "--predictions", "a.npz", "--preset", "tiny", "--out", tmp_path / "o"], capsys
    )
    assert code == 2 and "--predictions" in text and "TRAIN.npz,TEST.npz" in text
    code, text = run_cli(
        ["bench", "--source", "nowhere", "--preset", "tiny", "--out", tmp_path / "o"], capsys
    )
    assert code == 2 and "--source" in text and "videopose3d" in text
    assert not (tmp_path / "o").exists()  # refused before anything was written

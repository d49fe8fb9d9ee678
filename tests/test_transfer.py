"""Cross-source evaluation (study/transfer.py, `d3pr bench --test-source`): a finished run's lifter
and refiner on clips of another motion source."""

import json
import os
from dataclasses import replace

import numpy as np
import pytest

from conftest import HAVE_PYBULLET, needs_pybullet, run_cli
from d3prefiner.errors import D3PRError
from d3prefiner.io import up_to_date
from d3prefiner.study import DEMO_PRESETS, Experiment, ExperimentConfig
from d3prefiner.study.transfer import run_transfer, transfer_name

FILES = ("predictions/test.npz", "predictions/refined.npz", "predictions/refined_guard.npz",
         "results.json", "report.md", "data.json")  # fmt: skip


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A finished tiny experiment on the DeepMimic clips and an npz-folder source of other motion
    (four of those clips mirrored left-right, in millimetres, as two subjects)."""
    if not HAVE_PYBULLET:
        pytest.skip("the demo's embedded data comes with pybullet")
    from d3prefiner.data.sources import load_source

    root = tmp_path_factory.mktemp("transfer")
    cfg = ExperimentConfig(source="deepmimic", **DEMO_PRESETS["tiny"])
    Experiment(cfg, root / "run", progress=False).run()
    folder = root / "mirrored"
    folder.mkdir()
    seqs = load_source("deepmimic")[:4]
    for subject, pair in (("alice", seqs[:2]), ("bob", seqs[2:])):
        arrays = {s.action: s.joints3d * np.array([1.0, -1.0, 1.0]) * 1000.0 for s in pair}
        np.savez(folder / f"{subject}.npz", **arrays)
    (folder / "npz-folder.json").write_text(json.dumps({"units": "mm", "fps": 30, "up": "z"}))
    return root / "run", cfg, folder


@needs_pybullet
def test_transfer_writes_its_files_matches_the_lifter_and_resumes(demo_run):
    from d3prefiner.lifters.predict import clips_mpjpe, predict
    from d3prefiner.lifters.runs import source_clips
    from d3prefiner.lifters.train import load_lifter, read_config

    run, cfg, folder = demo_run
    before = (run / "experiment.json").read_bytes()
    exp = Experiment(cfg, run, progress=False)
    res = run_transfer(exp, "npz-folder", str(folder))
    d = run / "transfer" / f"npz-folder-{folder.name}"
    assert d.name == transfer_name("npz-folder", str(folder))
    for f in FILES:
        assert (d / f).exists(), f
    assert (d / "figures" / "mpjpe_histogram.png").exists()
    methods = res["methods"]
    assert {"base", "refined", "refined_guard", "cnd_closed_form", *cfg.baselines} <= set(methods)
    meta = res["meta"]
    n_clips = 4 * cfg.n_cameras
    assert meta["transfer"]["source"] == "npz-folder" and meta["transfer"]["path"] == str(folder)
    assert meta["transfer"]["sequences"] == n_clips and meta["subjects"] == ["alice", "bob"]
    assert 0 <= meta["guard"]["flagged_sequences"] <= n_clips
    own = json.loads((run / "results.json").read_text())["methods"]["base"]["mpjpe_mm"]
    assert meta["main_run_test_mpjpe_mm"]["base"] == pytest.approx(own)
    # the base equals the run's full lifter predicting those clips, computed independently
    spec = replace(exp.data_spec(), source="npz-folder", path=str(folder), views=0)
    clips = source_clips(spec)
    full = run / "lifter" / "full"
    tc = read_config(full)  # predicted as trained (bf16 where the CPU has it)
    pred = predict(load_lifter(full), clips, flip_test=tc.flip_test, precision=tc.loop.precision)
    expected = clips_mpjpe(pred, clips)
    assert methods["base"]["frame_weighted"]["mpjpe_mm"] == pytest.approx(expected, rel=1e-4)
    # a second call computes nothing and returns the same numbers
    stamps = {f: (d / f).stat().st_mtime_ns for f in FILES}
    again = run_transfer(Experiment(cfg, run, progress=False), "npz-folder", str(folder))
    assert again == res
    assert {f: (d / f).stat().st_mtime_ns for f in FILES} == stamps
    # the run itself is left alone
    assert (run / "experiment.json").read_bytes() == before
    # the same folder asked with other subjects is refused
    with pytest.raises(D3PRError, match="other settings"):
        run_transfer(exp, "npz-folder", str(folder), test_subjects=["alice"])
    # a refiner trained again (its done.json rewritten) makes the refined outputs stale
    refined = d / "predictions" / "refined.npz"
    made = refined.stat().st_mtime_ns
    weights = run / "refiner" / "done.json"
    newer = (d / "results.json").stat().st_mtime + 0.01  # after every output, not in the future
    os.utime(weights, (newer, newer))
    assert not up_to_date(refined, weights)
    run_transfer(Experiment(cfg, run, progress=False), "npz-folder", str(folder))
    assert refined.stat().st_mtime_ns > made and up_to_date(d / "results.json", weights)


def test_up_to_date_compares_with_the_sources_that_exist(tmp_path):
    out, src = tmp_path / "out.npz", tmp_path / "model.safetensors"
    assert not up_to_date(out, src)
    out.write_bytes(b"x")
    assert up_to_date(out) and up_to_date(out, src)  # a missing source makes nothing stale
    src.write_bytes(b"y")
    os.utime(src, (out.stat().st_mtime + 5,) * 2)
    assert not up_to_date(out, src)
    os.utime(out, (src.stat().st_mtime + 5,) * 2)
    assert up_to_date(out, src)


def test_transfer_refuses_unfinished_runs_and_unknown_sources(tmp_path):
    cfg = ExperimentConfig(source="deepmimic", **DEMO_PRESETS["tiny"])
    exp = Experiment(cfg, tmp_path / "never_run", progress=False)
    with pytest.raises(D3PRError, match="run the bench first"):
        run_transfer(exp, "npz-folder", str(tmp_path))
    with pytest.raises(D3PRError, match="unknown source 'nope'"):
        run_transfer(exp, "nope")
    with pytest.raises(D3PRError, match="not found"):
        run_transfer(exp, "npz-folder", str(tmp_path / "absent"))
    assert not (tmp_path / "never_run").exists()


@needs_pybullet
def test_transfer_refuses_the_runs_own_source(demo_run):
    run, cfg, _ = demo_run
    with pytest.raises(D3PRError, match="the run's own source"):
        run_transfer(Experiment(cfg, run, progress=False), "deepmimic")


def test_bench_test_path_needs_test_source(capsys, tmp_path):
    code, out = run_cli(["bench", "--test-path", tmp_path, "--out", tmp_path / "b"], capsys)
    assert code == 2
    assert out.strip() == "error: --test-path needs --test-source (the motion source it holds)"
    code, out = run_cli(["bench", "--test-source", "nope", "--out", tmp_path / "b"], capsys)
    assert code == 2 and "unknown source 'nope'" in out and len(out.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


@needs_pybullet
def test_bench_test_source_on_a_finished_bench_computes_only_the_transfer(
    shared_data, tmp_path, capsys
):
    """A finished tiny h36m-fk17 bench, then the same command with --test-source deepmimic."""
    out = tmp_path / "bench"
    args = ["bench", "--preset", "tiny", "--model", "tcn", "--setting", "gt", "--train", "S1,S5",
            "--test", "S9", "--cameras", "1", "--threads", "1", "--out", out]  # fmt: skip
    code, text = run_cli(args, capsys)
    assert code == 0, text
    run = out / "tcn-gt-subject"
    config = (run / "experiment.json").read_bytes()
    lifter = (run / "lifter" / "full" / "model.safetensors").stat().st_mtime_ns
    code, text = run_cli([*args, "--test-source", "deepmimic"], capsys)
    assert code == 0, text
    assert "lifter: predictions exist, skipping" in text
    assert "transfer to deepmimic" in text and "refined+guard" in text and "closed form" in text
    assert (run / "experiment.json").read_bytes() == config
    assert (run / "lifter" / "full" / "model.safetensors").stat().st_mtime_ns == lifter
    res = json.loads((run / "transfer" / "deepmimic" / "results.json").read_text())
    # 30 fps DeepMimic resampled to the bench's 25 fps; one camera = one view group
    assert res["meta"]["transfer"]["resampled_from_fps"] == [30.0]
    assert res["meta"]["fps"] == [25.0] and res["meta"]["subjects"] == ["view0"]
    summary, _ = json.JSONDecoder().raw_decode(text[text.rindex("\n{\n") + 1 :])
    assert set(summary["tcn-gt"]["transfer"]) >= {"base", "refined", "refined_guard"}

"""benchmarks/: every script answers --help, and tiny cases print their figures as fractions of
the matmul peak they measured at the start."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCH.glob("bench_*.py"))


def _run(script: str, *args, timeout: int = 300) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(BENCH / script), *map(str, args)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def _peak(out: str, precision: str = "fp32") -> float:
    m = re.search(rf"matmul peak {precision}: ([\d.]+) GFLOP/s", out)
    assert m, out
    return float(m.group(1))


def test_every_benchmark_is_here():
    assert [p.name for p in SCRIPTS] == [
        "bench_attention.py", "bench_causal.py", "bench_lifters.py", "bench_refiner.py",
        "bench_speed.py", "bench_unseen.py",
    ]  # fmt: skip


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_benchmark_answers_help(script):
    out = _run(script.name, "--help")
    assert "usage" in out.lower() and "--threads" in out


def _module(name: str, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(BENCH))  # as `python benchmarks/<name>.py` does
    return importlib.import_module(name)


def test_common_peak_and_precisions(monkeypatch):
    _common = _module("_common", monkeypatch)
    assert _common.matmul_peak("fp32", 64, repeats=2) > 0
    assert _common.cores_peak("fp32", 2, 64) > 0
    assert _common.precisions("fp32") == ("fp32",)
    assert ("bf16" in _common.precisions()) == _common.bf16_available()
    with pytest.raises(SystemExit):
        _common.precisions("fp16")
    assert _common.of_peak(1.0, 4.0) == "25.0 %"


def test_bench_speed_rows_are_fractions_of_the_measured_peak(tmp_path):
    out = _run("bench_speed.py", "--only", "refine (cpu", "--repeats", "1", "--peak-size", "128",
               "--precisions", "fp32", "--json", tmp_path / "s.json")  # fmt: skip
    peak = _peak(out)
    rows = json.loads((tmp_path / "s.json").read_text())["rows"]
    assert [(r["workload"], r["precision"]) for r in rows] == [("refine (cpu: C=128, L=2)", "fp32")]
    r = rows[0]
    assert r["frames_per_s"] > 0 and r["fraction_of_peak"] > 0
    assert r["fraction_of_peak"] == pytest.approx(r["gflops"] / r["peak_gflops"])
    assert peak > 0 and f"{100 * r['fraction_of_peak']:.1f} %" in out


def test_bench_speed_geometry_shares(tmp_path):
    out = _run("bench_speed.py", "--only", "none", "--geometry", "--geo-frames", "100", "--repeats",
               "1", "--peak-size", "128", "--precisions", "fp32", "--json", tmp_path / "s.json")  # fmt: skip
    geo = json.loads((tmp_path / "s.json").read_text())["geometry"]
    shares = geo["step_share_of_default_refine"]
    steps = {"reproject", "bones", "bones+reproject", "rays", "rays-nearest", "per-joint"}
    assert set(shares) == steps
    assert all(v > 0 for v in shares.values()) and "rays" in out


def test_bench_speed_parallel_counts_the_steps_of_every_process(monkeypatch):
    """`--parallel`: two concurrent one-thread processes both count their steps."""
    import torch

    bench_speed = _module("bench_speed", monkeypatch)
    threads = torch.get_num_threads()
    rate = bench_speed.steps_per_second("tcn", "fp32", processes=2, threads=1, seconds=0.3)
    assert rate > 0 and torch.get_num_threads() == threads


def test_bench_refiner_flops_grow_with_depth(tmp_path):
    out = _run("bench_refiner.py", "--preset", "tiny", "--frames", "108", "--batch-size", "4",
               "--threads", "1", "--peak-size", "128", "--skip-memory", "--json",
               tmp_path / "r.json")  # fmt: skip
    res = json.loads((tmp_path / "r.json").read_text())
    flops = [d["forward_flops_per_frame"] for d in res["depth_table"]]
    assert [d["depth"] for d in res["depth_table"]] == [2, 4, 6, 8]
    assert all(a < b for a, b in zip(flops, flops[1:]))
    t = res["throughput"]
    assert t["fraction_of_matmul_peak"] == pytest.approx(
        t["achieved_gflops"] / res["matmul_peak_gflops"]["fp32"]
    )
    assert "of the matmul peak" in out and _peak(out) > 0


def test_bench_lifters_tiny_case(tmp_path):
    """Two folds and the full TCN on three synthetic subjects of an npz folder, 2 steps each."""
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    for subject in ("S1", "S5", "S9"):
        walk = lambda n: np.cumsum(rng.normal(0, 5, (n, 17, 3)), axis=0) + [0, 0, 900]  # noqa: E731
        np.savez(src / f"{subject}.npz", walking=walk(90), eating=walk(60))
    out = tmp_path / "out"
    text = _run("bench_lifters.py", "--out", out, "--models", "tcn", "--settings", "gt",
                "--preset", "tiny", "--steps", "2", "--source", "npz-folder", "--path", src,
                "--train-subjects", "S1,S5", "--test-subjects", "S9", "--cameras", "1",
                "--window", "9", "--threads", "1", "--peak-size", "128", "--quiet")  # fmt: skip
    res = json.loads((out / "results.json").read_text())
    (r,) = res["results"]
    assert r["model"] == "tcn" and r["window"] == 9 and r["test_mpjpe_mm"] > 0
    assert r["inference_fraction_of_peak"] > 0 and r["train_fraction_of_peak"] > 0
    assert set(r["runs"]) == {"fold0", "fold1", "full"}
    assert "| tcn | gt | 9 |" in text and (out / "results.md").exists()


def test_bench_unseen_on_a_tiny_refiner(tmp_path):
    """The stand-in estimator: its rows, the default's in-plane part, and the calibration."""
    from conftest import tiny_refiner_files
    from d3prefiner.noise import make_synthetic_predictions

    d = tiny_refiner_files(tmp_path)
    preds = make_synthetic_predictions(n_sequences=4, n_frames=40, seed=2)
    preds = preds.with_pred3d(list(preds.concat("gt3d").reshape(4, 40, 17, 3)))
    for i, s in enumerate(preds.sequences):  # four actions: two calibrate, two are scored
        s.action = f"walk_{i}"
    preds.save(tmp_path / "p.npz")
    out = _run("bench_unseen.py", d / "ckpt", tmp_path / "p.npz", "--error-mm", "30")
    rows = dict(re.findall(r"^\| (.+?) \| ([\d.]+) \|", out, re.M))
    assert float(rows["unrefined"]) == pytest.approx(30, rel=0.15)
    assert set(rows) >= {"d3pr refine (default)", "--strength 1 --correct full --guard off"}
    assert "calibration: α =" in out
    # a real estimator's files: scored as they are, calibrated on the validation file
    val, test = preds.sequences[:2], preds.sequences[2:]
    from d3prefiner.predictions import Predictions

    rng = np.random.default_rng(3)
    for name, seqs in (("val", val), ("test", test)):
        noisy = [s.gt3d + rng.normal(0, 0.02, s.gt3d.shape).astype(np.float32) for s in seqs]
        Predictions(seqs, "their-lifter").with_pred3d(noisy).save(tmp_path / f"{name}.npz")
    out = _run("bench_unseen.py", d / "ckpt", tmp_path / "test.npz",
               "--calibration", tmp_path / "val.npz")  # fmt: skip
    rows = dict(re.findall(r"^\| (.+?) \| ([\d.]+) \|", out, re.M))
    assert "their-lifter" in out and "unrefined" in rows
    assert rows["d3pr refine (default)"] == rows["unrefined"]  # unseen: passed through
    assert "calibrated on its validation file (--correct either), default" in rows


def test_bench_causal_and_refine_as_applied_on_tiny_runs(tmp_path):
    """A one-step TCN on DeepMimic and a one-step refiner of its predictions: the causal table's
    two rows and the streaming line; then the as-applied table on the same predictions."""
    pytest.importorskip("pybullet")
    from d3prefiner.cli import main
    from d3prefiner.noise import PoseNoiseModel
    from d3prefiner.predictions import Predictions
    from d3prefiner.refiner import RefinerConfig, train_refiner

    run = tmp_path / "lifter"
    for argv in (
        ["lifter", "train", "--model", "tcn", "--preset", "tiny", "--steps", "1", "--source",
         "deepmimic", "--setting", "detected", "--threads", "1", "--out", str(run)],
        ["lifter", "predict", str(run), "-o", str(tmp_path / "p.npz"), "--threads", "1"],
    ):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code in (0, None)
    preds = Predictions.load(tmp_path / "p.npz")
    cfg = RefinerConfig.from_preset("tiny", "paper", steps=1, use_cnd=False, window=9,
                                    train_stride=3, refine_stride=9)  # fmt: skip
    train_refiner(cfg, preds, None, tmp_path / "ckpt", progress=False)
    out = _run("bench_causal.py", run, tmp_path / "ckpt", "--every", "1", "--stream-frames", "3")
    rows = dict(re.findall(r"^\| (default|--causal) \| ([\d.]+) \|", out, re.M))
    assert set(rows) == {"default", "--causal"} and all(float(v) > 0 for v in rows.values())
    assert "streaming" in out
    noise = PoseNoiseModel(window=3).fit(preds)
    noise.save(tmp_path / "noise.safetensors")
    out = _run("refine_as_applied.py", tmp_path / "ckpt", tmp_path / "p.npz",
               tmp_path / "noise.safetensors")  # fmt: skip
    assert "base" in out and "rays alone" in out and "closed form" in out
    out = _run("multi_hypothesis.py", tmp_path / "ckpt", tmp_path / "p.npz",
               tmp_path / "noise.safetensors", "--hypotheses", "2")  # fmt: skip
    assert "2 hypotheses cost" in out and "mean of 2" in out and "median of 2" in out
    out = _run("rays_spread.py", tmp_path / "p.npz", "--sigmas", "0,0.05")
    rows = dict(re.findall(r"^\| ([^|]+?) \| ([\d.]+) \|", out, re.M))
    assert set(rows) == {"as given", "bones+reproject", "rays, sigma 0 m",
                         "rays, sigma 0.05 m (default)"}  # fmt: skip
    assert all(float(v) > 0 for v in rows.values()) and rows["rays, sigma 0 m"] != rows["as given"]


def test_bone_prior_leaves_each_subject_out(tmp_path):
    """One row a subject and the mean; at w = 1 the step alone, at w < 1 other figures."""
    from d3prefiner.baselines import apply_baseline
    from d3prefiner.metrics import evaluate_predictions
    from d3prefiner.noise import make_synthetic_predictions

    preds = make_synthetic_predictions(n_sequences=6, n_frames=40, seed=2, intrinsics=True)
    preds.save(tmp_path / "p.npz")
    out = _run("bone_prior.py", tmp_path / "p.npz", "--step", "rays")
    rows = {r[0].strip(): [float(v) for v in r[1:]] for r in
            (line.strip(" |").split("|") for line in out.splitlines()
             if re.match(r"^\| (S\d|mean) ", line))}  # fmt: skip
    assert set(rows) == {"S1", "S5", "S6", "mean"} and all(len(r) == 6 for r in rows.values())
    s1 = preds.filter(subjects=["S1"])
    alone = evaluate_predictions(apply_baseline("rays", s1, progress=False)).action_weighted
    assert rows["S1"][1] == pytest.approx(alone.mpjpe_mm, abs=0.05)
    assert rows["S1"][-1] != rows["S1"][1]


def test_bone_prior_oracle_sets_each_sequence_to_its_own_gt_bones(tmp_path):
    """--oracle: the last column is each sequence with its ground truth's median bone lengths, the
    directions kept (exact where the estimate's directions are the truth's); a file of one subject
    gets only that column."""
    from dataclasses import replace

    from d3prefiner.geometry import bone_lengths, set_bone_lengths
    from d3prefiner.metrics import evaluate_predictions
    from d3prefiner.noise import make_synthetic_predictions
    from d3prefiner.predictions import Predictions

    preds = make_synthetic_predictions(n_sequences=2, n_frames=40, seed=3).filter(subjects=["S1"])
    bodies = [set_bone_lengths(s.gt3d, np.median(bone_lengths(s.gt3d), 0)) for s in preds]  # rigid
    truth = Predictions([replace(s, gt3d=g) for s, g in zip(preds, bodies)], preds.estimator)
    scaled = truth.with_pred3d([1.2 * g for g in bodies])  # right directions, bones too long
    scaled.save(tmp_path / "p.npz")
    out = _run("bone_prior.py", tmp_path / "p.npz", "--step", "bones", "--oracle")
    row = next(line for line in out.splitlines() if line.startswith("| S1 "))
    given, oracle = (float(v) for v in row.strip(" |").split("|")[1:])
    assert given == pytest.approx(evaluate_predictions(scaled).action_weighted.mpjpe_mm, abs=0.05)
    assert given > 10 and oracle < 0.1


def test_bone_prior_oracle_of_rays_puts_the_true_bones_on_exact_rays(tmp_path):
    """--step rays-nearest --oracle: with the 2D the truth's exact projection, the true bone
    lengths and the right depth order given by the estimate, each joint lands on the truth (bones
    too long by 20 % in the estimate do not: the oracle column near 0, the step alone not)."""
    from dataclasses import replace

    from d3prefiner.geometry import (
        DEFAULT_INTRINSICS,
        bone_lengths,
        project_normalised,
        set_bone_lengths,
    )
    from d3prefiner.noise import make_synthetic_predictions
    from d3prefiner.predictions import Predictions

    preds = make_synthetic_predictions(n_sequences=2, n_frames=40, seed=3).filter(subjects=["S1"])
    far = np.array([0.0, 0.0, 4.0], dtype=np.float32)  # the root 4 m in front of the camera
    seqs = []
    for s in preds:
        body = set_bone_lengths(s.gt3d, np.median(bone_lengths(s.gt3d), 0)).astype(np.float32)
        seqs.append(replace(s, gt3d=body + far, pred3d=1.2 * body + far, intrinsics=None,
                            pose2d=project_normalised(body + far, DEFAULT_INTRINSICS)))  # fmt: skip
    Predictions(seqs, preds.estimator).save(tmp_path / "p.npz")
    out = _run("bone_prior.py", tmp_path / "p.npz", "--step", "rays-nearest", "--oracle")
    row = next(line for line in out.splitlines() if line.startswith("| S1 "))
    given, oracle = (float(v) for v in row.strip(" |").split("|")[1:])
    assert given > 10 and oracle < 0.1, (given, oracle)


def test_fusion_study_rows_and_its_reference_is_the_librarys_crossfit(tmp_path):
    """fusion_study.py: one row a fusion, one column a held-out subject; its `per-joint` row is
    the library's cross-fitted shares scored on each subject."""
    from d3prefiner.noise import make_synthetic_predictions
    from d3prefiner.refiner.calibration import BonePrior
    from d3prefiner.refiner.shares import crossfit

    preds = make_synthetic_predictions(n_sequences=6, n_frames=60, seed=2, intrinsics=True)
    preds.save(tmp_path / "p.npz")
    out = _run("fusion_study.py", tmp_path / "p.npz", "--rows", "per-joint,per-axis,outliers",
               "--mlp-steps", "0")  # fmt: skip
    rows = {r[0].strip(): [float(v) for v in r[1:]] for r in
            (line.strip(" |").split("|") for line in out.splitlines()
             if re.match(r"^\| [a-z-]+ \| \d", line))}  # fmt: skip
    assert set(rows) == {"per-joint", "per-axis", "outliers"}
    assert all(len(r) == 4 and all(0 < v < 2 for v in r) for r in rows.values())
    subjects = ["S1", "S5", "S6"]
    parts = [(preds.filter(subjects=[s]),
              BonePrior.of(preds.filter(subjects=[o for o in subjects if o != s])).at(1.0, True))
             for s in subjects]  # fmt: skip
    outs, _ = crossfit(parts)

    def mm(p):
        return np.concatenate([np.linalg.norm((s.pred3d - s.pred3d[:, :1]) -
                                              (s.gt3d - s.gt3d[:, :1]), axis=-1).mean(1)
                               for s in p]).mean()  # fmt: skip

    want = [mm(o) / mm(p) for o, (p, _) in zip(outs, parts)]
    assert rows["per-joint"][:3] == pytest.approx(want, abs=1e-4)


def test_fusion_study_cleans_an_outlier_and_finds_a_constant_offset(monkeypatch):
    """The Hampel step replaces the one joint-frame thrown off its track; the bones' constancy
    finds a constant 2D offset of one joint of an exact estimate that turns around."""
    from dataclasses import replace

    from d3prefiner.geometry import (
        DEFAULT_INTRINSICS,
        bone_lengths,
        project_normalised,
        set_bone_lengths,
    )
    from d3prefiner.noise import make_synthetic_predictions

    study = _module("fusion_study", monkeypatch)
    s = make_synthetic_predictions(n_sequences=1, n_frames=120, seed=4).sequences[0]
    far = np.array([0.0, 0.0, 4.0])
    body = set_bone_lengths(s.gt3d, np.median(bone_lengths(s.gt3d), 0)) + far  # rigid
    y = project_normalised(body, DEFAULT_INTRINSICS)
    thrown = y.copy()
    thrown[50, 13] += 0.2  # a wrist 100 px off in one frame
    seq = replace(s, gt3d=body.astype(np.float32), pred3d=body.astype(np.float32),
                  pose2d=thrown.astype(np.float32), intrinsics=None)  # fmt: skip
    clean, share = study.cleaned(seq, 4.0, 0.3)
    moved = np.abs(clean.pose2d - thrown).max(-1) > 1e-6
    assert moved[50, 13] and moved.sum() <= 3 and 0 < share < 0.01
    assert np.abs(clean.pose2d[50, 13] - y[50, 13]).max() < 0.01
    rel = body - body[:, :1]  # turning once about the vertical: the bones point every way
    turn = np.linspace(0, 2 * np.pi, len(rel))
    c, z = np.cos(turn), np.zeros_like(turn)
    R = np.stack([np.stack([c, z, np.sin(turn)], -1), np.stack([z, z + 1, z], -1),
                  np.stack([-np.sin(turn), z, c], -1)], 1)  # fmt: skip
    body = np.einsum("fij,fkj->fki", R, rel) + far
    offset = project_normalised(body, DEFAULT_INTRINSICS)
    offset[:, 5] += [0.03, -0.02]  # the left knee 15 px off all along
    seq = replace(seq, pose2d=offset.astype(np.float32), pred3d=body.astype(np.float32))
    b = study.bias(seq, ridge=1e-4, smooth_s=0.0)
    assert np.abs(b[5] - [0.03, -0.02]).max() < 0.003, b[5]

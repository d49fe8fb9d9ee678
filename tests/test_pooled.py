"""A refiner pooled over several estimators, scored on the one it never saw (leave one out)."""

import json

import numpy as np
import pytest
import torch

from d3prefiner.errors import D3PRError
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.predictions import Predictions
from d3prefiner.study.pooled import PooledConfig, format_results, leave_one_out, pooled_parts

TRAIN, TEST = ["S1", "S5", "S6", "S7", "S8"], ["S9", "S11"]


def _fake_run(root, name: str, seed: int, scale: float, refiner: bool = False, model=None,
              n_frames: int = 60):  # fmt: skip
    """A finished bench run's files: cross-fitted training predictions (fold 0 predicts S1 S5 S6,
    fold 1 S7 S8, as `cross_fit` does), test predictions and experiment.json."""
    run = root / name
    (run / "predictions").mkdir(parents=True)
    preds = make_synthetic_predictions(
        n_sequences=14, n_frames=n_frames, seed=seed, error_scale=scale, subjects=(*TRAIN, *TEST)
    )
    seqs = []
    for s in preds:
        fold = -1 if s.subject in TEST else (0 if s.subject in ("S1", "S5", "S6") else 1)
        s.fold, s.split = fold, "test" if fold < 0 else "train"
        seqs.append(s)
    all_ = Predictions(seqs, name)
    all_.filter(split="train").save(run / "predictions" / "train_crossfit.npz")
    all_.filter(split="test").save(run / "predictions" / "test.npz")
    exp = dict(source="h36m-fk17", setting="gt", train_subjects=TRAIN, test_subjects=TEST,
               fps=25.0, n_cameras=4, folds=2, protocol="leak_free")  # fmt: skip
    if model is not None:
        exp["model"] = model
    (run / "experiment.json").write_text(json.dumps(exp))
    if refiner:  # the estimator's own refiner and CND
        from d3prefiner.noise import PoseNoiseModel
        from d3prefiner.refiner import RefinerConfig, train_refiner

        train = all_.filter(subjects=["S1", "S5", "S6"])
        noise = PoseNoiseModel(temporal="white").fit(train)
        noise.save(run / "noise.safetensors")
        cfg = RefinerConfig.from_preset("tiny", steps=2, window=9, train_stride=3, refine_stride=9)
        train_refiner(cfg, train, noise, run / "refiner", progress=False)
        (run / "refiner" / "done.json").write_text("{}")
    return run


def test_pool_keeps_the_folds_of_each_file_apart():
    a = make_synthetic_predictions(n_sequences=2, n_frames=20, seed=0)
    b = make_synthetic_predictions(n_sequences=3, n_frames=20, seed=1)
    for i, s in enumerate(a):
        s.fold = i
    for i, s in enumerate(b):
        s.fold = [0, 1, -1][i]
    a.estimator, b.estimator = "stc", "tcn"
    p = Predictions.pool([a, b])
    assert [s.fold for s in p] == [0, 1, 2, 3, -1]
    assert len(p) == 5 and p.estimator == "pool(stc+tcn)"
    np.testing.assert_array_equal(p.concat("pred3d")[:40], a.concat("pred3d"))
    with pytest.raises(D3PRError, match="at least one non-empty"):
        Predictions.pool([])


def test_subsample_keeps_whole_sequences_evenly_spaced():
    from d3prefiner.study.pooled import subsample

    p = make_synthetic_predictions(n_sequences=10, n_frames=20, seed=0)
    assert subsample(p, None) is p and subsample(p, 1000) is p
    half = subsample(p, 100)
    assert len(half) == 5 and half.sequences[0] is p.sequences[0]
    assert half.sequences[-1] is p.sequences[-1]
    assert len(subsample(p, 1)) == 1


def test_leave_one_out_end_to_end(tmp_path):
    torch.set_num_threads(1)
    runs = [
        _fake_run(tmp_path, "est_a", 0, 0.01, refiner=True),
        _fake_run(tmp_path, "est_b", 1, 0.03),
        _fake_run(tmp_path, "est_c", 2, 0.05),
    ]
    cfg = PooledConfig(steps=2, preset="tiny", train_stride=9, val_every=1)
    out = tmp_path / "pooled"
    res = leave_one_out(runs, out, cfg, progress=False)
    assert [r["left_out"] for r in res["left_out"]] == ["est_a", "est_b", "est_c"]
    first = res["left_out"][0]
    assert first["trained_on"] == ["est_b", "est_c"]
    names = set(first["methods"])
    assert {"base", "pooled, full strength, guard off", "specific, full strength",
            "specific closed-form CND", "pooled closed-form CND"} <= names  # fmt: skip
    assert "specific, full strength" not in res["left_out"][1]["methods"]  # est_b has no refiner
    # the in-plane part, its strength chosen on the pooled val: the test's depth is the base's
    plane = first["pooled_in_plane_strength"]
    assert plane["correct"] == "in-plane"
    assert len(plane["validation"]["strength"]["by_fold"]) == 2  # each estimator's S8: the worst
    assert first["pooled_in_plane_strength_on_left_out_val"]["correct"] == "in-plane"
    assert any(n.startswith("pooled, in-plane part, strength from pooled val") for n in names)
    assert (out / "without-est_a" / "val_raw.npz").exists()  # refined once, kept
    assert first["pooled_part_on_left_out_val"] in ("full", "in-plane")
    assert any(n.startswith("pooled, either part, calibrated") for n in names)
    # the base row is the left-out run's own test predictions
    from d3prefiner.metrics import evaluate_predictions

    test_a = Predictions.load(runs[0] / "predictions" / "test.npz")
    base = evaluate_predictions(test_a).action_weighted.mpjpe_mm
    assert first["methods"]["base"]["mpjpe_mm"] == pytest.approx(base, abs=0.01)
    # the pooled refiner never saw the left-out estimator: trained on the others' S1 S5 S6 only
    train, val = pooled_parts([runs_cell for runs_cell in _cells(runs[1:], out)])
    assert {s.subject for s in train} == {"S1", "S5", "S6"} and {s.subject for s in val} == {"S8"}
    done = json.loads((out / "without-est_a" / "refiner" / "done.json").read_text())
    assert done["trained_on"] == ["est_b", "est_c"] and done["train_frames"] == train.num_frames
    # resumable: a second call trains nothing and gives the same numbers
    mtime = (out / "without-est_a" / "refiner" / "model.safetensors").stat().st_mtime_ns
    again = leave_one_out(runs, out, cfg, progress=False)
    assert again["left_out"] == res["left_out"]
    assert (out / "without-est_a" / "refiner" / "model.safetensors").stat().st_mtime_ns == mtime
    # --recalibrate chooses the pooled strength again (here: a stale record) and scores again
    cfg_path = out / "without-est_a" / "refiner" / "config.json"
    meta = json.loads(cfg_path.read_text())
    chosen = meta["calibration"]
    meta["calibration"] = {**chosen, "strength": 0.75}
    cfg_path.write_text(json.dumps(meta))
    (out / "without-est_b" / "refiner" / "config.json").unlink()  # must not be read
    redo = leave_one_out(runs, out, cfg, progress=False, only=["est_a"], recalibrate=True)
    assert json.loads(cfg_path.read_text())["calibration"] == chosen
    assert redo["left_out"][0]["pooled_calibration"] == chosen
    assert redo["left_out"][0]["methods"] == res["left_out"][0]["methods"]
    # the specific refiner's own checkpoint is not rewritten by calibrating it
    own = json.loads((runs[0] / "refiner" / "config.json").read_text())
    assert "validation" not in own["calibration"]
    # one left-out estimator at a time (several processes), then gathered
    part = leave_one_out(runs, tmp_path / "p2", cfg, progress=False, only=["est_c"])
    assert [r["left_out"] for r in part["left_out"]] == ["est_c"]
    with pytest.raises(D3PRError, match="only names no estimator or run given: est_x"):
        leave_one_out(runs, tmp_path / "p2", cfg, progress=False, only=["est_x"])
    with pytest.raises(D3PRError, match="another configuration"):
        leave_one_out(runs, tmp_path / "p2", PooledConfig(steps=3, preset="tiny"), progress=False)
    text = format_results(res)
    assert text.count("#### left out:") == 3 and "| base |" in text


def _cells(runs, out):
    from d3prefiner.study.grid import GridConfig, make_cell

    return [make_cell(r, out, GridConfig()) for r in runs]


def test_runs_that_are_not_comparable_are_refused(tmp_path):
    runs = [_fake_run(tmp_path, f"e{i}", i, 0.02) for i in range(3)]
    (runs[0] / "refiner").mkdir()  # a bench still training its refiner
    with pytest.raises(D3PRError, match="still training"):
        leave_one_out(runs, tmp_path / "o0", PooledConfig(steps=1, preset="tiny"), progress=False)
    # a run that is only pooled (not scored: --only names another) may still be training
    res = leave_one_out(runs, tmp_path / "o1", PooledConfig(steps=1, preset="tiny"),
                        progress=False, only=["e2"])  # fmt: skip
    assert [r["left_out"] for r in res["left_out"]] == ["e2"]
    with pytest.raises(D3PRError, match="at least 3 bench runs"):
        leave_one_out(runs[:2], tmp_path / "o", progress=False)
    same = [_fake_run(tmp_path, f"tcn-{n}", n, 0.02, model="tcn") for n in (1, 2, 3)]
    with pytest.raises(D3PRError, match="at least 2 estimators, got tcn only"):
        leave_one_out(same, tmp_path / "o", progress=False)
    exp = json.loads((runs[2] / "experiment.json").read_text())
    exp["setting"] = "detected"
    (runs[2] / "experiment.json").write_text(json.dumps(exp))
    with pytest.raises(D3PRError, match="differs from .* in setting"):
        leave_one_out(runs, tmp_path / "o", progress=False)


def test_cli_pool(tmp_path, capsys):
    from conftest import run_cli

    a = make_synthetic_predictions(n_sequences=3, n_frames=20, seed=0, subjects=("S1", "S5"))
    b = make_synthetic_predictions(n_sequences=2, n_frames=20, seed=1, subjects=("S1", "S6"))
    a.estimator, b.estimator = "stc", "tcn"
    a.save(tmp_path / "a.npz")
    b.save(tmp_path / "b.npz")
    code, out = run_cli(["pool", tmp_path / "a.npz", tmp_path / "b.npz", "-o",
                         tmp_path / "p.npz", "--subjects", "S1"], capsys)  # fmt: skip
    assert code == 0, out
    p = Predictions.load(tmp_path / "p.npz")
    assert len(p) == 3 and {s.subject for s in p} == {"S1"} and "stc: 2, tcn: 1" in out
    code, out = run_cli(["pool", tmp_path / "a.npz", "-o", tmp_path / "a.npz"], capsys)
    assert code == 2 and "error:" in out  # never overwrite an input
    code, out = run_cli(["pool", tmp_path / "a.npz", "-o", tmp_path / "q.npz",
                         "--subjects", "S42"], capsys)  # fmt: skip
    assert (
        code == 2 and "no sequences of subject(s) S42" in out and not (tmp_path / "q.npz").exists()
    )


def test_an_estimator_at_several_budgets_is_left_out_as_a_whole(tmp_path):
    """Two budgets of one model are one estimator: both are scored on a refiner pooled over the
    other estimators only (leaving one budget out would leave the architecture in the pool)."""
    torch.set_num_threads(1)
    runs = [
        _fake_run(tmp_path, "tcn-500", 0, 0.05, model="tcn"),
        _fake_run(tmp_path, "tcn-1500", 1, 0.03, model="tcn"),
        _fake_run(tmp_path, "stc", 2, 0.02, model="stcformer"),
        _fake_run(tmp_path, "mix", 3, 0.04, model="mixste"),
    ]
    cfg = PooledConfig(steps=2, preset="tiny", train_stride=9, val_every=1)
    out = tmp_path / "pooled"
    res = leave_one_out(runs, out, cfg, progress=False, only=["tcn", "mix"])
    by_run = {r["left_out"]: r for r in res["left_out"]}
    assert set(by_run) == {"tcn-500", "tcn-1500", "mix"}
    assert by_run["tcn-500"]["trained_on"] == ["stc", "mix"] == by_run["tcn-1500"]["trained_on"]
    assert by_run["tcn-500"]["estimator"] == "tcn" and by_run["mix"]["estimator"] == "mixste"
    assert by_run["mix"]["trained_on"] == ["tcn-500", "tcn-1500", "stc"]
    # one pooled refiner per left-out estimator, scored on each of its runs
    done = json.loads((out / "without-tcn" / "refiner" / "done.json").read_text())
    assert done["trained_on"] == ["stc", "mix"]
    assert (out / "without-tcn" / "on-tcn-500" / "results.json").exists()
    assert (out / "without-tcn" / "on-tcn-1500" / "results.json").exists()
    assert not (out / "without-tcn-500").exists()
    # the two budgets are scored on their own test sets
    base = {n: r["methods"]["base"]["mpjpe_mm"] for n, r in by_run.items()}
    assert base["tcn-500"] > base["tcn-1500"]
    # a single run of an estimator can be named too, and the cached results are gathered
    part = leave_one_out(runs, out, cfg, progress=False, only=["stc"])
    assert [r["left_out"] for r in part["left_out"]] == ["tcn-500", "tcn-1500", "stc", "mix"]
    # recalibrating for one run rescores every run of that pooled refiner, and only those: the
    # other refiners' scores and a cached score of a run not given now are kept
    stale = out / "without-tcn" / "on-tcn-500" / "results.json"
    stale.write_text(json.dumps({**by_run["tcn-500"], "stale": True}))
    gone = out / "without-tcn" / "on-tcn-300" / "results.json"
    gone.parent.mkdir()
    gone.write_text("{}")
    mix_cached = out / "without-mixste" / "on-mix" / "results.json"
    mtime = mix_cached.stat().st_mtime_ns
    redo = leave_one_out(runs, out, cfg, progress=False, only=["tcn-1500"], recalibrate=True)
    again = {r["left_out"]: r for r in redo["left_out"]}
    assert set(again) == {"tcn-500", "tcn-1500", "stc", "mix"}
    assert "stale" not in json.loads(stale.read_text()) and "stale" not in again["tcn-500"]
    assert again["tcn-500"]["methods"] == by_run["tcn-500"]["methods"]
    assert gone.exists() and mix_cached.stat().st_mtime_ns == mtime


def test_fine_tuned_rows_on_half_of_the_left_out_val(tmp_path):
    """`--adapt-steps`: the pooled refiner fine-tuned on half of L's validation subject (every
    other action), its strength chosen on the other half, added to a cached result."""
    from d3prefiner.refiner import Refiner
    from d3prefiner.study.pooled import halves

    torch.set_num_threads(1)
    runs = [_fake_run(tmp_path, n, i, 0.01 * (i + 1), n_frames=150)  # a CND per half of S8
            for i, n in enumerate(["a", "b", "c"])]  # fmt: skip
    cfg = PooledConfig(steps=2, preset="tiny", train_stride=9, val_every=1)
    out = tmp_path / "pooled"
    plain = leave_one_out(runs, out, cfg, progress=False, only=["a"])["left_out"][0]
    assert "adapted" not in plain
    res = leave_one_out(runs, out, cfg, progress=False, only=["a"], adapt_steps=2)
    first = res["left_out"][0]
    names = list(first["methods"])
    rows = [n for n in names if n.startswith("pooled, fine-tuned 2 steps on half of L's val")]
    assert len(rows) == 2 and names.index(rows[-1]) + 1 == names.index("pooled closed-form CND")
    assert {k: first["methods"][k] for k in plain["methods"]} == plain["methods"]
    ad = first["adapted"]
    assert ad["steps"] == 2 and ad["lr"] == 3e-4
    assert ad["strength_in_plane"]["correct"] == "in-plane"
    # half the val subject's sequences to adapt, the other half to choose the strength
    from d3prefiner.study.grid import GridConfig, make_cell
    from d3prefiner.study.pooled import validation_part

    val = validation_part(make_cell(runs[0], out, GridConfig()))
    adapt, check = halves(val)
    assert ad["adapt_frames"] == adapt.num_frames and ad["check_frames"] == check.num_frames
    assert not {s.action for s in adapt} & {s.action for s in check}
    # it started from the pooled refiner: same network, and not the pooled weights any more
    tuned = Refiner.load(out / "without-a" / "on-a" / "adapted-2")
    pooled = Refiner.load(out / "without-a" / "refiner")
    assert tuned.config.denoiser_config() == pooled.config.denoiser_config()
    assert tuned.model.e_scale == pooled.model.e_scale
    assert tuned.config.loop.steps == 2 and tuned.config.loop.lr == 3e-4
    # cached: asked again, nothing is trained again
    weights = out / "without-a" / "on-a" / "adapted-2" / "model.safetensors"
    mtime = weights.stat().st_mtime_ns
    again = leave_one_out(runs, out, cfg, progress=False, only=["a"], adapt_steps=2)
    assert again["left_out"][0] == first and weights.stat().st_mtime_ns == mtime


def test_halves_split_by_action_or_by_sequence():
    from d3prefiner.study.pooled import halves

    p = make_synthetic_predictions(n_sequences=5, n_frames=20, seed=0)
    a, b = halves(p)
    assert len(a) == 3 and len(b) == 2  # actions sorted, every other one
    for s in p:
        s.action = "walk"
    a, b = halves(p)
    assert [id(s) for s in a] == [id(p.sequences[i]) for i in (0, 2, 4)]
    with pytest.raises(D3PRError, match="at least 2 sequences"):
        halves(Predictions(p.sequences[:1], "x"))


def test_cli_pooled_prints_the_tables_and_continues_where_it_stopped(tmp_path, capsys):
    """`d3pr pooled`: the same study through the command; OUT/results.json holds what it printed,
    a second call trains nothing, and a bad --only is one `error:` line with exit code 2."""
    from conftest import run_cli

    runs = [_fake_run(tmp_path, n, i, 0.01 * (i + 1)) for i, n in enumerate(["a", "b", "c"])]
    out = tmp_path / "pooled"
    argv = ["pooled", *runs, "--out", out, "--steps", "2", "--preset", "tiny", "--only", "c",
            "--threads", "1", "--no-progress"]  # fmt: skip
    code, text = run_cli(argv, capsys)
    assert code == 0, text
    res = json.loads((out / "results.json").read_text())
    assert [r["left_out"] for r in res["left_out"]] == ["c"]
    assert res["config"]["steps"] == 2 and res["config"]["preset"] == "tiny"
    assert format_results(res) in text and "#### left out: c (c; pooled on a, b;" in text
    weights = out / "without-c" / "refiner" / "model.safetensors"
    mtime = weights.stat().st_mtime_ns
    code, again = run_cli(argv, capsys)
    assert code == 0 and again == text and weights.stat().st_mtime_ns == mtime
    code, text = run_cli([*argv[:-5], "--only", "zz", "--no-progress"], capsys)
    assert code == 2 and text.strip().splitlines() == [
        "error: --only names no estimator or run given: zz"
    ]

"""The study layer: splits, presets and variants, the experiment's split, the grid / ablation runners."""

import json

import pytest
from typer.testing import CliRunner

from conftest import HAVE_PYBULLET, needs_pybullet
from d3prefiner.cli import app
from d3prefiner.errors import D3PRError
from d3prefiner.evaluation import evaluate_methods
from d3prefiner.metrics import frame_mpjpe_mm
from d3prefiner.noise import PoseNoiseModel
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import Refiner
from d3prefiner.refiner.calibration import BonePrior, geometric_step
from d3prefiner.refiner.config import RECIPES, RefinerConfig
from d3prefiner.study import (
    DEMO_PRESETS,
    TABLES,
    VARIANTS,
    Experiment,
    ExperimentConfig,
    Split,
    check_variants,
)
from d3prefiner.study.grid import GridConfig, format_grid, run_grid

H36M_TRAIN, H36M_TEST = ["S1", "S5", "S6", "S7", "S8"], ["S9", "S11"]


def test_leak_free_split_keeps_the_validation_fold_out_of_cnd_and_refiner():
    s = Split.make("leak_free", H36M_TRAIN, H36M_TEST, folds=2)
    # 2 folds: [S1 S5 S6] / [S7 S8]; S8's fold lifter trained on S1 S5 S6, whose predictions come
    # from the lifter trained on S7 S8: CND and refiner see only those
    assert s.cnd == s.refiner == ("S1", "S5", "S6")
    assert s.val == ("S8",) and s.test == ("S9", "S11")
    s3 = Split.make("leak_free", H36M_TRAIN, H36M_TEST, folds=3, val="S1")
    assert s3.val == ("S1",) and "S1" not in s3.cnd and "S5" not in s3.cnd  # [S1 S5] held out
    pooled = Split.make("pooled", H36M_TRAIN, H36M_TEST)
    assert pooled.cnd == tuple(H36M_TRAIN) and pooled.refiner == ("S1", "S5", "S6", "S7")


def test_split_refuses_bad_protocols_and_subjects():
    with pytest.raises(D3PRError, match="protocol"):
        Split.make("leaky", H36M_TRAIN, H36M_TEST)
    with pytest.raises(D3PRError, match="not a training subject"):
        Split.make("leak_free", H36M_TRAIN, H36M_TEST, val="S9")
    with pytest.raises(D3PRError, match="test subject"):
        Split("pooled", ("S1",), ("S1",), ("S8",), ("S1",))
    with pytest.raises(D3PRError, match="validation"):
        Split("pooled", ("S1",), ("S1", "S8"), ("S8",), ("S9",))


def test_every_variant_is_a_valid_refiner_config_and_names_are_checked():
    for name, over in VARIANTS.items():
        cfg = RefinerConfig.from_preset("tiny", "paper", **over)
        for k, v in over.items():
            assert getattr(cfg, k) == v, (name, k)
    # the "combo" variant is the default recipe
    combo = RefinerConfig.from_preset("cpu", "paper", **VARIANTS["combo"])
    assert combo == RefinerConfig.from_preset("cpu", "default")
    assert set(RECIPES) == {"paper", "default", "any", "geo"}
    # "any" is the default's training switches, applied in-plane
    anyr = RefinerConfig.from_preset("cpu", "any")
    assert anyr.correct == "in-plane" and anyr == RefinerConfig.from_preset(
        "cpu", "default", correct="in-plane"
    )
    for table in TABLES.values():
        assert check_variants(table) == list(table)
    with pytest.raises(D3PRError, match="unknown variant"):
        check_variants(["paper", "nope"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished tiny experiment on the embedded DeepMimic clips, leak-free split."""
    if not HAVE_PYBULLET:
        pytest.skip("the demo's embedded data comes with pybullet")
    out = tmp_path_factory.mktemp("study") / "tiny"
    cfg = ExperimentConfig(source="deepmimic", **{**DEMO_PRESETS["tiny"], "protocol": "leak_free"})
    Experiment(cfg, out, progress=False).run()
    return out, cfg


@needs_pybullet
def test_experiment_fits_the_cnd_only_on_the_split_subjects(tiny_run):
    out, cfg = tiny_run
    split = cfg.split
    assert split.val == ("view2",) and split.cnd == ("view0", "view1")
    crossfit = Predictions.load(out / "predictions" / "train_crossfit.npz")
    noise = PoseNoiseModel.load(out / "noise.safetensors")
    assert noise.n_frames_ == crossfit.filter(subjects=list(split.cnd)).num_frames
    assert noise.n_frames_ < crossfit.num_frames
    hist = json.loads((out / "refiner" / "history.json").read_text())
    assert any("val_mpjpe_refined_mm" in r for r in hist["records"])
    # the report says so, from the split the experiment recorded in results.json
    meta = json.loads((out / "results.json").read_text())["meta"]
    assert meta["split"]["cnd"] == list(split.cnd) and meta["split"]["val"] == list(split.val)
    assert (
        "fitted on the cross-fitted predictions of view0, view1" in (out / "report.md").read_text()
    )
    assert "validated on view2. Protocol `leak_free`" in (out / "report.md").read_text()
    # the geometric step was chosen on every training body, each with the others' bones, and
    # the prior recorded is all of theirs; never a test subject
    cal = Refiner.load(out / "refiner").calibration
    assert cal.geometric_bodies == tuple(sorted({s.subject for s in crossfit}))
    assert not set(cal.geometric_bodies) & set(split.test)
    assert cal.bones.lengths_m == pytest.approx(BonePrior.of(crossfit).lengths_m, abs=1e-4)


@needs_pybullet
def test_grid_runs_resumes_and_prints_its_tables(tiny_run, tmp_path):
    run, _ = tiny_run
    cfg = GridConfig(
        variants=("paper", "wo_diff"), seeds=(0, 1), steps=2, preset="tiny", longer=True,
        smooth=("savgol",),
    )  # fmt: skip
    res = run_grid([run], tmp_path / "grid", cfg, progress=False)
    cell = res[run.name]
    plain = {"paper-s0", "wo_diff-s0", "paper-s1", "wo_diff-s1"}
    auto = {n.replace("-s", "@auto-s") for n in plain}  # at the strength chosen on validation
    assert set(cell["validation"]) == plain | auto
    assert {"base", "paper-s0", "paper@auto-s0", "savgol", "cnd_closed_form"} <= set(cell["test"])
    cal = Refiner.load(tmp_path / "grid" / run.name / "paper-s0").calibration
    alpha = cal.strength
    assert cell["validation"]["paper@auto-s0"]["alpha"] == alpha
    # the base moved by α of each variant's correction (a refined file of the grid, its α), then
    # the geometric step chosen on validation (its bones pulled toward the training bodies', at the
    # share of the 2D chosen with it)
    base = Predictions.load(run / "predictions" / "test.npz")
    full = Predictions.load(tmp_path / "grid" / run.name / "paper-s0.npz")
    x = base.with_pred3d([b.pred3d + alpha * (f.pred3d - b.pred3d) for b, f in zip(base, full)])
    step = geometric_step(x, cal.geometric, cal.bones, cal.geometric_share, cal.geometric_shares)
    moved = {"base": base, "x": step}
    want = evaluate_methods(moved, baselines=(), progress=False)["methods"]["x"]["mpjpe_mm"]
    assert cell["test"]["paper@auto-s0"]["mpjpe_mm"] == pytest.approx(want, rel=1e-6)
    assert tuple(cell["split"]["val"]) == ("view2",)
    text = format_grid(res)
    assert "| paper |" in text and "| wo_diff |" in text and "closed-form CND" in text
    assert "paper (×2 seeds)" in text and "paper@auto (×2 seeds)" in text
    # the fair comparison (the lifter trained on for the refiner's time) and filters after each
    assert "longer_lifter" in cell["test"] and "| longer_lifter |" in text
    longer = json.loads((tmp_path / "grid" / run.name / "longer" / "longer.json").read_text())
    assert longer["extra_steps"] >= 0 and longer["steps"] == 4 + longer["extra_steps"]
    methods = [r["method"] for r in cell["smoothing"]]
    assert methods == ["closed-form CND", "paper-s0", "wo_diff-s0", "paper-s1", "wo_diff-s1"]
    assert set(cell["smoothing"][0]["val"]) == {"raw", "savgol"} and "a filter after" in text
    # a second call trains nothing: the checkpoints are left untouched
    ckpt = tmp_path / "grid" / run.name / "paper-s0" / "model.safetensors"
    stamp = ckpt.stat().st_mtime_ns
    again = run_grid([run], tmp_path / "grid", cfg, progress=False)
    assert ckpt.stat().st_mtime_ns == stamp
    assert again[run.name]["test"]["paper-s0"] == cell["test"]["paper-s0"]


@needs_pybullet
def test_grid_config_refuses_unknown_filters():
    with pytest.raises(D3PRError, match="unknown filter"):
        GridConfig(smooth=("median",))


@needs_pybullet
def test_ablate_cli_writes_table_iii(tiny_run, tmp_path):
    run, _ = tiny_run
    out = tmp_path / "ablate"
    args = ["ablate", str(run), "--out", str(out), "--table", "3", "--steps", "1"]
    res = CliRunner().invoke(app, [*args, "--preset", "tiny", "--no-progress"])
    assert res.exit_code == 0, res.output
    text = (out / "grid.md").read_text()
    for v in TABLES["3"]:
        assert f"| {v} |" in text
    bad = CliRunner().invoke(app, ["ablate", str(run), "--out", str(out), "--table", "9"])
    assert bad.exit_code != 0 and "table must be one of" in str(bad.exception)
    bad = CliRunner().invoke(app, ["grid", str(run), "--out", str(out), "--variants", "x"])
    assert bad.exit_code != 0 and "unknown variant" in str(bad.exception)


def test_bench_tiny_on_h36m_is_leak_free_and_feeds_the_grid(shared_data, tmp_path):
    """`d3pr bench --preset tiny` on a slice of h36m-fk17, then `d3pr grid` on its run.
    `--lifter-steps 3` (the tiny preset has 2) reaches every lifter run and names the run;
    `--until lifter` stops after the cross-fitted predictions and the same command without it
    continues from there."""
    out = tmp_path / "bench"
    args = ["bench", "--preset", "tiny", "--model", "tcn", "--setting", "gt", "--train", "S1,S5",
            "--test", "S9", "--cameras", "1", "--threads", "2", "--out", str(out),
            "--lifter-steps", "3"]  # fmt: skip
    res = CliRunner().invoke(app, [*args, "--until", "lifter"])
    assert res.exit_code == 0, res.output
    run = out / "tcn-gt-3-subject"  # h36m-fk17's default: each subject's own bones
    assert json.loads((run / "experiment.json").read_text())["skeleton"] == "subject"
    assert "stopped after the lifter stage" in res.output
    assert (run / "predictions" / "train_crossfit.npz").exists()
    assert not (run / "noise.safetensors").exists() and not (run / "refiner").exists()
    assert not (run / "results.json").exists()
    lifter = (run / "lifter" / "full" / "model.safetensors").stat().st_mtime_ns
    bad = CliRunner().invoke(app, [*args, "--until", "evaluate"])
    assert bad.exit_code != 0 and "until must be one of lifter, noise, refiner" in str(
        bad.exception
    )
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (run / "lifter" / "full" / "model.safetensors").stat().st_mtime_ns == lifter
    for lifter in ("fold0", "fold1", "full"):
        history = json.loads((run / "lifter" / lifter / "history.json").read_text())
        assert history["steps"] == 3, lifter
    results = json.loads((run / "results.json").read_text())
    assert {"base", "refined", "cnd_closed_form"} <= set(results["methods"])
    assert json.loads((run / "experiment.json").read_text())["protocol"] == "leak_free"
    # leak-free: S5 (validation) is its own fold; the CND saw only S1's cross-fitted frames
    crossfit = Predictions.load(run / "predictions" / "train_crossfit.npz")
    noise = PoseNoiseModel.load(run / "noise.safetensors")
    assert noise.n_frames_ == crossfit.filter(subjects=["S1"]).num_frames
    grid = tmp_path / "grid"
    args = ["grid", str(run), "--out", str(grid), "--variants", "paper", "--steps", "1"]
    res = CliRunner().invoke(app, [*args, "--preset", "tiny", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "| paper |" in (grid / "grid.md").read_text()


def test_bench_folds_makes_k_fold_lifters_and_names_the_run(shared_data, tmp_path):
    """`--folds 3`: three fold lifters (one per training subject here) and the full one, each
    training subject predicted by the fold that did not see it; the run is
    MODEL-SETTING-subject-3folds."""
    out = tmp_path / "bench"
    args = ["bench", "--preset", "tiny", "--model", "tcn", "--setting", "gt", "--train",
            "S1,S5,S6", "--test", "S9", "--cameras", "1", "--threads", "2", "--out", str(out),
            "--until", "lifter"]  # fmt: skip
    bad = CliRunner().invoke(app, [*args, "--folds", "4"])
    assert bad.exit_code != 0 and "folds must be in [2, 3], got 4" in str(bad.exception)
    assert not (out / "tcn-gt-subject-4folds").exists()
    res = CliRunner().invoke(app, [*args, "--folds", "3"])
    assert res.exit_code == 0, res.output
    run = out / "tcn-gt-subject-3folds"
    assert sorted(p.name for p in (run / "lifter").iterdir()) == ["fold0", "fold1", "fold2", "full"]
    crossfit = Predictions.load(run / "predictions" / "train_crossfit.npz")
    assert {(s.subject, s.fold) for s in crossfit} == {("S1", 0), ("S5", 1), ("S6", 2)}


def test_bench_holdout_refines_the_validation_folds_lifter(shared_data, tmp_path):
    """`--protocol holdout`: the lifter refined and scored is the one trained without the
    validation subject (fold2 here); the CND and the refiner learn its errors on that subject's
    actions, two thirds to fit and train, the rest to choose; the run is named ...-holdout and
    takes the leak-free run's finished lifters instead of training them again."""
    from d3prefiner.predictions import action_split

    out = tmp_path / "bench"
    args = ["bench", "--preset", "tiny", "--model", "tcn", "--setting", "gt", "--train",
            "S1,S5,S6", "--test", "S9", "--cameras", "1", "--threads", "2", "--out", str(out),
            "--folds", "3"]  # fmt: skip
    res = CliRunner().invoke(app, [*args, "--until", "lifter"])  # the leak-free run's lifters
    assert res.exit_code == 0, res.output
    trained = out / "tcn-gt-subject-3folds" / "lifter" / "fold2" / "model.safetensors"
    res = CliRunner().invoke(app, [*args, "--protocol", "holdout"])
    assert res.exit_code == 0, res.output
    run = out / "tcn-gt-subject-3folds-holdout"
    assert "fold0, fold1, fold2, full copied from" in res.output  # not trained again
    assert (run / "lifter" / "fold2" / "model.safetensors").read_bytes() == trained.read_bytes()
    deployed = Predictions.load(run / "predictions" / "test_holdout.npz")
    assert {(s.subject, s.fold, s.split) for s in deployed} == {("S9", 2, "test")}
    full = Predictions.load(run / "predictions" / "test.npz")
    assert {s.fold for s in full} == {-1}
    results = json.loads((run / "results.json").read_text())
    assert results["meta"]["lifter"] == "fold2"
    scored = evaluate_methods({"base": deployed}, baselines=(), progress=False)
    assert results["methods"]["base"]["mpjpe_mm"] == pytest.approx(
        scored["methods"]["base"]["mpjpe_mm"], abs=0.01
    )
    assert results["meta"]["full_lifter_test_mpjpe_mm"] == frame_mpjpe_mm(full)
    crossfit = Predictions.load(run / "predictions" / "train_crossfit.npz")
    fit, held = action_split(crossfit.filter(subjects=["S6"]))
    assert len(fit) and len(held)
    assert PoseNoiseModel.load(run / "noise.safetensors").n_frames_ == fit.num_frames


@needs_pybullet
def test_grid_with_jobs_trains_side_by_side_and_shows_each_variant(tiny_run, tmp_path, capfd):
    """`--jobs 2`: variants in worker processes, each with a bar labelled RUN/VARIANT (a
    long grid used to print nothing until its first variant was done), same variants as one job."""
    run, _ = tiny_run
    cfg = GridConfig(variants=("paper", "wo_diff"), seeds=(0,), steps=2, preset="tiny")
    res = run_grid([run], tmp_path / "grid", cfg, jobs=2, progress=True)
    cap = capfd.readouterr()
    err = cap.out + cap.err
    assert f"{run.name}/paper-s0" in err and f"{run.name}/wo_diff-s0" in err
    assert "grid: paper-s0 done" in err and "grid (2 at a time)" in err
    one = run_grid([run], tmp_path / "grid1", cfg, progress=False)
    for name in ("paper-s0", "wo_diff-s0"):
        assert res[run.name]["test"][name]["mpjpe_mm"] == pytest.approx(
            one[run.name]["test"][name]["mpjpe_mm"], rel=1e-3
        )


def _recorded(refiner, alpha, smoothing=None, correct="full"):
    """``refiner`` calibrated as given (no guard range): what :func:`as_applied` reads of it."""
    from d3prefiner.refiner import Calibration
    from d3prefiner.refiner.calibration import StrengthScores

    if alpha is None:
        refiner.calibration = Calibration(fps=25.0)
        return refiner
    filt = dict(smoothing or {"filter": "none"})
    refiner.calibration = Calibration(
        strength=alpha, correct=correct, filter=filt.pop("filter"), filter_params=filt, fps=25.0,
        strength_scores=StrengthScores({0.0: 1.0, 1.0: 1.0}, 1, 0.002),
    )  # fmt: skip
    return refiner


def _pair(F=60):
    import numpy as np

    from d3prefiner.predictions import PredictionSequence

    rng = np.random.default_rng(3)
    base, refined = [], []
    for i in range(2):
        gt = rng.normal(0, 0.2, (F, 17, 3)).astype(np.float32)
        y = rng.normal(size=(F, 17, 2)).astype(np.float32)
        x = gt + rng.normal(0, 0.02, gt.shape).astype(np.float32)
        base.append(PredictionSequence(f"S{i}", "walking_1", "c0", 25.0, y, x, gt))
        refined.append(PredictionSequence(f"S{i}", "walking_1", "c0", 25.0, y, x + 0.1, gt))
    return Predictions(base, "lifter"), Predictions(refined, "lifter+refiner")


def test_as_applied_is_the_recorded_strength_then_the_recorded_filter(tmp_path):
    import numpy as np

    from conftest import tiny_refiner_files
    from d3prefiner.baselines import gaussian
    from d3prefiner.refiner import Refiner
    from d3prefiner.study.experiment import as_applied

    ref = Refiner.load(tiny_refiner_files(tmp_path) / "ckpt")
    base, refined = _pair()
    assert as_applied(_recorded(ref, None), base, refined) == {}  # nothing recorded
    out = as_applied(_recorded(ref, 0.5), base, refined)  # α = 0.5: x + 0.05
    assert set(out) == {"refined_auto"}
    for seq, b in zip(out["refined_auto"], base):
        np.testing.assert_allclose(seq.pred3d, b.pred3d + 0.05, atol=1e-6)
    # a filter chosen on validation is applied after the strength, at the recorded rate
    out = as_applied(_recorded(ref, 1.0, {"filter": "gaussian", "sigma": 2.0}), base, refined)
    assert set(out) == {"refined_auto", "refined_auto_unfiltered"}  # by default; and without
    for seq, u, r in zip(out["refined_auto"], out["refined_auto_unfiltered"], refined):
        np.testing.assert_allclose(seq.pred3d, gaussian(r.pred3d, sigma=2.0), atol=1e-6)
        np.testing.assert_allclose(u.pred3d, r.pred3d, atol=1e-6)
    assert set(as_applied(_recorded(ref, 1.0, {"filter": "none"}), base, refined)) == {
        "refined_auto"
    }
    # a strength chosen for the in-plane part (the `any` recipe): the depth stays the base's
    out = as_applied(_recorded(ref, 1.0, correct="in-plane"), base, refined)["refined_auto"]
    for seq, b, r in zip(out, base, refined):
        np.testing.assert_array_equal(seq.pred3d[..., 2], b.pred3d[..., 2])
        np.testing.assert_allclose(seq.pred3d[..., :2], r.pred3d[..., :2], atol=1e-6)

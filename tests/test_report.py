"""Tables on hand-made inputs, report files, evaluate_files checks and the `d3pr evaluate` CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from d3prefiner.cli import app, main
from d3prefiner.errors import D3PRError
from d3prefiner.evaluation import evaluate_files, evaluate_methods
from d3prefiner.metrics import ActionStats, ActionTable
from d3prefiner.predictions import Predictions, PredictionSequence
from d3prefiner.report import (
    format_text,
    main_rows,
    method_order,
    pct_change,
    results_from_tables,
    summary_rows,
    table_rows,
    to_markdown,
    verdict,
    write_report,
)
from d3prefiner.study import ExperimentConfig

torch.set_num_threads(1)


def _stats(frames, mpjpe, p=None, vel=10.0, acc=100.0):
    return ActionStats(frames, mpjpe, p if p is not None else mpjpe / 2, mpjpe, vel, acc)


def _table(walk, eat, walk_frames=30, eat_frames=10):
    per = {"eating": _stats(eat_frames, eat), "walking": _stats(walk_frames, walk)}
    n = walk_frames + eat_frames
    return ActionTable(
        per_action=per,
        action_weighted=_stats(n, (walk + eat) / 2),
        frame_weighted=_stats(n, (walk * walk_frames + eat * eat_frames) / n),
    )


def _results():
    return results_from_tables(
        {"base": _table(100.0, 50.0), "refined": _table(90.0, 40.0)}, meta={"setting": "test"}
    )


def test_pct_change():
    assert pct_change(90.0, 100.0) == pytest.approx(-10.0)
    assert pct_change(110.0, 100.0) == pytest.approx(10.0)
    assert pct_change(1.0, 0.0) is None
    assert pct_change(math.nan, 1.0) is None
    assert pct_change(None, 1.0) is None


def test_results_layout_and_changes():
    r = _results()
    base, ref = r["methods"]["base"], r["methods"]["refined"]
    assert base["mpjpe_mm"] == pytest.approx(75.0)  # action-weighted (100 + 50) / 2
    assert base["frame_weighted"]["mpjpe_mm"] == pytest.approx(87.5)  # (3000 + 500) / 40
    assert ref["change_vs_base_pct"]["mpjpe_mm"] == pytest.approx((65 - 75) / 75 * 100)
    assert base["change_vs_base_pct"]["mpjpe_mm"] == pytest.approx(0.0)
    assert set(base["per_action"]) == {"eating", "walking"}
    for k in (
        "mpjpe_mm",
        "p_mpjpe_mm",
        "mpjve_mm_s",
        "accel_mm_s2",
        "frame_weighted",
        "per_action",
    ):
        assert k in ref
    assert r["meta"]["base"] == "base" and r["meta"]["setting"] == "test"
    assert "action-weighted" in r["meta"]["averages"]


def test_table_rows_hand_values():
    rows = table_rows(_results(), "mpjpe_mm")
    header = rows[0]
    assert header == ["Method", "Eat", "Walk", "Avg (action-w.)", "Avg (frame-w.)"]
    assert rows[1] == ["base", "50.0", "100.0", "75.0", "87.5"]
    assert rows[2] == ["refined", "40.0", "90.0", "65.0", "77.5"]
    # eating −20 %, walking −10 %, action avg −13.3 %, frame avg (77.5 − 87.5) / 87.5 = −11.4 %
    assert rows[3] == ["  Δ vs base", "-20.0%", "-10.0%", "-13.3%", "-11.4%"]
    p_rows = table_rows(_results(), "p_mpjpe_mm")
    assert p_rows[1][1] == "25.0"
    with pytest.raises(D3PRError, match="unknown metric"):
        table_rows(_results(), "pck")


def test_summary_and_text_and_markdown():
    r = _results()
    s = summary_rows(r)
    assert s[2][0] == "refined" and "-13.3%" in s[2]
    text = format_text(r)
    for needle in ("MPJPE (mm)", "P-MPJPE", "MPJVE", "Acceleration", "action-w.", "frame-w."):
        assert needle in text
    md = to_markdown(r)
    assert "| Method | Eat | Walk | Avg (action-w.) | Avg (frame-w.) |" in md
    assert "| D3PRefiner (`refined`) | 40.0 | 90.0 | 65.0 | 77.5 |" in md
    assert "Verdict: The refiner (`refined`) reaches 65.0 mm" in text


def test_write_report(tmp_path):
    r = _results()
    r["methods"]["base"]["per_action"]["eating"]["accel_mm_s2"] = float("nan")
    paths = write_report(r, tmp_path / "out")
    data = json.loads(paths["results"].read_text())
    assert data["methods"]["refined"]["mpjpe_mm"] == pytest.approx(65.0)
    assert data["methods"]["base"]["per_action"]["eating"]["accel_mm_s2"] is None
    assert paths["report"].read_text().startswith("# D3PRefiner evaluation")
    with pytest.raises(D3PRError, match="no methods"):
        write_report({"methods": {}}, tmp_path / "x")


# ------------------------------------------------------------------ the written report


def _bench_results(refined=(90.0, 40.0), **meta):
    """base 75 mm, closed form 70 mm, savgol 74 mm (action-weighted), refined as given."""
    tables = {
        "base": _table(100.0, 50.0),
        "refined": _table(*refined),
        "savgol": _table(99.0, 49.0),
        "cnd_closed_form": _table(95.0, 45.0),
    }
    meta = {"baselines": ["savgol", "cnd_closed_form"], "subjects": ["S11", "S9"], **meta}
    return results_from_tables(tables, meta=meta)


def test_report_reads_like_a_results_section():
    exp = ExperimentConfig(
        source="h36m-fk17",
        train_subjects=("S1", "S5", "S6", "S7", "S8"),
        test_subjects=("S9", "S11"),
        lifter_overrides={"steps": 10, "lifter": {"dim": 32}},
        refiner_overrides={"steps": 800, "recipe": "paper"},
    ).to_dict()
    r = _bench_results(experiment=exp, timings_s={"lifter": 60.0, "refiner": 30.0}, seed=3)
    md = to_markdown(r)
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads[:4] == ["## What was run", "## Results", "## Metrics and protocols",
                         "## Per-action results"]  # fmt: skip
    assert heads[-2:] == ["## Appendix A: settings", "## Appendix B: run record"]
    assert "{'" not in md and "': " not in md  # no Python dict repr anywhere
    # what was run, in words
    assert "STCFormer (`stcformer`" in md and "test subjects S9, S11" in md
    assert "recipe `paper` (the method as published)" in md and "K = 2 DDIM steps" in md
    assert "- lifter training overrides: steps = 10; lifter.dim = 32" in md
    assert "- test subjects: S9, S11" in md and "- seed: 3" in md
    # one main table: base first, filters, the closed form, the refiner last; changes vs base
    assert method_order(r) == ["base", "savgol", "cnd_closed_form", "refined"]
    rows = main_rows(r)
    assert rows[0][:3] == ["Method", "MPJPE (mm) ↓", "P-MPJPE (mm) ↓"]
    assert rows[1][:2] == ["Base lifter, STCFormer (`base`)", "75.0"]
    assert rows[-1][:2] == ["D3PRefiner (`refined`)", "**65.0** (-13.3%)"]
    base_rows = [ln for ln in md.splitlines() if ln.startswith("| Base lifter, STCFormer")]
    assert base_rows[0].startswith("| Base lifter, STCFormer (`base`) | 75.0 |")
    # definitions of every metric and of both averages
    for needle in ("**MPJPE** (Protocol #1", "**P-MPJPE** (Protocol #2", "Procrustes",
                   "**N-MPJPE**", "scale", "**MPJVE**", "velocity", "**Accel**",
                   "acceleration", "**Action-weighted mean**", "**Frame-weighted mean**"):  # fmt: skip
        assert needle in md, needle
    # filter and closed-form settings, from the baselines' own defaults
    assert "window 31 frames" in md and "polynomial order 2" in md
    assert "ridge not recorded" in md
    assert "stage times: lifter 60 s, refiner 30 s (total 1.5 min)" in md


def test_verdict_margins_over_base_and_closed_form():
    v = verdict(_bench_results())  # refined 65, closed form 70, base 75
    assert "65.0 mm MPJPE (action-weighted)" in v
    assert "10.0 mm (-13.3%) better than the base (75.0 mm)" in v
    assert "5.0 mm (-7.1%) better than the closed-form CND (70.0 mm)" in v
    assert "worse" not in v
    assert "Savitzky–Golay filter (`savgol`), is 1.0 mm (-1.3%) better than the base" in v
    assert f"**Verdict.** {v}" in to_markdown(_bench_results())


def test_verdict_says_plainly_when_the_refiner_loses():
    between = verdict(_bench_results(refined=(97.0, 47.0)))  # 72: beats base, not closed form
    assert "3.0 mm (-4.0%) better than the base" in between
    assert "2.0 mm (+2.9%) worse than the closed-form CND" in between
    assert "The refiner is worse than the closed-form CND" in between
    assert "worse than the base:" not in between
    worst = verdict(_bench_results(refined=(110.0, 60.0)))  # 85
    assert "10.0 mm (+13.3%) worse than the base" in worst
    assert (
        "The refiner (`refined`) makes the MPJPE and the P-MPJPE worse than the base: "
        "MPJPE 75.0 → 85.0 mm (+13.3%); P-MPJPE 37.5 → 42.5 mm (+13.3%)." in worst
    )
    assert "The refiner is worse than the closed-form CND" in worst


def _one_action(mpjpe, vel, acc):
    s = ActionStats(100, mpjpe, mpjpe / 2, mpjpe, vel, acc)
    return ActionTable(per_action={"walking": s}, action_weighted=s, frame_weighted=s)


def test_verdict_names_every_metric_made_worse():
    # the case: better MPJPE, acceleration error doubled
    r = results_from_tables(
        {"base": _one_action(40.0, 300.0, 2081.0), "refined": _one_action(38.0, 290.0, 4290.0)}
    )
    v = verdict(r)
    assert "2.0 mm (-5.0%) better than the base" in v
    assert (
        "The refiner (`refined`) makes the acceleration error worse than the base: "
        "2,081 → 4,290 mm/s² (+106.2%)." in v
    )
    for other in ("the MPJPE", "the P-MPJPE", "MPJVE"):
        assert other not in v
    assert f"Verdict: {v}" in format_text(r) and f"**Verdict.** {v}" in to_markdown(r)
    # every metric worse, and the as-applied row worse on velocity and acceleration only
    r = results_from_tables(
        {
            "base": _one_action(40.0, 300.0, 2081.0),
            "refined": _one_action(50.0, 330.0, 2200.0),
            "refined_auto": _one_action(39.0, 310.0, 2100.0),
        }
    )
    v = verdict(r)
    assert (
        "At full strength, the refiner (`refined`) makes the MPJPE, the P-MPJPE, the velocity "
        "error (MPJVE) and the acceleration error worse than the base: MPJPE 40.0 → 50.0 mm "
        "(+25.0%); P-MPJPE 20.0 → 25.0 mm (+25.0%); MPJVE 300.0 → 330.0 mm/s (+10.0%); "
        "acceleration error 2,081 → 2,200 mm/s² (+5.7%)." in v
    )
    assert (
        "As `d3pr refine` applies it, the refiner (`refined_auto`) makes the velocity error "
        "(MPJVE) and the acceleration error worse than the base: MPJVE 300.0 → 310.0 mm/s "
        "(+3.3%); acceleration error 2,081 → 2,100 mm/s² (+0.9%)." in v
    )
    # better or equal (to the rounding) on every metric: no such sentence; missing values skipped
    r = results_from_tables(
        {"base": _one_action(40.0, 300.0, 2081.0), "refined": _one_action(40.0, 300.0, 2081.01)}
    )
    r["methods"]["refined"]["mpjve_mm_s"] = None
    assert "worse" not in verdict(r)


def test_verdict_without_closed_form_or_refiner():
    v = verdict(_results())
    assert "closed-form CND was not evaluated" in v and "unknown" in v
    only = results_from_tables({"base": _table(100.0, 50.0), "cnd_closed_form": _table(90, 40)})
    assert "no refined method" in verdict(only)
    assert "10.0 mm (-13.3%) better than the base" in verdict(only)


def test_report_of_evaluate_files_describes_the_inputs(tmp_path):
    b, r = _files(tmp_path)
    res = evaluate_files([b, r], names=["lifter", "d3p"], baselines=("gaussian",), progress=False)
    md = to_markdown(res)
    assert "**Evaluated.** `lifter`" in md and "`d3p`" in md and "base.npz" in md
    assert "Test subjects S9, S11 (2 sequences, 70 frames, 50 fps)" in md
    assert "The refiner (`d3p`) reaches" in md
    assert "σ = 3 frames, 0.06 s at 50 fps" in md
    assert "{'" not in md


# ------------------------------------------------------------------ files and CLI


def _files(tmp_path, n_frames=(40, 30), refined_scale=0.5, order=None):
    rng = np.random.default_rng(0)
    base, refined = [], []
    for i, (act, F) in enumerate(zip(("walking_1", "Eating 2"), n_frames)):
        t = np.arange(F)[:, None, None] / 50.0
        gt = rng.normal(0, 0.25, (1, 17, 3)) + 0.05 * np.sin(
            2 * np.pi * t + rng.uniform(0, 6, (1, 17, 3))
        )
        gt = (gt - gt[:, :1]).astype(np.float32)
        err = rng.normal(0, 0.02, (F, 17, 3)).astype(np.float32)
        err[:, 0] = 0
        p2 = rng.normal(size=(F, 17, 2)).astype(np.float32)
        base.append(PredictionSequence(f"S{9 + 2 * i}", act, "c0", 50.0, p2, gt + err, gt))
        refined.append(
            PredictionSequence(f"S{9 + 2 * i}", act, "c0", 50.0, p2, gt + refined_scale * err, gt)
        )
    if order is not None:
        refined = [refined[k] for k in order]
    Predictions(base, "lifter").save(tmp_path / "base.npz")
    Predictions(refined, "d3p").save(tmp_path / "refined.npz")
    return tmp_path / "base.npz", tmp_path / "refined.npz"


def test_evaluate_files_matches_by_key(tmp_path):
    b, r = _files(tmp_path, order=[1, 0])  # refined stored in another order
    res = evaluate_files([b, r], baselines=("savgol",), progress=False)
    assert list(res["methods"]) == ["base", "refined", "savgol"]
    # the refined error is exactly half the base error on every joint
    assert res["methods"]["refined"]["change_vs_base_pct"]["mpjpe_mm"] == pytest.approx(
        -50.0, abs=1e-3
    )
    assert res["meta"]["files"]["base"] == str(b)


def test_evaluate_files_mismatch(tmp_path):
    b, _ = _files(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, r = _files(other, n_frames=(40, 31))
    with pytest.raises(D3PRError, match="frames"):
        evaluate_files([b, r], baselines=(), progress=False)
    p = Predictions.load(b)
    no_gt = Predictions(
        [PredictionSequence(s.subject, s.action, s.camera, s.fps, s.pose2d, s.pred3d) for s in p]
    )
    no_gt.save(tmp_path / "nogt.npz")
    with pytest.raises(D3PRError, match="gt3d"):
        evaluate_files([tmp_path / "nogt.npz"], progress=False)
    with pytest.raises(D3PRError, match="names"):
        evaluate_files([b], names=["a", "b"], progress=False)
    with pytest.raises(D3PRError, match="clashes"):
        evaluate_methods({"savgol": p}, baselines=("savgol",), progress=False)


def test_cli_evaluate_end_to_end(tmp_path):
    b, r = _files(tmp_path)
    out = tmp_path / "report"
    res = CliRunner().invoke(
        app,
        ["evaluate", str(b), str(r), "--names", "lifter,d3p", "--baselines", "savgol,gaussian",
         "--out", str(out), "--no-gif"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "MPJPE (mm)" in res.output and "d3p" in res.output and "-50.0%" in res.output
    data = json.loads((out / "results.json").read_text())
    assert list(data["methods"]) == ["lifter", "d3p", "savgol", "gaussian"]
    assert data["methods"]["d3p"]["mpjpe_mm"] < data["methods"]["lifter"]["mpjpe_mm"]
    assert set(data["methods"]["lifter"]["per_action"]) == {"walking", "eating"}
    md = (out / "report.md").read_text()
    assert "figures/mpjpe_histogram.png" in md
    for f in ("mpjpe_histogram.png", "skeletons.png", "joint_errors.png"):
        assert (out / "figures" / f).stat().st_size > 1000
    assert not (out / "figures" / "sequence.gif").exists()


def test_cli_bad_input_exit_code(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tmp_path / "missing.npz")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "missing.npz" in err and "Traceback" not in err
    b, _ = _files(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(b), "--baselines", "kalman"])
    assert exc.value.code == 2
    assert "unknown baseline" in capsys.readouterr().err

"""`d3pr summary` and `d3pr curves`: finished runs' files in, Markdown (and a figure) out."""

import json

from conftest import run_cli


def _method(mpjpe, p_mpjpe, per_action):
    return {
        "mpjpe_mm": mpjpe, "p_mpjpe_mm": p_mpjpe, "mpjve_mm_s": 250.4, "accel_mm_s2": 3000.6,
        "frame_weighted": {"mpjpe_mm": mpjpe + 1}, "per_action": per_action,
    }  # fmt: skip


def _results(d, experiment=None):
    """A run's results.json: base 100 mm, refined 90 mm (−10 %), P-MPJPE 50 → 55 (+10 %)."""
    d.mkdir(parents=True, exist_ok=True)
    meta = {"base": "base"}
    if experiment:
        meta.update(experiment=experiment, in_sample_train_mpjpe_mm=40.0,
                    cross_fitted_train_mpjpe_mm=80.0, timings_s={"lifter": 10})  # fmt: skip
    methods = {
        "base": _method(100.0, 50.0, {"walking": {"mpjpe_mm": 110.0, "p_mpjpe_mm": 51.0},
                                      "eating": {"mpjpe_mm": 90.0, "p_mpjpe_mm": 49.0}}),
        "refined": _method(90.0, 55.0, {"walking": {"mpjpe_mm": 95.0, "p_mpjpe_mm": 56.0}}),
    }  # fmt: skip
    (d / "results.json").write_text(json.dumps({"methods": methods, "meta": meta}))
    return d


def test_summary_of_a_bench_run_and_an_evaluate_file(tmp_path, capsys):
    exp = {"model": "tcn", "lifter_preset": "cpu", "setting": "gt"}
    bench = _results(tmp_path / "tcn-gt", exp)
    evaluated = _results(tmp_path / "eval") / "results.json"
    code, out = run_cli(["summary", bench, evaluated], capsys)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "### tcn-gt" and "### eval" in lines
    assert "lifter tcn (cpu), gt 2D; train MPJPE in-sample 40.0 mm, cross-fitted 80.0 mm" in out
    assert "| base | 100.0 | +0.0% | 50.0 | +0.0% | 250 | 3001 | 101.0 |" in lines
    assert lines.count("| refined | 90.0 | -10.0% | 55.0 | +10.0% | 250 | 3001 | 91.0 |") == 2
    assert "per action" not in out
    code, out = run_cli(["summary", evaluated, "--per-action"], capsys)
    assert code == 0, out
    lines = out.splitlines()
    assert "lifter" not in out  # no experiment: nothing to say about what was run
    i = lines.index("MPJPE (mm) per action:")
    assert lines[i + 2] == "| method | Eat | Walk | Avg |"  # the paper's order and labels
    assert lines[i + 4] == "| base | 90.0 | 110.0 | 100.0 |"
    assert lines[i + 5] == "| refined | — | 95.0 | 90.0 |"
    assert "| refined | — | 56.0 | 55.0 |" in lines  # P-MPJPE per action


def test_summary_errors_are_one_line(tmp_path, capsys):
    ok = _results(tmp_path / "ok")
    (tmp_path / "unfinished").mkdir()
    for bad, message in (
        (tmp_path / "missing", "missing: not found"),
        (tmp_path / "unfinished", "unfinished/results.json: not found"),
        (tmp_path / "nobase.json", "no methods with a base"),
        (tmp_path / "broken.json", "not valid JSON"),
    ):
        (tmp_path / "nobase.json").write_text(json.dumps({"methods": {"x": {}}, "meta": {}}))
        (tmp_path / "broken.json").write_text("{")
        code, out = run_cli(["summary", ok, bad], capsys)
        assert code == 2 and out.strip().count("\n") == 0, out
        assert out.startswith("error: ") and message in out, out


def _history(d, steps, minutes, vals, precision="bf16"):
    """A lifter run's history.json as the engine writes it: a record every 10 steps, evenly
    spaced in time, with validation MPJPEs ``vals`` on the last records."""
    d.mkdir(parents=True)
    n = max(len(vals), 2)
    records = [{"step": 10 * (i + 1), "loss": 0.1, "frames_per_s": 1000.0 * (i + 1),
                "seconds": 60 * minutes * (i + 1) / n} for i in range(n)]  # fmt: skip
    for r, v in zip(records[n - len(vals) :], vals):
        r["val_mpjpe_mm"] = v
    history = {"steps": steps, "stopped": "steps", "precision": precision,
               "train_seconds": 60 * minutes, "records": records}  # fmt: skip
    (d / "history.json").write_text(json.dumps(history))


def _curve_runs(tmp_path):
    bench = tmp_path / "tcn-gt"
    _history(bench / "lifter" / "fold0", 500, 4, [120.0, 100.0])
    _history(bench / "lifter" / "fold1", 500, 4, [130.0, 110.0])
    _history(bench / "lifter" / "full", 500, 6, [], precision="fp32")
    _results(bench)  # its base: 100 mm on the test subjects
    single = tmp_path / "stc-long"
    _history(single, 3000, 30, [150.0, 90.0, 70.0])
    return bench, single


def test_curves_table_and_figure(tmp_path, capsys):
    bench, single = _curve_runs(tmp_path)
    png = tmp_path / "figs" / "curves.png"
    code, out = run_cli(["curves", bench, single, "--test", "stc-long=72.5", "--plot", png,
                         "--target", "60"], capsys)  # fmt: skip
    assert code == 0, out
    lines = out.splitlines()
    assert lines[2:6] == [
        "| tcn-gt/fold0 | 500 | 4.0 | bf16 | 1500 | 2 min: 120.0; 4 min: 100.0 | — |",
        "| tcn-gt/fold1 | 500 | 4.0 | bf16 | 1500 | 2 min: 130.0; 4 min: 110.0 | — |",
        "| tcn-gt/full | 500 | 6.0 | fp32 | 1500 | — | 100.0 |",
        "| stc-long | 3000 | 30.0 | bf16 | 2000 | 10 min: 150.0; 20 min: 90.0; 30 min: 70.0 "
        "| 72.5 |",
    ]
    assert lines[-1] == f"wrote {png}"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    # a bench run's name sets its full lifter's test MPJPE; no --plot: no figure
    code, out = run_cli(["curves", bench, "--test", "tcn-gt=64.3"], capsys)
    assert code == 0 and "| tcn-gt/full | 500 | 6.0 | fp32 | 1500 | — | 64.3 |" in out
    assert "wrote" not in out


def test_curves_errors_are_one_line(tmp_path, capsys):
    bench, single = _curve_runs(tmp_path)
    (tmp_path / "empty").mkdir()
    for argv, message in (
        ([single, "--test", "nobody=50"], "--test names no lifter given: nobody"),
        ([single, "--test", "stc-long"], "--test must be NAME=MM"),
        ([single, "--test", "stc-long=fast"], "--test must be NAME=MM"),
        ([tmp_path / "empty"], "no lifter training history"),
    ):
        code, out = run_cli(["curves", *argv], capsys)
        assert code == 2 and out.startswith("error: ") and message in out, out
        assert out.strip().count("\n") == 0, out
    nothing = tmp_path / "nothing"
    _history(nothing, 10, 1, [])
    code, out = run_cli(["curves", nothing, "--plot", tmp_path / "x.png"], capsys)
    assert code == 2 and "error: nothing to plot" in out and not (tmp_path / "x.png").exists()

"""`d3pr noise fit` end to end on a tiny synthetic predictions file."""

from __future__ import annotations

import json

import pytest
import torch

from d3prefiner.cli import main
from d3prefiner.errors import D3PRError
from d3prefiner.noise import PoseNoiseModel, make_synthetic_predictions


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_noise_fit_cli(tmp_path, capsys):
    preds = make_synthetic_predictions(n_sequences=5, n_frames=150, seed=1)
    preds.save(tmp_path / "p.npz")
    out = tmp_path / "noise.safetensors"
    code, stdout, _ = _run(
        [
            "noise",
            "fit",
            str(tmp_path / "p.npz"),
            "-o",
            str(out),
            "--holdout-subject",
            "S5",
            "--temporal",
            "window",
            "--figures",
            str(tmp_path / "fig"),
            "--report-json",
            str(tmp_path / "r.json"),
        ],
        capsys,
    )
    assert code in (0, None)
    assert "held-out log-likelihood" in stdout and "sample_ar1" in stdout
    for name in ("error_histograms.png", "residual_histograms.png", "autocorrelation.png"):
        assert (tmp_path / "fig" / name).stat().st_size > 1000
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["heldout_frames"] == sum(s.num_frames for s in preds if s.subject == "S5")
    assert set(rep["loglik_per_frame"]) == {"white", "ar1", "window"}
    model = PoseNoiseModel.load(out)
    assert model.config.temporal == "window" and model.n_frames_ == preds.num_frames
    y = torch.from_numpy(preds.sequences[0].pose2d)[None]
    x = torch.from_numpy(preds.sequences[0].pred3d)[None]
    assert model.sample_error(y, x, torch.Generator().manual_seed(0)).shape == (1, 150, 17, 3)


def test_noise_fit_cli_bad_input(tmp_path, capsys):
    code, _, err = _run(["noise", "fit", str(tmp_path / "missing.npz"), "-o", "x"], capsys)
    assert code == 2 and "missing.npz" in err
    preds = make_synthetic_predictions(n_sequences=2, n_frames=150)
    preds.save(tmp_path / "p.npz")
    code, _, err = _run(
        ["noise", "fit", str(tmp_path / "p.npz"), "-o", "x", "--granularity", "frame"], capsys
    )
    assert code == 2 and "granularity" in err
    code, _, err = _run(
        ["noise", "fit", str(tmp_path / "p.npz"), "-o", "x", "--holdout-subject", "S99"], capsys
    )
    assert code == 2 and "S99" in err


def test_noise_fit_cli_subjects(tmp_path, capsys):
    preds = make_synthetic_predictions(n_sequences=5, n_frames=150, seed=1)
    preds.save(tmp_path / "p.npz")
    out = tmp_path / "noise.safetensors"
    keep = sorted({s.subject for s in preds})[:-1]
    code, _, _ = _run(
        ["noise", "fit", str(tmp_path / "p.npz"), "-o", str(out), "--subjects", ",".join(keep)],
        capsys,
    )
    assert code in (0, None)
    assert PoseNoiseModel.load(out).n_frames_ == sum(
        s.num_frames for s in preds if s.subject in keep
    )
    code, _, err = _run(
        ["noise", "fit", str(tmp_path / "p.npz"), "-o", str(out), "--subjects", "S1,S99"], capsys
    )
    assert code == 2 and "already exists" in err  # checked before any work
    argv = ["noise", "fit", str(tmp_path / "p.npz"), "-o", str(out), "--force"]
    code, _, err = _run([*argv, "--subjects", "S1,S99"], capsys)
    assert code == 2 and "S99" in err


def test_noise_fit_cli_ridge_auto(tmp_path, capsys):
    from d3prefiner.noise.summary import RIDGE_GRID, choose_ridge, closed_form_mpjpe, holdout_split

    preds = make_synthetic_predictions(n_sequences=5, n_frames=150, seed=1)
    preds.save(tmp_path / "p.npz")
    out = tmp_path / "noise.safetensors"
    argv = ["noise", "fit", str(tmp_path / "p.npz"), "-o", str(out), "--holdout-subject", "S6"]
    code, stdout, _ = _run([*argv, "--ridge", "auto", "--no-refit"], capsys)
    assert code in (0, None)
    chosen = float(stdout.split("ridge: chose ")[1].split()[0])
    train, held = holdout_split(preds, "S6")
    best, scores = choose_ridge(train, held, grid=RIDGE_GRID)
    assert chosen == best == min(scores, key=scores.get) and set(scores) == set(RIDGE_GRID)
    model = PoseNoiseModel.load(out)
    assert model.config.ridge == best
    assert closed_form_mpjpe(model, held) == scores[best]
    code, _, err = _run([*argv, "--ridge", "lots", "--force"], capsys)
    assert code == 2 and "--ridge" in err


def test_choose_ridge_by_folds():
    from dataclasses import replace

    from d3prefiner.noise.summary import RIDGE_GRID, choose_ridge, choose_ridge_by_folds
    from d3prefiner.predictions import Predictions

    preds = make_synthetic_predictions(n_sequences=4, n_frames=120, seed=2)
    folded = Predictions([replace(s, fold=i % 2) for i, s in enumerate(preds)], preds.estimator)
    best, scores = choose_ridge_by_folds(folded, grid=(1e-6, 1.0))
    by_hand = {}
    for r in (1e-6, 1.0):
        total = 0.0
        for f in (0, 1):
            held = folded.filter(fold=f)
            rest = Predictions([s for s in folded if s.fold != f], folded.estimator)
            total += choose_ridge(rest, held, grid=(r,))[1][r] * held.num_frames
        by_hand[r] = total / folded.num_frames
    assert scores == pytest.approx(by_hand) and best == min(by_hand, key=by_hand.get)
    with pytest.raises(Exception, match="folds"):
        choose_ridge_by_folds(preds, grid=RIDGE_GRID)


def test_choose_ridge_resolves_without_refitting():
    """One pass of statistics, re-solved per ridge, scores exactly as a fresh fit per ridge."""
    from d3prefiner.noise.summary import choose_ridge, closed_form_mpjpe, holdout_split

    preds = make_synthetic_predictions(n_sequences=5, n_frames=150, seed=3)
    train, held = holdout_split(preds, "S6")
    grid = (1e-6, 1e-2, 1.0)
    _, scores = choose_ridge(train, held, grid=grid)
    for r in grid:
        fresh = PoseNoiseModel(ridge=r).fit(train)
        assert scores[r] == pytest.approx(closed_form_mpjpe(fresh, held), rel=1e-9, abs=1e-12)
    assert len(set(scores.values())) == len(grid)  # the ridge really changes the estimate
    with pytest.raises(D3PRError, match="empty"):
        choose_ridge(train, held, grid=())

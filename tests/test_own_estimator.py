"""The user's own estimator, end to end, as docs/predictions.md describes it: a stand-in estimator
(a linear lifter fitted by least squares, outside this package) is cross-fitted on the user's own
folds, its outputs are written with `fold=k`, and the CLI fits the CND, trains, refines and
evaluates them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import needs_pybullet
from d3prefiner.cli import main
from d3prefiner.importers import from_arrays
from d3prefiner.predictions import Predictions


class LinearLifter:
    """Root-relative 3D as a linear function of the 2D of one frame (least squares, ridge)."""

    def fit(self, x2d: np.ndarray, x3d: np.ndarray) -> LinearLifter:
        X = np.c_[x2d.reshape(len(x2d), -1), np.ones(len(x2d))]
        Y = (x3d - x3d[:, :1]).reshape(len(x3d), -1)
        self.w = np.linalg.solve(X.T @ X + 1e-3 * np.eye(X.shape[1]), X.T @ Y)
        return self

    def predict(self, x2d: np.ndarray) -> np.ndarray:
        X = np.c_[x2d.reshape(len(x2d), -1), np.ones(len(x2d))]
        out = (X @ self.w).reshape(len(x2d), 17, 3)
        out[:, 0] = 0.0
        return out


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    assert exc.value.code in (0, None), out.out + out.err
    return out.out + out.err


@needs_pybullet
def test_a_users_estimator_cross_fitted_refined_and_evaluated(tmp_path, capsys):
    from d3prefiner.lifters.config import DataSpec
    from d3prefiner.lifters.runs import source_clips

    clips = source_clips(DataSpec(source="deepmimic", setting="detected", fps=None, n_cameras=4))
    by_camera: dict[str, list] = {}
    for c in clips:
        by_camera.setdefault(c.camera, []).append(c)
    cams = sorted(by_camera)
    train_cams, test_cams = cams[:3], cams[3:]
    folds = [train_cams[k::3] for k in range(3)]  # the user's own 3 folds (camera views here)

    def seq(c, pred, fold, split):
        return from_arrays(c.pose2d, pred, c.pose3d, subject=c.camera, action=c.action,
                           camera=c.camera, fps=c.fps, fold=fold, split=split)  # fmt: skip

    train_seqs = []
    for k, held in enumerate(folds):
        fit_on = [c for cam in train_cams if cam not in held for c in by_camera[cam]]
        est = LinearLifter().fit(np.concatenate([c.pose2d for c in fit_on]),
                                 np.concatenate([c.pose3d for c in fit_on]))  # fmt: skip
        train_seqs += [seq(c, est.predict(c.pose2d), k, "train")
                       for cam in held for c in by_camera[cam]]  # fmt: skip
    full = [c for cam in train_cams for c in by_camera[cam]]
    est = LinearLifter().fit(np.concatenate([c.pose2d for c in full]),
                             np.concatenate([c.pose3d for c in full]))  # fmt: skip
    test_seqs = [seq(c, est.predict(c.pose2d), -1, "test") for cam in test_cams
                 for c in by_camera[cam]]  # fmt: skip
    Predictions(train_seqs, "linear").save(tmp_path / "train_crossfit.npz")
    Predictions(test_seqs, "linear").save(tmp_path / "test.npz")

    out = _run(["noise", "fit", tmp_path / "train_crossfit.npz", "-o", tmp_path / "noise.safetensors",
                "--threads", "1"], capsys)  # fmt: skip
    assert "across 3 cross-fitting folds" in out  # the user's folds are used for the ridge
    val = folds[-1][0]
    _run(["train", tmp_path / "train_crossfit.npz", "--noise", tmp_path / "noise.safetensors",
          "--out", tmp_path / "ckpt", "--preset", "tiny", "--steps", "30", "--val-subjects", val,
          "--no-progress", "--threads", "1"], capsys)  # fmt: skip
    out = _run(["refine", tmp_path / "ckpt", tmp_path / "test.npz", "-o", tmp_path / "r.npz",
                "--no-progress", "--threads", "1"], capsys)  # fmt: skip
    assert "MPJPE" in out and "warning" not in out  # the same estimator: the guard stays quiet
    _run(["evaluate", tmp_path / "test.npz", tmp_path / "r.npz", "--noise",
          tmp_path / "noise.safetensors", "--out", tmp_path / "report", "--no-figures",
          "--threads", "1"], capsys)  # fmt: skip
    res = json.loads((tmp_path / "report" / "results.json").read_text())
    methods = res["methods"]
    assert {"base", "refined", "cnd_closed_form"} <= set(methods)
    assert all(np.isfinite(m["mpjpe_mm"]) for m in methods.values())
    assert (tmp_path / "report" / "report.md").read_text().count("Verdict") >= 1

"""Nothing reads ground truth at inference: refining a predictions file whose ``gt3d`` is removed,
or scrambled (random values), gives byte-identical poses to refining the file as it is — for the
refiner (`Refiner.apply`, `d3pr refine`) and for every baseline of `apply_baseline` (the filters,
the closed-form CND and the geometric baselines)."""

from dataclasses import replace

import numpy as np
import pytest

from conftest import run_cli, tiny_refiner_files
from d3prefiner.baselines import CND_BASELINE, GEOMETRIC, apply_baseline, baseline_names
from d3prefiner.noise import fit_noise_model, make_synthetic_predictions
from d3prefiner.predictions import Predictions
from d3prefiner.refiner import FULL, ApplyOptions, Refiner


def _variants(preds: Predictions) -> dict[str, Predictions]:
    """The file as it is, without gt3d, and with gt3d replaced by random values."""
    rng = np.random.default_rng(123)
    scrambled = [
        replace(s, gt3d=rng.normal(0.0, 0.5, s.gt3d.shape).astype(np.float32)) for s in preds
    ]
    return {
        "original": preds,
        "no_gt": Predictions([replace(s, gt3d=None) for s in preds], preds.estimator),
        "scrambled": Predictions(scrambled, preds.estimator),
    }


def _bytes(preds: Predictions) -> list[bytes]:
    return [np.ascontiguousarray(s.pred3d).tobytes() for s in preds]


def _assert_same(outputs: dict[str, Predictions]) -> None:
    want = _bytes(outputs["original"])
    for name, out in outputs.items():
        assert _bytes(out) == want, f"{name}: output differs from the original's"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tiny_refiner_files(tmp_path_factory.mktemp("nogt"))


@pytest.fixture(scope="module")
def preds(files) -> Predictions:
    return Predictions.load(files / "p.npz")


@pytest.fixture(scope="module")
def noise_model(preds):
    return fit_noise_model(preds)  # fitting reads gt3d; applying must not


def test_the_variants_differ(preds):
    v = _variants(preds)
    assert v["original"].has_gt and not v["no_gt"].has_gt
    assert not np.array_equal(v["scrambled"].concat("gt3d"), preds.concat("gt3d"))


@pytest.mark.parametrize(
    "options",
    [None, FULL, ApplyOptions(strength=0.5, correct="in-plane", guard="shrink", smooth="auto")],
    ids=["defaults", "full", "half-in-plane-shrink-smooth"],
)
def test_refiner_apply_reads_no_gt(files, preds, options):
    refiner = Refiner.load(files / "ckpt")
    outs = {k: refiner.apply(p, options).predictions for k, p in _variants(preds).items()}
    _assert_same(outs)


def test_d3pr_refine_reads_no_gt(files, preds, tmp_path, capsys):
    outs = {}
    for k, p in _variants(preds).items():
        p.save(tmp_path / f"{k}.npz")
        code, out = run_cli(
            ["refine", files / "ckpt", tmp_path / f"{k}.npz", "-o", tmp_path / f"r_{k}.npz",
             "--no-progress", "--threads", "1"],
            capsys,
        )  # fmt: skip
        assert code in (0, None), out
        outs[k] = Predictions.load(tmp_path / f"r_{k}.npz")
    _assert_same(outs)


@pytest.mark.parametrize("name", baseline_names())
@pytest.mark.parametrize("intrinsics", [False, True], ids=["no-camera", "camera"])
def test_every_baseline_reads_no_gt(name, intrinsics, preds, noise_model):
    if intrinsics:
        preds = make_synthetic_predictions(n_sequences=3, n_frames=60, seed=0, intrinsics=True)
    elif name in GEOMETRIC:
        assert all(s.intrinsics is None for s in preds)  # the default focal length's path
    model = noise_model if name == CND_BASELINE else None
    outs = {k: apply_baseline(name, p, model, progress=False) for k, p in _variants(preds).items()}
    _assert_same(outs)
    assert not np.array_equal(outs["original"].concat("pred3d"), preds.concat("pred3d"))

"""The bench's protocols (leak_free, pooled, insample): which predictions and subjects the CND,
the refiner and its strength choice see — never a test subject, under any protocol."""

import itertools

import pytest

from d3prefiner.errors import D3PRError
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.study.experiment import Experiment, ExperimentConfig
from d3prefiner.study.split import PROTOCOLS, Split

TRAIN = ("S1", "S5", "S6", "S7", "S8")
TEST = ("S9", "S11")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_split_lets_a_stage_see_a_test_subject(protocol):
    for folds, val in itertools.product(range(2, 6), TRAIN):
        split = Split.make(protocol, TRAIN, TEST, folds, val)
        seen = set(split.cnd) | set(split.refiner) | set(split.val)
        assert not seen & set(TEST) and seen <= set(TRAIN)
        assert split.val == (val,) and val not in split.refiner
        assert split.predictions == (
            "train_insample" if protocol == "insample" else "train_crossfit"
        )
    with pytest.raises(D3PRError, match="seen in training"):
        Split(protocol, ("S1", "S9"), ("S1",), ("S5",), TEST)
    with pytest.raises(D3PRError, match="not a training subject"):
        Split.make(protocol, TRAIN, TEST, 2, "S9")


def _predictions(estimator: str, subjects: tuple[str, ...], scale: float):
    preds = make_synthetic_predictions(n_sequences=2 * len(subjects), n_frames=48, seed=len(estimator),
                                       error_scale=scale, subjects=subjects)  # fmt: skip
    preds.estimator = estimator
    for i, seq in enumerate(preds):
        seq.fold = i % 2 if estimator == "crossfit" else -1  # the fold lifter that predicted it
    return preds


def _spy(monkeypatch, seen: list):
    """Record the estimator and subjects of every predictions object the CND fit, the ridge
    choice, the refiner's training (and its strength choice on ``val_preds``) and the
    calibration are given."""
    import d3prefiner.noise as noise
    import d3prefiner.noise.summary as summary
    import d3prefiner.refiner as refiner
    import d3prefiner.refiner.train as train

    def record(stage, preds):
        if preds is not None and len(preds):
            seen.append((stage, preds.estimator, {s.subject for s in preds}))

    def wrap(owner, name, stage, positions):
        original = getattr(owner, name)

        def spy(*args, **kwargs):
            for i in positions:
                record(stage, args[i] if i < len(args) else None)
            record(stage, kwargs.get("val_preds"))
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)

    wrap(noise.PoseNoiseModel, "fit", "cnd", (1,))
    wrap(summary, "select_ridge", "ridge", (0, 1))
    wrap(train, "train_refiner", "refiner", (1,))
    wrap(refiner, "calibrate_refiner", "strength", (1,))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_protocol_fits_or_chooses_on_a_test_subject(protocol, tmp_path, monkeypatch):
    run = tmp_path / protocol
    for name, preds in {
        "train_crossfit": _predictions("crossfit", TRAIN, 0.04),
        "train_insample": _predictions("insample", TRAIN, 0.01),
        "test": _predictions("test", TEST, 0.04),
    }.items():
        preds.save(run / "predictions" / f"{name}.npz")
    config = ExperimentConfig(
        source="h36m-fk17", setting="gt", model="mixste", train_subjects=TRAIN,
        test_subjects=TEST, protocol=protocol, lifter_preset="tiny", refiner_preset="tiny",
        refiner_overrides=dict(steps=2, batch_size=8, window=9, train_stride=9, refine_stride=9),
        baselines=(), gif=False,
    )  # fmt: skip
    seen: list = []
    _spy(monkeypatch, seen)
    results = Experiment(config, run, progress=False).run()
    assert {"cnd", "ridge", "refiner"} <= {stage for stage, _, _ in seen}
    wanted = "insample" if protocol == "insample" else "crossfit"
    for stage, estimator, subjects in seen:
        assert not subjects & set(TEST), (stage, subjects)
        assert estimator == wanted, (stage, estimator)
    assert results["meta"]["split"]["protocol"] == protocol
    assert results["methods"]["base"]["frames"] == 2 * len(TEST) * 48  # the test is scored

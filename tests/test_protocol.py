"""The bench's protocols (leak_free, pooled, insample, holdout): which predictions and subjects the
CND, the refiner and its strength choice see — never a test subject, under any protocol."""

import itertools

import pytest

from d3prefiner.errors import D3PRError
from d3prefiner.lifters.crossfit import fold_groups
from d3prefiner.metrics import frame_mpjpe_mm
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.predictions import Predictions, action_split, base_action
from d3prefiner.study.experiment import Experiment, ExperimentConfig
from d3prefiner.study.split import PROTOCOLS, Split

TRAIN = ("S1", "S5", "S6", "S7", "S8")
TEST = ("S9", "S11")
FRAMES = 96


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_split_lets_a_stage_see_a_test_subject(protocol):
    for folds, val in itertools.product(range(2, 6), TRAIN):
        split = Split.make(protocol, TRAIN, TEST, folds, val)
        seen = set(split.cnd) | set(split.refiner) | set(split.val)
        assert not seen & set(TEST) and seen <= set(TRAIN)
        if protocol == "holdout":  # the deployed fold lifter's own subjects, split by action
            k = next(k for k, g in enumerate(fold_groups(TRAIN, folds)) if val in g)
            group = tuple(fold_groups(TRAIN, folds)[k])
            rest = tuple(s for s in group if s != val) or (val,)  # by action: one subject
            assert split.cnd == split.refiner == rest and split.val == (val,)
            assert split.fold == k and split.by_action == (len(group) == 1)
            assert (split.lifter, split.test_predictions) == (f"fold{k}", "test_holdout")
        else:
            assert split.val == (val,) and val not in split.refiner and not split.by_action
            assert (split.fold, split.lifter, split.test_predictions) == (-1, "full", "test")
        assert split.predictions == (
            "train_insample" if protocol == "insample" else "train_crossfit"
        )
    with pytest.raises(D3PRError, match="seen in training"):
        Split(protocol, ("S1", "S9"), ("S1",), ("S5",), TEST)
    with pytest.raises(D3PRError, match="not a training subject"):
        Split.make(protocol, TRAIN, TEST, 2, "S9")


def _predictions(estimator: str, subjects: tuple[str, ...], scale: float):
    preds = make_synthetic_predictions(n_sequences=2 * len(subjects), n_frames=FRAMES, seed=len(estimator),
                                       error_scale=scale, subjects=subjects)  # fmt: skip
    preds.estimator = estimator
    for i, seq in enumerate(preds):
        seq.fold = i % 2 if estimator == "crossfit" else -1  # the fold lifter that predicted it
        seq.action = f"{('walking', 'eating')[i // len(subjects) % 2]}_{1 + i % 2}"
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
        "test_holdout": _predictions("holdout", TEST, 0.05),
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
    assert results["methods"]["base"]["frames"] == 2 * len(TEST) * FRAMES  # the test is scored
    # the deployed lifter's test predictions are the ones refined and scored
    scored = "test_holdout" if protocol == "holdout" else "test"
    base = Predictions.load(run / "predictions" / f"{scored}.npz")
    assert results["methods"]["base"]["mpjpe_mm"] == pytest.approx(frame_mpjpe_mm(base), abs=0.05)
    assert results["meta"]["lifter"] == ("fold1" if protocol == "holdout" else "full")
    if protocol == "holdout":  # the full lifter's figure beside the deployed one's
        full = Predictions.load(run / "predictions" / "test.npz")
        assert results["meta"]["full_lifter_test_mpjpe_mm"] == frame_mpjpe_mm(full)


def test_holdout_splits_the_deployed_lifters_subjects_by_action():
    preds = make_synthetic_predictions(n_sequences=36, n_frames=8, seed=0, subjects=("S8",))
    names = ["directions", "eating", "walking", "walkingdog", "sitting", "phoning"]
    for i, seq in enumerate(preds):  # two trials of each action, three cameras
        seq.action, seq.camera = f"{names[i % 6]}_{1 + i // 18}", f"cam{i % 3}"
    fit, held = action_split(preds)
    assert len(fit) + len(held) == len(preds)
    fit_actions = {base_action(s.action) for s in fit}
    held_actions = {base_action(s.action) for s in held}
    assert not fit_actions & held_actions  # trials and cameras of one action stay together
    assert held_actions == {"phoning", "walkingdog"}  # every third of the sorted actions
    split = Split.make("holdout", TRAIN, TEST, folds=5, val="S8")
    cnd, refiner, val = split.parts(preds)
    assert {s.action for s in cnd} == {s.action for s in refiner} == {s.action for s in fit}
    assert {s.action for s in val} == {s.action for s in held}
    for seq in preds:
        seq.action = "walking_1"
    with pytest.raises(D3PRError, match="two actions or more"):
        action_split(preds)
    with pytest.raises(D3PRError, match="holdout protocol's alone"):
        Split("leak_free", ("S1",), ("S1",), ("S5",), TEST, fold=0)


def test_holdout_needs_a_lifter():
    with pytest.raises(D3PRError, match="holdout deploys a fold lifter"):
        ExperimentConfig(source="h36m-fk17", setting="given", train_subjects=TRAIN,
                         test_subjects=TEST, protocol="holdout",
                         predictions=("a.npz", "b.npz"))  # fmt: skip


def test_train_validates_on_held_out_actions(tmp_path, capsys):
    """`d3pr train --val-actions`: one person's predictions, trained on two thirds of the actions
    and validated (and calibrated) on the rest; with another validation option, one error line."""
    from d3prefiner.cli import main
    from d3prefiner.refiner.train import training_job

    preds = make_synthetic_predictions(n_sequences=12, n_frames=40, seed=3, subjects=("me",))
    for i, seq in enumerate(preds):
        seq.action = f"{('walk', 'run', 'jump', 'sit')[i % 4]}_{1 + i // 4}"
    preds.save(tmp_path / "mine.npz")
    job = training_job(tmp_path / "mine.npz", tmp_path / "ckpt", val_actions=True)
    assert {base_action(s.action) for s in job.val_preds} == {"sit"}  # sorted: jump run sit walk
    assert {base_action(s.action) for s in job.train_preds} == {"jump", "run", "walk"}
    argv = ["train", tmp_path / "mine.npz", "--out", tmp_path / "ckpt2", "--preset", "tiny",
            "--recipe", "paper", "--no-cnd", "--mode", "paper", "--steps", "2", "--window", "9",
            "--val-actions", "--no-progress", "--threads", "1"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    assert exc.value.code in (0, None), out.out + out.err
    assert "val MPJPE" in out.out
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in [*argv[:3], tmp_path / "ckpt3", *argv[4:], "--val-subjects", "me"]])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("error:") == 1
    assert "--val-subjects and --val-actions both give validation data" in err
    assert not (tmp_path / "ckpt3").exists()

"""Per-action tables of other motion: names grouped into actions by default or by a regex."""

import json

import numpy as np
import pytest

from d3prefiner.cli import main
from d3prefiner.errors import D3PRError
from d3prefiner.evaluation import evaluate_methods
from d3prefiner.metrics import (
    H36M_ACTIONS,
    action_group,
    aggregate_actions,
    canonical_action,
    evaluate_predictions,
    sequence_errors,
)
from d3prefiner.predictions import Predictions, PredictionSequence

# the h36m-fk17 folder's action names (frames.json) and VideoPose3D's spellings
FK17 = [
    f"{a}_{t}"
    for a in ("directions", "discussion", "eating", "greeting", "phoning", "posing", "purchases",
              "sitting", "sittingdown", "smoking", "takingphoto", "waiting", "walking",
              "walkingdog", "walkingtogether")
    for t in (1, 2)
]  # fmt: skip
VP3D = ["Directions 1", "Discussion", "Eating 2", "Greeting", "Phoning 1", "Photo", "Photo 1",
        "Posing", "Purchases 1", "Sitting 2", "SittingDown", "Smoking", "TakingPhoto", "Waiting 1",
        "WalkDog", "WalkDog 1", "Walking", "WalkTogether 1", "Walking.54138969"]  # fmt: skip


def _preds(actions, seed=0) -> Predictions:
    rng = np.random.default_rng(seed)
    seqs = []
    for i, a in enumerate(actions):
        gt = rng.normal(0, 0.3, (8, 17, 3)).astype(np.float32)
        gt -= gt[:, :1]
        pred = gt + rng.normal(0, 0.01 * (i + 1), gt.shape).astype(np.float32)
        pred -= pred[:, :1]
        y = rng.normal(0, 0.3, (8, 17, 2)).astype(np.float32)
        seqs.append(PredictionSequence("S1", a, "0", 50.0, y, pred, gt))
    return Predictions(seqs, "est")


@pytest.mark.parametrize("name", FK17 + VP3D)
def test_h36m_names_group_exactly_as_before(name):
    assert action_group(name) == canonical_action(name) in H36M_ACTIONS


def test_h36m_tables_are_unchanged():
    preds = _preds(FK17)
    old = aggregate_actions((s.action, sequence_errors(s.pred3d, s.gt3d, s.fps)) for s in preds)
    new = evaluate_predictions(preds).to_dict()
    assert new == old.to_dict() and len(new["per_action"]) == 15


def test_fk17_folder_names_group_as_before(shared_data):
    frames = json.loads((shared_data / "h36m-expmap-fk17" / "frames.json").read_text())
    names = {a for per_subject in frames.values() for a in per_subject}
    assert names and all(action_group(a) == canonical_action(a) for a in names)


def test_other_names_group_by_the_part_before_a_digit_or_underscore():
    assert action_group("box_1_chunk0_train") == "box"
    assert action_group("Walking 1") == "walking"  # an H36M action, as before
    assert action_group("Jumping 2") == "jumping"
    assert action_group("dance_a") == "dance"
    assert action_group("01_02") == canonical_action("01_02")  # nothing before the digit
    names = ["box_1_chunk0_train", "box_1_chunk1_train", "box_2_chunk0_train", "Jumping 1",
             "jumping_3_chunk2_train", "Walking 1"]  # fmt: skip
    res = evaluate_methods({"base": _preds(names)}, baselines=(), progress=False)
    assert list(res["methods"]["base"]["per_action"]) == ["walking", "box", "jumping"]
    # the library's action-weighted MPJPE groups alike: one action-weighted figure everywhere
    table = evaluate_predictions(_preds(["dance_a", "dance_b", "backflip"]))
    assert sorted(table.per_action) == ["backflip", "dance"]


def test_a_regex_names_the_actions():
    assert action_group("box_1_chunk0_train", r"_(chunk\d+)_") == "chunk0"
    assert action_group("box_1_chunk0_train", r"^[a-z]+_\d") == "box_1"  # no group: the match
    assert action_group("Walking 1", r"_(chunk\d+)_") == "walking"  # no match: the default
    with pytest.raises(D3PRError, match="not a regular expression"):
        action_group("x", "([")


def test_cli_action_pattern(tmp_path, capsys):
    names = ["box_1_chunk0_train", "box_2_chunk0_train", "box_1_chunk1_train"]
    _preds(names).save(tmp_path / "p.npz")
    for pattern, want in ((None, ["box"]), (r"_(chunk\d+)_", ["chunk0", "chunk1"])):
        out = tmp_path / f"r{len(want)}"
        extra = ["--action-pattern", pattern] if pattern else []
        with pytest.raises(SystemExit) as exc:
            main(["evaluate", str(tmp_path / "p.npz"), "--baselines", "none", "--no-figures",
                  "--out", str(out), "--threads", "1", *extra])  # fmt: skip
        assert exc.value.code in (0, None), capsys.readouterr()
        res = json.loads((out / "results.json").read_text())
        assert list(res["methods"]["base"]["per_action"]) == want
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tmp_path / "p.npz"), "--action-pattern", "(["])
    assert exc.value.code == 2 and "not a regular expression" in capsys.readouterr().err


def test_evaluation_sits_below_the_report():
    """The report builds on the evaluation: importing the evaluation loads no report, no figures."""
    import subprocess
    import sys

    code = (
        "import sys, d3prefiner.evaluation; "
        "print([m for m in sys.modules if m.startswith(('d3prefiner.report', 'd3prefiner.viz', "
        "'matplotlib'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_evaluate_returns_results_and_the_scored_predictions():
    from d3prefiner.evaluation import Evaluation, evaluate

    preds = _preds(["walking_1", "eating 2"])
    ev = evaluate({"base": preds}, baselines=("savgol",), progress=False)
    assert isinstance(ev, Evaluation) and list(ev.methods) == ["base", "savgol"]
    assert list(ev.results["methods"]) == ["base", "savgol"]
    assert ev.methods["savgol"].estimator == "savgol" and "figures" not in ev.results["meta"]
    again = evaluate_methods({"base": preds}, baselines=("savgol",), progress=False)
    assert again == ev.results

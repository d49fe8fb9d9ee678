"""h36m-fk17 with per-subject skeletons (``--skeleton subject``): the measured subjects' bone
lengths, a seeded spread for the others, forward kinematics that keeps every bone's direction."""

import numpy as np
import pytest

from d3prefiner.data.fk17 import (
    _bone_lengths,
    measured_bone_lengths,
    subject_bone_lengths,
    with_bone_lengths,
)
from d3prefiner.data.sources import load_source
from d3prefiner.errors import ArgumentError
from d3prefiner.study.bench import BenchSpec
from d3prefiner.study.experiment import Experiment


def test_with_bone_lengths_sets_lengths_and_keeps_directions():
    rng = np.random.default_rng(0)
    joints = rng.normal(0, 0.3, (5, 17, 3))
    lengths = rng.uniform(0.1, 0.5, 16)
    out = with_bone_lengths(joints, lengths)
    np.testing.assert_allclose(_bone_lengths(out), np.broadcast_to(lengths, (5, 16)), atol=1e-12)
    np.testing.assert_array_equal(out[:, 0], joints[:, 0])  # the root stays
    # RKnee's bone (joint 2, parent 1) points the same way, scaled
    old, new = joints[:, 2] - joints[:, 1], out[:, 2] - out[:, 1]
    cos = np.sum(old * new, -1) / np.linalg.norm(old, axis=-1) / np.linalg.norm(new, axis=-1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-12)
    np.testing.assert_allclose(with_bone_lengths(out, lengths), out, atol=1e-12)  # idempotent


def test_subject_skeletons_measured_and_drawn(shared_data):
    measured = measured_bone_lengths(shared_data / "mmpose-h36m-testdata" / "test_h36m_body3d.npz")
    assert sorted(measured) == ["S1", "S5", "S7", "S8"]
    (fixed,) = load_source("h36m-fk17", shared_data / "h36m-expmap-fk17", ["S1"])[:1]
    np.testing.assert_allclose(measured["S1"], _bone_lengths(fixed.joints3d[0]), atol=2e-3)
    assert measured["S5"][1] < measured["S1"][1] - 0.01  # S5's thigh is 15 mm shorter
    drawn = {s: subject_bone_lengths(s, measured) for s in ("S6", "S9", "S11")}
    np.testing.assert_array_equal(drawn["S9"], subject_bone_lengths("S9", measured))  # seeded
    mean = np.mean(list(measured.values()), axis=0)
    for s, lengths in drawn.items():
        assert not np.allclose(lengths, mean) and np.all(np.abs(lengths / mean - 1) < 0.2), s
    seqs = load_source("h36m-fk17", shared_data / "h36m-expmap-fk17", ["S5", "S9"],
                       skeleton="subject")  # fmt: skip
    for s in (seqs[0], seqs[-1]):  # levelling rotates, lengths stay
        want = measured["S5"] if s.subject == "S5" else drawn["S9"]
        np.testing.assert_allclose(_bone_lengths(s.joints3d), np.broadcast_to(want, (s.num_frames, 16)),
                                   atol=1e-9)  # fmt: skip


def test_skeleton_option_checked():
    with pytest.raises(ArgumentError, match="own subjects' bones"):
        BenchSpec(source="videopose3d", skeleton="subject", predictions=("a", "b"))
    with pytest.raises(ArgumentError, match="fixed or subject"):
        BenchSpec(skeleton="tall")
    with pytest.raises(ArgumentError, match="own skeletons"):
        load_source("deepmimic", None, skeleton="subject")
    assert BenchSpec(skeleton="subject").run_dir("o", "tcn", "gt").name == "tcn-gt-subject"
    config = BenchSpec(skeleton="subject").experiment_config("tcn", "gt")
    assert Experiment(config, "unused").data_spec().skeleton == "subject"  # reaches the clips

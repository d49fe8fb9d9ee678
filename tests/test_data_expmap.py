"""Exp-map release → 17 joints: constant bones, hand-checked FK, the shared sample, the converter."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from d3prefiner.data.expmap import (
    EXPMAP_OFFSETS_MM,
    EXPMAP_PARENTS,
    H36M32_TO_17,
    convert_expmap_dir,
    expmap_to_positions,
    expmap_to_rotmat,
    load_skeleton_json,
    read_expmap_txt,
)
from d3prefiner.errors import D3PRError
from d3prefiner.io import load_npz

_BONE_LENGTHS_32 = np.linalg.norm(EXPMAP_OFFSETS_MM, axis=1)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (4, 99), elements=st.floats(-3.0, 3.0)))
def test_bone_lengths_are_constant_after_fk(raw):
    pos = expmap_to_positions(raw, keep=None)  # (4, 32, 3)
    for j, p in enumerate(EXPMAP_PARENTS):
        if p >= 0:
            np.testing.assert_allclose(
                np.linalg.norm(pos[:, j] - pos[:, p], axis=-1), _BONE_LENGTHS_32[j], atol=1e-6
            )


def test_rotmat_is_rodrigues():
    R = expmap_to_rotmat(np.array([0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(R, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(expmap_to_rotmat(np.zeros(3)), np.eye(3))


def test_rest_pose_is_upright_z_up_and_right_handed():
    pos = expmap_to_positions(np.zeros((1, 99)))[0]  # (17, 3) mm
    assert pos[10, 2] > pos[8, 2] > pos[0, 2] > pos[3, 2]  # head > thorax > hip > foot (z up)
    np.testing.assert_allclose(pos[0], 0, atol=1e-9)
    # the rest pose: RHip at -x (the table's first offset), left at +x
    assert pos[1, 0] < 0 < pos[4, 0]
    assert np.isclose(pos[3, 2] - pos[0, 2], -(442.894612 + 454.206447), atol=1e-6)


def test_root_integration_of_a_translation_delta():
    raw = np.zeros((3, 99))
    raw[:, 0] = 10.0  # 10 mm per frame along the root's x
    pos = expmap_to_positions(raw)
    np.testing.assert_allclose(pos[:, 0, 0], [10.0, 20.0, 30.0], atol=1e-9)


def test_bad_input(tmp_path):
    with pytest.raises(D3PRError, match="99"):
        expmap_to_positions(np.zeros((3, 98)))
    raw = np.zeros((3, 99))
    raw[1, 5] = np.nan
    with pytest.raises(D3PRError, match="NaN"):
        expmap_to_positions(raw)
    (tmp_path / "a.txt").write_text("1,2,3\n")
    with pytest.raises(D3PRError, match="99 values"):
        read_expmap_txt(tmp_path / "a.txt")
    (tmp_path / "b.txt").write_text("")
    with pytest.raises(D3PRError, match=r"b\.txt"):
        read_expmap_txt(tmp_path / "b.txt")
    with pytest.raises(D3PRError, match="not found"):
        read_expmap_txt(tmp_path / "missing.txt")
    with pytest.raises(D3PRError, match="no subject"):
        convert_expmap_dir(tmp_path, tmp_path / "out")


def test_converter_writes_the_folder_format(tmp_path):
    rng = np.random.default_rng(0)
    for subject, n in (("S9", 5), ("S11", 3)):
        (tmp_path / "src" / subject).mkdir(parents=True)
        np.savetxt(
            tmp_path / "src" / subject / "walking_1.txt", rng.normal(0, 0.3, (n, 99)), delimiter=","
        )
    counts = convert_expmap_dir(tmp_path / "src", tmp_path / "out")
    assert counts == {"S9": 5, "S11": 3}
    arrays = load_npz(tmp_path / "out" / "h36m_expmap_fk17_S9.npz")
    assert set(arrays) == {"walking_1"}
    assert arrays["walking_1"].shape == (5, 17, 3) and arrays["walking_1"].dtype == np.float32


def test_matches_the_shared_fk17_sample(shared_data, tmp_path):
    src = shared_data / "h36m-expmap-raw-sample"
    convert_expmap_dir(
        src, tmp_path, skeleton_json=shared_data / "h36m-expmap-fk17" / "skeleton17.json"
    )
    for subject, action in (("S9", "walking_1"), ("S11", "directions_1")):
        ours = load_npz(tmp_path / f"h36m_expmap_fk17_{subject}.npz")[action]
        ref = load_npz(shared_data / "h36m-expmap-fk17" / f"h36m_expmap_fk17_{subject}.npz")[action]
        assert ours.shape == ref.shape
        assert np.linalg.norm(ours - ref, axis=-1).max() < 1.0  # mm, every joint of every frame


def test_built_in_table_equals_the_shared_json(shared_data):
    parents, offsets = load_skeleton_json(shared_data / "h36m-expmap-fk17" / "skeleton17.json")
    assert parents == EXPMAP_PARENTS
    np.testing.assert_allclose(offsets, EXPMAP_OFFSETS_MM)
    import json

    kept = json.loads((shared_data / "h36m-expmap-fk17" / "skeleton17.json").read_text())
    assert tuple(kept["h36m32_indices_kept"]) == H36M32_TO_17

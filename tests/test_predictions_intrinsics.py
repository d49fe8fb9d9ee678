"""Cameras in the predictions file: optional per-sequence intrinsics, saved without pickles,
validated on load; importers and the data pipeline write them; the geometric baselines use them."""

import numpy as np
import pytest

from d3prefiner.baselines import (
    DEFAULT_BASELINES,
    GEOMETRIC,
    apply_baseline,
    camera_note,
    sequence_camera,
)
from d3prefiner.data.cameras import H36M_INTRINSICS, Camera
from d3prefiner.errors import D3PRError
from d3prefiner.geometry import DEFAULT_INTRINSICS, Intrinsics
from d3prefiner.importers import as_intrinsics, from_arrays, from_videopose3d_dict
from d3prefiner.io import load_npz, save_npz
from d3prefiner.noise import make_synthetic_predictions
from d3prefiner.predictions import Predictions

CAM = Intrinsics(f=(1145.0, 1143.8), c=(512.5, 515.5), width=1000, height=1002,
                 k=(-0.2, 0.25, -0.003), p=(-0.0014, -0.001))  # fmt: skip


def _preds(with_camera=(True, False, True)) -> Predictions:
    p = make_synthetic_predictions(n_sequences=len(with_camera), n_frames=20, seed=1)
    from dataclasses import replace

    seqs = [replace(s, intrinsics=CAM if w else None) for s, w in zip(p, with_camera)]
    return Predictions(seqs, p.estimator)


def test_round_trip_mixed(tmp_path):
    p = _preds()
    p.save(tmp_path / "p.npz")
    d = np.load(tmp_path / "p.npz", allow_pickle=False)
    assert d["cam_f"].shape == (3, 2) and d["cam_size"].dtype == np.int64
    assert np.isnan(d["cam_f"][1]).all()
    q = Predictions.load(tmp_path / "p.npz")
    assert [s.intrinsics for s in q] == [CAM, None, CAM]
    assert q.num_with_intrinsics == 2
    # kept through the library's copies
    assert q.with_pred3d([s.pred3d for s in q]).sequences[0].intrinsics == CAM
    assert Predictions.pool([q, q]).num_with_intrinsics == 4


def test_file_without_cameras_is_unchanged(tmp_path):
    p = _preds((False, False))
    p.save(tmp_path / "p.npz")
    assert not any(k.startswith("cam_") for k in np.load(tmp_path / "p.npz").files)
    assert all(s.intrinsics is None for s in Predictions.load(tmp_path / "p.npz"))


def test_distortion_is_optional(tmp_path):
    _preds().save(tmp_path / "p.npz")
    d = load_npz(tmp_path / "p.npz")
    del d["cam_k"], d["cam_p"]
    save_npz(tmp_path / "q.npz", **d)
    s = Predictions.load(tmp_path / "q.npz").sequences[0]
    assert not s.intrinsics.distorted and np.array_equal(s.intrinsics.f, CAM.f)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("cam_f", np.ones((3, 3)), "'cam_f' must be numbers of shape"),
        ("cam_f", np.array([[1.0, -1], [np.nan, np.nan], [1, 1]]), "'cam_f' of sequence 0"),
        ("cam_c", np.array([[1.0, np.inf], [0, 0], [0, 0]]), "'cam_c' of sequence 0"),
        ("cam_size", np.array([[1000, 0], [0, 0], [10, 10]]), "'cam_size' of sequence 0"),
        ("cam_size", np.array([["a", "b"]] * 3), "'cam_size' must be numbers"),
        ("cam_k", np.zeros((3, 2)), "'cam_k' must be numbers of shape"),
        (
            "cam_k",
            np.array([[0.0, 0, 0], [0, 0, 0], [1e6, 0, 0]]),
            "'cam_k' of sequence 2 must be within",
        ),
        ("cam_p", np.array([[0.0, 0], [0, 0], [0, -2.0]]), "'cam_p' of sequence 2 must be within"),
        ("cam_c", None, "has .* but not cam_c"),
    ],
)
def test_bad_intrinsics_name_the_file_and_field(tmp_path, key, value, match):
    _preds().save(tmp_path / "p.npz")
    d = load_npz(tmp_path / "p.npz")
    if value is None:
        del d[key]
    else:
        d[key] = value
    save_npz(tmp_path / "bad.npz", **d)
    with pytest.raises(D3PRError, match=match) as exc:
        Predictions.load(tmp_path / "bad.npz")
    assert "bad.npz" in str(exc.value)


def test_sequence_refuses_a_non_intrinsics():
    p = _preds((False,))
    from dataclasses import replace

    with pytest.raises(D3PRError, match="intrinsics must be"):
        replace(p.sequences[0], intrinsics={"f": 1})


def test_as_intrinsics_layouts():
    ours = as_intrinsics({"f": 1145.0, "c": (500, 500), "width": 1000, "height": 1000})
    assert np.array_equal(ours.f, [1145.0, 1145.0]) and not ours.distorted
    vp3d = as_intrinsics({"focal_length": [1145.0, 1143.8], "center": [512.5, 515.5],
                          "res_w": 1000, "res_h": 1002, "radial_distortion": [-0.2, 0.25, -0.003],
                          "tangential_distortion": [-0.001, -0.0014]})  # fmt: skip
    assert vp3d == CAM  # VideoPose3D's tangential pair is reversed
    cam = Camera(name="c", R=np.eye(3), t=np.zeros(3), **H36M_INTRINSICS["54138969"])
    assert np.array_equal(as_intrinsics(cam).f, cam.f)
    with pytest.raises(D3PRError, match="lack"):
        as_intrinsics({"f": 1.0})
    with pytest.raises(D3PRError, match="focal"):
        as_intrinsics({"f": -1.0, "c": (0, 0), "width": 10, "height": 10})


def test_importers_take_intrinsics():
    rng = np.random.default_rng(0)
    p2, p3 = rng.uniform(-0.5, 0.5, (5, 17, 2)), rng.normal(0, 0.3, (5, 17, 3))
    assert from_arrays(p2, p3, intrinsics=CAM).intrinsics == CAM
    assert from_arrays(p2, p3).intrinsics is None
    d3, d2 = {"S9": {"walk": [p3, p3]}}, {"S9": {"walk": [p2, p2]}}
    per_cam = from_videopose3d_dict(d3, d2, cameras=["a", "b"], intrinsics={"a": CAM})
    assert [s.intrinsics for s in per_cam] == [CAM, None]
    one = from_videopose3d_dict(d3, d2, intrinsics={"f": 1000.0, "c": (500, 500),
                                                    "width": 1000, "height": 1000})  # fmt: skip
    assert all(s.intrinsics is not None for s in one)


def test_make_clips_records_the_camera():
    from d3prefiner.data.pipeline import make_clips
    from d3prefiner.data.sequences import Sequence

    rng = np.random.default_rng(0)
    joints = rng.normal(0, 0.2, (10, 17, 3)) + [0, 0, 1.0]
    clips = make_clips([Sequence("S1", "walk", 50.0, joints)], n_cameras=2)
    assert all(isinstance(c.intrinsics, Intrinsics) for c in clips)
    assert clips[0].intrinsics.f[0] == pytest.approx(H36M_INTRINSICS["54138969"]["f"][0])


def test_geometric_baselines_are_defaults_and_use_the_camera():
    assert {"reproject", "bones", "bones+reproject"} <= set(GEOMETRIC) <= set(DEFAULT_BASELINES)
    p = make_synthetic_predictions(n_sequences=2, n_frames=30, seed=2, intrinsics=True)
    assert sequence_camera(p.sequences[0]).f_norm[0] == pytest.approx(2.0)
    from dataclasses import replace

    no_cam = Predictions([replace(s, intrinsics=None) for s in p], p.estimator)
    assert sequence_camera(no_cam.sequences[0]) is DEFAULT_INTRINSICS
    a = apply_baseline("reproject", p, progress=False).concat("pred3d")
    b = apply_baseline("reproject", no_cam, progress=False).concat("pred3d")
    assert not np.array_equal(a, b)
    assert "all 2 sequences" in camera_note(2, 2) and "default focal" in camera_note(0, 2)


def test_reproject_fixes_in_plane_error_with_the_true_camera():
    """The synthetic 2D is the exact pinhole projection of gt3d: with the camera, reprojection
    removes most of the in-plane error."""
    p = make_synthetic_predictions(n_sequences=2, n_frames=50, seed=3, intrinsics=True)

    def mm(q):
        return 1000 * np.linalg.norm(q.concat("pred3d") - q.concat("gt3d"), axis=-1).mean()

    assert mm(apply_baseline("reproject", p, progress=False)) < mm(p)


def test_the_report_says_which_camera_was_used():
    from d3prefiner.baselines import focal_sensitivity
    from d3prefiner.evaluation import evaluate_methods
    from d3prefiner.report.methods import method_labels, verdict
    from d3prefiner.report.run import filter_settings

    p = make_synthetic_predictions(n_sequences=2, n_frames=40, seed=4, intrinsics=True)
    res = evaluate_methods({"base": p}, progress=False)
    assert set(GEOMETRIC) <= set(res["methods"])
    assert res["meta"]["intrinsics"] == {"with_camera": 2, "sequences": 2}
    text = filter_settings("bones+reproject", res["meta"])
    assert "median length" in text and "all 2 sequences" in text
    assert "Median bone lengths, then reprojection" in method_labels(res)["bones+reproject"]
    assert "geometric baseline" in verdict(res)
    assert "default focal length" in filter_settings("reproject", {})
    assert "camera" not in filter_settings("bones", res["meta"])
    sens = focal_sensitivity(p)
    assert set(sens) == {"base", 0.85, 1.0, 1.15} and sens[1.0] < sens["base"]

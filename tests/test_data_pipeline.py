"""Sequences → clips (cameras, projection, noise, normalisation, subsampling) and the data CLI."""

import numpy as np
import pytest
from typer.testing import CliRunner

from d3prefiner.cli import app
from d3prefiner.data.cameras import Camera, image_coordinates, look_at, virtual_rig
from d3prefiner.data.detector import DEFAULT_PROFILE
from d3prefiner.data.pipeline import load_source, make_clips
from d3prefiner.data.sequences import Sequence
from d3prefiner.errors import D3PRError


def _seq(action="walk", n=100, fps=50.0):
    t = np.arange(n) / fps
    rng = np.random.default_rng(0)
    pose = rng.normal([0, 0, 1.0], 0.3, (17, 3))
    pose[0] = [0, 0, 1.0]
    j = np.repeat(pose[None], n, 0)
    j[..., 0] += 0.8 * t[:, None] + 7.0  # walking, far from the origin (re-centred by make_clips)
    return Sequence("S1", action, fps, j)


def test_make_clips_virtual_rig_shapes_and_root_relative():
    clips = make_clips([_seq(), _seq("run")], n_cameras=3, seed=1)
    assert len(clips) == 6 and {c.camera for c in clips} == {"virtual0", "virtual1", "virtual2"}
    for c in clips:
        assert c.pose2d.shape == (100, 17, 2) and c.pose3d.dtype == np.float32
        np.testing.assert_array_equal(c.pose3d[:, 0], 0)
        assert np.all(np.abs(c.pose2d) < 1.0)  # inside the image
    # the same pose seen by different cameras: same bone lengths, different coordinates
    a, b = clips[0].pose3d, clips[1].pose3d
    np.testing.assert_allclose(np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1), atol=1e-5)
    assert not np.allclose(a, b, atol=1e-3)


def test_make_clips_is_deterministic_and_seeded_per_sequence():
    s1, s2 = _seq("walk"), _seq("run")
    a = make_clips([s1, s2], seed=3, detector=DEFAULT_PROFILE)
    b = make_clips([s2, s1], seed=3, detector=DEFAULT_PROFILE)
    np.testing.assert_array_equal(a[0].pose2d, b[4].pose2d)  # order does not matter
    c = make_clips([s1], seed=4, detector=DEFAULT_PROFILE)
    assert not np.allclose(a[0].pose3d, c[0].pose3d)  # another rig
    assert not np.allclose(a[0].pose2d, a[1].pose2d)


def test_detector_noise_and_subsampling():
    seq = _seq(n=200)
    cam = virtual_rig(1, seed=0)[0]
    world = seq.joints3d.copy()
    world[..., :2] -= world[0, 0, :2]
    R, t = look_at(np.array([5.0, 0.0, 1.5]), np.array([0.0, 0.0, 1.0]))
    fixed = Camera("fixed", R, t, cam.f, cam.c, cam.k, cam.p, cam.width, cam.height)
    seq = Sequence("S1", "walk", 50.0, world)
    gt = make_clips([seq], cameras=[fixed])[0]
    noisy = make_clips([seq], cameras=[fixed], detector=DEFAULT_PROFILE)[0]
    px = image_coordinates(noisy.pose2d, 1000, 1002) - image_coordinates(gt.pose2d, 1000, 1002)
    assert (
        3 * DEFAULT_PROFILE.scale < np.linalg.norm(px, axis=-1).mean() < 15 * DEFAULT_PROFILE.scale
    )
    np.testing.assert_array_equal(noisy.pose3d, gt.pose3d)
    half = make_clips([seq], cameras=[fixed], target_fps=25)[0]
    assert half.fps == 25 and half.num_frames == 100
    np.testing.assert_allclose(half.pose3d, gt.pose3d[::2])
    # 50 -> 30 fps does not divide: read at 5/3-frame steps by linear interpolation
    third = make_clips([seq], cameras=[fixed], target_fps=30)[0]
    assert third.fps == 30 and third.num_frames == 120  # 0, 5/3, ..., 198.33 (< 199)
    np.testing.assert_allclose(third.pose3d[3], gt.pose3d[5], atol=1e-6)  # frame 5 exactly
    with pytest.raises(D3PRError, match="frame rate must be > 0"):
        make_clips([seq], target_fps=0)


def test_own_cameras_and_2d_are_used():
    seq = _seq(n=20)
    world = seq.joints3d - [7.0, 0, 0]
    cam = virtual_rig(1, seed=0)[0]
    p2d = np.full((20, 17, 2), 500.0)
    s = Sequence("S9", "x", 50.0, world, pose2d={cam.name: p2d}, cameras={cam.name: cam})
    (clip,) = make_clips([s], detector=DEFAULT_PROFILE)  # real 2D is not noised
    np.testing.assert_allclose(
        image_coordinates(clip.pose2d, cam.width, cam.height), p2d, atol=1e-3
    )


def test_load_source_errors(tmp_path):
    with pytest.raises(D3PRError, match="unknown source"):
        load_source("mocap")
    with pytest.raises(D3PRError, match="not found"):
        load_source("h36m-fk17", tmp_path / "none")
    with pytest.raises(D3PRError, match="data_3d_h36m"):
        load_source("videopose3d", tmp_path)


def test_deepmimic_source_end_to_end():
    seqs = load_source("deepmimic")
    assert {s.action for s in seqs} >= {"walk", "run", "jump"}
    clips = make_clips([s for s in seqs if s.action in ("walk", "jump")], detector=DEFAULT_PROFILE)
    assert len(clips) == 8
    inside = np.mean([np.mean(np.abs(c.pose2d[..., 0]) < 1) for c in clips])
    assert inside > 0.99


def test_fk17_source_is_levelled(shared_data):
    (s,) = [x for x in load_source("h36m-fk17", subjects=["S9"]) if x.action == "walking_1"]
    assert s.fps == 50.0
    feet = s.joints3d[:, [3, 6], 2].min(axis=1)  # lower ankle per frame, metres
    assert np.percentile(feet, 90) - np.percentile(feet, 10) < 0.08  # flat ground
    np.testing.assert_allclose(s.joints3d[0, 0, :2], 0, atol=1e-9)


def test_cli_data_info_and_convert(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["data", "info", "deepmimic"])
    assert res.exit_code == 0, res.output
    assert "deepmimic" in res.output and "total" in res.output
    src = tmp_path / "src" / "S9"
    src.mkdir(parents=True)
    np.savetxt(src / "walking_1.txt", np.zeros((4, 99)), delimiter=",")
    res = runner.invoke(
        app, ["data", "convert-expmap", str(tmp_path / "src"), str(tmp_path / "out")]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["data", "info", "h36m-fk17", "--path", str(tmp_path / "out")])
    assert res.exit_code == 0 and "S9" in res.output and "4" in res.output


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    from d3prefiner.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["data", "info", "h36m-fk17", "--path", str(tmp_path / "missing")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "missing" in err

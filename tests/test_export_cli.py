"""`d3pr export`: predictions files → BVH, with the trajectory from the 2D and the camera, the
file's own trajectory, or a pinned root; one file or a folder; bad input refused whole."""

import re

import numpy as np
import pytest

from conftest import run_cli
from d3prefiner.export.bvh import read_exported
from d3prefiner.io import load_npz, save_npz
from d3prefiner.predictions import Predictions, PredictionSequence
from d3prefiner.trajectory import to_world
from test_trajectory import INTR, _pixels, _scene

MM = 1e-3


def _preds(cam, fps, n=1, intrinsics=INTR):
    rel = (cam - cam[:, :1]).astype(np.float32)
    y = _pixels(cam, INTR) / INTR.width * 2 - [1, INTR.height / INTR.width]
    seqs = [PredictionSequence("S1", f"walk{k}", "cam", fps, y.astype(np.float32), rel,
                               intrinsics=intrinsics) for k in range(n)]  # fmt: skip
    return Predictions(seqs, "test")


@pytest.fixture
def scene(shared_data):
    world, cam, fps = _scene(shared_data, frames=120)
    return cam, fps


def test_trajectory_from_the_2d(scene, tmp_path, capsys):
    cam, fps = scene
    _preds(cam, fps).save(tmp_path / "p.npz")
    code, out = run_cli(["export", tmp_path / "p.npz", "--bvh", tmp_path / "w.bvh"], capsys)
    assert code in (0, None), out
    assert "fitted from the 2D and the camera" in out
    back, rate = read_exported(tmp_path / "w.bvh")
    assert rate == pytest.approx(fps)
    truth = to_world(cam).positions  # the exact 2D gives the exact path (smoothed)
    assert np.linalg.norm(back - truth, axis=-1).mean() < 0.02
    walked = np.linalg.norm(back[-1, 0, :2] - back[0, 0, :2])
    assert walked == pytest.approx(np.linalg.norm(truth[-1, 0, :2] - truth[0, 0, :2]), rel=0.05)
    code, out = run_cli(["export", tmp_path / "p.npz", "--bvh", tmp_path / "p.bvh",
                         "--no-trajectory"], capsys)  # fmt: skip
    pinned, _ = read_exported(tmp_path / "p.bvh")
    assert "pinned" in out and np.ptp(pinned[:, 0, :2], axis=0).max() < 1 * MM
    # the file's own trajectory wins (d3pr video writes one): here half the true path
    arrays = load_npz(tmp_path / "p.npz")
    save_npz(tmp_path / "t.npz", **arrays, trajectory=(cam[:, 0] * 0.5).astype(np.float32))
    code, out = run_cli(["export", tmp_path / "t.npz", "--bvh", tmp_path / "t.bvh"], capsys)
    assert "the file's trajectory" in out
    own, _ = read_exported(tmp_path / "t.bvh")
    assert np.linalg.norm(own[-1, 0, :2] - own[0, 0, :2]) == pytest.approx(walked / 2, rel=0.05)


def test_several_sequences_and_no_camera(scene, tmp_path, capsys):
    cam, fps = scene
    _preds(cam, fps, n=3, intrinsics=None).save(tmp_path / "p.npz")
    code, out = run_cli(["export", tmp_path / "p.npz", "--bvh", tmp_path / "one.bvh"], capsys)
    assert code == 2 and "--sequence" in out and not (tmp_path / "one.bvh").exists()
    code, out = run_cli(["export", tmp_path / "p.npz", "--bvh", tmp_path / "all"], capsys)
    assert code in (0, None), out
    files = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert files == ["S1_walk0_cam.bvh", "S1_walk1_cam.bvh", "S1_walk2_cam.bvh"]
    assert out.count("pinned (no camera in the file)") == 3
    code, out = run_cli(["export", tmp_path / "p.npz", "--bvh", tmp_path / "w1.bvh",
                         "--sequence", "S1/walk1/cam"], capsys)  # fmt: skip
    assert code in (0, None) and "w1.bvh" in out
    back, _ = read_exported(tmp_path / "w1.bvh")
    rel = cam - cam[:, :1]
    np.testing.assert_allclose(back - back[:, :1], to_world(rel).positions - to_world(rel).positions[:, :1],
                               atol=1 * MM)  # fmt: skip


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--pose", "nope"], "--pose .*has no 3D array 'nope'"),
        (["--sequence", "7"], "--sequence no sequence '7'"),
    ],
)
def test_bad_options(scene, tmp_path, capsys, extra, match):
    cam, fps = scene
    _preds(cam, fps).save(tmp_path / "p.npz")
    code, out = run_cli(["export", tmp_path / "p.npz", "--bvh", tmp_path / "x.bvh", *extra], capsys)
    assert code == 2 and out.count("error:") == 1
    assert re.search(match, out), out
    assert not (tmp_path / "x.bvh").exists()


def test_existing_output_and_bad_file(scene, tmp_path, capsys):
    cam, fps = scene
    _preds(cam, fps).save(tmp_path / "p.npz")
    (tmp_path / "x.bvh").write_text("keep")
    code, out = run_cli(["export", tmp_path / "p.npz", "--bvh", tmp_path / "x.bvh"], capsys)
    assert code == 2 and "--force" in out and (tmp_path / "x.bvh").read_text() == "keep"
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    code, out = run_cli(["export", tmp_path / "bad.npz", "--bvh", tmp_path / "y.bvh"], capsys)
    assert code == 2 and out.count("error:") == 1 and not (tmp_path / "y.bvh").exists()

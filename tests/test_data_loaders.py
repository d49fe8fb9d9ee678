"""Loaders on synthetic fixtures: fk17 folder, VideoPose3D files (restricted unpickler), DeepMimic."""

import json
import os

import numpy as np
import pytest

from d3prefiner.data.cameras import H36M_CAMERA_IDS, load_h36m_cameras, project, world_to_camera
from d3prefiner.data.deepmimic import deepmimic_clips, load_deepmimic, read_clip
from d3prefiner.data.fk17 import load_fk17
from d3prefiner.data.videopose3d import load_npz_restricted, load_videopose3d
from d3prefiner.errors import D3PRError
from d3prefiner.skeleton import H36M17


# --- fk17 -------------------------------------------------------------------------------------
def _fk17_folder(tmp_path, n=8):
    rng = np.random.default_rng(0)
    for s in ("S1", "S11", "S9"):
        np.savez(
            tmp_path / f"h36m_expmap_fk17_{s}.npz",
            walking_1=rng.normal(0, 500, (n, 17, 3)).astype(np.float32),
            eating_2=rng.normal(0, 500, (n + 1, 17, 3)).astype(np.float32),
        )
    return tmp_path


def test_fk17_loads_metres_and_filters(tmp_path):
    folder = _fk17_folder(tmp_path)
    seqs = load_fk17(folder)
    assert [s.subject for s in seqs] == ["S1", "S1", "S9", "S9", "S11", "S11"]  # numeric order
    raw = np.load(folder / "h36m_expmap_fk17_S9.npz")["walking_1"]
    s9 = [s for s in seqs if s.subject == "S9" and s.action == "walking_1"][0]
    np.testing.assert_allclose(s9.joints3d, raw / 1000.0, rtol=1e-6)
    assert s9.fps == 50.0
    only = load_fk17(folder, subjects=["S11"], actions=["walking"])
    assert [(s.subject, s.action) for s in only] == [("S11", "walking_1")]


def test_fk17_bad_input(tmp_path):
    with pytest.raises(D3PRError, match="not found"):
        load_fk17(tmp_path / "nope")
    with pytest.raises(D3PRError, match="no h36m_expmap_fk17"):
        load_fk17(tmp_path)
    np.savez(tmp_path / "h36m_expmap_fk17_S1.npz", walking_1=np.zeros((4, 16, 3)))
    with pytest.raises(D3PRError, match=r"S1\.npz.*walking_1.*\(4, 16, 3\)"):
        load_fk17(tmp_path)
    bad = np.zeros((4, 17, 3))
    bad[2, 3, 1] = np.nan
    np.savez(tmp_path / "h36m_expmap_fk17_S1.npz", walking_1=bad)
    with pytest.raises(D3PRError, match="NaN"):
        load_fk17(tmp_path)
    np.savez(tmp_path / "h36m_expmap_fk17_S1.npz", walking_1=np.array([{"a": 1}], dtype=object))
    with pytest.raises(D3PRError, match="pickle"):
        load_fk17(tmp_path)
    (tmp_path / "h36m_expmap_fk17_S1.npz").write_bytes(b"garbage")
    with pytest.raises(D3PRError, match=r"S1\.npz"):
        load_fk17(tmp_path)
    with pytest.raises(D3PRError, match="S7"):
        load_fk17(tmp_path, subjects=["S7"])


def test_fk17_shared(shared_data):
    seqs = load_fk17(shared_data / "h36m-expmap-fk17", subjects=["S9"], actions=["walking_1"])
    (s,) = seqs
    bones = H36M17.bone_lengths(s.joints3d)
    assert bones.std(0).max() < 1e-4  # metres
    speed = np.linalg.norm(np.diff(s.joints3d[:, 0, :2], axis=0), axis=-1).mean() * s.fps
    assert 0.6 < speed < 1.6  # walking, m/s


# --- VideoPose3D ------------------------------------------------------------------------------
CAM_JSON = {
    f"{s}/{c}": {
        "R": np.linalg.qr(np.random.default_rng(i).normal(size=(3, 3)))[0].tolist(),
        "T": [[0.0], [0.0], [0.0]],
        "f": [[1145.0], [1144.0]],
        "c": [[512.0], [515.0]],
        "k": [[-0.2], [0.24], [0.0]],
        "p": [[0.0], [0.0]],
        "w": 1000,
        "h": 1002,
        "id": c,
    }
    for i, (s, c) in enumerate((s, c) for s in ("S1", "S9") for c in H36M_CAMERA_IDS)
}


def _h36m_like_cameras(tmp_path):
    cams = {}
    rng = np.random.default_rng(1)
    for key, e in CAM_JSON.items():
        ang = rng.uniform(0, 2 * np.pi)
        C = np.array([5 * np.cos(ang), 5 * np.sin(ang), 1.5])
        fwd = -C / np.linalg.norm(C)
        right = np.cross(fwd, [0, 0, 1.0])
        right /= np.linalg.norm(right)
        R_w2c = np.stack([right, np.cross(fwd, right), fwd])
        cams[key] = dict(e, R=R_w2c.T.tolist(), T=(C[:, None] * 1.0).tolist())
    path = tmp_path / "cameras.json"
    path.write_text(json.dumps(cams))
    return path


def _vp3d_files(tmp_path, n=12):
    rng = np.random.default_rng(0)
    pos3d = {
        s: {
            a: rng.normal([0, 0, 1], 0.3, (n, 32, 3)).astype(np.float32)
            for a in ("Walking", "Eating 2")
        }
        for s in ("S1", "S9")
    }
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d=pos3d)
    pos2d = {
        s: {
            a: [rng.uniform(0, 1000, (n + 2, 17, 2)).astype(np.float32) for _ in range(4)]
            for a in acts
        }
        for s, acts in pos3d.items()
    }
    meta = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [[4, 5, 6], [1, 2, 3]]}
    np.savez(tmp_path / "data_2d_h36m_gt.npz", positions_2d=pos2d, metadata=meta)
    return pos3d, pos2d


def test_videopose3d_synthetic_files(tmp_path):
    pos3d, pos2d = _vp3d_files(tmp_path)
    cams = _h36m_like_cameras(tmp_path)
    seqs = load_videopose3d(
        tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_gt.npz", cams, subjects=["S9"]
    )
    assert [(s.subject, s.action) for s in seqs] == [("S9", "Eating 2"), ("S9", "Walking")]
    s = seqs[1]
    np.testing.assert_allclose(
        s.joints3d,
        pos3d["S9"]["Walking"][:, [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]],
    )
    assert list(s.cameras) == list(H36M_CAMERA_IDS) and list(s.pose2d) == list(H36M_CAMERA_IDS)
    np.testing.assert_allclose(s.pose2d["58860488"], pos2d["S9"]["Walking"][2][:12])  # trimmed
    # the camera convention of the JSON (R camera→world, T centre) gives points in front
    cam = s.cameras["54138969"]
    X = world_to_camera(s.joints3d, cam)
    assert np.all(X[..., 2] > 3)
    assert project(X, cam).shape == (12, 17, 2)
    meta = load_npz_restricted(tmp_path / "data_2d_h36m_gt.npz")["metadata"]
    assert meta["keypoints_symmetry"] == [[4, 5, 6], [1, 2, 3]]


def test_videopose3d_refuses_malicious_pickles(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    arr = np.empty((), dtype=object)
    arr[()] = {"S1": {"Walking": Evil()}}
    np.savez(tmp_path / "evil.npz", positions_3d=arr)
    with pytest.raises(D3PRError, match=r"evil\.npz.*system"):
        load_videopose3d(tmp_path / "evil.npz")
    assert not marker.exists()
    arr[()] = {"x": eval}  # builtins.eval, a global
    np.savez(tmp_path / "evil2.npz", positions_3d=arr)
    with pytest.raises(D3PRError, match="eval"):
        load_npz_restricted(tmp_path / "evil2.npz")


def test_videopose3d_bad_input(tmp_path):
    with pytest.raises(D3PRError, match="not found"):
        load_videopose3d(tmp_path / "missing.npz")
    np.savez(tmp_path / "a.npz", positions_3d={"S1": {"Walking": np.zeros((5, 30, 3))}})
    with pytest.raises(D3PRError, match=r"S1/Walking.*\(5, 30, 3\)"):
        load_videopose3d(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", other=np.zeros(3))
    with pytest.raises(D3PRError, match="positions_3d"):
        load_videopose3d(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", positions_3d={"S1": {"Walking": np.zeros((5, 32, 3))}})
    np.savez(tmp_path / "c2d.npz", positions_2d={"S1": {"Walking": [np.zeros((3, 17, 2))] * 4}})
    with pytest.raises(D3PRError, match="3 2D frames"):
        load_videopose3d(tmp_path / "c.npz", tmp_path / "c2d.npz")
    (tmp_path / "d.npz").write_bytes(b"PK\x03\x04 nonsense")
    with pytest.raises(D3PRError, match=r"d\.npz"):
        load_videopose3d(tmp_path / "d.npz")


def test_videopose3d_with_real_camera_parameters(shared_data, tmp_path):
    """Real H36M extrinsics: a person standing at the capture centre projects into every image."""
    _vp3d_files(tmp_path)
    stand = np.zeros((4, 32, 3))
    stand[..., 2] = np.linspace(0.1, 1.7, 32)  # a vertical line of joints, z-up world, metres
    np.savez(tmp_path / "stand.npz", positions_3d={"S9": {"Standing": stand}})
    (s,) = load_videopose3d(
        tmp_path / "stand.npz", cameras_json=shared_data / "mmpose-h36m-testdata" / "cameras.json"
    )
    cams = load_h36m_cameras(shared_data / "mmpose-h36m-testdata" / "cameras.json")
    np.testing.assert_array_equal(s.cameras["60457274"].R, cams[("S9", "60457274")].R)
    for cam in s.cameras.values():
        uv = project(world_to_camera(s.joints3d, cam), cam)
        assert np.all((uv > 0) & (uv < 1000))
        assert uv[0, 16, 1] < uv[0, 0, 1] - 100  # higher joints appear higher (smaller row)


# --- DeepMimic --------------------------------------------------------------------------------
def test_deepmimic_clips_fk():
    assert "walk" in deepmimic_clips()
    seqs = load_deepmimic(["walk", "run", "roll"])
    assert [s.action for s in seqs] == ["walk", "run", "roll"]
    for s in seqs:
        assert s.subject == "deepmimic"
        bones = H36M17.bone_lengths(s.joints3d)
        assert bones.std(0).max() < 1e-9
        assert np.all(bones > 0.05)
        assert abs(s.joints3d[..., 2].min()) < 0.1  # ground near z = 0
    walk = seqs[0]
    assert walk.fps == 30.0
    v = (walk.joints3d[-1, 0] - walk.joints3d[0, 0]) / ((walk.num_frames - 1) / walk.fps)
    assert 0.7 < np.linalg.norm(v[:2]) < 1.5 and abs(v[2]) < 0.05  # ~1 m/s, horizontal
    J = walk.joints3d
    assert np.all(J[:, 10, 2] > J[:, 8, 2]) and np.all(J[:, 8, 2] > J[:, 0, 2])  # head up
    facing = np.cross(J[:, 4] - J[:, 1], [0.0, 0.0, 1.0]).mean(0)  # right-handed: (L−R) × up
    assert facing @ v > 0  # walks forwards, so left and right are labelled correctly
    roll = seqs[2]  # durations of 1/60 and ~1/30 s: resampled to 60 Hz
    assert roll.fps == 60.0


def test_deepmimic_cycles_and_bad_files(tmp_path):
    one, two = load_deepmimic(["walk"])[0], load_deepmimic(["walk"], cycles=2)[0]
    assert two.num_frames == 2 * one.num_frames - 1
    step = np.linalg.norm(np.diff(two.joints3d[:, 0], axis=0), axis=-1)
    assert step.max() < 3 * np.median(step) + 1e-3  # no jump at the cycle seam
    with pytest.raises(D3PRError, match="not found"):
        read_clip(tmp_path / "humanoid3d_x.txt")
    (tmp_path / "humanoid3d_x.txt").write_text(json.dumps({"Frames": [[0.1] * 43] * 3}))
    with pytest.raises(D3PRError, match="44"):
        load_deepmimic(["x"], folder=tmp_path)
    (tmp_path / "humanoid3d_y.txt").write_text("{not json")
    with pytest.raises(D3PRError, match=r"humanoid3d_y\.txt"):
        load_deepmimic(["y"], folder=tmp_path)

"""VideoPose3D's Human3.6M files: stand-ins written in exactly its layout from h36m-fk17 and the
real cameras, read back through the ``videopose3d`` source for every 2D setting."""

import zipfile
from dataclasses import replace

import numpy as np
import pytest

from d3prefiner.data.cameras import H36M_CAMERA_IDS, load_h36m_cameras, project, world_to_camera
from d3prefiner.data.detector import DetectorProfile
from d3prefiner.data.sources import load_source
from d3prefiner.data.videopose3d import (
    FILES_2D,
    H36M_METADATA,
    load_npz_restricted,
    load_videopose3d,
    write_videopose3d,
)
from d3prefiner.errors import ArgumentError, D3PRError

SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
_NAMES = {"takingphoto": "Photo", "walkingdog": "WalkDog", "walkingtogether": "WalkTogether",
          "sittingdown": "SittingDown"}  # fmt: skip


def vp3d_action(fk17_name: str) -> str:
    """``directions_1`` → ``Directions``, ``directions_2`` → ``Directions 1`` (VideoPose3D's
    names: one take unnumbered, the other numbered; TakingPhoto → Photo, WalkingDog → WalkDog)."""
    base, take = fk17_name.rsplit("_", 1)
    name = _NAMES.get(base, base.capitalize())
    return name if take == "1" else f"{name} {int(take) - 1}"


def make_standin(folder, shared, frames=120, actions=("directions", "walking"), extra=3):
    """Stand-in VideoPose3D files in ``folder``: h36m-fk17's first ``frames`` frames of both
    takes of ``actions`` per subject (levelled, metres), the real cameras of each subject, GT 2D
    and CPN-like detections (``extra`` frames longer, unlabeled S2). Returns the sequences."""
    cams = load_h36m_cameras(shared / "mmpose-h36m-testdata" / "cameras.json")
    seqs = []
    for s in load_source("h36m-fk17", shared / "h36m-expmap-fk17", list(SUBJECTS)):
        if s.action.rsplit("_", 1)[0] not in actions:
            continue
        name = vp3d_action(s.action)
        if s.subject == "S11" and name == "Directions":
            continue  # VideoPose3D discards this corrupted video
        own = {c: cams[(s.subject, c)] for c in H36M_CAMERA_IDS}
        seqs.append(replace(s, action=name, joints3d=s.joints3d[:frames], cameras=own))
    profile = DetectorProfile()  # scale 1: CPN-like magnitudes
    write_videopose3d(folder, seqs, {"cpn_ft_h36m_dbb": profile}, seed=0, extra_frames=extra,
                      unlabeled=("S2",))  # fmt: skip
    (folder / "cameras.json").write_bytes(
        (shared / "mmpose-h36m-testdata" / "cameras.json").read_bytes()
    )
    return seqs


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    from conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"research data not available ({SHARED_DATA} is absent)")
    folder = tmp_path_factory.mktemp("vp3d")
    return folder, make_standin(folder, SHARED_DATA)


def test_standin_has_videopose3d_layout(standin):
    folder, seqs = standin
    with zipfile.ZipFile(folder / "data_3d_h36m.npz") as zf:
        assert zf.namelist() == ["positions_3d.npy"]
    for name in FILES_2D.values():
        with zipfile.ZipFile(folder / name) as zf:
            assert sorted(zf.namelist()) == ["metadata.npy", "positions_2d.npy"]
    pos3d = load_npz_restricted(folder / "data_3d_h36m.npz")["positions_3d"]
    assert sorted(pos3d) == sorted(SUBJECTS)
    assert "Directions" not in pos3d["S11"] and "Directions 1" in pos3d["S11"]
    assert sorted(pos3d["S1"]) == ["Directions", "Directions 1", "Walking", "Walking 1"]
    x = pos3d["S9"]["Walking"]
    assert x.dtype == np.float32 and x.shape == (120, 32, 3)
    assert 0.5 < np.median(x[:, 0, 2]) < 1.3  # pelvis height in metres, z up
    gt = load_npz_restricted(folder / FILES_2D["gt"])
    cpn = load_npz_restricted(folder / FILES_2D["cpn"])
    assert gt["metadata"] == cpn["metadata"] == H36M_METADATA
    views = gt["positions_2d"]["S9"]["Walking"]
    assert isinstance(views, list) and len(views) == 4
    assert all(v.dtype == np.float32 and v.shape == (120, 17, 2) for v in views)
    assert all(v.shape == (123, 17, 2) for v in cpn["positions_2d"]["S9"]["Walking"])
    assert "S2" in cpn["positions_2d"] and "S2" not in gt["positions_2d"]


def test_standin_reads_back_for_every_setting(standin):
    folder, seqs = standin
    by_name = {(s.subject, s.action): s for s in seqs}
    gt = load_source("videopose3d", folder, ["S9"], setting="gt")
    assert {s.action for s in gt} == {"Directions", "Directions 1", "Walking", "Walking 1"}
    s = next(q for q in gt if q.action == "Walking")
    assert s.fps == 50.0 and list(s.pose2d) == list(H36M_CAMERA_IDS)
    np.testing.assert_allclose(s.joints3d, by_name[("S9", "Walking")].joints3d, atol=1e-6)
    cam = s.cameras["58860488"]
    uv = project(world_to_camera(s.joints3d, cam), cam)
    np.testing.assert_allclose(s.pose2d["58860488"], uv, atol=1e-3)  # real camera, distorted
    assert np.all((uv > 0) & (uv < 1002))  # the person is in the picture
    cpn = next(q for q in load_source("videopose3d", folder, ["S9"], setting="cpn")
               if q.action == "Walking")  # fmt: skip
    err = np.linalg.norm(cpn.pose2d["58860488"] - uv, axis=-1)  # trimmed to the 3D's 120
    assert cpn.pose2d["58860488"].shape == (120, 17, 2) and 1.0 < err.mean() < 30.0
    det = load_source("videopose3d", folder, ["S9"], setting="detected")
    assert all(not q.pose2d and list(q.cameras) == list(H36M_CAMERA_IDS) for q in det)


def test_videopose3d_bad_files(standin, tmp_path):
    folder, _ = standin
    (tmp_path / "data_3d_h36m.npz").write_bytes((folder / "data_3d_h36m.npz").read_bytes())
    with pytest.raises(D3PRError, match="cpn_ft_h36m_dbb.npz: file not found"):
        load_source("videopose3d", tmp_path, setting="cpn")
    with pytest.raises(ArgumentError, match="nowhere.json: file not found"):
        load_source("videopose3d", tmp_path, setting="gt", camera_file=tmp_path / "nowhere.json")
    with pytest.raises(ArgumentError, match="cpn needs detections"):
        load_source("h36m-fk17", None, ["S9"], setting="cpn")
    meta = dict(H36M_METADATA, num_joints=16, layout_name="mpii")
    np.savez(tmp_path / "sh.npz", positions_2d={"S9": {}}, metadata=meta)
    with pytest.raises(D3PRError, match="layout 'mpii' with 16 joints"):
        load_videopose3d(tmp_path / "data_3d_h36m.npz", tmp_path / "sh.npz")


def test_the_quoted_paper_rows_are_the_papers():
    """Every row of ``study.paper`` is, number for number, its row of Table I (CPN) or II (GT)."""
    import re

    from conftest import SHARED_DATA
    from d3prefiner.study.paper import COLUMNS, PAPER_MPJPE, paper_rows

    path = SHARED_DATA.parent / "paper" / "D3PRefiner.txt"
    if not path.is_file():
        pytest.skip(f"the paper is not available ({path})")
    lines = path.read_text().splitlines()
    start = {"cpn": lines.index(next(x for x in lines if x.startswith("TABLE I:"))),
             "gt": lines.index(next(x for x in lines if x.startswith("TABLE II:")))}  # fmt: skip
    assert len(PAPER_MPJPE) == 8
    for (setting, model, t), rows in PAPER_MPJPE.items():
        for name, row in rows.items():
            label = {"mixste": "MixSTE", "stcformer": "STCFormer"}[model]
            label += "+ours" if name == "refined" else ""
            line = next(x for x in lines[start[setting] :] if x.startswith(f"| {label} (T={t})"))
            printed = [float(v) for v in re.findall(r"\d+\.\d", line)]
            assert [row[c] for c in COLUMNS[:15]] == printed[:15], (setting, model, t, name)
            if len(printed) > 15:  # the Avg. cell (STCFormer's CPN averages share one cell)
                assert row["avg"] in printed[15:]
    assert (
        paper_rows("cpn", "stcformer", 100)[0] == 81 and paper_rows("gt", "mixste", 200)[0] == 243
    )
    assert paper_rows("detected", "mixste", 81) is None and paper_rows("gt", "tcn", 81) is None


def test_cameras_json_from_videopose3d_parameters(tmp_path):
    """VideoPose3D's own numbers for S1's first camera (its h36m_dataset.py) give the camera of
    the real cameras JSON: the quaternion is camera→world, the tangential pair is swapped."""
    import json

    from conftest import SHARED_DATA
    from d3prefiner.data.cameras import convert_videopose3d_cameras

    intrinsic = [{"id": "54138969", "center": [512.54150390625, 515.4514770507812],
                  "focal_length": [1145.0494384765625, 1143.7811279296875],
                  "radial_distortion": [-0.20709891617298126, 0.24777518212795258,
                                        -0.0030751503072679043],
                  "tangential_distortion": [-0.0009756988729350269, -0.00142447161488235],
                  "res_w": 1000, "res_h": 1002}]  # fmt: skip
    intrinsic += [dict(intrinsic[0], id=str(i)) for i in range(3)]
    extrinsic = {"S1": [{"orientation": [0.1407056450843811, -0.1500701755285263,
                                         -0.755240797996521, 0.6223280429840088],
                         "translation": [1841.1070556640625, 4955.28466796875, 1563.4454345703125]},
                        {}, {}, {}], "S2": [{}, {}, {}, {}]}  # fmt: skip
    (tmp_path / "vp3d.json").write_text(
        json.dumps({"intrinsic": intrinsic, "extrinsic": extrinsic})
    )
    out = convert_videopose3d_cameras(tmp_path / "vp3d.json", tmp_path / "cameras.json")
    (mine,) = load_h36m_cameras(out).values()
    real = SHARED_DATA / "mmpose-h36m-testdata" / "cameras.json"
    if not real.is_file():
        pytest.skip(f"research data not available ({real})")
    ref = load_h36m_cameras(real)[("S1", "54138969")]
    for key in ("R", "t", "f", "c", "k", "p"):
        np.testing.assert_allclose(getattr(mine, key), getattr(ref, key), atol=2e-4, err_msg=key)
    extrinsic["S1"][0]["orientation"] = [0.0, 0.0, 0.0, 0.0]
    (tmp_path / "bad.json").write_text(json.dumps({"intrinsic": intrinsic, "extrinsic": extrinsic}))
    with pytest.raises(D3PRError):
        convert_videopose3d_cameras(tmp_path / "bad.json", tmp_path / "bad_out.json")
    assert not (tmp_path / "bad_out.json").exists()

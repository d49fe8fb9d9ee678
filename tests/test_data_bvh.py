"""BVH reader (parsing, forward kinematics by hand), H36M-17 mapping, units, the bvh and
npz-folder sources — all on small files written here."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from d3prefiner.cli import app
from d3prefiner.data.bvh import read_bvh
from d3prefiner.data.mocap import (
    guess_units,
    h36m_mapping,
    load_bvh,
    load_bvh_source,
    load_npz_folder,
    name_key,
)
from d3prefiner.data.sources import load_source
from d3prefiner.errors import D3PRError
from d3prefiner.skeleton import H36M17

IDX = {n: i for i, n in enumerate(H36M17.names)}

TWO_JOINTS = """HIERARCHY
ROOT Hips
{
  OFFSET 1 0 0
  CHANNELS 6 Xposition Yposition Zposition {order}
  JOINT Chest
  {{
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {{
      OFFSET 0 0 5
    }}
  }}
}}
MOTION
Frames: 2
Frame Time: 0.0333333
0 0 0 0 0 0 0 0 0
1 2 3 {frame1}
"""


def _two_joints(tmp_path, order="Zrotation Xrotation Yrotation", frame1="90 0 0 0 0 90"):
    text = TWO_JOINTS.replace("{order}", order).replace("{frame1}", frame1)
    text = text.replace("{{", "{").replace("}}", "}")
    p = tmp_path / "two.bvh"
    p.write_text(text)
    return read_bvh(p)


def test_forward_kinematics_by_hand(tmp_path):
    b = _two_joints(tmp_path)
    assert b.names == ("Hips", "Chest", "Chest_End") and b.parents == (-1, 0, 1)
    assert b.num_frames == 2 and b.frame_time == pytest.approx(1 / 30, rel=1e-5)
    x = b.positions()  # (F, J, 3)
    assert x.shape == (2, 3, 3)
    # frame 0: rest pose; the root sits at its OFFSET
    np.testing.assert_allclose(x[0], [[1, 0, 0], [1, 10, 0], [1, 10, 5]], atol=1e-12)
    # frame 1: root at OFFSET + (1, 2, 3), Rz(90) takes the chest's (0, 10, 0) to (-10, 0, 0);
    # the chest's Ry(90) takes the tip's (0, 0, 5) to (5, 0, 0), then Rz(90) to (0, 5, 0)
    np.testing.assert_allclose(x[1], [[2, 2, 3], [-8, 2, 3], [-8, 7, 3]], atol=1e-12)
    np.testing.assert_allclose(b.positions(chunk=1), x)  # chunked over frames: the same


def test_channel_order_is_the_listed_order(tmp_path):
    # Zrotation 90 then Xrotation 90: R = Rz·Rx; the chest (0, 10, 0) → Rx → (0, 0, 10) → Rz → same
    zx = _two_joints(tmp_path, "Zrotation Xrotation Yrotation", "90 90 0 0 0 0").positions()
    np.testing.assert_allclose(zx[1, 1], [2, 2, 13], atol=1e-12)
    # Xrotation 90 then Zrotation 90: R = Rx·Rz; (0, 10, 0) → Rz → (-10, 0, 0) → Rx → same
    xz = _two_joints(tmp_path, "Xrotation Zrotation Yrotation", "90 90 0 0 0 0").positions()
    np.testing.assert_allclose(xz[1, 1], [-8, 2, 3], atol=1e-12)
    # Yrotation first, about the listed axis: the tip (0, 0, 5) under Ry(90) → (5, 0, 0)
    y = _two_joints(tmp_path, "Yrotation Xrotation Zrotation", "90 0 0 0 0 0").positions()
    np.testing.assert_allclose(y[1, 2], [2 + 5, 12, 3], atol=1e-12)
    # Xrotation -90 about x: (0, 10, 0) → (0, 0, -10)
    x = _two_joints(tmp_path, "Xrotation Yrotation Zrotation", "-90 0 0 0 0 0").positions()
    np.testing.assert_allclose(x[1, 1], [2, 2, -7], atol=1e-12)


def test_position_channel_order_and_joint_translations(tmp_path):
    text = """HIERARCHY
ROOT root {
  OFFSET 0 0 0
  CHANNELS 3 Zposition Xposition Yposition
  JOINT Bip01 L Thigh {
    OFFSET 5 0 0
    CHANNELS 4 Xposition Zrotation Yposition Xrotation
    End Site { OFFSET 0 -1 0 }
  }
}
MOTION
Frames: 1
Frame Time: 0.01
3 1 2   7 90 8 0
"""
    p = tmp_path / "t.bvh"
    p.write_text(text)
    b = read_bvh(p)
    assert b.names == ("root", "Bip01 L Thigh", "Bip01 L Thigh_End")  # names keep their spaces
    x = b.positions()[0]
    np.testing.assert_allclose(x[0], [1, 2, 3])  # z=3, x=1, y=2
    # non-root position channels replace the OFFSET per axis (x=7, y=8; z keeps the OFFSET's 0)
    np.testing.assert_allclose(x[1], [8, 10, 3])
    np.testing.assert_allclose(x[2], [9, 10, 3])  # Rz(90)·(0, -1, 0) = (1, 0, 0)


# ------------------------------------------------------------------------ a humanoid writer

CMU = dict(
    hips="Hips", lup="LeftUpLeg", lleg="LeftLeg", lfoot="LeftFoot", rup="RightUpLeg",
    rleg="RightLeg", rfoot="RightFoot", spine="Spine", spine1="Spine1", neck="Neck", head="Head",
    lcl="LeftShoulder", larm="LeftArm", lfore="LeftForeArm", lhand="LeftHand",
    rcl="RightShoulder", rarm="RightArm", rfore="RightForeArm", rhand="RightHand",
)  # fmt: skip
MIXAMO = {k: f"mixamorig:{v}" for k, v in CMU.items()}
BANDAI = dict(
    hips="Hips", lup="UpperLeg_L", lleg="LowerLeg_L", lfoot="Foot_L", rup="UpperLeg_R",
    rleg="LowerLeg_R", rfoot="Foot_R", spine="Spine", spine1="Chest", neck="Neck", head="Head",
    lcl="Shoulder_L", larm="UpperArm_L", lfore="LowerArm_L", lhand="Hand_L",
    rcl="Shoulder_R", rarm="UpperArm_R", rfore="LowerArm_R", rhand="Hand_R",
)  # fmt: skip
ODD = {k: f"J_{k}" for k in CMU}  # names no table knows

# (key, parent key, offset in metres, y-up, facing +z: the person's left is +x)
BODY = (
    ("hips", None, (0, 0.95, 0)),
    ("lup", "hips", (0.1, -0.05, 0)), ("lleg", "lup", (0, -0.42, 0)),
    ("lfoot", "lleg", (0, -0.42, 0)),
    ("rup", "hips", (-0.1, -0.05, 0)), ("rleg", "rup", (0, -0.42, 0)),
    ("rfoot", "rleg", (0, -0.42, 0)),
    ("spine", "hips", (0, 0.1, 0)), ("spine1", "spine", (0, 0.15, 0)),
    ("neck", "spine1", (0, 0.25, 0)), ("head", "neck", (0, 0.1, 0)),
    ("lcl", "spine1", (0.05, 0.2, 0)), ("larm", "lcl", (0.13, 0, 0)),
    ("lfore", "larm", (0.28, 0, 0)), ("lhand", "lfore", (0.25, 0, 0)),
    ("rcl", "spine1", (-0.05, 0.2, 0)), ("rarm", "rcl", (-0.13, 0, 0)),
    ("rfore", "rarm", (-0.28, 0, 0)), ("rhand", "rfore", (-0.25, 0, 0)),
)  # fmt: skip
TIPS = {"head": (0, 0.12, 0), "lfoot": (0, -0.05, 0.12), "rfoot": (0, -0.05, 0.12)}


def humanoid_bvh(
    names=CMU, scale=100.0, frames=3, frame_time=1 / 120, up="y", tips=TIPS, body=BODY
) -> str:
    """A humanoid in ``scale`` units per metre; frame k walks 0.1·k m along +z and turns the
    left knee by 30·k degrees about x."""
    out = ["HIERARCHY"]

    def node(key, depth):
        pad = "  " * depth
        off = np.array(next(o for k, _, o in body if k == key), dtype=float) * scale
        if up == "z":
            off = np.array([off[0], -off[2], off[1]])  # (x, y, z) y-up → (x, -z, y) z-up
        kind = "ROOT" if depth == 0 else "JOINT"
        chans = (
            "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
            if depth == 0
            else ("3 Zrotation Xrotation Yrotation")
        )
        out.extend(
            [f"{pad}{kind} {names[key]}", f"{pad}{{", f"{pad}  OFFSET {' '.join(map(str, off))}"]
        )
        out.append(f"{pad}  CHANNELS {chans}")
        for k, parent, _ in body:
            if parent == key:
                node(k, depth + 1)
        if key in tips:
            tip = np.array(tips[key]) * scale
            if up == "z":
                tip = np.array([tip[0], -tip[2], tip[1]])
            tip = " ".join(map(str, tip))
            out.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {tip}", f"{pad}  }}"])
        out.append(f"{pad}}}")

    node("hips", 0)
    out += ["MOTION", f"Frames: {frames}", f"Frame Time: {frame_time:.6f}"]
    order = [k for k, _, _ in _preorder(body)]
    for f in range(frames):
        row = []
        for key in order:
            if key == "hips":
                walk = (0.0, 0.0, 0.1 * f * scale) if up == "y" else (0.0, -0.1 * f * scale, 0.0)
                row += [*walk, 0, 0, 0]
            else:
                row += [0, 30 * f if key == "lleg" else 0, 0]
        out.append(" ".join(f"{v:.12g}" for v in row))
    return "\n".join(out) + "\n"


def _preorder(body, key="hips"):
    yield next(b for b in body if b[0] == key)
    for k, parent, _ in body:
        if parent == key:
            yield from _preorder(body, k)


# --------------------------------------------------------------------------------- mapping


def test_name_keys():
    assert name_key("mixamorig:LeftUpLeg") == ("l", "upleg")
    assert name_key("UpperLeg_R") == ("r", "upperleg")
    assert name_key("Bip01 L Thigh") == ("l", "thigh")
    assert name_key("lShldr") == ("l", "shldr")
    assert name_key("HipLeft") == ("l", "hip")
    assert name_key("Hips") == ("", "hips")
    assert name_key("HeadTop_End") == ("", "headtopend")
    assert name_key("LHipJoint") == ("l", "hipjoint")


@pytest.mark.parametrize("names", [CMU, MIXAMO, BANDAI], ids=["cmu", "mixamo", "bandai"])
def test_naming_schemes_map_to_h36m(tmp_path, names):
    p = tmp_path / "a.bvh"
    p.write_text(humanoid_bvh(names))
    m = h36m_mapping(read_bvh(p))
    how = dict(zip(H36M17.names, m.how))
    assert how["LHip"] == names["lup"] and how["RKnee"] == names["rleg"]
    assert how["LFoot"] == names["lfoot"] and how["Thorax"] == names["neck"]
    assert how["LShoulder"] == names["larm"]  # not the clavicle
    assert how["RWrist"] == names["rhand"] and how["Neck/Nose"] == names["head"]
    assert how["Head"] == f"{names['head']}_End" and how["Hip"] == names["hips"]
    assert how["Spine"] == names["spine1"]  # at the trunk's midpoint in the rest pose
    np.testing.assert_allclose(m.weights.sum(1), 1.0)


def test_load_bvh_metres_z_up_and_units(tmp_path):
    (tmp_path / "cm.bvh").write_text(humanoid_bvh(scale=100.0))
    (tmp_path / "inch.bvh").write_text(humanoid_bvh(scale=1 / 0.0254, names=MIXAMO))
    (tmp_path / "zup.bvh").write_text(humanoid_bvh(scale=1.0, up="z", names=BANDAI))
    a = load_bvh(tmp_path / "cm.bvh", units="cm")
    assert a.joints3d.shape == (3, 17, 3) and a.fps == 120.0
    assert (a.subject, a.action) == (tmp_path.name, "cm")
    J = a.joints3d[0]
    # z-up: ankles on the ground, pelvis 0.89 m up (0.95 − 0.05 − 0.84), head top 1.68 m
    assert J[IDX["LFoot"], 2] == pytest.approx(0.0, abs=1e-9)
    assert J[IDX["Hip"], 2] == pytest.approx(0.89)
    assert J[IDX["Head"], 2] == pytest.approx(0.89 + 0.5 + 0.1 + 0.12)
    assert J[IDX["Thorax"], 2] > J[IDX["Spine"], 2] > J[IDX["Hip"], 2] > J[IDX["LKnee"], 2]
    np.testing.assert_allclose(J[IDX["Hip"], :2], 0.0, atol=1e-12)  # first pelvis at x = y = 0
    # the walk along the file's +z (forward) becomes −y after (x, y, z) → (x, −z, y)
    np.testing.assert_allclose(a.joints3d[2, IDX["Hip"]] - J[IDX["Hip"]], [0, -0.2, 0], atol=1e-9)
    # the left knee turned 60° about x: the ankle swings back, 0.42 m from the knee
    knee, ankle = a.joints3d[2, IDX["LKnee"]], a.joints3d[2, IDX["LFoot"]]
    assert np.linalg.norm(ankle - knee) == pytest.approx(0.42)
    assert (knee - ankle)[2] == pytest.approx(0.42 * np.cos(np.radians(60)))
    for other, kw in (("cm.bvh", {}), ("inch.bvh", {}), ("zup.bvh", {"up": "z"})):
        b = load_bvh(tmp_path / other, units="auto", **kw)
        np.testing.assert_allclose(b.joints3d, a.joints3d, atol=1e-9)
    assert guess_units(a.joints3d * 1000, "x")[0] == "mm"
    assert guess_units(a.joints3d / (0.0254 / 0.45), "x")[0] == "cmu"
    with pytest.raises(D3PRError, match="cannot guess the units"):
        guess_units(a.joints3d * 5, "x.bvh")
    assert load_bvh(tmp_path / "cm.bvh", units=0.01, fps=60).fps == 60


def test_mapping_file(tmp_path):
    p = tmp_path / "odd.bvh"
    p.write_text(humanoid_bvh(ODD))
    with pytest.raises(D3PRError, match=r"odd\.bvh: no joint found for RHip, RKnee"):
        load_bvh(p, units="cm")
    mapping = {
        "_comment": "keys: H36M-17 names; values: BVH joints",
        "RHip": "J_rup", "RKnee": "J_rleg", "RFoot": "J_rfoot", "LHip": "J_lup",
        "lknee": "j_lleg", "LFoot": "J_lfoot", "LShoulder": "J_larm", "LElbow": "J_lfore",
        "LWrist": "J_lhand", "RShoulder": "J_rarm", "RElbow": "J_rfore", "RWrist": "J_rhand",
        "Pelvis": ["J_lup", "J_rup"], "Thorax": "J_neck", "Nose": "J_head",
    }  # fmt: skip
    f = tmp_path / "map.json"
    f.write_text(json.dumps(mapping))
    seq = load_bvh(p, units="cm", mapping=f)
    ref_file = tmp_path / "cmu" / "ref.bvh"
    ref_file.parent.mkdir()
    ref_file.write_text(humanoid_bvh(CMU))
    ref = load_bvh(ref_file, units="cm")
    same = [n for n in H36M17.names if n != "Hip"]
    np.testing.assert_allclose(seq.joints3d[:, [IDX[n] for n in same]],
                               ref.joints3d[:, [IDX[n] for n in same]], atol=1e-9)  # fmt: skip
    m = h36m_mapping(read_bvh(p), mapping)
    how = dict(zip(H36M17.names, m.how))
    assert how["Hip"] == "mean(J_lup, J_rup)"  # the list's mean; the CMU Hips sits 5 cm higher
    assert how["Spine"] == "J_spine1" and how["Head"] == "J_head_End"
    f.write_text(json.dumps({"Kneecap": "J_lleg"}))
    with pytest.raises(D3PRError, match=r"map\.json: 'Kneecap' is not an H36M-17 joint"):
        load_bvh(p, mapping=f)
    f.write_text(json.dumps({"LKnee": "NoSuchJoint"}))
    with pytest.raises(D3PRError, match="'NoSuchJoint' for LKnee, which the skeleton lacks"):
        load_bvh(p, mapping=f)


def test_synthesised_joints(tmp_path):
    # no Hips-named root, no neck, no head End Site: Hip, Thorax and Head are synthesised
    names = dict(CMU, hips="Root", neck="UpperBack")
    p = tmp_path / "s.bvh"
    p.write_text(humanoid_bvh(names, tips={}))
    how = dict(zip(H36M17.names, h36m_mapping(read_bvh(p)).how))
    assert how["Hip"] == "mean(LHip, RHip)" and how["Thorax"] == "mean(LShoulder, RShoulder)"
    assert how["Spine"] == "Spine1"  # the shoulders' common ancestor, mid-trunk
    assert how["Head"] == "Neck/Nose + (Neck/Nose - Thorax)"
    J = load_bvh(p, units="cm").joints3d[0]
    np.testing.assert_allclose(J[IDX["Hip"]], (J[IDX["LHip"]] + J[IDX["RHip"]]) / 2)
    np.testing.assert_allclose(J[IDX["Head"]], 2 * J[IDX["Neck/Nose"]] - J[IDX["Thorax"]])
    # no joint between the hips and the neck: Spine is the trunk's midpoint
    flat = [b for b in BODY if b[0] not in ("spine", "spine1")]
    flat = [(k, "hips" if par in ("spine", "spine1") else par, o) for k, par, o in flat]
    flat = [(k, par, (o[0], 0.45, 0) if k in ("lcl", "rcl") else (0, 0.5, 0) if k == "neck" else o)
            for k, par, o in flat]  # fmt: skip
    p.write_text(humanoid_bvh(body=flat))
    how = dict(zip(H36M17.names, h36m_mapping(read_bvh(p)).how))
    assert how["Spine"] == "mean(Hip, Thorax)" and how["Thorax"] == "Neck"
    J = load_bvh(p, units="cm").joints3d[0]
    np.testing.assert_allclose(J[IDX["Spine"]], (J[IDX["Hip"]] + J[IDX["Thorax"]]) / 2)


# ----------------------------------------------------------------------------- bad files

GOOD = (
    TWO_JOINTS.replace("{order}", "Zrotation Xrotation Yrotation")
    .replace("{frame1}", "90 0 0 0 0 90")
    .replace("{{", "{")
    .replace("}}", "}")
)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda t: t.replace("HIERARCHY", "HIERARCHIES"), r"bad\.bvh:1: not a BVH file"),
        (lambda t: t.replace("Zrotation Xrotation Yrotation\n", "Zrotation Wrotation Y\n"),
         r"bad\.bvh:5: unknown channel 'Wrotation' of 'Hips'"),
        (lambda t: t.replace("OFFSET 0 10 0", "OFFSET 0 ten 0"),
         r"bad\.bvh:8: OFFSET of 'Chest': 'ten' is not a"),
        (lambda t: t.replace("  }\n}\nMOTION", "  }\nMOTION"), r"bad\.bvh:\d+: .*'\}' closing"),
        (lambda t: t.replace("1 2 3 90 0 0 0 0 90", "1 2 3 90 0 0 0 0"), r"bad\.bvh:20: 8 values"),
        (lambda t: t.replace("1 2 3 90", "1 2 x 90"), r"bad\.bvh:20: 'x' is not a number"),
        (lambda t: t.replace("Frames: 2", "Frames: 3"), r"bad\.bvh:17: Frames: 3 but 2 .*trunc"),
        (lambda t: t.replace("Frame Time: 0.0333333", "Frame Time: 0"), r"bad\.bvh:18: Frame Time"),
        (lambda t: t.replace("Frames: 2", "Frame 2"), r"bad\.bvh:17: expected 'Frames: <number>'"),
        (lambda t: t.split("MOTION")[0], r"bad\.bvh:\d+: no MOTION section"),
        (lambda t: t.replace("CHANNELS 3 Z", "CHANNELS 9 Z"), r"bad\.bvh:9: CHANNELS .* 0-6"),
        (lambda t: t.replace("0 0 0 0 0 0 0 0 0", "0 0 0 0 0 0 0 0 nan"), r"bad\.bvh:19: NaN"),
        (lambda t: "", r"bad\.bvh:1: not a BVH file.*empty"),
    ],
)  # fmt: skip
def test_malformed_files_name_the_line(tmp_path, edit, match):
    p = tmp_path / "bad.bvh"
    p.write_text(edit(GOOD))
    with pytest.raises(D3PRError, match=match):
        read_bvh(p)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(D3PRError, match="not found"):
        read_bvh(tmp_path / "nope.bvh")
    (tmp_path / "bin.bvh").write_bytes(b"\x00\x01\x02")
    with pytest.raises(D3PRError, match="binary"):
        read_bvh(tmp_path / "bin.bvh")
    (tmp_path / "empty").mkdir()
    with pytest.raises(D3PRError, match="no .bvh files"):
        load_bvh_source(tmp_path / "empty")


# -------------------------------------------------------------------------------- sources


def test_bvh_source(tmp_path):
    root = tmp_path / "mocap"
    for subject, names in (("01", CMU), ("02", MIXAMO)):
        (root / subject).mkdir(parents=True)
        for k in (1, 2):
            (root / subject / f"{subject}_{k:02d}.bvh").write_text(humanoid_bvh(names))
    (root / "03").mkdir()
    (root / "03" / "walk.bvh").write_text(humanoid_bvh(BANDAI, scale=1.0, up="z", frame_time=0.02))
    (root / "03" / "bvh.json").write_text(json.dumps({"units": "m", "up": "z"}))
    (root / "loose.bvh").write_text(humanoid_bvh(CMU, scale=100.0))
    seqs = load_source("bvh", root)
    assert [(s.subject, s.action) for s in seqs] == [
        ("01", "01_01"), ("01", "01_02"), ("02", "02_01"), ("02", "02_02"), ("03", "walk"),
        ("mocap", "loose"),
    ]  # fmt: skip
    for s in seqs:
        assert s.joints3d.shape == (3, 17, 3)
        np.testing.assert_allclose(s.joints3d, seqs[0].joints3d, atol=1e-9)  # metres, z-up
    assert [s.fps for s in seqs] == [120.0] * 4 + [50.0, 120.0]
    only = load_source("bvh", root, subjects=["03"])
    assert [s.action for s in only] == ["walk"]
    with pytest.raises(D3PRError, match=r"no files for subject\(s\) 99"):
        load_source("bvh", root, subjects=["99"])
    with pytest.raises(D3PRError, match="no standard split.*e.g. 01,02"):
        load_source("bvh", root, subjects=[])
    one = load_source("bvh", root / "01" / "01_02.bvh")
    assert [(s.subject, s.action) for s in one] == [("01", "01_02")]
    with pytest.raises(D3PRError, match="path is needed by source bvh"):
        load_source("bvh")
    (root / "bvh.json").write_text(json.dumps({"unit": "cm"}))
    with pytest.raises(D3PRError, match=r"bvh\.json: unknown option\(s\) unit"):
        load_source("bvh", root)
    # a mapping file named in bvh.json, relative to it
    (root / "bvh.json").write_text(json.dumps({"mapping": "map.json", "units": "cm"}))
    (root / "map.json").write_text(json.dumps({"Spine": "Spine"}))
    seqs = load_source("bvh", root, subjects=["01"])
    J = seqs[0].joints3d[0]
    assert J[IDX["Spine"], 2] == pytest.approx(0.89 + 0.1)


def test_cli_data_info_bvh(tmp_path):
    (tmp_path / "S1").mkdir()
    (tmp_path / "S1" / "a.bvh").write_text(humanoid_bvh(frames=240))
    res = CliRunner().invoke(app, ["data", "info", "bvh", "--path", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "S1" in res.output and "240" in res.output and "120" in res.output


def test_npz_folder_any_file_names(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "seq.bvh").write_text(humanoid_bvh(frames=4))
    pose = load_bvh(tmp_path / "seq.bvh", units="cm").joints3d  # (4, 17, 3) m
    folder = tmp_path / "poses"
    folder.mkdir()
    np.savez(
        folder / "alice.npz", jump=pose * 1000, walk=pose * 1000 + rng.normal(0, 1, pose.shape)
    )
    np.savez(folder / "Bob 2.npz", sit=(pose * 1000).astype(np.float32))
    (folder / "notes.txt").write_text("ignored")
    seqs = load_source("npz-folder", folder)
    assert [(s.subject, s.action) for s in seqs] == [("Bob 2", "sit"), ("alice", "jump"),
                                                     ("alice", "walk")]  # fmt: skip
    assert all(s.fps == 50.0 and s.joints3d.shape == (4, 17, 3) for s in seqs)
    np.testing.assert_allclose(seqs[1].joints3d, pose, atol=1e-9)  # mm → m, ground at 0
    assert [s.subject for s in load_source("npz-folder", folder, ["alice"])] == ["alice"] * 2
    (folder / "npz-folder.json").write_text(json.dumps({"units": "auto", "fps": 25}))
    seqs = load_npz_folder(folder, ["alice"])
    assert seqs[0].fps == 25.0
    np.testing.assert_allclose(seqs[0].joints3d, pose, atol=1e-9)
    np.savez(folder / "carol.npz", bad=np.zeros((4, 16, 3)))
    with pytest.raises(D3PRError, match=r"carol\.npz: action 'bad' has shape \(4, 16, 3\)"):
        load_source("npz-folder", folder)
    with pytest.raises(D3PRError, match="no .npz files"):
        load_source("npz-folder", tmp_path)

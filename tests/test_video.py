"""The video pipeline's parts on hand-made input: joint mappings, gap filling, tracking,
keypoints files, normalisation (no OpenCV or MediaPipe needed)."""

import json

import numpy as np
import pytest

from d3prefiner.errors import D3PRError
from d3prefiner.skeleton import H36M17
from d3prefiner.video.gaps import fill_gaps, fill_joint, segments
from d3prefiner.video.joints import BLAZEPOSE33_NAMES, BLAZEPOSE_TO_COCO, to_h36m17
from d3prefiner.video.kpfile import Keypoints, read_keypoints
from d3prefiner.video.lift import normalise
from d3prefiner.video.motion import person_segments
from d3prefiner.video.persons import iou, rank_tracks, suppress, track_boxes


def _index_points(n_joints: int) -> np.ndarray:
    """One frame whose joint j sits at x = j, y = 2j (so a mapped joint names its sources)."""
    j = np.arange(n_joints, dtype=float)
    return np.stack([j, 2 * j], axis=-1)[None]  # (1, J, 2)


def test_blazepose_to_h36m_by_hand():
    names = dict(zip(H36M17.names, range(17)))
    out, conf = to_h36m17(_index_points(33), np.linspace(0.1, 0.9, 33)[None])
    x = out[0, :, 0]
    assert x[names["Hip"]] == pytest.approx((23 + 24) / 2)  # mean of left and right hip
    assert x[names["Thorax"]] == pytest.approx((11 + 12) / 2)  # mean of the shoulders
    assert x[names["Spine"]] == pytest.approx((23 + 24 + 11 + 12) / 4)
    assert x[names["Head"]] == pytest.approx((2 + 5 + 7 + 8) / 4)  # eyes and ears
    assert x[names["Neck/Nose"]] == 0
    assert x[names["RFoot"]] == 28 and x[names["LFoot"]] == 27  # ankles
    assert x[names["RWrist"]] == 16 and x[names["LElbow"]] == 13
    assert out[0, names["Hip"], 1] == pytest.approx(23 + 24)  # y = 2j: each coordinate averaged
    c = np.linspace(0.1, 0.9, 33)
    assert conf[0, names["Head"]] == pytest.approx(min(c[[2, 5, 7, 8]]))  # the lowest source
    assert [BLAZEPOSE33_NAMES[i] for i in BLAZEPOSE_TO_COCO][:3] == [
        "nose",
        "left_eye",
        "right_eye",
    ]


def test_coco_and_3d_mapping_and_wrong_joint_count():
    out, conf = to_h36m17(_index_points(17))
    assert out[0, 0, 0] == pytest.approx((11 + 12) / 2) and out[0, 10, 0] == pytest.approx(2.5)
    assert np.all(conf == 1)
    world = np.random.default_rng(0).normal(size=(4, 33, 3))
    w17, _ = to_h36m17(world)  # 3D: every coordinate mapped the same way
    assert np.allclose(w17[:, 0], world[:, [23, 24]].mean(1))
    with pytest.raises(D3PRError, match="17 or 33"):
        to_h36m17(np.zeros((2, 18, 2)))


def test_fill_joint_interpolates_short_gaps_and_holds_ends():
    x = np.arange(10, dtype=float)[:, None] * [1.0, 10.0]
    missing = np.zeros(10, bool)
    missing[[0, 3, 4, 9]] = True
    out, filled = fill_joint(np.where(missing[:, None], 99.0, x), missing, max_gap=2)
    assert np.allclose(out[1:9], x[1:9])  # frames 3, 4 linearly between 2 and 5
    assert out[0, 0] == 1 and out[9, 0] == 8  # ends held at the nearest value
    assert filled.tolist() == missing.tolist()
    long = np.arange(10) >= 4  # 6 frames: too long to bridge
    out, filled = fill_joint(x, long, max_gap=3)  # low confidence, values given: kept as they are
    assert np.array_equal(out, x) and not filled.any()
    out, filled = fill_joint(np.where(long[:, None], np.nan, x), long, max_gap=3)  # absent
    assert np.isnan(out[4:]).all() and np.array_equal(out[:4], x[:4]) and not filled.any()


def test_fill_gaps_low_confidence_and_segments_split_on_long_gaps():
    pts = np.ones((20, 17, 2))
    conf = np.ones((20, 17))
    conf[5, 3] = 0.1  # one joint low for one frame: filled
    conf[0:9, 13] = 0.1  # a wrist low for 9 frames: kept, not filled, no split
    pts[10:17] = np.nan  # nobody for 7 frames: the track splits
    f = fill_gaps(pts, conf, min_conf=0.3, max_gap=2)
    assert f.filled[5, 3] and f.conf[5, 3] == 0 and f.valid[5]
    assert not f.filled[:9, 13].any() and f.conf[0, 13] == pytest.approx(0.1)
    assert not f.valid[10:17].any()
    assert segments(f.valid, min_len=3) == [(0, 10), (17, 20)]
    assert segments(f.valid, min_len=5) == [(0, 10)]


def test_person_segments_keep_video_frame_numbers():
    rng = np.random.default_rng(1)
    pts = rng.uniform(100, 200, size=(30, 33, 2))
    vis = np.ones((30, 33))
    pts[12:20] = np.nan
    kp = Keypoints(pts, vis, 640, 480, 25.0, rng.normal(size=(30, 33, 3)) * 0.2, start=100)
    segs = person_segments(kp, 2, 0.3, 5, 5)
    assert [(s.start, s.frames, s.person) for s in segs] == [(100, 12, 2), (120, 10, 2)]
    assert np.allclose(segs[0].world[:, 0], 0)  # root-relative


def test_iou_and_suppression_by_hand():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]])
    assert iou(a, b)[0].tolist() == pytest.approx([50 / 150, 0])
    dets = np.array([[0, 0, 10, 10, 0.5], [1, 0, 11, 10, 0.9], [50, 50, 60, 60, 0.1]])
    kept = suppress(dets)
    assert kept[:, 4].tolist() == [0.9, 0.1]


def test_tracking_two_people_through_a_missed_frame():
    dets = []
    for t in range(12):
        a = [10 + 3 * t, 50, 40 + 3 * t, 130, 1.0]  # walks right
        b = [300 - 3 * t, 60, 330 - 3 * t, 140, 0.8]  # walks left
        frame = [b] if t == 4 else [b, a]  # a missed in frame 4
        if t == 8:
            frame.append([600, 0, 620, 40, 0.3])  # a one-frame false detection
        dets.append(np.array(frame, dtype=float))
    tracks = rank_tracks(track_boxes(dets, max_age=2), min_detections=5)
    assert len(tracks) == 2
    assert [len(k.boxes) for k in tracks] == [12, 11]
    walker = tracks[1]
    boxes = walker.box_per_frame()
    assert boxes.shape == (12, 4) and boxes[4, 0] == pytest.approx(10 + 3 * 4)  # interpolated
    assert boxes[11, 0] == pytest.approx(10 + 33)


def test_normalise_like_videopose3d():
    p = np.array([[0.0, 0.0], [1000.0, 500.0], [500.0, 250.0]])
    assert normalise(p, 1000, 500).tolist() == [[-1, -0.5], [1, 0.5], [0, 0]]


def test_keypoints_files_json_and_npz(tmp_path):
    frame = [[10.0 + j, 20.0, 0.9] for j in range(17)]
    d = {"width": 640, "height": 480, "fps": 30, "keypoints": [frame, None, frame]}
    (tmp_path / "k.json").write_text(json.dumps(d))
    kp = read_keypoints(tmp_path / "k.json")
    assert kp.points.shape == (3, 17, 2) and np.isnan(kp.points[1]).all()
    assert kp.layout == "coco17" and kp.fps == 30 and kp.conf[0, 0] == pytest.approx(0.9)
    np.savez(tmp_path / "k.npz", keypoints=np.zeros((4, 33, 2)), width=640, height=480)
    assert read_keypoints(tmp_path / "k.npz", fps=50).layout == "blazepose33"
    with pytest.raises(D3PRError, match="fps"):
        read_keypoints(tmp_path / "k.npz")
    np.savez(tmp_path / "bad.npz", keypoints=np.zeros((4, 18, 2)), width=640, height=480, fps=25)
    with pytest.raises(D3PRError, match="18 joints per frame; expected 17"):
        read_keypoints(tmp_path / "bad.npz")
    np.savez(tmp_path / "nosize.npz", keypoints=np.zeros((4, 17, 2)), fps=25)
    with pytest.raises(D3PRError, match="width"):
        read_keypoints(tmp_path / "nosize.npz")


def test_h36m17_layout_is_taken_as_it_is(tmp_path):
    pts = np.random.default_rng(2).uniform(0, 500, size=(6, 17, 2))
    np.savez(tmp_path / "h.npz", keypoints=pts, width=640, height=480, fps=50, layout="h36m17")
    kp = read_keypoints(tmp_path / "h.npz")
    assert kp.layout == "h36m17"
    seg = person_segments(kp, 0, 0.3, 5, 5)[0]
    assert np.allclose(seg.points, pts)  # no COCO mapping applied
    np.savez(tmp_path / "w.npz", keypoints=pts, width=640, height=480, fps=50, layout="coco33")
    with pytest.raises(D3PRError, match="layout 'coco33'"):
        read_keypoints(tmp_path / "w.npz")


def test_person_choice():
    from d3prefiner.video.detect import choose_tracks, tracks_from_array, tracks_to_array
    from d3prefiner.video.persons import Track

    tracks = [Track(0, {0: np.arange(5.0), 1: np.arange(5.0)}), Track(1, {3: np.ones(5)})]
    back = tracks_from_array(tracks_to_array(tracks))  # the people stage's file
    assert [sorted(k.boxes) for k in back] == [[0, 1], [3]]
    assert [k.id for k in choose_tracks(back, "all")] == [0, 1]
    assert [k.id for k in choose_tracks(back, "1")] == [1]
    with pytest.raises(D3PRError, match="2 tracked person"):
        choose_tracks(back, "2")

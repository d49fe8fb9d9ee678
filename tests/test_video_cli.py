"""`d3pr video` end to end on real video (OpenCV's sample vtest.avi, from Debian's opencv-doc,
which .ci/run installs) and on keypoints files, resuming, and its bad inputs: one `error:` line,
exit 2, nothing written."""

import importlib
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, tiny_refiner_files
from d3prefiner.predictions import Predictions

#: Set by .ci/run: the folder of OpenCV's sample data; the tests then must not skip.
SAMPLES_ENV = "D3PR_OPENCV_SAMPLES"
SYSTEM_SAMPLES = Path("/usr/share/doc/opencv-doc/examples/data")


def _need(module: str):
    if os.environ.get(SAMPLES_ENV):  # CI: the video extra must be installed
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} comes with the video extra")


@pytest.fixture(scope="module")
def vtest() -> Path:
    """OpenCV's vtest.avi (795 frames, 768 × 576, 10 fps, pedestrians about 100 px tall)."""
    _need("cv2")
    _need("mediapipe")
    env = os.environ.get(SAMPLES_ENV)
    for folder in [Path(env)] if env else [SYSTEM_SAMPLES]:
        if (folder / "vtest.avi").is_file():
            return folder / "vtest.avi"
    if env:
        pytest.fail(f"{SAMPLES_ENV}={env} holds no vtest.avi")
    pytest.skip("vtest.avi absent: apt-get download opencv-doc (see .ci/run)")


@pytest.fixture(scope="module")
def refiner_dir(tmp_path_factory) -> Path:
    return tiny_refiner_files(tmp_path_factory.mktemp("refiner")) / "ckpt"


def _video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    cv2 = _need("cv2")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def _quiet(out: Path) -> list[str]:
    return ["--out", str(out), "--threads", "1", "--no-progress"]


def test_video_on_real_footage_then_resumes_with_a_lifter(
    vtest, refiner_dir, lifter_dir, tmp_path, capsys
):
    out = tmp_path / "out"
    args = ["video", vtest, *_quiet(out), "--max-frames", "30"]
    code, text = run_cli([*args, "--only-2d"], capsys)  # people and 2D stages only
    assert code in (0, None), text
    assert (out / "work" / "person0.npz").exists() and not (out / "poses.npz").exists()
    people = (out / "work" / "people.npz").stat().st_mtime_ns
    code, text = run_cli([*args, "--base", "blazepose", "--refiner", refiner_dir], capsys)
    assert code in (0, None), text
    preds = Predictions.load(out / "poses.npz")
    d = np.load(out / "poses.npz")
    n = preds.num_frames
    assert preds.estimator == "blazepose" and n >= 20  # one person tracked through most of 3 s
    assert d["base3d"].shape == d["world3d"].shape == (n, 17, 3) and d["trajectory"].shape == (n, 3)
    assert d["conf2d"].shape == (n, 17) and 0.5 < d["conf2d"].mean() <= 1
    bone = np.linalg.norm(d["base3d"][:, 2] - d["base3d"][:, 3], axis=-1)  # RKnee-RFoot
    assert 0.25 < np.median(bone) < 0.6  # BlazePose's metric 3D: a shin in metres
    assert 5 < d["trajectory"][:, 2].mean() < 40  # the walker is metres away, in front
    assert d["world3d"][..., 2].min() > -0.2  # z up, floor near 0
    from d3prefiner.export.bvh import read_exported

    positions, fps = read_exported(out / "motion.bvh")
    assert fps == 10 and positions.shape == (n, 17, 3)
    cv2 = _need("cv2")
    cap = cv2.VideoCapture(str(out / "overlay.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) > 768
    report = (out / "report.md").read_text()
    assert "| base |" in report and "jitter" in report and "vtest.avi" in report
    # again, with a lifter run and no refiner: the detection stages are read back, not redone
    code, text = run_cli([*args, "--lifter", lifter_dir, "--causal"], capsys)
    assert code in (0, None), text
    assert (out / "work" / "people.npz").stat().st_mtime_ns == people
    assert "read back: people, 2d" in (out / "report.md").read_text()
    assert Predictions.load(out / "poses.npz").estimator == "tcn-T9-1-detected"  # the run's name
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["work", "poses.npz", "motion.bvh", "overlay.mp4", "report.md"]
    )
    assert "* causal:" in (out / "report.md").read_text()


@pytest.fixture(scope="module")
def lifter_dir(tmp_path_factory) -> Path:
    """A TCN lifter run trained for one step on DeepMimic with detector-like 2D."""
    pytest.importorskip("pybullet")
    from d3prefiner.cli import main

    run = tmp_path_factory.mktemp("lifter") / "run"
    with pytest.raises(SystemExit) as exc:
        main(["lifter", "train", "--model", "tcn", "--preset", "tiny", "--steps", "1", "--source",
              "deepmimic", "--setting", "detected", "--threads", "1", "--out", str(run)])  # fmt: skip
    assert exc.value.code in (0, None)
    return run


def test_causal_lifting_reads_no_later_frame(lifter_dir):
    """With --causal a frame's 3D does not change when later frames change (the lifter's window
    ends at the frame; 10 fps video resampled to the lifter's rate and back)."""
    from d3prefiner.video.lift import LifterRun

    lifter = LifterRun(lifter_dir)
    rng = np.random.default_rng(0)
    a = rng.uniform(-0.5, 0.5, size=(40, 17, 2)).astype(np.float32)
    b = a.copy()
    b[25:] += 0.3  # later frames changed
    for fps in (10.0, 30.0):
        ca, cb = lifter.lift(a, fps, causal=True), lifter.lift(b, fps, causal=True)
        assert np.array_equal(ca[:25], cb[:25]) and not np.allclose(ca[25:], cb[25:])
        oa, ob = lifter.lift(a, fps), lifter.lift(b, fps)  # offline: earlier frames see them
        assert not np.allclose(oa[:25], ob[:25])


#: A person standing facing the camera, H36M-17, metres, camera axes (x right, y down).
STANDING = np.array([
    [0, 0, 0], [-0.12, 0, 0], [-0.12, 0.45, 0], [-0.12, 0.9, 0.05], [0.12, 0, 0], [0.12, 0.45, 0],
    [0.12, 0.9, 0.05], [0, -0.25, 0], [0, -0.5, 0], [0, -0.6, -0.08], [0, -0.7, 0],
    [0.18, -0.5, 0], [0.2, -0.22, 0], [0.22, 0, 0], [-0.18, -0.5, 0], [-0.2, -0.22, 0],
    [-0.22, 0, 0]])  # fmt: skip
#: BlazePose-33 landmark ← H36M-17 joint, for the 17 landmarks COCO shares (eyes, ears ← Head).
FROM_H36M = {0: 9, 2: 10, 5: 10, 7: 10, 8: 10, 11: 11, 12: 14, 13: 12, 14: 15, 15: 13, 16: 16,
             23: 4, 24: 1, 25: 5, 26: 2, 27: 6, 28: 3}  # fmt: skip


def _blazepose_file(path: Path, frames: int = 12, depth: float = 5.0, f: float = 1000.0) -> Path:
    """A BlazePose-33 keypoints npz of STANDING walking sideways ``depth`` m from a camera of
    focal ``f`` px (640 × 480): 2D projected, world = the pose itself."""
    world = np.full((frames, 33, 3), np.nan)
    for b, h in FROM_H36M.items():
        world[:, b] = STANDING[h]
    cam = world + np.array([[-0.5 + 0.1 * t, 0, depth] for t in range(frames)])[:, None]
    pts = f * cam[..., :2] / cam[..., 2:] + [320, 240]
    conf = np.where(np.isfinite(pts[..., 0]), 0.9, 0.0)
    np.savez(path, keypoints=pts, confidence=conf, world=world, width=640, height=480, fps=25)
    return path


def test_keypoints_file_blazepose_base_and_missing_lifter(tmp_path, capsys):
    """A BlazePose-33 keypoints file (detection skipped): its own 3D as the base, the trajectory
    at the right depth, the overlay drawn on black; without --lifter or --base blazepose one
    error line names the command that trains a lifter."""
    _need("cv2")
    src = _blazepose_file(tmp_path / "kp.npz")
    code, text = run_cli(["video", src, *_quiet(tmp_path / "o")], capsys)
    assert code == 2 and "d3pr lifter train" in text and "--lifter" in text
    assert text.count("error:") == 1 and not (tmp_path / "o").exists()
    code, text = run_cli(["video", src, *_quiet(tmp_path / "o"), "--base", "blazepose",
                          "--focal", "1000"], capsys)  # fmt: skip
    assert code in (0, None), text
    d = np.load(tmp_path / "o" / "poses.npz")
    assert np.allclose(d["base3d"][0], STANDING - STANDING[0], atol=1e-5)
    assert np.allclose(d["trajectory"][:, 2], 5.0, rtol=0.05)  # the depth, from 2D and 3D
    assert np.allclose(np.diff(d["trajectory"][:, 0]), 0.1, atol=0.01)  # 0.1 m per frame
    assert abs(d["world3d"][:, [3, 6], 2].min()) < 0.05  # the feet on the floor, z up
    assert (tmp_path / "o" / "overlay.mp4").stat().st_size > 0


def _bad(args, capsys, out: Path, match: str):
    code, text = run_cli(args, capsys)
    lines = [x for x in text.splitlines() if x.startswith("error:")]
    assert code == 2 and len(lines) == 1 and match in lines[0], text
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


def test_bad_inputs_one_error_line_nothing_written(tmp_path, capsys):
    _need("cv2")
    blank = [np.full((240, 320, 3), 128, np.uint8)] * 8
    cases = {
        "unreadable": (tmp_path / "x.mp4", "not a readable video"),
        "nobody": (_video(tmp_path / "blank.avi", blank), "no person found"),
        "one frame": (_video(tmp_path / "one.avi", blank[:1]), "1 frame(s)"),
    }
    (tmp_path / "x.mp4").write_text("not a video")
    for i, (src, match) in enumerate(cases.values()):
        out = tmp_path / f"o{i}"
        _bad(["video", src, *_quiet(out), "--base", "blazepose"], capsys, out, match)
    np.savez(tmp_path / "k18.npz", keypoints=np.zeros((9, 18, 2)), width=64, height=64, fps=25)
    _bad(["video", tmp_path / "k18.npz", *_quiet(tmp_path / "o5"), "--base", "blazepose"], capsys,
         tmp_path / "o5", "18 joints per frame")  # fmt: skip
    _bad(["video", cases["nobody"][0], *_quiet(tmp_path / "o6"), "--base", "blazepose", "--focal", "0"],
         capsys, tmp_path / "o6", "--focal must be")  # fmt: skip


def test_folder_of_frames(tmp_path):
    """A folder of images is read in name order; it has no frame rate of its own."""
    cv2 = _need("cv2")
    from d3prefiner.errors import ArgumentError
    from d3prefiner.video.frames import probe, read_frames

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i:02d}.png"), np.full((20, 30, 3), 40 * i, np.uint8))
    (tmp_path / "notes.txt").write_text("not a frame")
    with pytest.raises(ArgumentError, match="fps"):
        probe(tmp_path)
    info = probe(tmp_path, fps=12.5)
    assert (info.width, info.height, info.frames, info.fps) == (30, 20, 3, 12.5)
    assert [int(f[0, 0, 0]) for f in read_frames(info)] == [0, 40, 80]

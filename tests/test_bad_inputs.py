"""The bad-input battery: every case exits 2 with one `error:` line that names the file (or option)
and the problem, prints no traceback, and leaves no output behind.

Five commands (`refine`, `evaluate`, `noise fit`, `train`, `lifter predict`) × broken predictions
files, broken checkpoints and run directories, bad devices, thread counts and output paths.
"""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile

import numpy as np
import pytest

from conftest import needs_pybullet, run_cli, tiny_refiner_files
from d3prefiner.cli import main
from d3prefiner.joint_order import COCO_LIMBS, H36M_LIMBS, H36M_SWAP
from d3prefiner.noise import make_synthetic_predictions


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("battery")
    tiny_refiner_files(d)
    big = make_synthetic_predictions(n_sequences=4, n_frames=200, seed=1)
    big.save(d / "big.npz")
    return d


def _arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _write(path, arrays):
    np.savez(path, **arrays)
    return path


# ---- broken predictions files: (name, what the message must say, how to make it from good arrays)
def _drop(key):
    return lambda a: {k: v for k, v in a.items() if k != key}


def _set(key, fn):
    def f(a):
        a = dict(a)
        a[key] = fn(a[key])
        return a

    return f


def _nan(v):
    v = v.copy()
    v[3, 2, 1] = np.nan
    return v


def _inf(v):
    v = v.copy()
    v[5, 0, 0] = np.inf
    return v


BROKEN = {
    "missing_pred3d": ("missing pred3d", _drop("pred3d")),
    "missing_lengths": ("missing lengths", _drop("lengths")),
    "joints16": ("16", _set("pred3d", lambda v: v[:, :16])),
    "pose2d_3ch": ("pose2d", _set("pose2d", lambda v: np.concatenate([v, v[..., :1]], -1))),
    "nan_pred3d": ("NaN", _set("pred3d", _nan)),
    "inf_pose2d": ("inf", _set("pose2d", _inf)),
    "mm_pred3d": ("millimetres", _set("pred3d", lambda v: v * 1000)),
    "mm_gt3d": ("millimetres", _set("gt3d", lambda v: v * 1000)),
    "pixels_pose2d": ("pixels", _set("pose2d", lambda v: (v + 1) * 500)),
    "lengths_short": ("lengths sum", _set("lengths", lambda v: v - 1)),
    "subject_count": ("entries", _set("subject", lambda v: v[:-1])),
    "version2": ("version 2", _set("version", lambda v: np.array(2))),
    "frames_short": ("frames", _set("pose2d", lambda v: v[:-5])),
    "fold_length": ("'fold' has shape", _set("fold", lambda v: v[:-1])),
    "fold_strings": ("'fold' holds", _set("fold", lambda v: np.array(["a"] * len(v)))),
    "fold_float": ("'fold' holds float", _set("fold", lambda v: v + 0.5)),
    "split_unknown": (
        "'split' holds unknown",
        _set("split", lambda v: np.array(["eval"] * len(v))),
    ),
    "bool_pred3d": ("bool", _set("pred3d", lambda v: v > 0)),
    "complex_pred3d": ("complex", _set("pred3d", lambda v: v.astype(np.complex64))),
    "zero_pred3d": ("pred3d all zero", _set("pred3d", lambda v: np.zeros_like(v))),
    "zero_pose2d_sequence": ("pose2d all zero", _set("pose2d", lambda v: _zero_first(v))),
    "fps_1e9": ("fps must be", _set("fps", lambda v: np.full_like(v, 1e9))),
    "coco_pose2d": ("looks like COCO-17 order", _set("pose2d", lambda v: _as_coco(v))),
    "swapped_pose2d": ("left and right exchanged", _set("pose2d", lambda v: v[:, H36M_SWAP])),
    "coco_pred3d": ("pred3d: looks like COCO-17", _set("pred3d", lambda v: _as_coco(v))),
}


def _as_coco(v):
    """H36M-17 poses rewritten in COCO-17 order (face points at the head, spread a little)."""
    c = np.zeros_like(v)
    c[:, list(COCO_LIMBS)] = v[:, list(H36M_LIMBS)]
    c[:, 0] = v[:, 9]
    c[:, 1:5] = v[:, 10:11] + 0.02 * np.arange(1, 5)[:, None]
    return c


def _zero_first(v):
    v = v.copy()
    v[:60] = 0  # the first sequence (p.npz: 3 sequences of 60 frames)
    return v


GT_NEEDED = ("evaluate", "noise", "train")  # commands that need gt3d


def _make_broken(name, good_dir, tmp_path):
    p = tmp_path / f"{name}.npz"
    if name in BROKEN:
        return _write(p, BROKEN[name][1](_arrays(good_dir / "p.npz")))
    if name == "text":
        p.write_text("subject,action\nS1,walk\n")
    elif name == "empty":
        p.write_bytes(b"")
    elif name == "pickle":
        p.write_bytes(pickle.dumps({"pred3d": [1, 2, 3]}))
    elif name == "object_array":
        a = _arrays(good_dir / "p.npz")
        a["subject"] = np.array([{"x": 1}] * len(a["lengths"]), dtype=object)
        np.savez(p, **a)
    elif name == "truncated":
        data = (good_dir / "p.npz").read_bytes()
        p.write_bytes(data[: len(data) // 2])
    elif name == "zip_not_npz":
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("hello.txt", "not an array")
    elif name == "npy_renamed":
        with open(p, "wb") as fh:
            np.save(fh, _arrays(good_dir / "p.npz")["pred3d"])
    elif name == "no_gt":
        _write(p, _drop("gt3d")(_arrays(good_dir / "p.npz")))
    elif name == "missing":
        pass
    elif name == "directory":
        p.mkdir()
    else:  # pragma: no cover
        raise AssertionError(name)
    return p


EXPECT = {
    "text": "not an npz file",
    "empty": "not an npz file",
    "pickle": "pickled",
    "object_array": "pickled",
    "truncated": "not a readable npz",
    "zip_not_npz": "missing",
    "no_gt": "gt3d",
    "missing": "not found",
    "directory": "directory",
    "npy_renamed": "single .npy array",
    **{k: v[0] for k, v in BROKEN.items()},
}
FILE_CASES = sorted(EXPECT)


def _command(cmd, bad, good_dir, out):
    if cmd == "refine":
        return ["refine", good_dir / "ckpt", bad, "-o", out, "--no-progress"]
    if cmd == "evaluate":
        return ["evaluate", bad, "--baselines", "none", "--out", out, "--no-figures"]
    if cmd == "noise":
        return ["noise", "fit", bad, "-o", out]
    if cmd == "train":
        return ["train", bad, "--out", out, "--preset", "tiny", "--steps", "1", "--no-cnd",
                "--mode", "paper", "--no-progress"]  # fmt: skip
    raise AssertionError(cmd)


def _check(code, text, must, out_path):
    assert code == 2, text
    assert "Traceback" not in text, text
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, text
    assert must.lower() in errors[0].lower(), (must, errors[0])
    assert not out_path.exists(), f"{out_path} was left behind"


@pytest.mark.parametrize("case", FILE_CASES)
@pytest.mark.parametrize("cmd", ["refine", "evaluate", "noise", "train"])
def test_broken_predictions_file(cmd, case, good, tmp_path, capsys):
    if case == "no_gt" and cmd == "refine":
        pytest.skip("refine needs no gt3d: a file without it is valid input")
    must = EXPECT[case]  # (gt3d is read and checked by every command, refine included)
    bad = _make_broken(case, good, tmp_path)
    before = bad.read_bytes() if bad.is_file() else None
    out = tmp_path / ("out" if cmd in ("evaluate", "train") else "out.npz")
    code, text = run_cli(_command(cmd, bad, good, out), capsys)
    _check(code, text, must, out)
    assert (bad.read_bytes() if bad.is_file() else None) == before  # inputs byte-identical
    if case not in ("missing",):
        assert bad.name in text, text  # the message names the file


# ---- broken checkpoints (refine)
def _ckpt_case(name, good, tmp_path):
    c = tmp_path / "ck"
    if name == "missing":
        return c, "not found"
    if name == "file":
        c.write_text("x")
        return c, "not a"
    shutil.copytree(good / "ckpt", c)
    if name == "no_config":
        (c / "config.json").unlink()
        return c, "config.json"
    if name == "bad_json":
        (c / "config.json").write_text("{not json")
        return c, "not valid JSON"
    if name == "wrong_format":
        (c / "config.json").write_text(json.dumps({"format": "something else"}))
        return c, "config"
    if name == "no_model":
        (c / "model.safetensors").unlink()
        return c, "model.safetensors"
    if name == "corrupt_model":
        (c / "model.safetensors").write_bytes(b"\x00" * 64)
        return c, "model.safetensors"
    if name == "bad_refiner_field":
        meta = json.loads((c / "config.json").read_text())
        meta["refiner"]["window"] = "long"
        (c / "config.json").write_text(json.dumps(meta))
        return c, "window"
    raise AssertionError(name)


@pytest.mark.parametrize(
    "case",
    ["missing", "file", "no_config", "bad_json", "wrong_format", "no_model", "corrupt_model",
     "bad_refiner_field"],
)  # fmt: skip
def test_broken_checkpoint(case, good, tmp_path, capsys):
    ckpt, must = _ckpt_case(case, good, tmp_path)
    out = tmp_path / "r.npz"
    code, text = run_cli(["refine", ckpt, good / "p.npz", "-o", out, "--no-progress"], capsys)
    _check(code, text, must, out)


# ---- devices and threads, on every computing command
def _device_cmd(cmd, good, out):
    if cmd == "refine":
        return ["refine", good / "ckpt", good / "p.npz", "-o", out, "--no-progress"]
    if cmd == "train":
        return ["train", good / "p.npz", "--out", out, "--preset", "tiny", "--steps", "1",
                "--no-cnd", "--mode", "paper", "--no-progress"]  # fmt: skip
    if cmd == "noise":
        return ["noise", "fit", good / "big.npz", "-o", out]
    if cmd == "evaluate":
        return ["evaluate", good / "p.npz", "--baselines", "none", "--out", out, "--no-figures"]
    if cmd == "pool":
        return ["pool", good / "p.npz", good / "big.npz", "-o", out]
    raise AssertionError(cmd)


@pytest.mark.parametrize("device", ["cuda", "cuda:3", "tpu", "gpu0"])
@pytest.mark.parametrize("cmd", ["refine", "train"])
def test_bad_device(cmd, device, good, tmp_path, capsys):
    out = tmp_path / ("out" if cmd == "train" else "out.npz")
    code, text = run_cli(_device_cmd(cmd, good, out) + ["--device", device], capsys)
    _check(code, text, "--device", out)


@pytest.mark.parametrize("cmd", ["refine", "train", "noise", "evaluate"])
def test_negative_threads(cmd, good, tmp_path, capsys):
    out = tmp_path / ("out" if cmd in ("train", "evaluate") else "out.npz")
    code, text = run_cli(_device_cmd(cmd, good, out) + ["--threads", "-2"], capsys)
    _check(code, text, "--threads", out)


# ---- options with impossible values
@pytest.mark.parametrize(
    "extra, must",
    [
        (["--guard", "maybe"], "--guard"),
        (["--smooth", "median"], "--smooth"),
        (["--batch-size", "0"], "batch_size"),
        (["--K", "0"], "K"),
    ],
)
def test_refine_bad_options(extra, must, good, tmp_path, capsys):
    out = tmp_path / "r.npz"
    argv = ["refine", good / "ckpt", good / "p.npz", "-o", out, "--no-progress"] + extra
    code, text = run_cli(argv, capsys)
    _check(code, text, must, out)


def test_train_refuses_a_one_frame_training_set(good, tmp_path, capsys):
    from d3prefiner.predictions import Predictions

    one = Predictions.load(good / "p.npz")
    s = one.sequences[0]
    tiny = one.with_pred3d([s.pred3d for s in one.sequences])
    tiny.sequences = [type(s)(s.subject, s.action, s.camera, s.fps, s.pose2d[:1], s.pred3d[:1],
                              s.gt3d[:1])]  # fmt: skip
    tiny.save(tmp_path / "one.npz")
    out = tmp_path / "ck"
    argv = ["train", tmp_path / "one.npz", "--out", out, "--preset", "tiny", "--steps", "1",
            "--no-cnd", "--mode", "paper", "--no-progress"]  # fmt: skip
    code, text = run_cli(argv, capsys)
    _check(code, text, "1 frames", out)


# ---- lifter predict: broken run directories, data.json and outputs
@pytest.fixture(scope="module")
def lifter_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("lifter") / "run"
    argv = ["lifter", "train", "--model", "tcn", "--preset", "tiny", "--source", "deepmimic",
            "--steps", "2", "--out", d, "--threads", "1"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    assert exc.value.code in (0, None)
    return d


def _lifter_case(name, run, tmp_path):
    r = tmp_path / "run"
    if name == "missing":
        return r, "not found"
    shutil.copytree(run, r)
    if name == "fps_string":
        spec = json.loads((r / "data.json").read_text())
        spec["fps"] = "thirty"
        (r / "data.json").write_text(json.dumps(spec))
        return r, "fps"
    if name == "data_json_list":
        (r / "data.json").write_text("[1, 2]")
        return r, "data.json"
    if name == "bad_json":
        (r / "data.json").write_text("{")
        return r, "data.json"
    if name == "no_weights":
        (r / "model.safetensors").unlink()
        return r, "model.safetensors"
    if name == "corrupt_weights":
        (r / "model.safetensors").write_bytes(b"garbage" * 10)
        return r, "model.safetensors"
    if name == "no_config":
        (r / "config.json").unlink()
        return r, "config.json"
    if name == "config_list":
        (r / "config.json").write_text("[]")
        return r, "config.json"
    if name == "bad_setting":
        spec = json.loads((r / "data.json").read_text())
        spec["setting"] = "sideways"
        (r / "data.json").write_text(json.dumps(spec))
        return r, "setting"
    raise AssertionError(name)


@needs_pybullet
@pytest.mark.parametrize(
    "case",
    ["missing", "fps_string", "data_json_list", "bad_json", "no_weights", "corrupt_weights",
     "no_config", "bad_setting", "config_list"],
)  # fmt: skip
def test_lifter_predict_broken_run(case, lifter_run, tmp_path, capsys):
    run, must = _lifter_case(case, lifter_run, tmp_path)
    out = tmp_path / "pred.npz"
    code, text = run_cli(["lifter", "predict", run, "-o", out, "--threads", "1"], capsys)
    _check(code, text, must, out)


@needs_pybullet
@pytest.mark.parametrize(
    "extra, must",
    [
        (["--source", "kinect"], "unknown source"),
        (["--setting", "sideways"], "setting"),
        (["--device", "cuda"], "--device"),
        (["--device", "tpu"], "--device"),
        (["--threads", "-1"], "--threads"),
        (["--fps", "-7"], "fps"),
        (["--fps", "1e9"], "--fps must be 0"),
        (["--split", "eval"], "--split must be one of"),
    ],
)
def test_lifter_predict_bad_options(extra, must, lifter_run, tmp_path, capsys):
    out = tmp_path / "pred.npz"
    code, text = run_cli(["lifter", "predict", lifter_run, "-o", out] + extra, capsys)
    _check(code, text, must, out)


@needs_pybullet
def test_lifter_predict_refuses_to_overwrite_its_weights(lifter_run, capsys):
    target = lifter_run / "model.safetensors"
    before = target.read_bytes()
    code, text = run_cli(["lifter", "predict", lifter_run, "-o", target], capsys)
    assert code == 2 and "Traceback" not in text and target.read_bytes() == before


@pytest.mark.parametrize(
    "cmd",
    [
        ["bench", "--preset", "tiny", "--model", "tcn", "--setting", "gt"],
        ["lifter", "crossfit", "--model", "tcn", "--preset", "tiny", "--steps", "1"],
    ],
)
def test_negative_jobs_is_refused_before_any_work(cmd, tmp_path, capsys):
    out = tmp_path / "out"
    code, text = run_cli(cmd + ["--out", out, "--jobs", "-1", "--threads", "1"], capsys)
    _check(code, text, "--jobs", out)


# ---- issue 38: noise models of other poses, output paths, full disks, locks, pool, train, ...
def _digests(*paths):
    return [p.read_bytes() if p.is_file() else None for p in paths]


def _check_untouched(before, *paths):
    assert _digests(*paths) == before, "an input changed"


@pytest.fixture(scope="module")
def noise16(good, tmp_path_factory):
    """A noise model fitted on big.npz, rewritten as one of 16-joint poses (15 non-root joints)."""
    from safetensors.torch import load_file, save_file

    from d3prefiner.noise import fit_noise_model
    from d3prefiner.predictions import Predictions

    d = tmp_path_factory.mktemp("noise16")
    fit_noise_model(Predictions.load(good / "big.npz")).save(d / "n17.safetensors")
    from safetensors import safe_open

    with safe_open(str(d / "n17.safetensors"), framework="pt") as f:
        meta = dict(f.metadata())
    t = load_file(str(d / "n17.safetensors"))
    keep = list(range(45)) + list(range(48, 48 + 16 * 2 + 15 * 3))  # Da 45, Db 77
    t["g0.mean"] = t["g0.mean"][keep]
    t["g0.m2"] = t["g0.m2"][keep][:, keep]
    gconf = json.loads(meta["gaussian"])
    gconf.update(n_error=45, n_condition=77)
    meta["gaussian"] = json.dumps(gconf)
    save_file(t, str(d / "n16.safetensors"), metadata=meta)
    return d / "n16.safetensors"


@pytest.mark.parametrize("cmd", ["evaluate", "train"])
def test_noise_model_of_16_joints(cmd, good, noise16, tmp_path, capsys):
    out = tmp_path / "out"
    before = _digests(noise16, good / "p.npz")
    argv = _device_cmd(cmd, good, out) + ["--noise", noise16]
    code, text = run_cli(argv, capsys)
    _check(code, text, "16 joints", out)
    assert noise16.name in text
    _check_untouched(before, noise16, good / "p.npz")


def _output_case(name, tmp_path):
    """(output path, what the message says) of a bad output path."""
    if name == "symlink_loop":
        (tmp_path / "loop.npz").symlink_to(tmp_path / "loop.npz")
        return tmp_path / "loop.npz", "symlink loop"
    if name == "under_a_file":
        (tmp_path / "file.txt").write_text("mine")
        return tmp_path / "file.txt" / "out.npz", "is a file, not a folder"
    if name == "missing_drive":
        return tmp_path / "nonexistent_drive_x" / "sub" / "out.npz", "does not exist"
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["symlink_loop", "under_a_file", "missing_drive"])
@pytest.mark.parametrize("cmd", ["refine", "noise", "pool"])
def test_bad_output_path(cmd, name, good, tmp_path, capsys):
    out, must = _output_case(name, tmp_path)
    inputs = (good / "p.npz", good / "big.npz")
    before = _digests(*inputs)
    listing = sorted(p.name for p in tmp_path.iterdir())
    code, text = run_cli(_device_cmd(cmd, good, out), capsys)
    assert code == 2 and "Traceback" not in text, text
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and must in errors[0] and str(out) in errors[0], text
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # nothing written, no folder
    _check_untouched(before, *inputs)


def _fill_disk(*args, **kwargs):
    import errno

    target = args[0] if args else kwargs.get("filename")
    with open(target, "wb") as fh:
        fh.write(b"\0" * 1000)  # a part written before the disk filled
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_npz(good, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(np, "savez_compressed", _fill_disk)
    out = tmp_path / "out.npz"
    before = _digests(good / "p.npz")
    code, text = run_cli(_device_cmd("refine", good, out), capsys)
    _check(code, text, "no space left", out)
    assert "out.npz" in text and "needs about" in text and "MB" in text, text
    assert list(tmp_path.iterdir()) == []  # no temporary file, no lock
    _check_untouched(before, good / "p.npz")


def test_full_disk_safetensors(good, tmp_path, capsys, monkeypatch):
    import safetensors.torch
    from safetensors import SafetensorError

    def full(tensors, filename, metadata=None):
        raise SafetensorError("Error while serializing: IoError(No space left on device (os 28))")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    out = tmp_path / "noise.safetensors"
    code, text = run_cli(_device_cmd("noise", good, out), capsys)
    _check(code, text, "no space left", out)
    assert "noise.safetensors" in text and "needs about" in text, text
    assert list(tmp_path.iterdir()) == []


def test_output_locked_by_another_writer(good, tmp_path, capsys):
    """A second `refine -o same.npz` while the first runs: refused, naming the file."""
    import subprocess

    out = tmp_path / "same.npz"
    other = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "same.npz.lock").write_text(f"{other.pid}\n")  # the first writer's lock
        code, text = run_cli(_device_cmd("refine", good, out), capsys)
        _check(code, text, "another d3pr process", out)
        assert str(out) in text and str(other.pid) in text
        assert (tmp_path / "same.npz.lock").read_text() == f"{other.pid}\n"  # still its lock
    finally:
        other.kill()
        other.wait()


def test_stale_lock_is_taken_over(good, tmp_path, capsys):
    import subprocess

    out = tmp_path / "same.npz"
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "same.npz.lock").write_text(f"{gone.pid}\n")  # its process has ended
    code, text = run_cli(_device_cmd("refine", good, out), capsys)
    assert code in (0, None), text
    assert out.exists() and not (tmp_path / "same.npz.lock").exists()


def test_two_writers_at_once(good, tmp_path):
    """Two real `d3pr refine -o same.npz` processes: exactly one writes, the other is refused."""
    import subprocess
    import sys

    out = tmp_path / "same.npz"
    argv = [sys.executable, "-m", "d3prefiner", *map(str, _device_cmd("refine", good, out))]
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(argv + ["--threads", "1"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env) for _ in range(2)]  # fmt: skip
    results = [(p.wait(), p.stdout.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes == [0, 2], results
    refused = next(t for c, t in results if c == 2)
    errors = [ln for ln in refused.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(out) in errors[0], refused
    assert "another d3pr process" in errors[0] or "already exists" in errors[0], refused
    assert out.exists() and not (tmp_path / "same.npz.lock").exists()


@pytest.mark.parametrize(
    "extra, must",
    [
        (["--steps", "0"], "--steps must be >= 1"),
        (["--resume"], "--resume has no run to continue"),
        (["--minutes", "0"], "--minutes must be > 0"),
        (["--minutes", "1"], "--minutes and --steps both size the run"),
    ],
)
def test_train_refuses_untrained_or_nothing_to_resume(extra, must, good, tmp_path, capsys):
    out = tmp_path / "ck"
    before = _digests(good / "p.npz")
    code, text = run_cli(_device_cmd("train", good, out) + extra, capsys)
    _check(code, text, must, out)
    _check_untouched(before, good / "p.npz")


def test_pool_refuses_a_file_with_itself(good, tmp_path, capsys):
    out = tmp_path / "pooled.npz"
    before = _digests(good / "p.npz")
    code, text = run_cli(["pool", good / "p.npz", good / "p.npz", "-o", out], capsys)
    _check(code, text, "given twice", out)
    assert "p.npz" in text
    _check_untouched(before, good / "p.npz")


def test_pool_refuses_to_drop_ground_truth(good, tmp_path, capsys):
    no_gt = _write(tmp_path / "no_gt.npz", _drop("gt3d")(_arrays(good / "p.npz")))
    out = tmp_path / "pooled.npz"
    before = _digests(good / "big.npz", no_gt)
    code, text = run_cli(["pool", good / "big.npz", no_gt, "-o", out], capsys)
    _check(code, text, "no_gt.npz: has no gt3d", out)
    _check_untouched(before, good / "big.npz", no_gt)


def test_evaluate_action_pattern_matching_nothing(good, tmp_path, capsys):
    out = tmp_path / "out"
    argv = _device_cmd("evaluate", good, out) + ["--action-pattern", "^walk(ing)?"]
    code, text = run_cli(argv, capsys)
    _check(code, text, "--action-pattern '^walk(ing)?' matches none", out)


def _folds(fn):
    def make(a):
        a = dict(a)
        a["fold"] = np.array(fn(a["subject"]), dtype=np.int64)
        return a

    return make


def test_noise_fit_folds_changing_within_a_subject(good, tmp_path, capsys):
    bad = _write(tmp_path / "fold_within_subject.npz",
                 _folds(lambda subj: list(range(len(subj))))(_arrays(good / "big.npz")))  # fmt: skip
    before = _digests(bad)
    out = tmp_path / "noise.safetensors"
    code, text = run_cli(["noise", "fit", bad, "-o", out], capsys)
    _check(code, text, "changes within subject S1", out)
    assert bad.name in text
    _check_untouched(before, bad)


def test_noise_fit_takes_the_subjects_of_one_fold(good, tmp_path, capsys):
    """The subjects one fold lifter predicted, pooled out of a two-fold cross-fit, share one
    fold: a part of a cross-fit, fitted with the ridge chosen on a held-out part."""
    two = _write(tmp_path / "crossfit.npz", _folds(lambda subj: [int(s in ("S1", "S5")) for s in subj])(
        _arrays(good / "big.npz")))  # fmt: skip
    part = tmp_path / "part.npz"
    code, text = run_cli(["pool", two, "--subjects", "S1,S5", "-o", part], capsys)
    assert code in (0, None), text
    with np.load(part) as f:
        assert set(f["fold"].tolist()) == {1} and len(set(f["subject"].tolist())) == 2
    out = tmp_path / "noise.safetensors"
    code, text = run_cli(["noise", "fit", part, "-o", out], capsys)
    assert code in (0, None), text
    assert out.is_file() and "ridge" in text


@pytest.mark.parametrize("cmd", ["evaluate", "calibrate"])
def test_non_empty_out_hint_names_only_flags_the_command_has(cmd, good, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    if cmd == "evaluate":
        argv = _device_cmd("evaluate", good, out)
    else:
        argv = ["calibrate", good / "ckpt", good / "p.npz", "--out", out]
    code, text = run_cli(argv, capsys)
    _check(code, text, "is not empty", tmp_path / "nothing")
    assert "--resume" not in text, text
    assert ("--force" in text) == (cmd == "evaluate"), text
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_unwritable_output_folder(good, tmp_path, capsys, monkeypatch):
    """A folder that refuses new files (tests run as root, so the refusal is emulated)."""
    import tempfile

    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "out.npz"
    before = _digests(good / "p.npz")
    code, text = run_cli(_device_cmd("refine", good, out), capsys)
    _check(code, text, "permission denied", out)
    assert str(out) in text
    assert list(tmp_path.iterdir()) == []  # the lock went with the command
    _check_untouched(before, good / "p.npz")


def test_output_in_a_new_folder_leaves_no_lock(good, tmp_path, capsys):
    out = tmp_path / "new" / "out.npz"  # one missing level is created
    code, text = run_cli(_device_cmd("refine", good, out), capsys)
    assert code in (0, None), text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["out.npz"]


def test_a_lock_without_its_pid_yet_is_held_and_a_finished_writer_is_seen(tmp_path, monkeypatch):
    """The two ways two writers both wrote: a second one took a just-created lock (no PID written
    yet) for stale, or the first finished between the second's check and its lock."""
    import os
    import time

    from d3prefiner import io
    from d3prefiner.errors import D3PRError

    out = tmp_path / "o.npz"
    lock = io._lock_file(out)
    lock.write_text("")  # created by another writer an instant ago
    with pytest.raises(D3PRError, match="another d3pr process"):
        io.lock_output(out)
    old = time.time() - 60
    os.utime(lock, (old, old))  # an empty lock a minute old: its writer died, taken over
    assert io.lock_output(out) == lock and lock.read_text().strip() == str(os.getpid())
    io.release_output_lock(out)
    assert not lock.exists()

    real = io.lock_output

    def finished_meanwhile(path, flag="-o"):
        held = real(path, flag)
        out.write_bytes(b"the other writer's file")
        return held

    monkeypatch.setattr(io, "lock_output", finished_meanwhile)
    with pytest.raises(D3PRError, match="already exists"):
        io.check_output_file(out)
    assert out.read_bytes() == b"the other writer's file" and not lock.exists()

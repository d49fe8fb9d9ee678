"""No command destroys a file: outputs that are inputs, run-directory files, directories, paths under
files and existing outputs are refused with one `error:` line and exit 2, before any work."""

import hashlib

import pytest

from conftest import run_cli, tiny_refiner_files


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("safety")
    tiny_refiner_files(d)
    return d


def test_refine_refuses_its_input_the_run_and_existing_outputs(files, capsys, tmp_path):
    p, ckpt = files / "p.npz", files / "ckpt"
    before = _digest(p)
    for target, says in [
        (p, "would overwrite the input"),
        (ckpt / "model.safetensors", "would overwrite the input"),
        (ckpt, "would overwrite the input"),
        (tmp_path, "is a directory"),
        (p / "x.npz", "is a file, not a folder"),
    ]:
        code, out = run_cli(["refine", ckpt, p, "-o", target, "--no-progress"], capsys)
        assert code == 2 and says in out and "Traceback" not in out, (target, out)
    assert _digest(p) == before
    out_file = tmp_path / "r.npz"
    assert run_cli(["refine", ckpt, p, "-o", out_file, "--no-progress"], capsys)[0] in (0, None)
    first = _digest(out_file)
    code, out = run_cli(["refine", ckpt, p, "-o", out_file, "--no-progress"], capsys)
    assert code == 2 and "--force" in out and _digest(out_file) == first
    assert run_cli(["refine", ckpt, p, "-o", out_file, "--force", "--no-progress"], capsys)[0] in (
        0, None)  # fmt: skip


def test_noise_fit_refuses_its_input_and_run_files(files, capsys, tmp_path):
    p = files / "p.npz"
    before = _digest(p)
    code, out = run_cli(["noise", "fit", p, "-o", p], capsys)
    assert code == 2 and "would overwrite the input" in out and _digest(p) == before
    code, out = run_cli(["noise", "fit", p, "-o", files / "ckpt" / "config.json"], capsys)
    assert code == 2 and "run directory" in out
    code, out = run_cli(["noise", "fit", p, "-o", tmp_path / "n.st", "--report-json", p], capsys)
    assert code == 2 and "--report-json" in out and _digest(p) == before


def test_train_checks_its_output_folder_before_training(files, capsys, tmp_path):
    p = files / "p.npz"
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    argv = ["train", p, "--preset", "tiny", "--recipe", "paper", "--no-cnd", "--steps", "1",
            "--window", "9", "--no-progress"]  # fmt: skip
    code, out = run_cli([*argv, "--out", busy], capsys)
    assert code == 2 and "is not empty" in out and "--resume" in out
    assert sorted(x.name for x in busy.iterdir()) == ["notes.txt"]  # nothing was trained
    code, out = run_cli([*argv, "--out", p], capsys)
    assert code == 2 and "is the input" in out
    code, out = run_cli([*argv, "--out", p / "sub"], capsys)
    assert code == 2 and "is a file, not a folder" in out


def test_lifter_predict_cannot_write_over_the_run(capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "model.safetensors").write_bytes(b"weights")
    code, out = run_cli(["lifter", "predict", run, "-o", run / "model.safetensors"], capsys)
    assert code == 2 and "would overwrite the input" in out
    assert (run / "model.safetensors").read_bytes() == b"weights"
    # other files may go into the run directory (e.g. its predictions)
    from d3prefiner.io import check_output_file

    assert check_output_file(run / "test.npz", (run,)) == run / "test.npz"


def test_evaluate_refuses_a_non_empty_report_folder(files, capsys, tmp_path):
    p = files / "p.npz"
    report = tmp_path / "report"
    report.mkdir()
    (report / "old.md").write_text("keep")
    code, out = run_cli(["evaluate", p, "--out", report, "--no-figures"], capsys)
    assert code == 2 and "is not empty" in out
    code, _ = run_cli(["evaluate", p, "--out", report, "--no-figures", "--force"], capsys)
    assert code in (0, None) and (report / "results.json").exists()

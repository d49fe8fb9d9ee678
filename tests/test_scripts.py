"""Every script in scripts/ still imports against the library and answers --help."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "scripts").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_script_answers_help(script):
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower()


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, SCRIPTS[0].parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model", ["stcformer", "mixste"])
def test_attention_entropy_sees_every_attention_layer(model):
    """scripts/attention_entropy.py records one row per attention layer (a spatial and a temporal
    one per block), entropies within [0, log L], and restores the library's kernel."""
    import math

    import torch

    import d3prefiner.nn.stc as stc
    from d3prefiner.lifters import build_lifter

    ae = _script("attention_entropy")
    torch.manual_seed(0)
    net = build_lifter(model, "tiny").eval()
    original = stc.attention
    with ae.AttentionSpy() as spy, torch.no_grad():
        net(torch.randn(3, net.config.T, 17, 2))
    assert stc.attention is original
    assert [r["tokens"] for r in spy.records] == [17, net.config.T] * net.config.depth
    for r in spy.records:
        assert 0 <= r["entropy"] <= math.log(r["tokens"]) + 1e-5
        assert 1 / r["tokens"] - 1e-6 <= r["max_weight"] <= 1


def test_bench_parallel_counts_the_steps_of_every_process():
    """scripts/bench_parallel.py: two concurrent one-thread processes both report steps/s."""
    r = subprocess.run(
        [sys.executable, str(SCRIPTS[0].parent / "bench_parallel.py"), "--models", "tcn",
         "--cores", "2", "--seconds", "0.5"],
        capture_output=True, text=True, cwd=SCRIPTS[0].parent, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    row = r.stdout.splitlines()[-1].split()
    assert row[0] == "tcn" and float(row[1]) > 0 and float(row[3]) > 0, r.stdout


def test_predict_precision_compares_the_two_paths_of_the_library():
    """scripts/predict_precision.py: its fp32 MPJPE is the library's, bf16 stays close."""
    import torch

    from d3prefiner.lifters import build_lifter
    from d3prefiner.lifters.predict import clips_mpjpe, predict
    from d3prefiner.noise import make_synthetic_predictions

    torch.manual_seed(0)
    net = build_lifter("stcformer", "tiny").eval()
    seqs = list(make_synthetic_predictions(n_sequences=2, n_frames=40, seed=0))
    r = _script("predict_precision").compare(net, seqs)
    assert r["frames"] == 80
    fp32 = predict(net, [s.pose2d for s in seqs], precision="fp32")

    class C:  # clips_mpjpe reads .pose3d
        def __init__(self, s):
            self.pose3d = s.gt3d

    assert abs(r["fp32_mpjpe_mm"] - clips_mpjpe(fp32, [C(s) for s in seqs])) < 1e-3
    assert 0 <= r["diff_mean_mm"] <= r["diff_max_mm"] < 0.05 * r["fp32_mpjpe_mm"]


def test_fold_bias_tells_a_source_that_shares_the_bias_from_one_that_opposes_it():
    """scripts/fold_bias.py: a CND fitted on predictions whose mean error is the held-out set's
    corrects it; one fitted on the opposite mean error makes it worse, and the cosines say so."""
    from d3prefiner.noise import make_synthetic_predictions

    rng = np.random.default_rng(0)
    bias = np.zeros((17, 3), np.float32)
    bias[1:] = rng.normal(0, 0.04, (16, 3))

    fs = _script("fold_bias")

    def shifted(seed, sign):  # its own mean error replaced by ± bias
        p = make_synthetic_predictions(n_sequences=4, n_frames=300, seed=seed)
        own = fs.mean_error(p).astype(np.float32)
        return p.with_pred3d([s.pred3d - own + sign * bias for s in p])

    same, opposite, held = shifted(1, 1), shifted(2, -1), shifted(3, 1)
    rows = {r["source"]: r for r in fs.compare_sources({"same": same, "opp": opposite}, held)}
    base = fs.base_mm(held)
    assert rows["same"]["cos_bias_held"] > 0.95 and rows["opp"]["cos_bias_held"] < -0.95
    assert rows["same"]["held_closed_form_mm"] < 0.9 * base
    assert rows["opp"]["held_closed_form_smallest_ridge_mm"] > base
    assert abs(rows["same"]["bias_mm"] - np.linalg.norm(bias, axis=-1).mean() * 1000) < 5


def test_fold_bias_on_a_folder_that_is_not_a_finished_bench_is_one_line(tmp_path, capsys):
    fs = _script("fold_bias")
    assert fs.main([str(tmp_path)]) == 2
    (tmp_path / "experiment.json").write_text('{"train_subjects": ["S1", "S8"]}')
    assert fs.main([str(tmp_path)]) == 2  # no predictions yet
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error: ") for e in err), err
    assert "experiment.json" in err[0] and "train_crossfit.npz" in err[1]


def test_pack_for_device_keeps_every_second_frame_as_an_npz_folder(tmp_path):
    """scripts/pack_for_device.py: the fk17 folder at 25 fps as an npz-folder source that loads
    to the fk17 source's own frames (every second one), and refuses to overwrite its input."""
    from d3prefiner.data.sources import load_source

    src = tmp_path / "fk17"
    src.mkdir()
    rng = np.random.default_rng(0)
    for subject in ("S1", "S9"):
        walk = np.cumsum(rng.normal(0, 5, (120, 17, 3)), axis=0) + [0, 0, 900]
        np.savez_compressed(src / f"h36m_expmap_fk17_{subject}.npz", walking_1=walk)
    pack = _script("pack_for_device")
    out = tmp_path / "packed"
    assert pack.main(["--src", str(src), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["S1.npz", "S9.npz", "npz-folder.json"]
    a = load_source("h36m-fk17", src, subjects=["S9"])[0]
    b = load_source("npz-folder", out, subjects=["S9"])[0]
    assert (a.fps, b.fps) == (50.0, 25.0) and b.action == a.action == "walking_1"
    assert b.joints3d.shape == a.joints3d[::2].shape
    # the same frames up to the ground levelling, estimated from half of them (a few mm at
    # most on these random poses; 0.9 mm on Human3.6M's S9)
    diff = np.abs(b.joints3d - a.joints3d[::2])
    assert diff.max() < 5e-3 and diff.mean() < 1e-3
    assert pack.main(["--src", str(src), "--out", str(src)]) == 2


def _plane_exact_depth_doubled():
    """Synthetic predictions and a "refinement" of them exact in camera x, y that doubles the
    depth error."""
    from d3prefiner.noise import make_synthetic_predictions

    base = make_synthetic_predictions(n_sequences=2, n_frames=30, seed=1, error_scale=0.02)
    refined = base.with_pred3d([
        np.concatenate([s.gt3d[..., :2], 2 * s.pred3d[..., 2:] - s.gt3d[..., 2:]], -1)
        .astype(np.float32) for s in base
    ])  # fmt: skip
    return base, refined


def test_correction_parts_splits_the_plane_from_the_depth():
    """A correction exact in x, y and doubling the error in depth: its in-plane part alone lands
    x, y on the gt (MPJPE = the depth error alone), its depth part alone only adds error, and the
    2D-3D disagreement sees none of the depth."""
    cp = _script("correction_parts")
    base, refined = _plane_exact_depth_doubled()
    t = cp.part_table(base, refined)
    assert t["full"][0.0] == t["in-plane"][0.0] == t["depth"][0.0]
    rel = lambda x: x - x[:, :1]  # noqa: E731
    dz = np.concatenate([rel(s.pred3d)[..., 2] - rel(s.gt3d)[..., 2] for s in base])
    assert t["in-plane"][1.0] == pytest.approx(1000 * np.abs(dz).mean(), rel=1e-3)
    assert t["depth"][1.0] > t["depth"][0.0] and t["in-plane"][1.0] < t["in-plane"][0.0]
    assert set(t["disagreement"]) == set(cp.ALPHAS)


def test_part_strengths_chooses_each_part_on_validation(tmp_path, capsys):
    """A correction exact in x, y and doubling the depth error: the pair chosen keeps the whole
    in-plane part and none of the depth; a folder without bench_pooled's files is one line."""
    ps = _script("part_strengths")
    base, refined = _plane_exact_depth_doubled()
    pair, grid = ps.choose_pair(base, refined)
    assert pair == (1.0, 0.0) and len(grid) == len(ps.ALPHAS) ** 2
    assert grid[(0.0, 0.0)] == pytest.approx(ps.frame_mpjpe(base, base, 1.0, 1.0))
    assert grid[(0.0, 1.0)] > grid[(0.0, 0.0)] and grid[(1.0, 1.0)] > grid[(1.0, 0.0)]
    code = ps.main([str(tmp_path / "run"), str(tmp_path)])
    assert code == 2 and "not a `d3pr bench`" in capsys.readouterr().err

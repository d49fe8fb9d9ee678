"""Figures are written, non-empty, of the right kind; bad input is refused."""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pytest
import torch
from PIL import Image

from d3prefiner import viz
from d3prefiner.errors import D3PRError
from d3prefiner.predictions import Predictions, PredictionSequence
from d3prefiner.report import evaluate_methods

torch.set_num_threads(1)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# a person standing in the camera frame (x right, y down, z forward), metres, root at 0
STANDING = np.array(
    [[0, 0, 0], [-0.12, 0, 0], [-0.12, 0.45, 0], [-0.12, 0.9, 0], [0.12, 0, 0], [0.12, 0.45, 0],
     [0.12, 0.9, 0], [0, -0.25, 0], [0, -0.5, 0], [0, -0.6, -0.05], [0, -0.72, 0], [0.18, -0.5, 0],
     [0.45, -0.5, 0], [0.7, -0.5, 0], [-0.18, -0.5, 0], [-0.3, -0.25, 0], [-0.35, 0, 0]]
)  # fmt: skip


def _is_png(path):
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 2000


def test_upright_mapping():
    p = viz._to_plot(STANDING)
    assert p[10, 2] > p[0, 2] > p[3, 2]  # head above hip above right foot
    np.testing.assert_allclose(p[:, 0], STANDING[:, 0])


def test_histogram(tmp_path):
    rng = np.random.default_rng(0)
    path = viz.plot_error_histogram(
        {"base": rng.gamma(9, 5, 500), "refined": rng.gamma(9, 4, 500)}, tmp_path / "h.png"
    )
    assert _is_png(path)
    with pytest.raises(D3PRError):
        viz.plot_error_histogram({}, tmp_path / "x.png")
    with pytest.raises(D3PRError, match="no frames"):
        viz.plot_error_histogram({"a": np.zeros(0)}, tmp_path / "x.png")


def test_skeletons_and_joint_errors(tmp_path):
    poses = np.stack([STANDING, STANDING * 0.9, STANDING + 0.01])
    p1 = viz.plot_skeletons(poses, poses + 0.03, poses + 0.01, tmp_path / "s.png", titles="abc")
    p2 = viz.plot_skeletons(poses, poses + 0.03, None, tmp_path / "s2.png")
    p3 = viz.plot_joint_errors(
        {"base": np.arange(17.0), "refined": np.ones(17)}, tmp_path / "j.png"
    )
    assert _is_png(p1) and _is_png(p2) and _is_png(p3)
    with pytest.raises(D3PRError, match="17"):
        viz.plot_joint_errors({"base": np.ones(16)}, tmp_path / "x.png")
    with pytest.raises(D3PRError, match="differs"):
        viz.plot_skeletons(poses, poses[:2], None, tmp_path / "x.png")
    with pytest.raises(D3PRError, match="NaN"):
        viz.plot_skeletons(poses * np.nan, poses, None, tmp_path / "x.png")


@pytest.fixture
def kept_figures(monkeypatch):
    """The figures the plotting functions draw, kept open instead of closed."""
    figs = []
    monkeypatch.setattr(viz.plt, "close", figs.append)
    return figs


def _same(a, b):
    return mcolors.to_hex(a) == mcolors.to_hex(b)


def _hue(color):
    return mcolors.rgb_to_hsv(mcolors.to_rgb(color))[0] * 360


def test_method_colors_one_palette():
    c = viz.method_colors(["base", "refined", "savgol", "cnd_closed_form", "refined2"])
    assert c["base"] == viz.BASE_COLOR and c["refined"] == viz.REFINED_COLOR
    assert c["savgol"] == viz.BASELINE_COLORS[0] and c["cnd_closed_form"] == viz.BASELINE_COLORS[1]
    assert c["refined2"] in viz.REFINED_HUES and c["refined2"] != viz.REFINED_COLOR
    # the refiner's rows and the baselines: distinct hues, never a shade of red, green or blue
    many = ["base", "refined", "refined_auto", "refined_auto_unfiltered", "savgol", "one_euro",
            "gaussian", "cnd_closed_form", "reproject", "bones", "bones+reproject", "rays",
            "rays-nearest"]  # fmt: skip
    c = viz.method_colors(many)
    assert len(set(c.values())) == len(many)
    reserved = [_hue(x) for x in (viz.GT_COLOR, viz.BASE_COLOR, viz.REFINED_COLOR)]
    chromatic = [x for x in c.values() if mcolors.rgb_to_hsv(mcolors.to_rgb(x))[1] > 0.2]
    hues = sorted(_hue(x) for x in chromatic)
    assert min(b - a for a, b in zip(hues, hues[1:])) >= 10  # no two alike
    for x in chromatic:
        if x not in (viz.BASE_COLOR, viz.REFINED_COLOR):
            assert min(abs(_hue(x) - h) for h in reserved) >= 10, x
    h = viz.method_hatches(many)
    assert h["base"] == h["refined"] == h["refined_auto"] == ""
    assert h["savgol"] and h["bones"]
    assert viz.COLORS == {
        "ground truth": viz.GT_COLOR,
        "estimate": viz.BASE_COLOR,
        "refined": viz.REFINED_COLOR,
    }
    r, g, b = (mcolors.to_rgb(x) for x in (viz.GT_COLOR, viz.BASE_COLOR, viz.REFINED_COLOR))
    assert r[0] == max(r) and g[1] == max(g) and b[2] == max(b)
    assert all(len(set(mcolors.to_rgb(x))) == 1 for x in viz.BASELINE_GREYS)  # noise figures


def test_figures_use_the_palette(tmp_path, kept_figures):
    poses = np.stack([STANDING, STANDING * 0.9])
    viz.plot_skeletons(poses, poses + 0.03, poses + 0.01, tmp_path / "s.png")
    ax = kept_figures[-1].axes[0]
    by_label = {ln.get_label(): ln.get_color() for ln in ax.lines}
    assert _same(by_label["refined"], viz.REFINED_COLOR)
    assert _same(by_label["estimate"], viz.BASE_COLOR)
    assert _same(by_label["ground truth"], viz.GT_COLOR)
    assert "(m)" in ax.get_xlabel() and "(m)" in ax.get_ylabel() and "(m)" in ax.get_zlabel()

    viz.plot_joint_errors(
        {"base": np.ones(17), "refined": np.ones(17), "savgol": np.ones(17)}, tmp_path / "j.png"
    )
    ax = kept_figures[-1].axes[0]
    bars = {c.get_label(): c.patches[0].get_facecolor() for c in ax.containers}
    assert _same(bars["base"], viz.BASE_COLOR) and _same(bars["refined"], viz.REFINED_COLOR)
    assert _same(bars["savgol"], viz.BASELINE_COLORS[0])
    hatch = {c.get_label(): c.patches[0].get_hatch() for c in ax.containers}
    assert not hatch["base"] and not hatch["refined"] and hatch["savgol"]
    # the root is left out: 16 joints, its error is 0 by definition
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) == 16 and "Hip" not in labels and labels[0] == "RHip"
    assert all(len(c.patches) == 16 for c in ax.containers)
    assert "0 by definition" in ax.get_title()

    rng = np.random.default_rng(0)
    viz.plot_error_histogram(
        {"base": rng.gamma(9, 5, 50), "refined": rng.gamma(9, 4, 50)}, tmp_path / "h.png"
    )
    ax = kept_figures[-1].axes[0]
    legend = ax.get_legend()
    assert "frame-weighted" in legend.get_title().get_text()
    colors = [h.get_edgecolor() for h in legend.legend_handles]
    assert _same(colors[0], viz.BASE_COLOR) and _same(colors[1], viz.REFINED_COLOR)


def test_histogram_labels_its_overflow_bin(tmp_path, kept_figures):
    base = np.r_[np.linspace(10, 390, 98), 500.0, 900.0]  # 2 frames past 400 mm
    refined = np.r_[np.linspace(5, 300, 99), 450.0]  # 1 frame
    viz.plot_error_histogram({"base": base, "refined": refined}, tmp_path / "h.png", max_mm=400)
    ax = kept_figures[-1].axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[-1] == "≥ 400" and "400" not in ticks
    assert ax.get_xticks()[-1] == pytest.approx(405.0)  # the middle of the bin past 400
    assert ax.get_xlim()[1] == pytest.approx(410.0)
    assert "≥ 400 mm" in ax.get_xlabel()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "(2.0% of frames ≥ 400 mm)" in texts[0] and "(1.0% of frames ≥ 400 mm)" in texts[1]
    # the overflow bin [400, 410) holds the 2 % and the 1 % (the outlines' heights at its end)
    labels = [str(p.get_label()) for p in ax.patches]
    outline = {lb.split(":")[0]: p.get_xy() for lb, p in zip(labels, ax.patches) if ":" in lb}
    for name, share in (("base", 2.0), ("refined", 1.0)):
        xy = outline[name]
        assert max(y for x, y in xy if x == pytest.approx(410.0)) == pytest.approx(share)
    # no error past the range: no overflow bin, no ≥ tick
    viz.plot_error_histogram({"base": base}, tmp_path / "h2.png", max_mm=1000)
    ax = kept_figures[-1].axes[0]
    assert not any("≥" in t.get_text() for t in ax.get_xticklabels())
    assert "≥" not in ax.get_legend().get_texts()[0].get_text()


def test_histogram_range_is_a_round_number():
    assert viz._nice_ceil(387.3) == 400.0
    assert viz._nice_ceil(400.0) == 400.0
    assert viz._nice_ceil(43.0) == 45.0
    assert viz._nice_ceil(0.0) == 1.0


def test_skeleton_titles_say_which_frame():
    F = 50
    p2 = np.zeros((F, 17, 2), np.float32)
    pose = np.repeat(STANDING[None], F, axis=0).astype(np.float32)
    preds = Predictions([PredictionSequence("S9", "walking_1", "c0", 25.0, p2, pose, pose)] * 2)
    titles = viz._frame_titles(preds)
    assert len(titles) == 2 * F
    assert titles[48] == "S9 walking_1 (c0)\nframe 48 of 50 (1.9 s)"
    assert titles[F] == "S9 walking_1 (c0)\nframe 0 of 50 (0.0 s)"
    assert "#" not in "".join(titles)


def test_gif_legend_outside_the_axes(tmp_path, kept_figures):
    seq = np.repeat(STANDING[None], 4, axis=0)
    viz.animate_sequence(seq, seq + 0.02, seq - 0.01, tmp_path / "a.gif", fps=25, max_frames=4)
    fig = kept_figures[-1]
    ax = fig.axes[0]
    assert ax.get_legend() is None and len(fig.legends) == 1
    fig.canvas.draw()
    legend_box = fig.legends[0].get_window_extent()
    assert legend_box.y0 >= ax.get_position().y1 * fig.bbox.height - 1  # above the axes


def test_gif_is_small_and_animated(tmp_path):
    F = 150
    seq = np.repeat(STANDING[None], F, axis=0)
    seq[:, 13, 1] += np.linspace(0, -0.4, F)  # raise the left wrist
    path = viz.animate_sequence(
        seq, seq + 0.02, seq - 0.01, tmp_path / "a.gif", fps=50, max_frames=6
    )
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert 2 <= im.n_frames <= 6
        first = np.asarray(im.convert("RGB"))
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("RGB"))
    assert not np.array_equal(first, last)


def test_evaluate_methods_writes_figures(tmp_path):
    rng = np.random.default_rng(1)
    F = 12
    gt = (STANDING[None] + rng.normal(0, 0.01, (F, 17, 3))).astype(np.float32)
    gt -= gt[:, :1]
    err = rng.normal(0, 0.02, (F, 17, 3)).astype(np.float32)
    err[:, 0] = 0
    p2 = np.zeros((F, 17, 2), np.float32)
    base = Predictions([PredictionSequence("S9", "walking_1", "c0", 25.0, p2, gt + err, gt)])
    ref = Predictions([PredictionSequence("S9", "walking_1", "c0", 25.0, p2, gt + err / 2, gt)])
    res = evaluate_methods(
        {"base": base, "refined": ref},
        baselines=("gaussian",),
        figures_dir=tmp_path / "figures",
        progress=False,
    )
    figs = res["meta"]["figures"]
    assert set(figs) == {
        "MPJPE per frame",
        "Error per joint",
        "Qualitative skeletons",
        "Sequence animation",
    }
    for rel in figs.values():
        assert rel.startswith("figures/")
        assert (tmp_path / rel).stat().st_size > 1000

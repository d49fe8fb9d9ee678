"""Figures (matplotlib, Agg backend, PNG / GIF), as in the paper's Figs. 4 and 5.

Poses are H36M-17 ``(17, 3)`` in the library's camera frame (x right, y down, z forward, metres);
the 3D plots map them to an upright view: plot x = camera x, plot y = camera z (depth),
plot z = −camera y (up), in metres.

One palette in every figure (the paper's Fig. 5): ground truth red (:data:`GT_COLOR`), the base
estimate green (:data:`BASE_COLOR`), the refinement blue (:data:`REFINED_COLOR`); further rows of
the refiner (``refined_auto``, ...) and the baselines and filters take distinct hues
(:data:`REFINED_HUES`, :data:`BASELINE_COLORS`), never another shade of one of these three, and
the baselines' bars are hatched; :func:`method_colors` and :func:`method_hatches` assign them to
method names. Fitted models and reference curves (noise figures) are black (:data:`MODEL_COLOR`)
and grey (:data:`BASELINE_GREYS`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from itertools import cycle
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .errors import D3PRError, check_joints  # noqa: E402
from .io import atomic_path  # noqa: E402
from .skeleton import H36M17  # noqa: E402

#: Ground truth (red).
GT_COLOR = "#d62728"
#: The base estimate, i.e. the estimator's output before refinement (green).
BASE_COLOR = "#2ca02c"
#: The refinement (blue); further refined methods (``refined_auto``, ...) take distinct hues:
#: purple, cyan, pink.
REFINED_COLOR = "#1f77b4"
REFINED_HUES = (REFINED_COLOR, "#9467bd", "#17becf", "#e377c2")
#: Baselines and filters (hatched in bar charts): orange, brown, olive, grey, black, gold.
BASELINE_COLORS = (
    "#ff7f0e",
    "#8c564b",
    "#bcbd22",
    "#7f7f7f",
    "#000000",
    "#f2c12e",
    "#16a085",
    "#3949ab",
    "#e377c2",
)
#: Hatches of the baselines' bars, in turn (so that a repeated colour is told apart).
BASELINE_HATCHES = ("///", "\\\\\\", "xxx")
#: Reference curves of the noise figures, darkest first.
BASELINE_GREYS = ("#3a3a3a", "#6e6e6e", "#9a9a9a", "#c4c4c4")
#: Fitted models and reference curves (noise figures).
MODEL_COLOR = "black"
#: Colour of each skeleton role.
COLORS = {"ground truth": GT_COLOR, "estimate": BASE_COLOR, "refined": REFINED_COLOR}


def _is_baseline(names: Sequence[str]) -> list[bool]:
    from .baselines import baseline_names

    known = set(baseline_names())
    return [k > 0 and n in known for k, n in enumerate(names)]


def method_colors(names: Sequence[str]) -> dict[str, str]:
    """Colour of each method: the first (the base estimate) green, the first refinement blue,
    further refinements purple, cyan, pink (:data:`REFINED_HUES`), the baselines
    (:func:`d3prefiner.baselines.baseline_names`) orange, brown, olive, grey, black, gold, teal, indigo
    (:data:`BASELINE_COLORS`); after that the colours repeat (:func:`method_hatches` then
    differs)."""
    hues, others = cycle(REFINED_HUES), cycle(BASELINE_COLORS)
    out = {}
    for k, (n, is_base) in enumerate(zip(names, _is_baseline(names))):
        out[n] = BASE_COLOR if k == 0 else next(others) if is_base else next(hues)
    return out


def method_hatches(names: Sequence[str]) -> dict[str, str]:
    """Hatch of each method's bars: none for the base and the refinements, for the baselines
    :data:`BASELINE_HATCHES` in turn, changing each time their colours come round again."""
    out, b = {}, 0
    for n, is_base in zip(names, _is_baseline(names)):
        out[n] = ""
        if is_base:
            out[n] = BASELINE_HATCHES[(b // len(BASELINE_COLORS)) % len(BASELINE_HATCHES)]
            b += 1
    return out


def _to_plot(p: np.ndarray) -> np.ndarray:
    """Camera frame ``(..., 3)`` → plot frame (x, depth, up)."""
    p = np.asarray(p, dtype=np.float64)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def _save(fig, path: str | os.PathLike, dpi: int) -> Path:
    path = Path(path)
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def _nice_ceil(x: float) -> float:
    """``x`` rounded up to a round number of its size: 387.3 → 400, 43 → 45, 0.7 → 0.7."""
    if x <= 0:
        return 1.0
    step = 10.0 ** np.floor(np.log10(x)) / 2
    return float(np.ceil(x / step - 1e-9) * step)


def plot_error_histogram(
    errors: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    bins: int = 40,
    max_mm: float | None = None,
    dpi: int = 100,
) -> Path:
    """Histogram of per-frame MPJPE (the paper's Fig. 4): proportion of frames per error bin.

    Errors above the range are counted in an overflow bin drawn past its end, hatched, with the
    tick ``≥ <max> mm`` and the share of each method's frames in it.

    Args:
        errors: method name → per-frame MPJPE ``(N,)`` in mm (e.g. ``base`` and ``refined``).
        path: output PNG.
        bins: number of bins over the shared range.
        max_mm: upper end of the range; default the 99th percentile of all errors, rounded up
            to a round number (e.g. 387 → 400).
        dpi: resolution.

    Returns:
        The written path.
    """
    if not errors:
        raise D3PRError("plot_error_histogram: no methods given")
    arrays = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in errors.items()}
    if any(a.size == 0 for a in arrays.values()):
        raise D3PRError("plot_error_histogram: a method has no frames")
    allv = np.concatenate(list(arrays.values()))
    hi = float(max_mm) if max_mm else _nice_ceil(float(np.percentile(allv, 99)))
    width = hi / bins
    over = bool((allv >= hi).any())
    edges = np.linspace(0.0, hi + (width if over else 0.0), bins + 1 + over)
    colors = method_colors(list(arrays))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, a in arrays.items():
        w = np.full(a.shape, 100.0 / a.size)
        x = np.clip(a, 0, edges[-1] - width / 2)  # (N,) larger errors in the last bin
        ax.hist(x, bins=edges, weights=w, color=colors[name], alpha=0.3, histtype="stepfilled")
        label = f"{name}: {a.mean():.1f} mm"
        if over:
            label += f" ({100.0 * (a >= hi).mean():.1f}% of frames ≥ {hi:g} mm)"
        ax.hist(x, bins=edges, weights=w, color=colors[name], lw=1.6, histtype="step", label=label)
    ax.set_xlim(0.0, edges[-1])
    if over:
        ax.axvspan(hi, hi + width, facecolor="none", edgecolor="0.5", hatch="///", lw=0)
        ax.axvline(hi, color="0.5", lw=0.8, ls=":")
        ticks = [t for t in ax.get_xticks() if 0 <= t <= hi - 2.5 * width]  # room for "≥"
        ax.set_xticks([*ticks, hi + width / 2])
        ax.set_xticklabels([f"{t:g}" for t in ticks] + [f"≥ {hi:g}"])
    ax.set_xlabel("MPJPE per frame (mm)" + (f"; last bin: all frames ≥ {hi:g} mm" if over else ""))
    ax.set_ylabel("frames (%)")
    ax.set_title("MPJPE distribution")
    ax.legend(  # outside the axes: it hides no bin
        title="frame-weighted mean",
        fontsize=8,
        title_fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    return _save(fig, path, dpi)


def _draw_skeleton(ax, pose: np.ndarray, color: str, label: str | None = None) -> None:
    p = _to_plot(pose)
    for k, (child, parent) in enumerate(H36M17.bones):
        seg = p[[child, parent]]
        ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=color, lw=2, label=label if k == 0 else None)


def _set_limits(ax, poses: np.ndarray) -> None:
    p = _to_plot(poses).reshape(-1, 3)
    center = (p.max(0) + p.min(0)) / 2
    r = max(float((p.max(0) - p.min(0)).max()) / 2, 1e-3) * 1.1
    ax.set_xlim(center[0] - r, center[0] + r)
    ax.set_ylim(center[1] - r, center[1] + r)
    ax.set_zlim(center[2] - r, center[2] + r)
    ax.set_box_aspect((1, 1, 1))
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(3))
    ax.tick_params(labelsize=6, pad=0)
    ax.set_xlabel("x (m)", fontsize=7, labelpad=-6)
    ax.set_ylabel("depth (m)", fontsize=7, labelpad=-6)
    ax.set_zlabel("up (m)", fontsize=7, labelpad=-6)


def _check_poses(named: Mapping[str, np.ndarray | None], ndim: int) -> dict[str, np.ndarray]:
    out = {}
    shape = None
    for role, p in named.items():
        if p is None:
            continue
        p = np.asarray(p, dtype=np.float64)
        check_joints(p, 17, 3, role)
        if p.ndim != ndim:
            raise D3PRError(f"{role}: expected {ndim} dimensions, got shape {p.shape}")
        if shape is not None and p.shape != shape:
            raise D3PRError(f"{role}: shape {p.shape} differs from {shape}")
        shape = p.shape
        out[role] = p
    if not out:
        raise D3PRError("no poses to plot")
    return out


def plot_skeletons(
    gt: np.ndarray,
    estimate: np.ndarray,
    refined: np.ndarray | None,
    path: str | os.PathLike,
    titles: Sequence[str] | None = None,
    dpi: int = 100,
) -> Path:
    """Qualitative skeletons side by side (the paper's Fig. 5), one panel per pose.

    Args:
        gt: ``(P, 17, 3)`` ground truth, metres, camera frame (drawn red).
        estimate: ``(P, 17, 3)`` estimator output (green).
        refined: ``(P, 17, 3)`` refinement (blue), or None.
        path: output PNG.
        titles: one title per panel.
        dpi: resolution.

    Returns:
        The written path.
    """
    poses = _check_poses({"ground truth": gt, "estimate": estimate, "refined": refined}, 3)
    P = next(iter(poses.values())).shape[0]
    fig = plt.figure(figsize=(3.2 * P, 3.4))
    for i in range(P):
        ax = fig.add_subplot(1, P, i + 1, projection="3d")
        for role, p in poses.items():
            _draw_skeleton(ax, p[i], COLORS[role], role if i == 0 else None)
        _set_limits(ax, np.stack([p[i] for p in poses.values()]))
        ax.view_init(elev=12, azim=-70)
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=9)
    fig.legend(loc="lower center", bbox_to_anchor=(0.5, 0.97), ncol=len(poses), fontsize=8)
    return _save(fig, path, dpi)


def plot_joint_errors(
    per_joint: Mapping[str, np.ndarray], path: str | os.PathLike, dpi: int = 100
) -> Path:
    """Bar chart of the mean error per joint, methods side by side, in the colours of
    :func:`method_colors` (baselines hatched, :func:`method_hatches`). The root (Hip) is left
    out: poses are root-relative, so its error is 0 by definition.

    Args:
        per_joint: method name → ``(17,)`` mean error per joint, mm.
        path: output PNG.
        dpi: resolution.

    Returns:
        The written path.
    """
    if not per_joint:
        raise D3PRError("plot_joint_errors: no methods given")
    names = list(per_joint)
    vals = [np.asarray(per_joint[n], dtype=np.float64).reshape(-1) for n in names]
    for n, v in zip(names, vals):
        if v.shape != (H36M17.num_joints,):
            raise D3PRError(f"plot_joint_errors: '{n}' has shape {v.shape}, expected (17,)")
    joints = np.arange(1, H36M17.num_joints)  # (16,) every joint but the root
    x = np.arange(len(joints))
    width = 0.84 / len(names)
    colors, hatches = method_colors(names), method_hatches(names)
    fig, ax = plt.subplots(figsize=(min(14.0, max(9.0, 3.0 + 0.1 * len(joints) * len(names))), 3.5))
    for k, (n, v) in enumerate(zip(names, vals)):
        ax.bar(
            x + (k - (len(names) - 1) / 2) * width,
            v[joints],
            width,
            color=colors[n],
            hatch=hatches[n],
            edgecolor="white" if hatches[n] else colors[n],
            lw=0,
            label=n,
        )
    ax.set_xticks(x)
    ax.set_xticklabels([H36M17.names[j] for j in joints], rotation=45, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(joints) - 0.5)
    ax.set_ylabel("mean error (mm)")
    ax.set_title(f"Error per joint (the root, {H36M17.names[0]}, is 0 by definition: left out)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: no bar hidden
    return _save(fig, path, dpi)


def animate_sequence(
    gt: np.ndarray,
    estimate: np.ndarray,
    refined: np.ndarray | None,
    path: str | os.PathLike,
    fps: float = 25.0,
    max_frames: int = 100,
    dpi: int = 80,
    title: str = "",
) -> Path:
    """Animated GIF of one sequence with ground truth (red), estimate (green), refinement (blue).

    Args:
        gt: ``(F, 17, 3)`` metres, camera frame.
        estimate: ``(F, 17, 3)``.
        refined: ``(F, 17, 3)`` or None.
        path: output ``.gif``.
        fps: frame rate of the sequence; frames are subsampled evenly to at most ``max_frames``
            and the GIF plays at the matching rate (real time).
        max_frames: upper bound on the GIF's frames (≤ 100 keeps it small).
        dpi: resolution.
        title: figure title.

    Returns:
        The written path.
    """
    poses = _check_poses({"ground truth": gt, "estimate": estimate, "refined": refined}, 3)
    F = next(iter(poses.values())).shape[0]
    idx = np.unique(np.linspace(0, F - 1, min(F, max(1, max_frames))).round().astype(int))
    step = (F - 1) / max(len(idx) - 1, 1) if F > 1 else 1.0
    gif_fps = max(1.0, min(25.0, fps / max(step, 1.0)))
    fig = plt.figure(figsize=(3.0, 3.4))
    ax = fig.add_axes((0.0, 0.0, 1.0, 0.86), projection="3d")  # the top strip holds the legend
    _set_limits(ax, np.concatenate([p[idx] for p in poses.values()]))
    ax.view_init(elev=12, azim=-70)
    bones = H36M17.bones
    lines = {
        role: [
            ax.plot([], [], [], color=COLORS[role], lw=2, label=role if k == 0 else None)[0]
            for k in range(len(bones))
        ]
        for role in poses
    }
    fig.legend(loc="upper center", ncol=len(poses), fontsize=6, frameon=False)
    head = fig.text(0.5, 0.9, "", ha="center", fontsize=7)

    def draw(k: int):
        for role, p in poses.items():
            q = _to_plot(p[idx[k]])  # (17, 3)
            for line, (child, parent) in zip(lines[role], bones):
                seg = q[[child, parent]]
                line.set_data_3d(seg[:, 0], seg[:, 1], seg[:, 2])
        head.set_text(f"{title} frame {idx[k]}".strip())
        return []

    anim = FuncAnimation(fig, draw, frames=len(idx), blit=False)
    path = Path(path)
    with atomic_path(path, ".gif") as tmp:
        anim.save(tmp, writer=PillowWriter(fps=gif_fps), dpi=dpi)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------ an evaluation's figures


def _frame_titles(predictions) -> list[str]:
    """Where every frame is, in words, in the order of
    :func:`~d3prefiner.evaluation.per_frame_errors`:
    ``"view4 dance_a (virtual4)\nframe 48 of 105 (1.6 s)"``: subject, action, camera, the frame's
    index in its sequence (from 0) and its time."""
    out = []
    for s in predictions:
        cam = f" ({s.camera})" if s.camera else ""
        n = s.num_frames
        out += [
            f"{s.subject} {s.action}{cam}\nframe {i} of {n} ({i / s.fps:.1f} s)" for i in range(n)
        ]
    return out


def make_figures(
    methods: Mapping,
    figures_dir: str | os.PathLike,
    refined: str | None = None,
    gif: bool = True,
) -> dict[str, Path]:
    """Write an evaluation's figures: MPJPE histogram (base vs ``refined``), skeletons, error per
    joint and an animated GIF of one sequence.

    Args:
        methods: aligned method name → predictions with ``gt3d`` (``(F, 17, 3)`` metres per
            sequence), the base first: :attr:`d3prefiner.evaluation.Evaluation.methods`.
        figures_dir: output folder.
        refined: method compared with the base (default: the second method).
        gif: also write the GIF.

    Returns:
        Figure title → path.
    """
    from .evaluation import per_frame_errors

    out = Path(figures_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(methods)
    base = names[0]
    if refined is None and len(names) > 1:
        refined = names[1]
    errs = {n: per_frame_errors(p) for n, p in methods.items()}
    figs: dict[str, Path] = {}
    hist = {base: errs[base][0]}
    if refined:
        hist[refined] = errs[refined][0]
    figs["MPJPE per frame"] = plot_error_histogram(hist, out / "mpjpe_histogram.png")
    figs["Error per joint"] = plot_joint_errors(
        {n: e[1].mean(axis=0) for n, e in errs.items()}, out / "joint_errors.png"
    )
    # three frames at the 50th, 80th and 95th percentile of the base error
    gt_all = methods[base].concat("gt3d")
    est_all = methods[base].concat("pred3d")
    ref_all = methods[refined].concat("pred3d") if refined else None
    order = np.argsort(errs[base][0], kind="stable")
    picks = [int(order[min(len(order) - 1, int(q * len(order)))]) for q in (0.5, 0.8, 0.95)]
    where = _frame_titles(methods[base])
    titles = [
        f"{where[i]}\nbase {errs[base][0][i]:.0f} mm"
        + (f", {refined} {errs[refined][0][i]:.0f} mm" if refined else "")
        for i in picks
    ]

    def rel(x):
        return x - x[:, :1]

    figs["Qualitative skeletons"] = plot_skeletons(
        rel(gt_all[picks]),
        rel(est_all[picks]),
        rel(ref_all[picks]) if ref_all is not None else None,
        out / "skeletons.png",
        titles=titles,
    )
    if gif:
        s0 = methods[base].sequences[0]
        n = min(s0.num_frames, max(2, int(round(3 * s0.fps))))  # a 3-second clip
        ref0 = methods[refined].sequences[0].pred3d[:n] if refined else None
        figs["Sequence animation"] = animate_sequence(
            rel(s0.gt3d[:n]),
            rel(s0.pred3d[:n]),
            rel(ref0) if ref0 is not None else None,
            out / "sequence.gif",
            fps=s0.fps,
            max_frames=75,
            title=f"{s0.subject} {s0.action}",
        )
    return figs


# ------------------------------------------------------------------------ noise-model figures

#: Line styles that tell apart several grey curves of one panel.
_DASHES = ("--", "-.", (0, (1, 1.5)))

#: Joints shown in the noise model's histogram grid (4 joints × x, y, z = 12 dimensions).
HIST_JOINTS = ("RFoot", "LWrist", "Head", "Thorax")


def noise_figures(model, report: dict, folder: str | os.PathLike) -> list[Path]:
    """The figures of ``d3pr noise fit``: ``error_histograms.png``, ``residual_histograms.png``
    (real errors against the fitted Gaussians) and ``autocorrelation.png``.

    Args:
        model: a fitted :class:`~d3prefiner.noise.PoseNoiseModel`.
        report: :func:`~d3prefiner.noise.summary.noise_report` of it (with its ``_hist`` samples).
        folder: where to write the PNGs (created).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mom = {k: v.reshape(-1).numpy() for k, v in model.error_moments().items()}
    zero = 0 * mom["mean"]
    paths = [
        _noise_histograms(report["_hist"]["error"], mom["mean"], mom["var"], False,
                          "e = x_noisy - x0 vs fitted N(mu_a, Sigma_aa)",
                          folder / "error_histograms.png"),
        _noise_histograms(report["_hist"]["residual"], zero, mom["cond_var"], True,
                          "e - mu(b) (held out) vs N(0, Sigma_a|b)",
                          folder / "residual_histograms.png"),
    ]  # fmt: skip
    paths.append(_autocorrelation_figure(model, report, folder / "autocorrelation.png"))
    return paths


def _noise_histograms(data, mean, var, logy: bool, title: str, path: Path) -> Path:
    """A grid of histograms of ``data (n, 48)`` (metres) on HIST_JOINTS against N(mean, var)."""
    names = list(H36M17.names)
    dims = [(j, (names.index(j) - 1) * 3 + c) for j in HIST_JOINTS for c in range(3)]
    data = np.asarray(data) * 1000.0  # mm
    fig, axes = plt.subplots(len(HIST_JOINTS), 3, figsize=(10, 2.4 * len(HIST_JOINTS)))
    for ax, (jname, d) in zip(axes.reshape(-1), dims):
        x = data[:, d]
        mu, sd = mean[d] * 1000.0, np.sqrt(var[d]) * 1000.0
        lo, hi = np.percentile(x, [0.1, 99.9])
        lo, hi = min(lo, mu - 4 * sd), max(hi, mu + 4 * sd)
        ax.hist(x, bins=80, range=(lo, hi), density=True, color=BASELINE_GREYS[2], label="data")
        g = np.linspace(lo, hi, 300)
        pdf = np.exp(-0.5 * ((g - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
        ax.plot(g, pdf, "-", color=MODEL_COLOR, lw=1.2, label="Gaussian")
        k = float(((x - x.mean()) ** 4).mean() / max(x.var(), 1e-30) ** 2 - 3.0)
        ax.set_title(f"{jname} {'xyz'[d % 3]}  (excess kurt. {k:.1f})", fontsize=9)
        if logy:
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.3 * 80 / ((hi - lo) * len(x)))  # below one count per bin
        ax.tick_params(labelsize=7)
    axes.reshape(-1)[0].legend(fontsize=7)
    fig.suptitle(title + " [mm]", fontsize=10)
    fig.tight_layout()
    return _save(fig, path, 110)


def _autocorrelation_figure(model, report: dict, path: Path) -> Path:
    """Autocorrelation of real errors beside that of each temporal option's samples, and of the
    standardised residuals beside the fitted AR(1) and block models."""
    from .noise import TEMPORALS

    curves = report["autocorrelation_curves"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    lag = np.arange(len(curves["real"]))
    a1.plot(lag, curves["real"], "-", color=MODEL_COLOR, lw=2, label="real e")
    for t, grey, dash in zip(TEMPORALS, cycle(BASELINE_GREYS), cycle(_DASHES)):
        a1.plot(lag, curves[f"sample_{t}"], color=grey, ls=dash, label=f"sampled e ({t})")
    a1.set(xlabel="lag (frames)", ylabel="autocorrelation", title="errors, held out")
    a1.legend(fontsize=8)
    a2.plot(
        lag, curves["standardized_residual"], "-", color=MODEL_COLOR, lw=2, label="real (held out)"
    )
    a2.plot(lag, model.acf_.numpy()[: len(lag)], ":", color=MODEL_COLOR, label="real (fit data)")
    a2.plot(
        lag,
        model.ar1_coef_**lag,
        color=BASELINE_GREYS[1],
        ls=_DASHES[0],
        label=f"AR(1) rho={model.ar1_coef_:.3f}",
    )
    Tw = model.config.temporal_window
    blk = np.where(lag == 0, 1.0, model.window_weight_ * np.clip(1 - lag / Tw, 0, None))
    a2.plot(
        lag,
        blk,
        color=BASELINE_GREYS[2],
        ls=_DASHES[1],
        label=f"block (w={model.window_weight_:.2f}, avg. over offsets)",
    )
    a2.axhline(0, color=BASELINE_GREYS[3], lw=0.8)
    a2.set(xlabel="lag (frames)", title="standardised residuals L^-1(e - mu(b))")
    a2.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path, 110)

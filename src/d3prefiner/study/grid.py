"""Refiner variants × bench runs: trained on the split's refiner subjects, chosen on its validation
subject, scored on the test subjects (``d3pr grid``; ``d3pr ablate`` runs the paper's tables).

Input: run directories of ``d3pr bench`` (``RUN/experiment.json`` and
``RUN/predictions/{train_crossfit,test}.npz``). For each run (a *cell*) the grid

1. fits a CND on the split's CND subjects (ridge chosen on the validation subject under the
   leak-free protocol, across folds under the pooled one) → ``OUT/<cell>/noise.safetensors``;
2. trains every variant (:data:`~d3prefiner.study.presets.VARIANTS`, on top of the ``paper``
   recipe) for every seed, validated on the split's validation subject →
   ``OUT/<cell>/<variant>-s<seed>/`` (a refiner checkpoint; resumable);
3. refines the run's test predictions with each → ``OUT/<cell>/<variant>-s<seed>.npz``;
4. with ``longer``, trains the fair comparison: the run's lifter trained on for the refiner's time
   (:mod:`~d3prefiner.study.longer`) → ``OUT/<cell>/longer/test_longer.npz``;
5. scores base, every variant, the baselines, the closed-form CND and the longer lifter on test
   (:func:`grid_results`); with ``smooth``, also each method followed by each filter, on the
   validation subject and on test (does a filter after refinement help?). :func:`format_grid`
   prints the tables.

Every output is skipped when it exists, so a killed grid continues. ``jobs > 1`` trains that many
variants at once in worker processes with one torch thread each.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from ..errors import D3PRError
from ..io import load_json, save_json
from .presets import VARIANTS, check_variants
from .split import Split


@dataclass(frozen=True)
class GridConfig:
    """What a grid trains: ``variants`` × ``seeds``, each ``steps`` optimiser steps of the
    ``preset`` denoiser, on the ``protocol``'s split (``val_subject`` None: the run's last training
    subject); ``baselines`` are scored beside them."""

    variants: tuple[str, ...] = ("paper", "residual", "combo", "wo_diff")
    seeds: tuple[int, ...] = (0,)
    steps: int = 800
    preset: str = "cpu"
    train_stride: int = 27
    val_every: int = 400
    protocol: str = "leak_free"
    val_subject: str | None = None
    baselines: tuple[str, ...] = ("savgol", "reproject", "bones", "bones+reproject")
    longer: bool = False
    smooth: tuple[str, ...] = ()
    overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_variants(self.variants)
        if not self.seeds:
            raise D3PRError("a grid needs at least one seed")
        if self.steps < 1:
            raise D3PRError(f"steps must be >= 1, got {self.steps}")
        from ..baselines import FILTERS, GEOMETRIC

        unknown = [f for f in self.smooth if f not in FILTERS]
        if unknown:
            raise D3PRError(f"unknown filter(s) {unknown}; choose from {', '.join(FILTERS)}")
        known = (*FILTERS, *GEOMETRIC)
        unknown = [f for f in self.baselines if f not in known]
        if unknown:
            raise D3PRError(f"unknown baseline(s) {unknown}; choose from {', '.join(known)}")

    def refiner_config(self, variant: str, seed: int):
        from ..refiner.config import RefinerConfig

        over = dict(steps=self.steps, train_stride=self.train_stride, val_every=self.val_every)
        over.update(self.overrides)
        return RefinerConfig.from_preset(
            self.preset, "paper", **{**over, **VARIANTS[variant], "seed": seed}
        )


@dataclass(frozen=True)
class Cell:
    """One bench run in a grid: its predictions, split and output folder."""

    run: Path
    out: Path
    split: Split

    @property
    def name(self) -> str:
        return self.run.name

    def predictions(self, name: str):
        from ..predictions import Predictions

        path = self.run / "predictions" / f"{name}.npz"
        if not path.exists():
            raise D3PRError(f"{path}: not found (is {self.run} a finished `d3pr bench` run?)")
        return Predictions.load(path)


def make_cell(run: str | Path, out: str | Path, config: GridConfig) -> Cell:
    """The cell of bench run ``run`` under grid folder ``out``."""
    run = Path(run)
    exp = run / "experiment.json"
    if not exp.exists():
        raise D3PRError(f"{run}: no experiment.json (not a `d3pr bench` / `d3pr demo` run)")
    e = load_json(exp)
    split = Split.make(
        config.protocol, e["train_subjects"], e["test_subjects"], e.get("folds", 2),
        config.val_subject,
    )  # fmt: skip
    return Cell(run, Path(out) / run.name, split)


def fit_cell_noise(cell: Cell, progress: bool = False):
    """The cell's CND (fitted once, then loaded)."""
    from ..noise import PoseNoiseModel, load_noise_model
    from ..noise.summary import select_ridge

    path = cell.out / "noise.safetensors"
    if path.exists():
        return load_noise_model(path)
    fit_on, _, held = cell.split.parts(cell.predictions(cell.split.predictions))
    held = held if cell.split.protocol != "pooled" else None
    ridge, scores = select_ridge(fit_on, held, progress=progress)
    model = PoseNoiseModel(ridge=ridge).fit(fit_on, progress=progress)
    cell.out.mkdir(parents=True, exist_ok=True)
    model.save(path)
    save_json(cell.out / "noise.json", {"ridge": ridge, "scores_mm": {
        f"{r:g}": 1000 * m for r, m in scores.items()}, "split": asdict(cell.split)})  # fmt: skip
    return model


def train_variant(cell: Cell, config: GridConfig, variant: str, seed: int, progress: bool = False):
    """Train one variant of a cell (resumable) and refine the cell's test predictions with it."""
    from ..noise import load_noise_model
    from ..predictions import Predictions
    from ..refiner import AT_FULL_STRENGTH, Refiner
    from ..refiner.train import train_refiner

    name = f"{variant}-s{seed}"
    ckpt, refined = cell.out / name, cell.out / f"{name}.npz"
    if not (ckpt / "done.json").exists():
        _, train, val = cell.split.parts(cell.predictions(cell.split.predictions))
        train_refiner(
            config.refiner_config(variant, seed),
            train,
            load_noise_model(cell.out / "noise.safetensors"),
            ckpt,
            val_preds=val,
            resume=(ckpt / "state.safetensors").exists(),
            progress=progress,
            desc=f"{cell.name}/{name}",
        )
        save_json(ckpt / "done.json", {"finished": True})
    if not refined.exists():
        test: Predictions = cell.predictions(cell.split.test_predictions)
        # the variants are compared as trained: full strength (α = 1), never the chosen α
        applied = Refiner.load(ckpt).apply(test, AT_FULL_STRENGTH, progress=progress)
        applied.predictions.save(refined)
    return name


def _job(args) -> str:
    import torch

    torch.set_num_threads(1)
    *cell_variant, progress = args
    return train_variant(*cell_variant, progress=progress)


def run_grid(
    runs: Sequence[str | Path],
    out: str | Path,
    config: GridConfig = GridConfig(),
    jobs: int = 1,
    progress: bool = True,
) -> dict:
    """Train and refine every (run, variant, seed) that is missing; return :func:`grid_results`."""
    from tqdm.auto import tqdm

    cells = [make_cell(r, out, config) for r in runs]
    if len({c.name for c in cells}) != len(cells):
        raise D3PRError("two runs share a folder name; their cells would collide")
    Path(out).mkdir(parents=True, exist_ok=True)
    save_json(Path(out) / "grid.json", {"config": asdict(config), "runs": [str(r) for r in runs]})
    for c in cells:
        fit_cell_noise(c, progress=progress)
    if config.longer:
        from .longer import train_longer_lifter

        for c in cells:
            train_longer_lifter(c.run, c.out / "longer", progress=progress)
    # seed-major: every variant's first seed before any repeat
    todo = [(c, config, v, s) for s in config.seeds for v in config.variants for c in cells]
    if jobs <= 1:
        for c, cfg, v, s in tqdm(todo, desc="grid", disable=not progress):
            train_variant(c, cfg, v, s, progress=progress)
    else:
        # each worker shows its own bar and log lines, labelled RUN/VARIANT; this bar counts the
        # finished variants
        bar = tqdm(total=len(todo), desc=f"grid ({jobs} at a time)", disable=not progress)
        with bar, ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            for name in pool.map(_job, [(*t, progress) for t in todo]):
                bar.update()
                bar.write(f"grid: {name} done")
    return grid_results(cells, config)


def _kept_validation(ckpt: Path) -> dict:
    """The kept step's validation record of a refiner checkpoint."""
    from ..engine import read_history

    h = read_history(ckpt)
    recs = [r for r in h["records"] if "val_mpjpe_refined_mm" in r]
    if not recs:
        raise D3PRError(f"{ckpt}: no validation record")
    kept = [r for r in recs if r["step"] == h["kept_step"]]
    return (kept or recs)[-1]


def _at_chosen_strength(ckpt: Path, base, refined):
    """``(test predictions at the strength α chosen on validation, its validation record)`` of a
    variant (``refined``: its output at full strength), or None when it was never calibrated."""
    from ..refiner import ApplyOptions, Refiner

    refiner = Refiner.load(ckpt)
    cal = refiner.calibration
    if not cal.calibrated:
        return None
    scores = cal.strength_scores.mpjpe_mm
    val = {
        "val_mpjpe_base_mm": scores[0.0],
        "val_mpjpe_refined_mm": scores[cal.strength],
        "alpha": cal.strength,
    }
    # the grid tries its filters after each method itself (--smooth), so none here
    options = ApplyOptions(guard="off", smooth="none")
    return refiner.apply(base, options, full=refined).predictions, val


def grid_results(cells: Sequence[Cell], config: GridConfig) -> dict:
    """``{cell: {"validation": {name: record}, "test": {method: metrics}}}`` for every finished
    (variant, seed) of each cell; test metrics from :func:`~d3prefiner.evaluation.evaluate_methods`
    (base, the variants, the baselines and the closed-form CND)."""
    from ..evaluation import evaluate_methods
    from ..noise import load_noise_model
    from ..predictions import Predictions

    out = {}
    for c in cells:
        names = [
            f"{v}-s{s}" for s in config.seeds for v in config.variants
            if (c.out / f"{v}-s{s}.npz").exists()
        ]  # fmt: skip
        methods = {"base": c.predictions(c.split.test_predictions)}
        methods.update({n: Predictions.load(c.out / f"{n}.npz") for n in names})
        longer = c.out / "longer" / "test_longer.npz"
        if longer.exists():
            methods["longer_lifter"] = Predictions.load(longer)
        validation = {n: _kept_validation(c.out / n) for n in names}
        for n in names:  # each variant as `d3pr refine` applies it: the strength chosen on val
            auto = _at_chosen_strength(c.out / n, methods["base"], methods[n])
            if auto is not None:
                name = f"{_variant(n)}@auto-s{n.rsplit('-s', 1)[1]}"
                methods[name], validation[name] = auto
        noise = load_noise_model(c.out / "noise.safetensors")
        res = evaluate_methods(
            methods, baselines=config.baselines, noise_model=noise, progress=False
        )
        out[c.name] = {
            "validation": validation,
            "test": res["methods"],
            "split": asdict(c.split),
        }
        if config.smooth:
            out[c.name]["smoothing"] = smoothing_rows(c, names, noise, config.smooth)
    return out


def smoothing_rows(cell: Cell, names: Sequence[str], noise, filters: Sequence[str]) -> list[dict]:
    """Each method (closed-form CND, each trained variant) raw and followed by each filter:
    action-weighted MPJPE on the validation subject and on test, and test acceleration error."""
    from ..baselines import CND_BASELINE, apply_baseline
    from ..metrics import evaluate_predictions
    from ..predictions import Predictions
    from ..refiner import AT_FULL_STRENGTH, Refiner

    val = cell.split.parts(cell.predictions(cell.split.predictions))[2]
    test = cell.predictions(cell.split.test_predictions)
    methods = {
        "closed-form CND": (
            apply_baseline(CND_BASELINE, val, noise, progress=False),
            apply_baseline(CND_BASELINE, test, noise, progress=False),
        )
    }
    for n in names:
        cached = cell.out / f"val_{n}.npz"
        if not cached.exists():  # the validation subject refined once, then cached
            refiner = Refiner.load(cell.out / n)
            refiner.apply(val, AT_FULL_STRENGTH).predictions.save(cached)
        methods[n] = (Predictions.load(cached), Predictions.load(cell.out / f"{n}.npz"))
    rows = []
    for name, (v, t) in methods.items():
        row = {"method": name, "val": {}, "test": {}, "accel": {}}
        for f in ("raw", *filters):
            vf = v if f == "raw" else apply_baseline(f, v, progress=False)
            tf = t if f == "raw" else apply_baseline(f, t, progress=False)
            row["val"][f] = evaluate_predictions(vf).action_weighted.mpjpe_mm
            aw = evaluate_predictions(tf).action_weighted
            row["test"][f], row["accel"][f] = aw.mpjpe_mm, aw.accel_mm_s2
        rows.append(row)
    return rows


def _mean_sd(xs: Sequence[float], fmt: str = "{:+.1f}") -> str:
    if not xs:
        return "—"
    if len(xs) == 1:
        return fmt.format(xs[0])
    return fmt.format(statistics.mean(xs)) + " ± " + f"{statistics.stdev(xs):.1f}"


def _variant(name: str) -> str:
    return name.rsplit("-s", 1)[0]


def format_grid(results: dict) -> str:
    """Markdown: validation MPJPE change per variant and cell (the choice), then each cell's test
    table (mean ± s.d. over seeds)."""
    cells = list(results)
    lines = ["#### Validation: MPJPE change vs base, % (the choice)", ""]
    lines += [
        "| variant | " + " | ".join(cells) + " | mean |",
        "|---|" + "---:|" * (len(cells) + 1),
    ]
    variants = list(dict.fromkeys(_variant(n) for c in cells for n in results[c]["validation"]))
    means = {}
    for v in variants:
        cols, per_cell = [], []
        for c in cells:
            rel = [
                100 * (r["val_mpjpe_refined_mm"] / r["val_mpjpe_base_mm"] - 1)
                for n, r in results[c]["validation"].items() if _variant(n) == v
            ]  # fmt: skip
            cols.append(_mean_sd(rel))
            if rel:
                per_cell.append(statistics.mean(rel))
        means[v] = statistics.mean(per_cell)
        lines.append(f"| {v} | " + " | ".join(cols) + f" | {means[v]:+.1f} |")
    cf = []
    for c in cells:
        r = next(iter(results[c]["validation"].values()), None)
        if r is not None and "val_mpjpe_closed_form_mm" in r:
            cf.append(100 * (r["val_mpjpe_closed_form_mm"] / r["val_mpjpe_base_mm"] - 1))
    if len(cf) == len(cells):
        lines.append(
            "| *closed-form CND* | " + " | ".join(f"{x:+.1f}" for x in cf)
            + f" | {statistics.mean(cf):+.1f} |"
        )  # fmt: skip
    best = sorted(means, key=means.get)
    lines += ["", f"best on validation: {', '.join(best[:2])}", ""]
    if any("@auto" in v for v in means):
        lines += [
            "`<variant>@auto`: the same refiner at the correction strength α chosen on the "
            "validation subject (what `d3pr refine` applies); the others at full strength.",
            "",
        ]
    for c in cells:
        lines += _test_table(c, results[c])
        if results[c].get("smoothing"):
            lines += _smoothing_table(c, results[c]["smoothing"])
    return "\n".join(lines)


def _smoothing_table(cell: str, rows: list[dict]) -> list[str]:
    keys = list(rows[0]["val"])
    head = [f"val {k}" for k in keys] + [f"test {k}" for k in keys] + [f"accel {k}" for k in keys]
    lines = [f"#### {cell}: a filter after refinement (MPJPE mm, accel mm/s²)", ""]
    lines += ["| method | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for r in rows:
        vals = [f"{r['val'][k]:.1f}" for k in keys] + [f"{r['test'][k]:.1f}" for k in keys]
        vals += [f"{r['accel'][k]:.0f}" for k in keys]
        lines.append(f"| {r['method']} | " + " | ".join(vals) + " |")
    return [*lines, ""]


def _test_table(cell: str, res: dict) -> list[str]:
    test, val = res["test"], res["validation"]
    base = test["base"]["mpjpe_mm"]
    lines = [f"#### {cell}: test (action-weighted; accel in mm/s²)", ""]
    lines += ["| method | val MPJPE | MPJPE | Δ % | P-MPJPE | MPJVE (mm/s) | accel |"]
    lines += ["|---|---:|---:|---:|---:|---:|---:|"]
    groups: dict[str, list[str]] = {}
    for n in test:
        groups.setdefault(_variant(n) if n in val else n, []).append(n)
    for g, members in groups.items():

        def agg(k: str, members=members) -> str:
            return _mean_sd([test[m][k] for m in members], fmt="{:.1f}")

        vm = [val[m]["val_mpjpe_refined_mm"] for m in members if m in val]
        rel = [100 * (test[m]["mpjpe_mm"] / base - 1) for m in members]
        label = g + (f" (×{len(members)} seeds)" if len(members) > 1 else "")
        lines.append(
            f"| {label} | {_mean_sd(vm, fmt='{:.1f}') if vm else ''} | {agg('mpjpe_mm')} | "
            f"{_mean_sd(rel)} | {agg('p_mpjpe_mm')} | {agg('mpjve_mm_s')} | {agg('accel_mm_s2')} |"
        )
    return [*lines, ""]

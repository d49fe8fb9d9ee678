"""One refiner for estimators it has never seen: trained on the pooled cross-fitted errors of
several estimators, scored leave-one-estimator-out (``d3pr pooled``).

Input: finished ``d3pr bench`` runs of *different* estimators on the same motion source, split and
2D setting (``RUN/experiment.json``, ``RUN/predictions/{train_crossfit,test}.npz`` and, for the
comparison, the run's own refiner ``RUN/refiner`` and CND ``RUN/noise.safetensors``). An estimator
may come at several training budgets (``d3pr bench --lifter-steps N``, ``--until lifter`` when only
its predictions are needed): the runs of one ``model`` are one estimator, left out together.

For every estimator E :func:`leave_one_out`

1. pools the other estimators' runs' cross-fitted predictions of the split's refiner subjects
   (training) and of its validation subject (validation) — nothing tells the estimators apart but
   their poses;
2. fits one CND on the pooled training part (ridge chosen on the pooled validation part) and trains
   one refiner on it, validated and calibrated (correction strength, filter) on the pooled
   validation part → ``OUT/without-<E>/``;
3. scores on the test predictions of each run L of E (``OUT/without-<E>/on-<L>/``): the base; the
   pooled refiner at full strength with the guard off; the pooled refiner as ``d3pr refine``
   applies it by default (strength chosen on the pooled validation, guard ``shrink``); the pooled
   refiner calibrated on L's own validation predictions (what a user with a little ground truth of
   their estimator can do, ``d3pr calibrate``); the in-plane part of the pooled correction only
   (the test's depth kept, ``d3pr refine --correct in-plane``), its strength chosen on the pooled
   validation and on L's, and the part (full or in-plane) that does better on L's validation
   (``d3pr calibrate --correct either``); the pooled closed-form CND; and L's own
   (estimator-specific) refiner at full strength and calibrated on L's validation, and L's own
   closed-form CND, where L's bench trained them;
4. with ``adapt_steps`` (:func:`add_adapted`): the pooled refiner fine-tuned on half of L's
   validation predictions (every other action, with a CND of their errors; ``d3pr train
   --init``), its strength chosen on the other half, applying the full correction or its
   in-plane part — what a user with one labelled validation subject, but no cross-fitting, can do.

Every output is cached in ``OUT`` and skipped when present, so a killed run continues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, D3PRError
from ..io import load_json, save_json
from ..predictions import Predictions
from ..refiner.calibration import ApplyOptions, Calibration
from .experiment import refiner_validation
from .grid import Cell, GridConfig, make_cell


@dataclass(frozen=True)
class PooledConfig:
    """The pooled refiner's training: ``steps`` of the ``preset`` denoiser with ``recipe``;
    ``val_frames``: at most that many frames of each estimator's validation subject (evenly
    spaced whole sequences, :func:`subsample`) for validation and calibration (None: all)."""

    steps: int = 1200
    preset: str = "cpu"
    recipe: str = "default"
    train_stride: int = 27
    val_every: int = 400
    seed: int = 0
    val_frames: int | None = 30000

    def refiner_config(self):
        from ..refiner.config import RefinerConfig

        return RefinerConfig.from_preset(
            self.preset, self.recipe, steps=self.steps, train_stride=self.train_stride,
            val_every=self.val_every, seed=self.seed,
        )  # fmt: skip


def estimator_of(cell: Cell) -> str:
    """The estimator (architecture) a bench run trained: ``model`` of its ``experiment.json``, or
    the run's folder name when it has none. Runs of one estimator at several budgets are left
    out together: leaving out one budget would leave the architecture in the pool."""
    return load_json(cell.run / "experiment.json").get("model") or cell.name


def load_cells(runs: Sequence[str | Path], out: str | Path) -> list[Cell]:
    """The bench runs as grid cells (leak-free split), checked to be comparable."""
    cells = [make_cell(r, out, GridConfig()) for r in runs]
    if len(cells) < 3:
        raise D3PRError(f"leave-one-estimator-out needs at least 3 bench runs, got {len(cells)}")
    names = [c.name for c in cells]
    if len(set(names)) != len(names):
        raise D3PRError(f"bench runs must have distinct folder names, got {names}")
    estimators = sorted({estimator_of(c) for c in cells})
    if len(estimators) < 2:
        raise D3PRError(
            f"leave-one-estimator-out needs runs of at least 2 estimators, got {estimators[0]} only"
        )
    keys = ("source", "setting", "train_subjects", "test_subjects", "fps", "n_cameras")
    ref = {k: load_json(cells[0].run / "experiment.json").get(k) for k in keys}
    for c in cells[1:]:
        e = load_json(c.run / "experiment.json")
        diff = [k for k in keys if e.get(k) != ref[k]]
        if diff:
            raise D3PRError(f"{c.run} differs from {cells[0].run} in {', '.join(diff)}")
    return cells


def subsample(preds: Predictions, max_frames: int | None) -> Predictions:
    """Evenly spaced whole sequences of ``preds`` totalling about ``max_frames`` frames (all of
    them when they are fewer, or ``max_frames`` is None)."""
    if max_frames is None or preds.num_frames <= max_frames:
        return preds
    keep = max(1, round(len(preds) * max_frames / preds.num_frames))
    idx = np.linspace(0, len(preds) - 1, keep).round().astype(int)
    return Predictions([preds.sequences[i] for i in sorted(set(idx))], preds.estimator)


def validation_part(cell: Cell, max_frames: int | None = None) -> Predictions:
    """The cell's cross-fitted predictions of its validation subject (subsampled)."""
    val = cell.split.parts(cell.predictions("train_crossfit"))[2]
    return subsample(val, max_frames)


def pooled_parts(
    cells: Sequence[Cell], max_val_frames: int | None = None
) -> tuple[Predictions, Predictions]:
    """``(train, val)``: the cells' cross-fitted predictions of their split's refiner subjects and
    of its validation subject (at most ``max_val_frames`` per cell), pooled."""
    train = Predictions.pool([c.split.parts(c.predictions("train_crossfit"))[1] for c in cells])
    val = Predictions.pool([validation_part(c, max_val_frames) for c in cells])
    return train, val


def train_pooled(cells: Sequence[Cell], out: Path, config: PooledConfig, progress: bool = False):
    """Fit the pooled CND and train + calibrate the pooled refiner in ``out`` (resumable)."""
    from ..noise import PoseNoiseModel, load_noise_model
    from ..noise.summary import select_ridge
    from ..refiner import Refiner, train_refiner

    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "refiner"
    if (ckpt / "done.json").exists():
        return Refiner.load(ckpt)
    train, val = pooled_parts(cells, config.val_frames)
    noise_path = out / "noise.safetensors"
    if noise_path.exists():
        noise = load_noise_model(noise_path)
    else:
        ridge, scores = select_ridge(train, val, progress=progress)
        noise = PoseNoiseModel(ridge=ridge).fit(train, progress=progress)
        noise.save(noise_path)
        save_json(out / "noise.json", {"ridge": ridge, "scores_mm": {
            f"{r:g}": 1000 * m for r, m in scores.items()}})  # fmt: skip
    refiner = train_refiner(
        config.refiner_config(), train, noise, ckpt, val_preds=val,
        resume=(ckpt / "state.safetensors").exists(), progress=progress,
    )  # fmt: skip
    save_json(ckpt / "done.json", {
        "finished": True, "trained_on": [c.name for c in cells], "config": asdict(config),
        "train_frames": train.num_frames, "val_frames": val.num_frames,
    })  # fmt: skip
    return refiner


def recalibrate_pooled(
    others: Sequence[Cell], pooled_dir: Path, config: PooledConfig, progress: bool = False,
    left_out: Sequence[Cell] = (),
) -> bool:  # fmt: skip
    """Choose the trained pooled refiner's strength and filter again on its pooled validation
    part (after the rule that chooses them changed), without retraining it, and drop the cached
    scores of the ``left_out`` runs on it (they are stale now; the caller scores them again).
    Other cached scores in ``pooled_dir`` are kept. False when it is not trained yet (it is
    calibrated when it is)."""
    from ..refiner import Refiner, calibrate_refiner

    ckpt = pooled_dir / "refiner"
    if not (ckpt / "done.json").exists():
        return False
    refiner = Refiner.load(ckpt)
    calibrate_refiner(refiner, pooled_parts(others, config.val_frames)[1], progress=progress)
    refiner.save(ckpt)
    for cell in left_out:
        (pooled_dir / f"on-{cell.name}" / "results.json").unlink(missing_ok=True)
    return True


def _check_finished(cell: Cell) -> None:
    if (cell.run / "refiner").exists() and not (cell.run / "refiner" / "done.json").exists():
        raise D3PRError(
            f"{cell.run}: its own refiner is still training (no refiner/done.json); run again "
            "when the bench has finished, to compare with it"
        )


def _cached(path: Path, make) -> Predictions:
    if path.exists():
        return Predictions.load(path)
    preds = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    preds.save(path)
    return preds


def _calibrated_alpha(
    refiner, val: Predictions, path: Path, correct: str = "full", raw_path: Path | None = None
) -> Calibration:  # fmt: skip
    """``refiner``'s calibration with the strength of its ``correct`` part chosen on ``val``
    (cached in ``path``; its full-strength refinement of ``val`` in ``raw_path`` when given),
    without saving the refiner: its own checkpoint is left as it is."""
    from ..refiner import FULL
    from ..refiner.calibrate import choose_strength

    if path.exists():
        return _read_strength(path, refiner.calibration, correct)

    def refine() -> Predictions:
        return refiner.apply(val, FULL).predictions

    raw = refine() if raw_path is None else _cached(raw_path, refine)
    alpha, scores = choose_strength(val, raw, correct)
    cal = refiner.calibration.replace(strength=alpha, correct=correct, strength_scores=scores)
    save_json(path, cal.to_dict())
    return cal


def _read_strength(path: Path, base: Calibration, correct: str) -> Calibration:
    """A cached :func:`_calibrated_alpha` (also as the strength records of earlier versions)."""
    d = load_json(path)
    if "alpha" in d:  # a strength record of an earlier version
        legacy = Calibration.from_legacy({}, d, None, correct, str(path))
        return base.replace(strength=legacy.strength, correct=legacy.correct,
                            strength_scores=legacy.strength_scores)  # fmt: skip
    return Calibration.from_dict(d, str(path))


def _options(cal: Calibration, guard: str = "shrink") -> ApplyOptions:
    """The options that apply ``cal``'s strength and part, without a filter (as ``d3pr refine
    --strength A --correct PART --smooth none`` does): the study compares corrections."""
    return ApplyOptions(strength=cal.strength, correct=cal.correct, guard=guard, smooth="none")


def score(preds: Predictions) -> dict:
    """Action-weighted MPJPE and P-MPJPE (mm) of predictions with ground truth."""
    from ..metrics import evaluate_predictions

    m = evaluate_predictions(preds).action_weighted
    return {"mpjpe_mm": round(m.mpjpe_mm, 2), "p_mpjpe_mm": round(m.p_mpjpe_mm, 2)}


def evaluate_left_out(
    left: Cell, others: Sequence[Cell], pooled_dir: Path, config: PooledConfig,
    progress: bool = False,
) -> dict:  # fmt: skip
    """Train (or load) the pooled refiner of ``others`` in ``pooled_dir`` and score everything on
    ``left``'s test set; ``left``'s files go to ``pooled_dir/on-<left>``."""
    from ..baselines import CND_BASELINE, apply_baseline
    from ..noise import load_noise_model
    from ..refiner import FULL, Refiner

    d = pooled_dir / f"on-{left.name}"
    if (d / "results.json").exists():
        return load_json(d / "results.json")
    _check_finished(left)
    pooled = train_pooled(others, pooled_dir, config, progress)
    test = left.predictions(left.split.test_predictions)
    own_val = validation_part(left, config.val_frames)
    raw = _cached(d / "test_pooled_raw.npz", lambda: pooled.apply(
        test, FULL, progress=progress).predictions)  # fmt: skip
    as_applied = pooled.apply(test, full=raw)  # `d3pr refine`'s defaults
    own_raw_path = d / "val_pooled_raw.npz"
    own_alpha = _calibrated_alpha(
        pooled, own_val, d / "strength_on_left_out_val.json", raw_path=own_raw_path
    )
    # the image-plane part only (the input's depth kept), its strength chosen likewise
    pooled_val = pooled_parts(others, config.val_frames)[1]
    plane_pooled = _calibrated_alpha(
        pooled, pooled_val, pooled_dir / "strength_in_plane.json", "in-plane",
        pooled_dir / "val_raw.npz",
    )  # fmt: skip
    plane_own = _calibrated_alpha(
        pooled, own_val, d / "strength_in_plane_on_left_out_val.json", "in-plane", own_raw_path
    )
    # `d3pr calibrate --correct either` on L's val: the part that does better there (in-plane on
    # a tie)
    either = min((plane_own, own_alpha), key=lambda c: c.strength_scores.relative(c.strength))
    either_part = either.correct

    def applied(cal: Calibration, refiner=pooled, full=raw) -> Predictions:
        """What `d3pr refine` writes with this strength and part."""
        return refiner.apply(test, _options(cal), full=full).predictions

    methods = {
        "base": test,
        "pooled, full strength, guard off": raw,
        "pooled, as `d3pr refine` applies it (strength from pooled val, guard shrink)": (
            as_applied.predictions
        ),
        "pooled, calibrated on the left-out estimator's val (guard shrink)": applied(own_alpha),
        "pooled, in-plane part, strength from pooled val (guard shrink)": applied(plane_pooled),
        "pooled, in-plane part, calibrated on the left-out estimator's val (guard shrink)": (
            applied(plane_own)
        ),
        "pooled, either part, calibrated on the left-out estimator's val (guard shrink)": (
            applied(either)
        ),
        "pooled closed-form CND": _cached(
            d / "test_pooled_cnd.npz",
            lambda: apply_baseline(CND_BASELINE, test, pooled.noise_model, progress=False),
        ),  # fmt: skip
    }
    specific = left.run / "refiner"
    if (specific / "model.safetensors").exists():
        own = Refiner.load(specific)
        done = left.run / "predictions" / "refined_test.npz"  # the bench's own, if it is there
        own_raw = _cached(done if done.exists() else d / "test_specific_raw.npz", lambda: (
            own.apply(test, FULL, progress=progress).predictions))  # fmt: skip
        spec_alpha = _calibrated_alpha(own, own_val, d / "specific_strength_on_val.json")
        methods["specific, full strength"] = own_raw
        methods["specific, calibrated on its val"] = own.apply(
            test, _options(spec_alpha, guard="off"), full=own_raw
        ).predictions
    if (left.run / "noise.safetensors").exists():
        own_noise = load_noise_model(left.run / "noise.safetensors")
        methods["specific closed-form CND"] = _cached(d / "test_specific_cnd.npz", lambda: (
            apply_baseline(CND_BASELINE, test, own_noise, progress=False)))  # fmt: skip
    scores = {name: score(p) for name, p in methods.items()}
    result = {
        "left_out": left.name,
        "estimator": estimator_of(left),
        "trained_on": [c.name for c in others],
        "methods": scores,
        "guard_flagged": len(as_applied.flags),
        "sequences": len(test),
        "pooled_calibration": pooled.calibration.to_dict(),
        "pooled_strength_on_left_out_val": own_alpha.to_dict(),
        "pooled_in_plane_strength": plane_pooled.to_dict(),
        "pooled_in_plane_strength_on_left_out_val": plane_own.to_dict(),
        "pooled_part_on_left_out_val": either_part,
        "pooled_validation": refiner_validation(pooled_dir / "refiner"),
    }
    d.mkdir(parents=True, exist_ok=True)
    save_json(d / "results.json", result)
    return result


def halves(preds: Predictions) -> tuple[Predictions, Predictions]:
    """``(first, second)``: the sequences of every other action of ``preds`` (actions sorted by
    name: the first, third, ...) and the rest; every other sequence when there is one action:
    two parts of one validation subject with no action in both (:func:`add_adapted`)."""
    actions = sorted({s.action for s in preds})
    if len(actions) >= 2:
        odd = set(actions[0::2])
        keep = [s.action in odd for s in preds]
    else:
        keep = [i % 2 == 0 for i in range(len(preds))]
    first = Predictions([s for s, k in zip(preds, keep) if k], preds.estimator)
    second = Predictions([s for s, k in zip(preds, keep) if not k], preds.estimator)
    if len(first) == 0 or len(second) == 0:
        raise D3PRError("halving predictions needs at least 2 sequences")
    return first, second


def adapt_refiner(pooled, adapt: Predictions, check: Predictions, out: Path, steps: int,
                  progress: bool = False):  # fmt: skip
    """``pooled`` fine-tuned for ``steps`` on ``adapt`` (its CND fitted on ``adapt``, with the
    pooled CND's options) in ``out`` and calibrated on ``check`` (resumable; loaded when done)."""
    from ..noise import PoseNoiseModel
    from ..refiner import Refiner, train_refiner
    from ..refiner.train import finetune_config

    if (out / "done.json").exists():
        return Refiner.load(out)
    noise = PoseNoiseModel(**asdict(pooled.noise_model.config)).fit(adapt)
    config = finetune_config(pooled.config, steps=steps)
    refiner = train_refiner(
        config, adapt, noise, out, val_preds=check, init=pooled, progress=progress,
        resume=(out / "state.safetensors").exists(),
    )  # fmt: skip
    save_json(out / "done.json", {"finished": True, "steps": steps, "lr": config.loop.lr,
                                  "adapt_frames": adapt.num_frames, "check_frames": check.num_frames})  # fmt: skip
    return refiner


def add_adapted(
    result: dict, left: Cell, others: Sequence[Cell], pooled_dir: Path, config: PooledConfig,
    steps: int, progress: bool = False,
) -> dict:  # fmt: skip
    """Add to ``result`` (of :func:`evaluate_left_out`) the rows of the pooled refiner fine-tuned
    for ``steps`` on half of ``left``'s validation predictions (:func:`halves`), with the
    strength of its full correction and of its in-plane part chosen on the other half; saved in
    ``pooled_dir/on-<left>/results.json`` (skipped when there already)."""
    from ..refiner import FULL

    if result.get("adapted", {}).get("steps") == steps:
        return result
    d = pooled_dir / f"on-{left.name}"
    adapt, check = halves(validation_part(left))
    pooled = train_pooled(others, pooled_dir, config, progress)
    tuned = adapt_refiner(pooled, adapt, check, d / f"adapted-{steps}", steps, progress)
    test = left.predictions(left.split.test_predictions)
    raw = _cached(d / f"adapted-{steps}" / "test_raw.npz", lambda: tuned.apply(
        test, FULL, progress=progress).predictions)  # fmt: skip
    check_raw = d / f"adapted-{steps}" / "check_raw.npz"
    full = _calibrated_alpha(tuned, check, d / f"adapted-{steps}" / "strength_full.json",
                             raw_path=check_raw)  # fmt: skip
    plane = _calibrated_alpha(tuned, check, d / f"adapted-{steps}" / "strength_in_plane.json",
                              "in-plane", check_raw)  # fmt: skip
    shrunk = tuned.apply(test, _options(full), full=raw)
    flagged = shrunk.flags
    head = f"pooled, fine-tuned {steps} steps on half of L's val"
    rows = {
        f"{head}, full correction, strength on the other half (guard shrink)": score(
            shrunk.predictions
        ),
        f"{head}, in-plane part, strength on the other half (guard shrink)": score(
            tuned.apply(test, _options(plane), full=raw).predictions
        ),
    }
    methods, merged = result["methods"], {}
    for name, v in methods.items():  # the new rows before the closed forms
        if name == "pooled closed-form CND":
            merged.update(rows)
        if not name.startswith("pooled, fine-tuned"):
            merged[name] = v
    for name, v in rows.items():
        merged.setdefault(name, v)
    result = {**result, "methods": merged, "adapted": {
        "steps": steps, "lr": tuned.config.loop.lr, "adapt_frames": adapt.num_frames,
        "check_frames": check.num_frames, "strength_full": full.to_dict(), "strength_in_plane": plane.to_dict(),
        "guard_flagged": len(flagged), "validation": refiner_validation(d / f"adapted-{steps}"),
    }}  # fmt: skip
    save_json(d / "results.json", result)
    return result


def leave_one_out(
    runs: Sequence[str | Path], out: str | Path, config: PooledConfig = PooledConfig(),
    progress: bool = True, only: Sequence[str] | None = None, recalibrate: bool = False,
    adapt_steps: int = 0,
) -> dict:  # fmt: skip
    """Every estimator left out once (see the module docstring): its runs (one per training
    budget) are scored on a refiner pooled over the other estimators' runs, trained in
    ``OUT/without-<estimator>``; or only the estimators (or runs) named in ``only``, so that
    several processes can share the work. Each left-out run's result is cached in
    ``OUT/without-<estimator>/on-<run>/results.json`` and all those present are gathered in
    ``OUT/results.json``. ``recalibrate``: choose the strength and filter of the pooled refiners
    already trained again (:func:`recalibrate_pooled`; each time it is asked for) and score
    every run left out of them again (also the runs of a group not named in ``only``: they are
    scored on the same refiner, so their cached scores would be stale). ``adapt_steps`` > 0:
    the fine-tuned rows too (:func:`add_adapted`) for the runs scored now."""
    out = Path(out)
    cells = load_cells(runs, out)
    groups: dict[str, list[Cell]] = {}
    for c in cells:
        groups.setdefault(estimator_of(c), []).append(c)
    known = set(groups) | {c.name for c in cells}
    unknown = sorted(set(only or ()) - known)
    if unknown:
        raise ArgumentError("only", f"names no estimator or run given: {', '.join(unknown)}")
    if (out / "config.json").exists() and load_json(out / "config.json") != asdict(config):
        raise D3PRError(f"{out}: holds results of another configuration; choose another folder")
    for c in cells:  # fail early, before any training, on a run that would be scored
        if only is None or c.name in only or estimator_of(c) in only:
            _check_finished(c)
    save_json(out / "config.json", asdict(config))
    results = {"config": asdict(config), "runs": [str(c.run) for c in cells], "left_out": []}
    for est, members in groups.items():
        pooled_dir = out / f"without-{est}"
        others = [c for c in cells if estimator_of(c) != est]
        chosen = only is None or est in only
        named = {m.name for m in members if chosen or m.name in only}
        if (
            recalibrate
            and named
            and recalibrate_pooled(others, pooled_dir, config, progress, left_out=members)
        ):
            named = {m.name for m in members}
        for left in members:
            cached = pooled_dir / f"on-{left.name}" / "results.json"
            if left.name in named:
                result = evaluate_left_out(left, others, pooled_dir, config, progress)
                if adapt_steps > 0:
                    result = add_adapted(
                        result, left, others, pooled_dir, config, adapt_steps, progress
                    )
                results["left_out"].append(result)
            elif cached.exists():
                results["left_out"].append(load_json(cached))
    save_json(out / "results.json", results)
    return results


def format_results(results: dict) -> str:
    """A markdown table per left-out estimator: MPJPE / P-MPJPE and the change from the base."""
    lines = []
    for r in results["left_out"]:
        m = r["methods"]
        base = m["base"]["mpjpe_mm"]
        lines += [
            f"#### left out: {r['left_out']} ({r.get('estimator', r['left_out'])}; pooled on {', '.join(r['trained_on'])}; guard "
            f"flagged {r['guard_flagged']}/{r['sequences']} sequences)",
            "",
            "| method | MPJPE (mm) | Δ | P-MPJPE (mm) |",
            "|---|---:|---:|---:|",
        ]
        for name, v in m.items():
            delta = "—" if name == "base" else f"{100 * (v['mpjpe_mm'] / base - 1):+.1f} %"
            lines.append(f"| {name} | {v['mpjpe_mm']:.1f} | {delta} | {v['p_mpjpe_mm']:.1f} |")
        lines.append("")
    return "\n".join(lines)

"""Cross-source evaluation: a finished run's lifter and refiner on clips of another motion source.

"Train on one motion source, test on another": the run's full lifter (``RUN/lifter/full``; under
the ``holdout`` protocol its deployed fold lifter) and its refiner (``RUN/refiner``) are applied, unchanged, to clips of another source made through the same
virtual cameras and 2D setting (the run's :class:`~d3prefiner.lifters.config.DataSpec` with only
``source``, ``path`` and ``views`` replaced: same frame rate, cameras, seed, setting and detector
noise). Nothing of the run is retrained or rewritten; ``experiment.json`` is only read.

```
RUN/transfer/<source>[-<name of the path>]/
  data.json                     how the clips were made (the request; a later call must match it)
  predictions/test.npz          the run's lifter on those clips (``base``)
  predictions/refined.npz       refined, guard off (``refined``)
  predictions/refined_guard.npz refined, guard "shrink" (``refined_guard``)
  results.json, report.md, figures/
```

Every file is skipped when present, so a later call computes only what is missing. A source whose
rate is not an integer multiple of the run's (DeepMimic's 30 fps for a 25 fps bench) is resampled
to the run's rate by linear interpolation in time, so the lifter sees motion at its training rate.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from ..baselines import CND_BASELINE
from ..data.sequences import Clip
from ..errors import D3PRError
from ..io import load_json, save_json, up_to_date
from ..predictions import Predictions

if TYPE_CHECKING:  # pragma: no cover
    from ..lifters.config import DataSpec
    from .experiment import Experiment

METHOD_FILES = {"base": "test", "refined": "refined", "refined_guard": "refined_guard"}


def _log(msg: str) -> None:
    tqdm.write(msg)


# ------------------------------------------------------------------------------- the request


def check_request(source: str, path: str | None = None) -> None:
    """A one-line :class:`D3PRError` for an unknown source or a ``path`` that does not exist
    (before any work: ``d3pr bench --test-source`` checks it ahead of the bench)."""
    from ..data.sources import get_source

    get_source(source)
    if path is not None and not Path(path).exists():
        raise D3PRError(f"{path}: not found (the path of test source {source})")


def transfer_name(source: str, path: str | None = None) -> str:
    """The folder name under ``RUN/transfer``: ``<source>``, or ``<source>-<name of path>``."""
    if path is None:
        return source
    name = Path(path).resolve().name or "root"
    return f"{source}-{name}"


def transfer_spec(spec: DataSpec, source: str, path: str | None = None) -> DataSpec:
    """``spec`` (the run's) with another motion source: the same rate, cameras, seed, setting and
    detector noise. A single-performer source gets camera-view groups as subjects: the run's
    groups if it had some, else one group per camera."""
    from ..data.sources import get_source

    views = (spec.views or spec.n_cameras) if get_source(source).single_performer else 0
    return replace(spec, source=source, path=None if path is None else str(path), views=views)


# ------------------------------------------------------------------------------------ clips


def transfer_clips(spec: DataSpec, subjects: list[str] | None = None) -> tuple[list[Clip], list]:
    """Clips of ``subjects`` (None: all) of ``spec``'s source
    (:func:`~d3prefiner.lifters.runs.source_clips`: a source whose rate does not divide
    ``spec.fps`` is resampled to it) and the source rates that were resampled."""
    from ..data.pipeline import load_source
    from ..data.resample import frame_step
    from ..lifters.runs import source_clips

    seqs = load_source(spec.source, spec.path, None if spec.views else subjects)
    clips = source_clips(spec, subjects, sequences=seqs)
    if not clips:
        raise D3PRError(f"source {spec.source}: no sequences for subject(s) {subjects or 'any'}")
    resampled = []
    if spec.fps:
        resampled = sorted({s.fps for s in seqs if frame_step(s.fps, spec.fps) is None})
    return clips, resampled


# ------------------------------------------------------------------------------------ stage


def _require_finished(run: Path, lifter: str = "full") -> None:
    from ..engine import is_finished

    missing = []
    deployed = run / "lifter" / lifter
    if not (is_finished(deployed) and (deployed / "model.safetensors").exists()):
        missing.append(f"a finished lifter (lifter/{lifter})")
    if not (run / "refiner" / "done.json").exists():
        missing.append("a trained refiner (refiner/done.json)")
    if not (run / "noise.safetensors").exists():
        missing.append("the CND (noise.safetensors)")
    if missing:
        raise D3PRError(f"{run}: no {' nor '.join(missing)}; run the bench first")


def _same_path(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return Path(a).resolve() == Path(b).resolve()


def _check_data(d: Path, record: dict) -> None:
    f = d / "data.json"
    if not f.exists():
        return
    old = load_json(f)
    diff = sorted(k for k in record if old.get(k) != record[k])
    if diff:
        raise D3PRError(
            f"{d}: holds a transfer made with other settings ({', '.join(diff)}); delete it first"
        )


def _main_numbers(run: Path) -> dict:
    """The run's own test MPJPE (mm, action-weighted) of base, refined and the closed form."""
    f = run / "results.json"
    if not f.exists():
        from ..metrics import frame_mpjpe_mm

        return {
            "base_frame_weighted": frame_mpjpe_mm(Predictions.load(run / "predictions/test.npz"))
        }
    methods = load_json(f).get("methods", {})
    keys = ("base", "refined", CND_BASELINE)
    return {k: methods[k].get("mpjpe_mm") for k in keys if k in methods}


def _base_predictions(exp: Experiment, spec, subjects, d: Path, record: dict) -> Predictions:
    from ..lifters.predict import predict_as_trained, predictions_from_clips
    from ..lifters.runs import estimator_of
    from ..lifters.train import load_lifter, read_config

    path = d / "predictions" / "test.npz"
    if path.exists():
        _log(f"transfer: {path.name} exists, skipping")
        return Predictions.load(path)
    clips, resampled = transfer_clips(spec, subjects)
    if resampled:
        rates = ", ".join(f"{r:g}" for r in resampled)
        _log(f"transfer: {spec.source} resampled from {rates} to {spec.fps:g} fps")
    lifter = exp.config.split.lifter  # the deployed lifter: full, or the holdout fold's
    deployed = exp.out / "lifter" / lifter
    tc = read_config(deployed)
    main_test = exp.pred_path("test")
    name = Predictions.load(main_test).estimator if main_test.exists() else estimator_of(deployed)
    _log(f"transfer: lifter/{lifter} predicts {len(clips)} clips of {spec.source}")
    pred3d = predict_as_trained(load_lifter(deployed), clips, tc, progress=exp.progress)
    preds = Predictions(predictions_from_clips(clips, pred3d, split="test"), name)
    save_json(d / "data.json", {**record, "resampled_from_fps": resampled})
    preds.save(path)
    return preds


def _refined(refiner, base: Predictions, path: Path, trained: Path, progress) -> Predictions:
    if up_to_date(path, trained):
        _log(f"transfer: {path.name} exists, skipping")
        return Predictions.load(path)
    _log(f"transfer: refining {base.num_frames} frames")
    from ..refiner import AT_FULL_STRENGTH

    out = refiner.apply(base, AT_FULL_STRENGTH, progress=progress).predictions
    out.save(path)
    return out


def _sentence(exp: Experiment, source: str, meta: dict) -> str:
    c = exp.config
    n, k = meta["guard"]["sequences"], meta["guard"]["flagged_sequences"]
    return (
        f"The lifter ({c.model}) and refiner of {exp.out.name}, trained on {c.source} "
        f"({', '.join(c.train_subjects)}; {c.setting} 2D), applied unchanged to {source} through "
        f"the same virtual cameras; the guard flagged {k} of {n} sequences."
    )


def run_transfer(
    exp: Experiment,
    test_source: str,
    test_path: str | None = None,
    test_subjects: list[str] | None = None,
) -> dict:
    """A finished run's full lifter and refiner on clips of another motion source (see the module
    docstring): ``RUN/transfer/<source>[-<path name>]`` with ``base``, ``refined`` (guard off),
    ``refined_guard`` (guard shrink), the baselines and the closed-form CND. Resumable; the run's
    ``experiment.json`` is only read.

    Args:
        exp: the run (an :class:`~d3prefiner.study.experiment.Experiment` after :meth:`run`).
        test_source: a registered motion source other than the run's.
        test_path: where it lives (None: its default).
        test_subjects: its subjects to evaluate (None: all; camera-view groups ``view0 …`` for a
            single-performer source).

    Returns:
        The results dict (also in ``results.json`` there).

    Raises:
        D3PRError: the run is not finished, or the source or path is unknown.
    """
    from ..noise import load_noise_model
    from ..refiner import ApplyOptions, Refiner
    from ..report import evaluate_methods, write_report
    from .experiment import as_applied

    check_request(test_source, test_path)
    run = exp.out
    _require_finished(run, exp.config.split.lifter)
    if (run / "experiment.json").exists():
        exp._check_config()  # only compares: the file exists
    spec = transfer_spec(exp.data_spec(), test_source, test_path)
    if spec.source == exp.config.source and _same_path(spec.path, exp.config.path):
        raise D3PRError(
            f"{test_source}: is the run's own source; its test split is in {run / 'results.json'}"
        )
    subjects = list(test_subjects) if test_subjects else None
    d = run / "transfer" / transfer_name(test_source, test_path)
    record = {**spec.to_dict(), "subjects": subjects}
    _check_data(d, record)
    paths = {m: d / "predictions" / f"{f}.npz" for m, f in METHOD_FILES.items()}
    trained = run / "refiner" / "done.json"  # a refiner trained again makes them stale
    if all(up_to_date(p, trained) for p in (d / "results.json", *paths.values())):
        _log(f"transfer: {d / 'results.json'} exists, skipping")
        return load_json(d / "results.json")
    timings = {}
    t0 = time.monotonic()
    base = _base_predictions(exp, spec, subjects, d, record)
    timings["lifter"] = round(time.monotonic() - t0, 2)
    t0 = time.monotonic()
    refiner = Refiner.load(run / "refiner")
    refined = _refined(refiner, base, paths["refined"], trained, exp.progress)
    shrunk = refiner.apply(
        base, ApplyOptions(strength=1.0, smooth="none", geometric="none"), full=refined
    )  # guard shrink
    flags, guarded = shrunk.flags, shrunk.predictions
    if not up_to_date(paths["refined_guard"], trained):
        guarded.save(paths["refined_guard"])
    timings["refine"] = round(time.monotonic() - t0, 2)
    info = load_json(d / "data.json") if (d / "data.json").exists() else record
    meta = {
        "transfer": {
            "source": test_source,
            "path": test_path,
            "subjects": subjects or "all",
            "sequences": len(base),
            "frames": base.num_frames,
            "resampled_from_fps": info.get("resampled_from_fps", []),
            "data": spec.to_dict(),
        },
        "trained_on": {
            "run": str(run),
            "source": exp.config.source,
            "path": exp.config.path,
            "model": exp.config.model,
            "setting": exp.config.setting,
            "train_subjects": list(exp.config.train_subjects),
        },
        "guard": {
            "sequences": len(base),
            "flagged_sequences": len(flags),
            "mean_weight": round(float(np.mean([f.weight for f in flags])), 4) if flags else None,
        },
        "main_run_test_mpjpe_mm": _main_numbers(run),
        "files": {m: str(p.relative_to(d)) for m, p in paths.items()},
        "timings_s": timings,
    }
    meta["verdict"] = _sentence(exp, test_source, meta)
    t0 = time.monotonic()
    methods = {"base": base, "refined": refined, "refined_guard": guarded}
    methods.update(as_applied(refiner, base, refined))  # what `d3pr refine` gives
    if refiner.calibration.calibrated:
        meta["strength"] = refiner.calibration.strength
    results = evaluate_methods(
        methods,
        baselines=exp.config.baselines,
        noise_model=load_noise_model(run / "noise.safetensors"),
        figures_dir=d / "figures",
        report_dir=d,
        meta=meta,
        gif=exp.config.gif,
        progress=exp.progress,
    )
    timings["evaluate"] = round(time.monotonic() - t0, 2)
    write_report(results, d)
    return load_json(d / "results.json")


# ---------------------------------------------------------------------------------- summary


def transfer_numbers(results: dict) -> dict:
    """MPJPE (mm, action-weighted) of ``base``, ``refined``, ``refined_guard``, the closed form
    and the best filter (``best_filter``: its name) of a transfer's results."""
    methods = results.get("methods", {})
    mp = {k: v.get("mpjpe_mm") for k, v in methods.items() if v.get("mpjpe_mm") is not None}
    keys = ("base", "refined", "refined_guard", "refined_auto", "refined_auto_unfiltered")
    keys += (CND_BASELINE,)
    out = {k: mp.get(k) for k in keys}
    from ..baselines import FILTERS, GEOMETRIC

    given = [k for k in results.get("meta", {}).get("baselines", []) if k in mp]
    for kind, names in (("filter", FILTERS), ("geometric", GEOMETRIC)):
        found = [k for k in given if k in names]
        if found:
            best = min(found, key=mp.get)
            out[f"best_{kind}"], out[f"best_{kind}_mm"] = best, mp[best]
    return out


def format_transfer(results: dict) -> str:
    """One line: base / refined / refined+guard / closed form / best filter MPJPE, mm and % vs
    the base, the guard's flags and the run's own test MPJPE."""
    n = transfer_numbers(results)
    meta = results.get("meta", {})
    base = n["base"]

    def cell(label: str, v) -> str:
        if v is None:
            return f"{label} -"
        if base is None or label == "base":
            return f"{label} {v:.1f}"
        return f"{label} {v:.1f} ({100 * (v / base - 1):+.1f}%)"

    parts = [
        cell("base", base),
        cell("refined", n["refined"]),
        cell("refined+guard", n["refined_guard"]),
        *([cell("as refined by default", n["refined_auto"])] if n.get("refined_auto") else []),
        cell("closed form", n[CND_BASELINE]),
    ]
    if "best_filter" in n:
        parts.append(cell(f"best filter ({n['best_filter']})", n["best_filter_mm"]))
    if "best_geometric" in n:
        parts.append(cell(f"best geometric ({n['best_geometric']})", n["best_geometric_mm"]))
    t, g = meta.get("transfer", {}), meta.get("guard", {})
    head = f"transfer to {t.get('source', '?')} ({t.get('sequences', '?')} sequences), MPJPE mm: "
    tail = f"; guard flagged {g.get('flagged_sequences', '?')}/{g.get('sequences', '?')}"
    if g.get("mean_weight") is not None:
        tail += f" (mean weight {g['mean_weight']:.2f})"
    own = meta.get("main_run_test_mpjpe_mm", {}).get("base")
    if own is not None:
        tail += f"; the run's own test base {own:.1f}"
    return head + " | ".join(parts) + tail

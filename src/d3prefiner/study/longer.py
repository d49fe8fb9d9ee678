"""The fair comparison: the bench's lifter trained for longer by the refiner's time.

A cosine schedule cannot be continued, so a new full lifter is trained with the bench's config and
``steps = bench steps + extra``; ``extra`` converts the run's CND-fit + refiner-training seconds
(or ``minutes``) into steps at the bench lifter's own measured seconds per step. It predicts the
test subjects, so it can be scored beside the refiner on the same test predictions.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import D3PRError
from ..io import load_json, save_json
from .experiment import Experiment, ExperimentConfig


def experiment_of(run: str | Path) -> Experiment:
    """The :class:`Experiment` of a finished run directory (from its ``experiment.json``)."""
    run = Path(run)
    if not (run / "experiment.json").exists():
        raise D3PRError(f"{run}: no experiment.json (not a `d3pr bench` / `d3pr demo` run)")
    cfg = load_json(run / "experiment.json")
    for k in ("train_subjects", "test_subjects", "baselines"):
        if k in cfg:
            cfg[k] = tuple(cfg[k])
    return Experiment(ExperimentConfig(**cfg), run, progress=False)


def extra_steps(run: str | Path, minutes: float | None = None) -> tuple[int, float]:
    """``(extra steps, minutes)`` the longer lifter trains beyond the bench's full lifter."""
    from ..engine import read_history

    run = Path(run)
    if minutes is None:
        results = run / "results.json"
        if not results.exists():
            raise D3PRError(f"{results}: not found (the run is not finished; give minutes)")
        t = load_json(results)["meta"]["timings_s"]
        minutes = (t["noise"] + t["refiner"]) / 60
    h = read_history(run / "lifter" / "full")
    per_step = h["train_seconds"] / max(h["steps"], 1)
    return int(round(minutes * 60 / per_step)), float(minutes)


def train_longer_lifter(
    run: str | Path, out: str | Path, minutes: float | None = None, progress: bool = False
) -> Path:
    """Train (or resume) the longer lifter of ``run`` in ``out/lifter`` and write its test
    predictions ``out/test_longer.npz`` (returned; skipped when it exists)."""
    from ..lifters.predict import predict_as_trained, predictions_from_clips
    from ..lifters.train import read_config, train_lifter
    from ..predictions import Predictions

    out = Path(out)
    target = out / "test_longer.npz"
    if target.exists():
        return target
    exp = experiment_of(run)
    extra, minutes = extra_steps(run, minutes)
    config = read_config(Path(run) / "lifter" / "full")
    config = config.replace(steps=config.loop.steps + extra)
    clips = exp.clips_by_subject()
    c = exp.config
    train = [x for s in c.train_subjects for x in clips[s]]
    test = [x for s in c.test_subjects for x in clips[s]]
    model = train_lifter(config, train, [], out / "lifter", resume=True, progress=progress)
    preds = predict_as_trained(model, test, config)
    Predictions(predictions_from_clips(test, preds, split="test"), "lifter-longer").save(target)
    save_json(out / "longer.json", {"extra_steps": extra, "minutes": minutes,
                                     "steps": config.loop.steps})  # fmt: skip
    return target

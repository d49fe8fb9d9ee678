"""The h36m-fk17 bench (``d3pr bench``): for each 2D setting and lifter, one run directory with
the whole pipeline (lifters → cross-fit → CND → refiner → evaluation), stage by stage and
resumable; optionally each finished run's lifter and refiner on another motion source."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArgumentError
from .experiment import STAGES, Experiment, ExperimentConfig, _log
from .presets import BENCH_PRESETS, bench_models, named_preset, with_recipe

SETTINGS = {"gt": ("gt",), "detected": ("detected",), "both": ("gt", "detected")}


def lifter_steps_in(presets: dict, steps: int | None) -> dict:
    """``presets`` with every lifter run's optimiser steps set to ``steps`` (``None``: as is)."""
    if steps is None:
        return presets
    return {**presets, "lifter_overrides": {**presets.get("lifter_overrides", {}), "steps": steps}}


@dataclass(frozen=True)
class BenchSpec:
    """What ``d3pr bench`` runs (its options; checked on construction, before any work).

    Args:
        preset: :data:`~d3prefiner.study.presets.BENCH_PRESETS` name (cpu, paper, tiny).
        setting: ``gt``, ``detected`` or ``both``.
        model: a lifter, ``both`` (STCFormer and MixSTE) or ``all``
            (:func:`~d3prefiner.study.presets.bench_models`).
        recipe: the refiner's switch set. ``protocol``, ``val_subject``, ``folds``, ``seed``,
            ``path``, ``fps``, ``cameras``, ``detector_scale``: as in :class:`ExperimentConfig`;
            ``train``, ``test``: its subjects.
        test_source, test_path: also evaluate each finished run on this motion source.
        lifter_steps: every lifter run's optimiser steps (the run directory gets ``-N``).
        until: stop after this stage (:data:`~d3prefiner.study.experiment.STAGES`).
    """

    preset: str = "cpu"
    setting: str = "both"
    model: str = "both"
    path: str | None = None
    train: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
    test: tuple[str, ...] = ("S9", "S11")
    fps: float = 25.0
    cameras: int = 4
    detector_scale: float = 1.0
    recipe: str = "default"
    protocol: str = "leak_free"
    val_subject: str | None = None
    seed: int = 0
    test_source: str | None = None
    test_path: str | None = None
    lifter_steps: int | None = None
    folds: int = 2
    until: str | None = None

    def __post_init__(self) -> None:
        if self.until is not None and self.until not in STAGES:
            raise ArgumentError("until", f"must be one of {', '.join(STAGES)}, got {self.until!r}")
        if self.until is not None and self.test_source is not None:
            raise ArgumentError("test_source", "needs the finished run: drop {0}", ("until",))
        if self.test_path is not None and self.test_source is None:
            raise ArgumentError("test_path", "needs {0} (the motion source it holds)",
                                ("test_source",))  # fmt: skip
        if self.setting not in SETTINGS:
            raise ArgumentError("setting", f"must be gt, detected or both, got {self.setting!r}")
        if self.test_source is not None:
            from .transfer import check_request

            check_request(self.test_source, self.test_path)
        bench_models(self.model)  # a known lifter
        with_recipe(named_preset(BENCH_PRESETS, self.preset, "preset"), self.recipe)

    def runs(self) -> list[tuple[str, str]]:
        """``(model, setting)`` of every run, in order."""
        return [(m, s) for s in SETTINGS[self.setting] for m in bench_models(self.model)]

    def run_dir(self, out: str | Path, model: str, setting: str) -> Path:
        """``out/MODEL-SETTING[-LIFTER_STEPS][-Kfolds]``."""
        parts = [model, setting] + ([str(self.lifter_steps)] if self.lifter_steps else [])
        return Path(out) / "-".join(parts + ([f"{self.folds}folds"] if self.folds != 2 else []))

    def experiment_config(self, model: str, setting: str) -> ExperimentConfig:
        """The :class:`ExperimentConfig` of one run."""
        presets = with_recipe(named_preset(BENCH_PRESETS, self.preset, "preset"), self.recipe)
        return ExperimentConfig(
            source="h36m-fk17", path=self.path, setting=setting, model=model,
            train_subjects=self.train, test_subjects=self.test, fps=self.fps,
            n_cameras=self.cameras, seed=self.seed, detector_scale=self.detector_scale,
            protocol=self.protocol, val_subject=self.val_subject, folds=self.folds,
            **lifter_steps_in(presets, self.lifter_steps),
        )  # fmt: skip


@dataclass
class BenchRun:
    """One finished (or stopped, ``until``) run of the bench."""

    model: str
    setting: str
    run_dir: Path
    results: dict
    seconds: float
    stopped_after: str | None = None
    transfer: dict | None = None

    def summary(self) -> dict:
        """MPJPE (mm) per method (and the transfer's), or where the run stopped."""
        from .transfer import transfer_numbers

        if self.stopped_after is not None:
            return {"stopped_after": self.stopped_after}
        out = {k: v.get("mpjpe_mm") for k, v in self.results.get("methods", {}).items()}
        if self.transfer is not None:
            out["transfer"] = transfer_numbers(self.transfer)
        return out


def run_bench(spec: BenchSpec, out: str | Path, *, jobs: int = 1) -> Iterator[BenchRun]:
    """Run (or resume) every run of ``spec`` under ``out``; yields each as it finishes."""
    from .transfer import run_transfer

    for model, setting in spec.runs():
        run_dir = spec.run_dir(out, model, setting)
        _log(f"== {model}, {setting} 2D → {run_dir}")
        t0 = time.monotonic()
        experiment = Experiment(spec.experiment_config(model, setting), run_dir, jobs=jobs)
        results = experiment.run(spec.until)
        run = BenchRun(model, setting, run_dir, results, time.monotonic() - t0, spec.until)
        if spec.until is None and spec.test_source is not None:
            run.transfer = run_transfer(experiment, spec.test_source, spec.test_path)
        yield run

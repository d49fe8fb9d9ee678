"""The bench (``d3pr bench``): for each 2D setting and lifter, one run directory with the whole
pipeline (lifters → cross-fit → CND → refiner → evaluation), stage by stage and resumable, on
h36m-fk17 (virtual cameras, 25 fps) or VideoPose3D's Human3.6M files (``--source videopose3d``:
the real cameras, 50 fps, GT / CPN / detector-profile 2D); or, with ``predictions``, on another
estimator's predictions instead of a lifter. Optionally each finished run's lifter and refiner on
another motion source."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ArgumentError
from .experiment import STAGES, Experiment, ExperimentConfig, _log
from .presets import (
    BENCH_PRESETS,
    bench_models,
    named_preset,
    temporal_overrides,
    with_recipe,
)

SETTINGS = {"gt": ("gt",), "detected": ("detected",), "cpn": ("cpn",), "both": ("gt", "detected")}
#: The sources the bench runs on; ``both`` means their two 2D settings.
BENCH_SOURCES = {"h36m-fk17": ("gt", "detected"), "videopose3d": ("gt", "cpn")}


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
            ``path``, ``cameras``, ``detector_scale``, ``camera_file``: as in
            :class:`ExperimentConfig`; ``train``, ``test``: its subjects; ``fps``: None, the
            source's (25 for h36m-fk17, 50 for videopose3d).
        source: ``h36m-fk17`` or ``videopose3d`` (:data:`BENCH_SOURCES`; ``both`` settings are
            gt + detected on the first, gt + cpn on the second).
        window: the lifter's and the refiner's window T (None: the preset's;
            :func:`~d3prefiner.study.presets.temporal_overrides`); the run directory gets ``-TN``.
        predictions: ``(TRAIN.npz, TEST.npz)`` of another estimator: no lifter stage, one run
            ``external``.
        skeleton: h36m-fk17's bone lengths: ``subject`` (per subject, the default there; the run
            directory gets ``-subject``) or ``fixed`` (one skeleton for all subjects, as in
            the earlier benches). None: ``subject`` on h36m-fk17, ``fixed`` elsewhere.
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
    fps: float | None = None
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
    source: str = "h36m-fk17"
    camera_file: str | None = None
    window: int | None = None
    predictions: tuple[str, ...] = ()
    skeleton: str | None = None

    def __post_init__(self) -> None:
        if self.skeleton is None:  # h36m-fk17's lifters are trained on each subject's own bones
            own = self.source == "h36m-fk17" and not self.predictions
            object.__setattr__(self, "skeleton", "subject" if own else "fixed")
        if self.skeleton not in ("fixed", "subject"):
            raise ArgumentError("skeleton", f"must be fixed or subject, got {self.skeleton!r}")
        if self.skeleton != "fixed" and self.source != "h36m-fk17":
            raise ArgumentError("skeleton", f"source {self.source} has its own subjects' bones")
        if self.source not in BENCH_SOURCES:
            raise ArgumentError("source", f"must be one of {', '.join(BENCH_SOURCES)}, got "
                                f"{self.source!r}")  # fmt: skip
        if self.setting == "cpn" and self.source != "videopose3d" and not self.predictions:
            raise ArgumentError("setting", "cpn reads VideoPose3D's CPN detections: add {0} "
                                "videopose3d", ("source",))  # fmt: skip
        if self.camera_file is not None and self.source != "videopose3d":
            raise ArgumentError("camera_file", "only --source videopose3d has real cameras")
        if self.window is not None and self.window < 1:
            raise ArgumentError("window", f"must be >= 1, got {self.window}")
        if self.source == "videopose3d" and not self.predictions:
            from ..data.sources import videopose3d_files

            for _, setting in self.runs():  # the files exist (nothing is loaded yet)
                videopose3d_files(self.path, setting, self.camera_file)
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

    @classmethod
    def create(cls, **options) -> BenchSpec:
        """From command-line values: paths become strings, lists tuples, ``predictions``
        ``"TRAIN.npz,TEST.npz"`` a pair."""
        for key in ("path", "test_path", "camera_file"):
            if options.get(key) is not None:
                options[key] = str(options[key])
        for key in ("train", "test"):
            options[key] = tuple(options.get(key) or getattr(cls, key))
        if isinstance(options.get("predictions"), str):
            given = [t.strip() for t in options["predictions"].split(",") if t.strip()]
            if len(given) != 2:
                raise ArgumentError("predictions", f"must be TRAIN.npz,TEST.npz, got "
                                    f"{options['predictions']!r}")  # fmt: skip
            options["predictions"] = tuple(given)
        return cls(**options)

    def runs(self) -> list[tuple[str, str]]:
        """``(model, setting)`` of every run, in order."""
        if self.predictions:  # one lifter and one setting name the estimator and its 2D
            model = "external" if self.model in ("both", "all") else self.model
            return [(model, "given" if self.setting == "both" else self.setting)]
        both = {"both": BENCH_SOURCES[self.source]}
        settings = both.get(self.setting) or SETTINGS[self.setting]
        return [(m, s) for s in settings for m in bench_models(self.model)]

    def run_dir(self, out: str | Path, model: str, setting: str) -> Path:
        """``out/MODEL-SETTING[-LIFTER_STEPS][-TWINDOW][-subject][-Kfolds]``; with
        ``predictions`` ``out/external`` or ``out/MODEL-SETTING`` where they were named; then
        ``-PROTOCOL`` where it is not leak_free (its lifters are those of the leak_free run:
        :func:`reuse_lifters`)."""
        protocol = [self.protocol] * (self.protocol != "leak_free")
        if self.predictions:
            name = ["external"] if model == "external" else [model, setting]
            return Path(out) / "-".join(name + protocol)
        parts = [model, setting] + ([str(self.lifter_steps)] if self.lifter_steps else [])
        parts += [f"T{self.window}"] if self.window else []
        parts += ["subject"] if self.skeleton != "fixed" else []
        parts += [f"{self.folds}folds"] if self.folds != 2 else []
        return Path(out) / "-".join(parts + protocol)

    @property
    def clip_fps(self) -> float | None:
        """The clips' frame rate: ``fps`` or the source's own default (25 / 50)."""
        from ..data.sources import get_source

        return self.fps if self.fps is not None else get_source(self.source).fps

    def window_of(self, model: str) -> int:
        """The lifter's window T of a run (the flag's, the preset's or the lifter preset's)."""
        from ..lifters.config import lifter_config

        preset = named_preset(BENCH_PRESETS, self.preset, "preset")
        if self.window or preset.get("window") or model == "external":
            return self.window or preset.get("window") or 0
        return lifter_config(model, preset["lifter_preset"]).window

    def experiment_config(self, model: str, setting: str) -> ExperimentConfig:
        """The :class:`ExperimentConfig` of one run."""
        presets = with_recipe(named_preset(BENCH_PRESETS, self.preset, "preset"), self.recipe)
        presets = temporal_overrides(presets, model, self.window)
        return ExperimentConfig(
            source=self.source, path=self.path, setting=setting,
            model=model,
            train_subjects=self.train, test_subjects=self.test, fps=self.clip_fps,
            n_cameras=self.cameras, seed=self.seed, detector_scale=self.detector_scale,
            protocol=self.protocol, val_subject=self.val_subject, folds=self.folds,
            camera_file=self.camera_file, predictions=self.predictions, skeleton=self.skeleton,
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

    paper: str | None = None

    def summary(self) -> dict:
        """MPJPE (mm) per method (and the transfer's), or where the run stopped."""
        from .transfer import transfer_numbers

        if self.stopped_after is not None:
            return {"stopped_after": self.stopped_after}
        out = {k: v.get("mpjpe_mm") for k, v in self.results.get("methods", {}).items()}
        if self.transfer is not None:
            out["transfer"] = transfer_numbers(self.transfer)
        return out


def run_bench(
    spec: BenchSpec, out: str | Path, *, jobs: int = 1, device: str = "cpu"
) -> Iterator[BenchRun]:
    """Run (or resume) every run of ``spec`` under ``out``; yields each as it finishes (with
    the paper's rows beside its per-action MPJPE, also in ``RUN/paper.md``, for a run on
    Human3.6M's test subjects)."""
    from .transfer import run_transfer

    for model, setting in spec.runs():
        run_dir = spec.run_dir(out, model, setting)
        _log(f"== {model}, {setting} 2D → {run_dir}")
        t0 = time.monotonic()
        if spec.protocol != "leak_free" and not spec.predictions:
            reuse_lifters(replace(spec, protocol="leak_free").run_dir(out, model, setting), run_dir)
        config = spec.experiment_config(model, setting)
        experiment = Experiment(config, run_dir, jobs=jobs, device=device)
        results = experiment.run(spec.until)
        run = BenchRun(model, setting, run_dir, results, time.monotonic() - t0, spec.until)
        if spec.until is None and spec.test_source is not None:
            run.transfer = run_transfer(experiment, spec.test_source, spec.test_path)
        if spec.until is None and (spec.source == "videopose3d" or spec.predictions):
            run.paper = write_paper_comparison(run, spec.window_of(model))
        yield run


def reuse_lifters(source: Path, run: Path) -> list[str]:
    """Copy the finished lifter runs of bench run ``source`` (the same settings under another
    protocol) into ``run`` where ``run`` has none of that name: the protocols differ only after
    the lifter stage, and a finished lifter run is loaded, not retrained (its config is checked
    then). Returns the names copied."""
    import shutil

    from ..engine import is_finished

    copied = []
    for d in sorted((source / "lifter").glob("*")) if (source / "lifter").is_dir() else []:
        if d.is_dir() and is_finished(d) and not (run / "lifter" / d.name).exists():
            shutil.copytree(d, run / "lifter" / d.name)
            copied.append(d.name)
    if copied:
        _log(f"lifter: {', '.join(copied)} copied from {source} (finished, same settings)")
    return copied


def write_paper_comparison(run: BenchRun, window: int) -> str:
    """``RUN/paper.md``: the run's per-action MPJPE beside the paper's rows; returns the text."""
    from ..io import atomic_path
    from .paper import paper_comparison

    text = paper_comparison(run.results, run.setting, run.model, window)
    with atomic_path(run.run_dir / "paper.md") as tmp:
        tmp.write_text(text + "\n")
    return text

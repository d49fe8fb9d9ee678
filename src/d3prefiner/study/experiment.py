"""The whole pipeline as resumable stages: clips → cross-fitted lifter → CND → refiner → evaluation.

Used by ``d3pr demo`` (pybullet's DeepMimic clips, small and fast) and ``d3pr bench`` (h36m-fk17,
the paper's protocol). Every stage writes its output into the run directory and is skipped when that
output already exists, so a killed run continues where it stopped:

```
RUN/lifter/{fold0,fold1,full}/   lifter run directories (resumable on their own)
RUN/predictions/{train_crossfit,test,train_insample}.npz  (and test_holdout: protocol holdout)
RUN/noise.safetensors            the fitted CND
RUN/refiner/                     refiner checkpoint directory
RUN/predictions/refined_test.npz  the refiner at full strength (``refined``; ``refined_auto`` in
                                 the results: strength, geometric step and filter chosen on
                                 validation + guard, as ``d3pr refine`` applies it by default;
                                 ``refined_auto_unfiltered``: the same without the filter, as
                                 ``d3pr refine --smooth none`` gives, when one was chosen)
RUN/report.md, RUN/results.json, RUN/figures/
RUN/transfer/<source>/           only on request: study.transfer.run_transfer (another source)
```
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..baselines import DEFAULT_BASELINES
from ..data.pipeline import clips_by_view
from ..data.sequences import Clip
from ..errors import ArgumentError, D3PRError
from ..io import load_json, save_json, up_to_date
from ..predictions import Predictions
from ..refiner.calibration import AT_FULL_STRENGTH, ApplyOptions
from .split import Split

PRED_FILES = ("train_crossfit", "test", "train_insample")


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: a lifter on a motion source, its CND, a refiner and the evaluation.

    Args:
        source: ``"deepmimic"`` or ``"h36m-fk17"`` (any :func:`~d3prefiner.data.pipeline.load_source`).
        path: where the source lives (None: its default).
        setting: ``"gt"`` (projected 2D), ``"detected"`` (detector-like noise on the 2D) or
            ``"cpn"`` (a source's own detections file: ``videopose3d``); ``"given"`` (only with
            ``predictions``): 2D unnamed.
        model: base lifter, ``"stcformer"`` or ``"mixste"``.
        lifter_preset: ``"tiny"``, ``"cpu"`` or ``"paper"``.
        lifter_overrides: training overrides (e.g. ``{"steps": 800}``).
        lifter_minutes: a budget per lifter run, converted once into a number of steps that every
            cross-fitting run then gets (None: the preset's ``steps``).
        train_subjects, test_subjects: the split (for DeepMimic: camera-view groups, see
            :func:`deepmimic_clips_by_view`).
        folds: cross-fitting folds K.
        fps: frame rate the clips are subsampled to (None: the source's).
        n_cameras: virtual cameras per sequence.
        noise: options of :class:`~d3prefiner.noise.PoseNoiseModel`; ``ridge`` defaults to
            ``"auto"``: chosen by the closed-form MPJPE across cross-fitting folds.
        refiner_preset: refiner network preset; ``refiner_overrides``: config overrides.
        refiner_minutes: wall-clock safety budget of the refiner's training (None: its steps).
        baselines: the filters and the geometric baselines evaluated beside the refiner.
        gif: write the animated GIF.
        seed: seed of everything (cameras, detector noise, training).
        detector_scale: multiplies the default detector-noise profile's magnitudes in the
            ``detected`` setting (the calibration knob of ``d3prefiner.data.detector``).
        protocol: which subjects and predictions the CND and the refiner see, and which lifter
            is refined: ``"leak_free"``, ``"pooled"``, ``"insample"`` or ``"holdout"``
            (:class:`~d3prefiner.study.split.Split`).
        val_subject: the refiner's validation subject (None: the last training subject).
        camera_file: the cameras JSON of a source with real cameras (None: its default).
        predictions: ``(TRAIN.npz, TEST.npz)``, another estimator's predictions in place of the
            lifter stage (:func:`~d3prefiner.study.given.given_predictions`); empty: the lifter.
        skeleton: h36m-fk17's bone lengths, ``"fixed"`` or ``"subject"``.
    """

    source: str = "deepmimic"
    path: str | None = None
    setting: str = "detected"
    model: str = "stcformer"
    lifter_preset: str = "cpu"
    lifter_overrides: dict = field(default_factory=dict)
    lifter_minutes: float | None = None
    train_subjects: tuple[str, ...] = ("view0", "view1", "view2")
    test_subjects: tuple[str, ...] = ("view3",)
    folds: int = 2
    fps: float | None = 30.0
    n_cameras: int = 16
    noise: dict = field(default_factory=dict)
    refiner_preset: str = "cpu"
    refiner_overrides: dict = field(default_factory=dict)
    refiner_minutes: float | None = None
    baselines: tuple[str, ...] = DEFAULT_BASELINES
    gif: bool = True
    seed: int = 0
    detector_scale: float = 1.0
    protocol: str = "leak_free"
    val_subject: str | None = None
    camera_file: str | None = None
    predictions: tuple[str, ...] = ()
    skeleton: str = "fixed"

    def __post_init__(self) -> None:
        settings = ("gt", "detected", "cpn") + (("given",) if self.predictions else ())
        if self.setting not in settings:
            raise D3PRError(f"setting must be {' or '.join(settings)}, got {self.setting!r}")
        if set(self.train_subjects) & set(self.test_subjects):
            raise D3PRError("train and test subjects overlap")
        if not self.detector_scale > 0:
            raise D3PRError(f"detector_scale must be > 0, got {self.detector_scale}")
        if not 2 <= self.folds <= len(self.train_subjects):
            raise D3PRError(f"folds must be in [2, {len(self.train_subjects)}], got {self.folds}")
        if self.predictions and self.split.fold >= 0:
            raise ArgumentError("protocol", "holdout deploys a fold lifter; given predictions "
                                "have none")  # fmt: skip
        _ = self.split  # validates the protocol and the validation subject

    @property
    def split(self) -> Split:
        """Which subjects the CND, the refiner and its validation see."""
        return Split.make(
            self.protocol, self.train_subjects, self.test_subjects, self.folds, self.val_subject
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["train_subjects"], d["test_subjects"] = (
            list(self.train_subjects),
            list(self.test_subjects),
        )
        d["baselines"] = list(self.baselines)
        d["predictions"] = list(self.predictions)
        return d


#: Kept under its old name (the implementation lives with the data pipeline).
deepmimic_clips_by_view = clips_by_view


#: Settings of the evaluation only (it is redone at every run): a finished run is evaluated with
#: today's baselines, e.g. one added since.
EVALUATION_ONLY = ("baselines", "gif")

# the stages a run can stop after (``Experiment.run(until=...)``, ``d3pr bench --until``)
STAGES = ("lifter", "noise", "refiner")


def _log(msg: str) -> None:
    tqdm.write(msg)


class Experiment:
    """A run directory and the stages that fill it. ``run()`` executes the missing ones."""

    def __init__(
        self,
        config: ExperimentConfig,
        out_dir: str | Path,
        progress: bool = True,
        jobs: int = 1,
        device: str = "cpu",
    ):
        self.config = config
        self.jobs = jobs  # lifter runs side by side (how it runs, not what: not in the config)
        self.device = device  # where lifters and the refiner train (not in the config either)
        self.out = Path(out_dir)
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._clips: dict[str, list[Clip]] | None = None
        self._noise = None

    # ------------------------------------------------------------------------------ helpers
    def _check_config(self) -> None:
        f = self.out / "experiment.json"
        cfg = self.config.to_dict()
        if f.exists():
            # keys added after the run was made take their defaults
            old = {**ExperimentConfig().to_dict(), **load_json(f)}
            diff = sorted(k for k in cfg if old.get(k) != cfg[k] and k not in EVALUATION_ONLY)
            if diff:
                raise ArgumentError(
                    "out",
                    f"{self.out}: holds a run with a different configuration "
                    f"({', '.join(diff)}); use another {{0}} or delete it",
                    ("out",),
                )
        if not f.exists() or old != cfg:  # a new run, or new baselines for the evaluation
            save_json(f, cfg)

    def _timed(self, name: str, fn: Callable):
        t0 = time.monotonic()
        result = fn()
        self.timings[name] = round(time.monotonic() - t0, 2)
        return result

    def data_spec(self):
        """How the clips are made (:class:`~d3prefiner.lifters.config.DataSpec`, written as
        ``data.json`` into every lifter run directory so that ``d3pr lifter predict`` remakes
        them)."""
        from ..data.sources import get_source
        from ..lifters.config import DataSpec

        c = self.config
        views = get_source(c.source).single_performer  # subjects are camera-view groups
        return DataSpec(
            source=c.source, path=c.path, setting=c.setting, fps=c.fps, n_cameras=c.n_cameras,
            seed=c.seed, detector_scale=c.detector_scale, camera_file=c.camera_file, skeleton=c.skeleton,
            views=len(c.train_subjects) + len(c.test_subjects) if views else 0,
        )  # fmt: skip

    def clips_by_subject(self) -> dict[str, list[Clip]]:
        """Subject → clips for the configured source and 2D setting (cached)."""
        if self._clips is None:
            from ..lifters.runs import clips_by_subject, source_clips

            c = self.config
            spec = self.data_spec()
            subjects = None if spec.views else [*c.train_subjects, *c.test_subjects]
            self._clips = clips_by_subject(source_clips(spec, subjects))
        return self._clips

    def pred_path(self, name: str) -> Path:
        return self.out / "predictions" / f"{name}.npz"

    # ------------------------------------------------------------------------------- stages
    def stage_lifter(self) -> dict[str, Predictions]:
        """Cross-fitted training predictions, test predictions, in-sample predictions."""
        from ..lifters.config import train_config
        from ..lifters.crossfit import cross_fit, describe_crossfit_runs

        c = self.config
        if c.predictions:
            from .given import given_predictions

            _log(f"lifter: none, the given predictions {', '.join(c.predictions)}")
            preds = given_predictions(c.predictions, c.train_subjects, c.test_subjects)
            for name, p in preds.items():  # the run directory holds what it used (grid, ablate)
                if not self.pred_path(name).exists():
                    p.save(self.pred_path(name))
            return preds
        names = tuple(dict.fromkeys((*PRED_FILES, c.split.test_predictions)))  # test once
        if all(self.pred_path(n).exists() for n in names):
            _log("lifter: predictions exist, skipping")
            describe_crossfit_runs(  # runs made before the lifter run dirs described their data
                self.out / "lifter", self.data_spec(), c.train_subjects, c.test_subjects,
                c.folds, missing_only=True,
            )  # fmt: skip
            return {n: Predictions.load(self.pred_path(n)) for n in names}
        tc = train_config(c.model, c.lifter_preset, seed=c.seed, **c.lifter_overrides)
        _log(f"lifter: {c.model} ({c.lifter_preset}), {c.folds}-fold cross-fitting")
        preds = cross_fit(
            tc,
            self.clips_by_subject(),
            list(c.train_subjects),
            list(c.test_subjects),
            self.out / "lifter",
            folds=c.folds,
            insample=True,
            minutes=c.lifter_minutes,
            progress=self.progress,
            data_spec=self.data_spec(),
            jobs=self.jobs,
            device=self.device,
            holdout=c.split.fold if c.split.fold >= 0 else None,
        )
        for name, p in preds.items():
            p.save(self.pred_path(name))
        return preds

    def stage_noise(self, train_crossfit: Predictions):
        """Fit the CND on the training predictions of the split's CND subjects (cross-fitted;
        the full lifter's in-sample ones under the ``insample`` protocol)."""
        from ..noise import PoseNoiseModel, load_noise_model
        from ..noise.summary import select_ridge

        path = self.out / "noise.safetensors"
        if path.exists():
            _log("noise: noise.safetensors exists, skipping")
            return load_noise_model(path)
        split = self.config.split
        fit_on, _, held = split.parts(train_crossfit)
        _log(f"noise: fitting the CND on {fit_on.num_frames} frames of {split.predictions} "
             f"({split.describe()})")  # fmt: skip
        options = dict(self.config.noise)
        if options.get("ridge", "auto") == "auto":
            # pooled: across the cross-fitting folds (where the predictions have them); else on
            # the validation part (insample: its in-sample predictions, which the CND saw)
            folds = {s.fold for s in fit_on if s.fold >= 0}
            by_folds = split.protocol == "pooled" and len(folds) >= 2
            options["ridge"], scores = select_ridge(fit_on, None if by_folds else held, **options)
            _log(
                "noise: ridge "
                + ", ".join(f"{r:g}: {1000 * m:.1f} mm" for r, m in scores.items())
                + f" (closed-form MPJPE, held out) -> {options['ridge']:g}"
            )
        model = PoseNoiseModel(**options).fit(fit_on)
        model.save(path)
        return model

    def refiner_config(self):
        from ..refiner.config import RefinerConfig

        c = self.config
        return RefinerConfig.from_preset(c.refiner_preset, seed=c.seed, **c.refiner_overrides)

    def stage_refiner(self, train_crossfit: Predictions, noise_model):
        """Train the refiner on the cross-fitted predictions (resumes an interrupted run)."""
        from ..refiner import Refiner
        from ..refiner.train import train_refiner

        ckpt = self.out / "refiner"
        done = ckpt / "done.json"
        if done.exists():
            _log("refiner: trained, skipping")
            return Refiner.load(ckpt, self.device)
        config = self.refiner_config()
        split = self.config.split
        _, train, val = split.parts(train_crossfit)
        note = {
            "leak_free": "unseen by the CND and the refiner, predicted by another fold lifter",
            "pooled": "optimistic: the CND saw it",
            "insample": "optimistic: the CND saw it, in-sample predictions of the full lifter",
            "holdout": "another subject, predicted by the deployed lifter that saw neither",
        }[split.protocol]
        if split.by_action:
            note = "other actions of the same subject, optimistic: it shares the subject's body"
        _log(
            f"refiner: training on {train.num_frames} frames of {','.join(split.refiner)}, "
            f"validating on {','.join(split.val)} ({val.num_frames} frames; {note})"
        )
        refiner = train_refiner(
            config,
            train,
            noise_model,
            ckpt,
            val_preds=val,
            resume=True,
            max_minutes=self.config.refiner_minutes,
            progress=self.progress,
            device=self.device,
            bodies=train_crossfit,
        )
        save_json(done, {"finished": True})
        return refiner

    def stage_calibrate(self, refiner, train_crossfit: Predictions):
        """Choose the refiner's correction strength and filter on the validation subject, for a
        refiner trained before they were recorded (training records them itself)."""
        from ..refiner import calibrate_refiner

        val = self.config.split.parts(train_crossfit)[2]
        if refiner.calibration.calibrated or len(val) == 0:
            return refiner
        _log(f"refiner: choosing its correction strength on {','.join(self.config.split.val)}")
        calibrate_refiner(refiner, val, progress=self.progress, bodies=train_crossfit)
        refiner.save(self.out / "refiner")
        return refiner

    def stage_refine(self, refiner, test: Predictions) -> Predictions:
        """The network's own output on the test predictions (``FULL``), cached."""
        from ..refiner import FULL

        path = self.pred_path("refined_test")
        if up_to_date(path, self.out / "refiner" / "done.json"):  # not older than the training
            _log("refine: refined_test.npz exists, skipping")
            return Predictions.load(path)
        _log(f"refine: {test.num_frames} test frames")
        full = refiner.apply(test, FULL).predictions
        full.save(path)
        return full

    def stage_evaluate(
        self, preds: dict[str, Predictions], refined: Predictions, noise_model, refiner=None
    ):
        from ..metrics import frame_mpjpe_mm
        from ..report import evaluate_methods, write_report

        split = self.config.split
        test = preds[split.test_predictions]
        methods = {"base": test, "refined": refined}
        if refiner is not None:
            methods.update(as_applied(refiner, test, refined))
            methods["refined"] = refiner.apply(test, AT_FULL_STRENGTH, full=refined)
            methods["refined"] = methods["refined"].predictions
        meta = {
            "experiment": self.config.to_dict(),
            "timings_s": self.timings,
            "in_sample_train_mpjpe_mm": frame_mpjpe_mm(preds["train_insample"]),
            "cross_fitted_train_mpjpe_mm": frame_mpjpe_mm(preds["train_crossfit"]),
            "test_frames": test.num_frames,
            "split": {k: v for k, v in asdict(split).items() if k != "test"},
            "lifter": split.lifter,
        }
        if split.lifter != "full":  # the full lifter the deployed fold lifter stands in for
            meta["full_lifter_test_mpjpe_mm"] = frame_mpjpe_mm(preds["test"])
        if is_dataclass(getattr(noise_model, "config", None)):
            meta["cnd"] = asdict(noise_model.config)  # the ridge chosen, for the report
        results = evaluate_methods(
            methods,
            baselines=self.config.baselines,
            noise_model=noise_model,
            figures_dir=self.out / "figures",
            report_dir=self.out,
            meta=meta,
            gif=self.config.gif,
            progress=self.progress,
        )
        if self.config.source == "deepmimic":  # the demo states its reading in plain words
            val = refiner_validation(self.out / "refiner")
            results["meta"]["verdict"] = verdict(results, val)
            if val:
                results["meta"]["refiner_validation"] = val
        write_report(results, self.out)
        return results

    def run(self, until: str | None = None) -> dict:
        """Run every missing stage; return the results dict (also in ``results.json``).

        ``until`` (one of :data:`STAGES`): stop after that stage and return ``{"stopped_after":
        until, "timings": ...}`` (e.g. ``"lifter"``: only the cross-fitted predictions, what a
        pooled refiner needs of an estimator); a later call without it continues the run."""
        if until is not None and until not in STAGES:
            raise D3PRError(f"until must be one of {', '.join(STAGES)}, got {until!r}")
        self._check_config()
        preds = self._timed("lifter", self.stage_lifter)
        if until == "lifter":
            return {"stopped_after": until, "timings": self.timings}
        train = preds[self.config.split.predictions]  # what the CND and the refiner may see
        noise = self._timed("noise", lambda: self.stage_noise(train))
        if until == "noise":
            return {"stopped_after": until, "timings": self.timings}
        refiner = self._timed("refiner", lambda: self.stage_refiner(train, noise))
        if until == "refiner":
            return {"stopped_after": until, "timings": self.timings}
        refiner = self.stage_calibrate(refiner, train)
        test = preds[self.config.split.test_predictions]
        refined = self._timed("refine", lambda: self.stage_refine(refiner, test))
        return self._timed("evaluate", lambda: self.stage_evaluate(preds, refined, noise, refiner))


def as_applied(refiner, base: Predictions, full: Predictions) -> dict[str, Predictions]:
    """What ``d3pr refine`` makes of ``base`` by default (``refined_auto``) and, where a filter
    was chosen, without it (``refined_auto_unfiltered``: ``--smooth none``), from the network's
    own output ``full`` on it (``refiner.apply(base, FULL)``) through :meth:`Refiner.apply`.
    Empty for a refiner never calibrated."""
    if not refiner.calibration.calibrated:
        return {}
    out = {"refined_auto": refiner.apply(base, full=full).predictions}
    if refiner.calibration.filter != "none":
        unfiltered = refiner.apply(base, ApplyOptions(smooth="none"), full=full)
        out["refined_auto_unfiltered"] = unfiltered.predictions
    return out


def refiner_validation(ckpt: Path) -> dict | None:
    """The kept step's validation numbers (mm) of a refiner checkpoint, if it recorded any."""
    from ..engine import read_history

    h = read_history(ckpt)
    kept = [r for r in h.get("records", []) if r.get("step") == h.get("kept_step")]
    last = kept[-1] if kept else {}
    keys = ("val_mpjpe_base_mm", "val_mpjpe_refined_mm", "val_mpjpe_closed_form_mm")
    return {k: round(float(last[k]), 1) for k in keys if k in last} or None


def _worse(methods: dict) -> list[str]:
    """A sentence for each of the refiner's outputs (full strength; as applied) naming every metric
    it makes worse than the base (MPJPE, P-MPJPE, velocity, acceleration)."""
    from ..report.methods import worse_words

    who = {"refined": "at full strength the refiner", "refined_auto": "as applied, the refiner"}
    return [w for k, name in who.items() for w in worse_words(methods, "base", k, name)]


def verdict(results: dict, validation: dict | None = None) -> str:
    """One plain sentence: does ``refined`` beat ``base`` and the best baseline on MPJPE? It
    names every metric the refiner makes worse than the base, at full strength and as applied.

    Args:
        results: :func:`~d3prefiner.evaluation.evaluate_methods` output (``methods`` with
            ``base``, ``refined`` and baselines, each with ``mpjpe_mm``).
        validation: the refiner's own validation numbers (``val_mpjpe_*_mm``), if any.
    """
    m = {k: v["mpjpe_mm"] for k, v in results["methods"].items() if v.get("mpjpe_mm") is not None}
    base, ref = m["base"], m["refined"]
    change = 100 * (ref / base - 1)
    others = {k: v for k, v in m.items() if k != "base" and not k.startswith("refined")}
    text = (
        f"the diffusion refiner {'improves' if ref < base else 'worsens'} the base lifter's test "
        f"MPJPE by {abs(change):.1f}% ({base:.1f} -> {ref:.1f} mm)"
    )
    if others:
        best = min(others, key=others.get)
        gap = others[best] - ref
        how = "as good as" if abs(gap) < 0.05 else ("worse than" if gap > 0 else "better than")
        text += (
            f"; the best baseline, {best} ({others[best]:.1f} mm), is {how} the refiner"
            f" (margin {gap:+.1f} mm)"
        )
    text += "".join("; " + w[:-1] for w in _worse(results["methods"]))
    if validation and {"val_mpjpe_base_mm", "val_mpjpe_refined_mm"} <= set(validation):
        text += (
            f". On its own validation group the refiner went {validation['val_mpjpe_base_mm']} -> "
            f"{validation['val_mpjpe_refined_mm']} mm"
        )
        if "val_mpjpe_closed_form_mm" in validation:
            text += f" (closed-form CND {validation['val_mpjpe_closed_form_mm']} mm)"
    return text + "."

"""Lifter run directories: the clips a :class:`DataSpec` makes, ``data.json``, the
``d3pr lifter predict`` command of ``HOW_TO_PREDICT.txt``, and a training run on a motion source
(:func:`lifter_training`: subjects checked, clips made, run described, trained)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..data.sequences import Clip
from ..errors import ArgumentError, D3PRError
from ..io import load_json, save_json
from .config import DataSpec, TrainConfig


def source_clips(
    spec: DataSpec, subjects: Sequence[str] | None = None, sequences: list | None = None
) -> list[Clip]:
    """Clips of ``subjects`` (None: all) from the motion source described by ``spec``
    (``sequences``: what ``load_source`` returned for them, when the caller has it already).

    With ``spec.views``, the subjects are camera-view groups ``view0 …`` of every sequence
    (:func:`~d3prefiner.data.pipeline.clips_by_view`), as the demo makes them.
    """
    from ..data.detector import DEFAULT_PROFILE
    from ..data.pipeline import clips_by_view, load_source, make_clips

    wanted = list(subjects) if subjects is not None else None
    seqs = sequences
    if seqs is None:
        seqs = load_source(spec.source, spec.path, None if spec.views else wanted,
                           setting=spec.setting, camera_file=spec.camera_file,
                           skeleton=spec.skeleton)  # fmt: skip
    found = {f"view{g}" for g in range(spec.views)} if spec.views else {s.subject for s in seqs}
    missing = [s for s in wanted or () if s not in found]
    if missing:
        have = f" (its subjects are {', '.join(sorted(found))})" if spec.views else ""
        raise D3PRError(
            f"source {spec.source}: no sequences for subject(s) {', '.join(missing)}{have}"
        )
    detector = None
    if spec.setting == "detected":
        detector = DEFAULT_PROFILE.scaled(DEFAULT_PROFILE.scale * spec.detector_scale)
    clips = make_clips(
        seqs, n_cameras=spec.n_cameras, detector=detector, seed=spec.seed, target_fps=spec.fps
    )
    if not spec.views:
        return clips
    groups = clips_by_view(clips, spec.views)
    return [c for g, cs in groups.items() if wanted is None or g in wanted for c in cs]


def clips_by_subject(clips: Sequence[Clip]) -> dict[str, list[Clip]]:
    """Group clips by subject (order kept)."""
    out: dict[str, list[Clip]] = {}
    for c in clips:
        out.setdefault(c.subject, []).append(c)
    return out


def save_data_spec(run_dir: str | Path, spec: DataSpec, **extra) -> None:
    """Write ``data.json`` (how the run's clips were made) into a run directory."""
    save_json(Path(run_dir) / "data.json", {**spec.to_dict(), **extra})


HOW_TO_PREDICT = "HOW_TO_PREDICT.txt"


def predict_spec(
    run_dir: str | Path,
    source: str | None = None,
    path: str | Path | None = None,
    setting: str | None = None,
    fps: float | None = None,
) -> tuple[DataSpec, list[str], str]:
    """The clips ``d3pr lifter predict`` makes for a run directory.

    The run's ``data.json`` with the given overrides: another ``source`` takes its own default
    path, frame rate and subjects unless given; ``fps`` 0 means the source's own rate. A run
    without ``data.json`` is taken to be on ``source`` (default ``h36m-fk17``) at that source's
    default rate.

    Returns:
        ``(spec, subjects predicted by default, warning)`` (``warning`` empty when none).
    """
    from ..data.sources import get_source

    run_dir = Path(run_dir)
    warning, subjects = "", None
    if (run_dir / "data.json").exists():
        spec, extra = read_data_spec(run_dir)
        subjects = extra.get("predict_subjects")
    else:
        name = source or DataSpec.source
        spec = DataSpec(source=name, fps=get_source(name).fps)
        warning = (
            f"{run_dir}: no data.json (made before run directories recorded their data); "
            f"assuming --source {spec.source} --setting {spec.setting} --fps {spec.fps or 0:g} "
            f"and {spec.n_cameras} cameras"
        )
    if source is not None and source != spec.source:
        spec = replace(spec, source=source, path=None, fps=get_source(source).fps, views=0)
        subjects = None
    if path is not None:
        spec = replace(spec, path=str(path))
    if setting is not None:
        spec = replace(spec, setting=setting)
    if fps is not None:
        spec = replace(spec, fps=float(fps) or None)
    if not subjects:
        src = get_source(spec.source)
        subjects = list(src.test or src.train)
    return spec, list(subjects), warning


def predict_command(run_dir: str | Path, subjects: Sequence[str], output: str = "") -> str:
    """The ``d3pr lifter predict`` command line that predicts ``subjects`` with a run directory
    (its absolute path; output ``<run name>_predictions.npz`` in the working directory)."""
    run_dir = Path(run_dir).resolve()
    out = output or f"{run_dir.name}_predictions.npz"
    return (
        f"d3pr lifter predict {shlex.quote(str(run_dir))} --subjects {','.join(subjects)} "
        f"-o {shlex.quote(out)}"
    )


def describe_run(
    run_dir: str | Path, spec: DataSpec, predict_subjects: Sequence[str], note: str, **extra
) -> str:
    """Make a lifter run directory say how to predict with it: ``data.json`` (``spec``, the
    default ``predict_subjects`` of ``d3pr lifter predict`` and ``extra``) and
    ``HOW_TO_PREDICT.txt`` (the command and ``note``: what those subjects are). Returns the
    command line."""
    from ..io import atomic_path

    run_dir = Path(run_dir)
    save_data_spec(run_dir, spec, predict_subjects=list(predict_subjects), **extra)
    cmd = predict_command(run_dir, predict_subjects)
    rate = f"{spec.fps:g} fps" if spec.fps else "the source's own rate"
    views = f", {spec.views} camera-view groups as subjects" if spec.views else ""
    text = (
        f"Predict with this lifter (the clips are remade from data.json: source {spec.source}, "
        f"2D {spec.setting}, {rate}, {spec.n_cameras} cameras{views}):\n\n"
        f"    {cmd}\n\n"
        f"{','.join(predict_subjects)}: {note}.\n"
        "Other subjects: --subjects; another motion source, 2D setting or frame rate: --source, "
        "--path, --setting, --fps (0: the source's own rate).\n"
    )
    with atomic_path(run_dir / HOW_TO_PREDICT) as tmp:
        tmp.write_text(text)
    return cmd


def estimator_of(run_dir: str | Path) -> str:
    """The estimator name of a lifter run's predictions (:meth:`TrainConfig.estimator`: model,
    window, steps and, where ``data.json`` records it, the 2D setting it was trained on)."""
    from .train import read_config

    run_dir = Path(run_dir)
    setting = read_data_spec(run_dir)[0].setting if (run_dir / "data.json").exists() else None
    return read_config(run_dir).estimator(setting)


def read_data_spec(run_dir: str | Path) -> tuple[DataSpec, dict]:
    """``(DataSpec, extra fields)`` from a run directory's ``data.json``."""
    path = Path(run_dir) / "data.json"
    d = load_json(path)
    if not isinstance(d, dict):
        raise D3PRError(f"{path}: expected a JSON object")
    names = {f.name for f in fields(DataSpec)}
    try:
        spec = DataSpec(**{k: v for k, v in d.items() if k in names})
    except D3PRError as exc:
        raise D3PRError(f"{path}: {exc}") from None
    return spec, {k: v for k, v in d.items() if k not in names}


def data_spec(
    source: str = "h36m-fk17",
    path: str | Path | None = None,
    setting: str = "gt",
    fps: float | None = None,
    n_cameras: int = 4,
    seed: int = 0,
) -> DataSpec:
    """The :class:`DataSpec` of clips of ``source``; ``fps`` None: the source's default rate,
    0: its own rate."""
    from ..data.sources import get_source

    fps = get_source(source).fps if fps is None else fps or None
    path = str(path) if path is not None else None
    return DataSpec(source=source, path=path, setting=setting, fps=fps, n_cameras=n_cameras,
                    seed=seed)  # fmt: skip


def standard_subjects(source: str, test: bool = False) -> list[str]:
    """The source's standard training (or ``test``) subjects."""
    from ..data.sources import get_source

    src = get_source(source)
    return list(src.test if test else src.train)


def predict_subjects(source: str, train: Sequence[str], val: Sequence[str]) -> tuple[list, str]:
    """The subjects a lifter trained on ``train`` (validated on ``val``) should be tried on, and
    what they are."""
    unseen = [s for s in standard_subjects(source, test=True) if s not in train]
    if unseen:
        return unseen, "the source's test subjects, never trained on"
    if val:
        return list(val), "the held-out validation subjects"
    return list(train), "its own training subjects (the source holds no others): optimistic errors"


@dataclass
class LifterTraining:
    """A lifter training run ready to go (:func:`lifter_training`)."""

    config: TrainConfig
    spec: DataSpec
    out: Path
    train_subjects: list[str]
    val_subjects: list[str]
    train_clips: list[Clip]
    val_clips: list[Clip]

    @property
    def frames(self) -> int:
        """Training frames."""
        return sum(c.num_frames for c in self.train_clips)

    def run(self, *, minutes: float | None = None, resume: bool = False, device: str = "cpu"):
        """Train (``minutes``: a budget turned once into steps), describe the run directory
        (``data.json``, ``HOW_TO_PREDICT.txt``). Returns ``(history, predict command, note)``."""
        from ..engine import read_history
        from .train import budget_to_steps, train_lifter

        config = self.config
        if minutes is not None:
            config = budget_to_steps(config, self.train_clips, minutes, self.out, self.val_clips,
                                     device)  # fmt: skip
        subjects, note = predict_subjects(self.spec.source, self.train_subjects, self.val_subjects)
        cmd = predict_command(self.out, subjects)
        if resume or not (self.out / "state.safetensors").exists():  # how the clips were made
            cmd = describe_run(self.out, self.spec, subjects, note,
                               train_subjects=self.train_subjects, val_subjects=self.val_subjects)  # fmt: skip
        train_lifter(config, self.train_clips, self.val_clips, self.out, resume=resume,
                     device=device)  # fmt: skip
        return read_history(self.out), cmd, note


def lifter_training(
    config: TrainConfig,
    spec: DataSpec,
    out: str | Path,
    train_subjects: Sequence[str] = (),
    val_subjects: Sequence[str] = (),
    resume: bool = False,
) -> LifterTraining:
    """Check the run directory and the subjects, and make the clips of a lifter training run.

    Args:
        config: the training.
        spec: the clips' motion source, 2D setting, rate and cameras.
        out: the run directory (one holding a run needs ``resume``).
        train_subjects: default: the source's standard training subjects.
        val_subjects: held-out *training* subjects to validate on (never the test subjects).
    """
    from ..io import check_output_dir

    out = Path(out)
    if (out / "state.safetensors").exists() and not resume:
        raise ArgumentError("out", f"{out}: already holds a run; pass {{0}} or another {{1}}",
                            ("resume", "out"))  # fmt: skip
    check_output_dir(out, resume=resume)
    train_s = list(train_subjects) or standard_subjects(spec.source)
    val_s = list(val_subjects)
    from ..data.sources import get_source

    src = get_source(spec.source)
    test_s = set(src.test) if src.has_test_split else set()
    if set(val_s) & (set(train_s) | test_s):
        raise ArgumentError(
            "val_subjects",
            "must be held-out training subjects: neither trained on nor the test subjects "
            f"({', '.join(sorted(test_s)) or 'none'})",
        )
    train_clips = source_clips(spec, train_s)
    val_clips = source_clips(spec, val_s) if val_s else []
    return LifterTraining(config, spec, out, train_s, val_s, train_clips, val_clips)

"""What a lifter run directory records about its data: the clips a :class:`DataSpec` makes,
``data.json``, and the ``d3pr lifter predict`` command of ``HOW_TO_PREDICT.txt``."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path

from ..data.sequences import Clip
from ..errors import D3PRError
from ..io import load_json, save_json
from .config import DataSpec


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
        seqs = load_source(spec.source, spec.path, None if spec.views else wanted)
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

"""Cross-fitting: K fold lifters each predict the training subjects they did not see, and one
lifter on all of them predicts the test subjects; every run with the same config and steps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.sequences import Clip
from ..errors import ArgumentError, D3PRError
from ..io import save_json
from ..predictions import Predictions, PredictionSequence
from .config import DataSpec, TrainConfig
from .predict import predict_as_trained, predictions_from_clips
from .runs import describe_run
from .stcformer import Lifter
from .train import budget_to_steps, load_lifter, read_config, train_lifter


def fold_groups(subjects: Sequence[str], folds: int) -> list[list[str]]:
    """Split training subjects, in the given order, into ``folds`` contiguous groups."""
    subjects = list(subjects)
    if not 2 <= folds <= len(subjects):
        raise D3PRError(f"cross-fitting needs 2 <= folds <= {len(subjects)} subjects, got {folds}")
    return [list(g) for g in np.array_split(np.array(subjects, dtype=object), folds)]


def _train_or_load(config, train, val, run_dir: Path, device, progress) -> Lifter:
    from ..engine import is_finished

    if is_finished(run_dir):
        if read_config(run_dir) != config:
            raise D3PRError(f"{run_dir}: holds a finished run with another config")
        return load_lifter(run_dir, device)
    return train_lifter(config, train, val, run_dir, resume=True, device=device, progress=progress)


def _train_in_worker(config, train, val, run_dir: Path, threads: int, progress: bool) -> str:
    """One lifter run in a worker process with ``threads`` torch threads (log lines, no bar)."""
    torch.set_num_threads(threads)
    train_lifter(config, train, val, run_dir, resume=True, progress=progress, desc=run_dir.name)
    return run_dir.name


def train_side_by_side(
    config: TrainConfig,
    runs: Sequence[tuple[Path, Sequence[Clip], Sequence[Clip]]],
    jobs: int,
    progress: bool = True,
) -> None:
    """Train the unfinished ``(run_dir, train_clips, val_clips)`` runs on the CPU, ``jobs`` at a
    time, each in its own process with an equal share of this process's torch threads.

    Small lifters are bound by per-op overhead, so on a 2-core CPU two one-thread runs side by
    side do more steps per second than one two-thread run (``benchmarks/bench_speed.py
    --parallel 2`` measures it). Runs go in waves of ``jobs``; a wave of one
    gets every thread. Each run resumes and ends exactly as :func:`train_lifter` would alone.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from ..engine import is_finished

    todo = [r for r in runs if not is_finished(r[0])]
    threads = torch.get_num_threads()
    size = max(1, jobs)
    for i in range(0, len(todo), size):
        wave = todo[i : i + size]
        share = max(1, threads // len(wave))
        if progress:
            tqdm.write(
                f"training {', '.join(r[0].name for r in wave)} side by side, "
                f"{share} thread(s) each"
            )
        with ProcessPoolExecutor(len(wave), mp_context=mp.get_context("spawn")) as pool:
            futures = [
                pool.submit(_train_in_worker, config, list(tr), list(va), d, share, progress)
                for d, tr, va in wave
            ]
            for f in futures:
                f.result()  # a worker's error (D3PRError included) is raised here


def cross_fit(
    config: TrainConfig,
    clips_by_subject: dict[str, Sequence[Clip]],
    train_subjects: Sequence[str],
    test_subjects: Sequence[str],
    out_dir: str | Path,
    *,
    folds: int = 2,
    insample: bool = True,
    minutes: float | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    estimator: str | None = None,
    data_spec: DataSpec | None = None,
    jobs: int = 1,
    holdout: int | None = None,
) -> dict[str, Predictions]:
    """Cross-fitted training predictions, test predictions and (optionally) in-sample ones.

    ``folds`` lifters are trained (``out_dir/fold{k}``), each without one group of training
    subjects (:func:`fold_groups`), and predict that group (``fold = k``, ``split = "train"``). The
    lifter trained on all training subjects (``out_dir/full``) predicts the test subjects
    (``fold = -1``, ``split = "test"``) and, with ``insample``, its own training subjects
    (``split = "train"``, ``fold = -1``). A finished run is loaded, not retrained; an interrupted
    one resumes. Every run has the same config and number of steps, so the folds' held-out errors
    are of the size of the full model's test errors. Each fold validates on its held-out group; the
    full model, which has no held-out training subject, keeps its last weights. The test subjects
    are never used for validation (nor, to keep the runs alike, is keep-best).

    Args:
        config: training configuration (the same for every lifter).
        clips_by_subject: subject → clips (2D, GT 3D).
        train_subjects, test_subjects: subject ids (keys of ``clips_by_subject``).
        out_dir: folder of the run directories.
        folds: K >= 2.
        insample: also predict the training subjects with the full model.
        minutes: a budget per run, converted once into ``config.loop.steps`` on the full model's data
            (:func:`budget_to_steps`; recorded in ``out_dir/steps.json``). None: ``config.loop.steps``.
        device: where to train and predict.
        progress: tqdm bars.
        estimator: name stored in the predictions (default :meth:`TrainConfig.estimator`).
        data_spec: how ``clips_by_subject`` were made; written into every run directory
            (:func:`describe_crossfit_runs`) so that ``d3pr lifter predict`` can remake them.
        jobs: on the CPU, train up to this many lifter runs side by side first, one process each
            (:func:`train_side_by_side`); 1: one after another in this process.
        holdout: also predict the test subjects with this fold's lifter (``fold = k``,
            ``split = "test"``): the deployed lifter of the ``holdout`` protocol.

    Returns:
        ``{"train_crossfit": ..., "test": ..., "train_insample": ...}`` (the last only with
        ``insample``), and ``"test_holdout"`` with ``holdout``.
    """
    missing = [s for s in (*train_subjects, *test_subjects) if not clips_by_subject.get(s)]
    if missing:
        raise D3PRError(f"cross_fit: no clips for subject(s) {', '.join(missing)}")
    leak = sorted(set(train_subjects) & set(test_subjects))
    if leak:
        raise D3PRError(f"cross_fit: subject(s) {', '.join(leak)} both in training and test")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if data_spec is not None:
        describe_crossfit_runs(out_dir, data_spec, train_subjects, test_subjects, folds)
    config = config.replace(keep_best=False)

    def clips_of(subjects):
        return [c for s in subjects for c in clips_by_subject[s]]

    if minutes is not None:
        config = budget_to_steps(config, clips_of(train_subjects), minutes, out_dir, device=device)
    name = estimator or config.estimator(data_spec.setting if data_spec is not None else None)
    groups = fold_groups(train_subjects, folds)
    if holdout is not None and not 0 <= holdout < folds:
        raise ArgumentError("holdout", f"must be a fold in [0, {folds - 1}], got {holdout}")
    test_clips = clips_of(test_subjects)
    result = {}
    # (run dir, training clips, validation clips): the folds, then the full model
    runs = [
        (out_dir / f"fold{k}", clips_of([s for s in train_subjects if s not in held]),
         clips_of(held))
        for k, held in enumerate(groups)
    ]  # fmt: skip
    runs.append((out_dir / "full", clips_of(train_subjects), []))
    if jobs > 1 and torch.device(device).type == "cpu":
        train_side_by_side(config, runs, jobs, progress)
    crossfit: list[PredictionSequence] = []
    for k, (held, (run_dir, rest_clips, held_clips)) in enumerate(zip(groups, runs)):
        if progress:
            rest = [s for s in train_subjects if s not in held]
            tqdm.write(f"fold {k}: train {','.join(rest)} -> predict {','.join(held)}")
        model = _train_or_load(config, rest_clips, held_clips, run_dir, device, progress)
        preds = predict_as_trained(model, held_clips, config, device=device)
        crossfit += predictions_from_clips(held_clips, preds, fold=k, split="train")
        if k == holdout:
            if progress:
                tqdm.write(f"fold {k}: predict {','.join(test_subjects)} (the deployed lifter)")
            preds = predict_as_trained(model, test_clips, config, device=device)
            seqs = predictions_from_clips(test_clips, preds, fold=k, split="test")
            result["test_holdout"] = Predictions(seqs, name)
    if progress:
        tqdm.write(f"full: train {','.join(train_subjects)} -> predict {','.join(test_subjects)}")
    run_dir, all_clips, _ = runs[-1]
    model = _train_or_load(config, all_clips, [], run_dir, device, progress)
    preds = predict_as_trained(model, test_clips, config, device=device)
    result["train_crossfit"] = Predictions(crossfit, name)
    result["test"] = Predictions(predictions_from_clips(test_clips, preds, split="test"), name)
    if insample:
        train_clips = clips_of(train_subjects)
        preds = predict_as_trained(model, train_clips, config, device=device)
        result["train_insample"] = Predictions(
            predictions_from_clips(train_clips, preds, split="train"), name
        )
    return result


def describe_crossfit_runs(
    out_dir: str | Path,
    spec: DataSpec,
    train_subjects: Sequence[str],
    test_subjects: Sequence[str],
    folds: int,
    *,
    missing_only: bool = False,
) -> None:
    """:func:`describe_run` for every run directory of :func:`cross_fit`: ``fold{k}`` predicts
    the subjects it was trained without, ``full`` the test subjects. ``missing_only``: only the
    existing runs (with a ``config.json``) that have no ``data.json`` yet."""
    out_dir = Path(out_dir)
    runs = []
    for k, held in enumerate(fold_groups(train_subjects, folds)):
        rest = [s for s in train_subjects if s not in held]
        runs.append((f"fold{k}", held, rest, f"the subjects fold {k} was trained without"))
    runs.append(("full", list(test_subjects), list(train_subjects), "the test subjects"))
    for name, predict_s, trained_s, note in runs:
        d = out_dir / name
        if missing_only and (not (d / "config.json").exists() or (d / "data.json").exists()):
            continue
        describe_run(d, spec, predict_s, note, train_subjects=trained_s)


def cross_fit_source(
    config: TrainConfig,
    spec: DataSpec,
    out_dir: str | Path,
    train_subjects: Sequence[str] = (),
    test_subjects: Sequence[str] = (),
    **kwargs,
) -> dict[str, dict]:
    """:func:`cross_fit` on the clips ``spec`` makes of a motion source, written to ``out_dir``:
    the run directories, ``data.json``, one ``<name>.npz`` per predictions file and
    ``crossfit.json`` (each file's MPJPE and frames, also returned).

    Args:
        train_subjects, test_subjects: default: the source's standard split.
        kwargs: :func:`cross_fit`'s ``folds``, ``insample``, ``minutes``, ``device``, ``jobs``.
    """
    from ..metrics import mpjpe
    from .runs import clips_by_subject, save_data_spec, source_clips, standard_subjects

    train_s = list(train_subjects) or standard_subjects(spec.source)
    test_s = list(test_subjects) or standard_subjects(spec.source, test=True)
    by_subject = clips_by_subject(source_clips(spec, list(dict.fromkeys(train_s + test_s))))
    result = cross_fit(config, by_subject, train_s, test_s, out_dir, data_spec=spec, **kwargs)
    save_data_spec(out_dir, spec, train_subjects=train_s, test_subjects=test_s,
                   folds=kwargs.get("folds", 2))  # fmt: skip
    summary = {}
    for name, preds in result.items():
        preds.save(Path(out_dir) / f"{name}.npz")
        err = float(
            mpjpe(preds.concat("pred3d"), preds.concat("gt3d"), align="none").double().mean()
        )
        summary[name] = {"mpjpe_mm": float(err * 1000), "frames": preds.num_frames}
    save_json(Path(out_dir) / "crossfit.json", summary)
    return summary

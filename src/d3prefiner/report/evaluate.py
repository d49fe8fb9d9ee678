"""An evaluation with its figures: what ``d3pr evaluate``, the demo and the bench report.

Built on :mod:`d3prefiner.evaluation` (the scores, plain results) and :mod:`d3prefiner.viz` (the
figures, :func:`~d3prefiner.viz.make_figures`): the results dict gains ``meta.figures`` (title →
path relative to the report), ready for :func:`d3prefiner.report.write_report`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..evaluation import Evaluation, evaluate, evaluate_paths
from ..predictions import Predictions


def add_figures(
    evaluation: Evaluation,
    figures_dir: str | os.PathLike,
    report_dir: str | os.PathLike | None = None,
    gif: bool = True,
) -> dict:
    """Draw the figures of ``evaluation`` into ``figures_dir`` and record them in its results.

    Args:
        evaluation: scores and predictions (:func:`d3prefiner.evaluation.evaluate`).
        figures_dir: where to write the PNG/GIF figures.
        report_dir: figure paths in ``meta.figures`` are made relative to it (default: the
            parent of ``figures_dir``).
        gif: write the animated GIF too.

    Returns:
        The results dict, ``meta.figures`` filled in.
    """
    from ..viz import make_figures  # matplotlib only when figures are asked for

    results = evaluation.results
    given = results["meta"]["methods_given"]
    figs = make_figures(evaluation.methods, figures_dir, given[1] if len(given) > 1 else None, gif)
    start = Path(report_dir) if report_dir is not None else Path(figures_dir).parent
    results["meta"]["figures"] = {k: os.path.relpath(v, start) for k, v in figs.items()}
    return results


def _with_figures(ev, figures_dir, report_dir, gif) -> dict:
    """The results of ``ev``, with figures (:func:`add_figures`) unless ``figures_dir`` is None."""
    return ev.results if figures_dir is None else add_figures(ev, figures_dir, report_dir, gif)


def evaluate_methods(
    methods: Mapping[str, Predictions],
    figures_dir: str | os.PathLike | None = None,
    report_dir: str | os.PathLike | None = None,
    gif: bool = True,
    **options,
) -> dict:
    """Score in-memory methods and the baselines; optionally write figures.

    Args:
        methods: as in :func:`d3prefiner.evaluation.evaluate`.
        figures_dir: where to write PNG/GIF figures, or None for none.
        report_dir, gif: as in :func:`add_figures`.
        options: ``baselines``, ``noise_model``, ``meta``, ``progress``, ``action_pattern`` of
            :func:`d3prefiner.evaluation.evaluate`.

    Returns:
        The results dict (:mod:`d3prefiner.report` layout).
    """
    return _with_figures(evaluate(methods, **options), figures_dir, report_dir, gif)


def evaluate_files(
    paths: Sequence[str | os.PathLike],
    names: Sequence[str] | None = None,
    figures_dir: str | os.PathLike | None = None,
    report_dir: str | os.PathLike | None = None,
    gif: bool = True,
    **options,
) -> dict:
    """Load predictions / refined npz files and evaluate them together; optionally write figures.

    Args:
        paths, names: as in :func:`d3prefiner.evaluation.evaluate_paths`.
        figures_dir, report_dir, gif: as in :func:`evaluate_methods`.
        options: ``baselines``, ``noise_model``, ``progress``, ``action_pattern`` of
            :func:`d3prefiner.evaluation.evaluate_paths`.

    Returns:
        The results dict; ``meta.files`` lists the inputs.
    """
    return _with_figures(evaluate_paths(paths, names, **options), figures_dir, report_dir, gif)

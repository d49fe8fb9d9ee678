"""Another estimator's predictions in place of the bench's lifter stage (``d3pr bench
--predictions TRAIN.npz,TEST.npz``): the training subjects' predictions feed the CND and the
refiner as the protocol says, the test subjects' are scored.

Whether the training predictions are cross-fitted (each subject predicted by a model trained
without it) or in-sample is the file's business: both are accepted and the run records which
protocol the user asked for. Files come from the importers of ``docs/predictions.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ArgumentError
from ..predictions import Predictions


def _subjects(preds: Predictions) -> list[str]:
    return sorted({s.subject for s in preds})


def given_predictions(
    paths: Sequence[str], train: Sequence[str], test: Sequence[str]
) -> dict[str, Predictions]:
    """``{"train_crossfit", "train_insample", "test"}`` from ``TRAIN.npz`` and ``TEST.npz``.

    Both files need ``gt3d`` (the CND is fitted on the errors, the test is scored). The training
    file must hold every ``train`` subject and no ``test`` subject; the test file every ``test``
    subject. Other subjects are left out. Both training entries are the training file.
    """
    if len(paths) != 2:
        raise ArgumentError("predictions", f"needs two files, TRAIN.npz,TEST.npz; got {len(paths)}")
    train_p = Predictions.load(paths[0], need_gt="the noise model and the refiner")
    test_p = Predictions.load(paths[1], need_gt="the evaluation")
    leaked = sorted(set(_subjects(train_p)) & set(test))
    if leaked:
        raise ArgumentError("predictions", f"{paths[0]}: the training file holds test subject(s) "
                            f"{', '.join(leaked)}; the CND and the refiner must never see them")  # fmt: skip
    for path, preds, wanted in ((paths[0], train_p, train), (paths[1], test_p, test)):
        missing = sorted(set(wanted) - set(_subjects(preds)))
        if missing:
            raise ArgumentError(
                "predictions", f"{Path(path).name}: no sequences of {', '.join(missing)} (it holds "
                f"{', '.join(_subjects(preds)) or 'none'}); set --train / --test to its subjects",
            )  # fmt: skip
    kept = train_p.filter(subjects=list(train))
    return {
        "train_crossfit": kept,
        "train_insample": kept,
        "test": test_p.filter(subjects=list(test)),
    }

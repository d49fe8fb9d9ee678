"""Which subjects each stage of an experiment may see.

An experiment's training subjects feed four consumers: the cross-fitting lifters (all of them), the
conditional noise model (CND), the refiner's training and the refiner's validation. The test
subjects are predicted by the full lifter and scored; no stage fits or chooses anything on them.

Four protocols (``Split.make``):

* ``"leak_free"`` (the default of ``d3pr bench`` and ``d3pr grid``): one validation subject (the
  last training subject unless named). The CND and the refiner see only the cross-fitted
  predictions of the training subjects that were *not* predicted by the validation subject's fold
  lifter, so the validation predictions come from a lifter that made none of the training data —
  as the test predictions do (they come from the full lifter). The CND's ridge and the refiner's
  kept weights are chosen on that validation subject.
* ``"pooled"``: the CND sees every training subject, the refiner all but the validation subject
  (the last), which it validates on. More data, but the validation is optimistic (the CND saw it,
  and its fold lifter predicted training subjects too). The demo uses it: its "subjects" are
  camera-view groups of one performer, so no held-out subject exists anyway.
* ``"insample"``: the paper's protocol as it most likely ran: the subjects of ``"pooled"``, but
  the CND, the refiner and its validation see the *full* lifter's in-sample predictions of the
  training subjects (``train_insample``), not the cross-fitted ones. A lifter's errors on its own
  training data are smaller than on unseen subjects, so this trains the refiner on errors of the
  wrong size; it is here to measure how much of a published gain that explains.
* ``"holdout"``: the deployed lifter is the validation subject's fold lifter (trained without that
  fold's subjects), not the full one: it predicts the test subjects, and the CND and the refiner
  learn its own errors on the subjects it never saw. Where that fold has two subjects or more, they
  learn from its other subjects and are chosen on the validation subject; a fold of one subject is
  split by action (:func:`~d3prefiner.predictions.action_split`: two thirds of the actions to fit
  and train on, every third to choose the CND's ridge, keep the refiner's weights and calibrate
  it), and that choice is optimistic: the refiner also learns the subject's own body, which the
  held-out actions share and the test subjects do not. The refiner learns the errors of the lifter
  it is applied to, at the price of a lifter trained on fewer subjects; the report gives the full
  lifter's test MPJPE beside it.

No protocol lets a stage see a test subject (checked on construction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import D3PRError
from ..predictions import Predictions, action_split

PROTOCOLS = ("leak_free", "pooled", "insample", "holdout")


@dataclass(frozen=True)
class Split:
    """Subjects per stage: ``cnd`` (noise-model fit), ``refiner`` (refiner training), ``val`` (the
    refiner's validation and the CND's ridge), ``test`` (scored only); ``fold``: the cross-fitting
    fold whose lifter is deployed (``holdout``; -1: the full lifter)."""

    protocol: str
    cnd: tuple[str, ...]
    refiner: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    fold: int = -1

    @property
    def predictions(self) -> str:
        """Which training predictions the CND, the refiner and its validation see:
        ``train_insample`` (protocol ``insample``) or ``train_crossfit``."""
        return "train_insample" if self.protocol == "insample" else "train_crossfit"

    def __post_init__(self) -> None:
        if not (self.cnd and self.refiner):
            raise D3PRError(f"split {self.protocol}: no subjects left for the CND or the refiner")
        seen = set(self.cnd) | set(self.refiner) | set(self.val)
        if seen & set(self.test):
            raise D3PRError(
                f"split: test subject(s) {sorted(seen & set(self.test))} seen in training"
            )
        if set(self.val) & set(self.refiner) and not self.by_action:
            raise D3PRError("split: the refiner's validation subjects are among its training ones")
        if (self.fold >= 0) != (self.protocol == "holdout"):
            raise D3PRError("split: a deployed fold lifter is the holdout protocol's alone")

    @property
    def by_action(self) -> bool:
        """The refiner trains and validates on one subject, split by action (``holdout`` with a
        fold of one subject)."""
        return self.protocol == "holdout" and self.val == self.refiner

    @property
    def lifter(self) -> str:
        """The run directory (under ``RUN/lifter``) of the lifter whose test predictions are
        refined: ``full``, or ``fold{k}`` under ``holdout``."""
        return f"fold{self.fold}" if self.fold >= 0 else "full"

    @property
    def test_predictions(self) -> str:
        """The predictions file refined and scored: ``test`` (the full lifter's) or
        ``test_holdout`` (the deployed fold lifter's)."""
        return "test_holdout" if self.fold >= 0 else "test"

    def parts(self, train: Predictions) -> tuple[Predictions, Predictions, Predictions]:
        """``(cnd, refiner, val)``: the training predictions (:attr:`predictions`) each stage
        sees: by subject, or one subject split by action (:attr:`by_action`,
        :func:`~d3prefiner.predictions.action_split`; the CND fits on the refiner's part)."""
        if self.by_action:
            fit, held = action_split(train.filter(subjects=list(self.val)))
            return fit, fit, held
        return tuple(train.filter(subjects=list(g)) for g in (self.cnd, self.refiner, self.val))

    @classmethod
    def make(
        cls,
        protocol: str,
        train: Sequence[str],
        test: Sequence[str],
        folds: int = 2,
        val: str | None = None,
    ) -> Split:
        """The split of ``protocol`` for cross-fitting ``train`` in ``folds`` groups."""
        train = list(train)
        if protocol not in PROTOCOLS:
            raise D3PRError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        val = train[-1] if val is None else val
        if val not in train:
            raise D3PRError(f"validation subject {val!r} is not a training subject ({train})")
        if protocol in ("pooled", "insample"):
            rest = tuple(s for s in train if s != val)
            return cls(protocol, tuple(train), rest, (val,), tuple(test))
        from ..lifters.crossfit import fold_groups

        groups = fold_groups(train, folds)
        k, group = next((k, g) for k, g in enumerate(groups) if val in g)
        if protocol == "holdout":  # the fold's other subjects, or its one subject by action
            rest = tuple(s for s in group if s != val) or (val,)
            return cls(protocol, rest, rest, (val,), tuple(test), fold=k)
        rest = tuple(s for s in train if s not in group)
        return cls(protocol, rest, rest, (val,), tuple(test))

    def describe(self) -> str:
        text = (
            f"{self.protocol}: CND {','.join(self.cnd)}; refiner {','.join(self.refiner)}; "
            f"validation {','.join(self.val)}; test {','.join(self.test)}"
        )
        if self.fold >= 0:
            text += f" (lifter fold{self.fold}"
            text += (
                "; split by action: two thirds to train, the rest to choose)"
                if self.by_action
                else ")"
            )
        return text

"""The 2D weighed joint by joint: what the geometric steps take from the 2D, each joint's share
fitted on validation.

A geometric step (:data:`~d3prefiner.refiner.calibration.GEOMETRIC_STEPS`) moves every joint
onto its 2D ray. One share of that move for the whole body (:func:`~d3prefiner.refiner.
calibration.geometric_step`) trusts a wrist's 2D as much as a hip's, and the frame's 2D as much as
the motion's. A :class:`JointShares` instead weighs, for each joint, the moves of several steps
(:data:`SHARES_STEPS`), each as it is and smoothed in time (:data:`SHARES_SPANS_S`), and the move
of the ``bones`` step:

    ``out_j = x_j + w_0j · (b_j − x_j) + Σ_k w_kj · M_k,j``

where ``x`` is the input, ``b`` the input with its bones set (the ``bones`` step, with the bone
prior) and ``M_k`` a step's move from where it starts (``b`` for a step that sets bone lengths,
else ``x``), Gaussian-smoothed over a span in seconds (at each sequence's own frame rate), and
its mean over the whole sequence (:data:`SEQUENCE`). Smoothed moves keep the slow in-plane
correction and drop the 2D's jitter; the mean holds what is constant in a sequence, such as a
detector's offset at a joint and the part of it the estimate has already followed, and takes its
own weight; the weights are the least-squares fit of the root-relative pose to the ground truth
on validation cut into clips of a few seconds (:func:`pieces`), joint by joint (:func:`equations`,
:func:`solve`), and are scored there on bodies
they were not fitted on (:func:`crossfit`). Nothing but the sequence's own estimate, 2D and camera
is read when it is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..errors import D3PRError

#: The geometric steps whose moves are weighed (each reads the 2D).
SHARES_STEPS = ("reproject", "rays", "bones+reproject")
#: The span of a move's mean over its whole sequence (recorded as ``"sequence"``).
SEQUENCE = float("inf")
#: Temporal spans (Gaussian σ, seconds) of each move's smoothing; 0: the move as it is;
#: :data:`SEQUENCE`: its mean over the sequence.
SHARES_SPANS_S = (0.0, 0.12, 0.32, SEQUENCE)
#: The spans without the sequence's mean: its weights rest on one value per sequence, so on few
#: sequences they are a guess; the calibration scores both sets and keeps the better held out.
LOCAL_SPANS_S = tuple(s for s in SHARES_SPANS_S if s != SEQUENCE)
#: The spread of lengths (seconds) of the pieces the weights are fitted on (:func:`pieces`): the
#: clips users refine last seconds, and a sequence's mean over minutes of Human3.6M is steadier
#: than over a clip of a few seconds, so weights fitted on whole sequences trust it too much.
PIECE_S = (1.5, 9.0)
#: The largest weight joint shares may hold (a fitted weight beyond it is not a share of a move).
MAX_WEIGHT = 5.0
#: Ridge of the least-squares fit, relative to the mean diagonal of each joint's system.
RIDGE = 1e-6


@dataclass(frozen=True)
class JointShares:
    """Per-joint weights of the ``bones`` move and of the moves of :data:`SHARES_STEPS` at
    :data:`SHARES_SPANS_S`: ``weights`` ``(1 + len(steps) · len(spans_s), J)``, the bones' first,
    then step-major (step 0 at every span, then step 1 …)."""

    weights: tuple
    steps: tuple[str, ...] = SHARES_STEPS
    spans_s: tuple[float, ...] = SHARES_SPANS_S

    def __post_init__(self) -> None:
        from ..baselines import GEOMETRIC

        w = np.asarray(self.weights, dtype=np.float64)
        steps = tuple(str(s) for s in self.steps)
        spans = tuple(SEQUENCE if s == "sequence" else float(s) for s in self.spans_s)
        bad = [s for s in steps if s not in GEOMETRIC or not GEOMETRIC[s].uses_camera]
        if not steps or bad:
            raise D3PRError(f"joint shares' steps must read the 2D, got {list(steps)}")
        if not spans or any(not (0 <= s <= 5 or s == SEQUENCE) for s in spans):
            raise D3PRError(
                f"joint shares' spans must be seconds in [0, 5] or 'sequence', got {list(spans)}"
            )
        k = 1 + len(steps) * len(spans)
        if w.ndim != 2 or w.shape[0] != k or w.shape[1] < 2:
            raise D3PRError(f"joint shares' weights must be ({k}, joints), got {w.shape}")
        if not np.isfinite(w).all() or np.abs(w).max() > MAX_WEIGHT:
            raise D3PRError(f"joint shares' weights must be finite and within ±{MAX_WEIGHT:g}")
        # six decimals: what a checkpoint records, so that reloaded shares equal their record
        object.__setattr__(self, "weights", tuple(tuple(round(float(x), 6) for x in r) for r in w))
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "spans_s", spans)

    @property
    def array(self) -> np.ndarray:
        """The weights, ``(K, J)`` float64."""
        return np.asarray(self.weights, dtype=np.float64)

    def to_dict(self) -> dict:
        return {
            "steps": list(self.steps),
            "spans_s": ["sequence" if s == SEQUENCE else s for s in self.spans_s],
            "weights": [list(r) for r in self.weights],
        }

    @classmethod
    def from_dict(cls, d: dict) -> JointShares:
        return cls(tuple(tuple(r) for r in d["weights"]), tuple(d["steps"]), tuple(d["spans_s"]))

    def describe(self) -> str:
        """One line: the mean weight of each move over the joints (the shares in words)."""
        w = self.array[:, 1:].mean(axis=1)  # the root never moves
        n = len(self.spans_s)
        parts = [f"bones {w[0]:.2f}"]
        for i, step in enumerate(self.steps):
            spans = ", ".join(f"{w[1 + i * n + k]:.2f}" + _over(s)
                              for k, s in enumerate(self.spans_s))  # fmt: skip
            parts.append(f"{step} {spans}")
        return "mean weights over the joints: " + "; ".join(parts)


def _over(span: float) -> str:
    return " over the sequence" if span == SEQUENCE else f" over {span:g} s" if span else ""


def smoothed(move: np.ndarray, span: float, fps: float) -> np.ndarray:
    """A move ``(F, J, 3)`` over ``span`` (:data:`SHARES_SPANS_S`) at ``fps``."""
    if span == SEQUENCE:
        return np.broadcast_to(move.mean(axis=0), move.shape)
    return gaussian_filter1d(move, span * fps, axis=0, mode="nearest") if span else move


def lengths(preds, bones, steps=SHARES_STEPS) -> list[dict]:
    """Each sequence's bone lengths for ``bones`` and each of ``steps``
    (:func:`~d3prefiner.refiner.calibration.sequence_lengths`): one ``{step: lengths}`` per
    sequence."""
    from ..baselines import GEOMETRIC
    from .calibration import sequence_lengths

    names = ("bones", *steps)
    alike: dict = {}  # steps that measure a sequence's bones alike share one pass over the file
    per = {}
    for n in names:
        key = GEOMETRIC[n].own_bones
        per[n] = alike[key] if key in alike else sequence_lengths(preds, n, bones)
        alike.setdefault(key, per[n])
    return [{n: per[n][i] for n in names} for i in range(len(preds))]


def moves(seq, lengths: dict, steps=SHARES_STEPS, spans_s=SHARES_SPANS_S):
    """One sequence's estimate ``x`` ``(F, J, 3)`` and the moves the weights apply to, ``(K, F,
    J, 3)``: the ``bones`` step's, then each of ``steps`` from where it starts at every span
    (float64; root-relative: the steps keep the root); ``lengths``: each step's bone lengths
    (:func:`lengths`; an empty dict: the sequence's own)."""
    from ..baselines import GEOMETRIC, bones_sequence

    x = seq.pred3d.astype(np.float64)
    b = bones_sequence(seq, lengths.get("bones")).astype(np.float64)
    out = [(b - b[:, :1]) - (x - x[:, :1])]
    for step in steps:
        fn = GEOMETRIC[step]
        move = fn(seq, lengths.get(step)).astype(np.float64) - (b if fn.uses_bones else x)
        move -= move[:, :1]
        out.extend(smoothed(move, span, seq.fps) for span in spans_s)
    return x, np.stack(out)


def apply_shares(preds, bones, shares: JointShares):
    """``preds`` (:class:`~d3prefiner.predictions.Predictions`) with each joint moved by the
    weighed moves of ``shares`` (module doc), the bone prior ``bones`` (None: each sequence's
    own bone lengths)."""
    return _apply_each(preds, bones, [shares], shares.spans_s)[0]


def _rows(spans_all: tuple, spans_s: tuple, n_steps: int) -> list[int]:
    """The rows of weights at spans ``spans_s`` among those at ``spans_all`` (bones' first)."""
    n = len(spans_all)
    return [0] + [1 + i * n + spans_all.index(s) for i in range(n_steps) for s in spans_s]


def _apply_each(preds, bones, each: list[JointShares], spans_all: tuple) -> list:
    """``preds`` under each of ``each`` (shares of the same steps, their spans among
    ``spans_all``): the moves made once per sequence at ``spans_all``, every shares' rows of
    them weighed."""
    steps = each[0].steps
    rows = [_rows(spans_all, s.spans_s, len(steps)) for s in each]
    out: list[list] = [[] for _ in each]
    for seq, n in zip(preds, lengths(preds, bones, steps)):
        start, m = moves(seq, n, steps, spans_all)
        for shares, r, o in zip(each, rows, out):
            w = shares.array  # (K, J)
            if m.shape[2] != w.shape[1]:
                raise D3PRError(
                    f"{seq.subject}/{seq.action}: the joint shares were fitted on {w.shape[1]} "
                    f"joints, the file has {m.shape[2]}"
                )
            mr = m if r == list(range(len(m))) else m[r]  # a set's rows, in its order
            o.append((start + np.einsum("kfjc,kj->fjc", mr, w)).astype(np.float32))
    return [preds.with_pred3d(o) for o in out]


def equations(preds, bones, steps=SHARES_STEPS, spans_s=SHARES_SPANS_S):
    """The least-squares system of the weights on ``preds`` (with ``gt3d``): per joint,
    ``A (J, K, K)`` and ``c (J, K)``; the weights minimise the squared root-relative error of
    ``b + Σ w M`` (:func:`solve`). Systems of several parts add up."""
    A = c = None
    for seq, n in zip(preds, lengths(preds, bones, steps)):
        start, m = moves(seq, n, steps, spans_s)
        gt = seq.gt3d.astype(np.float64)
        r = (gt - gt[:, :1]) - (start - start[:, :1])  # what the moves should add
        a = np.einsum("kfjc,lfjc->jkl", m, m)
        b = np.einsum("kfjc,fjc->jk", m, r)
        A, c = (a, b) if A is None else (A + a, c + b)
    if A is None:
        raise D3PRError("fitting joint shares needs predictions")
    return A, c


def pieces(preds, span_s: tuple[float, float] = PIECE_S, seed: int = 0):
    """``preds`` with each sequence cut into consecutive pieces of lengths drawn uniformly from
    ``span_s`` seconds (at its own frame rate; seeded, so the same input gives the same pieces); a
    remainder shorter than the shortest piece joins the piece before it, and a sequence shorter than
    that stays whole."""
    from dataclasses import replace

    from ..predictions import Predictions

    rng = np.random.default_rng(seed)
    out = []
    for seq in preds:
        frames, lo = seq.num_frames, max(1, round(span_s[0] * seq.fps))
        cuts = [0]
        while frames - cuts[-1] >= 2 * lo:
            n = max(lo, round(rng.uniform(*span_s) * seq.fps))
            cuts.append(min(cuts[-1] + n, frames - lo))
        cuts.append(frames)
        for i, j in zip(cuts[:-1], cuts[1:]):
            cut = {k: getattr(seq, k)[i:j] for k in ("pose2d", "pred3d")}
            if seq.gt3d is not None:
                cut["gt3d"] = seq.gt3d[i:j]
            out.append(replace(seq, **cut))
    return Predictions(out, preds.estimator)


def solve(A: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The weights ``(K, J)`` of the systems :func:`equations` (summed over parts), with a small
    ridge toward no move; clipped to ±:data:`MAX_WEIGHT`. A joint that never moves (the root)
    gets 0."""
    J, K = c.shape
    w = np.zeros((K, J))
    for j in range(J):
        scale = np.trace(A[j]) / K
        if not scale > 0:
            continue
        w[:, j] = np.linalg.solve(A[j] + RIDGE * scale * np.eye(K), c[j])
    return np.clip(w, -MAX_WEIGHT, MAX_WEIGHT)


def crossfit(parts, spans_s=SHARES_SPANS_S) -> tuple[list, JointShares]:
    """Each part's output under shares fitted on the *other* parts, and the shares fitted on
    all; they are fitted on the parts cut into :func:`pieces`, and applied to them whole.
    ``parts``: ``[(predictions with gt3d, bone prior), ...]``; a single part is split in two
    halves of its sequences (each scored under the other's fit); ``spans_s``: the moves' spans.
    Returns ``(outputs, shares)``, ``outputs`` one :class:`~d3prefiner.predictions.Predictions`
    per part."""
    return crossfit_sets(parts, (spans_s,))[0]


def crossfit_sets(parts, span_sets) -> list[tuple[list, JointShares]]:
    """:func:`crossfit` at each set of spans of ``span_sets``, one ``(outputs, shares)`` each: one
    system is built at all their spans and each set's is its block, and each sequence's moves
    are made once for every set."""
    from ..predictions import Predictions

    span_sets = [tuple(s) for s in span_sets]
    spans_all = tuple(dict.fromkeys(s for spans in span_sets for s in spans))
    rows = [_rows(spans_all, spans, len(SHARES_STEPS)) for spans in span_sets]
    groups = list(parts)
    single = len(groups) == 1
    if single:
        preds, prior = groups[0]
        if len(preds) < 2:
            raise D3PRError("cross-fitting joint shares needs 2 sequences or more")
        halves = [preds.sequences[0::2], preds.sequences[1::2]]
        groups = [(Predictions(h, preds.estimator), prior) for h in halves]
    systems = [equations(pieces(p), b, SHARES_STEPS, spans_all) for p, b in groups]
    A = sum(s[0] for s in systems)
    c = sum(s[1] for s in systems)

    def fit(a: np.ndarray, e: np.ndarray, spans: tuple, r: list[int]) -> JointShares:
        return JointShares(solve(a[:, r][:, :, r], e[:, r]), spans_s=spans)

    outs: list[list] = [[] for _ in span_sets]  # per set, one output per group
    for (p, b), (a, e) in zip(groups, systems):
        held = [fit(A - a, c - e, spans, r) for spans, r in zip(span_sets, rows)]
        for o, applied in zip(outs, _apply_each(p, b, held, spans_all)):
            o.append(applied)
    if single:  # put the halves back in the part's order
        for k, (first, second) in enumerate(outs):
            seqs = [None] * (len(first) + len(second))
            seqs[0::2], seqs[1::2] = first.sequences, second.sequences
            outs[k] = [Predictions(seqs, first.estimator)]
    return [(o, fit(A, c, spans, r)) for o, spans, r in zip(outs, span_sets, rows)]

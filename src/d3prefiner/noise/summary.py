"""The report of ``d3pr noise fit``: held-out fit quality, temporal structure, figures.

:func:`holdout_split` picks the held-out part, :func:`noise_report` measures a fitted model on it
(explained variance, log-likelihood per frame under each temporal option, autocorrelation of real
errors beside that of samples, excess kurtosis), :func:`format_report` prints it and
:func:`d3prefiner.viz.noise_figures` draws the histograms and autocorrelations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..errors import ArgumentError, D3PRError
from ..predictions import Predictions, PredictionSequence
from .pose import TEMPORALS, PoseNoiseModel, iter_errors
from .temporal import AutocorrAccumulator

_MAX_HIST_FRAMES = 200_000


def holdout_split(
    predictions: Predictions, subject: str | None = None, fraction: float = 0.1
) -> tuple[Predictions, Predictions]:
    """``(train, held_out)``: all sequences of ``subject``, or the last ``fraction`` of sequences.

    A single sequence is split by frames instead (its last ``fraction``).
    """
    if subject is not None:
        test = predictions.filter(subjects=[subject])
        train = Predictions([s for s in predictions if s.subject != subject], predictions.estimator)
        if not len(test):
            subs = sorted({s.subject for s in predictions})
            raise D3PRError(f"holdout subject {subject!r} not in the predictions (have {subs})")
        if not len(train):
            raise D3PRError(f"holding out {subject!r} leaves no sequences to fit on")
        return train, test
    if not 0 < fraction < 1:
        raise D3PRError(f"holdout fraction must be in (0, 1), got {fraction}")
    seqs = predictions.sequences
    if len(seqs) == 1:
        s = seqs[0]
        cut = int(round(s.num_frames * (1 - fraction)))
        if cut < 1 or cut >= s.num_frames:
            raise D3PRError(f"sequence of {s.num_frames} frames is too short to hold some out")
        part = [
            replace(
                s,
                pose2d=s.pose2d[sl],
                pred3d=s.pred3d[sl],
                gt3d=None if s.gt3d is None else s.gt3d[sl],
            )
            for sl in (slice(0, cut), slice(cut, None))
        ]
        return Predictions([part[0]], predictions.estimator), Predictions(
            [part[1]], predictions.estimator
        )
    n_test = max(1, int(round(len(seqs) * fraction)))
    return (
        Predictions(seqs[:-n_test], predictions.estimator),
        Predictions(seqs[-n_test:], predictions.estimator),
    )


#: Relative ridges tried by ``d3pr noise fit --ridge auto``. The large ones shrink μ_{a|b} towards
#: the mean error (a plain bias correction): the MixSTE detected bench chose the old top, 1, with
#: the score still falling (104.2 → 101.7 mm from 1e-6 to 1), so the grid goes on to 100.
RIDGE_GRID = (1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0, 100.0)


def closed_form_mpjpe(model: PoseNoiseModel, predictions: Predictions) -> float:
    """Frame-averaged MPJPE (metres) of the closed-form refiner ``x_noisy − μ_{a|b}``."""
    from ..metrics import mpjpe

    total, n = 0.0, 0
    for s in predictions:
        if s.gt3d is None:
            raise D3PRError("closed-form MPJPE needs predictions with gt3d")
        y = torch.from_numpy(s.pose2d).float()[None]
        x = torch.from_numpy(s.pred3d).float()[None]
        cf = model.closed_form_refine(y, x)[0].double()
        # compared as given: cf keeps the estimate's root, and both are root-relative
        total += float(mpjpe(cf, torch.from_numpy(s.gt3d).double(), align="none").sum())
        n += s.num_frames
    return total / max(n, 1)


def choose_ridge(
    train: Predictions, held_out: Predictions, grid=RIDGE_GRID, progress: bool = False, **options
) -> tuple[float, dict[float, float]]:
    """The relative ridge whose closed-form refiner, fitted on ``train``, has the lowest MPJPE on
    ``held_out``; returns ``(ridge, {ridge: MPJPE in metres})``.

    Why it matters: ``Σ_bb`` of an under-trained lifter is nearly singular (its outputs stay close
    to a low-dimensional set), so with a tiny ridge ``μ_{a|b}`` extrapolates wildly on predictions of
    *another* model; the held-out part should therefore come from a different lifter than the
    fitted part (another cross-fitting fold), as the test predictions do.
    """
    grid = tuple(grid)
    if not grid:
        raise D3PRError("choose_ridge: the grid of ridges is empty")
    # the streamed statistics do not depend on the ridge: one pass over ``train``, then one
    # Cholesky solve per candidate
    model = PoseNoiseModel(**{**options, "ridge": grid[0]}).fit(train, progress, temporal=False)
    scores = {}
    for r in grid:
        scores[r] = closed_form_mpjpe(model.with_ridge(r), held_out)
    return min(scores, key=scores.get), scores


def choose_ridge_by_folds(
    predictions: Predictions, grid=RIDGE_GRID, progress: bool = False, **options
) -> tuple[float, dict[float, float]]:
    """:func:`choose_ridge` across cross-fitting folds: for each fold, fit on the other folds'
    sequences and score the closed-form MPJPE on its own (predicted by a different lifter);
    returns ``(ridge, {ridge: frame-weighted MPJPE in metres})``. Needs >= 2 folds."""
    folds = sorted({s.fold for s in predictions if s.fold >= 0})
    if len(folds) < 2:
        raise D3PRError(f"choosing the ridge by folds needs >= 2 cross-fitting folds, got {folds}")
    totals = dict.fromkeys(grid, 0.0)
    frames = 0
    for f in folds:
        held = predictions.filter(fold=f)
        rest = Predictions([s for s in predictions if s.fold != f], predictions.estimator)
        _, scores = choose_ridge(rest, held, grid=grid, progress=progress, **options)
        for r, m in scores.items():
            totals[r] += m * held.num_frames
        frames += held.num_frames
    scores = {r: t / frames for r, t in totals.items()}
    return min(scores, key=scores.get), scores


def select_ridge(
    fit_on: Predictions, held_out: Predictions | None = None, progress: bool = False, **options
) -> tuple[float, dict[float, float]]:
    """The ridge of ``--ridge auto``: chosen on ``held_out`` when given (:func:`choose_ridge`),
    else across the cross-fitting folds of ``fit_on`` (:func:`choose_ridge_by_folds`)."""
    options.pop("ridge", None)
    if held_out is not None:
        return choose_ridge(fit_on, held_out, progress=progress, **options)
    return choose_ridge_by_folds(fit_on, progress=progress, **options)


@dataclass
class FitResult:
    """What :func:`fit_with_report` did: the model to save, its held-out report, and the ridge
    choice (``ridge_scores``: ridge → held-out closed-form MPJPE in metres; ``ridge_by_folds``:
    how many cross-fitting folds it was chosen across, 0 for the held-out part)."""

    model: PoseNoiseModel
    report: dict
    ridge_scores: dict
    ridge_by_folds: int


def check_folds(predictions: Predictions, where: str = "predictions") -> None:
    """Refuse cross-fitting folds that cannot be: one subject in two folds (cross-fitting holds
    whole subjects out). One fold for every sequence of several subjects is a part of a
    cross-fit (``d3pr pool --subjects`` of the subjects one fold lifter predicted) and passes;
    the ridge is then chosen on a held-out part, as for a file without folds.

    A pooled file (:meth:`Predictions.pool`: named ``pool(...)``, or holding a sequence twice)
    keeps each estimator's folds apart, so a subject is in one fold per estimator there.
    """
    seqs = [s for s in predictions if s.fold >= 0]
    keys = {(s.subject, s.action, s.camera) for s in seqs}
    if predictions.estimator.startswith("pool(") or len(keys) < len(seqs):
        return
    first: dict[str, PredictionSequence] = {}
    for s in seqs:
        f = first.setdefault(s.subject, s)
        if f.fold != s.fold:
            raise D3PRError(
                f"{where}: 'fold' changes within subject {s.subject} ({f.action}: fold "
                f"{f.fold}, {s.action}: fold {s.fold}); cross-fitting holds whole subjects out"
            )


def fit_with_report(
    predictions: Predictions,
    ridge: float | str = "auto",
    subjects: Sequence[str] | None = None,
    holdout_subject: str | None = None,
    refit: bool = True,
    seed: int = 0,
    progress: bool = False,
    where: str = "predictions",
    **options,
) -> FitResult:
    """The whole of ``d3pr noise fit``: keep ``subjects``, hold a part out (``holdout_subject`` or
    the last 10 % of sequences), choose the ridge (``"auto"``: across the cross-fitting folds when
    there are several and no held-out subject is named, else on the held-out part), fit, report on
    the held-out part, and refit on everything when ``refit``."""
    check_folds(predictions, where)
    preds = predictions
    if subjects:
        missing = sorted(set(subjects) - {seq.subject for seq in preds})
        if missing:
            raise D3PRError(f"{where}: no sequences of subject(s) {', '.join(missing)}")
        preds = preds.filter(subjects=list(subjects))
    auto = isinstance(ridge, str)
    if auto and ridge.strip().lower() != "auto":
        raise ArgumentError("ridge", f"must be a number or 'auto', got {ridge!r}")
    options["ridge"] = 1e-6 if auto else float(ridge)
    PoseNoiseModel(**options)  # validate options before any work
    train, test = holdout_split(preds, holdout_subject)
    scores, n_folds = {}, 0
    if auto:
        folds = {seq.fold for seq in preds if seq.fold >= 0}
        n_folds = len(folds) if holdout_subject is None and len(folds) >= 2 else 0
        fit_on, held = (preds, None) if n_folds else (train, test)
        options["ridge"], scores = select_ridge(fit_on, held, progress=progress, **options)
    model = PoseNoiseModel(**options).fit(train, progress=progress)
    rep = noise_report(model, test, train=train, seed=seed)
    if refit:
        model = PoseNoiseModel(**options).fit(preds, progress=progress)
    return FitResult(model, rep, scores, n_folds)


def _excess_kurtosis(chunks, mean: np.ndarray) -> np.ndarray:
    """Streamed per-dimension excess kurtosis of rows ``(n, D)`` around ``mean``."""
    m2 = m4 = 0.0
    n = 0
    for x in chunks:
        d = x - mean
        m2 = m2 + (d**2).sum(0)
        m4 = m4 + (d**4).sum(0)
        n += len(x)
    m2, m4 = m2 / n, m4 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m2 > 0, m4 / m2**2 - 3.0, np.nan)


def _subsample(seqs: list[np.ndarray], limit: int) -> np.ndarray:
    n = sum(len(s) for s in seqs)
    step = max(1, int(np.ceil(n / limit)))
    return np.concatenate([s[::step] for s in seqs])


def noise_report(
    model: PoseNoiseModel,
    held_out: Predictions,
    train: Predictions | None = None,
    seed: int = 0,
    lags: tuple[int, ...] = (1, 13),
) -> dict:
    """Measure a fitted model on held-out predictions.

    Returns:
        A JSON-ready dict: frame counts, explained variance (fitted and held-out), held-out
        log-likelihood per frame under each temporal option, fitted AR(1) ρ and block weight,
        autocorrelation (lag → value, and the full curves) of real errors and of samples, and the
        excess kurtosis of e and of the standardised residual (mean and max over the 48 dims).
    """
    max_lag = model.config.max_lag
    out: dict = dict(
        granularity=model.config.granularity,
        temporal=model.config.temporal,
        train_frames=model.n_frames_,
        heldout_frames=held_out.num_frames,
        explained_variance_fit=1.0
        - float(model.error_moments()["cond_var"].sum() / model.error_moments()["var"].sum()),
        explained_variance_heldout=model.explained_variance_ratio(held_out),
        ar1_coef=model.ar1_coef_,
        window_weight=model.window_weight_,
        loglik_per_frame={t: model.log_likelihood(held_out, t) for t in TEMPORALS},
    )
    # autocorrelation of real errors (pooled over dims, demeaned by the fitted mean) vs samples
    mean_e = model.error_moments()["mean"].reshape(-1)
    real = AutocorrAccumulator(max_lag, mean_e)
    resid = AutocorrAccumulator(max_lag)
    samples = {t: AutocorrAccumulator(max_lag, mean_e) for t in TEMPORALS}
    gen = torch.Generator().manual_seed(seed)
    e_rows, r_rows = [], []
    for s, e in zip(held_out, iter_errors(held_out)):
        real.add(torch.from_numpy(e))
        y = torch.from_numpy(s.pose2d)[None]
        x = torch.from_numpy(s.pred3d)[None]
        mu = model.mean_error(y, x)[0, :, 1:].reshape(len(e), -1).double()  # (F, 48)
        r_rows.append((torch.from_numpy(e) - mu).numpy())
        resid.add(model.standardized_residuals(s.pose2d, s.pred3d, s.gt3d))
        for t in TEMPORALS:
            smp = model.sample_error(y, x, gen, temporal=t)[0, :, 1:].reshape(len(e), -1)
            samples[t].add(smp.double())
        e_rows.append(e)
    curves = {"real": real.result(), "standardized_residual": resid.result()}
    curves.update({f"sample_{t}": samples[t].result() for t in TEMPORALS})
    out["autocorrelation"] = {
        k: {str(L): float(v[L]) for L in lags if max_lag >= L} for k, v in curves.items()
    }
    out["autocorrelation_curves"] = {k: [float(x) for x in v] for k, v in curves.items()}
    out["fitted_residual_acf"] = [float(x) for x in model.acf_]
    # non-Gaussianity, on the training errors when given (what the model was fitted on)
    src = train if train is not None else held_out
    kurt_e = _excess_kurtosis(iter_errors(src), mean_e.numpy())
    kurt_r = _excess_kurtosis(r_rows, np.zeros(mean_e.numel()))
    out["excess_kurtosis_error"] = dict(
        mean=float(np.nanmean(kurt_e)), max=float(np.nanmax(kurt_e))
    )
    out["excess_kurtosis_residual_heldout"] = dict(
        mean=float(np.nanmean(kurt_r)), max=float(np.nanmax(kurt_r))
    )
    out["_hist"] = dict(
        error=_subsample(list(iter_errors(src)), _MAX_HIST_FRAMES),
        residual=_subsample(r_rows, _MAX_HIST_FRAMES),
    )
    return out


def format_report(rep: dict) -> str:
    """A short text report (millimetres for errors)."""
    ll = rep["loglik_per_frame"]
    best = max(ll, key=ll.get)
    lines = [
        f"noise model: granularity={rep['granularity']}  temporal={rep['temporal']}  "
        f"fit frames={rep['train_frames']}  held-out frames={rep['heldout_frames']}",
        f"variance of e explained by b: {100 * rep['explained_variance_fit']:.1f}% (fit), "
        f"{100 * rep['explained_variance_heldout']:.1f}% (held out)",
        "held-out log-likelihood per frame (nats): "
        + "  ".join(f"{t}={v:.1f}" for t, v in ll.items())
        + f"  -> best: {best}",
        f"fitted temporal: AR(1) rho={rep['ar1_coef']:.3f}  block weight w={rep['window_weight']:.3f}",
        "autocorrelation (held out)   "
        + "  ".join(f"lag {L:>3}" for L in rep["autocorrelation"]["real"]),
    ]
    for k, v in rep["autocorrelation"].items():
        lines.append(f"  {k:<26}" + "  ".join(f"{x:7.3f}" for x in v.values()))
    ke, kr = rep["excess_kurtosis_error"], rep["excess_kurtosis_residual_heldout"]
    lines.append(
        f"excess kurtosis (0 if Gaussian): e mean {ke['mean']:.2f} max {ke['max']:.2f}; "
        f"e - mu(b) held out mean {kr['mean']:.2f} max {kr['max']:.2f}"
    )
    return "\n".join(lines)

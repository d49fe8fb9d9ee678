"""The conditional noisy-3D-pose distribution (CND) of an estimator, on poses.

The error of an estimator is ``e = x_noisy − x0`` (root-relative; the root's error is always 0 and
is left out of the model so it cannot make the covariance singular). :class:`PoseNoiseModel` fits
``e | b ~ N(μ_{a|b}, Σ_{a|b})`` with :class:`~d3prefiner.noise.gaussian.ConditionalGaussian` at one
of three granularities — three readings of the paper's Section III-B:

``"pose"`` (default)
    one Gaussian per frame: ``a`` = e of the 16 non-root joints (48), ``b`` = [y of all 17 joints
    (34), x_noisy of the 16 non-root joints (48)] (82). The paper writes the Gaussian over
    ``y ∈ R^{N×J×2}``, ``x_noisy ∈ R^{N×J×3}``, ``e ∈ R^{N×J×3}``; read per frame (N = 1).
``"joint"``
    one Gaussian per non-root joint: ``a`` = that joint's e (3), ``b`` = its 2D and noisy 3D (5).
    The reading "each dimension ... follows a Gaussian", with per-joint conditioning only.
``"window"``
    ``a`` = e of frame t (48), ``b`` = [y, x_noisy] of the ``window`` frames centred on t
    (82·window; edge frames repeated). The reading with N > 1 frames, limited to a short window
    (a whole 243-frame sequence would need a 31,590-dimensional Gaussian). Because only the
    centre frame's error is modelled, this is the centre block of the joint window Gaussian.

Sampling ``e = μ_{a|b} + L z`` (``L Lᵀ = Σ_{a|b}``) needs standard normals ``z`` per frame; the
``temporal`` option sets how they are correlated across frames:

``"white"``
    independent per frame (paper-faithful). Real errors are smooth in time; these samples are not.
``"ar1"``
    stationary AR(1), ``z_t = ρ z_{t−1} + √(1−ρ²) w_t`` with ρ the fitted lag-1 autocorrelation of
    the standardised residuals ``L⁻¹(e − μ_{a|b})``.
``"window"``
    ``z_t = √w · u_{block} + √(1−w) · v_t``: one draw per block of ``temporal_window`` frames plus
    a white part; ``w`` is fitted from the share of residual energy constant within a block.

Every option keeps each frame's marginal ``N(μ_{a|b}, Σ_{a|b})`` exactly.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import D3PRError, check_joints, check_shape
from ..io import load_safetensors, save_safetensors
from ..predictions import Predictions
from ..skeleton import NUM_JOINTS
from .gaussian import ConditionalGaussian
from .temporal import AR1, AutocorrAccumulator, Block, White, fit_temporal

GRANULARITIES = ("pose", "joint", "window")
TEMPORALS = ("white", "ar1", "window")
DEFAULT_TEMPORAL = "ar1"
_FORMAT = "d3prefiner.PoseNoiseModel"
_NJ = NUM_JOINTS - 1  # non-root joints


@dataclass(frozen=True)
class NoiseModelConfig:
    """Options of :class:`PoseNoiseModel` (all saved with the model).

    Attributes:
        granularity: ``"pose"``, ``"joint"`` or ``"window"`` (see the module docstring).
        window: frames in the condition window of ``granularity="window"`` (odd, ≥ 3).
        temporal: default correlation of ``z`` across frames: ``"white"``, ``"ar1"``, ``"window"``.
        temporal_window: block length of ``temporal="window"`` (the refiner's window T).
        ridge: relative ridge of the Cholesky factorisations.
        max_lag: lags of the fitted autocorrelation of standardised residuals.
    """

    granularity: str = "pose"
    window: int = 5
    temporal: str = DEFAULT_TEMPORAL
    temporal_window: int = 27
    ridge: float = 1e-6
    max_lag: int = 30

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise D3PRError(f"granularity must be one of {GRANULARITIES}, got {self.granularity!r}")
        if self.temporal not in TEMPORALS:
            raise D3PRError(f"temporal must be one of {TEMPORALS}, got {self.temporal!r}")
        if not (isinstance(self.window, int) and self.window >= 3 and self.window % 2 == 1):
            raise D3PRError(f"window must be an odd integer >= 3, got {self.window!r}")
        if not (isinstance(self.temporal_window, int) and self.temporal_window >= 2):
            raise D3PRError(
                f"temporal_window must be an integer >= 2, got {self.temporal_window!r}"
            )
        if not (isinstance(self.max_lag, int) and self.max_lag >= 1):
            raise D3PRError(f"max_lag must be an integer >= 1, got {self.max_lag!r}")
        if not (math.isfinite(self.ridge) and self.ridge >= 0):
            raise D3PRError(f"ridge must be a finite number >= 0, got {self.ridge!r}")

    @property
    def groups(self) -> int:
        """Number of Gaussians: 16 for ``"joint"``, else 1."""
        return _NJ if self.granularity == "joint" else 1

    @property
    def dims(self) -> tuple[int, int]:
        """``(Da, Db)`` of each Gaussian."""
        if self.granularity == "joint":
            return 3, 5
        db = NUM_JOINTS * 2 + _NJ * 3
        return _NJ * 3, db * (self.window if self.granularity == "window" else 1)


# ------------------------------------------------------------------------- autocorrelation


def autocorrelation(x, max_lag: int, demean: bool = True) -> torch.Tensor:
    """Per-lag autocorrelation of sequences, pooled over dimensions and sequences.

    Args:
        x: one sequence ``(T, D)``, a batch ``(B, T, D)`` or a list of ``(T_i, D)`` arrays.
        max_lag: largest lag.
        demean: subtract the pooled per-dimension mean over all frames first.

    Returns:
        ``(max_lag+1,)`` float64: ``Σ x_t·x_{t+k} / n_k`` divided by its lag-0 value.
    """
    seqs = [x] if isinstance(x, np.ndarray | torch.Tensor) else list(x)
    seqs = [torch.as_tensor(np.asarray(s) if not isinstance(s, torch.Tensor) else s) for s in seqs]
    if not seqs or any(s.dim() not in (2, 3) for s in seqs):
        raise D3PRError("autocorrelation: expected (T, D), (B, T, D) or a list of (T, D) arrays")
    mean = None
    if demean:
        flat = torch.cat([s.reshape(-1, s.shape[-1]).to(torch.float64).cpu() for s in seqs])
        mean = flat.mean(0)
    acc = AutocorrAccumulator(max_lag, mean)
    for s in seqs:
        acc.add(s.cpu())
    return acc.result()


# ----------------------------------------------------------------------------- the model


def _as_float_tensor(x, name: str, n_joints: int, dim: int) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if not t.is_floating_point():
        t = t.to(torch.float32)
    check_joints(t, n_joints, dim, name)
    return t


class PoseNoiseModel:
    """The CND of an estimator on poses: fit, closed-form refinement, correlated sampling.

    Args: the fields of :class:`NoiseModelConfig` (``granularity``, ``window``, ``temporal``,
        ``temporal_window``, ``ridge``, ``max_lag``).

    Fitted attributes:
        gaussians_: the :class:`ConditionalGaussian` of each group (1, or 16 for ``"joint"``).
        acf_ ``(max_lag+1,)``: autocorrelation of the standardised residuals on the fit data.
        ar1_coef_: ρ of ``temporal="ar1"`` (lag-1 autocorrelation, clipped to [0, 0.999]).
        window_weight_: w of ``temporal="window"``.
        n_frames_: frames fitted.
    """

    def __init__(self, **options) -> None:
        self.config = NoiseModelConfig(**options)
        self.gaussians_: list[ConditionalGaussian] | None = None
        self.acf_: torch.Tensor | None = None
        self.ar1_coef_ = 0.0
        self.window_weight_ = 0.0
        self.n_frames_ = 0
        self._cache: dict = {}

    # ---------------------------------------------------------------------- features a and b

    def _condition(self, pose2d: torch.Tensor, pred3d: torch.Tensor) -> torch.Tensor:
        """``b`` ``(..., T, G, Db)`` from ``pose2d (..., T, 17, 2)``, ``pred3d (..., T, 17, 3)``."""
        x = pred3d[..., 1:, :] - pred3d[..., :1, :]  # (..., T, 16, 3) root-relative
        if self.config.granularity == "joint":
            return torch.cat([pose2d[..., 1:, :].to(x.dtype), x], dim=-1)  # (..., T, 16, 5)
        b = torch.cat([pose2d.flatten(-2).to(x.dtype), x.flatten(-2)], dim=-1)  # (..., T, 82)
        if self.config.granularity == "window":
            T, w = b.shape[-2], self.config.window
            idx = torch.arange(T, device=b.device)[:, None] + torch.arange(w, device=b.device)
            idx = (idx - w // 2).clamp(0, T - 1)  # (T, w)
            b = b[..., idx, :].flatten(-2)  # (..., T, w*82)
        return b.unsqueeze(-2)  # (..., T, 1, Db)

    def _error(self, pred3d: torch.Tensor, gt3d: torch.Tensor) -> torch.Tensor:
        """``a`` ``(..., T, G, Da)``: root-relative ``pred3d − gt3d`` of the 16 non-root joints."""
        e = (pred3d[..., 1:, :] - pred3d[..., :1, :]) - (gt3d[..., 1:, :] - gt3d[..., :1, :])
        if self.config.granularity == "joint":
            return e  # (..., T, 16, 3)
        return e.flatten(-2).unsqueeze(-2)  # (..., T, 1, 48)

    @staticmethod
    def _to_pose(a: torch.Tensor) -> torch.Tensor:
        """``(..., T, G, Da)`` → ``(..., T, 17, 3)`` with the root's error 0."""
        e = a.reshape(*a.shape[:-2], _NJ, 3)  # (..., T, 16, 3)
        return torch.cat([torch.zeros_like(e[..., :1, :]), e], dim=-2)  # (..., T, 17, 3)

    # --------------------------------------------------------------------------------- fitting

    def _check_fitted(self) -> list[ConditionalGaussian]:
        if self.gaussians_ is None:
            raise D3PRError("PoseNoiseModel is not fitted yet: call fit() or fit_arrays()")
        return self.gaussians_

    @staticmethod
    def _sequences_of(predictions: Predictions) -> list[tuple[np.ndarray, ...]]:
        if not isinstance(predictions, Predictions):
            raise D3PRError(f"expected a Predictions object, got {type(predictions).__name__}")
        if len(predictions) == 0:
            raise D3PRError("predictions: no sequences")
        if not predictions.has_gt:
            raise D3PRError("predictions: the noise model needs gt3d for every sequence")
        return [(s.pose2d, s.pred3d, s.gt3d) for s in predictions]

    def fit(
        self, predictions: Predictions, progress: bool = False, temporal: bool = True
    ) -> PoseNoiseModel:
        """Fit on every sequence of a predictions file (needs ``gt3d``), one sequence at a time.

        ``temporal=False`` skips the second pass that fits the temporal options (enough for
        ``mean_error`` / ``closed_form_refine``, e.g. when choosing the ridge).
        """
        return self._fit(self._sequences_of(predictions), progress, temporal)

    def fit_arrays(
        self, pose2d, pred3d, gt3d, lengths: Sequence[int] | None = None
    ) -> PoseNoiseModel:
        """Fit on ``pose2d (N, 17, 2)``, ``pred3d (N, 17, 3)``, ``gt3d (N, 17, 3)``.

        ``lengths`` splits the N frames into consecutive sequences (default: one sequence); it
        matters for the temporal statistics and the ``"window"`` granularity.
        """
        pose2d = _as_float_tensor(pose2d, "pose2d", NUM_JOINTS, 2)
        pred3d = _as_float_tensor(pred3d, "pred3d", NUM_JOINTS, 3)
        gt3d = _as_float_tensor(gt3d, "gt3d", NUM_JOINTS, 3)
        for name, arr in (("pose2d", pose2d), ("pred3d", pred3d), ("gt3d", gt3d)):
            check_shape(arr, "N 17 C", name)
        n = len(pred3d)
        if len(pose2d) != n or len(gt3d) != n:
            raise D3PRError(
                f"frame counts differ: pose2d={len(pose2d)}, pred3d={n}, gt3d={len(gt3d)}"
            )
        lengths = [n] if lengths is None else [int(v) for v in lengths]
        if any(v < 1 for v in lengths) or sum(lengths) != n:
            raise D3PRError(f"lengths must be positive and sum to {n}, got sum {sum(lengths)}")
        ends = np.cumsum(lengths)
        seqs = [
            (pose2d[e - L : e], pred3d[e - L : e], gt3d[e - L : e])
            for e, L in zip(ends.tolist(), lengths)
        ]
        return self._fit(seqs, progress=False)

    def _fit(self, seqs: list[tuple], progress: bool, temporal: bool = True) -> PoseNoiseModel:
        cfg = self.config
        gaussians = [ConditionalGaussian(cfg.ridge) for _ in range(cfg.groups)]
        for y, x, g in tqdm(seqs, desc="noise fit", disable=not progress, leave=False):
            a, b = self._arrays(y, x, g)
            for i, gauss in enumerate(gaussians):
                gauss.partial_fit(a[:, i], b[:, i])
        need = gaussians[0]._min_samples()
        n = gaussians[0].n_samples_seen_
        if n < need:
            raise D3PRError(
                f"{n} frames are too few for the {cfg.granularity} noise model "
                f"(Da={cfg.dims[0]}, Db={cfg.dims[1]}; need at least {need})"
            )
        self.gaussians_, self.n_frames_, self._cache = gaussians, n, {}
        if temporal:
            self._fit_temporal(seqs, progress)
        return self

    def with_ridge(self, ridge: float) -> PoseNoiseModel:
        """A copy re-solved at another ridge from the stored statistics (no refit; this model is
        left unchanged). The temporal fit is copied, not recomputed: use the copy for
        ``mean_error`` / ``closed_form_refine``, e.g. to score ridges."""
        import copy

        out = copy.copy(self)
        out.gaussians_ = [copy.deepcopy(g).set_ridge(ridge) for g in self._check_fitted()]
        out.config = replace(self.config, ridge=float(ridge))
        out._cache = {}
        return out

    def _arrays(self, y, x, g) -> tuple[torch.Tensor, torch.Tensor]:
        """float64 ``a (T, G, Da)``, ``b (T, G, Db)`` of one sequence."""
        y, x, g = (torch.as_tensor(v).to(torch.float64) for v in (y, x, g))
        return self._error(x, g), self._condition(y, x)

    def _fit_temporal(self, seqs: list[tuple], progress: bool) -> None:
        """Autocorrelation and within-block energy of the standardised residuals."""
        cfg = self.config
        residuals = (
            self._standardized(*self._arrays(y, x, g))
            for y, x, g in tqdm(seqs, desc="noise acf", disable=not progress, leave=False)
        )
        self.acf_, self.ar1_coef_, self.window_weight_ = fit_temporal(
            residuals, cfg.max_lag, cfg.temporal_window
        )

    def temporal_model(self, temporal: str | None = None) -> White:
        """The fitted strategy of a temporal option (default: the configured one)."""
        temporal = self.config.temporal if temporal is None else temporal
        if temporal not in TEMPORALS:
            raise D3PRError(f"temporal must be one of {TEMPORALS}, got {temporal!r}")
        if temporal == "ar1":
            return AR1(self.ar1_coef_)
        if temporal == "window":
            return Block(self.window_weight_, self.config.temporal_window)
        return White()

    def standardized_residuals(self, pose2d, pred3d, gt3d) -> torch.Tensor:
        """``L⁻¹(e − μ_{a|b})`` of one sequence's true errors, ``(T, G·Da)`` float64."""
        return self._standardized(*self._arrays(pose2d, pred3d, gt3d))

    def _standardized(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``L⁻¹(a − μ_{a|b})`` per group, flattened: ``(T, G*Da)`` float64."""
        cols = [gs.standardize(a[:, i], b[:, i]) for i, gs in enumerate(self._check_fitted())]
        return torch.cat(cols, dim=-1)

    # ----------------------------------------------------------------------- stacked params

    def _params(self, device, dtype) -> dict[str, torch.Tensor]:
        """Parameters of all groups stacked: mean_a (G,Da), mean_b (G,Db), coef, chol."""
        key = (str(device), dtype)
        if key not in self._cache:
            ps = [gs.params(device, dtype) for gs in self._check_fitted()]
            self._cache[key] = {k: torch.stack([p[k] for p in ps]) for k in ps[0]}
        return self._cache[key]

    def _inputs(self, pose2d, pred3d) -> tuple[torch.Tensor, torch.Tensor]:
        pose2d = _as_float_tensor(pose2d, "pose2d", NUM_JOINTS, 2)
        pred3d = _as_float_tensor(pred3d, "pred3d", NUM_JOINTS, 3)
        sp = check_shape(pred3d, "B T 17 3", "pred3d")
        s2 = check_shape(pose2d, "B T 17 2", "pose2d")
        if (sp["B"], sp["T"]) != (s2["B"], s2["T"]):
            raise D3PRError(
                f"pose2d {tuple(pose2d.shape)} and pred3d {tuple(pred3d.shape)} differ in (B, T)"
            )
        return pose2d.to(pred3d.device), pred3d

    # ------------------------------------------------------------------------------ inference

    def mean_error(self, pose2d, pred3d) -> torch.Tensor:
        """``μ_{a|b}`` as poses: ``pose2d (B, T, 17, 2)``, ``pred3d (B, T, 17, 3)`` → ``(B, T, 17, 3)``.

        Computed in ``pred3d``'s floating dtype on its device; the root's error is 0.
        """
        self._check_fitted()
        pose2d, pred3d = self._inputs(pose2d, pred3d)
        p = self._params(pred3d.device, pred3d.dtype)
        b = self._condition(pose2d, pred3d)  # (B, T, G, Db)
        mu = p["mean_a"] + torch.einsum("btgd,gad->btga", b - p["mean_b"], p["coef"])
        return self._to_pose(mu)

    def closed_form_refine(self, pose2d, pred3d) -> torch.Tensor:
        """The closed-form refiner ``x_noisy − μ_{a|b}`` ``(B, T, 17, 3)``."""
        pose2d, pred3d = self._inputs(pose2d, pred3d)
        return pred3d - self.mean_error(pose2d, pred3d)

    def draw_z(
        self,
        shape: tuple[int, int],
        generator: torch.Generator | None = None,
        device=None,
        dtype=torch.float32,
        temporal: str | None = None,
    ) -> torch.Tensor:
        """Standard normals ``(B, T, G, Da)`` correlated across T as ``temporal`` says.

        Each ``z_t`` is marginally N(0, I); ``"ar1"`` has lag-k correlation ρᵏ, ``"window"`` has
        correlation w within blocks of ``temporal_window`` frames and 0 across blocks.
        """
        self._check_fitted()
        B, T = (int(v) for v in shape)
        G, (Da, _) = self.config.groups, self.config.dims
        return self.temporal_model(temporal).draw((B, T, G, Da), generator, device, dtype)

    def residual_sample(
        self,
        pose2d,
        pred3d,
        generator: torch.Generator | None = None,
        temporal: str | None = None,
        z: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Zero-mean residual ``L z ~ N(0, Σ_{a|b})`` per frame as poses ``(B, T, 17, 3)``.

        Args:
            pose2d: ``(B, T, 17, 2)``; pred3d: ``(B, T, 17, 3)`` (only their shape, device and
                dtype matter here, the residual covariance does not depend on b).
            generator: random source on ``pred3d``'s device.
            temporal: override of the configured ``temporal`` option.
            z: optional standard normals ``(B, T, G, Da)`` (e.g. from :meth:`draw_z`).
        """
        self._check_fitted()
        pose2d, pred3d = self._inputs(pose2d, pred3d)
        B, T = pred3d.shape[:2]
        if z is None:
            z = self.draw_z((B, T), generator, pred3d.device, pred3d.dtype, temporal)
        G, (Da, _) = self.config.groups, self.config.dims
        if tuple(z.shape) != (B, T, G, Da):
            raise D3PRError(f"z: expected shape ({B}, {T}, {G}, {Da}), got {tuple(z.shape)}")
        p = self._params(pred3d.device, pred3d.dtype)
        r = torch.einsum("btgd,ged->btge", z.to(pred3d.dtype), p["chol"])  # (B, T, G, Da)
        return self._to_pose(r)

    def sample_error(self, pose2d, pred3d, *args, **kwargs) -> torch.Tensor:
        """Draw ``e ~ N(μ_{a|b}, Σ_{a|b})`` per frame ``(B, T, 17, 3)``, z correlated per ``temporal``.

        ``ε = x0 + e`` is then the noisy pose of the forward diffusion. Root error is exactly 0.
        Arguments as in :meth:`residual_sample` (``generator``, ``temporal``, ``z``).
        """
        return self.mean_error(pose2d, pred3d) + self.residual_sample(
            pose2d, pred3d, *args, **kwargs
        )

    # ----------------------------------------------------------------------------- evaluation

    def log_likelihood(self, predictions: Predictions, temporal: str | None = None) -> float:
        """Mean log-likelihood per frame (nats) of the true errors of ``predictions``.

        With ``temporal`` ≠ ``"white"`` the standardised residuals of a sequence are scored
        under the AR(1) / block model of their correlation across frames.
        """
        total, frames = 0.0, 0
        for y, x, g in self._sequences_of(predictions):
            total += self.sequence_log_likelihood(y, x, g, temporal)
            frames += len(x)
        return total / frames

    def sequence_log_likelihood(self, pose2d, pred3d, gt3d, temporal: str | None = None) -> float:
        """Total log-likelihood (nats) of one sequence's errors ``(T, 17, ·)`` arrays."""
        strategy = self.temporal_model(temporal)
        r = self.standardized_residuals(pose2d, pred3d, gt3d)  # (T, D)
        logdet = sum(
            float(torch.log(torch.diagonal(gs.conditional_chol_)).sum()) for gs in self.gaussians_
        )
        return strategy.log_likelihood(r) - len(r) * logdet

    def explained_variance_ratio(self, predictions: Predictions) -> float:
        """Fraction of the variance of e (all 48 dims pooled) that b explains on ``predictions``."""
        self._check_fitted()
        res, tot, s1, n = 0.0, 0.0, None, 0
        seqs = self._sequences_of(predictions)
        for y, x, g in seqs:
            a, b = self._arrays(y, x, g)
            mu = torch.stack(
                [gs.conditional_mean(b[:, i]) for i, gs in enumerate(self.gaussians_)], 1
            )
            res += float(((a - mu) ** 2).sum())
            s1 = a.sum(0) if s1 is None else s1 + a.sum(0)
            tot += float((a**2).sum())
            n += len(a)
        tot -= float((s1**2).sum()) / n
        return 1.0 - res / tot if tot > 0 else 0.0

    def error_moments(self) -> dict[str, torch.Tensor]:
        """Per-dimension ``(16, 3)`` float64: fitted mean and variance of e, variance of e | b."""
        gs = self._check_fitted()
        da = self.config.dims[0]
        mean = torch.cat([g.mean_[:da] for g in gs])
        var = torch.cat([torch.diagonal(g.cov_)[:da] for g in gs])
        cvar = torch.cat([torch.diagonal(g.conditional_cov_) for g in gs])
        return {k: v.reshape(_NJ, 3) for k, v in dict(mean=mean, var=var, cond_var=cvar).items()}

    # --------------------------------------------------------------------------------- files

    def save(self, path: str | os.PathLike) -> None:
        """Write the model (statistics + all options + temporal fit) as safetensors."""
        from ..version import __version__

        tensors, gconf = {}, None
        for i, gs in enumerate(self._check_fitted()):
            t, gconf = gs.to_tensors(f"g{i}.")
            tensors.update(t)
        tensors["acf"] = self.acf_.clone()
        meta = {
            "format": _FORMAT,
            "version": "1",
            "package_version": __version__,
            "config": json.dumps(asdict(self.config)),
            "gaussian": json.dumps(gconf),
            "temporal_fit": json.dumps(
                dict(
                    ar1_coef=self.ar1_coef_,
                    window_weight=self.window_weight_,
                    n_frames=self.n_frames_,
                )
            ),
        }
        save_safetensors(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PoseNoiseModel:
        """Read a file written by :meth:`save`."""
        tensors, meta = load_safetensors(path, _FORMAT, "noise model")
        try:
            model = cls(**json.loads(meta["config"]))
            gconf = json.loads(meta["gaussian"])
            tfit = json.loads(meta["temporal_fit"])
            model.gaussians_ = [
                ConditionalGaussian.from_tensors(tensors, gconf, f"g{i}.")
                for i in range(model.config.groups)
            ]
            model.acf_ = tensors["acf"].to(torch.float64)
            model.ar1_coef_ = float(tfit["ar1_coef"])
            model.window_weight_ = float(tfit["window_weight"])
            model.n_frames_ = int(tfit["n_frames"])
        except (KeyError, TypeError, json.JSONDecodeError, D3PRError) as exc:
            raise D3PRError(f"{path}: malformed noise model ({exc})") from None
        model._check_joints(path)
        return model

    def _check_joints(self, path) -> None:
        """Refuse a file whose statistics are not of H36M-17 poses (e.g. a 16-joint model)."""
        da, db = self.config.dims
        for g in self.gaussians_:
            if (g.n_error_, g.n_condition_) != (da, db):
                joint = self.config.granularity == "joint"
                what = "other poses" if joint else f"{g.n_error_ // 3 + 1} joints"
                raise D3PRError(
                    f"{path}: a noise model of {what} (error size {g.n_error_}, "
                    f"condition size {g.n_condition_}); predictions have {NUM_JOINTS} joints "
                    f"(expected {da}, {db})"
                )

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in asdict(self.config).items())
        return f"PoseNoiseModel({opts}, n_frames={self.n_frames_})"


def fit_noise_model(predictions: Predictions, progress: bool = False, **options) -> PoseNoiseModel:
    """Shorthand: ``PoseNoiseModel(**options).fit(predictions)``."""
    return PoseNoiseModel(**options).fit(predictions, progress=progress)


def iter_errors(predictions: Predictions) -> Iterable[np.ndarray]:
    """Root-relative errors ``(F, 16*3)`` of each sequence (for autocorrelation reports)."""
    for s in predictions:
        if s.gt3d is None:
            raise D3PRError("predictions: some sequences have no gt3d")
        e = (s.pred3d[:, 1:] - s.pred3d[:, :1]) - (s.gt3d[:, 1:] - s.gt3d[:, :1])
        yield e.reshape(len(e), -1).astype(np.float64)

"""A multivariate Gaussian of ``[a, b]`` fitted from streamed sums, and its conditional ``a | b``.

The paper's Eq. (5) and (6)::

    μ_{a|b} = μ_a + Σ_ab Σ_bb⁻¹ (b − μ_b)
    Σ_{a|b} = Σ_aa − Σ_ab Σ_bb⁻¹ Σ_ba

Statistics are accumulated in float64 chunk by chunk (count, mean and centred cross-product
matrix, merged with Chan et al.'s pairwise update, which is the numerically stable form of
"count, sums and cross products"), so millions of frames never sit in memory at once. ``Σ_bb⁻¹`` is
never formed: the regression coefficient ``Σ_ab Σ_bb⁻¹`` comes from a Cholesky solve of the ridged
``Σ_bb``. Covariances are maximum-likelihood estimates (divided by N).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import torch

from ..errors import D3PRError, check_finite
from ..io import load_safetensors, save_safetensors

_FORMAT = "d3prefiner.ConditionalGaussian"


def _to_tensor(x, name: str) -> torch.Tensor:
    """A float tensor view of ``x`` (numpy or torch), checked to be finite."""
    if isinstance(x, torch.Tensor):
        t = x if x.is_floating_point() else x.to(torch.float64)
    elif isinstance(x, np.ndarray | list | tuple):
        t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    else:
        raise D3PRError(f"{name}: expected an array, got {type(x).__name__}")
    check_finite(t, name)
    return t


#: Most relative jitter added to ``Σ_{a|b}`` before its Cholesky factorisation (more only where
#: rounding leaves it singular): the samples' spread is the residual's, whatever the ridge.
JITTER = 1e-6


def _ridged_cholesky(mat: torch.Tensor, ridge: float, name: str) -> tuple[torch.Tensor, float]:
    """Lower Cholesky factor of ``mat + λ·s·I`` (s = mean diagonal, or 1 if zero).

    The ridge is relative to the average variance so it is unit-free; if the factorisation still
    fails (rank-deficient input plus rounding), the ridge grows tenfold up to 1e-2.

    Returns:
        ``(L, absolute ridge added)``.
    """
    d = mat.shape[-1]
    scale = float(torch.diagonal(mat).mean()) if d else 1.0
    scale = scale if scale > 0 else 1.0
    eye = torch.eye(d, dtype=mat.dtype, device=mat.device)
    lam = ridge
    while True:
        L, info = torch.linalg.cholesky_ex(mat + lam * scale * eye)
        if int(info) == 0:
            return L, lam * scale
        if lam >= 1e-2:
            raise D3PRError(f"{name}: covariance is not positive definite even with ridge {lam:g}")
        lam = max(lam * 10.0, 1e-12)


def _fitted_tensor(key: str, doc: str) -> property:
    """A read-only attribute: the fitted statistic ``key`` (a clear error before :meth:`fit`)."""

    def get(self) -> torch.Tensor:
        return self._check_fitted()[key]

    return property(get, doc=doc)


class ConditionalGaussian:
    """Joint Gaussian of an error ``a`` and a condition ``b``; the conditional ``a | b``.

    scikit-learn style: hyper-parameters in ``__init__``; :meth:`fit` / :meth:`partial_fit` return
    ``self``; fitted attributes end in ``_``; use before fitting raises :class:`D3PRError`.

    Args:
        ridge: the regression's relative ridge: ``Σ_bb + λ·s·I`` is inverted, ``s`` its mean
            diagonal entry (so constant or duplicated columns do not make it singular; a large
            ridge shrinks the conditional mean toward the error's mean).

    Fitted attributes (float64, CPU):
        n_samples_seen_: number of rows fitted.
        mean_ ``(Da+Db,)``, cov_ ``(Da+Db, Da+Db)``: joint mean and covariance of ``[a, b]``.
        coef_ ``(Da, Db)``: ``C = Σ_ab (Σ_bb + λ·s·I)⁻¹``.
        conditional_cov_ ``(Da, Da)``: ``Σ_{a|b}``, the covariance of the residual
            ``a − C·b`` (``Σ_aa − C Σ_ba − Σ_ab Cᵀ + C Σ_bb Cᵀ``; ``Σ_aa − Σ_ab Σ_bb⁻¹ Σ_ba`` at
            λ = 0), the covariance of samples. The ridge does not inflate it: it is factorised
            with at most :data:`JITTER` added.
        conditional_chol_ ``(Da, Da)``: its lower Cholesky factor ``L`` (``L Lᵀ = Σ_{a|b}``).
    """

    def __init__(self, ridge: float = 1e-6) -> None:
        if not (isinstance(ridge, int | float) and math.isfinite(ridge) and ridge >= 0):
            raise D3PRError(f"ridge must be a finite number >= 0, got {ridge!r}")
        self.ridge = float(ridge)
        self._reset()

    # ------------------------------------------------------------------------------ fitting

    def _reset(self) -> None:
        self.n_error_: int | None = None
        self.n_condition_: int | None = None
        self.n_samples_seen_ = 0
        self._mean: torch.Tensor | None = None  # (D,) float64
        self._m2: torch.Tensor | None = None  # (D, D) centred cross products, float64
        self._fitted: dict | None = None
        self._cache: dict = {}

    def fit(self, error, condition) -> ConditionalGaussian:
        """Fit from scratch on ``error (N, Da)`` and ``condition (N, Db)`` (numpy or torch)."""
        self._reset()
        self.partial_fit(error, condition)
        self._check_fitted()
        return self

    def partial_fit(self, error, condition) -> ConditionalGaussian:
        """Add one chunk ``error (n, Da)``, ``condition (n, Db)`` to the running statistics."""
        a = _to_tensor(error, "error")
        b = _to_tensor(condition, "condition")
        if a.dim() != 2 or b.dim() != 2:
            raise D3PRError(
                f"error and condition must be 2-D (N, Da) and (N, Db), got "
                f"{tuple(a.shape)} and {tuple(b.shape)}"
            )
        if a.shape[0] != b.shape[0]:
            raise D3PRError(f"error has {a.shape[0]} rows, condition {b.shape[0]}")
        if a.shape[1] == 0:
            raise D3PRError("error must have at least one column")
        if self.n_error_ is not None and (a.shape[1], b.shape[1]) != (
            self.n_error_,
            self.n_condition_,
        ):
            raise D3PRError(
                f"chunk has (Da, Db) = ({a.shape[1]}, {b.shape[1]}), the model was started with "
                f"({self.n_error_}, {self.n_condition_})"
            )
        n = a.shape[0]
        if n == 0:
            return self
        self.n_error_, self.n_condition_ = int(a.shape[1]), int(b.shape[1])
        z = torch.cat([a, b], dim=1).to(torch.float64)  # (n, D)
        mean_b = z.mean(0)
        zc = z - mean_b
        m2_b = (zc.T @ zc).cpu()
        mean_b = mean_b.cpu()
        if self._mean is None:
            self._mean, self._m2 = mean_b, m2_b
        else:  # Chan et al. pairwise merge
            n_a = self.n_samples_seen_
            tot = n_a + n
            delta = mean_b - self._mean
            self._mean = self._mean + delta * (n / tot)
            self._m2 = self._m2 + m2_b + torch.outer(delta, delta) * (n_a * n / tot)
        self.n_samples_seen_ += n
        self._fitted = None
        self._cache = {}
        return self

    def set_ridge(self, ridge: float) -> ConditionalGaussian:
        """Change the ridge; the fitted attributes are re-solved from the stored statistics (no
        pass over the data), exactly as a fit with this ridge would give them."""
        if not (isinstance(ridge, int | float) and math.isfinite(ridge) and ridge >= 0):
            raise D3PRError(f"ridge must be a finite number >= 0, got {ridge!r}")
        self.ridge = float(ridge)
        self._fitted = None
        self._cache = {}
        return self

    def _min_samples(self) -> int:
        return self.n_error_ + self.n_condition_ + 1

    def _check_fitted(self) -> dict:
        if self.n_samples_seen_ == 0:
            raise D3PRError("ConditionalGaussian is not fitted yet: call fit() or partial_fit()")
        if self._fitted is not None:
            return self._fitted
        need = self._min_samples()
        if self.n_samples_seen_ < need:
            raise D3PRError(
                f"ConditionalGaussian: {self.n_samples_seen_} samples are too few for "
                f"Da={self.n_error_} + Db={self.n_condition_} dimensions (need at least {need})"
            )
        da = self.n_error_
        cov = self._m2 / self.n_samples_seen_
        cov = 0.5 * (cov + cov.T)
        s_aa, s_ab, s_bb = cov[:da, :da], cov[:da, da:], cov[da:, da:]
        if self.n_condition_ > 0:
            l_bb, _ = _ridged_cholesky(s_bb, self.ridge, "condition covariance Σ_bb")
            coef = torch.cholesky_solve(s_ab.T.contiguous(), l_bb).T  # (Da, Db)
            cross = coef @ s_ab.T  # C Σ_ba
            ccov = s_aa - cross - cross.T + coef @ s_bb @ coef.T  # Cov(a − C·b)
        else:
            coef = torch.zeros(da, 0, dtype=torch.float64)
            ccov = s_aa.clone()
        ccov = 0.5 * (ccov + ccov.T)
        jitter = min(self.ridge, JITTER)
        l_c, lam = _ridged_cholesky(ccov, jitter, "conditional covariance Σ_{a|b}")
        ccov = ccov + lam * torch.eye(da, dtype=torch.float64)
        self._fitted = dict(mean=self._mean.clone(), cov=cov, coef=coef, ccov=ccov, chol=l_c)
        return self._fitted

    # ----------------------------------------------------------------------- fitted attributes

    mean_ = _fitted_tensor("mean", "Joint mean of ``[a, b]`` ``(Da+Db,)``.")
    cov_ = _fitted_tensor("cov", "Joint covariance of ``[a, b]`` ``(Da+Db, Da+Db)``.")
    coef_ = _fitted_tensor("coef", "Regression coefficient ``Σ_ab Σ_bb⁻¹`` ``(Da, Db)``.")
    conditional_cov_ = _fitted_tensor("ccov", "``Σ_{a|b}`` ``(Da, Da)``, independent of ``b``.")
    conditional_chol_ = _fitted_tensor(
        "chol", "Lower Cholesky factor of :attr:`conditional_cov_` ``(Da, Da)``."
    )

    def params(self, device=None, dtype=torch.float64) -> dict[str, torch.Tensor]:
        """Fitted ``mean_a (Da,)``, ``mean_b (Db,)``, ``coef (Da, Db)``, ``chol (Da, Da)``.

        Cast to ``dtype`` on ``device`` once and cached (for sampling on a GPU in float32).
        """
        key = (str(torch.device(device) if device is not None else "cpu"), dtype)
        if key not in self._cache:
            f = self._check_fitted()
            da = self.n_error_
            self._cache[key] = {
                k: v.to(device=device, dtype=dtype)
                for k, v in dict(
                    mean_a=f["mean"][:da], mean_b=f["mean"][da:], coef=f["coef"], chol=f["chol"]
                ).items()
            }
        return self._cache[key]

    # ------------------------------------------------------------------------------ inference

    def _prepare(self, x, name: str, dim: int) -> tuple[torch.Tensor, bool]:
        """``x`` as a 2-D float tensor with ``dim`` columns; whether it came in as numpy."""
        self._check_fitted()
        was_numpy = not isinstance(x, torch.Tensor)
        t = _to_tensor(x, name)
        if t.dim() != 2 or t.shape[1] != dim:
            raise D3PRError(f"{name}: expected shape (N, {dim}), got {tuple(t.shape)}")
        return t, was_numpy

    @staticmethod
    def _out(t: torch.Tensor, was_numpy: bool):
        return t.cpu().numpy() if was_numpy else t

    def conditional_mean(self, condition):
        """``μ_{a|b}`` for each row of ``condition (N, Db)`` → ``(N, Da)``.

        numpy in → numpy float64 out; torch in → torch out in the input's dtype and device.
        """
        b, was_numpy = self._prepare(condition, "condition", self.n_condition_)
        p = self.params(b.device, b.dtype)
        mu = p["mean_a"] + (b - p["mean_b"]) @ p["coef"].T  # (N, Da)
        return self._out(mu, was_numpy)

    def sample(self, condition, generator: torch.Generator | None = None, z=None):
        """Draw ``a ~ N(μ_{a|b}, Σ_{a|b})`` for each row of ``condition (N, Db)`` → ``(N, Da)``.

        Args:
            condition: ``(N, Db)``.
            generator: random source (on the condition's device) when ``z`` is not given.
            z: optional standard normals ``(N, Da)``, e.g. correlated in time by the caller;
                the sample is ``μ_{a|b} + L z``.
        """
        b, was_numpy = self._prepare(condition, "condition", self.n_condition_)
        p = self.params(b.device, b.dtype)
        if z is None:
            z = torch.randn(
                b.shape[0], self.n_error_, generator=generator, device=b.device, dtype=b.dtype
            )
        else:
            z = _to_tensor(z, "z").to(device=b.device, dtype=b.dtype)
            if tuple(z.shape) != (b.shape[0], self.n_error_):
                raise D3PRError(
                    f"z: expected shape ({b.shape[0]}, {self.n_error_}), got {tuple(z.shape)}"
                )
        mu = p["mean_a"] + (b - p["mean_b"]) @ p["coef"].T
        return self._out(mu + z @ p["chol"].T, was_numpy)

    def standardize(self, error, condition):
        """Whitened residuals ``L⁻¹ (a − μ_{a|b})`` ``(N, Da)`` (≈ N(0, I) under the model)."""
        a, was_numpy = self._prepare(error, "error", self.n_error_)
        b, _ = self._prepare(condition, "condition", self.n_condition_)
        if a.shape[0] != b.shape[0]:
            raise D3PRError(f"error has {a.shape[0]} rows, condition {b.shape[0]}")
        a, b = a.to(torch.float64), b.to(device=a.device, dtype=torch.float64)
        p = self.params(a.device, torch.float64)
        r = a - p["mean_a"] - (b - p["mean_b"]) @ p["coef"].T
        w = torch.linalg.solve_triangular(p["chol"], r.T, upper=False).T
        return self._out(w, was_numpy)

    def log_likelihood(self, error, condition):
        """Log density ``log N(a; μ_{a|b}, Σ_{a|b})`` of each row → ``(N,)`` (float64)."""
        w = self.standardize(torch.as_tensor(error), torch.as_tensor(condition))
        logdet = 2.0 * torch.log(torch.diagonal(self.conditional_chol_)).sum()
        ll = -0.5 * ((w**2).sum(1) + self.n_error_ * math.log(2 * math.pi)) - 0.5 * logdet.to(
            w.device
        )
        return self._out(ll, not isinstance(error, torch.Tensor))

    def explained_variance_ratio(self, error=None, condition=None) -> float:
        """Fraction of the total variance of ``a`` that ``b`` explains linearly.

        With data: ``1 − Σ‖a − μ_{a|b}‖² / Σ‖a − ā‖²`` on those rows. Without: the fitted
        ``1 − tr Σ_{a|b} / tr Σ_aa``.
        """
        if error is None and condition is None:
            da = self.n_error_ if self.n_samples_seen_ else 0
            tot = torch.trace(self.cov_[:da, :da])
            return float(1.0 - torch.trace(self.conditional_cov_) / tot) if tot > 0 else 0.0
        a, _ = self._prepare(error, "error", self.n_error_)
        mu = self.conditional_mean(torch.as_tensor(condition).to(torch.float64))
        a = a.to(torch.float64)
        tot = ((a - a.mean(0)) ** 2).sum()
        return float(1.0 - ((a - mu.to(a.device)) ** 2).sum() / tot) if tot > 0 else 0.0

    # --------------------------------------------------------------------------------- files

    def to_tensors(self, prefix: str = "") -> tuple[dict[str, torch.Tensor], dict]:
        """The streamed statistics as tensors (``prefix`` + name) and a small config dict."""
        self._check_fitted()
        tensors = {
            f"{prefix}count": torch.tensor([self.n_samples_seen_], dtype=torch.int64),
            f"{prefix}mean": self._mean.clone(),
            f"{prefix}m2": self._m2.clone(),
        }
        config = dict(ridge=self.ridge, n_error=self.n_error_, n_condition=self.n_condition_)
        return tensors, config

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, torch.Tensor], config: dict, prefix: str = ""
    ) -> ConditionalGaussian:
        """Inverse of :meth:`to_tensors`."""
        try:
            obj = cls(ridge=float(config["ridge"]))
            da, db = int(config["n_error"]), int(config["n_condition"])
            mean = tensors[f"{prefix}mean"].to(torch.float64)
            m2 = tensors[f"{prefix}m2"].to(torch.float64)
            count = int(tensors[f"{prefix}count"].reshape(-1)[0])
        except (KeyError, TypeError, ValueError) as exc:
            raise D3PRError(
                f"ConditionalGaussian statistics missing or malformed ({exc})"
            ) from None
        if tuple(mean.shape) != (da + db,) or tuple(m2.shape) != (da + db, da + db) or count < 1:
            raise D3PRError("ConditionalGaussian statistics have inconsistent shapes")
        obj.n_error_, obj.n_condition_, obj.n_samples_seen_ = da, db, count
        obj._mean, obj._m2 = mean, m2
        obj._check_fitted()
        return obj

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted statistics to ``path`` (safetensors, config JSON in its metadata)."""
        tensors, config = self.to_tensors()
        save_safetensors(path, tensors, {"format": _FORMAT, "config": json.dumps(config)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> ConditionalGaussian:
        """Read a file written by :meth:`save`."""
        tensors, meta = load_safetensors(path, _FORMAT, "ConditionalGaussian")
        try:
            config = json.loads(meta["config"])
            return cls.from_tensors(tensors, config)
        except (KeyError, json.JSONDecodeError, D3PRError) as exc:
            raise D3PRError(f"{path}: {exc}") from None

    def __repr__(self) -> str:
        dims = f", Da={self.n_error_}, Db={self.n_condition_}" if self.n_error_ else ""
        return f"ConditionalGaussian(ridge={self.ridge:g}{dims}, n={self.n_samples_seen_})"

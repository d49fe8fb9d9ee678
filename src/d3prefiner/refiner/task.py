"""The engine's task of training a refiner (paper Sec. III-C2): its data and batches, the loss and
the validation.

Data: windows of ``config.window`` frames cut every ``config.train_stride`` frames from a predictions
file that has ground truth (ideally cross-fitted predictions: the lifter never saw those subjects).
Each step draws random windows, samples the error e (CND sample given the clip's own
``[y, x_noisy]``, or the estimator's own error with ``use_cnd=False``), a time step t,
``x_t = q_sample(x0, e, t)``, and regresses ``e / e_scale`` with the PoseDenoiser.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.windows import window_index
from ..denoiser import PoseDenoiser
from ..diffusion import cosine_alphas_bar, per_sample_loss, q_sample
from ..errors import D3PRError
from ..metrics import mpjpe, p_mpjpe
from ..predictions import Predictions
from .calibration import AT_FULL_STRENGTH, BonePrior
from .config import RefinerConfig
from .core import Refiner, data_stats, main_rate, start_pose
from .features import geometry_channels, sequence_features
from .guard import guard_stats

_SCALE_WINDOWS = 2048


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + 7919 * (epoch + 1)) % (2**63 - 1)


#: Fewest windows' worth of training frames a refiner is trained on.
MIN_TRAIN_WINDOWS = 4


def min_train_frames(window: int) -> int:
    """Fewest training frames for windows of ``window`` frames."""
    return MIN_TRAIN_WINDOWS * window


class WindowData:
    """All training frames back to back plus the ``(W, T)`` frame index of every window.

    Args:
        preds: predictions with ``gt3d``.
        T: window length. stride: window stride.
        geometry: ``RefinerConfig.geometry``: the geometric features of each sequence, computed
            once from its estimate, 2D and camera (never its ``gt3d``), are kept in ``geo``.
    """

    def __init__(self, preds: Predictions, T: int, stride: int, geometry: str = "none") -> None:
        if len(preds) == 0:
            raise D3PRError("training predictions: no sequences")
        if not preds.has_gt:
            raise D3PRError("training predictions: every sequence needs gt3d")
        pose2d = preds.concat("pose2d").astype(np.float32)
        pred3d = preds.concat("pred3d").astype(np.float32)
        gt3d = preds.concat("gt3d").astype(np.float32)
        self.stats = data_stats(pose2d, pred3d, main_rate(preds))
        self.stats["guard"] = guard_stats((s.pose2d, s.pred3d) for s in preds)
        self.stats["estimator"] = preds.estimator
        prior = BonePrior.of(preds)
        if prior is not None:
            self.stats["bones"] = prior.to_dict()
        self.pose2d = torch.from_numpy(pose2d)  # (N, J, 2)
        self.pred3d = torch.from_numpy(pred3d - pred3d[:, :1])  # (N, J, 3) root-relative
        self.gt3d = torch.from_numpy(gt3d - gt3d[:, :1])  # (N, J, 3)
        self.geo = None  # (N, J, C) or None
        if geometry_channels(geometry):
            feats = [sequence_features(geometry, s.pose2d, s.pred3d, s.intrinsics) for s in preds]
            self.geo = torch.from_numpy(np.concatenate(feats))  # (N, J, C)
        index, offset = [], 0
        for s in preds:
            index.append(offset + window_index(s.num_frames, T, stride))
            offset += s.num_frames
        self.index = torch.from_numpy(np.concatenate(index).astype(np.int64))  # (W, T)

    def __len__(self) -> int:
        return len(self.index)

    def gather(self, ids: torch.Tensor):
        """Windows ``ids (B,)`` → ``y (B, T, J, 2)``, ``x_noisy (B, T, J, 3)``, ``x0 (B, T, J, 3)``."""
        idx = self.index[ids]  # (B, T)
        return self.pose2d[idx], self.pred3d[idx], self.gt3d[idx]

    def gather_geo(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Windows ``ids (B,)`` → ``(geo (B, T, J, C),)``, or ``()`` without geometry."""
        return () if self.geo is None else (self.geo[self.index[ids]],)


def make_batch(config: RefinerConfig, noise_model, data: WindowData, ids, g: torch.Generator):
    """Draw one (global) training batch on CPU with generator ``g``.

    Returns:
        ``y (B,T,J,2)``, ``x0 (B,T,J,3)``, ``e (B,T,J,3)`` (the error — or residual in residual mode
        — the network must predict), ``x_start (B,T,J,3)`` (the pose the sampler would start from),
        ``t (B,)`` long, then ``geo (B,T,J,C)`` when ``config.geometry`` asks for it.
    """
    y, xn, x0 = data.gather(ids)
    x_start = start_pose(config, noise_model, y, xn)
    if config.use_cnd:
        kw = {"temporal": config.noise_temporal} if config.noise_temporal else {}
        if config.mode == "paper":
            e = noise_model.sample_error(y, xn, g, **kw)
        else:
            e = noise_model.residual_sample(y, xn, g, **kw)
        e = e.to(torch.float32)
    else:
        e = x_start - x0  # the estimator's own error (residual mode: minus μ_{a|b})
    e = e - e[..., :1, :]  # root error is 0 (root-relative poses)
    t = torch.randint(0, config.num_steps, (len(ids),), generator=g)
    return (y, x0, e, x_start, t, *data.gather_geo(ids))


def estimate_e_scale(config, noise_model, data: WindowData) -> float:
    """Mean per-joint magnitude of the training errors e (metres), over non-root joints."""
    g = torch.Generator().manual_seed(_epoch_seed(config.loop.seed, -2))
    n = min(len(data), _SCALE_WINDOWS)
    ids = torch.randperm(len(data), generator=g)[:n]
    e = make_batch(config, noise_model, data, ids, g)[2]
    scale = float(e[..., 1:, :].norm(dim=-1).mean())
    if not np.isfinite(scale) or scale <= 0:
        raise D3PRError(f"training errors have mean magnitude {scale}; cannot normalise")
    return scale


def batch_loss(
    model, config: RefinerConfig, alphas_bar, y, x0, e, x_start, t, geo=None
) -> torch.Tensor:
    """Per-sample loss ``(B,)`` of the denoiser on one batch (all tensors on the model's device;
    ``geo (B, T, J, C)`` with ``config.geometry``)."""
    scale = model.module.e_scale if hasattr(model, "module") else model.e_scale
    x_cond = x_start if config.input_noisy else None
    target = e / scale
    if config.use_diffusion:
        x_t = q_sample(x0, e, t, alphas_bar)
        e_hat = model(x_t, y, t, x_cond, geo).float()
    else:
        e_hat = model(x0 + e, y, None, x_cond, geo).float()
    if config.loss_x0:
        ab = alphas_bar.to(t.device)[t].to(e.dtype).reshape(-1, 1, 1, 1)
        w = (1 - ab).sqrt() / ((1 - ab).sqrt() + ab.sqrt())  # x̂0 − x0 = w·(e − ê)
        return per_sample_loss(w * e_hat, w * target, config.loss)
    return per_sample_loss(e_hat, target, config.loss)


# -- validation ----------------------------------------------------------------------------------
def validate(refiner: Refiner, val_preds: Predictions, batch_size: int = 256) -> dict:
    """Base, refined and closed-form-CND MPJPE / P-MPJPE (mm) on predictions with ground truth."""
    gt = torch.from_numpy(val_preds.concat("gt3d")).double()  # (N, J, 3)
    base = torch.from_numpy(val_preds.concat("pred3d")).double()
    ref = refiner.apply(val_preds, AT_FULL_STRENGTH, batch_size=batch_size)
    refined = torch.from_numpy(ref.predictions.concat("pred3d")).double()
    out = {
        "val_mpjpe_base_mm": 1000 * float(mpjpe(base, gt, align="root").mean()),
        "val_mpjpe_refined_mm": 1000 * float(mpjpe(refined, gt, align="root").mean()),
        "val_pmpjpe_base_mm": 1000 * float(p_mpjpe(base, gt).mean()),
        "val_pmpjpe_refined_mm": 1000 * float(p_mpjpe(refined, gt).mean()),
    }
    nm = refiner.noise_model
    if nm is not None:
        cf = []
        with torch.inference_mode():
            for s in val_preds:
                y = torch.from_numpy(s.pose2d)[None]
                x = torch.from_numpy(s.pred3d - s.pred3d[:, :1])[None]
                cf.append((x - nm.mean_error(y, x).to(x.dtype))[0].double())
        cf = torch.cat(cf)
        out["val_mpjpe_closed_form_mm"] = 1000 * float(mpjpe(cf, gt, align="root").mean())
    return out


class RefinerTask:
    """The engine's task for a refiner: random training windows of ``data`` with CND samples, the
    denoising loss, and the validation refined-vs-base MPJPE of the network being trained (the
    kept weights minimise the refined one).

    ``e_scale``: the mean magnitude of the training errors (:func:`estimate_e_scale`), measured
    when ``measure_scale`` (a run that starts from a trained refiner keeps that refiner's).
    """

    metric = "val_mpjpe_refined_mm"

    def __init__(
        self,
        config: RefinerConfig,
        data: WindowData,
        noise_model,
        val_preds: Predictions | None = None,
        val_batch_size: int = 256,
        *,
        measure_scale: bool = True,
        device: str | torch.device = "cpu",
    ) -> None:
        self.config, self.data, self.noise_model = config, data, noise_model
        self.val_preds, self.val_batch_size = val_preds, val_batch_size
        self.frames_per_sample = config.window
        self.e_scale = estimate_e_scale(config, noise_model, data) if measure_scale else None
        self.device = torch.device(device)
        self._alphas_bar: torch.Tensor | None = None

    @property
    def alphas_bar(self) -> torch.Tensor:
        """The diffusion's ᾱ_t on the task's device (made on first use)."""
        if self._alphas_bar is None:
            ab = cosine_alphas_bar(self.config.num_steps, terminal=self.config.terminal)
            self._alphas_bar = ab.to(self.device)
        return self._alphas_bar

    def refiner(self, model: PoseDenoiser) -> Refiner:
        """The refiner of ``model`` (the network being trained) with this task's data."""
        return Refiner(self.config, model, self.noise_model, self.data.stats)

    def draw(self, n: int, gen: torch.Generator):
        ids = torch.randint(0, len(self.data), (n,), generator=gen)
        return make_batch(self.config, self.noise_model, self.data, ids, gen)

    def loss(self, net, batch) -> torch.Tensor:
        return batch_loss(net, self.config, self.alphas_bar, *batch)

    def validate(self, model) -> dict[str, float]:
        if self.val_preds is None:
            return {}
        return validate(self.refiner(model), self.val_preds, self.val_batch_size)

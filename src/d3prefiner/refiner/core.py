"""The Refiner: load a checkpoint directory, refine 3D pose sequences of any length, and apply the
refinement to a predictions file under its calibration (:meth:`Refiner.apply`).

A checkpoint directory describes itself:

* ``config.json`` — ``{"refiner": RefinerConfig, "version", "e_scale", "data", "calibration"}``:
  ``data`` holds the training inputs' ranges (``pose2d_absmax``: 99.9th percentile of |y|;
  ``pose3d_scale``: mean distance of a joint from the root, metres), used to refuse input in other
  units (millimetres, pixels); ``calibration`` is the
  :class:`~d3prefiner.refiner.calibration.Calibration` record: how the refiner is applied by
  default (strength, correction part, filter, guard range, training frame rate) and the
  validation scores behind those choices. Checkpoints written before that record kept its parts
  in ``data`` (``fps``, ``guard``) and in ``strength`` and ``smoothing`` entries; they still load.
* ``model.safetensors`` — the PoseDenoiser weights (with the ``e_scale`` buffer);
* ``noise.safetensors`` — the fitted noise model (needed to refine in residual mode);
* ``state.safetensors``, ``history.json`` — the training engine's resume point and log
  (:mod:`d3prefiner.engine.loop`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.resample import RATE_TOLERANCE, check_rate, interp_frames, resample_times
from ..data.windows import OverlapAverage, window_index
from ..denoiser import PoseDenoiser
from ..diffusion import DDIMScheduler, cosine_alphas_bar
from ..errors import D3PRError, check_joints, check_same_length
from ..io import load_json, load_safetensors, save_json, save_safetensors
from ..predictions import Predictions, check_units
from ..skeleton import NUM_JOINTS
from ..version import __version__
from .calibration import Applied, ApplyOptions, BonePrior, Calibration
from .config import RefinerConfig
from .features import sequence_features
from .guard import GuardRange

CONFIG_FILE, MODEL_FILE, NOISE_FILE = "config.json", "model.safetensors", "noise.safetensors"


def make_scheduler(config: RefinerConfig) -> DDIMScheduler:
    """The DDIM scheduler of a config, with its K inference steps set."""
    sched = DDIMScheduler(cosine_alphas_bar(config.num_steps, terminal=config.terminal))
    sched.set_timesteps(config.K)
    return sched


def start_pose(config: RefinerConfig, noise_model, y: torch.Tensor, x_noisy: torch.Tensor):
    """The sampler's start ``x_T``: ``x_noisy`` (paper) or ``x_noisy − μ_{a|b}`` (residual mode).

    ``y (B, T, J, 2)``, ``x_noisy (B, T, J, 3)`` → ``(B, T, J, 3)``.
    """
    if config.mode == "paper":
        return x_noisy
    if noise_model is None:
        raise D3PRError("residual mode needs the fitted noise model (noise.safetensors)")
    mu = noise_model.mean_error(y, x_noisy).to(device=x_noisy.device, dtype=x_noisy.dtype)
    return x_noisy - mu


def sample_x0(
    model: PoseDenoiser, config: RefinerConfig, sched, y, x_start, geo=None
) -> torch.Tensor:
    """Run the reverse process from ``x_start (B, T, J, 3)`` given ``y (B, T, J, 2)`` (and the
    geometric conditioning ``geo (B, T, J, C)`` of ``config.geometry``) → x̂0."""
    scale = model.e_scale
    x_cond = x_start if config.input_noisy else None
    if not config.use_diffusion:
        return x_start - model(x_start, y, None, x_cond, geo) * scale
    x = x_start
    for t in sched.timesteps:
        e_hat = model(x, y, t, x_cond, geo) * scale  # (B, T, J, 3) metres
        x = sched.step(e_hat, t, x)
    return x


def causal_index(n_frames: int, T: int) -> np.ndarray:
    """``(F, T)`` frame indices of the window that ends at each frame, ``f − T + 1 … f`` (the first
    frame repeated before the start): refining frame f from it reads no later frame."""
    return np.clip(np.arange(n_frames)[:, None] - (T - 1) + np.arange(T)[None, :], 0, None)


def data_stats(pose2d: np.ndarray, pose3d: np.ndarray, fps: float | None = None) -> dict:
    """Ranges of training inputs ``pose2d (N, J, 2)``, ``pose3d (N, J, 3)`` stored in config.json,
    with their frame rate ``fps`` when given."""
    rel = pose3d - pose3d[:, :1]
    return {
        "pose2d_absmax": float(np.percentile(np.abs(pose2d), 99.9)),
        "pose3d_scale": float(np.linalg.norm(rel[:, 1:], axis=-1).mean()),
        **({"fps": float(fps)} if fps else {}),
    }


def main_rate(preds: Predictions) -> float:
    """The frame rate of most of the frames of ``preds``."""
    frames: dict[float, int] = {}
    for s in preds:
        frames[float(s.fps)] = frames.get(float(s.fps), 0) + s.num_frames
    return max(frames, key=frames.get)


class Refiner:
    """A trained D3PRefiner: PoseDenoiser + diffusion schedule + (optionally) the noise model.

    Args:
        config: the :class:`RefinerConfig` it was trained with.
        model: the :class:`PoseDenoiser` (its ``e_scale`` buffer set).
        noise_model: the fitted noise model (required in residual mode).
        data: training input ranges (see :func:`data_stats`), used to reject mismatched units;
            its ``fps``, ``guard``, ``estimator`` and ``bones`` entries, when present, go into the
            calibration.
        calibration: how it is applied by default (:class:`Calibration`; default: uncalibrated,
            the config's correction part, the training ``fps`` and ``guard`` of ``data``).
        history: the training engine's records, for a refiner just trained.
    """

    def __init__(
        self,
        config: RefinerConfig,
        model: PoseDenoiser,
        noise_model=None,
        data: dict | None = None,
        calibration: Calibration | None = None,
        history: list[dict] | tuple = (),
    ) -> None:
        if config.mode == "residual" and noise_model is None:
            raise D3PRError("residual mode needs the fitted noise model")
        self.config = config
        self.model = model.eval()
        self.noise_model = noise_model
        data = dict(data or {})
        fps, guard = data.pop("fps", None), data.pop("guard", None)
        estimator, bones = data.pop("estimator", None), data.pop("bones", None)
        if isinstance(guard, dict):
            guard = GuardRange.from_dict(guard)
        self.data = data
        self.calibration = calibration or Calibration(
            correct=config.correct,
            guard=guard,
            fps=float(fps) if fps else None,
            estimators=(estimator,) if estimator else (),
            bones=BonePrior.from_dict(bones) if bones else None,
        )
        self.history = list(history)
        self._scheduler: DDIMScheduler | None = None
        self.precision = "fp32"

    @property
    def scheduler(self) -> DDIMScheduler:
        """The DDIM scheduler of the config, with its K inference steps set (made on first use)."""
        if self._scheduler is None:
            self._scheduler = make_scheduler(self.config)
        return self._scheduler

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def set_steps(self, K: int) -> Refiner:
        """Use ``K`` DDIM steps at inference (the network is unchanged); returns self."""
        if not self.config.use_diffusion and K != 1:
            raise D3PRError("a refiner trained without diffusion takes exactly one step (K=1)")
        self.config = self.config.replace(K=int(K))  # validates 1 <= K <= num_steps
        self._scheduler = None
        return self

    def set_precision(self, precision: str) -> Refiner:
        """Run refinement in ``fp32`` (default), ``bf16`` or ``auto`` (bf16 where the hardware
        computes it natively; the output head stays fp32); returns self."""
        from ..engine import resolve_precision

        resolve_precision(precision, self.device)  # validates the name
        self.precision = precision
        return self

    def to(self, device) -> Refiner:
        self.model.to(device)
        return self

    @property
    def fps(self) -> float | None:
        """The frame rate of the predictions it was trained on (None: a checkpoint saved before
        refiners recorded it; such input is refined at its own rate)."""
        return self.calibration.fps

    def refine_rate(self, fps: float | None, resample: bool = True) -> float | None:
        """The rate a sequence at ``fps`` is refined at when it is not its own: the training
        rate where ``resample`` and the two differ, else None (refined as it is)."""
        if not resample or fps is None or self.fps is None:
            return None
        fps = check_rate(fps, "input")
        return self.fps if abs(fps / self.fps - 1.0) > RATE_TOLERANCE else None

    # -- core ----------------------------------------------------------------------------------
    @torch.inference_mode()
    def refine_windows(self, pose2d: torch.Tensor, pose3d: torch.Tensor, geo=None) -> torch.Tensor:
        """Refine a batch of windows (no input checks): ``(B, T, J, 2)``, ``(B, T, J, 3)`` (and
        ``geo (B, T, J, C)``, :mod:`~d3prefiner.refiner.features`, when ``config.geometry`` asks
        for it) → ``(B, T, J, 3)`` on the model's device, root-relative metres."""
        from ..engine import autocast, resolve_precision

        y = pose2d.to(self.device, torch.float32)
        x = pose3d.to(self.device, torch.float32)
        x_start = start_pose(self.config, self.noise_model, y, x)
        geo = None if geo is None else geo.to(self.device, torch.float32)
        with autocast(resolve_precision(self.precision, self.device), self.device):
            return sample_x0(self.model, self.config, self.scheduler, y, x_start, geo).float()

    def _check(self, pose2d, pose3d, name: str) -> tuple[np.ndarray, np.ndarray]:
        pose2d = pose2d.detach().cpu().numpy() if isinstance(pose2d, torch.Tensor) else pose2d
        pose3d = pose3d.detach().cpu().numpy() if isinstance(pose3d, torch.Tensor) else pose3d
        pose2d, pose3d = np.asarray(pose2d), np.asarray(pose3d)
        for arr, dim, what in ((pose2d, 2, "pose2d"), (pose3d, 3, "pose3d")):
            if arr.ndim != 3:
                raise D3PRError(
                    f"{name} {what}: expected shape (F, {NUM_JOINTS}, {dim}), got {arr.shape}"
                )
            check_joints(arr, NUM_JOINTS, dim, f"{name} {what}")
        check_same_length([pose2d, pose3d], [f"{name} pose2d", f"{name} pose3d"])
        if len(pose3d) == 0:
            raise D3PRError(f"{name}: no frames")
        check_units(
            None, pose3d, f"{name} pose3d", scale=self.data.get("pose3d_scale"),
            trained="the checkpoint was trained on",
        )  # fmt: skip
        check_units(pose2d, None, f"{name} pose2d", absmax=self.data.get("pose2d_absmax"))
        return pose2d.astype(np.float32), pose3d.astype(np.float32)

    def refine(
        self,
        pose2d,
        pose3d,
        batch_size: int = 256,
        device=None,
        stride: int | None = None,
        progress: bool = False,
        name: str = "input",
        fps: float | None = None,
        resample: bool = True,
        intrinsics=None,
        causal: bool = False,
    ) -> np.ndarray:
        """Refine one sequence of any length ≥ 1 frame.

        The sequence is cut into overlapping windows of ``config.window`` frames (start every
        ``stride`` frames, default ``config.refine_stride``; the last window aligned to the end; a
        sequence shorter than a window is edge-padded) and refined ``batch_size`` windows at a time
        under ``torch.inference_mode()``; frames covered by several windows are averaged, so every
        frame is output exactly once. Memory beyond the output is bounded by one window batch.

        Args:
            pose2d: ``(F, 17, 2)`` VideoPose3D-normalised 2D (numpy or torch).
            pose3d: ``(F, 17, 3)`` estimated 3D, metres, camera frame (re-centred on the root
                internally; the root trajectory is passed through unchanged).
            batch_size: windows per forward pass.
            device: where to run (default: where the model is).
            stride: window stride (1 … window).
            progress: show a tqdm bar over batches.
            name: used in error messages.
            fps: the sequence's frame rate. When it is not the rate the refiner was trained at
                (:attr:`fps`) and ``resample`` holds, the sequence is read at the training rate
                (linear interpolation in time, :mod:`~d3prefiner.data.resample`), refined there,
                and the correction (refined − input) is interpolated back to every input frame:
                the network always sees motion at the speed it learned, and the input's own
                frames keep their detail.
            resample: False refines at the input's rate whatever it is.
            intrinsics: the sequence's camera (:class:`~d3prefiner.geometry.Intrinsics`; None:
                the default one), read only by a refiner with ``config.geometry``.
            causal: refine each frame from the window that ends at it (:func:`causal_index`), so
                that no output frame depends on a later input frame (``stride`` is not used). At
                the training rate (``resample``), each input frame takes the correction of the last
                resampled frame at or before it (a hold of at most one training-rate frame).

        Returns:
            Refined poses ``(F, 17, 3)`` float32, same frame and root as ``pose3d``.

        Raises:
            D3PRError: bad shapes, NaN/inf, differing frame counts, or units/normalisation that do
                not match the checkpoint.
        """
        pose2d, pose3d = self._check(pose2d, pose3d, name)
        if batch_size < 1:
            raise D3PRError(f"batch_size must be >= 1, got {batch_size}")
        if device is not None:
            self.to(device)
        T = self.config.window
        stride = self.config.refine_stride if stride is None else int(stride)
        if not 1 <= stride <= T:
            raise D3PRError(f"stride must be in [1, {T}], got {stride}")
        root = pose3d[:, :1].copy()  # (F, 1, 3)
        rel = pose3d - root  # (F, 17, 3) float32
        rate = self.refine_rate(fps, resample)
        # refine at the training rate (the input's frames read there), the correction back at the
        # input's frames
        t = None if rate is None else resample_times(len(rel), fps, rate)  # (F', ) input frames
        rel_r = rel if t is None else interp_frames(rel.astype(np.float64), t)
        y_r = pose2d if t is None else interp_frames(pose2d, t)
        out_r = self._refine_rel(y_r, rel_r, batch_size, stride, progress, intrinsics, causal)
        if t is None:
            out = out_r
        else:
            back = np.arange(len(rel)) * (rate / float(fps))  # input frames, in resampled frames
            if causal:  # the correction of the last resampled frame not after each input frame
                out = rel + (out_r - rel_r)[np.floor(back + 1e-9).astype(np.int64)]
            else:
                out = rel + interp_frames(out_r - rel_r, back)
        out[:, 0] = 0.0
        return (out + root).astype(np.float32)

    def _refine_rel(
        self, pose2d, rel, batch_size: int, stride: int, progress: bool, intrinsics, causal: bool
    ) -> np.ndarray:
        """The windowed refinement of root-relative ``rel (F, 17, 3)`` → ``(F, 17, 3)`` float64.

        Overlapping windows every ``stride`` frames, averaged where they overlap, the geometric
        features (if any) computed once for the whole sequence; or, ``causal``, each frame as the
        last output of the window that ends at it (:func:`causal_index`), its features from that
        window alone."""
        T, F = self.config.window, len(rel)
        rel = rel.astype(np.float32, copy=False)
        geometry = self.config.geometry
        index = causal_index(F, T) if causal else window_index(F, T, stride)  # (W, T)
        feats = None if causal else sequence_features(geometry, pose2d, rel, intrinsics)
        acc = None if causal else OverlapAverage(F, (NUM_JOINTS, 3))
        out = np.empty(rel.shape, dtype=np.float64) if causal else None
        batches = range(0, len(index), batch_size)
        for b in tqdm(batches, desc="refine", disable=not progress, leave=False):
            idx = index[b : b + batch_size]  # (B, T)
            if causal:
                g = [sequence_features(geometry, pose2d[i], rel[i], intrinsics) for i in idx]
                geo = None if g[0] is None else torch.from_numpy(np.stack(g))  # (B, T, 17, C)
            else:
                geo = None if feats is None else torch.from_numpy(feats[idx])  # (B, T, 17, C)
            y, x = torch.from_numpy(pose2d[idx]), torch.from_numpy(rel[idx])  # (B, T, 17, 2 / 3)
            windows = self.refine_windows(y, x, geo).double().cpu().numpy()  # (B, T, 17, 3)
            if causal:
                out[b : b + len(idx)] = windows[:, -1]
            else:
                acc.add(idx, windows)
        return out if causal else acc.result()

    def apply(
        self,
        preds: Predictions,
        options: ApplyOptions | None = None,
        *,
        full: Predictions | None = None,
        batch_size: int = 256,
        progress: bool = False,
    ) -> Applied:
        """Refine every sequence of a predictions file under the calibration and ``options``: the
        one way a refiner is applied (``d3pr refine``, ``d3pr calibrate``, training's final
        calibration and every study).

        Each sequence's output depends on that sequence alone: ``x + α·w·(refined − x)`` (camera x, y only for the in-plane
        part), where ``refined`` is the network's output at the training rate (``resample``),
        α the strength and ``w`` the guard's weight (1 unless ``guard="shrink"`` and the sequence
        is out of the training estimator's range); sequences with ``α·w = 0`` are passed through
        without running the network. Then the geometric step and the filter, if any:
        ``smooth="auto"`` (the default) applies the calibration's, with its parameters scaled to
        each sequence's rate when ``resample``.
        A file of an estimator the refiner was neither trained nor calibrated on
        (:meth:`Calibration.knows`) gets only :meth:`Calibration.for_unseen` (a pooled refiner's
        in-plane part; nothing from a refiner of one estimator) unless ``strength`` or ``correct``
        is given.

        Args:
            preds: the predictions to refine (``pose2d (F, 17, 2)``, ``pred3d (F, 17, 3)`` per
                sequence; metres, camera frame).
            options: :class:`ApplyOptions` (default: ``d3pr refine``'s defaults).
            full: the network's own output on ``preds`` (``self.apply(preds, FULL).predictions``), when the
                caller has it: it is used instead of running the network again.
            batch_size: windows per forward pass.
            progress: a progress bar over sequences.

        Returns:
            :class:`Applied`: the refined predictions and what was applied.
        """
        if len(preds) == 0:
            raise D3PRError("predictions: no sequences to refine")
        if full is not None and len(full) != len(preds):
            raise D3PRError(f"{len(preds)} sequences but {len(full)} refined ones")
        opts = options or ApplyOptions()
        plan = self.calibration.plan(opts, preds)
        refined = []
        for i, s in enumerate(tqdm(preds, desc="refine", unit="seq", disable=not progress)):
            where = f"sequence {s.subject}/{s.action}/{s.camera}"
            if not plan.runs(i):
                self._check(s.pose2d, s.pred3d, where)  # the same input checks, no network
                refined.append(None)
            elif full is not None and not opts.causal:
                refined.append(full.sequences[i].pred3d)
            else:
                refined.append(self.refine(s.pose2d, s.pred3d, batch_size, name=where, fps=s.fps,
                                           resample=opts.resample, intrinsics=s.intrinsics,
                                           causal=opts.causal))  # fmt: skip
        return plan.finish(preds, refined)

    # -- files ---------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """Write ``config.json``, ``model.safetensors`` and ``noise.safetensors`` (atomically)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_safetensors(
            d / MODEL_FILE,
            self.model.state_dict(),
            {"format": "d3prefiner.PoseDenoiser", "version": __version__},
        )
        if self.noise_model is not None:
            self.noise_model.save(d / NOISE_FILE)
        save_json(
            d / CONFIG_FILE,
            {
                "format": "d3prefiner.Refiner",
                "version": __version__,
                "refiner": self.config.to_dict(),
                "e_scale": float(self.model.e_scale),
                "data": self.data,
                "calibration": self.calibration.to_dict(),
            },
        )

    @classmethod
    def load(cls, directory: str | os.PathLike, device="cpu", noise_model=None) -> Refiner:
        """Load a checkpoint directory (see the module docstring).

        Args:
            directory: the checkpoint directory.
            device: where to put the network.
            noise_model: use this noise model instead of ``noise.safetensors``.

        Raises:
            D3PRError: missing files, bad config, or weights that do not match the config.
        """
        d = Path(directory)
        if d.is_file():
            raise D3PRError(f"{d}: is a file, not a checkpoint directory (from `d3pr train`)")
        if not d.is_dir():
            raise D3PRError(f"{d}: checkpoint directory not found")
        meta = load_json(d / CONFIG_FILE)
        if "refiner" not in meta:
            raise D3PRError(f"{d / CONFIG_FILE}: not a refiner config (no 'refiner' key)")
        config = RefinerConfig.from_dict(meta["refiner"], str(d / CONFIG_FILE))
        model = load_model(config, d / MODEL_FILE)
        if noise_model is None and (d / NOISE_FILE).exists():
            from ..noise import load_noise_model

            noise_model = load_noise_model(d / NOISE_FILE)
        if config.mode == "residual" and noise_model is None:
            raise D3PRError(f"{d}: residual-mode checkpoint without {NOISE_FILE}")
        where = str(d / CONFIG_FILE)
        data = meta.get("data") or {}
        if "calibration" in meta:
            calibration = Calibration.from_dict(meta["calibration"], where)
        else:  # written before calibration records
            calibration = Calibration.from_legacy(
                data, meta.get("strength"), meta.get("smoothing"), config.correct, where
            )
        return cls(config, model.to(device), noise_model, data, calibration)


def load_model(config: RefinerConfig, path: Path) -> PoseDenoiser:
    """Build the PoseDenoiser of ``config`` and load ``path`` into it (strict)."""
    tensors, _ = load_safetensors(path)
    model = PoseDenoiser(config.denoiser_config())
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[1:4]) or first[0]
        raise D3PRError(f"{path}: weights do not match config.json ({detail})") from None
    return model.eval()

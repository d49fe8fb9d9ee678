"""Training a D3PRefiner (paper Sec. III-C2), single- or multi-process (PyTorch DDP).

Data: windows of ``config.window`` frames cut every ``config.train_stride`` frames from a predictions
file that has ground truth (ideally cross-fitted predictions: the lifter never saw those subjects).
Each step: sample the error e (CND sample given the clip's own ``[y, x_noisy]``, or the estimator's
own error with ``use_cnd=False``), a time step t, ``x_t = q_sample(x0, e, t)``, and regress
``e / e_scale`` with the PoseDenoiser. Adam (β = 0.9, 0.999), lr × ``lr_decay`` each epoch.

Reproducibility: every random draw of epoch ``n`` comes from a generator seeded with
``(config.seed, n)``, so a run resumed after a kill repeats exactly the run that was not killed.
With DDP, every rank draws the whole *global* batch (same generator) and keeps its contiguous shard;
each rank's loss is ``sum(local per-sample losses) · world / global_batch`` so that DDP's gradient
average equals the gradient of the global mean: losses equal a one-process run with the same global
batch up to floating-point summation order.

Start several processes with ``torchrun --nproc_per_node N -m d3prefiner.cli train ...`` (gloo on
CPU, nccl on CUDA); rank 0 writes the checkpoint and validates.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .. import __version__
from ..data.windows import window_starts
from ..denoiser import PoseDenoiser
from ..diffusion import cosine_alphas_bar, per_sample_loss, q_sample
from ..errors import D3PRError
from ..io import load_json, load_safetensors, save_json, save_safetensors
from ..metrics import mpjpe, p_mpjpe
from ..predictions import Predictions
from .config import RefinerConfig
from .core import METRICS_FILE, Refiner, data_stats, start_pose

STATE_FILE = "train_state.safetensors"
_SCALE_WINDOWS = 2048


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + 7919 * (epoch + 1)) % (2**63 - 1)


class WindowData:
    """All training frames back to back plus the ``(W, T)`` frame index of every window.

    Args:
        preds: predictions with ``gt3d``.
        T: window length. stride: window stride.
    """

    def __init__(self, preds: Predictions, T: int, stride: int) -> None:
        if len(preds) == 0:
            raise D3PRError("training predictions: no sequences")
        if not preds.has_gt:
            raise D3PRError("training predictions: every sequence needs gt3d")
        pose2d = preds.concat("pose2d").astype(np.float32)
        pred3d = preds.concat("pred3d").astype(np.float32)
        gt3d = preds.concat("gt3d").astype(np.float32)
        self.stats = data_stats(pose2d, pred3d)
        self.pose2d = torch.from_numpy(pose2d)  # (N, J, 2)
        self.pred3d = torch.from_numpy(pred3d - pred3d[:, :1])  # (N, J, 3) root-relative
        self.gt3d = torch.from_numpy(gt3d - gt3d[:, :1])  # (N, J, 3)
        index, offset = [], 0
        for s in preds:
            F = s.num_frames
            starts = np.asarray(window_starts(F, T, stride))
            index.append(offset + np.minimum(starts[:, None] + np.arange(T)[None], F - 1))
            offset += F
        self.index = torch.from_numpy(np.concatenate(index).astype(np.int64))  # (W, T)

    def __len__(self) -> int:
        return len(self.index)

    def gather(self, ids: torch.Tensor):
        """Windows ``ids (B,)`` → ``y (B, T, J, 2)``, ``x_noisy (B, T, J, 3)``, ``x0 (B, T, J, 3)``."""
        idx = self.index[ids]  # (B, T)
        return self.pose2d[idx], self.pred3d[idx], self.gt3d[idx]


def make_batch(config: RefinerConfig, noise_model, data: WindowData, ids, g: torch.Generator):
    """Draw one (global) training batch on CPU with generator ``g``.

    Returns:
        ``y (B,T,J,2)``, ``x0 (B,T,J,3)``, ``e (B,T,J,3)`` (the error — or residual in residual mode
        — the network must predict), ``x_start (B,T,J,3)`` (the pose the sampler would start from),
        ``t (B,)`` long.
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
    return y, x0, e, x_start, t


def estimate_e_scale(config, noise_model, data: WindowData) -> float:
    """Mean per-joint magnitude of the training errors e (metres), over non-root joints."""
    g = torch.Generator().manual_seed(_epoch_seed(config.seed, -2))
    n = min(len(data), _SCALE_WINDOWS)
    ids = torch.randperm(len(data), generator=g)[:n]
    _, _, e, _, _ = make_batch(config, noise_model, data, ids, g)
    scale = float(e[..., 1:, :].norm(dim=-1).mean())
    if not np.isfinite(scale) or scale <= 0:
        raise D3PRError(f"training errors have mean magnitude {scale}; cannot normalise")
    return scale


def batch_loss(model, config: RefinerConfig, alphas_bar, y, x0, e, x_start, t) -> torch.Tensor:
    """Per-sample loss ``(B,)`` of the denoiser on one batch (all tensors on the model's device)."""
    scale = model.module.e_scale if hasattr(model, "module") else model.e_scale
    x_cond = x_start if config.input_noisy else None
    target = e / scale
    if config.use_diffusion:
        x_t = q_sample(x0, e, t, alphas_bar)
        e_hat = model(x_t, y, t, x_cond)
    else:
        e_hat = model(x0 + e, y, None, x_cond)
    if config.loss_x0:
        ab = alphas_bar.to(t.device)[t].to(e.dtype).reshape(-1, 1, 1, 1)
        w = (1 - ab).sqrt() / ((1 - ab).sqrt() + ab.sqrt())  # x̂0 − x0 = w·(e − ê)
        return per_sample_loss(w * e_hat, w * target, config.loss)
    return per_sample_loss(e_hat, target, config.loss)


def init_distributed(device: str | torch.device = "cpu") -> tuple[int, int]:
    """Join the process group if launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    Returns ``(rank, world_size)``; ``(0, 1)`` when not distributed.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend)
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# -- checkpoint state --------------------------------------------------------------------------
def _save_state(path: Path, model, opt, epoch: int, history: list, config: RefinerConfig) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    sd = opt.state_dict()
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = torch.as_tensor(v)
    meta = {
        "epoch": str(epoch),
        "param_groups": json.dumps(sd["param_groups"]),
        "history": json.dumps(history),
        "config": json.dumps(config.to_dict()),
        "version": __version__,
    }
    save_safetensors(path, tensors, meta)


def _load_state(path: Path, model, opt, config: RefinerConfig) -> tuple[int, list]:
    tensors, meta = load_safetensors(path)
    try:
        saved = json.loads(meta["config"])
        epoch = int(meta["epoch"])
        groups = json.loads(meta["param_groups"])
        history = json.loads(meta["history"])
    except (KeyError, ValueError) as exc:
        raise D3PRError(f"{path}: not a refiner training state ({exc})") from None
    ours = config.to_dict()
    differ = sorted(k for k in ours if k != "epochs" and saved.get(k) != ours[k])
    if differ:
        raise D3PRError(f"{path}: cannot resume, config differs in {differ}")
    msd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(msd, strict=True)
    except RuntimeError as exc:
        raise D3PRError(f"{path}: weights do not match the config ({exc})") from None
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": groups})
    return epoch, history


# -- validation ----------------------------------------------------------------------------------
def validate(refiner: Refiner, val_preds: Predictions, batch_size: int = 256) -> dict:
    """Base, refined and closed-form-CND MPJPE / P-MPJPE (mm) on predictions with ground truth."""
    gt = torch.from_numpy(val_preds.concat("gt3d")).double()
    gt = gt - gt[:, :1]
    base = torch.from_numpy(val_preds.concat("pred3d")).double()
    base = base - base[:, :1]
    ref = refiner.refine_predictions(val_preds, batch_size=batch_size, progress=False)
    refined = torch.from_numpy(ref.concat("pred3d")).double()
    refined = refined - refined[:, :1]
    out = {
        "val_mpjpe_base_mm": 1000 * float(mpjpe(base, gt).mean()),
        "val_mpjpe_refined_mm": 1000 * float(mpjpe(refined, gt).mean()),
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
        out["val_mpjpe_closed_form_mm"] = 1000 * float(mpjpe(cf, gt).mean())
    return out


# -- the loop --------------------------------------------------------------------------------------
def train_refiner(
    config: RefinerConfig,
    train_preds: Predictions,
    noise_model,
    out_dir: str | os.PathLike,
    val_preds: Predictions | None = None,
    *,
    device: str | torch.device = "cpu",
    resume: bool = False,
    max_minutes: float | None = None,
    progress: bool = True,
    val_batch_size: int = 256,
) -> Refiner:
    """Train a refiner and write its checkpoint directory.

    Args:
        config: hyper-parameters and switches.
        train_preds: training predictions with ``gt3d`` (cross-fitted, ideally).
        noise_model: fitted noise model (``sample_error`` / ``residual_sample`` / ``mean_error``);
            may be None only with ``use_cnd=False`` and ``mode="paper"``.
        out_dir: checkpoint directory (``config.json``, ``model.safetensors``,
            ``noise.safetensors``, ``metrics.json``, ``train_state.safetensors``).
        val_preds: validation predictions with ``gt3d``: refined-vs-base MPJPE each epoch.
        device: where to train (each rank of a DDP run uses it).
        resume: continue from ``out_dir/train_state.safetensors`` (the last completed epoch).
        max_minutes: wall-clock budget; training stops after the step that exceeds it.
        progress: tqdm bars (rank 0 only).
        val_batch_size: windows per batch when validating.

    Returns:
        The trained :class:`Refiner` (on ``device``). Its ``history`` attribute lists the epochs.
    """
    device = torch.device(device)
    rank, world = init_distributed(device)
    distributed = world > 1
    if noise_model is None and (config.use_cnd or config.mode == "residual"):
        raise D3PRError("this configuration needs a fitted noise model (--noise)")
    if val_preds is not None and (len(val_preds) == 0 or not val_preds.has_gt):
        raise D3PRError("validation predictions: need at least one sequence, all with gt3d")
    out = Path(out_dir)
    t_start = time.monotonic()
    data = WindowData(train_preds, config.window, config.train_stride)

    torch.manual_seed(config.seed)
    model = PoseDenoiser(config.denoiser_config())
    model.e_scale.fill_(estimate_e_scale(config, noise_model, data))
    model.to(device)
    opt = torch.optim.Adam(
        model.parameters(),
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        weight_decay=config.weight_decay,
    )
    start_epoch, history = 0, []
    if resume:
        if (out / STATE_FILE).exists():
            start_epoch, history = _load_state(out / STATE_FILE, model, opt, config)
        elif rank == 0:
            tqdm.write(f"{out / STATE_FILE} not found: starting from scratch")
    net = (
        torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
        if distributed
        else model
    )
    refiner = Refiner(config, model, noise_model, data.stats)
    alphas_bar = cosine_alphas_bar(config.num_steps, config.schedule_s, terminal=config.terminal)
    alphas_bar = alphas_bar.to(device)
    B = config.batch_size
    stopped = "completed"
    prior_seconds = float(history[-1]["seconds"]) if history else 0.0

    def over_budget() -> bool:
        flag = torch.tensor(
            [max_minutes is not None and time.monotonic() - t_start > 60 * max_minutes],
            dtype=torch.float32,
        )
        if distributed:
            flag = flag.to(device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    for epoch in range(start_epoch, config.epochs):
        lr = config.lr * config.lr_decay**epoch
        for group in opt.param_groups:
            group["lr"] = lr
        g = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch))
        torch.manual_seed(_epoch_seed(config.seed, epoch) + 1)  # dropout
        perm = torch.randperm(len(data), generator=g)
        model.train()
        loss_sum, n_seen, partial = 0.0, 0, False
        steps = range(0, len(data), B)
        bar = tqdm(
            steps, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress or rank > 0
        )
        for b in bar:
            ids = perm[b : b + B]
            n = len(ids)
            batch = make_batch(config, noise_model, data, ids, g)  # the whole global batch
            if n < world:  # too small to shard: skipped by every rank alike
                continue
            sizes = [len(c) for c in torch.tensor_split(torch.arange(n), world)]
            lo = sum(sizes[:rank])  # contiguous shard of this rank
            shard = [z[lo : lo + sizes[rank]].to(device) for z in batch]
            per = batch_loss(net, config, alphas_bar, *shard)
            total = per.sum()
            opt.zero_grad(set_to_none=True)
            (total * world / n).backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            total = total.detach()
            if distributed:
                dist.all_reduce(total)
            loss_sum += float(total)
            n_seen += n
            bar.set_postfix(loss=f"{loss_sum / n_seen:.4f}")
            if over_budget():
                partial, stopped = True, "time budget"
                break
        bar.close()
        record = {
            "epoch": epoch + 1,
            "lr": lr,
            "train_loss": loss_sum / max(n_seen, 1),
            "windows": n_seen,
            "partial": partial,
        }
        if rank == 0:
            if val_preds is not None:
                record.update(validate(refiner, val_preds, val_batch_size))
            record["seconds"] = prior_seconds + time.monotonic() - t_start
            history.append(record)
            refiner.save(out)
            _write_metrics(out, config, history, stopped, world, data)
            if not partial:
                _save_state(out / STATE_FILE, model, opt, epoch + 1, history, config)
            if progress:
                tqdm.write(_format_record(record))
        else:
            history.append(record)
        if distributed:
            dist.barrier()
        if partial:
            break
    if start_epoch >= config.epochs and rank == 0:
        refiner.save(out)
    refiner.model.eval()
    refiner.history = history
    return refiner


def _format_record(r: dict) -> str:
    s = f"epoch {r['epoch']}: loss {r['train_loss']:.4f}"
    if "val_mpjpe_base_mm" in r:
        s += f", val MPJPE base {r['val_mpjpe_base_mm']:.1f} → refined {r['val_mpjpe_refined_mm']:.1f} mm"
    if "val_mpjpe_closed_form_mm" in r:
        s += f" (closed-form {r['val_mpjpe_closed_form_mm']:.1f})"
    return s + (" [partial: time budget]" if r.get("partial") else "")


def _write_metrics(out: Path, config, history, stopped, world, data) -> None:
    save_json(
        out / METRICS_FILE,
        {
            "version": __version__,
            "stopped": stopped,
            "epochs_completed": sum(1 for r in history if not r.get("partial")),
            "train_seconds": history[-1]["seconds"] if history else 0.0,
            "world_size": world,
            "train_windows": len(data),
            "config": config.to_dict(),
            "epochs": history,
        },
    )


def read_metrics(directory: str | os.PathLike) -> dict:
    """The ``metrics.json`` of a checkpoint directory."""
    return load_json(Path(directory) / METRICS_FILE)

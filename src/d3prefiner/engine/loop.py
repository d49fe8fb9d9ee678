"""The training engine shared by the lifters and the refiner: steps, schedule, precision, validation,
keep-best, budget, bit-identical resume, progress and a self-describing run directory.

A trainer supplies a *task* (duck-typed, see :class:`Task`): how to draw a batch with a generator,
the per-sample loss of a batch, and (optionally) a validation. The engine owns everything else.

Run directory (the same layout for every trainer; the caller writes ``config.json`` and the weights
through its ``export`` callback):

* ``state.safetensors`` — the resume point: weights, Adam state, the kept (best) weights, and in its
  metadata the step, the history and the run's config. Written at every validation and at the end.
* ``history.json`` — steps done and planned, why training stopped (``steps`` / ``budget`` / null
  while running), the precision, seconds, frames/s, and one record per log point (step, lr, loss,
  frames/s, validation metrics), plus the kept step.

Reproducibility: the batch of step ``s`` is drawn from a generator seeded with ``(seed, s)``, and the
global torch RNG (dropout) is re-seeded from ``(seed, s)`` before it, so a run resumed from
``state.safetensors`` repeats exactly the run that was not interrupted (bit-identical weights).

Multi-process (DDP, ``torchrun``): every rank draws the whole global batch with the same generator
and keeps its contiguous shard; a rank's loss is ``sum(local per-sample losses) · world / B`` so that
DDP's gradient average is the gradient of the global mean. Rank 0 validates and writes files.
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from ..errors import ArgumentError, D3PRError, Interrupted
from ..io import load_json, load_safetensors, save_json, save_safetensors
from ..version import __version__
from .precision import PRECISIONS, autocast, resolve_precision
from .schedule import SCHEDULES, lr_at

STATE_FILE, HISTORY_FILE = "state.safetensors", "history.json"
#: Between two log points, the resume point is also written after this many minutes, so that a
#: killed run loses at most this much work.
CHECKPOINT_MINUTES = 5.0


class _StopRequest:
    """Turns the first Ctrl-C / SIGTERM into a flag the step loop reads at a step boundary (so the
    saved state is never half an optimiser step); a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


@dataclass(frozen=True)
class LoopConfig:
    """How to optimise (Adam), in steps.

    Args:
        steps: optimiser steps of the whole run.
        batch_size: samples per (global) step.
        lr: peak learning rate; ``schedule``/``warmup_steps``/``lr_decay``/``decay_every`` shape it
            (:func:`~d3prefiner.engine.schedule.lr_at`).
        betas, weight_decay: Adam's.
        grad_clip: clip the gradient norm to this (0 = off).
        val_every: validate (and checkpoint) every this many steps, and at the end; 0 = only at
            the end. Without a validation, records and checkpoints still follow this period
            (0: 20 log points per run).
        keep_best: export the weights with the best validation metric rather than the last.
        precision: ``auto`` | ``fp32`` | ``bf16`` (:mod:`~d3prefiner.engine.precision`).
        compile: run the training forward through ``torch.compile``.
        seed: seed of every random draw of the run (with the step number).
    """

    steps: int
    batch_size: int = 64
    lr: float = 1e-3
    schedule: str = "cosine"
    warmup_steps: int = 0
    lr_decay: float = 1.0
    decay_every: int = 1000
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float = 0.0
    val_every: int = 0
    keep_best: bool = True
    precision: str = "auto"
    compile: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))  # a JSON list reads back as a tuple
        for name in ("steps", "val_every", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ArgumentError(name, f"must be >= 0, got {getattr(self, name)}")
        for name in ("batch_size", "decay_every"):
            if getattr(self, name) < 1:
                raise ArgumentError(name, f"must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ArgumentError("lr", f"must be > 0, got {self.lr}")
        if not 0 < self.lr_decay <= 1:
            raise ArgumentError("lr_decay", f"must be in (0, 1], got {self.lr_decay}")
        if self.schedule not in SCHEDULES:
            raise ArgumentError("schedule", f"must be one of {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            raise ArgumentError("precision", f"must be one of {', '.join(PRECISIONS)}")
        for name in ("grad_clip", "weight_decay"):
            if getattr(self, name) < 0:
                raise ArgumentError(name, f"must be >= 0, got {getattr(self, name)}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ArgumentError("betas", f"(Adam's) must be in [0, 1), got {self.betas}")

    @property
    def log_every(self) -> int:
        return self.val_every or max(1, math.ceil(self.steps / 20))


#: Help of every :class:`LoopConfig` field (the ``d3pr train`` / ``d3pr lifter train`` options).
LOOP_HELP: dict[str, str] = {
    "steps": "Optimiser steps of the whole run (default: the preset's).",
    "batch_size": "Samples (windows) per global optimiser step (default: the preset's).",
    "lr": "Peak learning rate (default: the preset's).",
    "schedule": "Learning-rate schedule: cosine (to 0) | step | constant.",
    "warmup_steps": "Linear learning-rate warm-up steps (default: the preset's).",
    "lr_decay": "The step schedule's factor every --decay-every steps.",
    "decay_every": "Steps between two decays of the step schedule.",
    "betas": "Adam's betas.",
    "weight_decay": "Adam (L2) weight decay.",
    "grad_clip": "Clip the gradient norm to this, 0 = off (default: the preset's).",
    "val_every": "Validate (and checkpoint) every N steps; 0 = only at the end.",
    "keep_best": "Keep the weights of the best validation (else the last).",
    "precision": "auto (bf16 where the hardware has it) | fp32 | bf16.",
    "compile": "Run the training forward through torch.compile.",
    "seed": "Seed of every random draw of the run (with the step number).",
}

#: The names of :class:`LoopConfig`'s fields: flat overrides by these names go into ``loop``.
LOOP_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(LoopConfig))


def nest_loop(values: Mapping[str, Any], loop: LoopConfig) -> dict[str, Any]:
    """``values`` (keyword arguments of a config that holds ``loop: LoopConfig``) with the flat
    LoopConfig fields among them (``steps=``, ``lr=``, ``seed=`` ...) moved into ``loop``.

    The one routing of flat overrides: ``from_preset(**overrides)``, ``train_config(**overrides)``,
    ``config.replace(...)`` and old flat ``config.json`` files all go through it.

    Args:
        values: field values; a ``"loop"`` among them (a LoopConfig or its dict) is the base.
        loop: the base LoopConfig otherwise (the config's current or default one).

    Returns:
        ``values`` without the flat loop fields, with ``"loop"`` a :class:`LoopConfig` when one was
        given or any loop field was.
    """
    out = {k: v for k, v in values.items() if k not in LOOP_FIELDS}
    flat = {k: v for k, v in values.items() if k in LOOP_FIELDS}
    base = out.get("loop", loop)
    if isinstance(base, Mapping):
        base = LoopConfig(**{**asdict(loop), **base})
    if flat or "loop" in out:
        out["loop"] = replace(base, **flat) if flat else base
    return out


class HasLoop:
    """Mixin of a frozen dataclass config with a ``loop: LoopConfig`` field (the refiner's and the
    lifters' training configs): flat LoopConfig field names reach ``loop`` through
    :func:`nest_loop`."""

    loop: LoopConfig

    @classmethod
    def default_loop(cls) -> LoopConfig:
        """The ``loop`` field's default."""
        return next(f.default for f in fields(cls) if f.name == "loop")

    @classmethod
    def create(cls, **values):
        """``cls(**values)`` where ``values`` may name LoopConfig fields flat (``steps=300``)."""
        return cls(**nest_loop(values, cls.default_loop()))

    def replace(self, **changes):
        """A copy with ``changes`` (LoopConfig fields may be named flat: ``replace(steps=10)``)."""
        return replace(self, **nest_loop(changes, self.loop))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, as ``config.json`` stores it: the fields, ``loop`` nested (pairs as lists)."""
        return json.loads(json.dumps(asdict(self)))

    def _nest_loop_field(self) -> None:
        """For ``__post_init__``: a ``loop`` given as a dict (JSON) becomes a LoopConfig."""
        if isinstance(self.loop, Mapping):
            object.__setattr__(
                self, "loop", nest_loop({"loop": self.loop}, self.default_loop())["loop"]
            )


class Task(Protocol):
    """What a trainer gives the engine.

    ``draw(n, gen)`` returns a global batch of ``n`` samples as a tuple of CPU tensors (first axis
    = sample) using only ``gen`` for randomness; ``loss(net, batch)`` returns the per-sample losses
    ``(B,)`` of a batch already on the device (called under autocast: cast outputs to float32);
    ``validate(model)`` returns metrics (or ``{}``), ``metric`` names the one to minimise;
    ``frames_per_sample`` counts frames for the frames/s figure.
    """

    metric: str
    frames_per_sample: int

    def draw(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]: ...

    def loss(self, net: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor: ...

    def validate(self, model: nn.Module) -> dict[str, float]: ...


@dataclass
class TrainResult:
    """What :func:`fit` did: steps done, why it stopped, the kept step, the records."""

    steps: int
    stopped: str
    precision: str
    best_step: int | None
    history: list[dict[str, Any]] = field(default_factory=list)


def step_seed(seed: int, step: int) -> int:
    """The seed of step ``step``'s random draws (a fixed mix of the run seed and the step)."""
    return (int(seed) * 1_000_003 + 7919 * (int(step) + 1)) % (2**63 - 1)


def world_info() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# ----------------------------------------------------------------------------- state files


def _save_state(path: Path, model, opt, best, step: int, history: list, meta: dict) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    sd = opt.state_dict()
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = torch.as_tensor(v)
    if best is not None:
        tensors.update({f"best.{k}": v for k, v in best[1].items()})
    info = {
        "step": str(step),
        "param_groups": json.dumps(sd["param_groups"]),
        "history": json.dumps(history),
        "best_step": json.dumps(best[0] if best is not None else None),
        "best_value": json.dumps(best[2] if best is not None else None),
        "run": json.dumps(meta),
        "version": __version__,
    }
    save_safetensors(path, tensors, info)


def _load_state(path: Path, model, opt, meta: dict, upgrade: Callable[[dict], dict] | None):
    tensors, info = load_safetensors(path)
    try:
        saved = json.loads(info["run"])
        step = int(info["step"])
        groups = json.loads(info["param_groups"])
        history = json.loads(info["history"])
        best_step = json.loads(info["best_step"])
        best_value = json.loads(info["best_value"])
    except (KeyError, ValueError) as exc:
        raise D3PRError(f"{path}: not a training state ({exc})") from None
    if upgrade is not None:  # a run written by an older version: its config in today's form
        saved = json.loads(json.dumps(upgrade(saved)))
    differ = sorted(k for k in set(saved) | set(meta) if saved.get(k) != meta.get(k))
    if differ:
        raise D3PRError(f"{path}: cannot resume, the run's config differs in {differ}")
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        state: dict[int, dict] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, pid, name = k.split(".", 2)
                state.setdefault(int(pid), {})[name] = v
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (RuntimeError, ValueError, KeyError) as exc:
        raise D3PRError(f"{path}: weights do not match this run ({str(exc)[:200]})") from None
    best = None
    if best_step is not None:
        best = (
            best_step,
            {k[5:]: v for k, v in tensors.items() if k.startswith("best.")},
            best_value,
        )
    return step, history, best


def read_history(run_dir: str | os.PathLike) -> dict:
    """The ``history.json`` of a run directory (``{}`` if absent)."""
    f = Path(run_dir) / HISTORY_FILE
    return load_json(f) if f.exists() else {}


def is_finished(run_dir: str | os.PathLike) -> bool:
    """Whether a run directory holds a run that ran to its end (steps or budget)."""
    return read_history(run_dir).get("stopped") in ("steps", "budget")


# ----------------------------------------------------------------------------- the loop


#: Steps timed before a run says how long it will take (the first steps warm up, so the estimate
#: is on the safe side).
ESTIMATE_AFTER = 5


def _estimate(desc: str, per_step: float, left: int, max_minutes: float | None) -> str:
    """One line: the wall time the ``left`` remaining steps take at ``per_step`` seconds each."""
    text = f"{desc or 'training'}: {per_step:.2f} s/step, about {_duration(left * per_step)} for"
    text += f" the {left} steps left"
    if max_minutes is not None and left * per_step > 60 * max_minutes:
        text += f" (the {max_minutes:g}-minute budget stops it after about "
        text += f"{int(60 * max_minutes / per_step)} steps in all)"
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def fit(
    model: nn.Module,
    task: Task,
    config: LoopConfig,
    run_dir: str | os.PathLike | None = None,
    *,
    export: Callable[[nn.Module], None] | None = None,
    meta: dict | None = None,
    upgrade_meta: Callable[[dict], dict] | None = None,
    resume: bool = False,
    max_minutes: float | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    desc: str = "train",
) -> TrainResult:
    """Train ``model`` (already on ``device``) on ``task`` for ``config.steps`` steps.

    Args:
        model: the network (left holding the kept weights: best on validation or last).
        task: batches, losses and validation (see :class:`Task`).
        config: the optimisation.
        run_dir: where the state and history go (None: nothing written, no resume).
        export: called with the model holding the kept weights at every checkpoint (rank 0):
            the caller writes its weights and config there.
        meta: the caller's full configuration (JSON-able); a resume must match it exactly.
        upgrade_meta: turns the meta saved by an older version (e.g. a flat config) into this
            version's form before that comparison; None: compared as saved.
        resume: continue from ``run_dir/state.safetensors`` when it exists.
        max_minutes: wall-clock budget of this call (stops after the step past it).
        device: where the model is.
        progress: a tqdm bar with the loss and frames/s (rank 0).
        desc: the bar's label.

    Returns:
        A :class:`TrainResult`.

    (One function for the step loop, over 60 lines: the order of its side effects per logged
    step — validate, checkpoint, history, barrier — is what resume and DDP rely on, and it reads
    top to bottom here.)
    """
    device = torch.device(device)
    rank, world = world_info()
    precision = resolve_precision(config.precision, device)
    meta = json.loads(json.dumps({"loop": asdict(config), **(meta or {})}))  # as stored
    run = Path(run_dir) if run_dir is not None else None
    opt, start, history, best = _start(model, config, run, resume, meta, upgrade_meta)
    net = _wrap(model, config, device, world)
    t0 = time.monotonic()
    prior = float(history[-1]["seconds"]) if history else 0.0
    loop = _Loop(model, net, task, config, opt, precision, device, rank, world)
    bar = tqdm(
        total=config.steps, initial=start, desc=desc, disable=not progress or rank > 0,
        dynamic_ncols=True, leave=False,
    )  # fmt: skip
    stopped, step = "steps", start
    mark_t, mark_step, loss_sum = time.monotonic(), start, 0.0
    saved_t = time.monotonic()
    with _StopRequest() as stop:
        while step < config.steps:
            loss_sum += loop.step(step)
            step += 1
            bar.update(1)
            if step == start + ESTIMATE_AFTER and progress and rank == 0 and step < config.steps:
                per_step = (time.monotonic() - t0) / (step - start)
                tqdm.write(_estimate(desc, per_step, config.steps - step, max_minutes))
            if (
                run is not None and rank == 0 and world == 1
                and time.monotonic() - saved_t > 60 * CHECKPOINT_MINUTES
            ):  # fmt: skip
                _save_state(run / STATE_FILE, model, opt, best, step, history, meta)
                saved_t = time.monotonic()
            if step % 10 == 0 or step == config.steps:
                rate = (step - mark_step) * config.batch_size * task.frames_per_sample
                bar.set_postfix(
                    loss=f"{loss_sum / (step - mark_step):.4g}",
                    fps=f"{rate / max(time.monotonic() - mark_t, 1e-9):.0f}",
                )
            over = loop.over_budget(t0, max_minutes)
            if step % config.log_every == 0 or step == config.steps or over:
                record = _record(config, task, step, mark_step, loss_sum, time.monotonic() - mark_t)
                if rank == 0:
                    best = loop.validate(record, step, best, force=over)
                record["seconds"] = prior + time.monotonic() - t0
                history.append(record)
                if rank == 0 and run is not None:
                    _checkpoint(run, model, opt, best, step, history, meta, export, config)
                    _write_history(run, config, history, None, precision, best, world)
                    saved_t = time.monotonic()
                if progress and rank == 0:
                    tqdm.write(_format(desc, record, config.steps, task.metric))
                if world > 1:
                    dist.barrier()
                mark_t, mark_step, loss_sum = time.monotonic(), step, 0.0
            if over and step < config.steps:
                stopped = "budget"
                break
            if stop.signal is not None:
                bar.close()
                _interrupted(run, model, opt, best, step, history, meta, export, config, rank,
                             precision, world, start)  # fmt: skip
    bar.close()
    if step == config.steps and start == config.steps and rank == 0 and run is not None:
        _checkpoint(run, model, opt, best, step, history, meta, export, config)
    if rank == 0 and run is not None:
        _write_history(run, config, history, stopped, precision, best, world)
    if best is not None and config.keep_best:
        model.load_state_dict(best[1])
    model.eval()
    return TrainResult(step, stopped, precision, best[0] if best else None, history)


def _start(model, config: LoopConfig, run: Path | None, resume: bool, meta: dict, upgrade=None):
    """The optimiser and ``(start step, history, best)``: fresh, or loaded from ``run``."""
    opt = torch.optim.Adam(
        model.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )
    start, history, best = 0, [], None
    if run is not None and (run / STATE_FILE).exists():
        if not resume:
            raise D3PRError(f"{run}: already holds a run; resume it or choose another folder")
        start, history, best = _load_state(run / STATE_FILE, model, opt, meta, upgrade)
    return opt, start, history, best


def _wrap(model: nn.Module, config: LoopConfig, device: torch.device, world: int) -> nn.Module:
    """The module the steps call: DDP-wrapped across processes, compiled if asked."""
    net = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return torch.compile(net) if config.compile else net


def _record(config: LoopConfig, task, step: int, mark: int, loss_sum: float, seconds: float):
    """The history record of the steps since ``mark``."""
    return {
        "step": step,
        "lr": lr_at(step - 1, config.steps, config.lr, config.schedule, config.warmup_steps,
                    config.lr_decay, config.decay_every),
        "loss": loss_sum / (step - mark),
        "frames_per_s": (step - mark) * config.batch_size * task.frames_per_sample
        / max(seconds, 1e-9),
    }  # fmt: skip


class _Loop:
    """One optimisation step and the checks around it (internal to :func:`fit`)."""

    def __init__(self, model, net, task, config, opt, precision, device, rank, world) -> None:
        self.model, self.net, self.task, self.config, self.opt = model, net, task, config, opt
        self.precision, self.device, self.rank, self.world = precision, device, rank, world

    def step(self, step: int) -> float:
        cfg, world, rank = self.config, self.world, self.rank
        for g in self.opt.param_groups:
            g["lr"] = lr_at(step, cfg.steps, cfg.lr, cfg.schedule, cfg.warmup_steps,
                            cfg.lr_decay, cfg.decay_every)  # fmt: skip
        seed = step_seed(cfg.seed, step)
        gen = torch.Generator().manual_seed(seed)
        batch = self.task.draw(cfg.batch_size, gen)  # the whole global batch, on CPU
        n = len(batch[0])
        sizes = [len(c) for c in torch.tensor_split(torch.arange(n), world)]
        lo, size = sum(sizes[:rank]), sizes[rank]  # this rank's contiguous shard
        shard = tuple(z[lo : lo + size].to(self.device) for z in batch)
        torch.manual_seed(seed + 1)  # dropout and any other draw of the network
        self.model.train()
        with autocast(self.precision, self.device):
            per = self.task.loss(self.net, shard)  # (B_local,)
        total = per.float().sum()
        self.opt.zero_grad(set_to_none=True)
        (total * world / n).backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        total = total.detach()
        if world > 1:
            dist.all_reduce(total)
        value = float(total) / n
        if not math.isfinite(value):
            raise D3PRError(f"training diverged at step {step + 1}: loss {value}")
        return value

    def over_budget(self, t0: float, max_minutes: float | None) -> bool:
        flag = torch.tensor([max_minutes is not None and time.monotonic() - t0 > 60 * max_minutes])
        if self.world > 1:
            flag = flag.float().to(self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def validate(self, record: dict, step: int, best, force: bool = False):
        """Validate at a log point when the period (or the end, or ``force``) says so; update the
        kept weights."""
        cfg = self.config
        due = bool(cfg.val_every) and step % cfg.val_every == 0
        metrics = {}
        if due or force or step == cfg.steps:
            self.model.eval()
            with torch.no_grad(), autocast(self.precision, self.device):
                metrics = self.task.validate(self.model)
            self.model.train()
        record.update(metrics)
        value = metrics.get(self.task.metric)
        if value is not None and (best is None or value < best[2]):
            state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            best = (step, state, float(value))
        return best


def _interrupted(
    run, model, opt, best, step, history, meta, export, config, rank, precision, world, start
) -> None:
    """Save the resume point after a stop request and raise :class:`Interrupted` saying so."""
    if run is None or rank > 0:
        raise Interrupted(
            f"stopped at step {step}/{config.steps}; nothing was saved (no run folder)", hint=""
        )
    if step > start or not (run / STATE_FILE).exists():
        _checkpoint(run, model, opt, best, step, history, meta, export, config)
        _write_history(run, config, history, "interrupted", precision, best, world)
    raise Interrupted(
        f"stopped at step {step}/{config.steps}; saved the run in {run} (weights so far and the "
        f"resume point)"
    )


def _checkpoint(run, model, opt, best, step, history, meta, export, config) -> None:
    _save_state(run / STATE_FILE, model, opt, best, step, history, meta)
    if export is None:
        return
    if best is not None and config.keep_best:
        kept = copy.deepcopy(model)
        kept.load_state_dict(best[1])
        export(kept.eval())
    else:
        export(model)


def _write_history(run, config, history, stopped, precision, best, world) -> None:
    seconds = history[-1]["seconds"] if history else 0.0
    done = history[-1]["step"] if history else 0
    save_json(
        run / HISTORY_FILE,
        {
            "version": __version__,
            "steps": done,
            "planned_steps": config.steps,
            "stopped": stopped,
            "precision": precision,
            "world_size": world,
            "batch_size": config.batch_size,
            "train_seconds": seconds,
            "kept_step": (best[0] if best is not None and config.keep_best else done),
            "best_step": best[0] if best is not None else None,
            "records": history,
        },
    )


def _format(desc: str, r: dict, steps: int, metric: str) -> str:
    s = f"{desc} step {r['step']}/{steps}: loss {r['loss']:.4g}, {r['frames_per_s']:.0f} frames/s"
    extra = [f"{k} {v:.1f}" for k, v in r.items() if k.startswith("val_") and v is not None]
    return s + (", " + ", ".join(extra) if extra else "")


def steps_for_budget(
    out_dir: str | os.PathLike, minutes: float, measure: Callable[[], dict], **record
) -> int:
    """The optimiser steps that fit in ``minutes``: measured once by ``measure()`` (e.g.
    :func:`calibrate_steps`) and recorded, with ``record``, in ``out_dir/steps.json``; a later call
    with the same budget (a resumed run, another fold) reuses the recorded number."""
    path = Path(out_dir) / "steps.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        saved = load_json(path)
        if saved.get("minutes") == minutes:
            return int(saved["steps"])
    cal = measure()
    save_json(path, {**cal, "minutes": minutes, **record})
    tqdm.write(
        f"{minutes:g} min ≈ {cal['steps']} steps here ({cal['seconds_per_step'] * 1000:.0f} "
        f"ms/step, validation included); every run of this budget gets {cal['steps']} steps"
    )
    return int(cal["steps"])


def calibrate_steps(
    model: nn.Module,
    task: Task,
    config: LoopConfig,
    minutes: float,
    *,
    device: torch.device | str = "cpu",
    probe_steps: int = 8,
) -> dict[str, float]:
    """How many steps of ``config`` fit in ``minutes`` here: time ``probe_steps`` steps (after two
    warm-up steps) and one validation on a throwaway copy of the model.

    Give the returned ``steps`` to every run that must be trained alike (cross-fitting folds and the
    full model): a wall-clock budget per run would give each a different number of steps.

    Returns:
        ``{"steps", "seconds_per_step", "seconds_per_validation", "minutes"}``.
    """
    if minutes <= 0:
        raise D3PRError(f"a budget must be > 0 minutes, got {minutes}")
    probe = copy.deepcopy(model).to(device)
    cfg = replace(config, steps=10**9)
    opt = torch.optim.Adam(probe.parameters(), lr=cfg.lr)
    loop = _Loop(probe, probe, task, cfg, opt, resolve_precision(cfg.precision, device),
                 torch.device(device), 0, 1)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        for s in range(2):
            loop.step(s)
        t = time.monotonic()
        for s in range(probe_steps):
            loop.step(2 + s)
        per_step = (time.monotonic() - t) / probe_steps
        t = time.monotonic()
        probe.eval()
        with torch.no_grad(), autocast(loop.precision, device):
            task.validate(probe)
        per_val = time.monotonic() - t
    val_share = per_val / config.val_every if config.val_every else 0.0
    steps = max(1, int(minutes * 60 / (per_step + val_share)))
    return {
        "steps": steps,
        "seconds_per_step": per_step,
        "seconds_per_validation": per_val,
        "minutes": minutes,
    }

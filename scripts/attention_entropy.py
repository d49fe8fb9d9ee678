"""Has a lifter's attention collapsed? Per attention layer of trained STCFormer / MixSTE runs: the
largest attention logit, the mean entropy of the attention rows (against log L, the entropy of
uniform attention) and the mean largest weight of a row (1.00 = every token attends to one token).

usage: python scripts/attention_entropy.py RUN [RUN ...] [--subject S9] [--windows 64] [--threads 1]

The inputs are ``--windows`` random windows of the run's own clips of ``--subject`` (one camera;
the run's data.json says how its clips were made). A temporal layer at entropy ≈ 0 copies one frame
and mixes nothing over time.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import d3prefiner.lifters.mixste as mixste
import d3prefiner.nn.stc as stc
from d3prefiner.lifters.runs import read_data_spec, source_clips
from d3prefiner.lifters.train import load_lifter
from d3prefiner.runtime import configure_threads


class AttentionSpy:
    """Replaces the lifters' ``attention`` function by one that also records row statistics."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self._original = stc.attention

    def __call__(self, q, k, v, dropout=0.0):
        logits = (q @ k.transpose(-1, -2)).float() * q.shape[-1] ** -0.5  # (N, h, L, L)
        p = logits.softmax(-1)
        entropy = -(p * p.clamp_min(1e-12).log()).sum(-1)
        self.records.append(
            dict(
                tokens=q.shape[-2],
                max_logit=float(logits.abs().max()),
                entropy=float(entropy.mean()),
                uniform=math.log(q.shape[-2]),
                max_weight=float(p.max(-1).values.mean()),
            )
        )
        return self._original(q, k, v, dropout)

    def __enter__(self) -> AttentionSpy:
        stc.attention = mixste.attention = self
        return self

    def __exit__(self, *exc) -> None:
        stc.attention = mixste.attention = self._original


def windows(run: Path, subject: str, n: int, T: int, seed: int = 0) -> torch.Tensor:
    """``n`` random T-frame windows ``(n, T, 17, 2)`` of the run's clips of ``subject``."""
    spec, _ = read_data_spec(run)
    clips = [c for c in source_clips(replace(spec, n_cameras=1), [subject]) if c.num_frames > T]
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.integers(0, len(clips), n):
        start = rng.integers(0, clips[i].num_frames - T)
        out.append(clips[i].pose2d[start : start + T])
    return torch.from_numpy(np.stack(out)).float()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="lifter run directories")
    ap.add_argument("--subject", default="S9", help="whose clips feed the lifter")
    ap.add_argument("--windows", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    configure_threads(args.threads)
    for run in args.runs:
        model = load_lifter(run).eval()
        if model.config.model not in ("stcformer", "mixste"):
            ap.error(f"{run}: a {model.config.model} lifter has no attention")
        x = windows(run, args.subject, args.windows, model.config.T)
        with AttentionSpy() as spy, torch.no_grad():
            model(x)
        print(f"{run} ({model.config.model}, qk_norm={model.config.qk_norm})")
        print(f"  {'layer':<12}{'max logit':>10}{'entropy':>9}{'of uniform':>12}{'max weight':>12}")
        for i, r in enumerate(spy.records):
            kind = ("spatial", "temporal")[i % 2]  # both lifters alternate joints, frames
            print(
                f"  {i:>2} {kind:<9}{r['max_logit']:>10.1f}{r['entropy']:>9.2f}"
                f"{r['entropy'] / r['uniform']:>12.2f}{r['max_weight']:>12.2f}"
            )


if __name__ == "__main__":
    main()

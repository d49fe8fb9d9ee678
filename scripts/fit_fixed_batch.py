"""Fit one fixed batch of training windows: can a lifter's architecture fit at all? (BENCHMARKS.md,
"Attention lifters under 60 mm": the MixSTE positional-embedding diagnosis.)

    python scripts/fit_fixed_batch.py --model stcformer
    python scripts/fit_fixed_batch.py --model mixste --spatial-pos-std 0.02   # the old init
    python scripts/fit_fixed_batch.py --model mixste --spatial-pos-std 1.0 --temporal-pos-std 1.0

32 windows of 27 frames (4 from each of the first 8 h36m-fk17 S1 clips, GT 2D, one camera), the
``cpu`` preset, Adam 1e-3 for ``--steps`` steps under bf16 autocast, one thread; prints the final
training MPJPE of that batch. Only training data (S1) is used.
"""

from __future__ import annotations

import argparse
import time

import torch

from d3prefiner.lifters import build_lifter
from d3prefiner.lifters.config import DataSpec, train_config
from d3prefiner.lifters.runs import source_clips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="mixste", choices=("stcformer", "mixste", "tcn"))
    ap.add_argument("--spatial-pos-std", type=float, help="MixSTE: re-initialise spatial_pos")
    ap.add_argument("--temporal-pos-std", type=float, help="MixSTE: re-initialise temporal_pos")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    clips = source_clips(DataSpec(source="h36m-fk17", setting="gt", n_cameras=1), ["S1"])[:8]
    T, gen = 27, torch.Generator().manual_seed(0)
    xs, ys = [], []
    for c in clips:
        for _ in range(4):
            s = int(torch.randint(0, len(c.pose2d) - T, (1,), generator=gen))
            xs.append(torch.from_numpy(c.pose2d[s : s + T]))
            ys.append(torch.from_numpy(c.pose3d[s : s + T]))
    x, y = torch.stack(xs), torch.stack(ys)
    y = y - y[:, :, :1]
    torch.manual_seed(0)
    net = build_lifter(train_config(args.model, "cpu", {}).lifter)
    with torch.no_grad():
        if args.spatial_pos_std is not None:
            net.spatial_pos.normal_(0, args.spatial_pos_std)
        if args.temporal_pos_std is not None:
            net.temporal_pos.normal_(0, args.temporal_pos_std)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t = time.monotonic()
    for _ in range(args.steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            out = net(x)
        loss = (out.float() - y).norm(dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"{args.model} {args.precision}: fixed-batch MPJPE {1000 * loss.item():.1f} mm after "
          f"{args.steps} steps ({time.monotonic() - t:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()

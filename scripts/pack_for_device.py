"""Pack the h36m-fk17 motion at the benches' 25 fps into an ``npz-folder`` that fits a device run.

The accelerator machine (``run`` in the tool library) gets the working tree and at most 64 MiB of
carried, git-ignored paths, and not ``../shared``. The prepared folder ``h36m-expmap-fk17`` is
75 MB at 50 fps; the benches and lifters use 25 fps, so every second frame is all they read. This
writes those frames (float32, compressed) as one ``<subject>.npz`` per subject with an
``npz-folder.json`` (mm, 25 fps, up estimated as for the fk17 source), about half the size:

    python scripts/pack_for_device.py            # -> .device/fk17-25fps (git-ignored)
    d3pr lifter train --source npz-folder --path .device/fk17-25fps ...

The output is derived from research data: it stays out of git (``/.device/`` is ignored) and is only
ever carried to the device machine. ``scripts/gpu_paper_lifters.sh`` uses it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

LIMIT_MB = 60.0  # what may travel, with the working tree beside it (64 MiB in all)


def pack(src: Path, out: Path, step: int = 2) -> float:
    """Write every ``step``-th frame of each subject of the fk17 folder ``src`` into ``out``;
    returns the size written (MB)."""
    from d3prefiner.data.fk17 import FK17_FPS, fk17_files
    from d3prefiner.io import load_npz, save_npz

    files = fk17_files(src)
    out.mkdir(parents=True, exist_ok=True)
    for subject, path in files.items():
        arrays = load_npz(path)
        save_npz(out / f"{subject}.npz", **{
            a: np.ascontiguousarray(x[::step]).astype(np.float32) for a, x in arrays.items()
        })  # fmt: skip
    (out / "npz-folder.json").write_text(
        json.dumps({"units": "mm", "fps": FK17_FPS / step, "up": "auto"}) + "\n"
    )
    return sum(p.stat().st_size for p in out.iterdir()) / 1e6


def main(argv: list[str] | None = None) -> int:
    from d3prefiner.data.sources import shared_data_dir
    from d3prefiner.errors import D3PRError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=shared_data_dir() / "h36m-expmap-fk17")
    ap.add_argument("--out", type=Path, default=Path(".device") / "fk17-25fps")
    ap.add_argument("--step", type=int, default=2, help="keep every STEP-th frame (50 fps / 2)")
    args = ap.parse_args(argv)
    if args.step < 1:
        print("error: --step must be >= 1", file=sys.stderr)
        return 2
    if args.out.resolve() == args.src.resolve():
        print(f"error: {args.out}: would overwrite the source folder", file=sys.stderr)
        return 2
    try:
        mb = pack(args.src, args.out, args.step)
    except D3PRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {mb:.1f} MB")
    if mb > LIMIT_MB:
        print(f"warning: over {LIMIT_MB:g} MB, too large to carry to a device run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Wall time of a `d3pr` command on an idle machine and with one core kept busy, per thread policy
(BENCHMARKS.md, "Threads on a shared CPU").

    python scripts/bench_threads.py refine --checkpoint demo_out/refiner \\
        --predictions demo_out/predictions/test.npz
    python scripts/bench_threads.py demo            # the README's `d3pr demo`, default threads

Policies: ``all`` = one thread per core (torch's own default, ``--threads <cores>``), ``auto`` =
the default of every command (``--threads 0``: the cores idle at start,
:func:`d3prefiner.runtime.free_cores`), ``1`` = one thread; plus ``auto+passive`` with
``OMP_WAIT_POLICY=PASSIVE`` in the environment. "Busy" starts one ``yes > /dev/null`` process for
the duration of the command (one core at 100 %). Each cell is the median of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLICIES = ("all", "auto", "auto+passive", "1")


def _threads_args(policy: str) -> tuple[list[str], dict]:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY"):
        env.pop(k, None)
    if policy == "all":
        return ["--threads", str(os.cpu_count() or 1)], env
    if policy == "1":
        return ["--threads", "1"], env
    if policy == "auto+passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return ["--threads", "0"], env


def _run(cmd: list[str], env: dict, busy: bool) -> float:
    hog = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if busy else None
    try:
        if hog is not None:
            time.sleep(1.0)  # let the scheduler see the busy core before the command starts
        t = time.monotonic()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.monotonic() - t
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("refine", "demo"))
    ap.add_argument("--checkpoint", type=Path, help="refine: a `d3pr train` checkpoint directory")
    ap.add_argument("--predictions", type=Path, help="refine: a predictions .npz to refine")
    ap.add_argument("--policies", default=",".join(POLICIES), help="comma-separated policies")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    policies = [p for p in args.policies.split(",") if p]
    bad = [p for p in policies if p not in POLICIES]
    if bad:
        sys.exit(f"unknown policy {bad[0]!r} (choose from {', '.join(POLICIES)})")
    if args.what == "refine" and (args.checkpoint is None or args.predictions is None):
        sys.exit("refine needs --checkpoint and --predictions")
    d3pr = [sys.executable, "-m", "d3prefiner"]
    tmp = Path(tempfile.mkdtemp(prefix="bench_threads_"))
    results: dict[str, dict[str, float]] = {}
    try:
        for policy in policies:
            extra, env = _threads_args(policy)
            for busy in (False, True):
                times = []
                for i in range(args.repeats):
                    out = tmp / f"out{i}"
                    shutil.rmtree(out, ignore_errors=True)
                    if args.what == "refine":
                        cmd = d3pr + ["refine", str(args.checkpoint), str(args.predictions),
                                      "-o", str(out) + ".npz", "--force", "--no-progress"]  # fmt: skip
                    else:
                        cmd = d3pr + ["demo", "--out", str(out)]
                    times.append(_run(cmd + extra, env, busy))
                key = "one core busy" if busy else "idle"
                results.setdefault(policy, {})[key] = statistics.median(times)
                print(f"{args.what} threads={policy:13s} {key:14s} {statistics.median(times):7.1f} s"
                      f"  (runs: {', '.join(f'{t:.1f}' for t in times)})", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n| {args.what}: threads | idle (s) | one core busy (s) |\n|---|---:|---:|")
    for policy, r in results.items():
        print(f"| {policy} | {r['idle']:.1f} | {r['one core busy']:.1f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"cores": os.cpu_count(), "results": results}, indent=1))


if __name__ == "__main__":
    main()

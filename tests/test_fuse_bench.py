"""benchmarks/bench_speed.py --geometry: the geometric step's cost as ratios."""

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_speed_geometry_share_is_a_ratio(tmp_path):
    cmd = [sys.executable, str(BENCH / "bench_speed.py"), "--only", "none", "--geometry",
           "--geo-frames", "108", "--refine-batch", "4", "--repeats", "1", "--peak-size", "64",
           "--precisions", "fp32", "--json", str(tmp_path / "s.json")]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "s.json").read_text())
    geo = res["geometry"]
    assert res["rows"] == [] and geo["frames"] == 108 and geo["batch"] == 4
    assert 0 < geo["features_share_of_geo_refine"] < 1  # a part of the refinement it is in
    assert 0.2 < geo["geo_over_default_refine"] < 5
    assert f"{100 * geo['features_share_of_geo_refine']:.1f} % of the geo refinement" in r.stdout

"""Shared fixtures: the research data folder beside the repository (skipped when absent)."""

from pathlib import Path

import pytest

try:
    import pybullet_data  # noqa: F401

    HAVE_PYBULLET = True
except ImportError:
    HAVE_PYBULLET = False
needs_pybullet = pytest.mark.skipif(
    not HAVE_PYBULLET, reason="the demo's embedded data comes with pybullet"
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` next to the repo; skips the test on a machine without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"research data not available ({SHARED_DATA} is absent)")
    return SHARED_DATA


def run_cli(argv, capsys) -> tuple[int | None, str]:
    """Run ``d3pr ARGV`` in-process → ``(exit code, stdout + stderr)``."""
    from d3prefiner.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return exc.value.code, out.out + out.err


def tiny_refiner_files(d: Path) -> Path:
    """``d/p.npz`` (3 synthetic sequences of 60 frames) and ``d/ckpt``, a 1-step tiny refiner."""
    from d3prefiner.noise import make_synthetic_predictions
    from d3prefiner.refiner import RefinerConfig, train_refiner

    preds = make_synthetic_predictions(n_sequences=3, n_frames=60, seed=0, error_scale=0.005)
    preds.save(d / "p.npz")
    cfg = RefinerConfig.from_preset("tiny", "paper", steps=1, use_cnd=False, window=9,
                                    train_stride=3, refine_stride=9)  # fmt: skip
    train_refiner(cfg, preds, None, d / "ckpt", progress=False)
    return d

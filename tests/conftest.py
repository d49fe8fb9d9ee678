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

"""Shared fixtures: the research data folder beside the repository (skipped when absent)."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` next to the repo; skips the test on a machine without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"research data not available ({SHARED_DATA} is absent)")
    return SHARED_DATA

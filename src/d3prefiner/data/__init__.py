"""Motion sources, cameras, detector noise and windows → the canonical in-memory form."""

from .sequences import Clip, Sequence

__all__ = ["Clip", "Sequence"]

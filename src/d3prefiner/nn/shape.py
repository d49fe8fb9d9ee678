"""The size of a pose network, shared by the lifters' and the refiner's configs."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ArgumentError

#: The fields of :class:`NetworkShape`, in order.
SHAPE_FIELDS = ("dim", "depth", "heads", "mlp_ratio", "dropout")

#: Command-line help of the :class:`NetworkShape` fields.
SHAPE_HELP: dict[str, str] = {
    "dim": "Channels C (overrides the preset).",
    "depth": "Blocks (TCN: receptive field 3^(depth+1)).",
    "heads": "Attention heads (overrides the preset).",
    "mlp_ratio": "Hidden size of the MLPs relative to the channels (overrides the preset).",
    "dropout": "Dropout in attention and MLPs (overrides the preset).",
}


@dataclass(frozen=True, kw_only=True)
class NetworkShape:
    """Width, depth, attention heads, MLP ratio and dropout of a pose network (keyword-only
    fields, after a subclass's own positional ones).

    Attributes:
        dim: channels C of every token (one token per joint per frame).
        depth: blocks (the lifters' and the denoiser's own meaning of a block).
        heads: attention heads (per branch where channels are split between branches).
        mlp_ratio: hidden size of the MLPs relative to ``dim``.
        dropout: dropout in attention and MLPs.
    """

    dim: int = 128
    depth: int = 2
    heads: int = 8
    mlp_ratio: float = 2.0
    dropout: float = 0.0

    def check_shape(self, channel_split: int = 1) -> None:
        """Raise :class:`~d3prefiner.errors.ArgumentError` unless the sizes are positive, the
        dropout in [0, 1) and ``dim`` divisible by ``channel_split * heads`` (the branches that
        split the channels, each with ``heads`` heads)."""
        for name in ("dim", "depth", "heads"):
            if int(getattr(self, name)) < 1:
                raise ArgumentError(name, f"must be >= 1, got {getattr(self, name)}")
        if self.dim % (channel_split * self.heads):
            raise ArgumentError(
                "dim", f"={self.dim} must be divisible by {channel_split} * heads={self.heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ArgumentError("dropout", f"must be in [0, 1), got {self.dropout}")
        if not self.mlp_ratio > 0:
            raise ArgumentError("mlp_ratio", f"must be > 0, got {self.mlp_ratio}")

    def shape(self) -> dict:
        """The shape's fields alone, as keyword arguments of another :class:`NetworkShape`."""
        return {name: getattr(self, name) for name in SHAPE_FIELDS}

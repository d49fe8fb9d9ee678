"""Neural-network building blocks shared by the lifters and the refiner."""

from .stc import MLP, STCAttention, STCBlock

__all__ = ["MLP", "STCAttention", "STCBlock"]

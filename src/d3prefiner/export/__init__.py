"""Export motion to formats other tools import: BVH for Blender, Unity and robot retargeting
(:mod:`d3prefiner.export.bvh`)."""

from .bvh import read_exported, write_bvh

__all__ = ["read_exported", "write_bvh"]

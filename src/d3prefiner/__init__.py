"""d3prefiner: diffusion-based refinement of monocular 3D human pose estimates."""

__version__ = "0.1.0"

__all__ = ["__version__"]

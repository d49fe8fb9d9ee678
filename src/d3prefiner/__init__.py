"""d3prefiner: diffusion-based refinement of monocular 3D human pose estimates."""

__version__ = "0.1.0"

from .refiner import Refiner  # noqa: E402

__all__ = ["Refiner", "__version__"]

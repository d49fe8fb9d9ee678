"""d3prefiner: diffusion-based refinement of monocular 3D human pose estimates."""

from .refiner import Refiner
from .version import __version__

__all__ = ["Refiner", "__version__"]

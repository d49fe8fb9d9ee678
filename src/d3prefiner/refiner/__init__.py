"""D3PRefiner: configuration, training and refinement (the public entry point).

``RefinerConfig`` holds every switch; ``train_refiner`` writes a checkpoint directory;
``Refiner.load(dir).refine(pose2d, pose3d)`` refines a sequence of any length.
"""

from .config import MODES, RefinerConfig
from .core import Refiner, load_model, make_scheduler, sample_x0, start_pose
from .train import init_distributed, train_refiner, validate

__all__ = [
    "MODES",
    "Refiner",
    "RefinerConfig",
    "init_distributed",
    "load_model",
    "make_scheduler",
    "sample_x0",
    "start_pose",
    "train_refiner",
    "validate",
]

"""D3PRefiner: configuration, training, refinement and calibration (the public entry point).

``RefinerConfig`` holds every switch; ``train_refiner`` writes a checkpoint directory;
``Refiner.load(dir).apply(predictions, ApplyOptions(...))`` refines a predictions file as its
:class:`Calibration` and the options say; ``Refiner.refine(pose2d, pose3d)`` refines one sequence of
any length with the network alone; ``calibrate_refiner`` chooses the calibration on validation
predictions.
"""

from .calibrate import calibrate as calibrate_refiner
from .calibrate import summary as calibration_summary
from .calibration import AT_FULL_STRENGTH, FULL, ApplyOptions, Calibration
from .config import MODES, RefinerConfig
from .core import Applied, Refiner, load_model, make_scheduler, sample_x0, start_pose
from .task import validate
from .train import init_distributed, train_refiner

__all__ = [
    "AT_FULL_STRENGTH",
    "FULL",
    "MODES",
    "Applied",
    "ApplyOptions",
    "Calibration",
    "Refiner",
    "RefinerConfig",
    "calibrate_refiner",
    "calibration_summary",
    "init_distributed",
    "load_model",
    "make_scheduler",
    "sample_x0",
    "start_pose",
    "train_refiner",
    "validate",
]

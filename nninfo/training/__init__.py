"""Training: configuration, checkpoint schedule, checkpoints and the training loop."""

from nninfo.training.batched import train_seeds
from nninfo.training.checkpoint import Checkpoint
from nninfo.training.loop import (
    LOSSES,
    OPTIMIZERS,
    NonFiniteLossError,
    TrainConfig,
    train,
)
from nninfo.training.schedule import SCHEDULES, checkpoint_steps, total_steps

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "Checkpoint",
    "NonFiniteLossError",
    "TrainConfig",
    "checkpoint_steps",
    "total_steps",
    "train",
    "train_seeds",
]

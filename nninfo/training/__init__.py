"""Training: configuration, losses, checkpoint schedule, checkpoints and the training loops.

Modules: :mod:`~nninfo.training.config` (:class:`TrainConfig`), :mod:`~nninfo.training.losses`
(the losses, for training and evaluation), :mod:`~nninfo.training.schedule`,
:mod:`~nninfo.training.checkpoint`, :mod:`~nninfo.training.loop` (:func:`train_network`, one
seed), :mod:`~nninfo.training.batched` (:func:`train_batched`, several seeds as one
:class:`~nninfo.training.stacked.BatchedMLP`; its step in :mod:`~nninfo.training.seed_step`,
on a GPU as a CUDA graph, :mod:`~nninfo.training.graphs`, compiled with the noise of
:mod:`~nninfo.training.counter_noise`), :mod:`~nninfo.training.common` (what both loops
share), the fast CPU paths :mod:`~nninfo.training.fused` and
:mod:`~nninfo.training.mlp_step`, and :mod:`~nninfo.training.step_choice`, which picks the
path of a run (numpy step, autograd, batched, CUDA graph).
"""

from nninfo.training.batched import train_batched
from nninfo.training.checkpoint import Checkpoint
from nninfo.training.common import NonFiniteLossError
from nninfo.training.config import OPTIMIZERS, TrainConfig
from nninfo.training.loop import train_network
from nninfo.training.losses import LOSSES, OutputLoss
from nninfo.training.schedule import SCHEDULES, checkpoint_steps, total_steps
from nninfo.training.step_choice import StepChoice, choose_step

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "Checkpoint",
    "NonFiniteLossError",
    "OutputLoss",
    "StepChoice",
    "TrainConfig",
    "checkpoint_steps",
    "choose_step",
    "total_steps",
    "train_batched",
    "train_network",
]

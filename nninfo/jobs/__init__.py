"""The compute side of an experiment, free of MLflow, one module per verb.

Each job takes a validated config and plain paths and returns plain data, so it can run in a
worker process or on a Dask worker; :mod:`nninfo.tracking` does all the logging.

- :mod:`~nninfo.jobs.common`: the task, the network, splits, checkpoint loading.
- :mod:`~nninfo.jobs.train`: one seed (or a group of seeds), checkpoint files, resume.
- :mod:`~nninfo.jobs.analyze`: activation capture and the information measures.
- :mod:`~nninfo.jobs.evaluate`: loss and accuracy per dataset and class.
"""

from nninfo.jobs.analyze import CheckpointAnalysis, analyze_checkpoint
from nninfo.jobs.common import (
    build_network,
    load_checkpoint_network,
    load_experiment_task,
    split,
    steps_per_epoch,
)
from nninfo.jobs.evaluate import evaluate_checkpoint
from nninfo.jobs.train import (
    CheckpointFile,
    SeedTraining,
    batchable,
    train_seed,
    train_seed_group,
)

__all__ = [
    "CheckpointAnalysis",
    "CheckpointFile",
    "SeedTraining",
    "analyze_checkpoint",
    "batchable",
    "build_network",
    "evaluate_checkpoint",
    "load_checkpoint_network",
    "load_experiment_task",
    "split",
    "steps_per_epoch",
    "train_seed",
    "train_seed_group",
]

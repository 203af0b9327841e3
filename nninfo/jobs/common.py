"""What every job needs: the experiment's task, its network, splits, checkpoint loading."""

from __future__ import annotations

import functools
import json
from dataclasses import asdict
from pathlib import Path

import torch

from nninfo.config import ExperimentConfig
from nninfo.nn.network import Network
from nninfo.tasks import Task, load_task
from nninfo.tasks.base import Split
from nninfo.training import Checkpoint
from nninfo.training.common import StepPlan


@functools.lru_cache(maxsize=4)
def _task(task_json: str, data_dir: str | None) -> Task:
    spec = json.loads(task_json)
    return load_task(spec["name"], data_dir=data_dir, seed=spec["seed"],
                     label_encoding=spec["label_encoding"], **spec["options"])


def load_experiment_task(cfg: ExperimentConfig, data_dir: str | None = None) -> Task:
    """The experiment's task (cached per process)."""
    return _task(json.dumps(asdict(cfg.task), sort_keys=True), data_dir)


def steps_per_epoch(cfg: ExperimentConfig, data_dir: str | None = None) -> int:
    """Optimiser steps per epoch: training-split size over batch size, rounded up."""
    n = len(load_experiment_task(cfg, data_dir)["train"])
    return StepPlan.of(cfg.training, n).per_epoch


def build_network(cfg: ExperimentConfig, seed: int | None = None) -> Network:
    """The network, initialised from the config's fixed seed if it has one, else ``seed``."""
    spec = cfg.network
    return Network(list(spec.layers), seed=seed if spec.seed is None else spec.seed,
                   input_shape=spec.input_shape, init=spec.init)


def split(task: Task, name: str) -> Split:
    """A split by name; ``all`` is the task's ``full`` split if it has one, else every split
    concatenated."""
    if name != "all":
        return task[name]
    if "full" in task.splits:
        return task["full"]
    parts = list(task.splits.values())
    return Split(*(torch.cat([getattr(p, a) for p in parts]) for a in ("x", "y", "labels")))


def target_labels(cfg: ExperimentConfig, task: Task, labels: torch.Tensor) -> torch.Tensor:
    """The analysis target T of samples with class indices ``labels``: the labels themselves,
    or with ``analysis.target.code_columns`` the joint value of those columns of the task's
    label code (:func:`nninfo.tasks.labels.code_symbols`; checked against the task first)."""
    from nninfo.config.fit import check_target
    from nninfo.tasks.labels import code_symbols

    columns = cfg.analysis.target.code_columns
    if not columns:
        return labels
    check_target(cfg, task)
    return code_symbols(labels, task.label_encoding, task.n_classes, columns)


def load_checkpoint_network(cfg: ExperimentConfig, path: str | Path) -> Network:
    """A network in eval mode holding a checkpoint's weights."""
    return checkpoint_network(cfg, Checkpoint.load(path))


def checkpoint_network(cfg: ExperimentConfig, ck: Checkpoint) -> Network:
    """A network in eval mode holding the weights of the loaded checkpoint ``ck``."""
    net = build_network(cfg, ck.seed)
    net.load_state_dict(ck.model_state)
    return net.eval()

"""What every job needs: the experiment's task, its network, splits, checkpoint loading."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from nninfo.config import ExperimentConfig
from nninfo.nn.network import Network
from nninfo.tasks import Task, load_task
from nninfo.tasks.base import Split
from nninfo.training import Checkpoint, TrainConfig


def train_config(cfg: ExperimentConfig) -> TrainConfig:
    return TrainConfig.from_dict(dict(cfg.training))


@functools.lru_cache(maxsize=4)
def _task(task_json: str, data_dir: str | None) -> Task:
    spec = json.loads(task_json)
    options = dict(spec.get("options") or {})
    return load_task(spec["name"], data_dir=data_dir, seed=spec.get("seed", 42),
                     label_encoding=spec.get("label_encoding"), **options)


def load_experiment_task(cfg: ExperimentConfig, data_dir: str | None = None) -> Task:
    """The experiment's task (cached per process)."""
    return _task(json.dumps(cfg.task, sort_keys=True), data_dir)


def steps_per_epoch(cfg: ExperimentConfig, data_dir: str | None = None) -> int:
    """Optimiser steps per epoch: training-split size over batch size, rounded up."""
    n = len(load_experiment_task(cfg, data_dir)["train"])
    return -(-n // train_config(cfg).batch_size)


def build_network(cfg: ExperimentConfig, seed: int | None = None) -> Network:
    net_cfg = dict(cfg.network)
    net_cfg.setdefault("seed", seed)
    return Network.from_config(net_cfg)


def split(task: Task, name: str) -> Split:
    """A split by name; ``all`` is the task's ``full`` split if it has one, else every split
    concatenated."""
    if name != "all":
        return task[name]
    if "full" in task.splits:
        return task["full"]
    parts = list(task.splits.values())
    return Split(*(torch.cat([getattr(p, a) for p in parts]) for a in ("x", "y", "labels")))


def load_checkpoint_network(cfg: ExperimentConfig, path: str | Path) -> Network:
    """A network in eval mode holding a checkpoint's weights."""
    ck = Checkpoint.load(path)
    net = build_network(cfg, ck.seed)
    net.load_state_dict(ck.model_state)
    return net.eval()

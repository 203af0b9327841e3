"""Evaluate one checkpoint: loss and accuracy per dataset, overall and per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from nninfo.config import ExperimentConfig
from nninfo.jobs.common import load_checkpoint_network, load_experiment_task, split, train_config
from nninfo.nn.network import Network
from nninfo.tasks import Task


def evaluate_checkpoint(cfg: ExperimentConfig, path: str | Path, datasets: tuple[str, ...], *,
                        data_dir: str | None = None, device: str | None = None) -> pd.DataFrame:
    """Loss and accuracy per dataset, overall (``class == -1``) and per class."""
    task = load_experiment_task(cfg, data_dir)
    net = load_checkpoint_network(cfg, path)
    loss_name = train_config(cfg).loss
    rows = []
    for name in datasets:
        if name not in task.splits and name != "all":
            raise ValueError(f"performance.datasets: {name!r} is not one of "
                             f"{sorted(task.splits)} or 'all'")
        data = split(task, name)
        with torch.no_grad():
            losses, pred = _per_sample(net, data, loss_name, task)
        labels = data.labels.cpu().numpy()
        correct = (pred == labels)
        rows.append({"dataset": name, "class": -1, "loss": float(losses.mean()),
                     "accuracy": float(correct.mean()), "n": len(labels)})
        for c in np.unique(labels):
            sel = labels == c
            rows.append({"dataset": name, "class": int(c), "loss": float(losses[sel].mean()),
                         "accuracy": float(correct[sel].mean()), "n": int(sel.sum())})
    return pd.DataFrame(rows)


def _per_sample(net: Network, data, loss_name: str, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample loss and predicted class index."""
    from nninfo.tasks.labels import decode_labels

    out = torch.cat([net(xb) for xb in torch.split(data.x, 8192)])
    y = data.y
    if loss_name == "cross_entropy":
        losses = torch.nn.functional.cross_entropy(out, y.long().view(-1), reduction="none")
        pred = out.argmax(1)
    else:
        out = out.view(len(y), -1)
        target = y.float().view(len(y), -1)
        if loss_name == "bce":
            losses = torch.nn.functional.binary_cross_entropy(
                out.clamp(1e-7, 1 - 1e-7), target, reduction="none").mean(1)
        else:
            losses = ((out - target) ** 2).mean(1)
        if out.shape[1] == 1:
            pred = (out.view(-1) > 0.5).long()
        else:
            pred = decode_labels(out, task.label_encoding, task.n_classes)
    return losses.cpu().numpy(), pred.cpu().numpy()

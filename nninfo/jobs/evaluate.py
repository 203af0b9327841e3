"""Evaluate one checkpoint: loss and accuracy per dataset, overall and per class.

The loss is the config's ``performance.loss``: ``training`` (the loss the network is trained
on) or ``published`` (the published tester's: on a softmax head, cross-entropy of the softmax
probabilities, see :meth:`~nninfo.training.losses.OutputLoss.published_per_sample`). The
accuracy does not depend on it.

A reconstruction task (an autoencoder, label encoding ``reconstruction``) predicts no class:
its rows hold the reconstruction loss only, overall (no ``accuracy`` column, no per-class
rows: LFW has 5,749 people)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from nninfo.config import ExperimentConfig
from nninfo.jobs.common import load_checkpoint_network, load_experiment_task, split
from nninfo.nn.network import Network
from nninfo.tasks import RECONSTRUCTION, Task
from nninfo.training.losses import OutputLoss


def evaluate_checkpoint(cfg: ExperimentConfig, path: str | Path, datasets: tuple[str, ...], *,
                        data_dir: str | None = None, device: str | None = None) -> pd.DataFrame:
    """Loss and accuracy per dataset, overall (``class == -1``) and per class; the loss
    alone, overall, for a reconstruction task."""
    task = load_experiment_task(cfg, data_dir)
    net = load_checkpoint_network(cfg, path)
    loss_name = cfg.training.loss
    rows = []
    for name in datasets:
        if name not in task.splits and name != "all":
            raise ValueError(f"performance.datasets: {name!r} is not one of "
                             f"{sorted(task.splits)} or 'all'")
        data = split(task, name)
        losses, pred = _per_sample(net, data, loss_name, task, cfg.performance.loss)
        if task.reconstruction:
            rows.append({"dataset": name, "class": -1, "loss": float(losses.mean()),
                         "n": len(losses)})
            continue
        labels = data.labels.cpu().numpy()
        correct = (pred == labels)
        rows.append({"dataset": name, "class": -1, "loss": float(losses.mean()),
                     "accuracy": float(correct.mean()), "n": len(labels)})
        for c in np.unique(labels):
            sel = labels == c
            rows.append({"dataset": name, "class": int(c), "loss": float(losses[sel].mean()),
                         "accuracy": float(correct[sel].mean()), "n": int(sel.sum())})
    return pd.DataFrame(rows)


def _per_sample(net: Network, data, loss_name: str, task: Task, kind: str = "training"
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-sample loss and predicted class index (None for a reconstruction task), with the
    training loss's definitions (:class:`~nninfo.training.losses.OutputLoss`); ``kind``
    ``published``: the published tester's loss instead."""
    loss = OutputLoss.of(net, loss_name)
    per_sample = loss.published_per_sample if kind == "published" else loss.per_sample
    x = data.x if data.x.is_floating_point() else data.x.float()
    t = loss.targets(data.y)[0]
    losses, pred = [], []
    with torch.no_grad():
        for xb, tb in zip(torch.split(x, 8192), torch.split(t, 8192), strict=True):
            out, pre, _ = net.forward_parts(xb)
            losses.append(per_sample(out, pre, tb))
            if task.label_encoding != RECONSTRUCTION:
                pred.append(loss.predict(out, pre, task.label_encoding, task.n_classes))
    return (torch.cat(losses).cpu().numpy(),
            torch.cat(pred).cpu().numpy() if pred else None)

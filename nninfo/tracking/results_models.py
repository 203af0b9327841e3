"""Models and activations of logged checkpoints (part of the ``nninfo.results`` API)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nninfo.tracking import runs
from nninfo.tracking.checkpoints import checkpoint_index, download_checkpoint


def _checkpoint(run_id: str, epoch: float | None, step: int | None) -> tuple[Path, dict]:
    runs.require_store()
    index = checkpoint_index(run_id)
    if step is None and epoch is None:
        chosen = index[-1]
    else:
        match = [ck for ck in index
                 if (step is not None and ck["step"] == step)
                 or (epoch is not None and np.isclose(ck["epoch"], epoch))]
        if not match:
            have = ", ".join(f"{ck['epoch']:g}" for ck in index)
            raise ValueError(f"epoch: {epoch!r} (step {step!r}) is not a checkpoint of run "
                             f"{run_id}; available epochs: {have}")
        chosen = match[0]
    return Path(download_checkpoint(run_id, chosen)), chosen  # verified, cached


def load_model(run_id: str, epoch: float | None = None, *, step: int | None = None):
    """The seed run's network at a checkpoint (default: the last), ready in eval mode."""
    from nninfo.jobs import load_checkpoint_network

    path, _ = _checkpoint(run_id, epoch, step)
    return load_checkpoint_network(runs.logged_config(run_id, "seed run"), path)


def load_activations(run_id: str, epoch: float | None = None, *, layers: list[str] | None = None,
                     dataset: str | None = None, step: int | None = None,
                     data_dir: str | None = None):
    """Quantized activations (a :class:`nninfo.capture.Capture`) of a checkpoint; its
    ``labels`` are the analysis target T (``analysis.target``: the class labels by default)."""
    from nninfo.capture import capture_codes
    from nninfo.jobs import load_checkpoint_network, load_experiment_task, split
    from nninfo.jobs.common import target_labels

    cfg = runs.logged_config(run_id, "seed run")
    path, _ = _checkpoint(run_id, epoch, step)
    net = load_checkpoint_network(cfg, path)
    task = load_experiment_task(cfg, data_dir)
    data = split(task, dataset or cfg.analysis.dataset)
    layers = layers or list(cfg.analysis.layers) or net.layer_names
    return capture_codes(net, data.x, target_labels(cfg, task, data.labels), layers,
                         n_bins=cfg.analysis.n_bins)

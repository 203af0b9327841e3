"""Which training step a run takes: the one place that decides.

The paths (:attr:`StepChoice.path`):

- ``numpy``: one seed after another in the single-seed loop
  (:func:`~nninfo.training.loop.train_network`), with the hand-written numpy step of
  :mod:`~nninfo.training.mlp_step`: plain MLPs on the CPU.
- ``autograd``: one seed after another in the single-seed loop, with torch autograd.
- ``batched``: the seeds of a group at once as one
  :class:`~nninfo.training.stacked.BatchedMLP` (:func:`~nninfo.training.batched.train_batched`),
  each step run eagerly.
- ``cuda_graph``: as ``batched``, each step replayed as a captured CUDA graph (on a GPU).

The batched paths can in addition be ``compiled`` (``torch.compile`` and counter-based
quantizer noise, :mod:`~nninfo.training.seed_step`), but only when asked: its noise is another
stream than the single-seed loop's, and it becomes a default only once a GPU measurement
justifies it. The jobs (:mod:`nninfo.jobs.train`) call :func:`choose_step` and follow it; the
loops called directly (tests, benchmarks) take their own path the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nninfo.training.common import resolve_device
from nninfo.training.config import TrainConfig
from nninfo.training.losses import OutputLoss
from nninfo.training.mlp_step import unsupported_reason

NUMPY, AUTOGRAD, BATCHED, CUDA_GRAPH = "numpy", "autograd", "batched", "cuda_graph"


@dataclass(frozen=True)
class StepChoice:
    """The path a run takes (:data:`NUMPY`, :data:`AUTOGRAD`, :data:`BATCHED` or
    :data:`CUDA_GRAPH`), why, and whether a batched path is compiled."""

    path: str
    reason: str
    compiled: bool = False

    @property
    def batched(self) -> bool:
        """Whether the seeds train at once as one batched model (else one after another)."""
        return self.path in (BATCHED, CUDA_GRAPH)

    @property
    def graph(self) -> bool:
        """Whether each batched step is a captured CUDA graph."""
        return self.path == CUDA_GRAPH


def batchable_network(layers: Sequence[dict[str, Any]], fixed_seed: int | None) -> bool:
    """Whether several seeds of a network can train at once as one batched model: only
    linear layers, each seed initialised from its own seed (no fixed network seed)."""
    return fixed_seed is None and all(layer.get("type") == "linear" for layer in layers)


def numpy_step_unsupported(
    net: torch.nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig, device: torch.device
) -> str | None:
    """Why ``net`` trained with ``cfg`` on ``(x, y)`` on ``device`` cannot take the numpy
    step (None: it can). ``net``, ``x``, ``y``: on the CPU or already on ``device``."""
    if device.type != "cpu":
        return "not on the CPU"
    x = x if x.is_floating_point() else x.float()
    t = OutputLoss.of(net, cfg.loss).targets(y)[0]
    return unsupported_reason(net, cfg.loss, t, x)


def choose_step(
    net: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    cfg: TrainConfig,
    device: str | torch.device | None = None,
    *,
    group: bool = False,
    batchable: bool = False,
    resume_steps: Sequence[int | None] = (),
    compiled: bool = False,
) -> StepChoice:
    """The path of a run of ``net`` (for a group: of its first seed) on ``(x, y)``.

    A single seed (``group=False``) takes the numpy step where it covers the network, else
    autograd. A group of seeds trains as one batched model when it is ``batchable`` (see
    :func:`batchable_network`), unless the numpy step covers the network (on a CPU, seeds one
    after another with it are faster: 5.7 s per seed for 1,000 epochs of the Tishby network,
    against 6.5 s with 10 seeds batched) or the seeds' earlier attempts stopped at different
    steps (``resume_steps``, None for a fresh start); then one seed after another, as a single
    seed would. A batched group runs as a CUDA graph on a GPU, eagerly elsewhere; compiled
    only with ``compiled`` (off by default, see the module's docstring).
    """
    device = resolve_device(device)
    why_not = numpy_step_unsupported(net, x, y, cfg, device)
    single = (
        StepChoice(NUMPY, "the numpy step covers this network on the CPU")
        if why_not is None
        else StepChoice(AUTOGRAD, f"the numpy step does not cover it: {why_not}")
    )
    if not group:
        return single
    if not batchable:
        return StepChoice(single.path, "not batchable (layers other than linear, or a fixed "
                          f"network seed); one seed after another, {single.reason}")
    if single.path == NUMPY:
        return StepChoice(NUMPY, "one seed after another with the numpy step is faster on "
                          "the CPU than a batched model")
    if len(set(resume_steps)) > 1:
        return StepChoice(single.path, "earlier attempts stopped at different steps; one "
                          f"seed after another, {single.reason}")
    if device.type == "cuda":
        return StepChoice(CUDA_GRAPH, "a batched model on a GPU, each step a CUDA graph",
                          compiled)
    return StepChoice(BATCHED, f"a batched model on {device.type}, each step eager", compiled)

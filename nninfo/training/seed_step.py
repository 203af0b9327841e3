"""One training step of a seed group (a :class:`~nninfo.training.stacked.BatchedMLP`): the
next batch of every seed, forward, loss, gradients, update.

Two ways to run its forward pass and loss: eagerly, with each seed's quantizer noise from its
own generator (the numbers of the single-seed loop), or compiled with ``torch.compile``,
with the noise from :class:`~nninfo.training.counter_noise.CounterNoise`, a hash that the
compiler folds into the quantizer's kernel (fewer, fused kernels per step: what a GPU needs
for a network this small).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from nninfo.training.common import EpochSums
from nninfo.training.config import TrainConfig
from nninfo.training.counter_noise import CounterNoise, seed_key
from nninfo.training.fused import FusedStep
from nninfo.training.graphs import GraphedStep, SeedBatches
from nninfo.training.losses import OutputLoss
from nninfo.training.stacked import BatchedMLP

# Batches are padded (with ignored rows) to a multiple of this many rows, so that every
# elementwise kernel sees each seed's block as whole vector chunks: the vectorised kernels
# compute a tensor's tail differently from its body, which would make a seed's numbers depend
# on its position in the stack (and so on the other seeds in the batch).
PAD_ROWS = 64

Noise = Callable[[int], list[Tensor | None]]  # draw(batch): per layer (S, batch, width) or None
Pass = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, list[Tensor]]]


def padded_pass(
    net: BatchedMLP, loss_fn: OutputLoss, draw: Noise, xb: Tensor, tb: Tensor
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Per-sample losses and correctness ``(S, batch)`` and hidden outputs of one batch,
    computed on the batch padded to a multiple of :data:`PAD_ROWS` rows; the quantizer noise
    comes from ``draw(batch)``."""
    batch = xb.shape[1]
    noise = draw(batch)
    pad = -batch % PAD_ROWS
    if pad:
        xb = F.pad(xb, (0, 0, 0, pad))
        tb = F.pad(tb, (0, pad) if tb.dim() == 2 else (0, 0, 0, pad))
        noise = [None if u is None else F.pad(u, (0, 0, 0, pad)) for u in noise]
    out, pre, hidden = net.forward_parts(xb, noise)
    losses, correct = loss_fn(out, pre, tb)
    if pad:
        losses, correct = losses[:, :batch], correct[:, :batch]
        hidden = [h[:, :batch] for h in hidden]
    return losses, correct, hidden


def make_pass(net: BatchedMLP, loss_fn: OutputLoss, draw: Noise, compiled: bool) -> Pass:
    """``pass(xb, tb)``: :func:`padded_pass` with ``draw``; compiled whole (one graph, static
    shapes: one compilation per batch size) when ``compiled``."""

    def run(xb: Tensor, tb: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        return padded_pass(net, loss_fn, draw, xb, tb)

    # the parameters are graph inputs: groups of the same shapes reuse one compilation
    return torch.compile(run, fullgraph=True, dynamic=False) if compiled else run


def seeds_step(
    forward: Pass,
    opt_step: FusedStep,
    sums: EpochSums,
    cfg: TrainConfig,
    batches: SeedBatches,
) -> Callable[[int], None]:
    """``step(batch)``: the next batch of every seed, ``forward`` (losses, correctness,
    hidden outputs), loss plus l1/l2 terms, gradients, update; adds to ``sums``. Keeps its
    state in tensors, so that it can be captured as a CUDA graph."""
    regularise = cfg.l1 > 0 or cfg.l2 > 0

    def step(batch: int) -> None:
        xb, tb = batches.next(batch)
        losses, correct, hidden = forward(xb, tb)
        seed_loss = losses.mean(1)
        loss = seed_loss.sum()  # seeds share no weights: each gets its own gradient
        if regularise:
            loss = loss + sum(
                cfg.l1 * h.abs().mean((1, 2)).sum() + cfg.l2 * h.square().mean((1, 2)).sum()
                for h in hidden
            )
        opt_step(torch.autograd.grad(loss, opt_step.params))
        sums.loss.add_(seed_loss.detach(), alpha=batch)
        sums.correct.add_(correct.sum(1))

    return step


def group_step(
    net: BatchedMLP,
    loss_fn: OutputLoss,
    opt_step: FusedStep,
    sums: EpochSums,
    cfg: TrainConfig,
    batches: SeedBatches,
    *,
    noise_gens: list[torch.Generator],
    noise_seeds: list[int],
    start: int,
    graph: bool,
    compiled: bool,
) -> GraphedStep:
    """The step of a seed group from step ``start`` on, as :class:`GraphedStep` (a CUDA
    graph on a GPU unless ``graph`` is False): eager with noise from ``noise_gens``, or
    ``compiled`` with :class:`CounterNoise` keyed by ``noise_seeds``."""
    device = batches.x.device
    if compiled:
        counter = CounterNoise([seed_key(s) for s in noise_seeds], net.noise_widths(), device)
        counter.set_step(start)
        draw, gens = counter.draw, []
    else:
        draw, gens = (lambda batch: net.draw_noise(noise_gens, batch)), noise_gens
    step = seeds_step(make_pass(net, loss_fn, draw, compiled), opt_step, sums, cfg, batches)
    return GraphedStep(step, device, gens, graph)

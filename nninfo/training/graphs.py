"""What lets a training step run as one captured CUDA graph: device-resident batches with a
device-side row counter (:class:`SeedBatches`) and the capture-and-replay wrapper
(:class:`GraphedStep`).

A step of a small network is a few hundred tiny kernels; launched one by one from Python the
GPU waits for the launches. Captured once as a CUDA graph and replayed, the whole step is one
launch. A graph replays fixed kernels on fixed memory, so everything a step reads must sit in
tensors that stay put: the data, each seed's permutation of the epoch, and the position in
the epoch, advanced on the device by the step itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

WARMUP_STEPS = 2  # eager steps per batch size before its graph is captured (lazy inits)


class SeedBatches:
    """Each seed's batches, gathered on the data's device from that seed's permutation.

    ``x``, ``t``: the whole training set, on the training device. Per epoch,
    :meth:`start_epoch` copies in the seeds' permutations ``(S, n)`` and the row to start
    from; each :meth:`next` then gathers the next ``batch`` rows of every permutation,
    ``(S, batch, ...)``, and advances the row counter, a device tensor, so that a captured
    graph of the step reads a new batch at every replay.
    """

    def __init__(self, x: Tensor, t: Tensor, n_seeds: int, batch_size: int) -> None:
        self.x, self.t = x, t
        self.perms = torch.empty((n_seeds, len(x)), dtype=torch.long, device=x.device)
        self.row = torch.zeros((), dtype=torch.long, device=x.device)
        self._arange = torch.arange(batch_size, device=x.device)

    def start_epoch(self, perms: Tensor, first_row: int) -> None:
        """Use ``perms`` (``(S, n)``, any device) from row ``first_row`` on."""
        self.perms.copy_(perms)
        self.row.fill_(first_row)

    def next(self, batch: int) -> tuple[Tensor, Tensor]:
        """The next ``batch`` rows of every seed: inputs ``(S, batch, ...)``, targets alike."""
        rows = self.perms.index_select(1, self.row + self._arange[:batch])
        self.row.add_(batch)
        return self.x[rows], self.t[rows]


class GraphedStep:
    """``step(batch)`` that runs ``fn(batch)``: eagerly on the CPU; on a GPU, as a CUDA graph.

    On a GPU the first :data:`WARMUP_STEPS` calls of each batch size run eagerly on a side
    stream (they are real steps), the next is captured as a graph, and every call from then
    on replays it (one graph per batch size: the full batches and an epoch's last, shorter
    one). ``fn`` must keep its state in tensors that it updates in place (parameters,
    optimiser state, running sums, :class:`SeedBatches`), take no Python decision that
    changes between calls of one batch size, keep no tensor it makes, and draw random
    numbers only from ``generators`` (registered with every graph, so that replays advance
    them as eager calls would). ``graph=False`` runs every call eagerly.
    """

    def __init__(
        self,
        fn: Callable[[int], None],
        device: torch.device,
        generators: Sequence[torch.Generator] = (),
        graph: bool = True,
    ) -> None:
        self.fn, self.generators = fn, list(generators)
        self.capture = graph and device.type == "cuda"
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self._calls: dict[int, int] = {}

    def __call__(self, batch: int) -> None:
        graph = self.graphs.get(batch)
        if graph is not None:
            graph.replay()
        elif not self.capture:
            self.fn(batch)
        elif self._calls.setdefault(batch, 0) < WARMUP_STEPS:
            self._calls[batch] += 1
            self._side_stream(batch)
        else:
            self._capture(batch).replay()  # capturing records the step; replay runs it

    def _side_stream(self, batch: int) -> None:
        """An eager step on a side stream, as CUDA graph capture wants its warm-up."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.fn(batch)
        torch.cuda.current_stream().wait_stream(side)

    def _capture(self, batch: int) -> torch.cuda.CUDAGraph:
        graph = torch.cuda.CUDAGraph()
        for gen in self.generators:
            graph.register_generator_state(gen)
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            self.fn(batch)
        self.graphs[batch] = graph
        return graph

"""An epoch's mini-batches as slices of resident tensors, gathered ahead on a helper thread.

Shuffled batches need their rows gathered (a copy). :class:`BatchGatherer` gathers the rows of
several batches at a time on one helper thread while the training step runs on the caller's,
so on a machine with a spare core the copy costs the step nothing; each batch is then a
contiguous slice of its chunk. Which rows form which batch depends only on the permutation,
so the batches are the same as a serial gather's.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from torch import Tensor

CHUNK_BYTES = 4 * 2**20  # gather about this much input per hand-off (stays in cache)


class BatchGatherer:
    """Yields ``(xb, tb)`` per batch; use as a context manager (owns one helper thread)."""

    def __init__(self, x: Tensor, t: Tensor, batch_size: int) -> None:
        self.x, self.t, self.bs = x, t, batch_size
        row_bytes = max(1, x[:1].numel() * x.element_size())
        self.chunk = max(1, CHUNK_BYTES // (row_bytes * batch_size))  # batches per chunk
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nninfo-batches")

    def __enter__(self) -> BatchGatherer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def epoch(self, order: Tensor | None, first: int, stop: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches ``first .. stop-1`` of an epoch in ``order`` (None: unshuffled)."""
        bs = self.bs
        if order is None:
            for b in range(first, stop):
                yield self.x[b * bs : (b + 1) * bs], self.t[b * bs : (b + 1) * bs]
            return
        pending = self._submit(order, first, stop)
        for start in range(first, stop, self.chunk):
            xs, ts = pending.result()
            if start + self.chunk < stop:
                pending = self._submit(order, start + self.chunk, stop)
            for i in range(min(self.chunk, stop - start)):
                yield xs[i * bs : (i + 1) * bs], ts[i * bs : (i + 1) * bs]

    def _submit(self, order: Tensor, start: int, stop: int) -> Future:
        rows = order[start * self.bs : min(start + self.chunk, stop) * self.bs]
        return self._pool.submit(_gather, self.x, self.t, rows)


def _gather(x: Tensor, t: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    return x.index_select(0, rows), t.index_select(0, rows)

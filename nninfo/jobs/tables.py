"""A layer's joint outcomes for the measures: sample codes (hard binning) or a weighted table
(the Gaussian-noise binnings), rebuilt for any relabelling (shuffled-label surrogates)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Table:
    """Rows of per-neuron codes with a label each; ``weights`` None: equally weighted samples,
    else each row's probability (a table from :mod:`nninfo.info.binning`)."""

    codes: np.ndarray  # (R, width) non-negative integer codes
    labels: np.ndarray  # (R,)
    weights: np.ndarray | None = None

    def sources(self, groups: Sequence[Sequence[int]]) -> np.ndarray:
        """(R, len(groups)) int64: one source per group of neuron indices (mixed radix while
        the codes fit int64, else the index of each row's distinct pattern)."""
        radix = int(self.codes.max()) + 1 if self.codes.size else 1
        out = np.zeros((len(self.codes), len(groups)), dtype=np.int64)
        for j, group in enumerate(groups):
            if radix ** len(group) > np.iinfo(np.int64).max:  # e.g. a whole conv layer
                patterns = np.ascontiguousarray(self.codes[:, list(group)])
                out[:, j] = np.unique(patterns, axis=0, return_inverse=True)[1].ravel()
                continue
            for i in reversed(group):
                out[:, j] = out[:, j] * radix + self.codes[:, i]
        return out

    def samples(self, groups: Sequence[Sequence[int]]) -> np.ndarray:
        """(R, len(groups) + 1): the sources, then the label (the PID's input)."""
        return np.column_stack([self.sources(groups), self.labels.astype(np.int64)])


@dataclass(frozen=True)
class LayerTables:
    """A layer's samples, as the table for their labels (:meth:`table`) or for any relabelling
    of the same samples (``build``, for shuffled-label surrogates)."""

    labels: np.ndarray  # (N,) the samples' labels
    build: Callable[[np.ndarray], Table]

    def table(self) -> Table:
        return self.build(self.labels)


def hard_table(codes: np.ndarray, labels: np.ndarray) -> LayerTables:
    """Samples as they are: each sample one equally weighted row."""
    return LayerTables(labels, lambda relabelled: Table(codes, relabelled))


def noisy_table(values: np.ndarray, labels: np.ndarray, limits: tuple[float, float],
                n_bins: int, sigma: float, binning: str) -> LayerTables:
    """Gaussian noise of width ``sigma`` on each unit's noiseless ``values``, binned on the grid
    of ``n_bins`` bins between ``limits``: ``goldfeld`` (the published estimator: the density
    at the bin centres) or ``smoothed`` (the mass in each bin)."""
    from nninfo.info.binning import goldfeld_outcomes, smoothed_outcomes

    outcomes = {"goldfeld": goldfeld_outcomes, "smoothed": smoothed_outcomes}[binning]

    def build(relabelled: np.ndarray) -> Table:
        rows, probs = outcomes(values, relabelled, limits, n_bins, sigma)
        return Table(rows[:, :-1], rows[:, -1], probs)

    return LayerTables(labels, build)

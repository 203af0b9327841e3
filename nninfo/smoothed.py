"""Noise-smoothed binning: the joint distribution of a noisy layer's binned activations.

For networks whose units carry Gaussian noise, the distribution to analyse is that of
``v + N(0, sigma^2)`` rather than of the noiseless activation ``v``. Each activation then
puts the Gaussian's mass falling into each of ``n_bins`` equal-width bins on that bin (a
Gaussian kernel on the bin grid; the end bins are open-ended, as in hard binning), neurons'
noises are independent, and a sample's joint weights are the product over its neurons.
The result is an ``(outcomes, probs)`` table that :func:`nninfo.info.sx_pid` takes directly.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import ndtr

from nninfo.capture import bin_edges, bin_values

CHUNK_ROWS = 2**22  # (sample, joint bin) pairs expanded at a time
DENSE_MAX = 2**24  # grids up to this many cells are accumulated densely


def smoothed_outcomes(
    values: np.ndarray,
    labels: np.ndarray,
    limits: tuple[float, float],
    n_bins: int,
    sigma: float,
    *,
    cutoff: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (bin of each neuron..., label) rows and their probabilities.

    Parameters
    ----------
    values : (N, width) activations of one layer (noiseless).
    labels : (N,) non-negative integer labels (the target, last column of the outcomes).
    limits, n_bins : the bin grid, as for hard binning (``nninfo.capture.bin_values``).
    sigma : standard deviation of each unit's Gaussian noise; 0 gives hard binning.
    cutoff : bins farther than ``cutoff * sigma`` from a value get no mass (the rest is
        renormalised; the default drops less than 1e-4 of each unit's mass).

    Returns ``(outcomes, probs)``: outcomes (R, width + 1) int64, probs (R,) summing to 1,
    e.g. ``sx_pid(outcomes, probs)`` for the PID with every neuron a source.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    if values.ndim != 2 or labels.shape != (len(values),):
        raise ValueError(
            f"values: shape {values.shape} and labels: shape {labels.shape}; need (N, width) "
            "and (N,)"
        )
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise ValueError("labels: need non-negative integers")
    if not (isinstance(sigma, int | float) and np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma: {sigma!r} is not a number >= 0")
    edges = bin_edges(limits, n_bins)
    classes = int(labels.max()) + 1 if labels.size else 1
    if classes * float(n_bins) ** values.shape[1] >= 2.0**63:
        raise ValueError(
            f"values: {values.shape[1]} neurons x {n_bins} bins x {classes} labels overflow "
            "int64 outcome keys; smooth fewer neurons at a time"
        )
    units = [_unit_weights(u, edges, float(sigma), cutoff) for u in np.ascontiguousarray(values.T)]
    grid = classes * n_bins ** values.shape[1]
    support = int(np.prod([b.shape[1] for b, _ in units]))  # joint bins per sample
    chunk = max(1, CHUNK_ROWS // support)
    dense = np.zeros(grid) if grid <= DENSE_MAX else None
    parts = []
    for start in range(0, len(values), chunk):
        rows = slice(start, start + chunk)
        keys, weights = _sample_keys(labels[rows], [(b[rows], w[rows]) for b, w in units], n_bins)
        keep = weights > 0
        if dense is not None:
            dense += np.bincount(keys[keep], weights[keep], minlength=grid)
        else:
            parts.append(_aggregate(keys[keep], weights[keep]))
    if dense is not None:
        keys = np.flatnonzero(dense)
        weights = dense[keys]
    else:
        keys, weights = _aggregate(*(np.concatenate(p) for p in zip(*parts, strict=True)))
    return _decode(keys, values.shape[1], n_bins), weights / weights.sum()


def _sample_keys(
    labels: np.ndarray, units: list[tuple[np.ndarray, np.ndarray]], n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every (label, bin per unit) key each sample reaches, with the sample's weight on it."""
    keys = labels.astype(np.int64)[:, None]
    weights = np.ones((len(labels), 1))
    for bins, mass in units:
        keys = (keys[:, :, None] * n_bins + bins[:, None, :]).reshape(len(labels), -1)
        weights = (weights[:, :, None] * mass[:, None, :]).reshape(len(labels), -1)
    return keys.ravel(), weights.ravel()


def _aggregate(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys, inverse = np.unique(keys, return_inverse=True)
    return keys, np.bincount(inverse, weights=weights)


def _unit_weights(
    v: np.ndarray, edges: np.ndarray, sigma: float, cutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """(N, m) candidate bins of each value and the Gaussian mass each gets (rows sum to 1)."""
    n_bins = len(edges) - 1
    width = edges[1] - edges[0]
    centre = bin_values(torch.from_numpy(v), (edges[0], edges[-1]), n_bins).numpy()  # hard bin
    reach = 0 if sigma == 0 else int(np.ceil(cutoff * sigma / width))
    bins = centre[:, None] + np.arange(-reach, reach + 1)
    valid = (bins >= 0) & (bins < n_bins)
    bins = np.clip(bins, 0, n_bins - 1)
    if sigma == 0:
        return bins, valid.astype(np.float64)
    lower = np.where(bins == 0, -np.inf, edges[bins])  # end bins take the tails
    upper = np.where(bins == n_bins - 1, np.inf, edges[bins + 1])
    mass = ndtr((upper - v[:, None]) / sigma) - ndtr((lower - v[:, None]) / sigma)
    mass = np.where(valid, mass, 0.0)
    return bins, mass / mass.sum(axis=1, keepdims=True)


def _decode(keys: np.ndarray, width: int, n_bins: int) -> np.ndarray:
    """Rows (bin of neuron 0, ..., bin of neuron width-1, label) of mixed-radix keys."""
    out = np.empty((len(keys), width + 1), dtype=np.int64)
    for j in range(width - 1, -1, -1):
        keys, out[:, j] = np.divmod(keys, n_bins)
    out[:, width] = keys
    return out

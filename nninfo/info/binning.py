"""Noise-smoothed binning: the joint distribution of a noisy layer's binned activations.

For networks whose units carry Gaussian noise, the distribution to analyse is that of
``v + N(0, sigma^2)`` rather than of the noiseless activation ``v``. Two estimators turn N
noiseless samples into an ``(outcomes, probs)`` table (rows: bin of each neuron, then the
label; probabilities summing to 1) that :func:`nninfo.info.sx_pid` takes directly and the
entropy-based measures take as ``(outcomes[:, :-1], outcomes[:, -1], weights=probs)``:

* :func:`goldfeld_outcomes`, the published ``goldfeld:fixed_size`` binning
  (``nninfo/analysis/binning.py``, ``GoldfeldBinning``): the Gaussian *density* at the bin
  centres of a grid extended by extra bins beyond the limits, outer product over neurons,
  summed per label; the whole table is normalised, small cells dropped, renormalised.
* :func:`smoothed_outcomes`: the Gaussian *mass* falling into each bin (normal CDF
  differences), end bins open-ended as in hard binning, each sample weighing 1/N.

Both treat the neurons' noises as independent and the label as noiseless. Hard binning
(:func:`hard_bins`) is that of ``nninfo.capture.bin_values``: bin i is ``[e_i, e_{i+1})``,
the last bin includes ``hi``, values outside the limits go to the end bins.
"""

from __future__ import annotations

import math
import warnings
from numbers import Real

import numpy as np
from scipy.special import ndtr

from nninfo.checks import is_integer

MIN_BINS = 2
"""Fewest bins of a grid: the one bound of ``analysis.n_bins``, the capture and the binnings."""

GRID_MAX = 2**24
"""Most cells (:func:`grid_cells`) either noise binning builds: :func:`goldfeld_outcomes`'s
grid ``(n_bins + 2 * n_extra)**width * labels`` (a float64 grid of 128 MiB), or the joint bins
``(2 * reach + 1)**width`` each sample spreads over in :func:`smoothed_outcomes`; larger grids
are refused before anything is allocated (and by the config check, before any training)."""

MAX_BINS = 10_000
"""Most bins of a grid (``analysis.n_bins``): finer bins than this leave almost every bin
empty for any data set's sample count, so the estimates measure the sample size."""

CHUNK_ROWS = 2**22  # (sample, joint bin) pairs expanded at a time
DENSE_MAX = 2**24  # smoothed_outcomes: grids up to this many cells are accumulated densely

DEFAULT_EXTRA_BIN_FACTOR = 4.0
DEFAULT_PROB_THRESHOLD = 1e-10
DEFAULT_CUTOFF = 4.0


def grid_cells(binning: str, width: int, n_bins: int, sigma: float, bin_size: float,
               labels: int = 1, *, extra_bin_factor: float = DEFAULT_EXTRA_BIN_FACTOR,
               cutoff: float = DEFAULT_CUTOFF) -> tuple[int, str]:
    """The cells a noise binning of ``width`` neurons builds, checked against
    :data:`GRID_MAX`, and how they come about (for error messages).

    ``goldfeld``: ``n_grid**width * labels`` with ``n_grid = n_bins + 2 * n_extra`` and
    ``n_extra = ceil(extra_bin_factor * sigma / bin_size)`` (the grid it allocates);
    ``smoothed``: ``(2 * reach + 1)**width`` with ``reach = min(ceil(cutoff * sigma /
    bin_size), n_bins - 1)``, the joint bins every sample spreads its mass over (the work
    and memory per sample). Python ints: no overflow."""
    if binning == "goldfeld":
        plural = "" if labels == 1 else "s"
        n_extra = int(math.ceil(extra_bin_factor * sigma / bin_size))
        n_grid = n_bins + 2 * n_extra
        return n_grid**width * labels, (
            f"{width} neurons x {n_grid} bins (n_bins={n_bins} + 2 x {n_extra} extra for "
            f"sigma={sigma!r}, extra_bin_factor={extra_bin_factor!r}) x {labels} label{plural}")
    if binning == "smoothed":
        reach = _reach(sigma, bin_size, cutoff, n_bins)
        return (2 * reach + 1)**width, (
            f"{width} neurons x {2 * reach + 1} bins each sample reaches per neuron "
            f"(n_bins={n_bins}, sigma={sigma!r} reaches {reach} bins of size {bin_size:.3g} "
            f"either side, cutoff={cutoff!r})")
    raise ValueError(f"binning: {binning!r}; need goldfeld or smoothed")


def _reach(sigma: float, bin_size: float, cutoff: float, n_bins: int) -> int:
    """Bins either side of a value's bin that get mass (beyond ``n_bins - 1`` there are
    none: every bin is within reach)."""
    return 0 if sigma == 0 else min(int(math.ceil(cutoff * sigma / bin_size)), n_bins - 1)


def check_grid(binning: str, width: int, n_bins: int, sigma: float, bin_size: float,
               labels: int = 1, **kwargs) -> None:
    """ValueError when :func:`grid_cells` exceeds :data:`GRID_MAX`."""
    cells, how = grid_cells(binning, width, n_bins, sigma, bin_size, labels, **kwargs)
    if cells > GRID_MAX:
        raise ValueError(f"values: {how} = {cells} grid cells; the limit is "
                         f"GRID_MAX={GRID_MAX}: use fewer neurons, bins or a smaller sigma")


def bin_edges(limits: tuple[float, float], n_bins: int) -> np.ndarray:
    """The ``n_bins + 1`` equal-width bin edges spanning ``limits`` (also the hard binning's
    grid, :func:`nninfo.capture.bin_values`)."""
    if not is_integer(n_bins, MIN_BINS, numpy_ints=True):
        raise ValueError(f"n_bins={n_bins!r}: need an integer >= {MIN_BINS}")
    try:
        lo, hi = (float(x) for x in limits)
    except (TypeError, ValueError):
        raise ValueError(f"limits={limits!r}: need a pair of numbers (lo, hi)") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"limits={limits!r}: need finite numbers with lo < hi")
    return np.linspace(lo, hi, int(n_bins) + 1)


def hard_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index (int64) of each value on ``edges``: bin i is ``[e_i, e_{i+1})``, the last bin
    includes ``hi``, values outside saturate into the end bins (as ``torch.bucketize``
    with ``right=True`` in ``nninfo.capture.bin_values``)."""
    return np.searchsorted(edges[1:-1], values, side="right").astype(np.int64)


def check_binning_inputs(
    values: object,
    labels: object,
    limits: tuple[float, float],
    n_bins: int,
    sigma: object,
    *,
    sigma_zero_ok: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one layer's noiseless activations, labels, grid and noise for either estimator.

    Returns ``(values (N, width) float64, labels (N,) int64, bin edges)``; raises ValueError
    naming the field, its value and what is allowed.
    """
    v, lab = np.asarray(values), np.asarray(labels)
    if v.ndim != 2 or lab.shape != (len(v),) or v.shape[0] == 0 or v.shape[1] == 0:
        raise ValueError(
            f"values: shape {v.shape} and labels: shape {lab.shape}; need (N, width) and (N,) "
            "with N >= 1 samples and width >= 1 neurons"
        )
    if v.dtype.kind not in "biuf":
        raise ValueError(f"values: dtype {v.dtype}; need real numbers (activations)")
    if not np.all(np.isfinite(v)):
        raise ValueError("values: contains NaN or inf; need finite activations")
    if lab.dtype.kind not in "iu" or lab.min() < 0:
        raise ValueError(f"labels: need non-negative integers; got dtype {lab.dtype}, "
                         f"min {int(lab.min())}")
    real = not isinstance(sigma, bool) and isinstance(sigma, Real) and math.isfinite(sigma)
    if not (real and (sigma >= 0 if sigma_zero_ok else sigma > 0)):
        need = ">= 0" if sigma_zero_ok else "> 0 (the Gaussian density needs noise)"
        raise ValueError(f"sigma: {sigma!r} is not a finite number {need}")
    return v.astype(np.float64, copy=False), lab.astype(np.int64, copy=False), \
        bin_edges(limits, n_bins)


def goldfeld_outcomes(
    values: np.ndarray,
    labels: np.ndarray,
    limits: tuple[float, float],
    n_bins: int,
    sigma: float,
    *,
    extra_bin_factor: float = DEFAULT_EXTRA_BIN_FACTOR,
    prob_threshold: float = DEFAULT_PROB_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray]:
    """The published ``goldfeld:fixed_size`` table: Gaussian densities at bin centres.

    The grid spans ``limits`` with ``n_bins`` bins of size ``b`` plus
    ``n_extra = ceil(extra_bin_factor * sigma / b)`` bins on each side. Each sample adds, to
    its label's table, the product over neurons of ``pdf(c - v)`` (Gaussian of std ``sigma``)
    at every grid centre ``c``; the whole table is normalised, cells below
    ``prob_threshold`` (and cells of probability 0) are dropped and the rest renormalised.
    Samples are not normalised one by one: a sample weighs ``prod_j sum_c pdf(c - v_j)``.
    That is about equal for values inside the limits when ``sigma`` is not small next to
    the bin size, but for ``sigma`` much smaller a value at distance d from its bin's centre
    weighs ``exp(-d^2 / 2 sigma^2)`` relative to one at a centre: the sigma -> 0 limit is
    hard binning only for values at the bin centres (or all at one offset).

    The published class has no defaults. Ours: ``extra_bin_factor=4.0`` (the grid reaches
    4 sigma beyond the limits, like the ``cutoff`` of :func:`smoothed_outcomes`) and
    ``prob_threshold=1e-10`` (drops at most ``GRID_MAX * 1e-10 < 0.2 %`` of the mass; pass
    0.0 to keep every non-zero cell). Labels index the table by value, not by first
    appearance as in the published code; the rows are the same.

    Returns ``(outcomes, probs)``: outcomes (R, width + 1) int64, column j the bin of neuron
    j on the extended grid (``0 .. n_bins + 2 * n_extra - 1``), the last column the label;
    probs (R,) summing to 1. Raises ValueError for grids over :data:`GRID_MAX` cells.
    """
    values, labels, edges = check_binning_inputs(values, labels, limits, n_bins, sigma,
                                                 sigma_zero_ok=False)
    extra_bin_factor = _check_number("extra_bin_factor", extra_bin_factor, "finite and >= 0",
                                     lambda x: math.isfinite(x) and x >= 0)
    prob_threshold = _check_number("prob_threshold", prob_threshold, "in [0, 1)",
                                   lambda x: 0 <= x < 1)
    lo, hi = float(edges[0]), float(edges[-1])
    size = (hi - lo) / n_bins
    classes, inverse = np.unique(labels, return_inverse=True)
    width = values.shape[1]
    check_grid("goldfeld", width, n_bins, sigma, size, len(classes),
               extra_bin_factor=extra_bin_factor)
    n_extra = int(np.ceil(extra_bin_factor * sigma / size))
    n_grid = n_bins + 2 * n_extra
    centres = np.linspace(lo - n_extra * size, hi + n_extra * size, n_grid,
                          endpoint=False) + size / 2
    table = np.zeros((len(classes), n_grid ** (width - 1), n_grid))
    head = n_grid ** (width - 1)  # joint bins of all neurons but the last
    chunk = max(1, CHUNK_ROWS // head)
    dead = 0
    for c in range(len(classes)):
        rows = values[inverse.ravel() == c]
        for start in range(0, len(rows), chunk):
            v = rows[start : start + chunk]
            # pdf up to its constant factor 1 / (sigma sqrt(2 pi))^width, which normalising
            # the whole table cancels
            dens = np.exp(-0.5 * ((centres - v[:, :, None]) / sigma) ** 2)  # (n, width, grid)
            dead += int(np.count_nonzero((dens.sum(axis=2) == 0).any(axis=1)))
            joint = np.ones((len(v), 1))
            for j in range(width - 1):
                joint = (joint[:, :, None] * dens[:, j, None, :]).reshape(len(v), -1)
            table[c] += joint.T @ dens[:, -1, :]
    total = table.sum()
    if dead:
        warnings.warn(
            f"goldfeld_outcomes: {dead} of {len(values)} samples have density 0 at every bin "
            f"centre of some neuron (sigma={sigma!r} is tiny next to the bin size {size:.3g}, "
            "or values lie far outside limits) and do not count",
            RuntimeWarning,
            stacklevel=2,
        )
    if not total > 0:
        raise ValueError(f"sigma: {sigma!r} is too small next to the bin size {size:.3g}: "
                         "every density underflows to 0")
    table /= total
    keep = (table >= prob_threshold) & (table > 0)
    if not keep.any():
        raise ValueError(f"prob_threshold: {prob_threshold!r} drops every cell (largest "
                         f"probability {table.max():.3g}); need a smaller threshold")
    probs = table[keep]
    coords = np.nonzero(keep.reshape(len(classes), *(n_grid,) * width))
    outcomes = np.column_stack([*coords[1:], classes[coords[0]]]).astype(np.int64)
    return outcomes, probs / probs.sum()


def smoothed_outcomes(
    values: np.ndarray,
    labels: np.ndarray,
    limits: tuple[float, float],
    n_bins: int,
    sigma: float,
    *,
    cutoff: float = DEFAULT_CUTOFF,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (bin of each neuron..., label) rows and their probabilities.

    Each activation puts the Gaussian's mass falling into each of ``n_bins`` equal-width
    bins on that bin (the end bins are open-ended, as in hard binning); a sample's joint
    weights are the product over its neurons and every sample weighs 1/N.

    Parameters
    ----------
    values : (N, width) activations of one layer (noiseless).
    labels : (N,) non-negative integer labels (the target, last column of the outcomes).
    limits, n_bins : the bin grid, as for hard binning (:func:`hard_bins`).
    sigma : standard deviation of each unit's Gaussian noise; 0 gives hard binning.
    cutoff : bins farther than ``cutoff * sigma`` from a value get no mass (the rest is
        renormalised; the default drops less than 1e-4 of each unit's mass).

    Returns ``(outcomes, probs)``: outcomes (R, width + 1) int64, probs (R,) summing to 1,
    e.g. ``sx_pid(outcomes, probs)`` for the PID with every neuron a source. Raises
    ValueError when a sample would spread over more than :data:`GRID_MAX` joint bins
    (:func:`grid_cells`).
    """
    values, labels, edges = check_binning_inputs(values, labels, limits, n_bins, sigma)
    cutoff = _check_number("cutoff", cutoff, "finite and >= 0",
                           lambda x: math.isfinite(x) and x >= 0)
    classes = int(labels.max()) + 1
    if classes * float(n_bins) ** values.shape[1] >= 2.0**63:
        raise ValueError(
            f"values: {values.shape[1]} neurons x {n_bins} bins x {classes} labels overflow "
            "int64 outcome keys; smooth fewer neurons at a time"
        )
    check_grid("smoothed", values.shape[1], n_bins, float(sigma), float(edges[1] - edges[0]),
               cutoff=cutoff)
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


def _check_number(field: str, value: object, allowed: str, ok) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not ok(float(value)):
        raise ValueError(f"{field}: {value!r}; need a number {allowed}")
    return float(value)


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
    centre = hard_bins(v, edges)
    reach = _reach(sigma, width, cutoff, n_bins)
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

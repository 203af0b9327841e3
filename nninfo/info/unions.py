"""Sums of logarithms of union probabilities, the inner loop of the I^sx PID.

By inclusion-exclusion the probability of a union of events {S_a = s_a} is a signed sum of
the 2^n - 1 source-subset marginals at the outcome (``lattice.union_coefficients``). Each
marginal is one counting pass over the distinct outcomes (:func:`subset_marginals`); all
antichains at a block of outcomes then come from one matrix product, and rows of equal
weight are multiplied together before one logarithm serves the whole group
(:func:`log_union_sums`).
"""

from __future__ import annotations

import contextlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from nninfo.info.outcomes import CountedOutcomes, combine_codes

_CHUNK_ELEMENTS = 1 << 20  # outcome rows x antichains per block (8 MB of float64)
_MAX_GROUP = 256  # at most this many rows are multiplied together before one log2
_FLOAT_EXP_BUDGET = 1000.0  # products stay below 2**1000


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_WORKERS = max(1, min(4, _usable_cores()))  # threads over outcome blocks


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """BLAS limited to one thread while our own threads run blocks in parallel
    (the small products gain nothing from BLAS threads; oversubscription costs a lot)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it BLAS keeps its own threading
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True, eq=False)
class SubsetMarginals:
    """Masses of the source-subset marginals at every distinct outcome.

    source[:, m-1] = mass of {S_B = s_B}, joint[:, m-1] = mass of {S_B = s_B, T = t} for
    the subset B with bitmask m (source i <-> bit i-1); target = mass of {T = t}.
    s_rows / s_mass: one representative row per distinct source pattern and its mass.
    """

    source: np.ndarray
    joint: np.ndarray
    target: np.ndarray
    s_rows: np.ndarray
    s_mass: np.ndarray


def subset_marginals(counted: CountedOutcomes) -> SubsetMarginals:
    """One counting pass per non-empty source subset B (and per (B, T))."""
    n, rows = counted.n_sources, counted.n_outcomes
    codes, cards, mass = counted.source_codes, counted.source_cards, counted.mass
    t_code, t_card = counted.target_codes, len(counted.target_values)
    width = (1 << n) - 1
    source = np.empty((rows, width))
    joint = np.empty((rows, width))
    keys: dict[int, tuple[np.ndarray, int]] = {0: (np.zeros(rows, dtype=np.int64), 1)}
    for m in range(1, width + 1):
        low = m & -m
        i = low.bit_length() - 1
        key, card = combine_codes(*keys[m ^ low], codes[:, i], int(cards[i]))
        keys[m] = (key, card)
        source[:, m - 1] = np.bincount(key, weights=mass, minlength=card)[key]
        jkey, jcard = combine_codes(key, card, t_code, t_card)
        joint[:, m - 1] = np.bincount(jkey, weights=mass, minlength=jcard)[jkey]
    target = np.bincount(t_code, weights=mass, minlength=t_card)[t_code]
    s_key = keys[width][0]
    _, s_rows, s_inv = np.unique(s_key, return_index=True, return_inverse=True)
    s_mass = np.bincount(s_inv.reshape(-1), weights=mass, minlength=len(s_rows))
    return SubsetMarginals(source, joint, target, s_rows, s_mass)


@dataclass(frozen=True, eq=False)
class _GroupPlan:
    """Rows sorted by (label, weight), cut into groups of ``size`` equal-weight rows.

    index: (G, size) row numbers, padded with the number of rows (a padding row whose
    union is exactly 1); weight, label: (G,) per group.
    """

    index: np.ndarray
    weight: np.ndarray
    label: np.ndarray

    @property
    def size(self) -> int:
        return self.index.shape[1]


def _plan_groups(weights: np.ndarray, labels: np.ndarray, max_size: int) -> _GroupPlan:
    rows = len(weights)
    order = np.lexsort((weights, labels))
    w, lab = weights[order], labels[order]
    change = np.ones(rows, dtype=bool)
    change[1:] = (w[1:] != w[:-1]) | (lab[1:] != lab[:-1])
    run_start = np.flatnonzero(change)
    run_len = np.diff(np.append(run_start, rows))
    size = 1
    while size * 2 <= max_size and (
        (-(-run_len // (size * 2)) * size * 2).sum() <= 1.25 * rows + size * 2
    ):
        size *= 2
    n_groups = -(-run_len // size)
    first_group = np.concatenate([[0], np.cumsum(n_groups)[:-1]])
    run_of_row = np.repeat(np.arange(len(run_start)), run_len)
    pos = np.arange(rows) - run_start[run_of_row]
    group = first_group[run_of_row] + pos // size
    index = np.full((int(n_groups.sum()), size), rows, dtype=np.int64)
    index[group, pos % size] = order
    head = run_start[np.repeat(np.arange(len(run_start)), n_groups)]
    return _GroupPlan(index, w[head], lab[head])


def _block_log_sum(
    padded: np.ndarray,
    coef_t: np.ndarray,
    plan: _GroupPlan,
    n_labels: int,
    g0: int,
    g1: int,
    *,
    clip: bool,
) -> np.ndarray:
    size = plan.size
    unions = padded[plan.index[g0:g1].ravel()] @ coef_t
    if clip:
        np.maximum(unions, 1.0, out=unions)
    prod = unions.reshape(g1 - g0, size, -1)
    half = size
    while half > 1:
        half //= 2
        prod[:, :half] *= prod[:, half : 2 * half]
    logs = np.log2(prod[:, 0])
    if n_labels == 1:
        return (plan.weight[g0:g1] @ logs)[None, :]
    w = np.zeros((n_labels, g1 - g0))
    w[plan.label[g0:g1], np.arange(g1 - g0)] = plan.weight[g0:g1]
    return w @ logs


def log_union_sums(
    marg: np.ndarray,
    weights: np.ndarray,
    coef: np.ndarray,
    *,
    total: float,
    labels: np.ndarray | None = None,
    n_labels: int = 1,
    scale: float = 1.0,
    exact: bool = True,
) -> np.ndarray:
    """sum over rows x with label l of weights[x] * log2(union_alpha(x) / scale).

    ``marg`` (R, 2^n-1) marginal masses, ``coef`` the lattice's union coefficients
    (N, 2^n-1). Every union must lie in [scale, total] (true when scale <= the smallest
    row mass and total is the total mass). Rows of equal (label, weight) are multiplied
    in groups (products stay below 2**1000) so that one log2 serves a whole group.
    ``exact=False`` clips unions at ``scale`` against rounding. Returns (n_labels, N).
    """
    rows, nodes = marg.shape[0], coef.shape[0]
    labels = np.zeros(rows, dtype=np.int64) if labels is None else labels
    spread = math.log2(max(total / scale, 2.0))
    plan = _plan_groups(weights, labels, max(1, min(_MAX_GROUP, int(_FLOAT_EXP_BUDGET / spread))))
    coef_t = np.ascontiguousarray(coef.T, dtype=np.float64)
    padded = np.vstack([marg if scale == 1.0 else marg / scale, np.ones((1, marg.shape[1]))])
    per_block = max(1, _CHUNK_ELEMENTS // (nodes * plan.size))
    bounds = list(range(0, len(plan.weight), per_block)) + [len(plan.weight)]

    def block(i: int) -> np.ndarray:
        return _block_log_sum(
            padded, coef_t, plan, n_labels, bounds[i], bounds[i + 1], clip=not exact
        )

    blocks = range(len(bounds) - 1)
    if len(blocks) == 1 or _WORKERS == 1:
        return sum((block(i) for i in blocks), np.zeros((n_labels, nodes)))
    out = np.zeros((n_labels, nodes))
    with _single_threaded_blas(), ThreadPoolExecutor(min(_WORKERS, len(blocks))) as pool:
        for part in pool.map(block, blocks):
            out += part
    return out

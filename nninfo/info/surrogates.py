"""Shuffled-target surrogates: bias and null distribution of plug-in measures.

Plug-in information estimates are biased upward at finite N. Permuting the target
destroys every source/target dependence but keeps both marginals, so the mean of a
measure over permuted targets estimates its bias, and the surrogate values form a null
distribution for a permutation test.

Reproducibility: shuffle ``j`` (0-based) uses ``rng.permutation(target)`` as the
``j``-th call on ``rng = numpy.random.default_rng(seed)``; nothing else draws from
``rng``, so the surrogate values can be rebuilt by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from nninfo.checks import is_integer
from nninfo.info.entropy import (
    as_samples,
    as_target,
    check_same_length,
    entropy_of_keys,
    row_codes,
    small_codes,
)

#: A function of (sources, target) returning named quantities (what the surrogates shuffle).
QuantitiesOf = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]
Progress = bool | Callable[[int, int], None] | None

COLUMNS = ("value", "surrogate_mean", "surrogate_std", "bias_corrected", "p_value")

TIE_TOLERANCE = 1e-12
"""A surrogate counts as ">= value" for the p-value when surrogate >= value - TIE_TOLERANCE:
equal plug-in values computed along different float paths must tie, not split by rounding."""


def shuffled_target_surrogates(
    measure: QuantitiesOf,
    sources: np.ndarray,
    target: np.ndarray,
    n_shuffles: int,
    seed: int | None = 0,
    *,
    progress: Progress = None,
) -> pd.DataFrame:
    """Evaluate ``measure`` on the data and on ``n_shuffles`` target permutations.

    Returns a DataFrame indexed by quantity (the keys of ``measure``'s result) with
    columns ``value``, ``surrogate_mean``, ``surrogate_std`` (ddof=1), ``bias_corrected``
    (= value - surrogate_mean) and ``p_value`` = (1 + #{surrogate >= value}) /
    (1 + #surrogates), a one-sided permutation p-value (ties within
    :data:`TIE_TOLERANCE` count as >=). NaN surrogate values are
    ignored in the statistics. ``progress``: True for a tqdm bar, False for none, a
    callable ``(done, total)`` called after each shuffle, or None for a tqdm bar that
    shows only on a terminal. ``n_shuffles`` must be a positive integer and ``seed`` a
    non-negative integer or None (bools are refused); both are checked before any work.
    """
    check_shuffle_args(n_shuffles, seed)
    s = as_samples(sources, "sources")
    t = as_target(target)
    check_same_length(sources=s, target=t)
    observed = _as_flat(measure(s, t))
    rng = np.random.default_rng(seed)
    values = np.empty((n_shuffles, len(observed)))
    keys = list(observed)
    for j in _progress_range(n_shuffles, progress):
        result = _as_flat(measure(s, rng.permutation(t)))
        if list(result) != keys:
            raise ValueError(
                f"measure returned keys {sorted(result)} for shuffle {j}, "
                f"but {sorted(keys)} on the data; it must return the same keys every time"
            )
        values[j] = list(result.values())
        if callable(progress):
            progress(j + 1, n_shuffles)
    return _summarise(keys, np.array(list(observed.values())), values)


def mi_surrogates(
    sources: np.ndarray, target: np.ndarray, n_shuffles: int, seed: int | None = 0
) -> dict[str, float]:
    """Shuffled-target surrogates of the plug-in I(T; S) in bits, the fast way.

    Same numbers (to ~1e-12) and the same permutations as
    ``shuffled_target_surrogates(lambda s, t: {"mi": mutual_information(s, t)}, ...)``:
    shuffle ``j`` is the ``j``-th ``rng.permutation`` of the target on
    ``numpy.random.default_rng(seed)``. Only H(S, T) changes under a permutation of T, so
    the source rows are coded once to dense integers and each shuffle costs one
    ``np.bincount``. Returns a dict with keys ``value``, ``surrogate_mean``,
    ``surrogate_std`` (ddof=1), ``bias_corrected`` (value - mean) and ``p_value`` =
    (1 + #{surrogate >= value - TIE_TOLERANCE}) / (1 + n_shuffles).
    """
    check_shuffle_args(n_shuffles, seed)
    s = as_samples(sources, "sources")
    t = as_target(target)
    check_same_length(sources=s, target=t)
    s_codes, n_s = _dense_codes(s)
    t_codes, n_t = _dense_codes(t[:, None])
    joint_entropy = _JointEntropy(s_codes, n_s, n_t)
    h_sources = joint_entropy.marginal(s_codes, n_s)
    h_target = joint_entropy.marginal(t_codes, n_t)

    def mi(shuffled: np.ndarray) -> float:
        return max(h_sources + h_target - joint_entropy(shuffled), 0.0)

    rng = np.random.default_rng(seed)
    values = np.array([mi(rng.permutation(t_codes)) for _ in range(n_shuffles)])
    frame = _summarise(["mi"], np.array([mi(t_codes)]), values[:, None])
    return {column: float(frame.at["mi", column]) for column in COLUMNS}


_MAX_BINS = 1 << 22


class _JointEntropy:
    """H(S, T) in bits for dense source codes (fixed) and any dense target codes."""

    def __init__(self, s_codes: np.ndarray, n_s: int, n_t: int) -> None:
        self.n = s_codes.shape[0]
        self.n_t, self.bins = n_t, n_s * n_t
        self.base = s_codes * n_t  # joint code = s * n_t + t
        if self.bins <= max(_MAX_BINS, 4 * self.n):
            c = np.arange(self.n + 1, dtype=np.float64)
            self.c_log_c = c * np.log2(np.maximum(c, 1.0))  # c log2 c, 0 at c = 0
        else:
            self.c_log_c = None  # too many cells: count by sorting

    def marginal(self, codes: np.ndarray, n_codes: int) -> float:
        counts = np.bincount(codes, minlength=n_codes).astype(np.float64)
        return _entropy(counts, self.n)

    def __call__(self, t_codes: np.ndarray) -> float:
        keys = self.base + t_codes
        if self.c_log_c is None:
            return entropy_of_keys(keys)
        counts = np.bincount(keys, minlength=self.bins)
        return float(np.log2(self.n) - self.c_log_c[counts].sum() / self.n)


def _entropy(counts: np.ndarray, n: int) -> float:
    big = counts[counts > 1]
    return float(np.log2(n) - np.dot(big, np.log2(big)) / n)


def _dense_codes(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows of integer samples (N, k) -> codes 0..K-1 (int64; equal rows, equal codes) and K.

    Exact (mixed-radix keys) whenever the product of the column ranges fits in 62 bits;
    otherwise the rows are hashed like :func:`nninfo.info.entropy.row_codes`.
    """
    x = small_codes(x)
    lo = x.min(axis=0).astype(np.int64)
    width = x.max(axis=0).astype(np.int64) - lo + 1
    if math.prod(int(w) for w in width) < 1 << 62:
        keys = np.zeros(x.shape[0], dtype=np.int64)
        for j in range(x.shape[1]):
            keys *= width[j]
            keys += x[:, j].astype(np.int64) - lo[j]
    else:
        keys = row_codes(x)
    unique, inverse = np.unique(keys, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64, copy=False), len(unique)


def check_shuffle_args(n_shuffles: object, seed: object) -> None:
    """Raise ValueError naming the argument unless ``n_shuffles`` is a positive integer and
    ``seed`` a non-negative integer or None (bools are refused for both)."""
    if not is_integer(n_shuffles, 1, numpy_ints=True):
        raise ValueError(
            f"n_shuffles={n_shuffles!r} ({type(n_shuffles).__name__}) is not allowed: "
            "n_shuffles must be a positive integer (an int >= 1; bools are refused)"
        )
    if seed is not None and not is_integer(seed, 0, numpy_ints=True):
        raise ValueError(
            f"seed={seed!r} ({type(seed).__name__}) is not allowed: seed must be a "
            "non-negative integer or None (bools are refused)"
        )


def _as_flat(result: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(result, Mapping):
        raise TypeError(
            f"measure must return a Mapping[str, float]; got {type(result).__name__} "
            "(use e.g. lambda s, t: shannon_invariants(s, t).to_dict())"
        )
    return {str(k): float(v) for k, v in result.items()}


def _progress_range(n: int, progress: Progress):
    if progress is True:
        return tqdm(range(n), desc="surrogates")
    if progress is None:
        return tqdm(range(n), desc="surrogates", disable=None)
    return range(n)


def _summarise(keys: list[str], observed: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    valid = ~np.isnan(values)
    n_valid = valid.sum(axis=0)
    safe = np.where(valid, values, 0.0)
    mean = np.divide(safe.sum(axis=0), n_valid, out=np.full(len(keys), np.nan), where=n_valid > 0)
    sq = np.where(valid, (values - mean) ** 2, 0.0).sum(axis=0)
    std = np.divide(sq, n_valid - 1, out=np.full(len(keys), np.nan), where=n_valid > 1) ** 0.5
    exceed = (valid & (values >= observed - TIE_TOLERANCE)).sum(axis=0)
    p_value = np.where(np.isnan(observed), np.nan, (1 + exceed) / (1 + n_valid))
    frame = pd.DataFrame(
        {
            "value": observed,
            "surrogate_mean": mean,
            "surrogate_std": std,
            "bias_corrected": observed - mean,
            "p_value": p_value,
        },
        index=pd.Index(keys, name="quantity"),
    )
    return frame[list(COLUMNS)]

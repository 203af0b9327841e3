"""Reing et al.'s order-resolved conditional entropies (Entropy 23, 79, 2021).

For sources S = (S_1..S_n) and target T:

* C_k = mean over all k-subsets A of the sources of H(T | S_A), k = 0..n;
  C_0 = H(T) and C_n = H(T | S). C_k is non-increasing in k (conditioning on one more
  source, averaged over subsets, never raises the entropy).
* D_k = C_(k-1) - C_k >= 0, k = 1..n: the information gained, on average, by going from
  k-1 to k observed sources. The published code (Ehrlich et al. 2023,
  ``nninfo/analysis/reing.py``) calls the same differences ``C(k-1||k)``.

Two complexities are built from them, and both are reported:

* ``C_R_published``, the rule of the published post-processing
  (``nninfo/postprocessing/reing_postprocessing.py``, the C_R of the paper's figures):
  C_R_published = sum_{k=1}^{n-1} k * C(k||k+1) / sum_{k=1}^{n-1} C(k||k+1)
                = sum_{k=1}^{n-1} k * (C_k - C_(k+1)) / (C_1 - C_n)
                = sum_{j=2}^{n} (j - 1) * D_j / sum_{j=2}^{n} D_j.
  It leaves out C(0||1) = D_1 (what single sources already tell) and weights the gain of
  going from k to k+1 sources with k, so it lies in [1, n-1]: XOR of two bits gives 1,
  3-bit parity 2. Its denominator C_1 - C_n is 0 (NaN, with an
  :class:`~nninfo.info.entropy.UndefinedRatioWarning`) whenever every single source already
  tells all that S tells (T = S_1 = S_2, a constant target, any n = 1).
* ``C_R_mean_order``, the D-weighted mean order over all orders k = 1..n:
  C_R_mean_order = sum_{k=1}^{n} k * (C_(k-1) - C_k) / sum_{k=1}^{n} (C_(k-1) - C_k)
                 = sum_{k=1}^{n} k * D_k / I(T; S)
  (the sum telescopes to C_0 - C_n = I(T; S)). It lies in [1, n]: XOR gives 2, parity 3,
  T = S_1 = S_2 gives 1. It is NaN (with the same warning) when I(T; S) = 0.

Both NaN rules use :func:`~nninfo.info.entropy.ratio_or_nan`: a denominator of at most
1e-12 bits counts as zero.

When C(n, k) exceeds ``max_subsets``, C_k is estimated from ``max_subsets`` distinct
k-subsets drawn uniformly with a seeded generator (C_0 and C_n always use their single
subset, so the telescoping identity still holds exactly). Sampled C_k need not be
monotone in k.

With ``weights`` (the probability of each row, e.g. a table from :mod:`nninfo.info.binning`)
every H(T | S_A) is that of the weighted table.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from nninfo.info.entropy import (
    _keys_entropy,
    as_sources,
    as_target,
    as_weights,
    check_same_length,
    column_weights,
    ratio_or_nan,
    row_hash,
    small_codes,
)
from nninfo.info.measure import Measure

MAX_EXACT_SUBSETS = 1 << 16
"""Without ``max_subsets``, refuse problems with more k-subsets than this for some k."""


@dataclass(frozen=True)
class ReingComplexity(Measure):
    """Reing's C_k, D_k and both complexities of one set of sources. Measure name ``reing``:
    ``to_dict`` keys are ``reing.<quantity>`` (``reing.C_R_published``,
    ``reing.C_R_mean_order``, ``reing.C_1``, ``reing.D_1``, ...).

    Attributes:
        C: C_k, k = 0..n (bits).
        D: D_k = C_(k-1) - C_k, k = 1..n (bits; ``D[0]`` is D_1).
        C_R_published: the published post-processing's
            sum_{k=1}^{n-1} k * (C_k - C_(k+1)) / (C_1 - C_n); NaN when C_1 - C_n = 0.
        C_R_mean_order: sum_{k=1}^{n} k * D_k / I(T; S); NaN when I(T; S) = 0.
        n_subsets: how many k-subsets C_k averages, k = 0..n.
    """


    C: np.ndarray
    D: np.ndarray
    C_R_published: float
    C_R_mean_order: float
    n_subsets: np.ndarray

    @property
    def mutual_information(self) -> float:
        return float(self.C[0] - self.C[-1])

    def _scalars(self) -> dict[str, float]:
        """C_R_published, C_R_mean_order, mutual_information, C_<k> (k = 0..n), D_<k>
        (k = 1..n); the inherited ``to_dict`` namespaces them as ``reing.<quantity>``."""
        out = {"C_R_published": self.C_R_published, "C_R_mean_order": self.C_R_mean_order,
               "mutual_information": self.mutual_information}
        out.update({f"C_{k}": float(c) for k, c in enumerate(self.C)})
        out.update({f"D_{k}": float(d) for k, d in enumerate(self.D, start=1)})
        return out


def reing_complexity(
    sources: np.ndarray,
    target: np.ndarray,
    *,
    max_subsets: int | None = None,
    seed: int = 0,
    weights: np.ndarray | None = None,
) -> ReingComplexity:
    """Reing's C_k, D_k and both C_R forms (see the module docstring) of integer ``sources``
    (N, n) about ``target`` (N,); ``weights`` (N,): row probabilities, None counts rows."""
    s = small_codes(as_sources(sources))  # any integer codes, even >= 2**63, hash safely
    t = small_codes(as_target(target))
    check_same_length(sources=s, target=t)
    w = as_weights(weights, s.shape[0])
    n = s.shape[1]
    if max_subsets is not None and (not isinstance(max_subsets, int) or max_subsets < 1):
        raise ValueError(f"max_subsets must be a positive int or None; got {max_subsets!r}")
    if max_subsets is None and math.comb(n, n // 2) > MAX_EXACT_SUBSETS:
        raise ValueError(
            f"sources has n={n} columns, so up to C(n, n//2)={math.comb(n, n // 2)} subsets "
            f"per order (> {MAX_EXACT_SUBSETS}); pass max_subsets to sample them"
        )
    hasher = _SubsetHasher(s, t, w)
    rng = np.random.default_rng(seed)
    C, counts = np.empty(n + 1), np.empty(n + 1, dtype=np.int64)
    for k in range(n + 1):
        subsets = _subsets(n, k, max_subsets, rng)
        C[k] = np.mean([hasher.conditional_entropy(a) for a in subsets])
        counts[k] = len(subsets)
    D = C[:-1] - C[1:]
    orders = np.arange(1, n + 1)
    # published: sum_{k=1}^{n-1} k * (C_k - C_(k+1)) = sum_{j=2}^{n} (j - 1) * D_j
    published = ratio_or_nan(float((orders[1:] - 1) @ D[1:]), float(C[1] - C[-1]),
                             ReingComplexity.key("C_R_published"))
    mean_order = ratio_or_nan(float(orders @ D), float(C[0] - C[-1]),
                              ReingComplexity.key("C_R_mean_order"))
    return ReingComplexity(C=C, D=D, C_R_published=published, C_R_mean_order=mean_order,
                           n_subsets=counts)


class _SubsetHasher:
    """Row hashes of S_A and (S_A, T) for source subsets A; caches w_j * x_j if small."""

    _CACHE_MAX_ELEMENTS = 1 << 24

    def __init__(self, s: np.ndarray, t: np.ndarray, w: np.ndarray | None = None) -> None:
        n = s.shape[1]
        self.s, self.weights, self.w = s, column_weights(n + 1), w
        with np.errstate(over="ignore"):
            self.t_part = t.astype(np.uint64) * self.weights[n]
            small = s.size <= self._CACHE_MAX_ELEMENTS
            self.parts = s.astype(np.uint64) * self.weights[:n] if small else None

    def conditional_entropy(self, subset: tuple[int, ...]) -> float:
        """H(T | S_A) = H(T, S_A) - H(S_A)."""
        cols = list(subset)
        with np.errstate(over="ignore"):
            if self.parts is not None:
                h = self.parts[:, cols].sum(axis=1, dtype=np.uint64)
            else:
                h = row_hash(self.s[:, cols], self.weights[cols])
            h_t = h + self.t_part
        return max(_keys_entropy(h_t, self.w) - _keys_entropy(h, self.w), 0.0)


_ENUMERATE_MAX = 1 << 20


def _subsets(n: int, k: int, max_subsets: int | None, rng: np.random.Generator) -> list:
    total = math.comb(n, k)
    if max_subsets is None or total <= max_subsets:
        return list(itertools.combinations(range(n), k))
    if total <= _ENUMERATE_MAX:
        every = list(itertools.combinations(range(n), k))
        picks = rng.choice(total, size=max_subsets, replace=False)
        return [every[i] for i in np.sort(picks)]
    chosen: set[tuple[int, ...]] = set()
    while len(chosen) < max_subsets:
        chosen.add(tuple(sorted(rng.choice(n, size=k, replace=False).tolist())))
    return sorted(chosen)

"""Plug-in (maximum-likelihood) entropies of discrete samples, in bits.

Samples are integer arrays: a 1-D array is one variable, a 2-D array ``(N, k)`` is a
joint variable whose outcomes are the rows. Two ways to identify equal rows:

* ``"exact"``: ``np.unique(rows, axis=0)``; exact, but slow for many columns.
* ``"hash"``: every column j gets a fixed random odd 64-bit weight ``w_j`` and a row is
  hashed to ``h = sum_j w_j * x_j`` (arithmetic mod 2**64). Rows are then compared
  through one ``np.sort`` of N ``uint64`` keys. Removing column i is ``h - w_i * x_i``,
  so the entropies of all N-by-(k-1) leave-one-out marginals cost one sort each
  (:func:`leave_one_out_entropies`).

Collision probability of the hash: for two distinct rows x != x' let v be the smallest
2-adic valuation of the nonzero entries of x - x' (v <= log2 of the value range, e.g.
v <= 3 for 8 levels). Over the random odd weights, P[h(x) = h(x')] <= 2**(v - 63). With
M distinct rows the union bound gives P[any collision] <= M**2 * 2**(v - 64); for
M = 60,000 and v = 3 that is about 1.6e-9 per hashed array. A collision can only merge
two outcomes, i.e. lower an entropy estimate.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

Method = Literal["auto", "exact", "hash"]

HASH_SEED = 0x5EED_1F0
"""Seed of the default column weights: fixed, so every hash in a process is reproducible."""

EXACT_MAX_COLUMNS = 8
"""``method="auto"`` uses ``np.unique(rows)`` up to this many columns, hashing above."""

_ROW_BLOCK = 4096


def as_samples(x: object, name: str) -> np.ndarray:
    """Validate integer samples; return them as a 2-D integer array ``(N, k)``.

    A 1-D array becomes one column; booleans become 0/1 ``uint8``. The integer dtype is
    kept (no copy), so large ``uint8`` activation codes stay small in memory.
    """
    arr = np.asarray(x)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"{name} must hold integers (discrete level codes); got dtype {arr.dtype}. "
            "Quantize continuous values first."
        )
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D (N,) or 2-D (N, k); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one sample; got shape {arr.shape}")
    return arr


def as_sources(sources: object, name: str = "sources") -> np.ndarray:
    """Validate integer sources ``(N, n)`` with at least one column (1-D: one source)."""
    s = as_samples(sources, name)
    if s.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column (source); got shape {s.shape}")
    return s


def as_target(target: object, name: str = "target") -> np.ndarray:
    """Validate a single integer variable; return it 1-D, shape ``(N,)``."""
    t = as_samples(target, name)
    if t.shape[1] != 1:
        raise ValueError(f"{name} must be 1-D (N,) or (N, 1); got shape {np.shape(target)}")
    return t[:, 0]


class UndefinedRatioWarning(UserWarning):
    """A normalised measure has a zero denominator (no information) and is NaN."""


def ratio_or_nan(numerator: float, denominator: float, name: str) -> float:
    """``numerator / denominator``, or NaN with an :class:`UndefinedRatioWarning` if the
    denominator is (numerically) zero bits."""
    if denominator <= 1e-12:
        warnings.warn(
            f"{name} is undefined (denominator {denominator:.3g} bits is zero); returning NaN",
            UndefinedRatioWarning,
            stacklevel=3,
        )
        return float("nan")
    return float(numerator / denominator)


def check_same_length(**arrays: np.ndarray) -> int:
    """Raise ValueError unless all arrays have the same number of samples (rows)."""
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"sample counts differ: {lengths}; all must have the same N")
    return next(iter(lengths.values()))


def entropy_from_counts(counts: np.ndarray) -> float:
    """Entropy in bits of the distribution given by nonnegative counts (zeros ignored)."""
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    total = c.sum()
    if total <= 0:
        raise ValueError("counts must contain a positive entry")
    return float(np.log2(total) - np.dot(c, np.log2(c)) / total)


def counts_of_keys(keys: np.ndarray) -> np.ndarray:
    """Counts of the distinct values of a 1-D key array (one sort, no unique array)."""
    return _counts_of_sorted(np.sort(np.asarray(keys).ravel()))


def entropy_of_keys(keys: np.ndarray) -> float:
    """Entropy in bits of a 1-D array of outcome keys (any sortable dtype)."""
    return _entropy_of_sorted(np.sort(np.asarray(keys).ravel()))


def _counts_of_sorted(s: np.ndarray) -> np.ndarray:
    edges = np.flatnonzero(s[1:] != s[:-1])
    return np.diff(edges, prepend=-1, append=s.size - 1)


def _entropy_of_sorted(s: np.ndarray) -> float:
    """Entropy of sorted keys; only counts > 1 need a logarithm."""
    if s.size == 0:
        raise ValueError("keys must contain at least one sample; got an empty array")
    counts = _counts_of_sorted(s)
    big = counts[counts > 1].astype(np.float64)
    return float(np.log2(s.size) - np.dot(big, np.log2(big)) / s.size)


def column_weights(n_columns: int, seed: int = HASH_SEED) -> np.ndarray:
    """``n_columns`` random odd ``uint64`` weights from ``seed`` (prefix-stable)."""
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 2**64, size=n_columns, dtype=np.uint64, endpoint=False)
    return w | np.uint64(1)


def row_hash(x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Hash each row of integer samples to ``sum_j w_j x_j mod 2**64`` (``uint64``)."""
    x = as_samples(x, "x")
    w = column_weights(x.shape[1]) if weights is None else np.asarray(weights, np.uint64)
    if w.shape != (x.shape[1],):
        raise ValueError(f"weights must have shape ({x.shape[1]},); got {w.shape}")
    out = np.empty(x.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, x.shape[0], _ROW_BLOCK):
            block = x[start : start + _ROW_BLOCK].astype(np.uint64)
            out[start : start + _ROW_BLOCK] = block @ w
    return out


def row_codes(x: np.ndarray, method: Method = "auto") -> np.ndarray:
    """One key per row such that equal rows get equal keys (exact or hashed)."""
    x = as_samples(x, "x")
    method = _resolve_method(method, x.shape[1])
    if method == "exact":
        return np.unique(x, axis=0, return_inverse=True)[1].ravel()
    return row_hash(x)


def joint_entropy(x: np.ndarray, *, method: Method = "auto") -> float:
    """Plug-in joint entropy H(X) in bits of the rows of ``x``."""
    return entropy_of_keys(row_codes(x, method))


def conditional_entropy(x: np.ndarray, given: np.ndarray, *, method: Method = "auto") -> float:
    """Plug-in conditional entropy H(X | given) = H(X, given) - H(given), in bits."""
    xs, gs = as_samples(x, "x"), as_samples(given, "given")
    check_same_length(x=xs, given=gs)
    return joint_entropy(np.hstack([xs, gs]), method=method) - joint_entropy(gs, method=method)


def mutual_information(x: np.ndarray, y: np.ndarray, *, method: Method = "auto") -> float:
    """Plug-in mutual information I(X; Y) = H(X) + H(Y) - H(X, Y), in bits (>= 0)."""
    xs, ys = as_samples(x, "x"), as_samples(y, "y")
    check_same_length(x=xs, y=ys)
    hx, hy = joint_entropy(xs, method=method), joint_entropy(ys, method=method)
    mi = hx + hy - joint_entropy(np.hstack([xs, ys]), method=method)
    return max(mi, 0.0)


def column_entropies(x: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Entropies H(X_i [, extra]) in bits of every column i, shape ``(k,)``.

    Small-range columns are counted with ``np.bincount``, wide ones with a sort.
    """
    x = as_samples(x, "x")
    if extra is None:
        codes, n_codes = np.zeros(x.shape[0], dtype=np.int64), 1
    else:
        e = as_samples(extra, "extra")
        check_same_length(x=x, extra=e)
        codes = np.unique(row_codes(e), return_inverse=True)[1].ravel().astype(np.int64)
        n_codes = int(codes.max()) + 1
    lo = x.min(axis=0).astype(np.int64)
    width = x.max(axis=0).astype(np.int64) - lo + 1
    out = np.empty(x.shape[1])
    for i, column in _iter_columns(x):
        keys = (column.astype(np.int64) - lo[i]) * n_codes + codes
        if width[i] * n_codes <= _MAX_BINS:
            out[i] = entropy_from_counts(np.bincount(keys, minlength=width[i] * n_codes))
        else:
            out[i] = entropy_of_keys(keys)
    return out


_MAX_BINS = 1 << 20
_COLUMN_BLOCK = 64


def _iter_columns(x: np.ndarray):
    """Yield ``(i, contiguous copy of column i)``, transposing blocks of columns at once."""
    for start in range(0, x.shape[1], _COLUMN_BLOCK):
        block = np.ascontiguousarray(x[:, start : start + _COLUMN_BLOCK])
        for j, column in enumerate(np.ascontiguousarray(block.T)):
            yield start + j, column


def leave_one_out_entropies(x: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Entropies H(X_-i [, extra]) for every column i, by the hashing trick.

    ``X_-i`` is ``x`` without column i; if ``extra`` (e.g. a target) is given it is kept
    in every marginal. Costs one hash of ``x`` plus one sort of N keys per column.
    """
    x = as_samples(x, "x")
    k = x.shape[1]
    weights = column_weights(k + (0 if extra is None else as_samples(extra, "extra").shape[1]))
    full = row_hash(x, weights[:k])
    if extra is not None:
        e = as_samples(extra, "extra")
        check_same_length(x=x, extra=e)
        with np.errstate(over="ignore"):
            full += row_hash(e, weights[k:])
    out = np.empty(k)
    buf = np.empty(x.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, column in _iter_columns(x):
            np.multiply(column.astype(np.uint64), weights[i], out=buf)
            np.subtract(full, buf, out=buf)
            buf.sort()
            out[i] = _entropy_of_sorted(buf)
    return out


def _resolve_method(method: str, n_columns: int) -> str:
    if method not in ("auto", "exact", "hash"):
        raise ValueError(f"method must be 'auto', 'exact' or 'hash'; got {method!r}")
    if method == "auto":
        return "exact" if n_columns <= EXACT_MAX_COLUMNS else "hash"
    return method

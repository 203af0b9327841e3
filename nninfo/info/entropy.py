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

Codes may have any integer dtype, including ``uint64`` values >= 2**63, int64's extremes,
negative values and bools. Every function first brings each column to a small range
(:func:`as_codes`): columns of 8- and 16-bit dtypes and columns already within
``0..max(2**16, N) - 1`` are used as they are (no copy), a column whose values span less
than that is shifted to start at 0, and any other column is re-coded to ``0..k-1`` by
``np.unique``. Entropies do not depend on the labels of the outcomes, so this changes no
result; it keeps ``v`` above at most ``log2 max(2**16, N)`` (without it, the rows
``(2**63, 0)`` and ``(0, 2**63)`` hash equally for any odd weights) and the ``np.bincount``
ranges of :func:`column_entropies` small.

Weighted tables: every entropy takes an optional ``weights`` (N,), the probability of each
row (finite, >= 0, summing to 1; see :func:`as_weights`), e.g. the ``(outcomes, probs)`` of
a smoothed binning (:mod:`nninfo.info.binning`). The plug-in entropies then use the summed
weight of each distinct row instead of its count; rows of weight 0 drop out. Passing the
distinct rows of a sample with their relative counts gives the sample's entropies.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from nninfo.info.outcomes import PROB_TOLERANCE

Method = Literal["auto", "exact", "hash"]

HASH_SEED = 0x5EED_1F0
"""Seed of the default column weights: fixed, so every hash in a process is reproducible."""

EXACT_MAX_COLUMNS = 8
"""``method="auto"`` uses ``np.unique(rows)`` up to this many columns, hashing above."""

_ROW_BLOCK = 4096

CODE_RANGE = 1 << 16
"""Columns with values in ``0..max(CODE_RANGE, N) - 1`` are used as they are (see
:func:`as_codes`); 8- and 16-bit columns always are."""


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


def as_codes(x: object, name: str) -> np.ndarray:
    """:func:`as_samples`, then :func:`small_codes`: integer samples ``(N, k)`` of any integer
    dtype with every column in a small range, ready for hashing and counting."""
    return small_codes(as_samples(x, name))


def small_codes(x: np.ndarray) -> np.ndarray:
    """Bring every column of integer samples (1-D or 2-D) to a small range, same outcomes.

    Returned as they are (no copy): 8- and 16-bit integer arrays, and arrays whose values
    all lie in ``0..max(CODE_RANGE, N) - 1`` (the cheap check is one global min and max).
    Otherwise a new array: a column whose values span less than that range is shifted to
    start at 0, any other column is re-coded to ``0..k-1`` in sorted value order. Works for
    every integer dtype, including ``uint64`` >= 2**63 and ``int64`` min/max.
    """
    if x.ndim == 1:
        return small_codes(x[:, None])[:, 0]
    if x.dtype.itemsize <= 2 or x.size == 0:  # bool, (u)int8, (u)int16: range < 2**16
        return x
    limit = max(CODE_RANGE, x.shape[0])
    if x.min() >= 0 and x.max() < limit:
        return x
    lo = x.min(axis=0).astype(np.uint64)  # exact for signed values too, modulo 2**64
    span = x.max(axis=0).astype(np.uint64) - lo  # the true max - min (< 2**64)
    out = np.empty(x.shape, dtype=np.uint16 if limit <= 1 << 16 else np.int64)
    for i, column in _iter_columns(x):
        if span[i] < limit:
            out[:, i] = column.astype(np.uint64) - lo[i]
        else:
            out[:, i] = np.unique(column, return_inverse=True)[1].reshape(-1)
    return out


def _hstack_codes(*arrays: np.ndarray) -> np.ndarray:
    """Columns side by side; int64 when the dtypes have no common integer type
    (e.g. uint64 and int64, whose common type is float64)."""
    if np.issubdtype(np.result_type(*arrays), np.integer):
        return np.hstack(arrays)
    return np.hstack([a.astype(np.int64) for a in arrays])


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


def as_weights(weights: object, rows: int, name: str = "weights") -> np.ndarray | None:
    """Validate row probabilities: shape ``(rows,)``, finite, >= 0, summing to 1 (within
    ``nninfo.info.outcomes.PROB_TOLERANCE``); float64, or None for None (counted rows)."""
    if weights is None:
        return None
    w = np.asarray(weights)
    if w.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected real numbers (row probabilities), got dtype {w.dtype}")
    w = w.astype(np.float64, copy=False)
    if w.shape != (rows,):
        raise ValueError(f"{name}: shape {w.shape}; need ({rows},), one probability per row")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: contains NaN or inf; need finite probabilities")
    if np.any(w < 0):
        raise ValueError(f"{name}: negative value {float(w[w < 0][0])!r}; need probabilities >= 0")
    total = float(w.sum())
    if abs(total - 1.0) > PROB_TOLERANCE:
        raise ValueError(f"{name}: sum to {total!r}; need a sum of 1 (tolerance {PROB_TOLERANCE})")
    return w


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


def entropy_of_keys(keys: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Entropy in bits of a 1-D array of outcome keys (any sortable dtype), each key counted
    once, or with its row probability from ``weights``."""
    keys = np.asarray(keys).ravel()
    return _keys_entropy(keys, as_weights(weights, keys.size))


def _keys_entropy(keys: np.ndarray, w: np.ndarray | None) -> float:
    """:func:`entropy_of_keys` of 1-D keys with validated weights (or None)."""
    if w is None:
        return _entropy_of_sorted(np.sort(keys))
    order = np.argsort(keys)
    return _weighted_entropy_of_sorted(keys[order], w[order])


def _weighted_entropy_of_sorted(s: np.ndarray, w: np.ndarray) -> float:
    """Entropy of sorted keys ``s`` with row probabilities ``w`` (in the same order)."""
    if s.size == 0:
        raise ValueError("keys must contain at least one sample; got an empty array")
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    return entropy_from_counts(np.add.reduceat(w, starts))


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
    """Hash each row of integer samples to ``sum_j w_j c_j mod 2**64`` (``uint64``), where
    ``c`` are the samples brought to small codes by :func:`as_codes`."""
    x = as_codes(x, "x")
    w = column_weights(x.shape[1]) if weights is None else np.asarray(weights, np.uint64)
    if w.shape != (x.shape[1],):
        raise ValueError(f"weights must have shape ({x.shape[1]},); got {w.shape}")
    return _row_hash(x, w)


def _row_hash(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """:func:`row_hash` of samples that :func:`as_codes` has already prepared."""
    out = np.empty(x.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, x.shape[0], _ROW_BLOCK):
            block = x[start : start + _ROW_BLOCK].astype(np.uint64)
            out[start : start + _ROW_BLOCK] = block @ w
    return out


def row_codes(x: np.ndarray, method: Method = "auto") -> np.ndarray:
    """One key per row such that equal rows get equal keys (exact or hashed)."""
    return _row_codes(as_codes(x, "x"), method)


def _row_codes(x: np.ndarray, method: Method) -> np.ndarray:
    """:func:`row_codes` of samples that :func:`as_codes` has already prepared."""
    method = _resolve_method(method, x.shape[1])
    if method == "exact":
        return np.unique(x, axis=0, return_inverse=True)[1].ravel()
    return _row_hash(x, column_weights(x.shape[1]))


def joint_entropy(
    x: np.ndarray, *, method: Method = "auto", weights: np.ndarray | None = None
) -> float:
    """Plug-in joint entropy H(X) in bits of the rows of ``x`` (``weights``: row
    probabilities, see the module docstring)."""
    xs = as_codes(x, "x")
    return _joint_entropy(xs, method, as_weights(weights, xs.shape[0]))


def _joint_entropy(x: np.ndarray, method: Method, w: np.ndarray | None) -> float:
    """:func:`joint_entropy` with validated weights (or None); ``x`` brought to small codes."""
    return _keys_entropy(row_codes(x, method), w)


def conditional_entropy(
    x: np.ndarray, given: np.ndarray, *, method: Method = "auto",
    weights: np.ndarray | None = None,
) -> float:
    """Plug-in conditional entropy H(X | given) = H(X, given) - H(given), in bits."""
    xs, gs = as_codes(x, "x"), as_codes(given, "given")
    check_same_length(x=xs, given=gs)
    w = as_weights(weights, xs.shape[0])
    joint = _hstack_codes(xs, gs)
    return _joint_entropy(joint, method, w) - _joint_entropy(gs, method, w)


def mutual_information(
    x: np.ndarray, y: np.ndarray, *, method: Method = "auto", weights: np.ndarray | None = None
) -> float:
    """Plug-in mutual information I(X; Y) = H(X) + H(Y) - H(X, Y), in bits (>= 0);
    ``weights``: row probabilities (see the module docstring)."""
    xs, ys = as_codes(x, "x"), as_codes(y, "y")
    check_same_length(x=xs, y=ys)
    w = as_weights(weights, xs.shape[0])
    hx, hy = _joint_entropy(xs, method, w), _joint_entropy(ys, method, w)
    mi = hx + hy - _joint_entropy(_hstack_codes(xs, ys), method, w)
    return max(mi, 0.0)


def column_entropies(
    x: np.ndarray, extra: np.ndarray | None = None, weights: np.ndarray | None = None
) -> np.ndarray:
    """Entropies H(X_i [, extra]) in bits of every column i, shape ``(k,)``.

    Small-range columns are counted with ``np.bincount``, wide ones with a sort.
    """
    xs, e = _with_extra(x, extra)
    return _column_entropies(xs, e, as_weights(weights, xs.shape[0]))


def _with_extra(x: np.ndarray, extra: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` and ``extra`` as small codes (see :func:`as_codes`), checked for equal length."""
    x = as_codes(x, "x")
    e = None if extra is None else as_codes(extra, "extra")
    if e is not None:
        check_same_length(x=x, extra=e)
    return x, e


def _column_entropies(
    x: np.ndarray, e: np.ndarray | None, w: np.ndarray | None = None
) -> np.ndarray:
    """:func:`column_entropies` of samples that :func:`as_codes` has already prepared
    (``w``: validated row probabilities or None)."""
    if e is None:
        codes, n_codes = np.zeros(x.shape[0], dtype=np.int64), 1
    else:
        codes = np.unique(_row_codes(e, "auto"), return_inverse=True)[1].ravel()
        codes = codes.astype(np.int64)
        n_codes = int(codes.max()) + 1
    lo = x.min(axis=0).astype(np.int64)
    width = x.max(axis=0).astype(np.int64) - lo + 1
    out = np.empty(x.shape[1])
    for i, column in _iter_columns(x):
        keys = (column.astype(np.int64) - lo[i]) * n_codes + codes
        if width[i] * n_codes <= _MAX_BINS:
            counts = np.bincount(keys, weights=w, minlength=width[i] * n_codes)
            out[i] = entropy_from_counts(counts)
        else:
            out[i] = _keys_entropy(keys, w)
    return out


_MAX_BINS = 1 << 20
_COLUMN_BLOCK = 64


def _iter_columns(x: np.ndarray):
    """Yield ``(i, contiguous copy of column i)``, transposing blocks of columns at once."""
    for start in range(0, x.shape[1], _COLUMN_BLOCK):
        block = np.ascontiguousarray(x[:, start : start + _COLUMN_BLOCK])
        for j, column in enumerate(np.ascontiguousarray(block.T)):
            yield start + j, column


def leave_one_out_entropies(
    x: np.ndarray, extra: np.ndarray | None = None, weights: np.ndarray | None = None
) -> np.ndarray:
    """Entropies H(X_-i [, extra]) for every column i, by the hashing trick.

    ``X_-i`` is ``x`` without column i; if ``extra`` (e.g. a target) is given it is kept
    in every marginal. Costs one hash of ``x`` plus one sort of N keys per column.
    """
    xs, e = _with_extra(x, extra)
    return _leave_one_out_entropies(xs, e, as_weights(weights, xs.shape[0]))


def _leave_one_out_entropies(
    x: np.ndarray, e: np.ndarray | None, w: np.ndarray | None = None
) -> np.ndarray:
    """:func:`leave_one_out_entropies` of samples that :func:`as_codes` has prepared
    (``w``: validated row probabilities or None)."""
    k = x.shape[1]
    weights = column_weights(k + (0 if e is None else e.shape[1]))
    full = _row_hash(x, weights[:k])
    if e is not None:
        with np.errstate(over="ignore"):
            full += _row_hash(e, weights[k:])
    out = np.empty(k)
    buf = np.empty(x.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, column in _iter_columns(x):
            np.multiply(column.astype(np.uint64), weights[i], out=buf)
            np.subtract(full, buf, out=buf)
            if w is None:
                buf.sort()
                out[i] = _entropy_of_sorted(buf)
            else:
                out[i] = _keys_entropy(buf, w)
    return out


def _resolve_method(method: str, n_columns: int) -> str:
    if method not in ("auto", "exact", "hash"):
        raise ValueError(f"method must be 'auto', 'exact' or 'hash'; got {method!r}")
    if method == "auto":
        return "exact" if n_columns <= EXACT_MAX_COLUMNS else "hash"
    return method

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

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from nninfo.info.entropy import as_samples, as_target, check_same_length

Measure = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]
Progress = bool | Callable[[int, int], None] | None

COLUMNS = ("value", "surrogate_mean", "surrogate_std", "bias_corrected", "p_value")


def shuffled_target_surrogates(
    measure: Measure,
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
    (1 + #surrogates), a one-sided permutation p-value. NaN surrogate values are
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


def _is_integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_shuffle_args(n_shuffles: object, seed: object) -> None:
    """Raise ValueError naming the argument unless ``n_shuffles`` is a positive integer and
    ``seed`` a non-negative integer or None (bools are refused for both)."""
    if not _is_integer(n_shuffles) or n_shuffles < 1:
        raise ValueError(
            f"n_shuffles={n_shuffles!r} ({type(n_shuffles).__name__}) is not allowed: "
            "n_shuffles must be a positive integer (an int >= 1; bools are refused)"
        )
    if seed is not None and (not _is_integer(seed) or seed < 0):
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
    exceed = (valid & (values >= observed)).sum(axis=0)
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

"""Input validation and exact counting of joint outcomes for the PID engines.

Input is either an outcome table with probabilities, ``(outcomes (R, c), probs (R,))``, or
raw samples (``probs=None``: every row weighs the same). Values are non-negative integer
codes. One column is the target (default: the last); the sources are groups of the other
columns (default: each non-target column is one source).

Everything downstream works on the *distinct* joint outcomes with their *mass*: exact
integer counts for samples (so probabilities are count / total with total = number of
rows), or summed probabilities (total = 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nninfo.checks import is_integer

PROB_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class CountedOutcomes:
    """Distinct joint outcomes with exact masses.

    Attributes
    ----------
    values : (D, c) int64 (uint64 when codes reach 2**63), the original row of each distinct
        outcome (all columns).
    source_codes : (D, n) int64, dense code 0..k_i-1 of each source (column group).
    source_cards : (n,) number of distinct values of each source.
    target_codes : (D,) int64, dense target code 0..k_T-1.
    target_values : (k_T,) original target value of each target code.
    mass : (D,) float64, counts (samples) or probabilities; all > 0.
    total : float, sum of all masses (number of samples, or the sum of probs, 1 +- 1e-9).
    sources : column groups (0-based column indices) of the sources.
    target : target column index.
    from_samples : True when the masses are integer sample counts.
    """

    values: np.ndarray
    source_codes: np.ndarray
    source_cards: np.ndarray
    target_codes: np.ndarray
    target_values: np.ndarray
    mass: np.ndarray
    total: float
    sources: tuple[tuple[int, ...], ...]
    target: int
    from_samples: bool

    @property
    def n_sources(self) -> int:
        return len(self.sources)

    @property
    def n_outcomes(self) -> int:
        return len(self.mass)


def dense_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Map a 1-D array to codes 0..k-1 (in sorted value order); return codes and k."""
    uniq, inverse = np.unique(values, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), len(uniq)


def combine_codes(
    a: np.ndarray, card_a: int, b: np.ndarray, card_b: int, *, dense_limit: int | None = None
) -> tuple[np.ndarray, int]:
    """Joint code of two code arrays. Keeps the mixed-radix key when it is at most
    ``dense_limit`` (default: 4 * len(a)) wide, otherwise recodes densely (no overflow)."""
    limit = 4 * len(a) if dense_limit is None else dense_limit
    key = a * card_b + b
    if card_a * card_b <= max(limit, 1):
        return key, card_a * card_b
    return dense_codes(key)


def _as_code_table(outcomes: object) -> np.ndarray:
    arr = np.asarray(outcomes)
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"outcomes: expected an array of non-negative integer codes, got dtype {arr.dtype}"
        )
    if arr.ndim != 2:
        raise ValueError(
            f"outcomes: expected a 2-D array (rows, sources + target), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError("outcomes: empty input (0 rows); at least one outcome is needed")
    if arr.shape[1] < 2:
        raise ValueError(
            f"outcomes: need at least 2 columns (one source and the target), got {arr.shape[1]}"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError("outcomes: contains NaN or inf; codes must be finite integers")
        if np.any(arr != np.round(arr)):
            bad = arr[arr != np.round(arr)].flat[0]
            raise ValueError(f"outcomes: non-integer code {bad!r}; codes must be integers")
        if np.any(arr >= 2.0**63):
            bad = float(arr[arr >= 2.0**63].flat[0])
            raise ValueError(
                f"outcomes: code {bad!r} is too large for a float table; float codes must be "
                "below 2**63 (pass larger codes as an integer array, e.g. uint64)"
            )
    if np.any(arr < 0):
        bad = arr[arr < 0].flat[0]
        raise ValueError(f"outcomes: negative code {bad!r}; codes must be >= 0")
    if arr.dtype.kind == "u" and arr.dtype.itemsize >= 8 and arr.max() > np.iinfo(np.int64).max:
        return arr  # uint64 codes >= 2**63 stay uint64; only their dense codes are used
    return arr.astype(np.int64)


def _as_probs(probs: object, rows: int) -> np.ndarray:
    p = np.asarray(probs)
    if p.dtype.kind not in "iuf":
        raise TypeError(f"probs: expected real numbers, got dtype {p.dtype}")
    p = p.astype(np.float64)
    if p.ndim != 1 or len(p) != rows:
        raise ValueError(
            f"probs: shape {p.shape} does not match outcomes with {rows} rows; expected ({rows},)"
        )
    if not np.all(np.isfinite(p)):
        raise ValueError("probs: contains NaN or inf")
    if np.any(p < 0):
        raise ValueError(f"probs: negative probability {p[p < 0][0]!r}; probs must be >= 0")
    total = p.sum()
    if abs(total - 1.0) > PROB_TOLERANCE:
        raise ValueError(f"probs: sum to {total!r}, must sum to 1 (tolerance {PROB_TOLERANCE})")
    return p


def _as_index(value: object, field: str, columns: int) -> int:
    if not is_integer(value, numpy_ints=True):
        raise TypeError(f"{field}: column index must be an int, got {value!r}")
    idx = int(value)
    if not -columns <= idx < columns:
        raise ValueError(f"{field}: column index {idx} out of range for {columns} columns")
    return idx % columns


def resolve_columns(
    columns: int, sources: Sequence[Sequence[int]] | None, target: int | None
) -> tuple[tuple[tuple[int, ...], ...], int]:
    """Validate the target column and the source column groups (0-based)."""
    tgt = columns - 1 if target is None else _as_index(target, "target", columns)
    if sources is None:
        groups = tuple((c,) for c in range(columns) if c != tgt)
    else:
        if isinstance(sources, str | bytes) or not isinstance(sources, Sequence):
            raise TypeError(f"sources: expected a list of lists of column indices, got {sources!r}")
        groups = []
        for group in sources:
            if isinstance(group, int | np.integer) or not isinstance(group, Sequence):
                raise TypeError(
                    f"sources: each source must be a list of column indices, got {group!r}"
                )
            if len(group) == 0:
                raise ValueError("sources: a source has no columns (empty list)")
            groups.append(tuple(_as_index(c, "sources", columns) for c in group))
        groups = tuple(groups)
    if len(groups) < 1:
        raise ValueError("sources: need at least 1 source")
    flat = [c for g in groups for c in g]
    if tgt in flat:
        raise ValueError(f"sources: column {tgt} is the target column and cannot be a source")
    if len(set(flat)) != len(flat):
        dup = sorted({c for c in flat if flat.count(c) > 1})
        raise ValueError(f"sources: columns {dup} are used more than once (duplicated/overlapping)")
    return groups, tgt


def count_outcomes(
    outcomes: object,
    probs: object = None,
    *,
    sources: Sequence[Sequence[int]] | None = None,
    target: int | None = None,
) -> CountedOutcomes:
    """Validate the input and count the distinct joint outcomes exactly."""
    table = _as_code_table(outcomes)
    p = None if probs is None else _as_probs(probs, table.shape[0])
    groups, tgt = resolve_columns(table.shape[1], sources, target)
    column_codes = {}
    for c in [*(c for g in groups for c in g), tgt]:
        column_codes[c] = dense_codes(table[:, c])
    src_codes, src_cards = [], []
    for group in groups:
        code, card = column_codes[group[0]]
        for c in group[1:]:
            code, card = combine_codes(code, card, *column_codes[c], dense_limit=0)
        src_codes.append(code)
        src_cards.append(card)
    t_code, t_card = column_codes[tgt]
    joint, joint_card = t_code, t_card
    for code, card in zip(src_codes, src_cards, strict=True):
        joint, joint_card = combine_codes(joint, joint_card, code, card, dense_limit=0)
    first = np.unique(joint, return_index=True)[1]  # joint is dense: index == code
    mass = np.bincount(joint, weights=p, minlength=joint_card).astype(np.float64)
    keep = first[mass > 0]
    mass = mass[mass > 0]
    return CountedOutcomes(
        values=table[keep],
        source_codes=np.stack([c[keep] for c in src_codes], axis=1),
        source_cards=np.asarray(src_cards, dtype=np.int64),
        target_codes=t_code[keep],
        target_values=np.unique(table[:, tgt]),
        mass=mass,
        total=float(table.shape[0]) if p is None else float(mass.sum()),
        sources=groups,
        target=tgt,
        from_samples=p is None,
    )

"""Bridge to ``dit``: outcome tables or samples -> ``dit.Distribution``, and dit's PIDs.

The only module of nninfo that imports dit. An *outcome table* is an integer array
(R, n + 1) whose rows are joint outcomes (s_1, .., s_n, t), the last column the target,
with probabilities ``probs`` (R,). Without ``probs`` the rows are raw samples and are
counted. The PID result uses nninfo's indexing: antichains as tuples of 1-based source
tuples, e.g. ``((1,), (2,))`` (redundancy) and ``((1, 2),)`` (synergy), in the order
"decreasing up-set size, ties by the tuples' lexicographic order" (bottom first, top last).
"""

from __future__ import annotations

import inspect
import itertools

import dit
import dit.pid
import numpy as np
import pandas as pd

from nninfo.info.entropy import as_samples

MAX_SOURCES = 4
"""dit's PIDs grow super-exponentially in n; refuse more sources than this."""


def pid_measures() -> dict[str, type]:
    """dit's PID classes by short name (``PID_BROJA`` -> ``"BROJA"``), found by introspection."""
    base = dit.pid.pid.BasePID
    return {
        name.removeprefix("PID_"): cls
        for name, cls in inspect.getmembers(dit.pid, inspect.isclass)
        if name.startswith("PID_") and issubclass(cls, base) and not inspect.isabstract(cls)
    }


def outcome_table(
    outcomes: np.ndarray, probs: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(table, probs)``: distinct rows, positive probabilities summing to 1.

    Duplicate rows have their probabilities added; rows of zero probability are dropped.
    Without ``probs`` the rows of ``outcomes`` are samples and each distinct row gets its
    relative frequency.
    """
    table = as_samples(outcomes, "outcomes")
    if table.shape[1] < 2:
        raise ValueError(
            f"outcomes must have n + 1 >= 2 columns (sources, then target); got {table.shape}"
        )
    if probs is None:
        p = np.full(table.shape[0], 1.0 / table.shape[0])
    else:
        p = _as_probs(probs, table.shape[0])
    rows, inverse = np.unique(table, axis=0, return_inverse=True)
    merged = np.bincount(inverse.ravel(), weights=p, minlength=rows.shape[0])
    keep = merged > 0
    return rows[keep], merged[keep] / merged[keep].sum()


def to_distribution(outcomes: np.ndarray, probs: np.ndarray | None = None) -> dit.Distribution:
    """A ``dit.Distribution`` over tuples (s_1, .., s_n, t); see :func:`outcome_table`."""
    table, p = outcome_table(outcomes, probs)
    return dit.Distribution([tuple(int(v) for v in row) for row in table], p.tolist())


def samples_to_distribution(sources: np.ndarray, target: np.ndarray) -> dit.Distribution:
    """A ``dit.Distribution`` of the empirical joint of ``sources`` (N, n) and ``target`` (N,)."""
    s = as_samples(sources, "sources")
    t = as_samples(target, "target")
    if t.shape[1] != 1 or t.shape[0] != s.shape[0]:
        raise ValueError(
            f"target must have shape ({s.shape[0]},) to match sources {s.shape}; got {t.shape}"
        )
    return to_distribution(np.hstack([s, t]))


def dit_pid(
    outcomes: np.ndarray, probs: np.ndarray | None = None, measure: str = "BROJA"
) -> pd.DataFrame:
    """PID of the last column of ``outcomes`` by the others, with dit's ``measure``.

    ``measure`` is a dit PID name such as "BROJA", "SX", "MMI", "WB", "CCS", "dep", "PM"
    (case-insensitive; see :func:`pid_measures`). BROJA needs exactly 2 sources; every
    measure at most :data:`MAX_SOURCES`; BROJA with dit's convex cone solver. Returns a
    DataFrame with column ``average`` (bits) indexed by antichain (1-based source tuples),
    bottom first.
    """
    cls = _measure_class(measure)
    dist = to_distribution(outcomes, probs)
    n = dist.outcome_length() - 1
    if n > MAX_SOURCES:
        raise ValueError(f"outcomes has n={n} sources; dit_pid allows at most {MAX_SOURCES}")
    if cls is dit.pid.PID_BROJA and n != 2:
        raise ValueError(f"measure 'BROJA' needs exactly 2 sources; outcomes has n={n}")
    # dit's BROJA picks a scipy optimisation from a random start for small alphabets (XOR
    # came out 0.9956 bits now and then); its convex cone solver (ECOS) is deterministic
    options = {"method": "cone"} if cls is dit.pid.PID_BROJA else {}
    pid = cls(dist, [[i] for i in range(n)], [n], **options)
    atoms = {_to_one_based(node): float(pid.get_pi(node)) for node in pid._lattice}
    order = sorted(atoms, key=lambda a: (-_upset_size(a, n), a))
    index = pd.Index(order, dtype=object, tupleize_cols=False, name="antichain")
    return pd.DataFrame({"average": [atoms[a] for a in order]}, index=index)


def _measure_class(measure: str) -> type:
    measures = pid_measures()
    by_lower = {name.lower(): cls for name, cls in measures.items()}
    if not isinstance(measure, str) or measure.lower() not in by_lower:
        raise ValueError(f"measure must be one of {sorted(measures)}; got {measure!r}")
    return by_lower[measure.lower()]


def _as_probs(probs: object, rows: int) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (rows,):
        raise ValueError(f"probs must have shape ({rows},) like outcomes' rows; got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"probs must be finite and >= 0; got min {np.nanmin(p)!r}")
    if abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(f"probs must sum to 1; got sum {p.sum()!r}")
    return p


def _to_one_based(node) -> tuple[tuple[int, ...], ...]:
    """dit node (tuple of 0-based source-index tuples) -> sorted 1-based antichain."""
    return tuple(sorted(tuple(sorted(i + 1 for i in part)) for part in node))


def _upset_size(antichain: tuple[tuple[int, ...], ...], n: int) -> int:
    """Number of non-empty source subsets that contain some set of the antichain."""
    sets = [set(a) for a in antichain]
    subsets = itertools.chain.from_iterable(
        itertools.combinations(range(1, n + 1), r) for r in range(1, n + 1)
    )
    return sum(any(a <= set(b) for a in sets) for b in subsets)

"""BROJA PID of two sources (Bertschinger, Rauh, Olbrich, Jost & Ay, Entropy 16, 2161, 2014).

The unique informations come from dit's bivariate BROJA solver on the distribution that
:mod:`nninfo.info.dit_bridge` builds (dit is imported on the first call, not with this
module), with a deterministic solver by default (see :func:`broja_pid`).
:class:`BrojaPID` adds the summaries of :class:`~nninfo.info.sx.SxPID`: degree-of-synergy
atoms Pi_1 = redundancy + unique_1 + unique_2, Pi_2 = synergy, and the representational
complexity C = (Pi_1 + 2 Pi_2) / I = 1 + synergy / I.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from nninfo.info.entropy import as_samples, as_target, check_same_length, small_codes
from nninfo.info.measure import Measure
from nninfo.info.sx import mean_degree_of_synergy

REDUNDANCY = ((1,), (2,))
UNIQUE_1 = ((1,),)
UNIQUE_2 = ((2,),)
SYNERGY = ((1, 2),)


class BrojaPID(Measure):
    """Result of :func:`broja_pid` (measure name ``broja``: ``to_dict`` keys ``broja.<q>``).

    Attributes
    ----------
    atoms : DataFrame indexed by antichain (``((1,), (2,))``, ``((1,),)``, ``((2,),)``,
        ``((1, 2),)``, bottom first), column ``average`` (bits).
    mutual_information : plug-in I(T; S_1, S_2) in bits, from the entropies of the table.
    """


    def __init__(self, atoms: pd.DataFrame, mutual_information: float) -> None:
        self.atoms = atoms
        self.mutual_information = float(mutual_information)
        self._average = dict(zip(atoms.index, atoms["average"].astype(float), strict=True))

    def __repr__(self) -> str:
        parts = ", ".join(f"{q}={v:.6g}" for q, v in self._atom_values().items())
        return f"BrojaPID(mutual_information={self.mutual_information:.6g}, {parts})"

    @property
    def redundancy(self) -> float:
        """Shared information of S_1 and S_2 about T (bits)."""
        return self._average[REDUNDANCY]

    @property
    def unique_1(self) -> float:
        """Information about T in S_1 only (bits)."""
        return self._average[UNIQUE_1]

    @property
    def unique_2(self) -> float:
        """Information about T in S_2 only (bits)."""
        return self._average[UNIQUE_2]

    @property
    def synergy(self) -> float:
        """Information about T in (S_1, S_2) jointly only (bits)."""
        return self._average[SYNERGY]

    @property
    def degree_of_synergy_atoms(self) -> pd.Series:
        """Pi_m, m = 1, 2: Pi_1 = redundancy + unique_1 + unique_2, Pi_2 = synergy."""
        values = [self.redundancy + self.unique_1 + self.unique_2, self.synergy]
        return pd.Series(values, index=pd.Index([1, 2], name="degree"), name="Pi_m")

    @property
    def representational_complexity(self) -> float:
        """C = sum_m m Pi_m / I; NaN (with ZeroInformationWarning) when I(T;S) = 0."""
        return mean_degree_of_synergy(self.degree_of_synergy_atoms, self.mutual_information,
                                      "BROJA ")

    def _atom_values(self) -> dict[str, float]:
        return {
            "redundancy": self.redundancy,
            "unique_1": self.unique_1,
            "unique_2": self.unique_2,
            "synergy": self.synergy,
        }

    def _scalars(self) -> dict[str, float]:
        """mutual_information, the four atoms, deg_syn_1, deg_syn_2, representational_complexity."""
        pi = self.degree_of_synergy_atoms
        return {
            "mutual_information": self.mutual_information,
            **self._atom_values(),
            "deg_syn_1": float(pi[1]),
            "deg_syn_2": float(pi[2]),
            "representational_complexity": self.representational_complexity,
        }


class BrojaSolverWarning(UserWarning):
    """dit's BROJA solver fell back from the requested method (e.g. admUI did not converge)."""


def broja_pid(
    sources: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    method: str = "cone",
    maxiter: int = 5_000,
) -> BrojaPID:
    """BROJA PID of ``target`` by exactly two sources, with dit's bivariate BROJA solver.

    ``sources``: int codes (N, 2), one column per source; ``target``: int codes (N,).
    ``weights``: None (rows are samples, counted) or (N,) non-negative weights of the rows
    (e.g. probabilities of a table of distinct outcomes, or counts); they are normalised
    to sum 1 and equal rows are merged. ``method`` (``"cone"``, ``"admui"``, ``"scipy"``,
    ``"auto"``) and ``maxiter`` go to dit's solver. The default ``cone`` is the exponential
    cone program solved by ECOS, as the published package's BROJA_2PID (Makkeh et al.):
    deterministic, accurate to ~1e-9 bits and fast (two 8-level neurons, 2,796 samples:
    1.6 s, where admUI took 148 s and did not converge). admUI is deterministic and accurate
    once converged; when it does not converge within ``maxiter`` dit falls back to SLSQP
    (``"scipy"``), here with a fixed seed and a :class:`BrojaSolverWarning`: SLSQP can miss
    the minimum by several 1e-2 bits (dit's ``"auto"`` uses it below 64 joint outcomes). The
    atoms are built like dit's ``PID_BROJA``: redundancy = I(T;S_1) - UI_1, synergy the rest.
    """
    s = as_samples(sources, "sources")
    if s.shape[1] != 2:
        raise ValueError(
            f"sources: BROJA needs exactly 2 sources (columns); got shape {np.shape(sources)} "
            f"(n_sources={s.shape[1]})"
        )
    t = as_target(target)
    check_same_length(sources=s, target=t)
    probs = None if weights is None else _normalised(weights, s.shape[0])
    from nninfo.info.dit_bridge import outcome_table, to_distribution  # imports dit

    # small codes: labels do not change a PID, and any integer dtype fits int64 then
    outcomes = np.column_stack([small_codes(s), small_codes(t)]).astype(np.int64)
    table, p = outcome_table(outcomes, probs)
    unique_1, unique_2 = _uniques(to_distribution(table, p), method, maxiter)
    info = _mutual_information(table, p)
    redundancy = _mutual_information(table[:, [0, 2]], p) - unique_1
    values = [redundancy, unique_1, unique_2, info - redundancy - unique_1 - unique_2]
    index = pd.Index([REDUNDANCY, UNIQUE_1, UNIQUE_2, SYNERGY], dtype=object,
                     tupleize_cols=False, name="antichain")
    return BrojaPID(pd.DataFrame({"average": values}, index=index), info)


def _uniques(dist: object, method: str, maxiter: int) -> tuple[float, float]:
    """UI_1, UI_2 from dit's bivariate BROJA solver."""
    from dit.algorithms.broja_method import broja_solve_bivariate
    from dit.exceptions import OptimizationException

    try:
        uniques, meta = broja_solve_bivariate(dist, [(0,), (1,)], (2,), method=method,
                                              maxiter=maxiter, rng=np.random.default_rng(0))
    except OptimizationException as exc:
        raise RuntimeError(f"BROJA failed with method={method!r}, maxiter={maxiter}: {exc}. "
                           "Raise maxiter.") from exc
    if method != "auto" and meta.get("method") != method:
        warnings.warn(
            f"method={method!r}: dit's BROJA solver fell back to {meta.get('method')!r} "
            f"(e.g. admUI did not converge within maxiter={maxiter}); the atoms may be off "
            "by ~1e-3 bits. Raise maxiter.",
            BrojaSolverWarning,
            stacklevel=3,
        )
    return float(uniques[(0,)]), float(uniques[(1,)])


def _normalised(weights: object, rows: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (rows,):
        raise ValueError(f"weights: shape {w.shape} does not match the {rows} rows of sources")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(
            f"weights: must be finite, >= 0 and not all 0; got min {w.min()!r}, sum {w.sum()!r}"
        )
    return w / w.sum()


def _mutual_information(table: np.ndarray, p: np.ndarray) -> float:
    """I(T; S) in bits of a table of distinct rows (sources..., target) with probabilities."""
    h_s = _entropy(table[:, :-1], p)
    h_t = _entropy(table[:, -1:], p)
    return max(h_s + h_t - _entropy(table, p), 0.0)


def _entropy(rows: np.ndarray, p: np.ndarray) -> float:
    inverse = np.unique(rows, axis=0, return_inverse=True)[1].reshape(-1)
    q = np.bincount(inverse, weights=p)
    q = q[q > 0]
    return float(-(q * np.log2(q)).sum())

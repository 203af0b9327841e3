"""Exact, fast shared-exclusion PID (I^sx; Makkeh, Gutknecht & Wibral, PRE 103, 032149, 2021).

Local redundancy of antichain alpha at outcome (s, t), with W_alpha the union over a in alpha
of the events {S_a = s_a}:

    i+ = -log2 P(W_alpha),   i- = -log2 [P(W_alpha, T = t) / P(T = t)],   i = i+ - i-.

The fast method: by inclusion-exclusion P(W_alpha) is a signed sum of the 2^n - 1
source-subset marginals P(S_B = s_B) at the outcome (``lattice.union_coefficients``). Each
marginal is one counting pass over the distinct outcomes, and all antichains at a chunk of
outcomes then come from one (chunk x (2^n-1)) @ ((2^n-1) x antichains) matrix product (exact
integers for sample counts). Averages over outcomes are weighted sums of logarithms; rows
with equal weight are multiplied together in groups (within the float64 range) before the
logarithm, so only a fraction of the logarithms is evaluated. The informative part depends
on the source pattern only and is evaluated on distinct source patterns. Moebius inversion
over the lattice (a sparse matrix product) turns redundancies into atoms. The cost is
linear in the number of distinct outcomes.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nninfo.checks import is_integer
from nninfo.info.lattice import MAX_SOURCES, Antichain, RedundancyLattice, redundancy_lattice
from nninfo.info.measure import Measure
from nninfo.info.outcomes import CountedOutcomes, count_outcomes
from nninfo.info.unions import SubsetMarginals, log_union_sums, subset_marginals

ZERO_INFORMATION_TOL = 1e-12  # bits; below this I(T;S) counts as zero for C


class ZeroInformationWarning(UserWarning):
    """I(T;S) is zero, so the representational complexity is undefined (NaN)."""


@dataclass(frozen=True, eq=False)
class PointwiseChunk:
    """Pointwise I^sx atoms for a block of distinct outcomes.

    values: (c, columns) the outcomes (original codes); probability: (c,) p(outcome);
    informative / misinformative: (c, N) local atoms in lattice node order.
    """

    values: np.ndarray
    probability: np.ndarray
    informative: np.ndarray
    misinformative: np.ndarray

    @property
    def average(self) -> np.ndarray:
        """Local atoms i = i+ - i- (pointwise PID), shape (c, N)."""
        return self.informative - self.misinformative


class SxPID(Measure):
    """Result of :func:`sx_pid` (measure name ``pid``: ``to_dict`` keys ``pid.<quantity>``).

    Attributes
    ----------
    atoms : DataFrame indexed by antichain (tuples of 1-based source tuples, in the lattice
        node order of :mod:`nninfo.info.lattice`), columns informative, misinformative,
        average (bits). Select a node with :meth:`atom` (pandas reads tuple keys as
        row/column pairs in ``.loc``).
    mutual_information : I(T; S_1..S_n) in bits (= atoms['average'].sum()).
    degree_of_synergy_atoms : Series Pi_m, m = 1..n.
    representational_complexity : C = sum_m m Pi_m / I (NaN + ZeroInformationWarning if I = 0).
    n_sources, lattice, counted (the distinct outcomes), marginals.
    """

    def __init__(
        self,
        lattice: RedundancyLattice,
        counted: CountedOutcomes,
        marginals: SubsetMarginals,
        red_plus: np.ndarray,
        red_minus: np.ndarray,
    ) -> None:
        self.lattice, self.counted, self.marginals = lattice, counted, marginals
        self._target_pointwise: pd.DataFrame | None = None
        self.atoms = _frame(
            lattice, lattice.mobius_inversion(red_plus), lattice.mobius_inversion(red_minus)
        )
        self.mutual_information = float(red_plus[-1] - red_minus[-1])

    def __repr__(self) -> str:
        return (
            f"SxPID(n_sources={self.n_sources}, outcomes={self.counted.n_outcomes}, "
            f"mutual_information={self.mutual_information:.6g} bits)"
        )

    @property
    def n_sources(self) -> int:
        return self.lattice.n

    def atom(self, antichain: Sequence[Sequence[int]]) -> pd.Series:
        """Atom row (informative, misinformative, average) of one antichain."""
        return self.atoms.iloc[self._position(antichain)]

    def _position(self, antichain: Sequence[Sequence[int]]) -> int:
        key = tuple(sorted(tuple(sorted(a)) for a in antichain))
        if key not in self.lattice.index:
            raise KeyError(f"antichain: {antichain!r} is not a node of the {self.n_sources}-source "
                           "lattice (sets must be non-empty, 1-based and pairwise non-nested)")
        return self.lattice.index[key]

    @functools.cached_property
    def degree_of_synergy_atoms(self) -> pd.Series:
        """Pi_m: sum of the average atoms whose antichain has degree of synergy m."""
        average = self.atoms["average"].to_numpy()
        sums = np.bincount(self.lattice.degree, weights=average, minlength=self.n_sources + 1)
        index = pd.Index(range(1, self.n_sources + 1), name="degree")
        return pd.Series(sums[1:], index=index, name="Pi_m")

    @property
    def representational_complexity(self) -> float:
        """C = sum_m m Pi_m / I(T;S); NaN (with ZeroInformationWarning) when I(T;S) = 0."""
        return mean_degree_of_synergy(self.degree_of_synergy_atoms, self.mutual_information)

    def _scalars(self) -> dict[str, float]:
        """mutual_information, representational_complexity, deg_syn_m (m = 1..n); the
        inherited ``to_dict`` namespaces them as ``pid.<quantity>``."""
        out = {
            "mutual_information": self.mutual_information,
            "representational_complexity": self.representational_complexity,
        }
        for m, value in self.degree_of_synergy_atoms.items():
            out[f"deg_syn_{m}"] = float(value)
        return out

    def target_pointwise(self) -> pd.DataFrame:
        """One I^sx decomposition per target value t (averages over p(s | t)).

        Returns a DataFrame with MultiIndex (t, antichain), t the original target value,
        and columns informative, misinformative, average; sum_t p(t) * atoms_t = atoms.
        Computed on first call (from the stored marginals, no recounting), then cached.
        """
        if self._target_pointwise is None:
            self._target_pointwise = self._compute_target_pointwise()
        return self._target_pointwise

    def _compute_target_pointwise(self) -> pd.DataFrame:
        c, m = self.counted, self.marginals
        t = c.target_codes
        n_t = len(c.target_values)
        m_t = np.bincount(t, weights=c.mass, minlength=n_t)
        coef = self.lattice.union_coefficients
        scale = 1.0 if c.from_samples else float(c.mass.min())
        kw = dict(total=c.total, labels=t, n_labels=n_t, scale=scale, exact=c.from_samples)
        plus = log_union_sums(m.source, c.mass, coef, **kw)
        minus = log_union_sums(m.joint, c.mass, coef, **kw)
        present = m_t > 0
        m_t = m_t[present][:, None]
        red_plus = -plus[present] / m_t - math.log2(scale) + math.log2(c.total)
        red_minus = -minus[present] / m_t - math.log2(scale) + np.log2(m_t)
        lat = self.lattice
        values = c.target_values[present]
        inf, mis = lat.mobius_inversion(red_plus), lat.mobius_inversion(red_minus)
        nodes = _antichain_index(lat).take(np.tile(np.arange(len(lat)), len(values)))
        index = pd.MultiIndex.from_arrays(
            [np.repeat(values, len(lat)), nodes], names=["t", "antichain"]
        )
        return pd.DataFrame(
            {
                "informative": inf.ravel(),
                "misinformative": mis.ravel(),
                "average": (inf - mis).ravel(),
            },
            index=index,
        )

    @functools.cached_property
    def target_probabilities(self) -> pd.Series:
        """p(T = t) for the target values with positive probability."""
        c = self.counted
        m_t = np.bincount(c.target_codes, weights=c.mass, minlength=len(c.target_values))
        present = m_t > 0
        return pd.Series(m_t[present] / c.total, index=pd.Index(c.target_values[present], name="t"))

    def pointwise(self, chunk_size: int = 256) -> Iterator[PointwiseChunk]:
        """Yield the pointwise (per distinct outcome) I^sx atoms in blocks of ``chunk_size``.

        Memory per block is about 4 * chunk_size * N * 8 bytes (N = number of antichains).
        Outcomes come in the order of ``self.counted.values``;
        sum over outcomes of probability * atoms equals ``self.atoms``.
        """
        if not is_integer(chunk_size, 1):
            raise ValueError(f"chunk_size: must be a positive int, got {chunk_size!r}")
        c, m, lat = self.counted, self.marginals, self.lattice
        coef = lat.union_coefficients.astype(np.float64)
        for r0 in range(0, c.n_outcomes, chunk_size):
            sl = slice(r0, r0 + chunk_size)
            # antichains x outcomes layout: the sparse Moebius product needs no transposes
            plus = -np.log2((coef @ m.source[sl].T) / c.total)
            minus = -np.log2((coef @ m.joint[sl].T) / m.target[sl])
            yield PointwiseChunk(
                values=c.values[sl],
                probability=c.mass[sl] / c.total,
                informative=(lat.mobius @ plus).T,
                misinformative=(lat.mobius @ minus).T,
            )


def mean_degree_of_synergy(pi: pd.Series, info: float, what: str = "") -> float:
    """The representational complexity C = sum_m m Pi_m / I of Pi_m (``pi``, indexed by m)
    and I(T;S) (``info``); NaN with a :class:`ZeroInformationWarning` when I = 0."""
    if abs(info) <= ZERO_INFORMATION_TOL:
        warnings.warn(
            f"mutual_information is {info:.3g} bits (<= {ZERO_INFORMATION_TOL}), so the "
            f"{what}representational complexity is undefined; returning NaN",
            ZeroInformationWarning,
            stacklevel=3,
        )
        return float("nan")
    return float((pi.index.to_numpy() * pi.to_numpy()).sum() / info)


def _antichain_index(lattice: RedundancyLattice) -> pd.Index:
    values = np.empty(len(lattice), dtype=object)
    values[:] = list(lattice.antichains)
    return pd.Index(values, dtype=object, tupleize_cols=False, name="antichain")


def _frame(lattice: RedundancyLattice, plus: np.ndarray, minus: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"informative": plus, "misinformative": minus, "average": plus - minus},
        index=_antichain_index(lattice),
    )


def sx_pid(
    outcomes: object,
    probs: object = None,
    *,
    sources: Sequence[Sequence[int]] | None = None,
    target: int | None = None,
    use_disk_cache: bool = True,
) -> SxPID:
    """Shared-exclusion PID of the target among up to 5 sources.

    Parameters
    ----------
    outcomes : int array (R, columns); by default the last column is the target and every
        other column one source. Non-negative integer codes.
    probs : (R,) probabilities summing to 1, or None: rows are equally weighted samples
        (counted exactly).
    sources : list of lists of 0-based column indices; each list forms one source.
    target : target column index (default: the last column).
    use_disk_cache : load/store the redundancy lattice in the nninfo cache folder.
    """
    counted = count_outcomes(outcomes, probs, sources=sources, target=target)
    if counted.n_sources > MAX_SOURCES:
        raise ValueError(
            f"sources: I^sx is limited to {MAX_SOURCES} sources, got {counted.n_sources}. "
            "For more sources use the Shannon invariants (nninfo.info.shannon_invariants), "
            "which need entropies only."
        )
    lattice = redundancy_lattice(counted.n_sources, use_disk_cache=use_disk_cache)
    marginals = subset_marginals(counted)
    red_plus, red_minus = _average_redundancies(lattice, counted, marginals)
    return SxPID(lattice, counted, marginals, red_plus, red_minus)


def _average_redundancies(
    lattice: RedundancyLattice, counted: CountedOutcomes, m: SubsetMarginals
) -> tuple[np.ndarray, np.ndarray]:
    """Average informative and misinformative redundancies of every antichain (bits)."""
    coef, total = lattice.union_coefficients, counted.total
    scale = 1.0 if counted.from_samples else float(counted.mass.min())
    kw = dict(total=total, scale=scale, exact=counted.from_samples)
    plus = log_union_sums(m.source[m.s_rows], m.s_mass, coef, **kw)[0]
    minus = log_union_sums(m.joint, counted.mass, coef, **kw)[0]
    log_target = float(counted.mass @ np.log2(m.target / scale))
    red_plus = -plus / total - math.log2(scale) + math.log2(total)
    red_minus = (log_target - minus) / total
    return red_plus, red_minus


__all__ = ["PointwiseChunk", "SxPID", "ZeroInformationWarning", "sx_pid", "Antichain"]

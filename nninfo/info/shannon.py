"""Shannon invariants of a source/target system (Gutknecht et al., arXiv:2504.15779).

Shannon invariants are the linear combinations of PID atoms that every PID agrees on,
because they can be written with mutual informations alone. With sources S = (S_1..S_n),
target T, and S_-i the sources without S_i:

* average degree of redundancy   r = sum_i I(T; S_i) / I(T; S)
* average degree of vulnerability v = sum_i I(T; S_i | S_-i) / I(T; S)
                                    = sum_i [I(T; S) - I(T; S_-i)] / I(T; S)

r is the atom-weighted mean number of single sources from which a piece of information
is accessible (r < 1 signals synergy); v the mean number of single sources whose loss
destroys it. Examples: XOR r = 0, v = 2; COPY of two independent bits r = v = 1;
fully redundant (T = S_1 = S_2) r = 2, v = 0.

Entropy-only variant (no target, for autoencoders): take the sources themselves as the
target, i.e. I(S; S) = H(S) and I(S; S_i) = H(S_i), so

* r_H = sum_i H(S_i) / H(S),   v_H = sum_i [H(S) - H(S_-i)] / H(S) = sum_i H(S_i | S_-i) / H(S).

All quantities are plug-in estimates in bits; the hashing trick of
:mod:`nninfo.info.entropy` makes the n leave-one-out terms one sort each, so 1,024
sources x 60,000 samples take seconds. With ``weights`` (the probability of each row, e.g.
a table from :mod:`nninfo.info.binning`) the estimates are those of the weighted table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nninfo.info.entropy import (
    UndefinedRatioWarning,
    _column_entropies,
    _keys_entropy,
    _leave_one_out_entropies,
    _row_hash,
    as_sources,
    as_target,
    as_weights,
    check_same_length,
    column_weights,
    ratio_or_nan,
    small_codes,
)
from nninfo.info.measure import Measure

__all__ = [
    "EntropyInvariants",
    "ShannonInvariants",
    "UndefinedRatioWarning",
    "entropy_invariants",
    "shannon_invariants",
]


@dataclass(frozen=True)
class ShannonInvariants(Measure):
    """Shannon invariants of sources about a target; per-source arrays are in source order.
    Measure name ``shannon``: ``to_dict`` keys are ``shannon.<quantity>``."""


    mutual_information: float
    target_entropy: float
    source_mi: np.ndarray
    leave_one_out_mi: np.ndarray
    avg_degree_redundancy: float
    avg_degree_vulnerability: float

    @property
    def n_sources(self) -> int:
        return int(self.source_mi.size)

    def _scalars(self) -> dict[str, float]:
        """Scalar summaries under plain names (``to_dict`` namespaces them)."""
        return {
            "mutual_information": self.mutual_information,
            "target_entropy": self.target_entropy,
            "avg_degree_redundancy": self.avg_degree_redundancy,
            "avg_degree_vulnerability": self.avg_degree_vulnerability,
            "sum_source_mi": float(self.source_mi.sum()),
            "sum_unique_loss": float((self.mutual_information - self.leave_one_out_mi).sum()),
            "n_sources": float(self.n_sources),
        }


@dataclass(frozen=True)
class EntropyInvariants(Measure):
    """Target-free Shannon invariants (the sources are their own target). Measure name
    ``shannon_entropy``: ``to_dict`` keys are ``shannon_entropy.<quantity>``."""


    joint_entropy: float
    source_entropies: np.ndarray
    leave_one_out_entropies: np.ndarray
    avg_degree_redundancy: float
    avg_degree_vulnerability: float

    @property
    def n_sources(self) -> int:
        return int(self.source_entropies.size)

    def _scalars(self) -> dict[str, float]:
        """Scalar summaries under plain names (``to_dict`` namespaces them)."""
        return {
            "joint_entropy": self.joint_entropy,
            "avg_degree_redundancy": self.avg_degree_redundancy,
            "avg_degree_vulnerability": self.avg_degree_vulnerability,
            "sum_source_entropy": float(self.source_entropies.sum()),
            "sum_unique_loss": float((self.joint_entropy - self.leave_one_out_entropies).sum()),
            "n_sources": float(self.n_sources),
        }


def shannon_invariants(
    sources: np.ndarray, target: np.ndarray, *, weights: np.ndarray | None = None
) -> ShannonInvariants:
    """Shannon invariants of integer ``sources`` (N, n) about an integer ``target`` (N,).

    Codes may have any integer dtype (also ``uint64`` >= 2**63, negative values, bools);
    only which samples share a code matters (see :func:`nninfo.info.entropy.small_codes`).
    ``weights`` (N,): the probability of each row (>= 0, summing to 1); None counts rows.

    Returns I(T;S), I(T;S_i), I(T;S_-i) and the average degrees of redundancy and
    vulnerability; those are NaN (with an :class:`UndefinedRatioWarning`) when I(T;S) = 0.
    """
    s = small_codes(as_sources(sources))  # any integer codes; hashed and counted once small
    t = small_codes(as_target(target))
    check_same_length(sources=s, target=t)
    w = as_weights(weights, s.shape[0])
    h_t = _keys_entropy(t, w)
    h_s, h_st = _joint_entropies(s, t, w)
    mi = max(h_s + h_t - h_st, 0.0)
    t_col = t[:, None]
    # s and t are validated small codes: the private variants skip re-checking them
    source_mi = _column_entropies(s, None, w) + h_t - _column_entropies(s, t_col, w)
    loo_mi = _leave_one_out_entropies(s, None, w) + h_t - _leave_one_out_entropies(s, t_col, w)
    source_mi, loo_mi = np.clip(source_mi, 0.0, None), np.clip(loo_mi, 0.0, None)
    return ShannonInvariants(
        mutual_information=mi,
        target_entropy=h_t,
        source_mi=source_mi,
        leave_one_out_mi=loo_mi,
        avg_degree_redundancy=ratio_or_nan(source_mi.sum(), mi, "avg_degree_redundancy"),
        avg_degree_vulnerability=ratio_or_nan((mi - loo_mi).sum(), mi, "avg_degree_vulnerability"),
    )


def entropy_invariants(
    sources: np.ndarray, *, weights: np.ndarray | None = None
) -> EntropyInvariants:
    """Target-free invariants of integer ``sources`` (N, n): H(S), H(S_i), H(S_-i), r_H, v_H.

    ``weights`` (N,): row probabilities, as for :func:`shannon_invariants`. The ratios are
    NaN (with an :class:`UndefinedRatioWarning`) when H(S) = 0.
    """
    s = small_codes(as_sources(sources))
    w = as_weights(weights, s.shape[0])
    h = _keys_entropy(_row_hash(s, column_weights(s.shape[1])), w)
    h_i = _column_entropies(s, None, w)
    h_loo = _leave_one_out_entropies(s, None, w)
    return EntropyInvariants(
        joint_entropy=h,
        source_entropies=h_i,
        leave_one_out_entropies=h_loo,
        avg_degree_redundancy=ratio_or_nan(h_i.sum(), h, "avg_degree_redundancy"),
        avg_degree_vulnerability=ratio_or_nan((h - h_loo).sum(), h, "avg_degree_vulnerability"),
    )


def _joint_entropies(
    s: np.ndarray, t: np.ndarray, w: np.ndarray | None
) -> tuple[float, float]:
    """H(S) and H(S, T), hashing S once (no (N, n + 1) copy of the samples)."""
    weights = column_weights(s.shape[1] + 1)
    h = _row_hash(s, weights[:-1])
    with np.errstate(over="ignore"):
        h_t = h + weights[-1] * t.astype(np.uint64)
    return _keys_entropy(h, w), _keys_entropy(h_t, w)

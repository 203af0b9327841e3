"""Plug-in bias of the I^sx PID from shuffled-target surrogates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nninfo.info.classwise import antichain_label
from nninfo.info.surrogates import check_shuffle_args, shuffled_target_surrogates
from nninfo.info.sx import SxPID, sx_pid


def _label(antichain: tuple[tuple[int, ...], ...]) -> str:
    return "atom " + antichain_label(antichain)


def pid_measure(sources: np.ndarray, target: np.ndarray, *, atoms: bool = True
                ) -> dict[str, float]:
    """Flat dict of every quantity :func:`sx_pid` returns (summaries and, optionally, atoms),
    keyed like :meth:`SxPID.to_dict`: ``pid.mutual_information``, ``pid.atom {1}{2}``."""
    import warnings

    from nninfo.info.sx import ZeroInformationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZeroInformationWarning)  # surrogates may carry I = 0
        res = sx_pid(np.column_stack([sources, target]))
    out = res.to_dict()
    if atoms:
        out.update({SxPID.key(_label(ac)): float(v) for ac, v in res.atoms["average"].items()})
    return out


def sx_pid_surrogates(samples: np.ndarray, n_shuffles: int, seed: int | None = 0, *,
                      atoms: bool = True, progress: bool | None = None) -> pd.DataFrame:
    """Value, surrogate mean and spread, bias-corrected value and permutation p-value of every
    PID quantity (I, C, Pi_m and, with ``atoms``, each atom) from ``n_shuffles`` seeded
    target permutations, indexed by the keys of :func:`pid_measure` (``pid.mutual_information``,
    ``pid.representational_complexity``, ``pid.deg_syn_<m>``, ``pid.atom <antichain>``).
    ``samples``: int array (N, n + 1), target last."""
    check_shuffle_args(n_shuffles, seed)
    samples = np.asarray(samples)
    if samples.ndim != 2 or samples.shape[1] < 2:
        raise ValueError(f"samples: shape {samples.shape} is not (N, n_sources + 1)")
    return shuffled_target_surrogates(
        lambda s, t: pid_measure(s, t, atoms=atoms), samples[:, :-1], samples[:, -1],
        n_shuffles, seed, progress=progress)

"""Per-class (target-pointwise) summaries of an I^sx PID.

For each target value t, :meth:`~nninfo.info.sx.SxPID.target_pointwise` gives the I^sx
atoms averaged over p(s | t). Their sum is the specific information
i(t) = sum_s p(s | t) log2[p(s | t) / p(s)] (the local mutual information averaged within
the class, >= 0), and sum_t p(t) i(t) = I(T; S), sum_t p(t) atoms_t = atoms. Here they are
summarised per class like the whole PID: Pi_m(t) (atoms of degree of synergy m) and the
class's representational complexity C(t) = sum_m m Pi_m(t) / i(t).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nninfo.info.sx import ZERO_INFORMATION_TOL, SxPID


def antichain_label(antichain: tuple[tuple[int, ...], ...]) -> str:
    """The pipeline's antichain label: ``((1,), (2,))`` -> ``"{1}{2}"``, ``((1, 2),)`` ->
    ``"{1,2}"``."""
    return "".join("{" + ",".join(map(str, a)) + "}" for a in antichain)


def _class_arrays(pid: SxPID) -> tuple[np.ndarray, pd.DataFrame]:
    """Target values (n_t,) and the target-pointwise frame (rows: t-major, node order)."""
    if not isinstance(pid, SxPID):
        raise TypeError(f"pid: expected an SxPID (from sx_pid); got {type(pid).__name__}")
    frame = pid.target_pointwise()
    values = frame.index.get_level_values("t").to_numpy()[:: len(pid.lattice)]
    return values, frame


def class_summaries(pid: SxPID) -> pd.DataFrame:
    """One row per target value t with columns ``t``, ``p_t``, ``mutual_information``
    (specific information i(t) = sum of the class's average atoms, bits),
    ``representational_complexity`` (sum_m m Pi_m(t) / i(t); NaN, without a warning, when
    i(t) = 0) and ``deg_syn_1`` .. ``deg_syn_n`` (Pi_m(t), bits)."""
    values, frame = _class_arrays(pid)
    n, lat = pid.n_sources, pid.lattice
    average = frame["average"].to_numpy().reshape(len(values), len(lat))
    pi = np.zeros((len(values), n))
    for m in range(1, n + 1):
        pi[:, m - 1] = average[:, lat.degree == m].sum(axis=1)
    info = average.sum(axis=1)
    weighted = pi @ np.arange(1, n + 1, dtype=np.float64)
    zero = np.abs(info) <= ZERO_INFORMATION_TOL
    complexity = np.divide(weighted, info, out=np.full(len(values), np.nan), where=~zero)
    out = pd.DataFrame(
        {
            "t": values,
            "p_t": pid.target_probabilities.loc[values].to_numpy(),
            "mutual_information": info,
            "representational_complexity": complexity,
        }
    )
    for m in range(1, n + 1):
        out[f"deg_syn_{m}"] = pi[:, m - 1]
    return out


def class_atoms(pid: SxPID) -> pd.DataFrame:
    """Long table of the per-class atoms: columns ``t``, ``antichain`` (label such as
    ``{1}{2}``), ``degree`` (degree of synergy), ``informative``, ``misinformative``,
    ``average`` (bits); rows by t, then in lattice node order."""
    values, frame = _class_arrays(pid)
    lat = pid.lattice
    labels = [antichain_label(a) for a in lat.antichains]
    return pd.DataFrame(
        {
            "t": np.repeat(values, len(lat)),
            "antichain": np.tile(np.asarray(labels, dtype=object), len(values)),
            "degree": np.tile(lat.degree, len(values)),
            "informative": frame["informative"].to_numpy(),
            "misinformative": frame["misinformative"].to_numpy(),
            "average": frame["average"].to_numpy(),
        }
    )

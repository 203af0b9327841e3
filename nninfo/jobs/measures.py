"""The configured measures on one set of sources of a layer, with namespaced result keys."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nninfo.config.spec import AnalysisSpec
from nninfo.info.surrogates import shuffled_target_surrogates
from nninfo.info.sx import MAX_SOURCES, SxPID, ZeroInformationWarning, sx_pid
from nninfo.jobs.tables import LayerTables, Table

#: What a surrogate summary adds to a quantity's name (``mutual_information_p_value``).
SURROGATE_SUMMARIES = ("surrogate_mean", "surrogate_std", "bias_corrected", "p_value")
#: The PID summaries that get surrogates at the chosen checkpoints.
PID_SURROGATE_SUMMARIES = ("surrogate_mean", "surrogate_std")


@dataclass
class Measured:
    """One source set's results: ``values`` keyed ``<measure>.<quantity>`` (and
    ``class_<t>/pid.<quantity>``), PID atoms, per-class PID atoms."""

    values: dict[str, float]
    atoms: pd.DataFrame = field(default_factory=pd.DataFrame)
    class_atoms: pd.DataFrame = field(default_factory=pd.DataFrame)


def measure_sources(table: Table, tables: LayerTables, sources: Sequence[Sequence[int]],
                    spec: AnalysisSpec, pid_seed: int | None = None) -> Measured:
    """Every measure of ``spec.measures`` with ``sources`` (groups of neuron indices) as the
    sources (``table`` is ``tables.table()``, built once per layer); with ``pid_seed`` also
    ``spec.surrogates.pid`` shuffles of the PID's summaries. A key produced twice raises
    instead of overwriting."""
    from nninfo.info.broja import broja_pid
    from nninfo.info.reing import reing_complexity
    from nninfo.info.shannon import entropy_invariants, shannon_invariants

    src, labels, w = table.sources(sources), table.labels, table.weights
    out = Measured({})
    if "pid" in spec.measures:
        if len(sources) > MAX_SOURCES:
            raise ValueError(f"analysis.groupings: {len(sources)} sources; the I^sx PID allows "
                             f"at most {MAX_SOURCES}. Use a grouping with fewer sources, or "
                             "the 'shannon' measure.")
        res = sx_pid(table.samples(sources), w)
        _merge(out.values, res.to_dict(), "pid")
        out.atoms = atom_rows(res.atoms)
        if spec.per_class:
            _per_class(res, out)
        if pid_seed is not None and spec.surrogates.pid:
            _merge(out.values, _pid_surrogates(tables, sources, spec.surrogates.pid, pid_seed),
                   "pid surrogates")
    computed = {"shannon": lambda: shannon_invariants(src, labels, weights=w),
                "reing": lambda: reing_complexity(src, labels, weights=w),
                "shannon_entropy_only": lambda: entropy_invariants(src, weights=w),
                "broja": lambda: broja_pid(src, labels, weights=w)}
    for name in (m for m in spec.measures if m in computed):
        _merge(out.values, computed[name]().to_dict(), name)
    return out


def _per_class(res: SxPID, out: Measured) -> None:
    """The target-pointwise PID: per-class summaries as ``class_<t>/pid.<quantity>``."""
    from nninfo.info.classwise import class_atoms, class_summaries

    table = class_summaries(res)
    for row in table.to_dict("records"):
        t = int(row.pop("t"))
        row.pop("p_t", None)
        _merge(out.values, {f"class_{t}/{SxPID.key(q)}": float(v) for q, v in row.items()},
               f"class {t}")
    out.class_atoms = class_atoms(res)


def _pid_surrogates(tables: LayerTables, sources: Sequence[Sequence[int]], n: int, seed: int
                    ) -> dict[str, float]:
    """Surrogate mean and spread of the PID's summaries (I, C, Pi_m) over ``n`` shuffles."""
    def summaries(t: Table) -> dict[str, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ZeroInformationWarning)  # shuffles may carry I = 0
            return sx_pid(t.samples(sources), t.weights).to_dict()

    frame = relabelled_surrogates(summaries, tables, n, seed)
    return {f"{k}_{c}": float(frame.at[k, c]) for k in frame.index
            for c in PID_SURROGATE_SUMMARIES}


def relabelled_surrogates(fn: Callable[[Table], Mapping[str, float]], tables: LayerTables,
                          n: int, seed: int) -> pd.DataFrame:
    """:func:`~nninfo.info.surrogates.shuffled_target_surrogates` of ``fn`` on the layer's
    tables for ``n`` seeded permutations of the samples' labels (a noise binning rebuilds its
    table from the relabelled samples)."""
    index = np.arange(len(tables.labels))[:, None]  # the samples stay; only labels move
    return shuffled_target_surrogates(lambda _, t: fn(tables.build(t)), index, tables.labels,
                                      n, seed, progress=False)


def _merge(into: dict[str, float], new: Mapping[str, float], where: str) -> None:
    """``into.update(new)``, but a key already in ``into`` raises: no result overwrites
    another."""
    twice = sorted(into.keys() & new.keys())
    if twice:
        raise ValueError(f"{where}: quantities {twice} were produced twice; measure results "
                         "must have distinct (namespaced) keys")
    into.update(new)


def atom_rows(atoms: pd.DataFrame) -> pd.DataFrame:
    """PID atoms with the antichain as a string (``{1}{2}``) and its degree of synergy."""
    out = atoms.reset_index(names="antichain")
    out["degree"] = [min(len(a) for a in ac) for ac in out["antichain"]]
    out["antichain"] = ["".join("{" + ",".join(map(str, a)) + "}" for a in ac)
                        for ac in out["antichain"]]
    return out

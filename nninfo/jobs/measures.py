"""The configured measures on one set of sources of a layer, with namespaced result keys."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nninfo.config.spec import AnalysisSpec
from nninfo.info.catalog import MeasureEntry, entries, measure
from nninfo.info.surrogates import shuffled_target_surrogates
from nninfo.info.sx import SxPID, ZeroInformationWarning
from nninfo.jobs.tables import LayerTables, Table

#: What a surrogate summary adds to a quantity's name (``mutual_information_p_value``).
SURROGATE_SUMMARIES = ("surrogate_mean", "surrogate_std", "bias_corrected", "p_value")
#: What the surrogates of a measure's summaries add (at the chosen checkpoints).
SURROGATE_SPREAD = ("surrogate_mean", "surrogate_std")


@dataclass
class Measured:
    """One source set's results: ``values`` keyed ``<measure>.<quantity>`` (and
    ``class_<t>/pid.<quantity>``), PID atoms, per-class PID atoms."""

    values: dict[str, float]
    atoms: pd.DataFrame = field(default_factory=pd.DataFrame)
    class_atoms: pd.DataFrame = field(default_factory=pd.DataFrame)


def measure_sources(table: Table, tables: LayerTables, sources: Sequence[Sequence[int]],
                    spec: AnalysisSpec, surrogate_seed: int | None = None,
                    measures: Sequence[str] | None = None) -> Measured:
    """Every measure of ``spec.measures`` (catalogue entries, :mod:`nninfo.info.catalog`)
    with ``sources`` (groups of neuron indices) as the sources (``table`` is
    ``tables.table()``, built once per layer); with ``surrogate_seed`` also
    ``spec.surrogates.pid`` shuffles of the summaries of the measures that have surrogates.
    A key produced twice raises instead of overwriting. ``measures``: a grouping's own
    choice among ``spec.measures``."""
    src = table.sources(sources)
    out = Measured({})
    for entry in (measure(name) for name in (measures or spec.measures)):
        if not entry.takes(len(sources)):
            others = [e.name for e in entries() if e.max_sources is None
                      and e.exact_sources is None]
            raise ValueError(f"analysis.groupings: {len(sources)} sources; {entry.name!r} takes "
                             f"{entry.source_rule()} sources. Use a grouping with fewer sources"
                             f", or a measure without a source limit ({', '.join(others)}).")
        res = entry.compute(src, table.labels, table.weights)
        _merge(out.values, res.to_dict(), entry.name)
        if entry.atoms:
            out.atoms = atom_rows(res.atoms)
        if entry.per_class and spec.per_class:
            _per_class(res, out)
        if entry.surrogates and surrogate_seed is not None and spec.surrogates.pid:
            _merge(out.values, _surrogates(entry, tables, sources, spec.surrogates.pid,
                                           surrogate_seed), f"{entry.name} surrogates")
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


def _surrogates(entry: MeasureEntry, tables: LayerTables, sources: Sequence[Sequence[int]],
                n: int, seed: int) -> dict[str, float]:
    """Surrogate mean and spread of ``entry``'s summaries (for the PID: I, C, Pi_m) over
    ``n`` shuffles."""
    def summaries(t: Table) -> dict[str, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ZeroInformationWarning)  # shuffles may carry I = 0
            return entry.compute(t.sources(sources), t.labels, t.weights).to_dict()

    frame = relabelled_surrogates(summaries, tables, n, seed)
    return {f"{k}_{c}": float(frame.at[k, c]) for k in frame.index
            for c in SURROGATE_SPREAD}


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

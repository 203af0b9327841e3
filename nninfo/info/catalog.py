"""The catalogue of measures: every measure nninfo computes, logs, plots and reports, declared once.

An entry (:class:`MeasureEntry`) says everything the rest of the package needs to know of a
measure: its name (the config's ``analysis.measures`` entry and the namespace of its results,
``pid.representational_complexity``), the function that computes it on a source table, how
many sources it takes, which of its quantities become MLflow metrics, whether it gets
shuffled-label surrogates and per-class results, and the labels of its table columns and
figure panels. The config, the fit checks, the analysis job, the metric whitelist, the figures
and the report read it; none of them lists measures.

A new measure is its engine (a :class:`~nninfo.info.measure.Measure` result class and a
function returning one) plus one :func:`register_measure` call; its quantities are then
logged, loaded by :mod:`nninfo.results`, plotted (a panel per quantity that has a
:attr:`Quantity.panel`) and tabulated in the report with no other change. The I^sx PID's
special figures and report sections (C, Π_m, atoms, classes) read its entry too.

Labels are matplotlib mathtext (``$C_R$``); the report turns them into HTML.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nninfo.info.broja import BrojaPID, broja_pid
from nninfo.info.lattice import MAX_SOURCES
from nninfo.info.measure import SEPARATOR, Measure
from nninfo.info.reing import MAX_EXACT_SUBSETS, ReingComplexity, reing_complexity
from nninfo.info.shannon import (
    EntropyInvariants,
    ShannonInvariants,
    entropy_invariants,
    shannon_invariants,
)
from nninfo.info.sx import SxPID, sx_pid

__all__ = ["BROJA", "COUNT_QUANTITIES", "ENTROPY", "LAYER_METRICS", "PID", "REING", "SHANNON",
           "MeasureEntry", "Quantity", "canonical_name", "entries", "measure", "measure_names",
           "register_measure", "unregister_measure"]

#: ``compute(sources, labels, weights)``: sources (N, n) int codes, one column per source;
#: labels (N,) int; weights (N,) row probabilities or None (equally weighted samples).
Compute = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], Measure]


@dataclass(frozen=True)
class Quantity:
    """One named result of a measure: its table header and, if it is plotted, its panel's
    (title, y-axis label); ``note`` defines it in captions where it is shown; ``metric``:
    logged as an MLflow metric (a curve in the UI), else kept in the measures table."""

    name: str
    header: str
    panel: tuple[str, str] | None = None
    note: str = ""
    metric: bool = True


@dataclass(frozen=True)
class MeasureEntry:
    """A measure as the package knows it (see the module docstring)."""

    name: str
    result: type[Measure]
    compute: Compute
    title: str  # figure title and report wording
    note: str  # defines its symbols (figure caption lead, report intro), mathtext
    quantities: tuple[Quantity, ...]
    section: str  # report section id; entries may share one (shannon and reing)
    section_title: str
    figure: str = ""  # name of its figure in standard_figures ("" for none)
    metric_prefixes: tuple[str, ...] = ()  # families of metrics (``deg_syn_`` m = 1..n)
    needs_target: bool = True
    max_sources: int | None = None  # None: any number
    exact_sources: int | None = None  # the only number of sources it takes
    surrogates: bool = False  # shuffled-label surrogates of its metrics (analysis.surrogates.pid)
    per_class: bool = False  # target-pointwise results (analysis.per_class)
    atoms: bool = False  # a table of atoms (result.atoms)
    aliases: tuple[str, ...] = ()  # old config spellings, accepted with a warning

    def key(self, quantity: str) -> str:
        """The result key of ``quantity``: ``PID.key("deg_syn_2") == "pid.deg_syn_2"``."""
        return f"{self.name}{SEPARATOR}{quantity}"

    def metric_keys(self) -> frozenset[str]:
        return frozenset(self.key(q.name) for q in self.quantities if q.metric)

    def plotted(self) -> dict[str, tuple[str, str]]:
        """Result key -> (panel title, y label) of the quantities with a panel."""
        return {self.key(q.name): q.panel for q in self.quantities if q.panel}

    def headers(self) -> dict[str, str]:
        """Result key -> table header of every declared quantity."""
        return {self.key(q.name): q.header for q in self.quantities}

    def source_rule(self) -> str:
        """``"exactly 2"``, ``"at most 5"`` or ``"any number of"`` sources."""
        if self.exact_sources is not None:
            return f"exactly {self.exact_sources}"
        return "any number of" if self.max_sources is None else f"at most {self.max_sources}"

    def takes(self, n_sources: int) -> bool:
        if self.exact_sources is not None:
            return n_sources == self.exact_sources
        return self.max_sources is None or n_sources <= self.max_sources


#: Quantities of a whole layer that belong to no measure (keys ``<layer>/<quantity>``, from
#: the capture and the surrogates of I): those logged as MLflow metrics, and the counts
#: (integers, missing on grouping rows: Int64 in the results frames, no decimals in tables).
LAYER_METRICS = frozenset({
    "mutual_information", "distinct_patterns", "pattern_entropy", "mean_entropy",
    "mean_saturation", "bias_dominated"})
COUNT_QUANTITIES = frozenset({"distinct_patterns", "n_samples", "n_neurons"})

_CATALOG: dict[str, MeasureEntry] = {}
_ALIASES: dict[str, str] = {}


def register_measure(entry: MeasureEntry) -> MeasureEntry:
    """Add ``entry`` to the catalogue (its name and aliases must be new) and name its result
    class after it (``entry.result.name``), so that results are keyed ``<name>.<quantity>``."""
    taken = {entry.name, *entry.aliases} & (_CATALOG.keys() | _ALIASES.keys())
    if taken:
        raise ValueError(f"measure names {sorted(taken)} are in the catalogue already")
    if SEPARATOR in entry.name or "/" in entry.name or not entry.name:
        raise ValueError(f"measure name {entry.name!r}: a non-empty name without "
                         f"{SEPARATOR!r} or '/'")
    entry.result.name = entry.name
    _CATALOG[entry.name] = entry
    _ALIASES.update(dict.fromkeys(entry.aliases, entry.name))
    return entry


def unregister_measure(name: str) -> None:
    """Remove a measure added by :func:`register_measure` (e.g. a test's toy measure)."""
    entry = _CATALOG.pop(name)
    for alias in entry.aliases:
        _ALIASES.pop(alias, None)
    entry.result.name = ""


def measure_names() -> tuple[str, ...]:
    """The names ``analysis.measures`` takes, in catalogue order."""
    return tuple(_CATALOG)


def entries() -> tuple[MeasureEntry, ...]:
    return tuple(_CATALOG.values())


def canonical_name(name: str) -> str:
    """``name``, or the current name of an old spelling (with a FutureWarning); KeyError for
    a name the catalogue does not know."""
    if name in _CATALOG:
        return name
    if name in _ALIASES:
        new = _ALIASES[name]
        warnings.warn(f"analysis.measures: {name!r} is deprecated; it is now called {new!r} "
                      f"(its results have always been logged as {new}.*)", FutureWarning,
                      stacklevel=2)
        return new
    raise KeyError(name)


def measure(name: str) -> MeasureEntry:
    """The catalogue entry of ``name`` (an old spelling resolves to its entry)."""
    return _CATALOG[_ALIASES.get(name, name)]


# ---------------------------------------------------------------- the built-in measures
_ISX = r"$I^{\mathrm{sx}}$"
_SOURCES = (r"S: a layer's sources (its neurons, or groups of them), $S_i$ one source, "
            r"$S_{-i}$ all but $S_i$")


def _pid(sources: np.ndarray, labels: np.ndarray, weights: np.ndarray | None) -> SxPID:
    return sx_pid(np.column_stack([sources, labels.astype(np.int64)]), weights)


def _shannon(sources: np.ndarray, labels: np.ndarray, weights: np.ndarray | None
             ) -> ShannonInvariants:
    return shannon_invariants(sources, labels, weights=weights)


def _reing(sources: np.ndarray, labels: np.ndarray, weights: np.ndarray | None
           ) -> ReingComplexity:
    return reing_complexity(sources, labels, weights=weights)


def _entropy(sources: np.ndarray, labels: np.ndarray, weights: np.ndarray | None
             ) -> EntropyInvariants:
    return entropy_invariants(sources, weights=weights)


def _broja(sources: np.ndarray, labels: np.ndarray, weights: np.ndarray | None) -> BrojaPID:
    return broja_pid(sources, labels, weights=weights)


#: Reing's exact C_k averages every k-subset: the most sources whose middle order stays
#: within :data:`nninfo.info.reing.MAX_EXACT_SUBSETS` subsets.
REING_MAX_SOURCES = max(n for n in range(1, 64) if math.comb(n, n // 2) <= MAX_EXACT_SUBSETS)

PID = register_measure(MeasureEntry(
    name="pid", result=SxPID, compute=_pid,
    title=rf"the {_ISX} PID", section="complexity",
    section_title="Representational complexity",
    note=(r"$C=\Sigma_m\,m\,\Pi_m/I(Y;L)$: representational complexity, the mean degree of "
          rf"synergy of the {_ISX} PID, $\Pi_m$ its information in atoms of degree of "
          "synergy $m$"),
    quantities=(Quantity("mutual_information", "$I(Y;L)$ [bits]"),
                Quantity("representational_complexity", "$C$")),
    metric_prefixes=("deg_syn_",), max_sources=MAX_SOURCES, surrogates=True,
    per_class=True, atoms=True))

SHANNON = register_measure(MeasureEntry(
    name="shannon", result=ShannonInvariants, compute=_shannon,
    title="Shannon invariants of each layer about the label, over training",
    section="invariants", section_title="Shannon invariants", figure="shannon_invariants",
    note=(rf"{_SOURCES}; degree of redundancy $\Sigma_iI(Y;S_i)/I(Y;S)$, degree of "
          r"vulnerability $\Sigma_i[I(Y;S)-I(Y;S_{-i})]/I(Y;S)$ (Gutknecht et al. 2025)"),
    quantities=(
        Quantity("mutual_information", "$I(Y;S)$ [bits]"),
        Quantity("avg_degree_redundancy", "degree of redundancy",
                 ("Average degree of redundancy", r"$\Sigma_i I(Y;S_i)\,/\,I(Y;S)$")),
        Quantity("avg_degree_vulnerability", "degree of vulnerability",
                 ("Average degree of vulnerability",
                  r"$\Sigma_i [I(Y;S)-I(Y;S_{-i})]\,/\,I(Y;S)$")))))

REING = register_measure(MeasureEntry(
    name="reing", result=ReingComplexity, compute=_reing,
    title="Reing's complexity of each layer over training",
    section="invariants", section_title="Shannon invariants", figure="reing",
    note=r"Reing et al.: $C_k$: mean of $H(Y|S_A)$ over the k-subsets A of a layer's n sources",
    quantities=(
        Quantity("C_R_published", "$C_R$ (published)",
                 (r"Reing's $C_R$, published post-processing", r"$C_R$ (published)"),
                 r"published: $C_R=\Sigma_{k=1}^{n-1}k\,(C_k-C_{k+1})/(C_1-C_n)$"),
        Quantity("C_R_mean_order", "$C_R$ (mean order)",
                 (r"Reing's $C_R$, D-weighted mean order", r"$C_R$ (mean order)"),
                 r"D-weighted mean order: $C_R=\Sigma_{k=1}^{n}k\,(C_{k-1}-C_k)/I(Y;S)$")),
    max_sources=REING_MAX_SOURCES))

ENTROPY = register_measure(MeasureEntry(
    name="shannon_entropy", result=EntropyInvariants, compute=_entropy,
    title="Shannon invariants of each layer about itself (no label), over training",
    section="entropy", section_title="Entropy-only Shannon invariants",
    figure="entropy_invariants",
    note=(rf"{_SOURCES}; no label: degree of redundancy $\Sigma_iH(S_i)/H(S)$, degree of "
          r"vulnerability $\Sigma_i[H(S)-H(S_{-i})]/H(S)$ of the entropies"),
    quantities=(
        Quantity("joint_entropy", "H(S) [bits]"),
        Quantity("avg_degree_redundancy", "degree of redundancy",
                 ("Average degree of redundancy", r"$\Sigma_i H(S_i)\,/\,H(S)$")),
        Quantity("avg_degree_vulnerability", "degree of vulnerability",
                 ("Average degree of vulnerability", r"$\Sigma_i [H(S)-H(S_{-i})]\,/\,H(S)$"))),
    needs_target=False, aliases=("shannon_entropy_only",)))

BROJA = register_measure(MeasureEntry(
    name="broja", result=BrojaPID, compute=_broja,
    title="Representational complexity $C$ of the BROJA PID over training",
    section="broja", section_title="BROJA PID", figure="broja_complexity",
    note=(r"$C=1+\mathrm{synergy}/I(Y;S)$: representational complexity of the BROJA PID "
          r"(Bertschinger et al. 2014, via dit) of two sources $S=(S_1,S_2)$: redundancy, "
          r"the unique information of each source and synergy [bits]"),
    quantities=(
        Quantity("mutual_information", "I [bits]"),
        Quantity("redundancy", "redundancy"),
        Quantity("unique_1", "unique 1"),
        Quantity("unique_2", "unique 2"),
        Quantity("synergy", "synergy"),
        Quantity("representational_complexity", "C",
                 ("Representational complexity $C$ of the BROJA PID", "$C$ (BROJA PID)"))),
    exact_sources=2))

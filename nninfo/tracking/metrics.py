"""Which measured quantities become MLflow metrics (a curve in the UI); the rest stay in the
``analysis/measures`` tables.

Quantities are named as in :class:`nninfo.jobs.analyze.CheckpointAnalysis`: plain names for
layer quantities that do not depend on a measure (``mutual_information``,
``distinct_patterns``, ...), ``<measure>.<quantity>`` for a measure's results (which of them
are metrics: the measure's catalogue entry, :mod:`nninfo.info.catalog`), surrogate summaries
(``mutual_information_p_value``) and the per-class PID (``class_3/pid.mutual_information``).
"""

from __future__ import annotations

from collections.abc import Mapping

from nninfo.info.catalog import LAYER_METRICS, measure, measure_names
from nninfo.info.measure import SEPARATOR

METRIC_SUFFIXES = ("_surrogate_mean", "_surrogate_std", "_bias_corrected", "_p_value")


def is_metric(quantity: str) -> bool:
    """Quantities logged as MLflow metrics; the rest (Reing's C_k and D_k, sums, counts) are
    kept in the ``analysis/measures`` tables."""
    if quantity in LAYER_METRICS or quantity.endswith(METRIC_SUFFIXES):
        return True
    name, _, plain = quantity.partition(SEPARATOR)
    if not plain or name not in measure_names():
        return False
    entry = measure(name)
    return quantity in entry.metric_keys() or plain.startswith(entry.metric_prefixes)


def curated(measures: Mapping[str, float]) -> dict[str, float]:
    """The subset of ``<layer>[/<grouping>]/<quantity>`` measures worth a metric."""
    return {k: v for k, v in measures.items() if is_metric(k.rsplit("/", 1)[-1])}

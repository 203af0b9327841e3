"""Which measured quantities become MLflow metrics (a curve in the UI); the rest stay in the
``analysis/measures`` tables."""

from __future__ import annotations

from collections.abc import Mapping

METRIC_QUANTITIES = frozenset({
    "mutual_information", "representational_complexity", "avg_degree_redundancy",
    "avg_degree_vulnerability", "reing_C_R", "distinct_patterns", "pattern_entropy",
    "mean_entropy", "mean_saturation"})


def is_metric(quantity: str) -> bool:
    """Quantities logged as MLflow metrics; the rest (Reing's C_k, sums, counts) are kept in
    the ``analysis/measures`` tables."""
    return (quantity in METRIC_QUANTITIES or quantity.startswith("deg_syn_")
            or quantity.endswith(("_surrogate_mean", "_surrogate_std")))


def curated(measures: Mapping[str, float]) -> dict[str, float]:
    """The subset of ``<layer>[/<grouping>]/<quantity>`` measures worth a metric."""
    return {k: v for k, v in measures.items() if is_metric(k.rsplit("/", 1)[-1])}

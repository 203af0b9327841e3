"""Which measured quantities become MLflow metrics (a curve in the UI); the rest stay in the
``analysis/measures`` tables.

Quantities are named as in :class:`nninfo.jobs.analyze.CheckpointAnalysis`: plain names for
layer quantities that do not depend on a measure (``mutual_information``,
``distinct_patterns``, ...), ``<measure>.<quantity>`` for a measure's results
(``pid.representational_complexity``, ``shannon.avg_degree_redundancy``,
``reing.C_R_published``, ``reing.C_R_mean_order``), surrogate summaries
(``mutual_information_p_value``) and the per-class PID (``class_3/pid.mutual_information``).
"""

from __future__ import annotations

from collections.abc import Mapping

LAYER_QUANTITIES = frozenset({
    "mutual_information", "distinct_patterns", "pattern_entropy", "mean_entropy",
    "mean_saturation", "bias_dominated"})
MEASURE_QUANTITIES = frozenset({
    "pid.mutual_information", "pid.representational_complexity",
    "shannon.mutual_information", "shannon.avg_degree_redundancy",
    "shannon.avg_degree_vulnerability", "reing.C_R_published", "reing.C_R_mean_order",
    "shannon_entropy.joint_entropy", "shannon_entropy.avg_degree_redundancy",
    "shannon_entropy.avg_degree_vulnerability", "broja.mutual_information",
    "broja.representational_complexity", "broja.redundancy", "broja.unique_1",
    "broja.unique_2", "broja.synergy"})
METRIC_QUANTITIES = LAYER_QUANTITIES | MEASURE_QUANTITIES
METRIC_PREFIXES = ("pid.deg_syn_",)
METRIC_SUFFIXES = ("_surrogate_mean", "_surrogate_std", "_bias_corrected", "_p_value")


def is_metric(quantity: str) -> bool:
    """Quantities logged as MLflow metrics; the rest (Reing's C_k and D_k, sums, counts) are
    kept in the ``analysis/measures`` tables."""
    return (quantity in METRIC_QUANTITIES or quantity.startswith(METRIC_PREFIXES)
            or quantity.endswith(METRIC_SUFFIXES))


def curated(measures: Mapping[str, float]) -> dict[str, float]:
    """The subset of ``<layer>[/<grouping>]/<quantity>`` measures worth a metric."""
    return {k: v for k, v in measures.items() if is_metric(k.rsplit("/", 1)[-1])}

"""Public results API: logged experiments as pandas frames (see :mod:`nninfo.tracking.results`).

Every loader takes ``experiment`` as a name or a list of names (or ``train_run`` as a run id
or a list of them) and starts its frame with an ``experiment`` column. :func:`compare`
overlays experiments in figures and an HTML report logged to a comparison run;
:func:`log_parent_aggregates` puts the seeds' mean and band on a training run for the
MLflow UI (the pipeline does it after ``analyze`` and ``performance``).
"""

from nninfo.tracking.results import (
    list_experiments,
    list_runs,
    load_activation_statistics,
    load_activations,
    load_class_pid,
    load_class_summary,
    load_measures,
    load_model,
    load_performance,
    load_pid,
    load_subset_summary,
    load_summary,
    load_training_history,
)

__all__ = [
    "compare",  # noqa: F822 (imported on first use: __getattr__)
    "list_experiments",
    "list_runs",
    "load_activation_statistics",
    "load_activations",
    "load_class_pid",
    "load_class_summary",
    "load_measures",
    "load_model",
    "load_performance",
    "load_pid",
    "load_subset_summary",
    "load_summary",
    "load_training_history",
    "log_parent_aggregates",  # noqa: F822 (imported on first use: __getattr__)
]


def __getattr__(name: str):
    """``compare`` and ``log_parent_aggregates`` are imported when first used (they need
    matplotlib and the pipeline; the loaders do not)."""
    if name == "compare":
        from nninfo.tracking.compare import compare

        return compare
    if name == "log_parent_aggregates":
        from nninfo.tracking.aggregate import log_parent_aggregates

        return log_parent_aggregates
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Public results API: logged experiments as pandas frames (see :mod:`nninfo.tracking.results`)."""

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
    load_summary,
    load_training_history,
)

__all__ = [
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
    "load_summary",
    "load_training_history",
]

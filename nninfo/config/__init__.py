"""Experiment configuration: typed, frozen dataclasses loaded from YAML and validated once
at the edge (:mod:`~nninfo.config.load`), checked against the task and the network's own
layers (:mod:`~nninfo.config.fit`); the dataclasses are in :mod:`~nninfo.config.spec`."""

from nninfo.config.analysis import check_grouping_name
from nninfo.config.fit import check_against_task, check_target, needs_task_check, source_limits
from nninfo.config.load import (
    build_config,
    check_experiment_name,
    flatten,
    load_config,
    parse_seeds,
    set_dotted,
)
from nninfo.config.spec import (
    GROUPING_KINDS,
    TRAINED_PARTS,
    AnalysisSpec,
    AnalysisTarget,
    ConfigError,
    ExperimentConfig,
    Grouping,
    NetworkSpec,
    PerformanceSpec,
    TaskSpec,
)

__all__ = [
    "GROUPING_KINDS",
    "TRAINED_PARTS",
    "AnalysisSpec",
    "AnalysisTarget",
    "ConfigError",
    "ExperimentConfig",
    "Grouping",
    "NetworkSpec",
    "PerformanceSpec",
    "TaskSpec",
    "build_config",
    "check_against_task",
    "check_target",
    "check_experiment_name",
    "check_grouping_name",
    "flatten",
    "load_config",
    "needs_task_check",
    "parse_seeds",
    "set_dotted",
    "source_limits",
]

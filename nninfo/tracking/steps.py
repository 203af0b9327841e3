"""The steps an entry point runs on a training run's seeds, after training: analyze,
performance and report, with the parent run's seed aggregates after the last measuring
step."""

from __future__ import annotations

from pathlib import Path

from nninfo.config import ExperimentConfig
from nninfo.tracking import aggregate, analyze, performance, report
from nninfo.tracking.pipeline import Settings

STEPS = {"analyze": analyze.analyze, "performance": performance.performance,
         "report": report.report}
MEASURING = ("analyze", "performance")


def run_steps(steps: tuple[str, ...], cfg: ExperimentConfig, settings: Settings,
              parent: str) -> Path | None:
    """Run ``steps`` (``train`` skipped: the caller trains) in order on ``parent``'s seed
    runs; after the last of analyze and performance, log the seed aggregates on ``parent``
    (the MLflow UI compares parents). Returns the report page when ``report`` ran."""
    measured = [s for s in steps if s in MEASURING]
    page = None
    for step in steps:
        if step == "train":
            continue
        result = STEPS[step](cfg, settings, parent)
        if measured and step == measured[-1]:
            aggregate.log_parent_aggregates(cfg, parent)
        if step == "report":
            page = result
    return page

"""Run one entry point (or the ``main`` chain) inside an MLflow run with an honest status."""

from __future__ import annotations

import sys

from nninfo.config import ExperimentConfig
from nninfo.tracking import analyze, performance, pipeline, report, runs, train
from nninfo.tracking.pipeline import Settings

STEPS = {"analyze": analyze.analyze, "performance": performance.performance,
         "report": report.report}


def run_entry(name: str, steps: tuple[str, ...], cfg: ExperimentConfig, settings: Settings,
              experiment: str, *, train_run: str | None = None) -> str:
    """Run ``steps`` as entry point ``name``; returns the entry run id.

    With a ``train`` step the entry run is the parent of the seed runs; otherwise the steps
    work on the seeds of ``train_run`` (default: the newest training run of ``experiment``).
    A chain (``main``) reuses a finished training run with the same training settings, seeds
    and code instead of training again, unless ``settings.force``.
    """
    pipeline.before_any_run(steps, cfg, settings, experiment)
    if "train" not in steps:
        parent = runs.find_parent(experiment, train_run)
    elif len(steps) > 1 and not settings.force:
        parent = train.reusable_training(cfg, experiment)
        if parent:
            print(f"{name}: reusing training run {parent} (same training settings, seeds and "
                  "code); force=true retrains", file=sys.stderr)
    else:
        parent = None
    tags = {runs.TRAIN_RUN: parent} if parent else {}
    run_id = runs.entry_run_id(experiment, name, tags)
    with runs.status_guard(run_id, owns=runs.owns_run(run_id)):
        if parent is None:
            train.train(cfg, settings, run_id)
            parent = run_id
        for step in steps:
            if step != "train":
                result = STEPS[step](cfg, settings, parent)
                if step == "report":
                    print(f"report: {result}")
    return run_id

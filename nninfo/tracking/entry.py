"""Run one entry point (or the ``main`` chain) inside an MLflow run with an honest status."""

from __future__ import annotations

from nninfo.config import ExperimentConfig
from nninfo.tracking import pipeline, runs
from nninfo.tracking.pipeline import Settings

STEPS = {"analyze": pipeline.analyze, "performance": pipeline.performance,
         "report": pipeline.report}


def run_entry(name: str, steps: tuple[str, ...], cfg: ExperimentConfig, settings: Settings,
              experiment: str, *, train_run: str | None = None) -> str:
    """Run ``steps`` as entry point ``name``; returns the entry run id.

    With a ``train`` step the entry run is the parent of the seed runs; otherwise the steps
    work on the seeds of ``train_run`` (default: the newest training run of ``experiment``).
    """
    parent = None if "train" in steps else runs.find_parent(experiment, train_run)
    tags = {"nninfo.train_run": parent} if parent else {}
    run_id = runs.entry_run_id(experiment, name, tags)
    with runs.status_guard(run_id, owns=runs.owns_run(run_id)):
        if parent is None:
            pipeline.train(cfg, settings, run_id)
            parent = run_id
        for step in steps:
            if step != "train":
                result = STEPS[step](cfg, settings, parent)
                if step == "report":
                    print(f"report: {result}")
    return run_id

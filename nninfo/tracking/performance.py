"""The ``performance`` entry point: loss and accuracy per dataset and class for every
checkpoint of every finished seed, logged into the seed's run (the loss alone, overall, for a
reconstruction task: see :mod:`nninfo.jobs.evaluate`). The loss is the config's
``performance.loss``; the seed runs and the training run are tagged with it
(:data:`LOSS_TAG`), which the report reads."""

from __future__ import annotations

import pandas as pd

from nninfo.config import ExperimentConfig
from nninfo.jobs import evaluate as evaluation
from nninfo.tracking import checkpoints, pipeline, runs
from nninfo.tracking.pipeline import Settings

#: Tag on the seed runs and the training run: the ``performance.loss`` of their logged
#: ``<dataset>/loss`` metrics (absent: ``training``, logged before the option existed).
LOSS_TAG = "nninfo.performance.loss"


def performance(cfg: ExperimentConfig, settings: Settings, parent: str) -> int:
    """Loss and accuracy (overall and per class) per dataset for every checkpoint."""
    first = cfg.performance.datasets[0]
    units, key, seeds = [], cfg.settings_key("performance"), runs.seed_runs(parent, finished=True)
    for run in seeds:
        rid = run.info.run_id
        done = pipeline.done_steps(run, f"{first}/loss", "performance", key, settings.force)
        for ck in checkpoints.checkpoint_index(rid):
            if ck["step"] not in done:
                path = checkpoints.download_checkpoint(rid, ck)  # verified: hash, step
                units.append(((rid, ck["step"]), evaluation.evaluate_checkpoint,
                             (cfg, path, cfg.performance.datasets),
                             {"data_dir": settings.data_dir, "device": settings.device}))
    pipeline.say_todo("performance", len(units), len(seeds), "checkpoint")
    errors = []
    with pipeline.Logbook(lambda key: key.count("/") == 1) as book:  # overall <dataset>/loss last
        for out in pipeline.run_units(settings, units, "evaluate checkpoints", lines=True):
            rid, step = out.key
            if out.error is not None:
                errors.append(f"run {rid} step {step}: {out.error!r}")
                continue
            book.add(rid, {f"performance/step_{step:08d}.csv": out.value},
                     _performance_rows(step, out.value))
    pipeline.fail_on(errors, "performance")
    pipeline.mark_done([r.info.run_id for r in seeds], ["performance"], key)
    for rid in [r.info.run_id for r in seeds] + [parent]:
        runs.set_tags(rid, {LOSS_TAG: cfg.performance.loss})
    return len(units)


def logged_loss(run_id: str) -> str:
    """The ``performance.loss`` a training run's losses were logged with (:data:`LOSS_TAG`;
    ``training`` for runs evaluated before the option existed)."""
    return runs.client().get_run(run_id).data.tags.get(LOSS_TAG, "training")


def _performance_rows(step: int, table: pd.DataFrame) -> list[tuple[str, float, int]]:
    """Metrics ``<dataset>[/class_<c>]/loss`` and ``.../accuracy``; a table without an
    ``accuracy`` column (a reconstruction task) gives the losses only."""
    rows = []
    for r in table.to_dict("records"):
        prefix = r["dataset"] if r["class"] == -1 else f"{r['dataset']}/class_{r['class']}"
        rows.append((f"{prefix}/loss", r["loss"], step))
        if "accuracy" in r:
            rows.append((f"{prefix}/accuracy", r["accuracy"], step))
    return rows

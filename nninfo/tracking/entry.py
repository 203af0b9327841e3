"""Run one entry point (or the ``main`` chain) inside an MLflow run with an honest status,
saying first on stderr where its results go."""

from __future__ import annotations

import os
import sys

from nninfo.config import ExperimentConfig
from nninfo.tracking import pipeline, runs, train
from nninfo.tracking import steps as entry_steps
from nninfo.tracking.labels import Origin, experiment_description, parent_run_name
from nninfo.tracking.pipeline import Settings

NESTED = ("report",)
"""Entry points whose run is a child of the training run they work on, one per training run
and reused on every rerun (:func:`~nninfo.tracking.runs.entry_child_run`)."""


def run_entry(name: str, steps: tuple[str, ...], cfg: ExperimentConfig, settings: Settings,
              experiment: str, *, train_run: str | None = None,
              origin: Origin | None = None) -> str | None:
    """Run ``steps`` as entry point ``name``; returns the entry run id, or None when
    ``analyze`` or ``performance`` alone found nothing to do (then no run is created).

    With a ``train`` step the entry run is the parent of the seed runs; otherwise the steps
    work on the seeds of ``train_run`` (default: the newest training run of ``experiment``).
    A chain (``main``) reuses a finished training run with the same training settings, seeds
    and code instead of training again, unless ``settings.force``. Under ``mlflow run
    --experiment-name NAME`` the experiment is NAME. Without a ``train`` step a missing
    tracking store is an error (none is created). What a training run trained (task, network,
    training, seeds) always comes from its own ``config.yaml``; differing settings of ``cfg``
    are named and set aside (:func:`~nninfo.tracking.pipeline.bound_to_training`).

    ``origin`` (where the config came from) names the parent run
    (:func:`~nninfo.tracking.labels.parent_run_name`; other entry runs are named after the
    entry point, ``mlflow run``'s run too) and describes the experiment
    (:func:`~nninfo.tracking.labels.experiment_description`) unless a user described it.
    """
    experiment = runs.launcher_experiment() or experiment
    _say(name, f"tracking URI {runs.shown_uri()}, experiment {experiment!r}")
    if "train" not in steps:
        runs.require_store()  # nothing to work on: no new store in the wrong folder
    pipeline.before_any_run(steps, cfg, settings, experiment)
    if "train" not in steps:
        parent = runs.find_parent(experiment, train_run)
    elif len(steps) > 1 and not settings.force:
        parent = train.reusable_training(cfg, experiment)
    else:
        parent = None
    if parent:  # what the run trained comes from the run, before any run is touched
        cfg = pipeline.bound_to_training(cfg, parent, name)
        reused = " (reused: same training settings, seeds and code; force=true retrains)" \
            if "train" in steps else ""
        _show_run(name, parent, f"training run {parent}{reused}; its seed runs hold the results")
    entry = _EntryRun(name, experiment, {runs.TRAIN_RUN: parent} if parent else {}, parent)
    entry.run_name = parent_run_name(cfg, origin) if parent is None else name
    entry.description = experiment_description(cfg, origin.config_path if origin else None)
    if set(steps) - {"analyze", "performance"}:  # training and reports always do something
        entry.start()
    with pipeline.on_work(entry.start), entry:
        if parent is None:
            train.train_experiment(cfg, settings, entry.run_id)
            parent = entry.run_id
        page = entry_steps.run_steps(steps, cfg, settings, parent)
        if page is not None:
            entry.note_report(page)
            print(f"report: {page}")
    if entry.run_id is None:
        launcher = os.environ.get("MLFLOW_RUN_ID")
        if launcher:
            runs.set_tags(launcher, {runs.NOTE: f"nninfo {name}: nothing to do; every result "
                                                f"of training run {parent} is logged."})
        _say(name, "nothing to do, so no run of its own" + (
            f"; mlflow run's run {launcher} notes it" if launcher else ""))
    return entry.run_id


def _say(entry: str, text: str) -> None:
    print(f"nninfo {entry}: {text}", file=sys.stderr)


def _show_run(entry: str, run_id: str, text: str) -> None:
    """Say ``text``, where the artifacts of ``run_id``'s experiment go and how to see it."""
    c = runs.client()
    exp_id = c.get_run(run_id).info.experiment_id
    where = c.get_experiment(exp_id).artifact_location
    _say(entry, f"{text}; artifacts under {where}")
    _say(entry, "view: " + runs.ui_hint(exp_id, run_id))


class _EntryRun:
    """The entry point's run, created by :meth:`start` (at once, or when a step finds work)
    and ended FINISHED, FAILED or KILLED with the block it guards."""

    def __init__(self, name: str, experiment: str, tags: dict[str, str],
                 parent: str | None) -> None:
        self.name, self.experiment, self.tags, self.parent = name, experiment, tags, parent
        self.run_id: str | None = None
        self.run_name, self.description = name, ""  # set by run_entry

    def start(self) -> None:
        if self.run_id is not None:
            return
        under = self.parent if self.name in NESTED else None
        self.run_id = runs.entry_run_id(self.experiment, self.name, self.tags, under=under)
        runs.name_run(self.run_id, self.run_name)  # also mlflow run's: not a random name
        if self.description:
            runs.describe_experiment(runs.client().get_run(self.run_id).info.experiment_id,
                                     self.description)
        launcher = os.environ.get("MLFLOW_RUN_ID")
        if launcher and launcher != self.run_id:
            runs.name_run(launcher, f"{self.run_name} → {self.experiment}")  # Default's row
            _say(self.name, f"mlflow run's own run {launcher} is in the Default experiment; "
                            f"its note points to run {self.run_id}")
        if self.parent is None:
            _show_run(self.name, self.run_id, f"run {self.run_id}, the parent of the seed runs")
        elif under and runs.client().get_run(self.run_id).data.tags.get(runs.PARENT) == under:
            _say(self.name, f"run {self.run_id}, a child of training run {under} (one per "
                            f"training run, reused on every {self.name}), records this "
                            f"{self.name}")
        else:
            _say(self.name, f"entry run {self.run_id} records this {self.name}")

    def note_report(self, page) -> None:
        """A note on the run of the ``report`` entry point (:data:`NESTED`): where the report
        went."""
        if self.name in NESTED and self.run_id is not None and self.run_id != self.parent:
            runs.set_tags(self.run_id, {runs.NOTE: (
                f"nninfo report of training run {self.parent}: report.html and the figures "
                f"are logged on that run; local copy {page}")})

    def __enter__(self) -> _EntryRun:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if self.run_id is not None:
            runs.end_run(self.run_id, exc, owns=runs.owns_run(self.run_id))

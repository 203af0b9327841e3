"""Where a probe's results go: an nninfo run (entry ``probe``) with one seed run, shaped as a
training run of the pipeline, so that ``nninfo.results``, the figures, the report,
``report --compare`` and the MLflow UI read them as they read any nninfo experiment."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nninfo.presentation.bands import DEFAULT_BAND
from nninfo.tracking import pipeline, runs
from nninfo.tracking.aggregate import log_aggregates
from nninfo.tracking.analyze import logged_unit, tag_bias

if TYPE_CHECKING:
    from nninfo.jobs.analyze import CheckpointAnalysis

MODEL_RUN = "nninfo.model_run"   # the run whose model was probed
PROBE_ARTIFACT = "probe.json"
DEFAULT_EXPERIMENT = "nninfo_probe"


class ProbeRuns:
    """The probe's parent run and seed run; metrics at the probe's steps."""

    def __init__(self, parent: str, seed_run: str, layers: list[str], name: str,
                 experiment: str) -> None:
        self.parent, self.seed_run, self.layers = parent, seed_run, layers
        self.name, self.experiment = name, experiment

    @classmethod
    def open(cls, probe: Any) -> ProbeRuns:
        """Create the runs of ``probe`` (:class:`nninfo.probe.Probe`): under the active MLflow
        run if there is one (its child, linked to it as the model's run), else in experiment
        ``probe.experiment`` (default: the active run's, else ``nninfo_probe``)."""
        c = runs.client()
        above = _parent_run(probe.parent_run_id)
        if probe.experiment is not None:
            exp_id = runs.experiment_id(probe.experiment)
        elif above is not None:
            exp_id = above.info.experiment_id
        else:
            exp_id = runs.experiment_id(DEFAULT_EXPERIMENT)
        experiment = c.get_experiment(exp_id).name
        model_run = probe.model_run_id or (above.info.run_id if above else None)
        tags = {**runs.base_tags(), runs.ROLE: "entry", runs.ENTRY: runs.PROBE_ENTRY,
                runs.N_SEEDS: "1", "nninfo.experiment": experiment,
                "nninfo.model": type(probe.model).__name__}
        if above is not None and above.info.experiment_id == exp_id:
            tags[runs.PARENT] = above.info.run_id
        if model_run:
            tags[MODEL_RUN] = model_run
        name = probe.run_name or f"probe {type(probe.model).__name__}"
        parent = c.create_run(exp_id, run_name=name, tags=tags).info.run_id
        layers, made = list(probe.keys.values()), [parent]
        try:
            seed_run = runs.child_run(parent, f"seed {probe.seed}", {
                runs.ROLE: runs.SEED_ROLE, "seed": str(probe.seed), runs.PROBE_TAG: "1",
                "nninfo.layers": ",".join(layers), "nninfo.experiment": experiment})
            made.append(seed_run)
            _describe(parent, seed_run, probe)
        except BaseException as exc:  # what was created ends FAILED (KILLED), never RUNNING
            for run_id in made:
                runs.end_run(run_id, exc)
            raise
        print(f"nninfo probe: logging to experiment {experiment!r}, run {parent} (seed run "
              f"{seed_run}); view: {runs.ui_hint(exp_id, parent)}", file=sys.stderr)
        return cls(parent, seed_run, layers, name, experiment)

    def log(self, step: int, epoch: float | None, result: CheckpointAnalysis,
            edges: Mapping[str, np.ndarray]) -> None:
        """One measurement: tables first, metrics last, as the pipeline logs a checkpoint."""
        tables, rows = logged_unit(step, result)
        for layer, grid in edges.items():
            tables[f"analysis/edges/{layer}/step_{step:08d}.csv"] = pd.DataFrame({"edge": grid})
        rows.append((runs.EPOCH_METRIC, float(step if epoch is None else epoch), step))
        with pipeline.Logbook(lambda key: key.endswith("/mutual_information")) as book:
            book.add(self.seed_run, tables, rows)

    def close(self, status: str) -> None:
        """Tag the bias-dominated layers and end both runs with ``status``."""
        if status == "FINISHED":
            tag_bias(self.seed_run, self.layers)
            log_aggregates(self.parent, DEFAULT_BAND)  # the parent's curves, as a training run's
        for run_id in (self.seed_run, self.parent):
            runs.client().set_terminated(run_id, status)


def _parent_run(run_id: str | None):
    """The run a probe's run goes under: ``run_id`` (checked), else the active MLflow run."""
    import mlflow

    if run_id is None:
        return mlflow.active_run()
    try:
        return runs.client().get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise ValueError(f"parent_run_id: {run_id!r} is not a run in the tracking store "
                         f"{runs.shown_uri()}") from None


def report(probe_runs: ProbeRuns, spec: Any, out_dir: str | None) -> Path:
    """The report of a probe's runs (:func:`nninfo.tracking.report.report_run`), in
    ``<out_dir>/<experiment>/<run name>-<run id[:8]>/``."""
    from nninfo.tracking.report import report_run

    out = Path(out_dir or pipeline.default_out_dir())
    shown = {"probe": {"experiment": probe_runs.experiment, "run": probe_runs.parent},
             "analysis": _spec_dict(spec)}
    return report_run(probe_runs.parent, probe_runs.experiment, shown, DEFAULT_BAND, out,
                      title=f"{probe_runs.experiment} · {probe_runs.name}")


def _describe(parent: str, seed_run: str, probe: Any) -> None:
    """What was probed, how, on what: params on both runs (the parent's as a training run's,
    so ``report --compare`` lists differing settings) and ``probe.json`` on the parent."""
    from nninfo.config import flatten

    layers = probe.describe()
    params = {**{f"analysis.{k}": v for k, v in flatten(_spec_dict(probe.spec)).items()},
              **{f"probe.layers.{probe.keys[n]}": line for n, line in layers.items()},
              "probe.model": type(probe.model).__name__, "seed": str(probe.seed)}
    runs.log_params(parent, params)
    runs.log_params(seed_run, params)
    renamed = {n: k for n, k in probe.keys.items() if n != k}
    record = {"model": type(probe.model).__name__, "layers": layers,
              "metric_names": probe.keys, "renamed": renamed,
              "schedule": probe.schedule, "analysis": _spec_dict(probe.spec)}
    runs.client().log_dict(parent, record, PROBE_ARTIFACT)
    if renamed:
        runs.set_tags(parent, {"nninfo.renamed_layers": json.dumps(renamed)})


def _spec_dict(spec: Any) -> dict[str, Any]:
    import dataclasses

    raw = dataclasses.asdict(spec)
    raw.pop("layers", None)
    raw.pop("dataset", None)
    raw.pop("target", None)  # always the labels the probe is given
    return raw

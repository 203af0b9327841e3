"""The machinery under the results API (:mod:`nninfo.tracking.results`): which runs a call
means (one or several experiments or training runs), reading one seed run's metrics and
artifact tables, and one set of column types for every frame."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from nninfo.info.catalog import COUNT_QUANTITIES
from nninfo.tracking import runs
from nninfo.tracking.checkpoints import checkpoint_index
from nninfo.tracking.runs import find_parent, seed_runs
from nninfo.tracking.store_reads import (
    latest_per_step,
    local_artifact,
    metric_histories,
    remember_runs,
)

LAYER_KEY = re.compile(r"^(?P<layer>[^/]+)/(?:(?P<grouping>(?!class_)[^/]+)/)?(?P<quantity>[^/]+)$")
"""Metric keys of the analysis: ``<layer>[/<grouping>]/<quantity>``, the quantity either a
plain layer quantity (``mutual_information``) or ``<measure>.<quantity>`` (``pid.deg_syn_2``);
``<layer>`` is one of the run's layers (:func:`run_layers`)."""
CLASS_KEY = re.compile(r"^(?P<layer>[^/]+)/(?:(?P<grouping>(?!class_)[^/]+)/)?class_(?P<cls>-?\d+)/"
                       r"(?P<quantity>[^/]+)$")
"""Metric keys of the per-class (target-pointwise) PID:
``<layer>[/<grouping>]/class_<t>/pid.<quantity>``."""
PERF_KEY = re.compile(r"^(?P<dataset>[^/]+)/(?P<quantity>loss|accuracy)$")
"""Metric keys of the evaluation: ``<dataset>/loss``, ``<dataset>/accuracy`` (``train/loss``
is the evaluation of a checkpoint on the train split)."""
RUNNING = "train_running"
"""Prefix of the running training metrics (``train_running/loss``: the mean over the batches
of an epoch while the weights change, logged per epoch), not an evaluated dataset."""
ID_COLUMNS = ["experiment", "run_id", "seed", "chapter", "step", "epoch"]

INT_COLUMNS = frozenset({"seed", "step", "chapter", "class", "t", "subset", "degree", "neuron",
                         "n"})
"""Integer columns: int64, or pandas' nullable Int64 where a value is missing."""
COUNT_COLUMNS = COUNT_QUANTITIES
"""Integer quantities that are missing on some rows by design (e.g. on grouping rows):
always Int64 (declared with the measures, :mod:`nninfo.info.catalog`)."""
TEXT_COLUMNS = frozenset({"experiment", "run_id", "layer", "grouping", "dataset", "antichain",
                          "quantity"})
FLOAT_COLUMNS = frozenset({"epoch"})


def typed(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the API's column types: see the ``*_COLUMNS`` sets; ``level_<k>`` counts
    are Int64 (layers with fewer levels have none)."""
    df = df.copy()
    for col in df.columns:
        if col in COUNT_COLUMNS or col.startswith("level_"):
            df[col] = pd.to_numeric(df[col]).round().astype("Int64")
        elif col in INT_COLUMNS:
            values = pd.to_numeric(df[col])
            df[col] = values.astype("int64" if values.notna().all() else "Int64")
        elif col in FLOAT_COLUMNS:
            df[col] = pd.to_numeric(df[col]).astype("float64")
        elif col in TEXT_COLUMNS:
            df[col] = df[col].astype("str")
    return df


def empty(columns: Sequence[str]) -> pd.DataFrame:
    """A frame without rows whose columns have the API's types."""
    frame = pd.DataFrame({c: pd.Series([], dtype="float64") for c in columns})
    for col in columns:
        if col in TEXT_COLUMNS:
            frame[col] = frame[col].astype("str")
    return typed(frame)


# ---------------------------------------------------------------- which runs
def _names(value: str | Sequence[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    items = list(value)
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{what}: {bad[0]!r} is not a str; pass a name or a list of names")
    return list(dict.fromkeys(items))


def parents(experiment: str | Sequence[str] | None,
            train_run: str | Sequence[str] | None) -> list[tuple[str, str]]:
    """``(experiment name, training parent run id)`` for each experiment (its newest complete
    training run) or each ``train_run`` (which wins when both are given), in the order given."""
    runs.require_store()
    ids, names = _names(train_run, "train_run"), _names(experiment, "experiment")
    if not ids and not names:
        raise ValueError("experiment: None; pass an experiment name (or a list of names) or "
                         "train_run=RUN_ID")
    c = runs.client()
    if ids:
        out = []
        for run_id in ids:
            parent = find_parent(None, run_id)
            exp = c.get_experiment(c.get_run(parent).info.experiment_id).name
            out.append((exp, parent))
        return list(dict.fromkeys(out))
    for name in names:
        if c.get_experiment_by_name(name) is None:
            raise ValueError(f"experiment: {name!r} is not in the tracking store "
                             f"{mlflow.get_tracking_uri()}; results.list_experiments() lists them")
    return [(name, find_parent(name)) for name in names]


def seed_runs_of(experiment, train_run) -> Iterator[tuple[int, str, mlflow.entities.Run]]:
    """``(index of the training run, experiment name, seed run)`` of every seed of the
    chosen training runs."""
    for i, (name, parent) in enumerate(parents(experiment, train_run)):
        found = seed_runs(parent)
        remember_runs(found)
        yield from ((i, name, run) for run in found)


def collect(experiment, train_run, per_run: Callable[[mlflow.entities.Run], pd.DataFrame | None],
            lead: Sequence[str], sort: Sequence[str], *, sort_rest: bool = False
            ) -> pd.DataFrame:
    """``per_run(seed run)`` of every seed run as one typed frame: columns ``experiment,
    run_id, seed`` and the rest of ``lead`` first, then the others (by name with
    ``sort_rest``), rows sorted by training run (in the order given) then ``sort``; an empty
    typed frame with ``lead`` when no run has data."""
    frames = []
    for order, name, run in seed_runs_of(experiment, train_run):
        frame = per_run(run)
        if frame is None or frame.empty:
            continue
        frames.append(frame.assign(experiment=name, run_id=run.info.run_id,
                                   seed=int(run.data.tags["seed"]), _order=order))
    if not frames:
        return empty(lead)
    df = pd.concat(frames, ignore_index=True)
    lead = [c for c in lead if c in df.columns]
    df = df.sort_values(["_order", *[c for c in sort if c in df.columns]], kind="stable",
                        ignore_index=True).drop(columns="_order")
    rest = [c for c in df.columns if c not in lead]
    return typed(df[lead + (sorted(rest) if sort_rest else rest)])


# ---------------------------------------------------------------- one seed run
def epochs(run: mlflow.entities.Run | str) -> pd.DataFrame:
    """step -> chapter, epoch for a seed run (the run, or its id): its checkpoint index, or
    for a probe's seed run its ``epoch`` metric (chapter 0)."""
    if isinstance(run, str):
        run = runs.client().get_run(run)
    run_id = run.info.run_id
    if run.data.tags.get(runs.PROBE_TAG):
        logged = history(run_id, runs.EPOCH_METRIC)
        return pd.DataFrame({"chapter": np.zeros(len(logged), dtype=np.int64),
                             "step": np.array(list(logged), dtype=np.int64),
                             "epoch": np.array(list(logged.values()), dtype=np.float64)})
    index = pd.DataFrame(checkpoint_index(run_id))
    return index[["chapter", "step", "epoch"]]


def run_layers(run: mlflow.entities.Run) -> Callable[[str], bool]:
    """Whether a name is one of the analysed layers of a seed run: those of its
    ``nninfo.layers`` tag (any names, for a probe), else ``L1``, ``L2``, ..."""
    tagged = set(run.data.tags.get("nninfo.layers", "").split(",")) - {""}
    if tagged:
        return tagged.__contains__
    return lambda name: re.fullmatch(r"L\d+", name) is not None


def history(run_id: str, key: str) -> dict[int, float]:
    """Latest value per step (a forced re-analysis logs again; the newest wins)."""
    return latest_per_step(metric_histories([run_id], [key]).get(run_id, {}).get(key, []))


def metric_cells(run: mlflow.entities.Run, pattern: re.Pattern,
                 ident: Callable[[re.Match], tuple]) -> pd.DataFrame | None:
    """The metrics of ``run`` whose keys match ``pattern`` (``<dataset>`` ``train_running``
    excluded): one row per step and ``ident(match)`` (``(column, value)`` pairs), one column
    per ``quantity`` group; with chapter and epoch."""
    cells: dict[tuple, dict[str, float]] = {}
    is_layer = run_layers(run)
    matched = []
    for key in run.data.metrics:
        m = pattern.match(key)
        if m is None or (m.groupdict().get("dataset") == RUNNING):
            continue
        if "layer" in pattern.groupindex and not is_layer(m.group("layer")):
            continue
        matched.append((key, m))
    rid = run.info.run_id
    logged = metric_histories([rid], [key for key, _ in matched],
                              present={rid: run.data.metrics}).get(rid, {})
    for key, m in matched:
        for step, value in latest_per_step(logged.get(key, [])).items():
            cells.setdefault((step, *ident(m)), {})[m.group("quantity")] = value
    if not cells:
        return None
    rows = [{"step": s, **dict(ids), **vals} for (s, *ids), vals in cells.items()]
    return pd.DataFrame(rows).merge(epochs(run), on="step", how="left")


def artifact_tables(run_id: str, folder: str) -> pd.DataFrame:
    """Concatenate ``<folder>/**/step_XXXXXXXX.csv`` of a run, with step (and layer) columns;
    read in place where the run's artifacts are a local folder
    (:func:`~nninfo.tracking.store_reads.local_artifact`), else downloaded."""
    local = local_artifact(run_id, folder)
    if local is not None:
        return _step_tables(local) if local.is_dir() else pd.DataFrame()
    c = runs.client()
    if not c.list_artifacts(run_id, folder):
        return pd.DataFrame()
    with tempfile.TemporaryDirectory() as tmp:
        return _step_tables(Path(c.download_artifacts(run_id, folder, tmp)))


def _step_tables(root: Path) -> pd.DataFrame:
    """The ``step_XXXXXXXX.csv`` tables under ``root`` as one frame (see
    :func:`artifact_tables`)."""
    frames = []
    for path in sorted(root.rglob("step_*.csv")):
        table = pd.read_csv(path)
        table.insert(0, "step", int(path.stem.split("_")[1]))
        rel = path.parent.relative_to(root)
        if rel.parts:
            table.insert(1, "layer", rel.parts[0])
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def steps_per_epoch(run: mlflow.entities.Run) -> float | None:
    """Optimizer steps per epoch of a seed run: its ``steps_per_epoch`` param, else from a
    checkpoint after step 0 (step / epoch)."""
    if "steps_per_epoch" in run.data.params:
        return float(run.data.params["steps_per_epoch"])
    later = [ck for ck in checkpoint_index(run.info.run_id) if ck["epoch"] > 0]
    return later[0]["step"] / later[0]["epoch"] if later else None

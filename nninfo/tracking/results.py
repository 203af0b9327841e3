"""Load logged results back as tidy pandas frames (the ``nninfo.results`` API).

Works against whatever ``MLFLOW_TRACKING_URI`` points at: the default SQLite file or a
tracking server. Runs are chosen by ``experiment`` (newest training run in it) or directly
by ``train_run`` (the parent run id).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from nninfo.tracking import runs
from nninfo.tracking.checkpoints import checkpoint_index, download_checkpoint
from nninfo.tracking.runs import find_parent, seed_runs

LAYER_KEY = re.compile(r"^(L\d+)/(?:(?P<grouping>(?!class_)[^/]+)/)?(?P<quantity>[^/]+)$")
"""Metric keys of the analysis: ``<layer>[/<grouping>]/<quantity>``, the quantity either a
plain layer quantity (``mutual_information``) or ``<measure>.<quantity>`` (``pid.deg_syn_2``)."""
CLASS_KEY = re.compile(r"^(L\d+)/(?:(?P<grouping>(?!class_)[^/]+)/)?class_(?P<cls>-?\d+)/"
                       r"(?P<quantity>[^/]+)$")
"""Metric keys of the per-class (target-pointwise) PID:
``<layer>[/<grouping>]/class_<t>/pid.<quantity>``."""
PERF_KEY = re.compile(r"^(?P<dataset>[^/]+)/(?P<quantity>loss|accuracy)$")
"""Metric keys of the evaluation: ``<dataset>/loss``, ``<dataset>/accuracy`` (``train/loss``
is the evaluation of a checkpoint on the train split)."""
RUNNING = "train_running"
"""Prefix of the running training metrics (``train_running/loss``: the mean over the batches
of an epoch while the weights change, logged per epoch), not an evaluated dataset."""
ID_COLUMNS = ["run_id", "seed", "chapter", "step", "epoch"]


def list_experiments() -> pd.DataFrame:
    """All experiments: name, id, artifact location."""
    runs.require_store()
    exps = runs.client().search_experiments()
    return pd.DataFrame([{"name": e.name, "experiment_id": e.experiment_id,
                          "artifact_location": e.artifact_location} for e in exps])


def list_runs(experiment: str) -> pd.DataFrame:
    """Every run of an experiment with its role, entry, seed, parent and status."""
    uri = runs.require_store()
    if runs.client().get_experiment_by_name(experiment) is None:
        raise ValueError(f"experiment: {experiment!r} is not in the tracking store {uri}; "
                         "`nninfo runs` lists the experiments")
    rows = [{"run_id": r.info.run_id, "run_name": r.info.run_name, "status": r.info.status,
             "role": r.data.tags.get(runs.ROLE), "entry": r.data.tags.get(runs.ENTRY),
             "seed": r.data.tags.get("seed"), "parent_run_id": r.data.tags.get(runs.PARENT),
             "start_time": pd.to_datetime(r.info.start_time, unit="ms")}
            for r in runs.search(experiment)]
    return pd.DataFrame(rows)


def _seeds(experiment: str | None, train_run: str | None) -> list:
    runs.require_store()
    if experiment is None and train_run is None:
        raise ValueError("experiment: None; pass an experiment name or train_run=RUN_ID")
    return seed_runs(find_parent(experiment, train_run))


def _epochs(run_id: str) -> pd.DataFrame:
    """step -> chapter, epoch for a seed run."""
    index = pd.DataFrame(checkpoint_index(run_id))
    return index[["chapter", "step", "epoch"]]


def _history(run_id: str, key: str) -> dict[int, float]:
    """Latest value per step (a forced re-analysis logs again; the newest wins)."""
    hist = sorted(runs.client().get_metric_history(run_id, key), key=lambda m: m.timestamp)
    return {m.step: m.value for m in hist}


def load_summary(experiment: str | None = None, *, train_run: str | None = None) -> pd.DataFrame:
    """One row per (seed, checkpoint, layer, grouping) with every quantity logged as a metric.

    Columns: ``run_id, seed, chapter, step, epoch, layer, grouping`` (``neurons`` when the
    metric key has no grouping part), then one column per quantity, sorted by name and
    named as in the metric keys: plain layer quantities (only on ``neurons`` rows):
    ``mutual_information`` = plug-in I(T; layer) with its shuffled-label surrogates
    ``mutual_information_surrogate_mean`` / ``_surrogate_std`` (the estimation bias),
    ``mutual_information_bias_corrected`` (I minus the surrogate mean),
    ``mutual_information_p_value`` (permutation test of I > 0) and ``bias_dominated`` (1.0
    when the surrogate mean exceeds ``analysis.surrogates.bias_fraction`` of I),
    ``distinct_patterns``, ``pattern_entropy``, ``mean_entropy``, ``mean_saturation``; and
    measure results ``<measure>.<quantity>`` (``pid.mutual_information``,
    ``pid.representational_complexity``, ``pid.deg_syn_<m>``, their surrogates
    ``pid.<quantity>_surrogate_mean`` / ``_surrogate_std`` at the checkpoints
    ``analysis.surrogates.pid_checkpoints`` names, ``shannon.mutual_information``,
    ``shannon.avg_degree_redundancy``, ``shannon.avg_degree_vulnerability``,
    ``shannon_entropy.avg_degree_redundancy`` (entropy-only invariants),
    ``reing.C_R_published`` (the published post-processing's C_R), ``reing.C_R_mean_order``
    (the D-weighted mean order), ``broja.synergy``, ``broja.representational_complexity``).
    Select them with ``df["pid.representational_complexity"]``. NaN where a quantity was not
    measured. Per-class PID results: :func:`load_class_summary`."""
    return _metric_frame(experiment, train_run, LAYER_KEY, [])


def load_class_summary(experiment: str | None = None, *, train_run: str | None = None
                       ) -> pd.DataFrame:
    """The target-pointwise PID (``analysis.per_class: true``): one row per (seed, checkpoint,
    layer, grouping, class). Columns ``run_id, seed, chapter, step, epoch, layer, grouping,
    class`` (the label value, int), then ``pid.mutual_information`` (the specific information
    of the class, bits), ``pid.representational_complexity`` (the class's C) and
    ``pid.deg_syn_<m>``. Per-class atoms: :func:`load_class_pid`."""
    return _metric_frame(experiment, train_run, CLASS_KEY, ["class"])


def _metric_frame(experiment: str | None, train_run: str | None, pattern: re.Pattern,
                  extra: list[str]) -> pd.DataFrame:
    """Metrics whose keys match ``pattern`` (layer, grouping, ``extra`` groups, quantity) as
    one row per (seed, step, layer, grouping, extra...) and one column per quantity."""
    frames = []
    for run in _seeds(experiment, train_run):
        rid, seed = run.info.run_id, int(run.data.tags["seed"])
        cells: dict[tuple, dict[str, float]] = {}
        for key in run.data.metrics:
            m = pattern.match(key)
            if not m:
                continue
            ident = (m.group(1), m.group("grouping") or "neurons")
            if extra:
                ident += (int(m.group("cls")),)
            for step, value in _history(rid, key).items():
                cells.setdefault((step, *ident), {})[m.group("quantity")] = value
        if not cells:
            continue
        rows = [{"step": s, "layer": layer, "grouping": g, **dict(zip(extra, more, strict=True)),
                 **vals} for (s, layer, g, *more), vals in cells.items()]
        frame = pd.DataFrame(rows).merge(_epochs(rid), on="step", how="left")
        frames.append(frame.assign(run_id=rid, seed=seed))
    lead = [*ID_COLUMNS, "layer", "grouping", *extra]
    if not frames:
        return pd.DataFrame(columns=lead)
    df = pd.concat(frames, ignore_index=True)
    rest = sorted(c for c in df.columns if c not in lead)
    return df[lead + rest].sort_values(["seed", "step", "layer", "grouping", *extra],
                                       ignore_index=True)


def load_performance(experiment: str | None = None, *, train_run: str | None = None,
                     per_class: bool = False) -> pd.DataFrame:
    """Loss and accuracy per (seed, checkpoint, dataset); ``per_class`` adds a class column."""
    frames = []
    for run in _seeds(experiment, train_run):
        rid, seed = run.info.run_id, int(run.data.tags["seed"])
        if per_class:
            table = _artifact_tables(rid, "performance")
            if not table.empty:
                frames.append(table.merge(_epochs(rid), on="step").assign(run_id=rid, seed=seed))
            continue
        cells: dict[tuple[int, str], dict[str, float]] = {}
        for key in run.data.metrics:
            m = PERF_KEY.match(key)
            if m and m.group("dataset") != RUNNING:
                for step, value in _history(rid, key).items():
                    cells.setdefault((step, m.group("dataset")), {})[m.group("quantity")] = value
        if cells:
            rows = [{"step": s, "dataset": d, **v} for (s, d), v in cells.items()]
            frame = pd.DataFrame(rows).merge(_epochs(rid), on="step", how="left")
            frames.append(frame.assign(run_id=rid, seed=seed))
    if not frames:
        return pd.DataFrame(columns=[*ID_COLUMNS, "dataset", "loss", "accuracy"])
    df = pd.concat(frames, ignore_index=True)
    lead = [c for c in [*ID_COLUMNS, "dataset", "class"] if c in df.columns]
    return df[lead + [c for c in df.columns if c not in lead]].sort_values(
        lead[1:], ignore_index=True)


def load_training_history(experiment: str | None = None, *, train_run: str | None = None
                          ) -> pd.DataFrame:
    """Per-epoch running training loss and accuracy of every seed (``train_running/*``: the
    mean over an epoch's batches during training; :func:`load_performance` has the evaluation
    of each checkpoint, ``train/*`` for the train split)."""
    rows = []
    for run in _seeds(experiment, train_run):
        rid, seed = run.info.run_id, int(run.data.tags["seed"])
        for key in (f"{RUNNING}/loss", f"{RUNNING}/accuracy"):
            for step, value in _history(rid, key).items():
                rows.append({"run_id": rid, "seed": seed, "step": step,
                             "quantity": key.split("/")[1], "value": value})
    if not rows:
        return pd.DataFrame(columns=["run_id", "seed", "step", "loss", "accuracy"])
    return (pd.DataFrame(rows).pivot_table(index=["run_id", "seed", "step"],
                                           columns="quantity", values="value")
            .reset_index().rename_axis(columns=None))


def _artifact_tables(run_id: str, folder: str) -> pd.DataFrame:
    """Concatenate ``<folder>/**/step_XXXXXXXX.csv`` of a run, with step (and layer) columns."""
    c = runs.client()
    if not c.list_artifacts(run_id, folder):
        return pd.DataFrame()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(c.download_artifacts(run_id, folder, tmp))
        frames = []
        for path in sorted(root.rglob("step_*.csv")):
            table = pd.read_csv(path)
            table.insert(0, "step", int(path.stem.split("_")[1]))
            rel = path.parent.relative_to(root)
            if rel.parts:
                table.insert(1, "layer", rel.parts[0])
            frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _tables(experiment, train_run, folder: str, layer: str | None) -> pd.DataFrame:
    frames = []
    for run in _seeds(experiment, train_run):
        rid, seed = run.info.run_id, int(run.data.tags["seed"])
        table = _artifact_tables(rid, folder if layer is None else f"{folder}/{layer}")
        if table.empty:
            continue
        if layer is not None and "layer" not in table.columns:
            table.insert(1, "layer", layer)
        frames.append(table.merge(_epochs(rid), on="step", how="left")
                      .assign(run_id=rid, seed=seed))
    if not frames:
        return pd.DataFrame(columns=[*ID_COLUMNS, "layer"])
    df = pd.concat(frames, ignore_index=True)
    lead = [*ID_COLUMNS, "layer"]
    return df[lead + [c for c in df.columns if c not in lead]]


def load_pid(experiment: str | None = None, *, layer: str | None = None,
             train_run: str | None = None) -> pd.DataFrame:
    """PID atoms: one row per (seed, checkpoint, layer, grouping, subset, antichain)."""
    return _tables(experiment, train_run, "analysis/pid", layer)


def load_class_pid(experiment: str | None = None, *, layer: str | None = None,
                   train_run: str | None = None) -> pd.DataFrame:
    """Per-class PID atoms (``analysis.per_class: true``): one row per (seed, checkpoint,
    layer, grouping, subset, class ``t``, antichain) with ``informative``,
    ``misinformative`` and ``average`` (bits)."""
    return _tables(experiment, train_run, "analysis/pid_class", layer)


def load_measures(experiment: str | None = None, *, layer: str | None = None,
                  train_run: str | None = None) -> pd.DataFrame:
    """Every measured quantity (also those not logged as metrics, e.g. Reing's C_k): one row
    per (seed, checkpoint, layer, quantity); ``quantity`` is the metric key without the layer,
    ``[<grouping>/]<name>`` (``reing.C_3``, ``pairs/pid.deg_syn_2``, ``mean_entropy``)."""
    return _tables(experiment, train_run, "analysis/measures", layer)


def load_activation_statistics(experiment: str | None = None, *, layer: str | None = None,
                               train_run: str | None = None) -> pd.DataFrame:
    """Quantized activation statistics: one row per (seed, checkpoint, layer, neuron)."""
    return _tables(experiment, train_run, "analysis/stats", layer)


def _checkpoint(run_id: str, epoch: float | None, step: int | None) -> tuple[Path, dict]:
    runs.require_store()
    index = checkpoint_index(run_id)
    if step is None and epoch is None:
        chosen = index[-1]
    else:
        match = [ck for ck in index
                 if (step is not None and ck["step"] == step)
                 or (epoch is not None and np.isclose(ck["epoch"], epoch))]
        if not match:
            have = ", ".join(f"{ck['epoch']:g}" for ck in index)
            raise ValueError(f"epoch: {epoch!r} (step {step!r}) is not a checkpoint of run "
                             f"{run_id}; available epochs: {have}")
        chosen = match[0]
    return Path(download_checkpoint(run_id, chosen)), chosen  # verified, cached


def _config(run_id: str):
    from nninfo.config import build_config

    with tempfile.TemporaryDirectory() as tmp:
        data = runs.client().download_artifacts(run_id, "config.yaml", tmp)
        import yaml

        raw = yaml.safe_load(Path(data).read_text())
    return build_config(raw)


def load_model(run_id: str, epoch: float | None = None, *, step: int | None = None):
    """The seed run's network at a checkpoint (default: the last), ready in eval mode."""
    from nninfo.jobs import load_checkpoint_network

    path, _ = _checkpoint(run_id, epoch, step)
    return load_checkpoint_network(_config(run_id), path)


def load_activations(run_id: str, epoch: float | None = None, *, layers: list[str] | None = None,
                     dataset: str | None = None, step: int | None = None,
                     data_dir: str | None = None):
    """Quantized activations (a :class:`nninfo.capture.Capture`) of a checkpoint."""
    from nninfo.capture import capture_codes
    from nninfo.jobs import load_checkpoint_network, load_experiment_task, split

    cfg = _config(run_id)
    path, _ = _checkpoint(run_id, epoch, step)
    net = load_checkpoint_network(cfg, path)
    data = split(load_experiment_task(cfg, data_dir), dataset or cfg.analysis.dataset)
    layers = layers or list(cfg.analysis.layers) or net.layer_names
    return capture_codes(net, data.x, data.labels, layers, n_bins=cfg.analysis.n_bins)

"""Load logged results back as tidy pandas frames (the ``nninfo.results`` API).

Works against whatever ``MLFLOW_TRACKING_URI`` points at: the default SQLite file or a
tracking server. Runs are chosen by ``experiment``, a name or a list of names (the newest
complete training run of each), or directly by ``train_run``, a parent run id or a list of
them (it wins over ``experiment``). Every frame starts with an ``experiment`` column (the
experiment's name) and holds the experiments in the order given. Integer columns are int64,
pandas' nullable Int64 where a value can be missing; epochs are floats. The machinery is in
:mod:`nninfo.tracking.results_frames`, models and activations in
:mod:`nninfo.tracking.results_models`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from nninfo.tracking import runs
from nninfo.tracking.metrics import is_metric
from nninfo.tracking.results_frames import (
    CLASS_KEY,
    ID_COLUMNS,
    LAYER_KEY,
    PERF_KEY,
    RUNNING,
    artifact_tables,
    collect,
    epochs,
    history,
    metric_cells,
    steps_per_epoch,
)
from nninfo.tracking.results_models import load_activations, load_model

__all__ = ["CLASS_KEY", "LAYER_KEY", "PERF_KEY", "RUNNING", "list_experiments", "list_runs",
           "load_activation_statistics", "load_activations", "load_class_pid",
           "load_class_summary", "load_measures", "load_model", "load_performance", "load_pid",
           "load_subset_summary", "load_summary", "load_training_history"]

Names = str | Sequence[str] | None
_LAYER = ID_COLUMNS + ["layer", "grouping"]
SUBSETS = "analysis/subsets"
"""Artifact folder of the per-subset values of random-subset groupings."""


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


def load_summary(experiment: Names = None, *, train_run: Names = None) -> pd.DataFrame:
    """Every analysis quantity logged as a metric: one row per (experiment, seed, checkpoint,
    layer, grouping), one column per quantity.

    Columns:
      experiment: the experiment's name.
      run_id: the seed run's id.
      seed: the training seed (int).
      chapter: the checkpoint's number in the seed's schedule, 0 = the initial weights (int).
      step: the optimizer step of the checkpoint, MLflow's metric step (int).
      epoch: the checkpoint's epoch, fractional inside an epoch (float).
      layer: ``L1`` .. ``Lk`` in network order.
      grouping: the PID sources: ``neurons`` (each neuron one source) or a configured
        grouping's name (its values are means over its source sets).
      then one column per quantity, sorted by name, named as in the metric keys:
      mutual_information: plug-in I(T; layer), bits (``neurons`` rows only, as the next ones).
      mutual_information_surrogate_mean, _surrogate_std: over shuffled labels (the bias).
      mutual_information_bias_corrected: I minus the surrogate mean.
      mutual_information_p_value: permutation test of I > 0.
      bias_dominated: 1.0 when the surrogate mean exceeds ``bias_fraction`` of I.
      distinct_patterns: distinct activation patterns of the layer (Int64).
      pattern_entropy, mean_entropy, mean_saturation: of the quantized activations.
      pid.mutual_information, pid.representational_complexity, pid.deg_syn_<m>: I^sx PID.
      pid.<quantity>_surrogate_mean, _surrogate_std: at ``surrogates.pid_checkpoints``.
      shannon.*, shannon_entropy.*, reing.C_R_published, reing.C_R_mean_order, broja.*:
        the other measures' metrics (:mod:`nninfo.tracking.metrics`).

    NaN where a quantity was not measured. Per-class PID results: :func:`load_class_summary`."""
    return collect(experiment, train_run, lambda run: metric_cells(run, LAYER_KEY, _layer),
                   _LAYER, ["seed", "step", "layer", "grouping"], sort_rest=True)


def load_subset_summary(experiment: Names = None, *, layer: str | None = None,
                        train_run: Names = None) -> pd.DataFrame:
    """Each subset's own values for the groupings of kind ``random_subsets``, whose rows in
    :func:`load_summary` are means over their subsets: one row per (experiment, seed,
    checkpoint, layer, grouping, subset); ``layer`` picks one layer. Read from the seed
    runs' ``analysis/subsets`` tables (none for runs analysed before they were written).

    Columns:
      experiment, run_id, seed, chapter, step, epoch, layer, grouping: as in
        :func:`load_summary`.
      subset: which subset of the grouping, 0-based, as in :func:`load_pid` (int).
      then the grouping's quantities of :func:`load_summary`, sorted by name
        (``pid.representational_complexity``, ``pid.deg_syn_<m>``, ...), that subset's value.

    The published figures' band for such groupings is over these values (all seeds and
    subsets), see :mod:`nninfo.presentation.bands`."""
    folder = SUBSETS if layer is None else f"{SUBSETS}/{layer}"

    def per_run(run) -> pd.DataFrame | None:
        rid = run.info.run_id
        table = artifact_tables(rid, folder)
        if table.empty:
            return None
        if "layer" not in table.columns:
            table.insert(1, "layer", layer)
        table = table[[is_metric(q) for q in table["quantity"]]]
        wide = table.set_index(["step", "layer", "grouping", "subset", "quantity"])["value"]
        wide = wide.unstack("quantity").reset_index()
        wide.columns.name = None
        return wide.merge(epochs(run), on="step", how="left")

    return collect(experiment, train_run, per_run, [*_LAYER, "subset"],
                   ["seed", "step", "layer", "grouping", "subset"], sort_rest=True)


def _layer(m) -> tuple:
    return ("layer", m.group("layer")), ("grouping", m.group("grouping") or "neurons")


def load_class_summary(experiment: Names = None, *, train_run: Names = None) -> pd.DataFrame:
    """The target-pointwise PID (``analysis.per_class: true``): one row per (experiment, seed,
    checkpoint, layer, grouping, class).

    Columns:
      experiment, run_id, seed, chapter, step, epoch, layer, grouping: as in
        :func:`load_summary`.
      class: the label value (int).
      pid.mutual_information: the class's specific information, bits.
      pid.representational_complexity: the class's C.
      pid.deg_syn_<m>: the class's Π_m.

    Per-class atoms: :func:`load_class_pid`."""
    def ident(m) -> tuple:
        return (*_layer(m), ("class", int(m.group("cls"))))

    return collect(experiment, train_run, lambda run: metric_cells(run, CLASS_KEY, ident),
                   [*_LAYER, "class"], ["seed", "step", "layer", "grouping", "class"],
                   sort_rest=True)


def load_performance(experiment: Names = None, *, train_run: Names = None,
                     per_class: bool = False) -> pd.DataFrame:
    """Loss and accuracy of every checkpoint: one row per (experiment, seed, checkpoint,
    dataset), per class too with ``per_class``.

    Columns:
      experiment, run_id, seed, chapter, step, epoch: as in :func:`load_summary`.
      dataset: the evaluated split (``train`` is the checkpoint evaluated on the train split).
      class (``per_class`` only): the label value, -1 for the whole split (int).
      loss: the mean loss.
      accuracy: the fraction correct (absent for tasks without one, e.g. autoencoders).
      n (``per_class`` only): the number of samples (int).
    """
    def per_run(run) -> pd.DataFrame | None:
        if not per_class:
            return metric_cells(run, PERF_KEY, lambda m: (("dataset", m.group("dataset")),))
        table = artifact_tables(run.info.run_id, "performance")
        return None if table.empty else table.merge(epochs(run), on="step")

    lead = [*ID_COLUMNS, "dataset", *(["class"] if per_class else [])]
    df = collect(experiment, train_run, per_run, lead, ["seed", "step", "dataset", "class"])
    return _loss_first(df, lead)


def _loss_first(df: pd.DataFrame, lead: list[str]) -> pd.DataFrame:
    """``lead``, ``loss``, ``accuracy`` (both NaN in a frame without rows), the rest."""
    if df.empty:
        df = df.assign(**{c: pd.Series([], dtype="float64") for c in ("loss", "accuracy")
                          if c not in df.columns})
    first = [c for c in (*lead, "loss", "accuracy") if c in df.columns]
    return df[first + [c for c in df.columns if c not in first]]


def load_training_history(experiment: Names = None, *, train_run: Names = None
                          ) -> pd.DataFrame:
    """The running training loss and accuracy of every epoch: one row per (experiment, seed,
    epoch), ordered by seed and step.

    Columns:
      experiment, run_id, seed: as in :func:`load_summary`.
      step: the optimizer step at the end of the epoch (int).
      epoch: the epoch that ends there (float).
      loss, accuracy: ``train_running/*``, the mean over the epoch's batches while the
        weights change (no accuracy for tasks without one); :func:`load_performance` has
        each checkpoint evaluated, ``train`` on the train split.
    """
    def per_run(run) -> pd.DataFrame | None:
        cells: dict[int, dict[str, float]] = {}
        for quantity in ("loss", "accuracy"):
            for step, value in history(run.info.run_id, f"{RUNNING}/{quantity}").items():
                cells.setdefault(step, {})[quantity] = value
        if not cells:
            return None
        frame = pd.DataFrame([{"step": s, **v} for s, v in cells.items()])
        per_epoch = steps_per_epoch(run)
        return frame.assign(epoch=frame["step"] / per_epoch if per_epoch else float("nan"))

    lead = ["experiment", "run_id", "seed", "step", "epoch"]
    return _loss_first(collect(experiment, train_run, per_run, lead, ["seed", "step"]), lead)


def _tables(experiment, train_run, folder: str, layer: str | None) -> pd.DataFrame:
    def per_run(run) -> pd.DataFrame | None:
        rid = run.info.run_id
        table = artifact_tables(rid, folder if layer is None else f"{folder}/{layer}")
        if table.empty:
            return None
        if layer is not None and "layer" not in table.columns:
            table.insert(1, "layer", layer)
        return table.merge(epochs(run), on="step", how="left")

    return collect(experiment, train_run, per_run, [*ID_COLUMNS, "layer", "grouping"],
                   ["seed", "step", "layer", "grouping"])


def load_pid(experiment: Names = None, *, layer: str | None = None,
             train_run: Names = None) -> pd.DataFrame:
    """I^sx PID atoms: one row per (experiment, seed, checkpoint, layer, grouping, subset,
    antichain); ``layer`` picks one layer.

    Columns:
      experiment, run_id, seed, chapter, step, epoch, layer, grouping: as in
        :func:`load_summary`.
      antichain: the atom, sources 1-based (``{1}{2}``, ``{1,2}``).
      informative, misinformative: its two parts, bits.
      average: informative minus misinformative, the atom, bits.
      degree: its degree of synergy, the size of the antichain's smallest set (int).
      subset: which source set of the grouping, 0-based (``neurons``: 0) (int).
    """
    return _tables(experiment, train_run, "analysis/pid", layer)


def load_class_pid(experiment: Names = None, *, layer: str | None = None,
                   train_run: Names = None) -> pd.DataFrame:
    """Per-class PID atoms (``analysis.per_class: true``): one row per (experiment, seed,
    checkpoint, layer, grouping, subset, class, antichain).

    Columns:
      experiment, run_id, seed, chapter, step, epoch, layer, grouping: as in
        :func:`load_summary`.
      t: the class (label value) (int).
      antichain, informative, misinformative, average, degree, subset: as in
        :func:`load_pid`, for that class.
    """
    return _tables(experiment, train_run, "analysis/pid_class", layer)


def load_measures(experiment: Names = None, *, layer: str | None = None,
                  train_run: Names = None) -> pd.DataFrame:
    """Every measured quantity, also those not logged as metrics (e.g. Reing's C_k): one row
    per (experiment, seed, checkpoint, layer, quantity).

    Columns:
      experiment, run_id, seed, chapter, step, epoch, layer: as in :func:`load_summary`.
      quantity: the metric key without the layer, ``[<grouping>/]<name>`` (``reing.C_3``,
        ``pairs/pid.deg_syn_2``, ``mean_entropy``, ``n_samples``, ``n_neurons``).
      value: its value (float, integer quantities too).
    """
    return _tables(experiment, train_run, "analysis/measures", layer)


def load_activation_statistics(experiment: Names = None, *, layer: str | None = None,
                               train_run: Names = None) -> pd.DataFrame:
    """Quantized activation statistics: one row per (experiment, seed, checkpoint, layer,
    neuron).

    Columns:
      experiment, run_id, seed, chapter, step, epoch, layer: as in :func:`load_summary`.
      neuron: the neuron's index in the layer, 0-based (int).
      entropy: of its quantized activation, bits.
      saturation: the fraction of samples at the lowest or highest level.
      saturation_low, saturation_high: at the lowest, at the highest level.
      level_<k>: how many samples are at level k (Int64; missing above a layer's levels).
    """
    return _tables(experiment, train_run, "analysis/stats", layer)

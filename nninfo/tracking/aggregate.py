"""Seed aggregates on the training (parent) run, so that the MLflow UI's charts compare
experiments parent against parent.

At every checkpoint step the parent gets, for each per-layer metric of its seed runs
(``<layer>[/<grouping>]/<quantity>``) and each evaluation metric (``<dataset>/loss``,
``<dataset>/accuracy``): the mean over seeds under the seeds' own key
(``L3/pid.representational_complexity``), the band of the config's ``report.band`` under
:func:`band_keys` (``spread/L3 pid.representational_complexity lo`` and ``... hi``;
``quantile``: the 2.5 % and 97.5 % quantiles of the per-seed values; ``t``: the 95 %
t-interval of their mean; none with one seed), and ``epoch``. The MLflow UI makes a chart
section of each key's part before its last ``/``: the bounds of every key form the one
section ``spread`` instead of tripling each layer's section. For random-subset groupings with
``report.subset_band: values`` (the default, the published Fig. 5B) the mean and the
quantiles are over every (seed, subset) value, read from the seeds' ``analysis/subsets``
tables (:func:`nninfo.results.load_subset_summary`). MLflow metrics are append-only: a value
is logged only where it differs from the parent's newest value at that step, with a
timestamp after every value there, so the newest value per step (what the UI and
:mod:`nninfo.tracking.results` read) is always the current one.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING

import pandas as pd
from mlflow.entities import Metric
from mlflow.utils.validation import MAX_ENTITY_KEY_LENGTH

from nninfo.presentation.bands import (
    DEFAULT_SUBSET_BAND,
    SUBSET,
    aggregate_over_seeds,
    check_subset_band,
    subset_values,
)
from nninfo.tracking import results, runs
from nninfo.tracking.results_frames import ID_COLUMNS
from nninfo.tracking.store_reads import metric_histories

if TYPE_CHECKING:
    from nninfo.config import ExperimentConfig

BAND_SECTION = "spread"
"""The first part of the band bounds' metric keys: their chart section in the MLflow UI
(the spread over seeds, as the reports call it)."""
BAND_BOUNDS = ("lo", "hi")
EPOCH = "epoch"
BAND_TAG = "nninfo.aggregate_band"
SEEDS_TAG = "nninfo.aggregate_seeds"
SUBSET_BAND_TAG = "nninfo.aggregate_subset_band"
"""Set where random-subset groupings' values were aggregated: ``values`` or ``seed_means``."""
_IDS = frozenset(ID_COLUMNS) | {"layer", "grouping", "dataset", SUBSET}


def band_keys(key: str) -> tuple[str, str]:
    """The metric keys of the lower and upper band bound of the aggregate ``key`` on the
    parent run: ``spread/<key with each '/' as ' '> lo`` and ``... hi``
    (``spread/L2 pairs pid.representational_complexity lo``). The MLflow UI (3.17) groups a
    run's charts into sections by a key's part before its last ``/`` and orders sections by
    name, on first sight by code point (capitals first) and after new keys or images arrive
    by ``localeCompare`` (case-insensitive); so every bound lands in the one section
    ``spread``, which both orders put after the layers' (``L1``, ``L2/pairs``) and the
    figures' (``Figures``). The per-seed keys, and the means under them, keep their layer's
    section."""
    flat = key.replace("/", " ")
    lo, hi = (f"{BAND_SECTION}/{flat} {bound}" for bound in BAND_BOUNDS)
    return lo, hi


def log_parent_aggregates(cfg: ExperimentConfig, parent: str) -> int:
    """Log the seeds' mean, band bounds and ``epoch`` per checkpoint step on ``parent``
    (see the module docstring) and tag it with the band and the number of seeds
    (:data:`BAND_TAG`, :data:`SEEDS_TAG`; :data:`SUBSET_BAND_TAG` where it has random-subset
    groupings); returns how many values were logged (0 when the parent already has them
    all)."""
    return log_aggregates(parent, cfg.report.band, cfg.report.subset_band)


def log_aggregates(parent: str, band: str, subset_band: str = DEFAULT_SUBSET_BAND) -> int:
    """:func:`log_parent_aggregates` with the bands given (a probe's run has no config)."""
    check_subset_band(subset_band)
    summary = results.load_summary(train_run=parent)
    subsets = results.load_subset_summary(train_run=parent)
    summary = subset_values(summary, subsets, band, subset_band)
    long = _long(summary, results.load_performance(train_run=parent))
    if long.empty:
        return 0
    logged = _log_changed(parent, aggregate_rows(long, band))
    tags = {BAND_TAG: band, SEEDS_TAG: str(long["seed"].nunique())}
    if not subsets.empty:
        tags[SUBSET_BAND_TAG] = subset_band
    have = runs.client().get_run(parent).data.tags
    if any(have.get(k) != v for k, v in tags.items()):
        runs.set_tags(parent, tags)
    return logged


def _long(summary: pd.DataFrame, performance: pd.DataFrame) -> pd.DataFrame:
    """One row per (metric key, step, seed) with epoch and value; per subset too, with a
    ``subset`` column, for the per-subset rows of :func:`subset_values`."""
    parts = []
    for frame, ident in ((summary, _layer_key), (performance, _perf_key)):
        if frame.empty:
            continue
        values = [c for c in frame.columns if c not in _IDS]
        melted = frame.melt(id_vars=[c for c in frame.columns if c in _IDS],
                            value_vars=values, var_name="quantity").dropna(subset=["value"])
        if not melted.empty:
            part = pd.DataFrame({"key": ident(melted), "step": melted["step"],
                                 "epoch": melted["epoch"], "seed": melted["seed"],
                                 "value": melted["value"].astype(float)})
            if SUBSET in melted.columns:  # a random-subset grouping's per-subset rows
                part[SUBSET] = melted[SUBSET]
            parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["key", "step", "epoch", "seed", "value"])
    return pd.concat(parts, ignore_index=True)


def _layer_key(df: pd.DataFrame) -> pd.Series:
    """``<layer>/<quantity>``, ``<layer>/<grouping>/<quantity>`` for other groupings."""
    prefix = df["layer"].where(df["grouping"] == "neurons", df["layer"] + "/" + df["grouping"])
    return prefix + "/" + df["quantity"]


def _perf_key(df: pd.DataFrame) -> pd.Series:
    return df["dataset"] + "/" + df["quantity"]


def aggregate_rows(long: pd.DataFrame, band: str) -> list[tuple[str, float, int]]:
    """``(key, value, step)`` rows: per (key, step) of ``long`` (columns key, step, epoch,
    seed, value; ``subset`` for per-subset values) the mean over seeds and the ``band``
    bounds under :func:`band_keys` (NaN with one value, by
    :func:`nninfo.presentation.bands.aggregate_over_seeds`: over all (seed, subset) values
    where ``subset`` is set), and ``epoch`` per step."""
    agg = aggregate_over_seeds(long, "value", ["key", "step"], band)
    rows = []
    for key, step, mean, lo, hi in agg[["key", "step", "mean", "lo", "hi"]].itertuples(
            index=False):
        rows.append((key, float(mean), int(step)))
        lo_key, hi_key = band_keys(key)
        if len(hi_key) > MAX_ENTITY_KEY_LENGTH:
            print(f"aggregates: no band for {key!r}: the key would pass MLflow's "
                  f"{MAX_ENTITY_KEY_LENGTH}-character limit", file=sys.stderr)
            continue
        rows += [(lo_key, float(lo), int(step)), (hi_key, float(hi), int(step))]
    epochs = long.groupby("step")["epoch"].mean()
    rows += [(EPOCH, float(e), int(s)) for s, e in epochs.items()]
    return rows


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _log_changed(run_id: str, rows: list[tuple[str, float, int]]) -> int:
    """Log the rows whose value differs from the run's newest value at that step (NaN only
    to replace a value), each timestamp after every one already there; returns how many."""
    c = runs.client()
    present = set(c.get_run(run_id).data.metrics)
    newest: dict[tuple[str, int], float] = {}
    last_ts = 0
    logged = metric_histories([run_id], {k for k, _, _ in rows} & present,
                              present={run_id: present}).get(run_id, {})
    for key, points in logged.items():
        for m in points:
            newest[(key, m.step)] = m.value
            last_ts = max(last_ts, m.timestamp)
    todo = []
    for key, value, step in rows:
        old = newest.get((key, step))
        if not math.isnan(value) if old is None else not _same(old, value):
            todo.append((key, value, step))
    stamp = max(int(time.time() * 1000), last_ts + 1)
    metrics = [Metric(k, v, stamp, s) for k, v, s in todo]
    runs.log_batch(run_id, metrics=metrics)
    return len(metrics)

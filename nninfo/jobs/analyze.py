"""Analyse one checkpoint: capture the layers' level codes, run the configured measures."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nninfo.capture import (
    Capture,
    activation_statistics,
    capture_codes,
    capture_values,
    derive_seed,
    layer_summary,
)
from nninfo.config import ExperimentConfig
from nninfo.config.spec import AnalysisSpec, SurrogateSpec
from nninfo.info.entropy import mutual_information
from nninfo.info.surrogates import mi_surrogates
from nninfo.jobs.common import (
    Checkpoint,
    checkpoint_network,
    load_experiment_task,
    split,
    target_labels,
)
from nninfo.jobs.measures import (
    SURROGATE_SUMMARIES,
    _merge,
    measure_sources,
    relabelled_surrogates,
)
from nninfo.jobs.tables import LayerTables, Table, hard_table, noisy_table


@dataclass
class CheckpointAnalysis:
    """Per-layer results for one checkpoint: every measured quantity (``measures``), PID
    atoms (``atoms``; per label value in ``class_atoms`` with ``analysis.per_class``) and
    neuron statistics.

    ``measures`` keys: ``<layer>[/<grouping>]/<measure>.<quantity>`` for a measure's result
    (``L3/pid.representational_complexity``, ``L3/pairs/pid.deg_syn_2``,
    ``L3/shannon.avg_degree_redundancy``, ``L3/reing.C_R_published``, PID surrogate summaries
    ``L3/pid.representational_complexity_surrogate_mean``), the neurons grouping without a
    grouping part; ``<layer>[/<grouping>]/class_<t>/pid.<quantity>`` per label value ``t``;
    plain ``<layer>/<quantity>`` for what does not depend on a measure:
    ``L3/mutual_information`` (I(T; layer), also the marker that the (checkpoint, layer) is
    done), its surrogates ``L3/mutual_information_surrogate_mean`` (``_std``,
    ``_bias_corrected``, ``_p_value``), ``L3/bias_dominated`` (1.0 or 0.0),
    ``L3/distinct_patterns``, ``L3/mean_entropy`` and the other layer summaries.

    ``subsets``: for groupings of kind ``random_subsets`` (whose ``measures`` are means over
    the subsets), every subset's own values: columns ``layer``, ``grouping``, ``subset``
    (0-based, as in ``atoms``), ``quantity`` (``pid.representational_complexity``) and
    ``value``; the published figures' band is over these (:mod:`nninfo.presentation.bands`)."""

    measures: dict[str, float]
    atoms: pd.DataFrame
    stats: pd.DataFrame
    class_atoms: pd.DataFrame = field(default_factory=pd.DataFrame)
    subsets: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class _Captured:
    """A checkpoint's layer codes, and how to build each layer's table for any labelling."""

    cap: Capture
    tables: dict[str, LayerTables]
    seed: int
    step: int


_last_capture: dict[tuple, _Captured] = {}


def _capture(cfg: ExperimentConfig, path: str, data_dir: str | None, device: str | None
             ) -> _Captured:
    """Codes (and, with a noise binning, tables) of every analysed layer at a checkpoint; the
    last one is kept, so the per-layer jobs of one checkpoint that land in the same process
    run the network once. Stochastic rounding (``analysis.rounding``) is seeded from
    ``analysis.rounding_seed`` and the checkpoint's training seed and step: the same codes
    whichever worker runs the job."""
    spec = cfg.analysis
    key = (path, json.dumps(cfg.to_dict(), sort_keys=True), data_dir, device)
    if key not in _last_capture:
        task = load_experiment_task(cfg, data_dir)
        data = split(task, spec.dataset)
        ck = Checkpoint.load(path)
        net = checkpoint_network(cfg, ck)
        layers = list(spec.layers) or net.layer_names
        seed = derive_seed(spec.rounding_seed, ck.seed, ck.step)
        target = target_labels(cfg, task, data.labels)  # T of every measure (analysis.target)
        cap = capture_codes(net, data.x, target, layers, n_bins=spec.n_bins,
                            device=device, rounding=spec.rounding, rounding_seed=seed)
        if spec.binning == "hard":
            tables = {layer: hard_table(cap.codes[layer], cap.labels) for layer in layers}
        else:
            values = capture_values(net, data.x, layers, device=device)
            tables = {layer: noisy_table(values[layer], cap.labels, net.layer_limits(layer),
                                         spec.n_bins, spec.noise_sigma, spec.binning)
                      for layer in layers}
        _last_capture.clear()
        _last_capture[key] = _Captured(cap, tables, ck.seed or 0, ck.step)
    return _last_capture[key]


def analyze_checkpoint(cfg: ExperimentConfig, path: str | Path, layers: list[str], *,
                       data_dir: str | None = None, device: str | None = None,
                       pid_surrogates: bool = False) -> CheckpointAnalysis:
    """All configured measures for ``layers`` at one checkpoint; surrogates of I always (as
    ``analysis.surrogates.mi`` says), of the PID when ``pid_surrogates``."""
    got = _capture(cfg, str(path), data_dir, device)
    return analyze_captured(cfg.analysis, got.cap, got.tables, layers, seeds=(got.seed, got.step),
                            pid_surrogates=pid_surrogates)


def analyze_captured(spec: AnalysisSpec, cap: Capture, layer_tables: dict[str, LayerTables],
                     layers: list[str], *, seeds: tuple[int, ...],
                     pid_surrogates: bool = False) -> CheckpointAnalysis:
    """The measures of ``spec`` for ``layers`` of a capture (codes in ``cap``, each layer's
    joint outcomes in ``layer_tables``): what :func:`analyze_checkpoint` computes once a
    checkpoint's layers are captured, and what :class:`nninfo.probe.Probe` computes for any
    PyTorch module. ``seeds`` (a training seed and step) seed the surrogates with
    ``spec.surrogates.seed`` and the layer name."""
    metrics: dict[str, float] = {}
    atoms, class_atoms, stats, subsets = [], [], [], []
    for layer in layers:
        codes, levels = cap.codes[layer], cap.levels[layer]
        tables = layer_tables[layer]
        table = tables.table()
        seed = derive_seed(spec.surrogates.seed, *seeds, layer)
        summary = {**_information(table, tables, spec.surrogates, seed),
                   **layer_summary(codes, levels)}
        _merge(metrics, {f"{layer}/{k}": float(v) for k, v in summary.items()}, layer)
        stats.append(activation_statistics(codes, levels).assign(layer=layer))
        for grouping in (g for g in spec.groupings if g.applies_to(layer)):
            prefix = layer if grouping.kind == "neurons" else f"{layer}/{grouping.name}"
            width = codes.shape[1]
            found = [measure_sources(table, tables, sources, spec,
                                     seed + i if pid_surrogates else None,
                                     grouping.measures_of(spec.measures))
                     for i, sources in enumerate(grouping.source_sets(width))]
            where = f"layer {layer} grouping {grouping.name!r}"
            m = _mean([f.values for f in found], where)
            _merge(metrics, {f"{prefix}/{k}": v for k, v in m.items()}, prefix)
            if grouping.kind == "random_subsets":
                subsets += [{"layer": layer, "grouping": grouping.name, "subset": i,
                             "quantity": k, "value": v}
                            for i, f in enumerate(found) for k, v in f.values.items()]
            for kind, out in (("atoms", atoms), ("class_atoms", class_atoms)):
                frames = [getattr(f, kind).assign(subset=i) for i, f in enumerate(found)
                          if not getattr(f, kind).empty]
                out += [f.assign(layer=layer, grouping=grouping.name) for f in frames]
    return CheckpointAnalysis(metrics, _concat(atoms), _concat(stats), _concat(class_atoms),
                              pd.DataFrame(subsets))


def _information(table: Table, tables: LayerTables, spec: SurrogateSpec, seed: int
                 ) -> dict[str, float]:
    """I(T; layer) and, with ``spec.mi`` shuffles, its surrogate mean and spread, the
    bias-corrected value, the permutation p-value and the ``bias_dominated`` flag."""
    whole = [list(range(table.codes.shape[1]))]
    if not spec.mi:
        return {"mutual_information": _mi(table, whole)}
    if table.weights is None:
        res = mi_surrogates(table.sources(whole), table.labels, spec.mi, seed)
    else:
        res = relabelled_surrogates(lambda t: {"mi": _mi(t, whole)}, tables, spec.mi,
                                    seed).loc["mi"].to_dict()
    value = res["value"]
    return {"mutual_information": value,
            **{f"mutual_information_{k}": res[k] for k in SURROGATE_SUMMARIES},
            "bias_dominated": float(res["surrogate_mean"] > spec.bias_fraction * value)}


def _mi(table: Table, groups: list[list[int]]) -> float:
    return mutual_information(table.sources(groups), table.labels, weights=table.weights)


def _mean(rows: list[dict[str, float]], where: str) -> dict[str, float]:
    """Key-wise mean over a grouping's source sets (NaN where a set has no value)."""
    keys = list(rows[0])
    if any(list(r) != keys for r in rows):
        raise ValueError(f"{where}: source sets produced different quantities")
    with warnings.catch_warnings():  # a quantity NaN in every set stays NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        return {k: float(np.nanmean([r[k] for r in rows])) for k in keys}


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

"""Analyse one checkpoint: capture the layers' level codes, run the configured measures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nninfo.capture import activation_statistics, capture_codes, layer_summary
from nninfo.config import ExperimentConfig, Grouping
from nninfo.info.bias import sx_pid_surrogates
from nninfo.info.entropy import mutual_information
from nninfo.info.reing import reing_complexity
from nninfo.info.shannon import shannon_invariants
from nninfo.info.sx import sx_pid
from nninfo.jobs.common import load_checkpoint_network, load_experiment_task, split

MAX_PID_SOURCES = 5


@dataclass
class CheckpointAnalysis:
    """Per-layer results for one checkpoint: every measured quantity (``measures``, keyed
    ``<layer>[/<grouping>]/<quantity>``), PID atoms and neuron statistics."""

    measures: dict[str, float]
    atoms: pd.DataFrame
    stats: pd.DataFrame


_last_capture: dict[tuple, Any] = {}


def _capture(cfg: ExperimentConfig, path: str, data_dir: str | None, device: str | None):
    """Codes of every analysed layer at a checkpoint; the last one is kept, so the per-layer
    jobs of one checkpoint that land in the same process run the network once."""
    spec = cfg.analysis
    key = (path, json.dumps(cfg.to_dict(), sort_keys=True), data_dir, device)
    if key not in _last_capture:
        data = split(load_experiment_task(cfg, data_dir), spec.dataset)
        net = load_checkpoint_network(cfg, path)
        layers = list(spec.layers) or net.layer_names
        _last_capture.clear()
        _last_capture[key] = capture_codes(net, data.x, data.labels, layers,
                                           n_bins=spec.n_bins, device=device)
    return _last_capture[key]


def analyze_checkpoint(cfg: ExperimentConfig, path: str | Path, layers: list[str], *,
                       data_dir: str | None = None, device: str | None = None
                       ) -> CheckpointAnalysis:
    """All configured measures for ``layers`` at one checkpoint."""
    spec = cfg.analysis
    cap = _capture(cfg, str(path), data_dir, device)
    metrics: dict[str, float] = {}
    atoms, stats = [], []
    for layer in layers:
        codes = cap.codes[layer]
        levels = cap.levels[layer]
        target = cap.labels
        metrics[f"{layer}/mutual_information"] = mutual_information(codes, target)
        summary = layer_summary(codes, levels)
        metrics.update({f"{layer}/{k}": float(v) for k, v in summary.items()})
        table = activation_statistics(codes, levels)
        stats.append(table.assign(layer=layer))
        for grouping in (g for g in spec.groupings if g.applies_to(layer)):
            prefix = layer if grouping.kind == "neurons" else f"{layer}/{grouping.name}"
            m, a = _measure_grouping(cap, layer, grouping, spec.measures, spec.surrogates)
            metrics.update({f"{prefix}/{k}": v for k, v in m.items()})
            if not a.empty:
                atoms.append(a.assign(layer=layer, grouping=grouping.name))
    return CheckpointAnalysis(metrics, _concat(atoms), _concat(stats))


def _measure_grouping(cap, layer: str, grouping: Grouping, measures: tuple[str, ...],
                      surrogates: int = 0) -> tuple[dict[str, float], pd.DataFrame]:
    """Measures for each source set of a grouping; several sets are averaged. With
    ``surrogates`` > 0 the PID summaries also get their shuffled-target mean and spread."""
    width = cap.codes[layer].shape[1]
    results: list[dict[str, float]] = []
    atoms = []
    for i, sources in enumerate(grouping.source_sets(width)):
        samples = cap.samples(layer, groups=sources)
        src, tgt = samples[:, :-1], samples[:, -1]
        row: dict[str, float] = {}
        if "pid" in measures:
            if len(sources) > MAX_PID_SOURCES:
                raise ValueError(
                    f"analysis.layers: layer {layer} grouping {grouping.name!r} has "
                    f"{len(sources)} sources; the I^sx PID allows at most {MAX_PID_SOURCES}. "
                    "Use a grouping with fewer sources, or the 'shannon' measure.")
            res = sx_pid(samples)
            row.update(res.to_dict())
            atoms.append(_atom_rows(res.atoms).assign(subset=i))
            if surrogates:
                sur = sx_pid_surrogates(samples, surrogates, seed=i, atoms=False)
                for q in ("mutual_information", "representational_complexity"):
                    row[f"{q}_surrogate_mean"] = float(sur.at[q, "surrogate_mean"])
                    row[f"{q}_surrogate_std"] = float(sur.at[q, "surrogate_std"])
        if "shannon" in measures:
            row.update(shannon_invariants(src, tgt).to_dict())
        if "reing" in measures:
            row.update(reing_complexity(src, tgt).to_dict())
        results.append(row)
    keys = results[0].keys()
    mean = {k: float(np.nanmean([r[k] for r in results])) for k in keys}
    return mean, _concat(atoms)


def _atom_rows(atoms: pd.DataFrame) -> pd.DataFrame:
    out = atoms.reset_index(names="antichain")
    out["degree"] = [min(len(a) for a in ac) for ac in out["antichain"]]
    out["antichain"] = ["".join("{" + ",".join(map(str, a)) + "}" for a in ac)
                        for ac in out["antichain"]]
    return out


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

"""Analyse one checkpoint: capture the layers' level codes, run the configured measures."""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from nninfo.info.sx import MAX_SOURCES, sx_pid
from nninfo.jobs.common import Checkpoint, checkpoint_network, load_experiment_task, split


@dataclass
class CheckpointAnalysis:
    """Per-layer results for one checkpoint: every measured quantity (``measures``), PID
    atoms and neuron statistics.

    ``measures`` keys: ``<layer>[/<grouping>]/<measure>.<quantity>`` for a measure's result
    (``L3/pid.representational_complexity``, ``L3/pairs/pid.deg_syn_2``,
    ``L3/shannon.avg_degree_redundancy``, ``L3/reing.C_R_published``, surrogate summaries
    ``L3/pid.mutual_information_surrogate_mean``), the neurons grouping without a grouping
    part; plain ``<layer>/<quantity>`` for what does not depend on a measure:
    ``L3/mutual_information`` (I(T; layer), also the marker that the (checkpoint, layer) is
    done), ``L3/distinct_patterns``, ``L3/mean_entropy`` and the other layer summaries."""

    measures: dict[str, float]
    atoms: pd.DataFrame
    stats: pd.DataFrame


_last_capture: dict[tuple, Any] = {}


def _capture(cfg: ExperimentConfig, path: str, data_dir: str | None, device: str | None):
    """Codes of every analysed layer at a checkpoint; the last one is kept, so the per-layer
    jobs of one checkpoint that land in the same process run the network once. Stochastic
    rounding (``analysis.rounding``) is seeded from ``analysis.rounding_seed`` and the
    checkpoint's training seed and step: the same codes whichever worker runs the job."""
    spec = cfg.analysis
    key = (path, json.dumps(cfg.to_dict(), sort_keys=True), data_dir, device)
    if key not in _last_capture:
        data = split(load_experiment_task(cfg, data_dir), spec.dataset)
        ck = Checkpoint.load(path)
        net = checkpoint_network(cfg, ck)
        layers = list(spec.layers) or net.layer_names
        seed = 0
        if spec.rounding == "stochastic":
            from nninfo.capture import derive_seed

            seed = derive_seed(spec.rounding_seed, ck.seed, ck.step)
        _last_capture.clear()
        _last_capture[key] = capture_codes(net, data.x, data.labels, layers,
                                           n_bins=spec.n_bins, device=device,
                                           rounding=spec.rounding, rounding_seed=seed)
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
        summary = {"mutual_information": mutual_information(codes, target),
                   **layer_summary(codes, levels)}
        _merge(metrics, {f"{layer}/{k}": float(v) for k, v in summary.items()}, layer)
        table = activation_statistics(codes, levels)
        stats.append(table.assign(layer=layer))
        for grouping in (g for g in spec.groupings if g.applies_to(layer)):
            prefix = layer if grouping.kind == "neurons" else f"{layer}/{grouping.name}"
            m, a = _measure_grouping(cap, layer, grouping, spec.measures, spec.surrogates)
            _merge(metrics, {f"{prefix}/{k}": v for k, v in m.items()}, prefix)
            if not a.empty:
                atoms.append(a.assign(layer=layer, grouping=grouping.name))
    return CheckpointAnalysis(metrics, _concat(atoms), _concat(stats))


def _measure_grouping(cap, layer: str, grouping: Grouping, measures: tuple[str, ...],
                      surrogates: int = 0) -> tuple[dict[str, float], pd.DataFrame]:
    """Measures for each source set of a grouping; several sets are averaged. Keys are the
    measures' namespaced ``to_dict`` keys (``pid.mutual_information``,
    ``shannon.mutual_information``, ``reing.C_R_published``); a key produced twice raises instead of
    overwriting. With ``surrogates`` > 0 the PID summaries also get their shuffled-target
    mean and spread (``pid.mutual_information_surrogate_mean``, ``..._surrogate_std``)."""
    width = cap.codes[layer].shape[1]
    results: list[dict[str, float]] = []
    atoms = []
    for i, sources in enumerate(grouping.source_sets(width)):
        samples = cap.samples(layer, groups=sources)
        src, tgt = samples[:, :-1], samples[:, -1]
        row: dict[str, float] = {}
        where = f"layer {layer} grouping {grouping.name!r}"
        if "pid" in measures:
            if len(sources) > MAX_SOURCES:
                raise ValueError(
                    f"analysis.layers: layer {layer} grouping {grouping.name!r} has "
                    f"{len(sources)} sources; the I^sx PID allows at most {MAX_SOURCES}. "
                    "Use a grouping with fewer sources, or the 'shannon' measure.")
            res = sx_pid(samples)
            _merge(row, res.to_dict(), where)
            atoms.append(_atom_rows(res.atoms).assign(subset=i))
            if surrogates:
                sur = sx_pid_surrogates(samples, surrogates, seed=i, atoms=False)
                summaries = [res.key(q) for q in ("mutual_information",
                                                  "representational_complexity")]
                _merge(row, {f"{k}_surrogate_{c}": float(sur.at[k, f"surrogate_{c}"])
                             for k in summaries for c in ("mean", "std")}, where)
        if "shannon" in measures:
            _merge(row, shannon_invariants(src, tgt).to_dict(), where)
        if "reing" in measures:
            _merge(row, reing_complexity(src, tgt).to_dict(), where)
        results.append(row)
    keys = results[0].keys()
    mean = {k: float(np.nanmean([r[k] for r in results])) for k in keys}
    return mean, _concat(atoms)


def _merge(into: dict[str, float], new: Mapping[str, float], where: str) -> None:
    """``into.update(new)``, but a key already in ``into`` raises: no result overwrites
    another."""
    twice = sorted(into.keys() & new.keys())
    if twice:
        raise ValueError(f"{where}: quantities {twice} were produced twice; measure results "
                         "must have distinct (namespaced) keys")
    into.update(new)


def _atom_rows(atoms: pd.DataFrame) -> pd.DataFrame:
    out = atoms.reset_index(names="antichain")
    out["degree"] = [min(len(a) for a in ac) for ac in out["antichain"]]
    out["antichain"] = ["".join("{" + ",".join(map(str, a)) + "}" for a in ac)
                        for ac in out["antichain"]]
    return out


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

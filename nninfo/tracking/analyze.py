"""The ``analyze`` entry point: every configured measure for every (checkpoint, layer) of
every finished seed, logged into the seed's run."""

from __future__ import annotations

import pandas as pd

from nninfo.config import ExperimentConfig
from nninfo.jobs import analyze as analysis
from nninfo.tracking import checkpoints, pipeline, runs
from nninfo.tracking.metrics import curated
from nninfo.tracking.pipeline import Settings


def analyze(cfg: ExperimentConfig, settings: Settings, parent: str) -> int:
    """Analyse every (checkpoint, layer) of every finished seed; returns the number of jobs."""
    layers = list(cfg.analysis.layers)
    if not layers:
        raise ValueError("analysis.layers: [] is empty; name at least one layer, e.g. [L2]")
    units, key, seeds = [], cfg.settings_key("analysis"), runs.seed_runs(parent, finished=True)
    for run in seeds:
        rid = run.info.run_id
        analysed = set(run.data.tags.get("nninfo.layers", "").split(",")) - {""}
        runs.set_tags(rid, {"nninfo.layers": ",".join(sorted(analysed | set(layers)))})
        done = {layer: pipeline.done_steps(run, f"{layer}/mutual_information",
                                           f"analysis.{layer}", key, settings.force)
                for layer in layers}
        index = sorted(checkpoints.checkpoint_index(rid), key=lambda ck: ck["step"])
        with_pid_surrogates = cfg.analysis.surrogates.pid_positions(len(index))
        for position, ck in enumerate(index):
            todo = [layer for layer in layers if ck["step"] not in done[layer]]
            if todo:
                path = checkpoints.download_checkpoint(rid, ck)  # verified: hash, step
            kwargs = {"data_dir": settings.data_dir, "device": settings.device,
                      "pid_surrogates": position in with_pid_surrogates}
            units += [((rid, ck["step"], layer), analysis.analyze_checkpoint, (cfg, path, [layer]),
                      kwargs) for layer in todo]
    pipeline.say_todo("analyze", len(units), len(seeds), "(checkpoint, layer)")
    errors = []
    try:
        with pipeline.Logbook(lambda key: key.endswith("/mutual_information")) as book:
            for out in pipeline.run_units(settings, units, "analyse (checkpoint, layer)",
                                          lines=True):
                rid, step, layer = out.key
                if out.error is not None:
                    errors.append(f"run {rid} step {step} layer {layer}: {out.error!r}")
                    continue
                book.add(rid, *logged_unit(step, out.value))
    except pipeline.ArtifactWriteError:
        if not errors:  # every unit's metrics are logged, its tables kept: a rerun skips them
            pipeline.mark_done([r.info.run_id for r in seeds],
                               [f"analysis.{x}" for x in layers], key)
        raise
    pipeline.fail_on(errors, "analysis")
    pipeline.mark_done([r.info.run_id for r in seeds], [f"analysis.{x}" for x in layers], key)
    for run in seeds:
        tag_bias(run.info.run_id, layers)
    return len(units)


def tag_bias(run_id: str, layers: list[str]) -> str:
    """Tag ``nninfo.bias_dominated`` on a seed run: the layers whose I(T; layer) is
    bias-dominated at some checkpoint, with how many (``L1: 3/29 checkpoints``), or ``none``."""
    from nninfo.tracking.store_reads import latest_per_step, metric_histories

    keys = [f"{layer}/bias_dominated" for layer in layers]
    logged = metric_histories([run_id], keys).get(run_id, {})
    flagged = []
    for layer, key in zip(layers, keys, strict=True):
        history = latest_per_step(logged.get(key, []))
        hits = sum(v > 0 for v in history.values())
        if hits:
            flagged.append(f"{layer}: {hits}/{len(history)} checkpoints")
    value = "; ".join(flagged) or "none"
    runs.set_tags(run_id, {"nninfo.bias_dominated": value})
    return value


def logged_unit(step: int, result: analysis.CheckpointAnalysis
                ) -> tuple[dict[str, pd.DataFrame], list[tuple[str, float, int]]]:
    """What one analysed checkpoint logs: its tables (artifact path -> table) and its metric
    rows ``(key, value, step)``, the quantities worth a curve (:func:`curated`)."""
    return _analysis_tables(step, result), [(k, v, step)
                                            for k, v in curated(result.measures).items()]


def _analysis_tables(step: int, result: analysis.CheckpointAnalysis) -> dict[str, pd.DataFrame]:
    """Artifact path -> table: PID atoms, neuron statistics, all measures and, for
    random-subset groupings, every subset's values (``analysis/subsets``) per layer."""
    measures = pd.DataFrame([{"layer": k.split("/", 1)[0], "quantity": k.split("/", 1)[1],
                              "value": v} for k, v in result.measures.items()])
    tables = {}
    for kind, table in (("pid", result.atoms), ("pid_class", result.class_atoms),
                        ("stats", result.stats), ("measures", measures),
                        ("subsets", result.subsets)):
        for layer, part in _by_layer(table):
            tables[f"analysis/{kind}/{layer}/step_{step:08d}.csv"] = part.drop(columns="layer")
    return tables


def _by_layer(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``table.groupby("layer")`` as (layer, rows) pairs, without grouping the usual table
    of one layer (a job analyses one layer: the grouping was a tenth of the driver's time)."""
    if table.empty:
        return []
    layers = table["layer"].unique()
    if len(layers) == 1 and not pd.isna(layers[0]):
        return [(layers[0], table)]
    return list(table.groupby("layer"))

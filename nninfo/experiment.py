"""The compute side of an experiment, free of MLflow: train one seed, analyse one checkpoint,
evaluate one checkpoint. Each function takes a validated config and plain paths and returns
plain data, so it can run in a worker process or on a Dask worker; the tracking layer logs.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from nninfo.capture import activation_statistics, capture_codes, layer_summary
from nninfo.config import ExperimentConfig, Grouping
from nninfo.info.bias import sx_pid_surrogates
from nninfo.info.entropy import mutual_information
from nninfo.info.reing import reing_complexity
from nninfo.info.shannon import shannon_invariants
from nninfo.info.sx import sx_pid
from nninfo.nn.network import Network
from nninfo.tasks import Task, load_task
from nninfo.training import Checkpoint, TrainConfig, train, train_seeds
from nninfo.training.loop import uses_numpy_step

MAX_PID_SOURCES = 5


@dataclass
class CheckpointFile:
    chapter: int
    step: int
    epoch: float
    path: str


@dataclass
class SeedTraining:
    """What training one seed produced: checkpoint files and the metric history."""

    seed: int
    steps_per_epoch: int
    checkpoints: list[CheckpointFile]
    history: list[tuple[int, dict[str, float]]] = field(default_factory=list)


@dataclass
class CheckpointAnalysis:
    """Per-layer results for one checkpoint: every measured quantity (``measures``, keyed
    ``<layer>[/<grouping>]/<quantity>``), PID atoms and neuron statistics. ``metrics`` is
    the subset worth a curve in the MLflow UI."""

    measures: dict[str, float]
    atoms: pd.DataFrame
    stats: pd.DataFrame

    @property
    def metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.measures.items() if is_metric(k.rsplit("/", 1)[-1])}


METRIC_QUANTITIES = frozenset({
    "mutual_information", "representational_complexity", "avg_degree_redundancy",
    "avg_degree_vulnerability", "reing_C_R", "distinct_patterns", "pattern_entropy",
    "mean_entropy", "mean_saturation"})


def is_metric(quantity: str) -> bool:
    """Quantities logged as MLflow metrics; the rest (Reing's C_k, sums, counts) are kept in
    the ``analysis/measures`` tables."""
    return (quantity in METRIC_QUANTITIES or quantity.startswith("deg_syn_")
            or quantity.endswith(("_surrogate_mean", "_surrogate_std")))


def train_config(cfg: ExperimentConfig) -> TrainConfig:
    return TrainConfig.from_dict(dict(cfg.training))


@functools.lru_cache(maxsize=4)
def _task(task_json: str, data_dir: str | None) -> Task:
    spec = json.loads(task_json)
    options = dict(spec.get("options") or {})
    return load_task(spec["name"], data_dir=data_dir, seed=spec.get("seed", 42),
                     label_encoding=spec.get("label_encoding"), **options)


def load_experiment_task(cfg: ExperimentConfig, data_dir: str | None = None) -> Task:
    """The experiment's task (cached per process)."""
    return _task(json.dumps(cfg.task, sort_keys=True), data_dir)


def build_network(cfg: ExperimentConfig, seed: int | None = None) -> Network:
    net_cfg = dict(cfg.network)
    net_cfg.setdefault("seed", seed)
    return Network.from_config(net_cfg)


def split(task: Task, name: str):
    """A split by name; ``all`` is the task's ``full`` split if it has one, else every split
    concatenated."""
    if name != "all":
        return task[name]
    if "full" in task.splits:
        return task["full"]
    parts = list(task.splits.values())
    from nninfo.tasks.base import Split

    return Split(*(torch.cat([getattr(p, a) for p in parts]) for a in ("x", "y", "labels")))


class _SeedRecorder:
    """Writes one seed's checkpoints and ``progress.json`` into its work directory and picks
    up the progress of an earlier attempt there."""

    def __init__(self, workdir: str | Path, seed: int, steps_per_epoch: int) -> None:
        self.workdir, self.seed, self.steps_per_epoch = Path(workdir), seed, steps_per_epoch
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.checkpoints, self.history, self.resume = _resume_point(
            self.workdir, seed, steps_per_epoch)

    def checkpoint(self, ck: Checkpoint) -> None:
        path = self.workdir / f"step_{ck.step:08d}.pt"
        _write_atomic(path, ck.save)
        self.checkpoints.append(CheckpointFile(len(self.checkpoints), ck.step, ck.epoch,
                                               str(path)))
        _write_progress(self.workdir, self.seed, self.steps_per_epoch, self.checkpoints,
                        self.history)

    def metrics(self, metrics: dict[str, float], step: int) -> None:
        self.history.append((step, dict(metrics)))

    def result(self) -> SeedTraining:
        return SeedTraining(self.seed, self.steps_per_epoch, self.checkpoints, self.history)


def _steps_per_epoch(cfg: ExperimentConfig, data_dir: str | None) -> int:
    return -(-len(load_experiment_task(cfg, data_dir)["train"]) // train_config(cfg).batch_size)


def train_seed(cfg: ExperimentConfig, seed: int, workdir: str | Path, *,
               data_dir: str | None = None, device: str | None = None,
               progress: bool = False) -> SeedTraining:
    """Train one seed, writing ``step_XXXXXXXX.pt`` checkpoints into ``workdir``.

    Each checkpoint is followed by ``progress.json`` (the checkpoints and metric history so
    far), both written atomically. When ``workdir`` already holds progress of an earlier
    attempt (a killed worker, a crashed driver), training resumes from its latest checkpoint
    and continues bit for bit as the uninterrupted run would; the earlier checkpoint files
    and history are kept. So running the same job twice, or concurrently, is safe.
    """
    train_split = load_experiment_task(cfg, data_dir)["train"]
    rec = _SeedRecorder(workdir, seed, _steps_per_epoch(cfg, data_dir))
    train(build_network(cfg, seed), train_split.x, train_split.y, train_config(cfg), seed=seed,
          on_checkpoint=rec.checkpoint, on_metrics=rec.metrics, device=device,
          resume_from=rec.resume, progress=progress)
    return rec.result()


def batchable(cfg: ExperimentConfig) -> bool:
    """Whether several seeds can train at once as one batched model (all-linear layers, each
    seed initialised from its own seed)."""
    return "seed" not in cfg.network and all(
        layer.get("type") == "linear" for layer in cfg.network["layers"])


def train_seed_group(cfg: ExperimentConfig, seeds: list[int], workdirs: list[str | Path], *,
                     data_dir: str | None = None, device: str | None = None
                     ) -> list[SeedTraining]:
    """Train several seeds at once as one batched model; each seed's numbers are those of
    :func:`train_seed` (its own RNG streams), and so are its files in its work directory.
    Seeds train one by one instead when that is faster (on a CPU, networks that the numpy
    step covers: 1.5x faster per seed for the Tishby network) and when seeds with progress
    from an earlier attempt are at different steps."""
    train_split = load_experiment_task(cfg, data_dir)["train"]
    spe = _steps_per_epoch(cfg, data_dir)
    recs = [_SeedRecorder(w, s, spe) for s, w in zip(seeds, workdirs, strict=True)]
    resume = [r.resume for r in recs]
    one_by_one = not batchable(cfg) or uses_numpy_step(
        build_network(cfg, seeds[0]), train_split.x, train_split.y, train_config(cfg), device)
    if one_by_one or len({None if c is None else c.step for c in resume}) > 1:
        return [train_seed(cfg, s, w, data_dir=data_dir, device=device)
                for s, w in zip(seeds, workdirs, strict=True)]
    train_seeds(cfg.network["layers"], train_split.x, train_split.y, train_config(cfg),
                seeds=list(seeds), device=device,
                on_checkpoint=lambda i, ck: recs[i].checkpoint(ck),
                on_metrics=lambda i, m, step: recs[i].metrics(m, step),
                resume_from=None if resume[0] is None else resume)
    return [r.result() for r in recs]


_PROGRESS_FILE = "progress.json"


def _write_atomic(path: Path, write) -> None:
    """``write(tmp)`` then rename onto ``path``: readers never see a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_progress(workdir: Path, seed: int, steps_per_epoch: int,
                    checkpoints: list[CheckpointFile],
                    history: list[tuple[int, dict[str, float]]]) -> None:
    data = {"seed": seed, "steps_per_epoch": steps_per_epoch,
            "checkpoints": [{"chapter": c.chapter, "step": c.step, "epoch": c.epoch,
                             "file": Path(c.path).name} for c in checkpoints],
            "history": [[step, m] for step, m in history]}
    _write_atomic(workdir / _PROGRESS_FILE, lambda p: p.write_text(json.dumps(data)))


def _resume_point(workdir: Path, seed: int, steps_per_epoch: int
                  ) -> tuple[list[CheckpointFile], list[tuple[int, dict[str, float]]],
                             Checkpoint | None]:
    """Checkpoints and history of an earlier attempt in ``workdir``, and its latest checkpoint
    (``None``: start from scratch)."""
    path = workdir / _PROGRESS_FILE
    if not path.is_file():
        return [], [], None
    data = json.loads(path.read_text())
    if data["seed"] != seed or data["steps_per_epoch"] != steps_per_epoch:
        raise ValueError(f"workdir: {str(workdir)!r} holds training progress of seed "
                         f"{data['seed']} with {data['steps_per_epoch']} steps per epoch, not "
                         f"seed {seed} with {steps_per_epoch}; use a fresh work directory")
    checkpoints = [CheckpointFile(c["chapter"], c["step"], c["epoch"], str(workdir / c["file"]))
                   for c in data["checkpoints"]]
    if not checkpoints:
        return [], [], None
    resume = Checkpoint.load(checkpoints[-1].path)
    history = [(int(step), m) for step, m in data["history"] if step <= resume.step]
    return checkpoints, history, resume


def load_checkpoint_network(cfg: ExperimentConfig, path: str | Path) -> Network:
    """A network in eval mode holding a checkpoint's weights."""
    ck = Checkpoint.load(path)
    net = build_network(cfg, ck.seed)
    net.load_state_dict(ck.model_state)
    return net.eval()


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


def evaluate_checkpoint(cfg: ExperimentConfig, path: str | Path, datasets: tuple[str, ...], *,
                        data_dir: str | None = None, device: str | None = None) -> pd.DataFrame:
    """Loss and accuracy per dataset, overall (``class == -1``) and per class."""
    task = load_experiment_task(cfg, data_dir)
    net = load_checkpoint_network(cfg, path)
    loss_name = train_config(cfg).loss
    rows = []
    for name in datasets:
        if name not in task.splits and name != "all":
            raise ValueError(f"performance.datasets: {name!r} is not one of "
                             f"{sorted(task.splits)} or 'all'")
        data = split(task, name)
        with torch.no_grad():
            losses, pred = _per_sample(net, data, loss_name, task)
        labels = data.labels.cpu().numpy()
        correct = (pred == labels)
        rows.append({"dataset": name, "class": -1, "loss": float(losses.mean()),
                     "accuracy": float(correct.mean()), "n": len(labels)})
        for c in np.unique(labels):
            sel = labels == c
            rows.append({"dataset": name, "class": int(c), "loss": float(losses[sel].mean()),
                         "accuracy": float(correct[sel].mean()), "n": int(sel.sum())})
    return pd.DataFrame(rows)


def _per_sample(net: Network, data, loss_name: str, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample loss and predicted class index."""
    from nninfo.tasks.labels import decode_labels

    out = torch.cat([net(xb) for xb in torch.split(data.x, 8192)])
    y = data.y
    if loss_name == "cross_entropy":
        losses = torch.nn.functional.cross_entropy(out, y.long().view(-1), reduction="none")
        pred = out.argmax(1)
    else:
        out = out.view(len(y), -1)
        target = y.float().view(len(y), -1)
        if loss_name == "bce":
            losses = torch.nn.functional.binary_cross_entropy(
                out.clamp(1e-7, 1 - 1e-7), target, reduction="none").mean(1)
        else:
            losses = ((out - target) ** 2).mean(1)
        if out.shape[1] == 1:
            pred = (out.view(-1) > 0.5).long()
        else:
            pred = decode_labels(out, task.label_encoding, task.n_classes)
    return losses.cpu().numpy(), pred.cpu().numpy()

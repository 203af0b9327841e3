"""The entry points train / analyze / performance / report / main, logged to MLflow.

Jobs (a seed's training, a checkpoint's analysis or evaluation) run through
:mod:`nninfo.executors`; this process does all the logging, so a SQLite store never sees
concurrent writers. Each unit of work is logged artifacts first and metrics last, in one
batch, and a unit whose metrics are already there is skipped (unless ``force``): re-running
an entry point after a crash only does what is missing.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from nninfo.config import ExperimentConfig, flatten
from nninfo.executors import Outcome, default_workers, run_jobs
from nninfo.jobs import analyze as analysis
from nninfo.jobs import common
from nninfo.jobs import evaluate as evaluation
from nninfo.jobs import train as training
from nninfo.tracking import runs
from nninfo.tracking.metrics import curated


@dataclass(frozen=True)
class Settings:
    """How to run (not what): data location, device, executor, progress, force."""

    data_dir: str | None = None
    device: str | None = None
    executor: str = "local"
    workers: int | None = None
    scheduler: str | None = None
    progress: bool = True
    force: bool = False
    out_dir: str = "outputs"


class PipelineError(RuntimeError):
    """Some jobs failed; their runs are marked FAILED."""


def _run(settings: Settings, units: list, desc: str) -> Iterable[Outcome]:
    outcomes = run_jobs(units, executor=settings.executor, workers=settings.workers,
                        scheduler=settings.scheduler)
    return tqdm(outcomes, total=len(units), desc=desc, disable=not settings.progress,
                file=sys.stderr, unit="job")


def _fail_on(errors: list[str], what: str) -> None:
    if errors:
        raise PipelineError(f"{len(errors)} {what} job(s) failed:\n  " + "\n  ".join(errors))


# ----------------------------------------------------------------------------------- train

def train(cfg: ExperimentConfig, settings: Settings, parent: str) -> list[str]:
    """Train every seed as a child run of ``parent``; returns the seed run ids."""
    c = runs.client()
    runs.log_params(parent, flatten(cfg.to_dict()))
    runs.set_tags(parent, {"nninfo.task": cfg.task["name"], "nninfo.experiment": cfg.name})
    c.log_dict(parent, cfg.to_dict(), "config.yaml")
    seed_runs = {seed: _seed_run(cfg, parent, seed, settings.data_dir) for seed in cfg.seeds}
    work = train_work_dir(cfg)
    errors, pending = [], dict(seed_runs)
    try:
        for out in _run(settings, _training_jobs(cfg, settings, work), "train seed groups"):
            if out.error is not None:
                errors.append(f"seeds {list(out.key)}: {out.error}")
                for seed in out.key:
                    runs.set_tags(seed_runs[seed], {"nninfo.error": str(out.error)[:5000]})
                    c.set_terminated(pending.pop(seed), "FAILED")
                continue
            for result in out.value:
                _log_training(seed_runs[result.seed], result)
                c.set_terminated(pending.pop(result.seed), "FINISHED")
                _remove_work(work / f"seed_{result.seed}")
    except BaseException as exc:  # the driver itself stops: no seed run stays RUNNING
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        for run_id in pending.values():
            c.set_terminated(run_id, status)
        raise
    _fail_on(errors, "training")
    return list(seed_runs.values())


def _training_jobs(cfg: ExperimentConfig, settings: Settings, work: Path) -> list:
    """One job per group of seeds: all-linear networks train a group (one group per worker)
    as one batched model or, where that is faster, one seed after another (see
    :func:`nninfo.experiment.train_seed_group`); others one seed per job."""
    seeds = list(cfg.seeds)
    if training.batchable(cfg):
        n_groups = min(len(seeds), settings.workers or default_workers())
        groups = [seeds[i::n_groups] for i in range(n_groups)]
    else:
        groups = [[seed] for seed in seeds]
    return [(tuple(g), training.train_seed_group, (cfg, g, [work / f"seed_{s}" for s in g]),
             {"data_dir": settings.data_dir, "device": settings.device}) for g in groups]


def train_work_dir(cfg: ExperimentConfig) -> Path:
    """Where seeds train: ``$NNINFO_WORK_DIR`` (default: ``<cache>/work``) / experiment /
    hash of what training depends on (task, network, training, nninfo version).

    The same for every attempt, so a seed retried after its worker died, or trained again
    after the driver crashed, resumes from its last checkpoint there. On a cluster it must
    be a folder that the workers and the driver share. A seed's folder is removed once its
    run is logged.
    """
    import hashlib
    import os

    import nninfo
    from nninfo.info.lattice import cache_dir

    root = os.environ.get("NNINFO_WORK_DIR") or cache_dir() / "work"
    spec = {"task": cfg.task, "network": cfg.network, "training": cfg.training,
            "nninfo": nninfo.__version__}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
    name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in cfg.name)
    return Path(root) / name / digest.hexdigest()[:16]


def _remove_work(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _seed_run(cfg: ExperimentConfig, parent: str, seed: int, data_dir: str | None) -> str:
    run_id = runs.child_run(parent, f"seed {seed}", {
        runs.ROLE: runs.SEED_ROLE, "seed": str(seed), "nninfo.task": cfg.task["name"]})
    runs.log_params(run_id, {**flatten(cfg.to_dict()), "seed": str(seed)})
    runs.client().log_dict(run_id, cfg.to_dict(), "config.yaml")
    _log_dataset(run_id, cfg, data_dir)
    return run_id


def _log_dataset(run_id: str, cfg: ExperimentConfig, data_dir: str | None) -> None:
    """``log_input`` for the training data (name, digest and schema, not the data)."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    task = common.load_experiment_task(cfg, data_dir)
    data = task["train"]
    n = min(len(data.x), 2048)
    ds = mlflow.data.from_numpy(data.x[:n].reshape(n, -1).numpy(),
                                targets=data.labels[:n].numpy(), name=f"{task.name}-train")
    runs.client().log_inputs(run_id, [DatasetInput(ds._to_mlflow_entity(),
                                                   [InputTag("mlflow.data.context", "training")])])


def _log_training(run_id: str, result: training.SeedTraining) -> None:
    c = runs.client()
    with tempfile.TemporaryDirectory() as tmp:
        for ck in result.checkpoints:
            c.log_artifact(run_id, ck.path, "checkpoints")
        index = [{"chapter": ck.chapter, "step": ck.step, "epoch": ck.epoch,
                  "artifact": f"checkpoints/{Path(ck.path).name}"} for ck in result.checkpoints]
        (Path(tmp) / "checkpoints.json").write_text(json.dumps(index, indent=1))
        c.log_artifact(run_id, str(Path(tmp) / "checkpoints.json"))
    rows = [(f"training/{k.removeprefix('train_')}", v, step)
            for step, m in result.history for k, v in m.items() if k != "epoch"]
    rows += [("epoch", ck.epoch, ck.step) for ck in result.checkpoints]
    runs.log_params(run_id, {"steps_per_epoch": str(result.steps_per_epoch)})
    runs.log_metrics(run_id, rows)


# ---------------------------------------------------------------------------- analyze

def analyze(cfg: ExperimentConfig, settings: Settings, parent: str) -> int:
    """Analyse every (checkpoint, layer) of every finished seed; returns the number of jobs."""
    layers = list(cfg.analysis.layers)
    if not layers:
        raise ValueError("analysis.layers: [] is empty; name at least one layer, e.g. [L2]")
    units = []
    for run in runs.seed_runs(parent, finished=True):
        rid = run.info.run_id
        analysed = set(run.data.tags.get("nninfo.layers", "").split(",")) - {""}
        runs.set_tags(rid, {"nninfo.layers": ",".join(sorted(analysed | set(layers)))})
        done = {layer: set() if settings.force
                else runs.logged_steps(rid, f"{layer}/mutual_information") for layer in layers}
        for ck in runs.checkpoint_index(rid):
            todo = [layer for layer in layers if ck["step"] not in done[layer]]
            if todo:
                path = runs.download_checkpoint(rid, ck["artifact"])
            units += [((rid, ck["step"], layer), analysis.analyze_checkpoint, (cfg, path, [layer]),
                      {"data_dir": settings.data_dir, "device": settings.device})
                     for layer in todo]
    errors = []
    with _Logbook(lambda key: key.endswith("/mutual_information")) as book:
        for out in _run(settings, units, "analyse (checkpoint, layer)"):
            rid, step, layer = out.key
            if out.error is not None:
                errors.append(f"run {rid} step {step} layer {layer}: {out.error!r}")
                continue
            book.add(rid, _analysis_tables(step, out.value),
                     [(k, v, step) for k, v in curated(out.value.measures).items()])
    _fail_on(errors, "analysis")
    return len(units)


def _analysis_tables(step: int, result: analysis.CheckpointAnalysis) -> dict[str, pd.DataFrame]:
    """Artifact path -> table: PID atoms, neuron statistics and all measures per layer."""
    measures = pd.DataFrame([{"layer": k.split("/", 1)[0], "quantity": k.split("/", 1)[1],
                              "value": v} for k, v in result.measures.items()])
    tables = {}
    for kind, table in (("pid", result.atoms), ("stats", result.stats), ("measures", measures)):
        for layer, part in ([] if table.empty else table.groupby("layer")):
            tables[f"analysis/{kind}/{layer}/step_{step:08d}.csv"] = part.drop(columns="layer")
    return tables


class _Logbook:
    """Buffers finished units of work per run and logs them together: one artifact upload,
    then the metrics with every unit's marker metrics last, so that a marker present in the
    store means its unit is complete (what the skip-if-logged check relies on)."""

    def __init__(self, is_marker: Callable[[str], bool], size: int = 32) -> None:
        self.is_marker, self.size = is_marker, size
        self.units: dict[str, list] = {}

    def __enter__(self) -> _Logbook:
        return self

    def __exit__(self, *exc) -> None:
        for run_id in list(self.units):
            self.flush(run_id)

    def add(self, run_id: str, tables: dict[str, pd.DataFrame],
            rows: list[tuple[str, float, int]]) -> None:
        self.units.setdefault(run_id, []).append((tables, rows))
        if len(self.units[run_id]) >= self.size:
            self.flush(run_id)

    def flush(self, run_id: str) -> None:
        units = self.units.pop(run_id, [])
        if not units:
            return
        with tempfile.TemporaryDirectory() as tmp:
            for tables, _ in units:
                for rel, table in tables.items():
                    path = Path(tmp) / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    table.to_csv(path, index=False)
            runs.client().log_artifacts(run_id, tmp)
        rows = sorted((row for _, unit_rows in units for row in unit_rows),
                      key=lambda row: self.is_marker(row[0]))
        runs.log_metrics(run_id, rows)


# ------------------------------------------------------------------------ performance

def performance(cfg: ExperimentConfig, settings: Settings, parent: str) -> int:
    """Loss and accuracy (overall and per class) per dataset for every checkpoint."""
    first = cfg.performance_datasets[0]
    units = []
    for run in runs.seed_runs(parent, finished=True):
        rid = run.info.run_id
        done = set() if settings.force else runs.logged_steps(rid, f"{first}/loss")
        for ck in runs.checkpoint_index(rid):
            if ck["step"] not in done:
                path = runs.download_checkpoint(rid, ck["artifact"])
                units.append(((rid, ck["step"]), evaluation.evaluate_checkpoint,
                             (cfg, path, cfg.performance_datasets),
                             {"data_dir": settings.data_dir, "device": settings.device}))
    errors = []
    with _Logbook(lambda key: key.count("/") == 1) as book:  # overall <dataset>/loss last
        for out in _run(settings, units, "evaluate checkpoints"):
            rid, step = out.key
            if out.error is not None:
                errors.append(f"run {rid} step {step}: {out.error!r}")
                continue
            book.add(rid, {f"performance/step_{step:08d}.csv": out.value},
                     _performance_rows(step, out.value))
    _fail_on(errors, "performance")
    return len(units)


def _performance_rows(step: int, table: pd.DataFrame) -> list[tuple[str, float, int]]:
    rows = []
    for r in table.itertuples(index=False):
        prefix = r.dataset if r[1] == -1 else f"{r.dataset}/class_{r[1]}"
        rows += [(f"{prefix}/loss", r.loss, step), (f"{prefix}/accuracy", r.accuracy, step)]
    return rows


# ----------------------------------------------------------------------------- report

def report(cfg: ExperimentConfig, settings: Settings, parent: str) -> Path:
    """Figures (PNG + PDF) and a self-contained HTML report, logged to ``parent``."""
    from nninfo import plotting
    from nninfo import report as html
    from nninfo.tracking import results

    summary = results.load_summary(train_run=parent)
    perf = results.load_performance(train_run=parent)
    atoms = results.load_pid(train_run=parent)
    stats = results.load_activation_statistics(train_run=parent)
    out = Path(settings.out_dir) / cfg.name
    (out / "figures").mkdir(parents=True, exist_ok=True)
    figures = plotting.standard_figures(summary, perf, stats if not stats.empty else None)
    c = runs.client()
    pngs = {}
    for name, fig in figures.items():
        for path in plotting.save_figure(fig, out / "figures" / name):
            c.log_artifact(parent, str(path), "figures")
            if path.suffix == ".png":
                pngs[name] = path
    page = out / "report.html"
    html.write_report(page, f"nninfo: {cfg.name}", cfg.to_dict(), summary, perf,
                      atoms=None if atoms.empty else atoms,
                      stats=None if stats.empty else stats, figures=pngs)
    c.log_artifact(parent, str(page))
    return page

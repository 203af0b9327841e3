"""The ``train`` entry point: every seed a child run of the entry run, trained through the
executors; its progress shown and logged while it trains, its checkpoints, history and final
model logged when it finishes."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from nninfo.config import ExperimentConfig, flatten
from nninfo.executors import default_workers
from nninfo.jobs import common
from nninfo.jobs import train as training
from nninfo.tracking import checkpoints, pipeline, runs
from nninfo.tracking.pipeline import Settings
from nninfo.training import Checkpoint

if TYPE_CHECKING:
    import numpy as np
    from mlflow.entities import DatasetInput


def train(cfg: ExperimentConfig, settings: Settings, parent: str) -> list[str]:
    """Train every seed as a child run of ``parent``; returns the seed run ids."""
    c = runs.client()
    runs.log_params(parent, flatten(cfg.to_dict()))
    runs.set_tags(parent, {"nninfo.task": cfg.task.name, "nninfo.experiment": cfg.name,
                           runs.TRAINING_KEY: training_key(cfg),
                           runs.N_SEEDS: str(len(cfg.seeds))})
    c.log_dict(parent, cfg.to_dict(), "config.yaml")
    seed_runs: dict[int, str] = {}
    errors, pending = [], {}
    dataset = _dataset_input(cfg, settings.data_dir)
    lock = threading.RLock()  # this thread's logging and the progress thread's take turns
    try:
        for seed in cfg.seeds:  # registered as pending first: an interrupt marks it KILLED
            seed_runs[seed] = pending[seed] = _seed_run(cfg, parent, seed)
            _describe_seed_run(seed_runs[seed], cfg, seed, dataset)
        with (claim_work_dirs(train_work_dir(cfg), cfg.seeds, parent) as dirs,
              TrainingProgress(dirs, seed_runs, settings.progress, lock) as progress):
            units = _training_jobs(cfg, settings, dirs)
            for out in pipeline.run_units(settings, units, "train seed groups"):
                with lock:
                    if out.error is not None:
                        errors.append(f"seeds {list(out.key)}: {out.error}")
                        for seed in out.key:
                            progress.forget(seed)
                            runs.set_tags(seed_runs[seed],
                                          {"nninfo.error": str(out.error)[:5000]})
                            c.set_terminated(pending.pop(seed), "FAILED")
                        continue
                    for result in out.value:
                        progress.finish(result.seed)
                        _log_training(seed_runs[result.seed], result, cfg, settings.data_dir)
                        c.set_terminated(pending.pop(result.seed), "FINISHED")
                        _remove_work(dirs[result.seed])
    except BaseException as exc:  # the driver itself stops: no seed run stays RUNNING
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        for run_id in pending.values():
            c.set_terminated(run_id, status)
        raise
    pipeline.fail_on(errors, "training")
    return list(seed_runs.values())


@contextlib.contextmanager
def claim_work_dirs(work: Path, seeds: Iterable[int], parent: str) -> Iterator[dict[int, Path]]:
    """Work folders for ``seeds``, held for this driver until the block ends.

    Seed ``s`` trains in ``work/seed_s``, shared by every attempt with the same training
    settings, so an attempt after a crash resumes there. A driver holds an exclusive lock on
    ``work/.seed_s.lock`` while it trains and logs the seed (the operating system releases
    it when the driver dies); a concurrent run of the same settings finds the lock taken and
    trains that seed in a folder of its own, ``work/runs/<parent run>/seed_s``.
    """
    import fcntl

    work.mkdir(parents=True, exist_ok=True)
    dirs: dict[int, Path] = {}
    with contextlib.ExitStack() as held:
        for seed in seeds:
            handle = held.enter_context(open(work / f".seed_{seed}.lock", "a"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                dirs[seed] = work / f"seed_{seed}"
            except BlockingIOError:
                dirs[seed] = work / "runs" / parent / f"seed_{seed}"
        yield dirs
    for folder in (work / "runs" / parent, work / "runs"):  # emptied by _remove_work
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def training_key(cfg: ExperimentConfig) -> str:
    """What a training run is reusable for: the training settings, the seeds and the code
    (nninfo version and git commit)."""
    code = runs.base_tags()
    return cfg.training_key(json.dumps(list(cfg.seeds)), code["nninfo.version"],
                            code.get("nninfo.git_commit", ""))


def reusable_training(cfg: ExperimentConfig, experiment: str) -> str | None:
    """A finished training run of ``experiment`` with the same :func:`training_key`."""
    return runs.find_training(experiment, training_key(cfg), len(cfg.seeds))


def _training_jobs(cfg: ExperimentConfig, settings: Settings, dirs: dict[int, Path]) -> list:
    """One job per group of seeds: all-linear networks train a group (one group per worker)
    as one batched model or, where that is faster, one seed after another (see
    :func:`nninfo.jobs.train.train_seed_group`); others one seed per job."""
    seeds = list(cfg.seeds)
    if training.batchable(cfg):
        n_groups = min(len(seeds), settings.workers or default_workers())
        groups = [seeds[i::n_groups] for i in range(n_groups)]
    else:
        groups = [[seed] for seed in seeds]
    return [(tuple(g), training.train_seed_group, (cfg, g, [dirs[s] for s in g]),
             {"data_dir": settings.data_dir, "device": settings.device}) for g in groups]


def train_work_dir(cfg: ExperimentConfig) -> Path:
    """Where seeds train: ``$NNINFO_WORK_DIR`` (default: ``<cache>/work``) / experiment /
    hash of what training depends on (task, network, training, nninfo version).

    The same for every attempt, so a seed retried after its worker died, or trained again
    after the driver crashed, resumes from its last checkpoint there. On a cluster it must
    be a folder that the workers and the driver share. A seed's folder is removed once its
    run is logged.
    """
    import os

    import nninfo
    from nninfo.info.lattice import cache_dir

    root = os.environ.get("NNINFO_WORK_DIR") or cache_dir() / "work"
    name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in cfg.name)
    return Path(root) / name / cfg.training_key(nninfo.__version__)


def _remove_work(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _seed_run(cfg: ExperimentConfig, parent: str, seed: int) -> str:
    return runs.child_run(parent, f"seed {seed}", {
        runs.ROLE: runs.SEED_ROLE, "seed": str(seed), "nninfo.task": cfg.task.name})


def _describe_seed_run(run_id: str, cfg: ExperimentConfig, seed: int,
                       dataset: DatasetInput) -> None:
    params = {k: v for k, v in flatten(cfg.to_dict()).items() if not k.startswith("seeds.")}
    runs.log_params(run_id, {**params, "seed": str(seed)})  # one param per setting
    runs.client().log_dict(run_id, cfg.to_dict(), "config.yaml")
    runs.client().log_inputs(run_id, [dataset])


def _dataset_input(cfg: ExperimentConfig, data_dir: str | None) -> DatasetInput:
    """The training split as an MLflow dataset input (context ``training``): its name,
    MLflow's digest, and the schema and profile of the whole split (rows, input shape), not
    the data itself."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    task = common.load_experiment_task(cfg, data_dir)
    data = task["train"]
    x, labels = data.x.cpu().numpy(), data.labels.cpu().numpy()
    ds = mlflow.data.from_numpy(x, targets=labels, name=f"{task.name}-train",
                                digest=_numpy_digest(x, labels))
    return DatasetInput(ds._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])


def _numpy_digest(*arrays: np.ndarray) -> str:
    """MLflow's digest of numpy features and targets (``compute_numpy_digest``: the first
    10,000 elements and the shape of each), without its copy of every array (1.2 GB for the
    face autoencoder's training split)."""
    import numpy as np
    import pandas as pd
    from mlflow.data.digest_utils import MAX_ROWS, get_normalized_md5_digest

    parts = []
    for a in arrays:
        rows = -(-MAX_ROWS // max(1, int(np.prod(a.shape[1:]))))  # rows holding MAX_ROWS
        parts.append(pd.util.hash_array(np.ascontiguousarray(a[:rows]).reshape(-1)[:MAX_ROWS]))
        parts.extend(np.int64(n) for n in a.shape)
    return get_normalized_md5_digest(parts)


def _log_training(run_id: str, result: training.SeedTraining, cfg: ExperimentConfig,
                  data_dir: str | None) -> None:
    c = runs.client()
    with tempfile.TemporaryDirectory() as tmp:
        index = []
        for ck in result.checkpoints:  # the SHA-256 of the bytes logged, checked on download
            index.append({"chapter": ck.chapter, "step": ck.step, "epoch": ck.epoch,
                          "artifact": f"checkpoints/{Path(ck.path).name}",
                          "sha256": checkpoints.file_sha256(ck.path)})
            c.log_artifact(run_id, ck.path, "checkpoints")
        (Path(tmp) / "checkpoints.json").write_text(json.dumps(index, indent=1))
        c.log_artifact(run_id, str(Path(tmp) / "checkpoints.json"))
    rows = [(f"train_running/{k.removeprefix('train_')}", v, step)
            for step, m in result.history for k, v in m.items() if k != "epoch"]
    rows += [("epoch", ck.epoch, ck.step) for ck in result.checkpoints]
    runs.log_params(run_id, {"steps_per_epoch": str(result.steps_per_epoch)})
    runs.log_metrics(run_id, rows)
    log_final_model(run_id, cfg, result.checkpoints[-1].path, data_dir)


MODEL_NAME = "model"


def log_final_model(run_id: str, cfg: ExperimentConfig, checkpoint: str | Path,
                    data_dir: str | None = None) -> str:
    """Log the network of ``checkpoint`` as the MLflow PyTorch model ``model`` of seed run
    ``run_id`` (its Models tab; ``mlflow.pytorch.load_model(f"runs:/{run_id}/model")``,
    registrable); returns its ``models:/`` URI.

    Logged after the run's metrics, so the model carries those of its step (loss,
    accuracy) and the run's params. Pickled with cloudpickle, which refers to the class
    ``nninfo.nn.network.Network`` by name: loading needs nninfo installed (it is in the
    model's requirements). Not MLflow 3's default ``pt2``: ``torch.export`` costs about 1 s a
    model, the pickle 0.1 s; requirements are given, not inferred (inference loads the
    model in a subprocess).
    """
    import mlflow.pytorch
    import torch
    from mlflow.models import infer_signature

    import nninfo

    ck = Checkpoint.load(checkpoint)
    net = common.checkpoint_network(cfg, ck)
    x = common.load_experiment_task(cfg, data_dir)["train"].x[:2].float()
    with torch.no_grad():
        signature = infer_signature(x.numpy(), net(x).numpy())
    c = runs.client()
    run = c.get_run(run_id)
    model = c.create_logged_model(
        run.info.experiment_id, name=MODEL_NAME, source_run_id=run_id, params=run.data.params,
        tags={"seed": str(ck.seed), "nninfo.step": str(ck.step), "nninfo.epoch": f"{ck.epoch:g}"})
    requirements = [*mlflow.pytorch.get_default_pip_requirements(),
                    f"nninfo=={nninfo.__version__}"]
    pytorch_log = logging.getLogger("mlflow.pytorch")
    level = pytorch_log.level
    pytorch_log.setLevel(logging.ERROR)  # its warning that a pickle runs code when loaded
    try:
        info = mlflow.pytorch.log_model(
            net, name=MODEL_NAME, model_id=model.model_id, run_id=run_id, step=ck.step,
            serialization_format="pickle", signature=signature, pip_requirements=requirements)
    finally:
        pytorch_log.setLevel(level)
    return info.model_uri


PROGRESS_METRIC = "training/epoch"  # epochs done, at the training step, while seeds train
LINE_EVERY = 5.0  # seconds between a seed's progress reports (env NNINFO_PROGRESS_EVERY)
POLL_EVERY = 0.5  # seconds between looks at the seeds' status files


class TrainingProgress:
    """Progress of the seeds while their jobs run, from the ``status.json`` their jobs write
    (:func:`nninfo.jobs.train.read_status`), so it works with any executor whose workers
    share the work folder.

    A daemon thread looks at every seed in training twice a second. A new status, at most
    every :data:`LINE_EVERY` seconds (env ``NNINFO_PROGRESS_EVERY``) per seed and always the
    last, is logged as the metric :data:`PROGRESS_METRIC` on the seed run and, when ``show``,
    printed on stderr as ``seed 3: epoch 120/1000, loss 0.412, 14 s left`` (through
    ``tqdm.write`` on a terminal, so the job bar stays whole; plain lines otherwise). Its
    MLflow calls hold ``lock``; a failing one is reported once and never stops training.
    """

    def __init__(self, dirs: dict[int, Path], seed_runs: dict[int, str], show: bool,
                 lock: threading.RLock) -> None:
        self.dirs, self.runs, self.show, self.lock = dict(dirs), seed_runs, show, lock
        self.every = _seconds("NNINFO_PROGRESS_EVERY", LINE_EVERY)
        self.seen: dict[int, tuple[int, float]] = {}  # seed: (step, time) of the last report
        self.trained, self.total = 0, len(dirs)
        self.failed: set[int] = set()  # seeds whose report failed (said once)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True,
                                       name="nninfo-training-progress")

    def __enter__(self) -> TrainingProgress:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def _watch(self) -> None:
        while not self.stop.wait(POLL_EVERY):
            for seed in list(self.dirs):
                self._look_safely(seed)

    def _look_safely(self, seed: int) -> None:
        try:
            self.look(seed)
        except Exception as exc:  # progress never stops training
            if seed not in self.failed:
                self.failed.add(seed)
                print(f"training progress of seed {seed}: {exc!r}", file=sys.stderr)

    def look(self, seed: int) -> None:
        """Report seed ``seed``'s status if it is new and due (or the last)."""
        with self.lock:
            if seed not in self.dirs:
                return
            status = training.read_status(self.dirs[seed])
            step, told = self.seen.get(seed, (None, -math.inf))
            now = time.monotonic()
            if status is None or status.step == step or (
                    not status.done and now - told < self.every):
                return
            self.seen[seed] = (status.step, now)
            if status.done:
                del self.dirs[seed]
                self.trained += 1
            runs.client().log_metric(self.runs[seed], PROGRESS_METRIC, status.epoch,
                                     step=status.step)
            if self.show:
                _say(progress_line(status, (self.trained, self.total)))

    def finish(self, seed: int) -> None:
        """The seed's job returned: report its last status, then stop watching it."""
        self._look_safely(seed)
        self.forget(seed)

    def forget(self, seed: int) -> None:
        with self.lock:
            self.dirs.pop(seed, None)


def progress_line(status: training.TrainingStatus, trained: tuple[int, int] | None = None
                  ) -> str:
    """``seed 3: epoch 120/1000, loss 0.412, 14 s left``; for the last status ``seed 3:
    epoch 1000/1000, loss 0.052, trained in 12 s (4/10 seeds)`` (``trained``: seeds done,
    seeds in all)."""
    done = math.floor(status.epoch * 10) / 10  # whole epochs, tenths while in one
    parts = [f"seed {status.seed}: epoch {done:g}/{status.epochs:g}"]
    if status.loss is not None:
        parts.append(f"loss {status.loss:.4g}")
    if status.done:
        parts.append(f"trained in {_duration(status.elapsed_s)}"
                     + (f" ({trained[0]}/{trained[1]} seeds)" if trained else ""))
    elif status.eta_s is not None:
        parts.append(f"{_duration(status.eta_s)} left")
    return ", ".join(parts)


def _seconds(variable: str, default: float) -> float:
    """Seconds from environment variable ``variable``; ``default`` if unset or invalid."""
    text = os.environ.get(variable, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        value = -1.0
    if not value >= 0:
        print(f"{variable}: {text!r} is not a number of seconds >= 0; using {default:g}",
              file=sys.stderr)
        return default
    return value


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _say(line: str) -> None:
    """A line on stderr: through tqdm on a terminal (bars are redrawn below it), else plain."""
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)

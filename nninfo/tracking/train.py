"""The ``train`` entry point: every seed a child run of the entry run, trained through the
executors; its progress shown and logged while it trains, its checkpoints, history and final
model logged when it finishes."""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from nninfo.config import ExperimentConfig, flatten
from nninfo.executors import default_workers
from nninfo.jobs import train as training
from nninfo.tracking import checkpoints, pipeline, runs, seed_outputs
from nninfo.tracking.pipeline import Settings
from nninfo.tracking.train_progress import TrainingProgress

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput


def train_experiment(cfg: ExperimentConfig, settings: Settings, parent: str) -> list[str]:
    """Train every seed as a child run of ``parent``; returns the seed run ids."""
    gpus = pipeline.training_gpus(settings)
    c = runs.client()
    runs.log_params(parent, parent_params(config_params(cfg), c.get_run(parent).data.params))
    runs.set_tags(parent, {"nninfo.task": cfg.task.name, "nninfo.experiment": cfg.name,
                           runs.TRAINING_KEY: training_key(cfg),
                           runs.N_SEEDS: str(len(cfg.seeds))})
    c.log_dict(parent, cfg.to_dict(), runs.CONFIG_ARTIFACT)
    seed_runs: dict[int, str] = {}
    errors, pending = [], {}
    dataset = seed_outputs.dataset_input(cfg, settings.data_dir)
    lock = threading.RLock()  # this thread's logging and the progress thread's take turns
    try:
        for seed in cfg.seeds:  # registered as pending first: an interrupt marks it KILLED
            seed_runs[seed] = pending[seed] = _seed_run(cfg, parent, seed)
            _describe_seed_run(seed_runs[seed], cfg, seed, dataset)
        with (claim_work_dirs(training.train_work_dir(cfg), cfg.seeds, parent) as dirs,
              TrainingProgress(dirs, seed_runs, settings.progress, lock) as progress):
            units = _training_jobs(cfg, settings, dirs, gpus)
            for out in pipeline.run_units(settings, units, "train seed groups", gpus=gpus > 0):
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


def config_params(cfg: ExperimentConfig) -> dict[str, str]:
    """The config as MLflow params, one per setting; the seeds as one compact param
    (:func:`seeds_text`), not one per seed."""
    params = {k: v for k, v in flatten(cfg.to_dict()).items() if not k.startswith("seeds.")}
    return {**params, "seeds": seeds_text(cfg.seeds)}


def parent_params(params: dict[str, str], have: dict[str, str]) -> dict[str, str]:
    """``params`` for a parent run that already holds ``have``: a key held with another value
    is logged as ``config.<key>`` (``mlflow run -P seeds=3`` logs ``seeds: 3`` on the launcher
    run that becomes the parent, and MLflow params cannot change; ours is ``seeds: 0-2``)."""
    return {(f"config.{k}" if have.get(k, v) != v else k): v for k, v in params.items()}


SEEDS_PARAM_MAX = 6000  # MLflow's limit on a param value


def seeds_text(seeds: Iterable[int]) -> str:
    """Seeds as runs of consecutive numbers, ``0-99`` or ``0,3,7-9``; a list too long for one
    MLflow param ends ``...,<last> (<n> seeds; all in config.yaml)``."""
    seeds = list(seeds)
    parts, start = [], 0
    for i in range(1, len(seeds) + 1):
        if i == len(seeds) or seeds[i] != seeds[i - 1] + 1:
            a, b = seeds[start], seeds[i - 1]
            parts.append(str(a) if a == b else f"{a},{b}" if b == a + 1 else f"{a}-{b}")
            start = i
    text = ",".join(parts)
    if len(text) <= SEEDS_PARAM_MAX:
        return text
    tail = f",...,{seeds[-1]} ({len(seeds)} seeds; all in config.yaml)"
    return text[:text.rfind(",", 0, SEEDS_PARAM_MAX - len(tail))] + tail


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


def _training_jobs(cfg: ExperimentConfig, settings: Settings, dirs: dict[int, Path],
                   gpus: int = 0) -> list:
    """One job per group of seeds: all-linear networks train a group (one group per worker,
    or per GPU when ``gpus``, see :func:`~nninfo.tracking.pipeline.training_gpus`) as one
    batched model or, where that is faster, one seed after another (see
    :func:`nninfo.jobs.train.train_seed_group`); others one seed per job."""
    seeds = list(cfg.seeds)
    if training.batchable(cfg):
        n_groups = max(1, min(len(seeds), gpus or settings.workers or default_workers()))
        groups = [seeds[i::n_groups] for i in range(n_groups)]
    else:
        groups = [[seed] for seed in seeds]
    return [(tuple(g), training.train_seed_group, (cfg, g, [dirs[s] for s in g]),
             {"data_dir": settings.data_dir, "device": _device(settings, gpus, i)})
            for i, g in enumerate(groups)]


def _device(settings: Settings, gpus: int, i: int) -> str | None:
    """The device of job ``i``: on GPUs, each Dask worker sees its own as ``cuda``, local
    jobs take ``cuda:0``, ``cuda:1``, ... in turn unless ``--device`` names one."""
    if not gpus:
        return settings.device
    if settings.executor == "dask":
        return "cuda"
    if settings.device and ":" in settings.device:
        return settings.device
    return f"cuda:{i % gpus}"


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
    runs.client().log_dict(run_id, cfg.to_dict(), runs.CONFIG_ARTIFACT)
    runs.client().log_inputs(run_id, [dataset])


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
    seed_outputs.log_final_model(run_id, cfg, result.checkpoints[-1].path, data_dir)

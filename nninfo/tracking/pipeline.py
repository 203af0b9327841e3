"""What the entry points share: how to run, running jobs, logging finished units, skipping
what is logged already. The entry points themselves are :mod:`~nninfo.tracking.train`,
:mod:`~nninfo.tracking.analyze`, :mod:`~nninfo.tracking.performance` and
:mod:`~nninfo.tracking.report`.

Jobs (a seed's training, a checkpoint's analysis or evaluation) run through
:mod:`nninfo.executors`; this process does all the logging, so a SQLite store never sees
concurrent writers. Each unit of work is logged artifacts first and metrics last, in one
batch, and a unit whose metrics are already there is skipped (unless ``force``): re-running
an entry point after a crash only does what is missing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from nninfo.config import (
    TRAINED_PARTS,
    ConfigError,
    ExperimentConfig,
    build_config,
    check_against_task,
    check_target,
    needs_task_check,
)
from nninfo.executors import Outcome, check_executor, gpu_count, run_jobs
from nninfo.jobs.common import load_experiment_task
from nninfo.tracking import processes, runs


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


def run_units(settings: Settings, units: list, desc: str, *, gpus: bool = False,
              lines: bool = False) -> Iterable[Outcome]:
    """Run ``(key, fn, args, kwargs)`` units with the settings' executor, with a bar on a
    terminal; in logs (stderr not a terminal) nothing, or with ``lines`` plain progress
    lines (:func:`progress_lines`; training prints its own per seed); with ``gpus`` each
    unit holds one GPU (see :func:`nninfo.executors.run_jobs`)."""
    outcomes = run_jobs(units, executor=settings.executor, workers=settings.workers,
                        scheduler=settings.scheduler, gpus=gpus)
    if lines and settings.progress and not sys.stderr.isatty():
        return progress_lines(outcomes, len(units), desc)
    return tqdm(outcomes, total=len(units), desc=desc,
                disable=None if settings.progress else True, file=sys.stderr, unit="job")


def progress_lines(outcomes: Iterable[Outcome], total: int, desc: str) -> Iterator[Outcome]:
    """``outcomes`` passed through, with a plain line on stderr when a job ends at least
    :data:`~nninfo.tracking.train_progress.LINE_EVERY` seconds (env
    ``NNINFO_PROGRESS_EVERY``) after the last line, and always after the last job:
    ``evaluate checkpoints: 40/120 jobs done, 12 s so far, about 24 s left`` and
    ``evaluate checkpoints: 120/120 jobs done in 36 s`` (with ``, 2 failed`` when some did).
    For logs, where a bar would print nothing."""
    import time

    from nninfo.tracking.train_progress import LINE_EVERY, _duration, _seconds

    every = _seconds("NNINFO_PROGRESS_EVERY", LINE_EVERY)
    start = told = time.monotonic()
    done = failed = 0
    for outcome in outcomes:
        done += 1
        failed += outcome.error is not None
        now = time.monotonic()
        if done == total or now - told >= every:
            told, elapsed = now, now - start
            text = f"{desc}: {done}/{total} jobs done"
            text += (f" in {_duration(elapsed)}" if done == total else
                     f", {_duration(elapsed)} so far, about "
                     f"{_duration(elapsed / done * (total - done))} left")
            print(text + (f", {failed} failed" if failed else ""), file=sys.stderr, flush=True)
        yield outcome


def check_device_setting(device: str | None, executor: str, scheduler: str | None) -> None:
    """``--device`` usable here (:func:`nninfo.training.common.check_device`); with a Dask
    scheduler the jobs run on its workers, so only that it names a kind of device."""
    if device:
        from nninfo.training.common import check_device

        check_device(device, here=not (executor == "dask" and scheduler))


def wants_cuda(device: str | None) -> bool:
    """Whether ``device`` means CUDA: ``cuda`` or ``cuda:N``, or automatic with CUDA here."""
    if device:
        return device.startswith("cuda")
    import torch

    return torch.cuda.is_available()


def training_gpus(settings: Settings) -> int:
    """How many GPUs training spreads its seed groups over (one group per GPU); 0 to train
    as on the CPU (an automatic device finding no GPU on the Dask workers falls back to
    that). Raises ValueError when ``--device`` asks for CUDA and there is no GPU to use."""
    if not wants_cuda(settings.device):
        return 0
    n = gpu_count(settings.executor, settings.workers, settings.scheduler)
    if n == 0 and settings.device:
        where = ("no Dask worker offers a GPU resource; start workers with --resources GPU=1"
                 if settings.executor == "dask" and settings.scheduler
                 else "no CUDA device is available here")
        raise ValueError(f"--device: {settings.device!r} with --executor {settings.executor} "
                         f"needs a GPU, but {where}")
    return n


def default_out_dir(uri: str | None = None) -> str:
    """Where figures and reports go by default: ``outputs/`` beside a SQLite store's database
    (not in whatever folder ``mlflow run`` works in), else ``./outputs``."""
    import mlflow

    from nninfo.tracking.processes import sqlite_path

    db = sqlite_path(uri or mlflow.get_tracking_uri())
    return "outputs" if db is None else os.path.join(os.path.abspath(db.parent), "outputs")


_on_work: ContextVar[Callable[[], None] | None] = ContextVar("nninfo_on_work", default=None)


@contextlib.contextmanager
def on_work(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` when a step in this block finds work (:func:`say_todo`): an entry
    point creates its run there, so one with nothing to do leaves no run behind."""
    token = _on_work.set(callback)
    try:
        yield
    finally:
        _on_work.reset(token)


def say_todo(entry: str, n_units: int, n_runs: int, unit: str) -> None:
    """One line on stderr: how much work there is, or that there is none; with work, first
    the :func:`on_work` callback."""
    if n_units:
        callback = _on_work.get()
        if callback is not None:
            callback()
        print(f"{entry}: {n_units} {unit} job(s) for {n_runs} seed run(s)", file=sys.stderr)
    else:
        print(f"{entry}: nothing to do: every {unit} of the {n_runs} seed run(s) is already "
              "logged with these settings (force=true recomputes)", file=sys.stderr)


def fail_on(errors: list[str], what: str) -> None:
    if errors:
        raise PipelineError(f"{len(errors)} {what} job(s) failed:\n  " + "\n  ".join(errors))


SETTINGS_KEY_TAG = "nninfo.settings_key."


def done_steps(run, marker: str, what: str, key: str, force: bool) -> set[int]:
    """Steps of ``run`` whose results for ``what`` are logged (their ``marker`` metric is)
    with the current settings ``key``; none when forced or logged with other settings."""
    if force or run.data.tags.get(SETTINGS_KEY_TAG + what) != key:
        return set()
    return runs.logged_steps(run.info.run_id, marker)


def mark_done(run_ids: Iterable[str], whats: Iterable[str], key: str) -> None:
    """Record that ``whats`` of these runs are complete under settings ``key``."""
    whats = list(whats)
    for run_id in run_ids:
        runs.set_tags(run_id, {SETTINGS_KEY_TAG + what: key for what in whats})


class ArtifactWriteError(PipelineError, ValueError):
    """The artifact store refused a write; computed results were kept (see :class:`Logbook`).
    Also a ValueError: the command line shows it as one line, as other user errors."""


def unlogged_dir(run_id: str) -> Path:
    """Where :class:`Logbook` keeps a run's tables the artifact store refused:
    ``<work folder>/unlogged/<run id>`` (:func:`nninfo.folders.work_root`)."""
    from nninfo.folders import work_root

    return work_root() / "unlogged" / run_id


class Logbook:
    """Buffers finished units of work per run and logs them together: one artifact upload,
    then the metrics with every unit's marker metrics last, so that a marker present in the
    store means its unit is complete (what the skip-if-logged check relies on).

    When the artifact store refuses the upload (permissions, a full disk, a store error),
    nothing computed is thrown away: the tables are kept in :func:`unlogged_dir`, the metrics
    are logged all the same, and the book goes on logging; leaving the block then raises
    :class:`ArtifactWriteError` naming the run, the artifact and the folder. The next
    Logbook (a rerun) uploads the kept tables first; a rerun with the same settings does not
    recompute the units."""

    def __init__(self, is_marker: Callable[[str], bool], size: int = 32) -> None:
        self.is_marker, self.size = is_marker, size
        self.units: dict[str, list] = {}
        self.refused: list[str] = []

    def __enter__(self) -> Logbook:
        self._upload_kept()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        for run_id in list(self.units):
            self.flush(run_id)
        if self.refused and exc_type is None:
            raise ArtifactWriteError(
                "the artifact store refused to write " + "; ".join(self.refused)
                + ". The metrics are logged; the tables are kept locally and uploaded by the "
                "next run of this step once the store takes writes again")

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
            try:
                runs.client().log_artifacts(run_id, tmp)
            except Exception as err:  # the store's error: OSError, MlflowException, ...
                self._keep(run_id, Path(tmp), err)
        rows = sorted((row for _, unit_rows in units for row in unit_rows),
                      key=lambda row: self.is_marker(row[0]))
        runs.log_metrics(run_id, rows)

    def _keep(self, run_id: str, tmp: Path, err: Exception) -> None:
        """Keep the tables of a refused upload in :func:`unlogged_dir` (merged with earlier
        ones) and remember what to report."""
        import shutil

        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        keep = unlogged_dir(run_id)
        try:
            shutil.copytree(tmp, keep, dirs_exist_ok=True)
            kept = f"kept in {keep}"
        except OSError as local:
            kept = f"and could not be kept in {keep} either ({local})"
        first = files[0] if files else "(no tables)"
        reason = (str(err).strip().splitlines() or [""])[0]
        self.refused.append(f"run {run_id} artifact {first} ({len(files)} table(s); "
                            f"{type(err).__name__}: {reason}), {kept}")

    def _upload_kept(self) -> None:
        """Upload what an earlier Logbook kept (runs of this tracking store only); a folder
        stays while its upload fails."""
        import shutil

        root = unlogged_dir("x").parent
        if not root.is_dir():
            return
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            try:
                runs.client().get_run(folder.name)
            except Exception:  # noqa: BLE001 - a run of another store: not ours to upload
                continue
            try:
                runs.client().log_artifacts(folder.name, str(folder))
            except Exception as err:  # noqa: BLE001 - still refused: kept for the next run
                print(f"run {folder.name}: the tables kept in {folder} still cannot be "
                      f"uploaded ({type(err).__name__}: {err}); they stay there", file=sys.stderr)
                continue
            shutil.rmtree(folder, ignore_errors=True)
            print(f"run {folder.name}: uploaded the tables kept in {folder}", file=sys.stderr)


def before_any_run(steps: tuple[str, ...], cfg: ExperimentConfig, settings: Settings,
                    experiment: str) -> None:
    """What can fail without a run to show for it fails here, before any run is created:
    the store is created once, the executor settings (and, to train, the GPUs a CUDA device
    needs) are checked, the data is loaded; and runs of this experiment whose driver died
    are marked KILLED."""
    processes.ensure_store()
    check_executor(settings.executor, settings.workers, settings.scheduler)
    if "train" in steps:
        training_gpus(settings)
    if set(steps) & {"train", "analyze", "performance"}:
        task = load_experiment_task(cfg, settings.data_dir)
        if needs_task_check(cfg):  # a task that does not declare its splits and input shape
            check_against_task(cfg, task)
        check_target(cfg, task)  # the label code's width is known once the task is loaded
    for run_id in runs.mark_abandoned_runs(experiment):
        print(f"marked run {run_id} KILLED: the process that ran it is gone", file=sys.stderr)


def bound_to_training(cfg: ExperimentConfig, parent: str, entry: str) -> ExperimentConfig:
    """``cfg`` bound to training run ``parent``: what the run trained (task, network,
    training, seeds: :data:`~nninfo.config.spec.TRAINED_PARTS`) comes from the run's own
    config, the rest (name, analysis, performance, report) from ``cfg``. So the run's
    networks are never analysed as another network, on another split or with other seeds.
    Where ``cfg`` differs in the trained parts, one line on stderr names each field set aside
    (with both values); a ConfigError when ``cfg``'s analysis settings do not fit the
    run's network."""
    trained = runs.logged_config(parent, "training run")
    diffs = cfg.training_differences(trained)
    if not diffs:
        return cfg
    own = {k: v for k, v in cfg.to_dict().items() if k not in TRAINED_PARTS}
    try:
        bound = build_config({**trained.to_dict(), **own})
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"training run {parent}: this config's analysis, performance or "
                          f"report settings do not fit what the run trained: {err}") from None
    listed = "; ".join(f"{key}: {here!r} here, {there!r} in the run"
                       for key, here, there in diffs)
    print(f"nninfo {entry}: training run {parent} is used as it was trained; this config's "
          f"training settings are set aside ({listed}); its analysis, performance and report "
          "settings apply", file=sys.stderr)
    return bound

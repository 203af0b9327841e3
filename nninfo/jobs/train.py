"""Train one seed, or a group of seeds at once, into a work directory of checkpoint files.

Each checkpoint is followed by ``progress.json`` (the checkpoints and metric history so far),
both written atomically, so a killed job resumes from its latest checkpoint. About every
second the job also writes ``status.json`` (step, loss, time left), which the driver reads
to show and log progress while the job runs (:func:`read_status`).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from nninfo.config import ExperimentConfig
from nninfo.jobs.common import build_network, load_experiment_task, steps_per_epoch
from nninfo.training import Checkpoint, choose_step, train_batched, train_network
from nninfo.training.step_choice import batchable_network


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


_STATUS_FILE = "status.json"


@dataclass(frozen=True)
class TrainingStatus:
    """How far a seed's job got, as it last wrote it: ``elapsed_s`` of this attempt,
    ``eta_s`` the time left at its pace (None before the first step), ``loss`` the latest
    epoch's mean training loss (None before the first epoch)."""

    seed: int
    step: int
    last: int
    steps_per_epoch: int
    loss: float | None
    elapsed_s: float
    eta_s: float | None

    @property
    def epoch(self) -> float:
        return self.step / self.steps_per_epoch

    @property
    def epochs(self) -> float:
        return self.last / self.steps_per_epoch

    @property
    def done(self) -> bool:
        return self.step >= self.last


def read_status(workdir: str | Path) -> TrainingStatus | None:
    """The status the job training in ``workdir`` last wrote; None when there is none (not
    started, or the folder is gone)."""
    try:
        return TrainingStatus(**json.loads((Path(workdir) / _STATUS_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


class _SeedRecorder:
    """Writes one seed's checkpoints, ``progress.json`` and ``status.json`` into its work
    directory and picks up the progress of an earlier attempt there."""

    def __init__(self, workdir: str | Path, seed: int, steps_per_epoch: int) -> None:
        self.workdir, self.seed, self.steps_per_epoch = Path(workdir), seed, steps_per_epoch
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.checkpoints, self.history, self.resume = _resume_point(
            self.workdir, seed, steps_per_epoch)
        self._start: tuple[int, float] | None = None  # (step, time) of the first report

    def checkpoint(self, ck: Checkpoint) -> None:
        path = self.workdir / f"step_{ck.step:08d}.pt"
        _write_atomic(path, ck.save)
        self.checkpoints.append(CheckpointFile(len(self.checkpoints), ck.step, ck.epoch,
                                               str(path)))
        _write_progress(self.workdir, self.seed, self.steps_per_epoch, self.checkpoints,
                        self.history)

    def metrics(self, metrics: dict[str, float], step: int) -> None:
        self.history.append((step, dict(metrics)))

    def progress(self, step: int, last: int) -> None:
        """Write ``status.json``: the step, the latest epoch's loss, the time of this attempt
        so far and the time left at its pace."""
        now = time.monotonic()
        if self._start is None:
            self._start = (step, now)
        first, t0 = self._start
        eta = (now - t0) / (step - first) * (last - step) if step > first else None
        data = {"seed": self.seed, "step": step, "last": last,
                "steps_per_epoch": self.steps_per_epoch,
                "loss": self.history[-1][1].get("train_loss") if self.history else None,
                "elapsed_s": now - t0, "eta_s": eta}
        _write_atomic(self.workdir / _STATUS_FILE, lambda p: p.write_text(json.dumps(data)))

    def result(self) -> SeedTraining:
        return SeedTraining(self.seed, self.steps_per_epoch, self.checkpoints, self.history)


def train_seed(cfg: ExperimentConfig, seed: int, workdir: str | Path, *,
               data_dir: str | None = None, device: str | None = None) -> SeedTraining:
    """Train one seed, writing ``step_XXXXXXXX.pt`` checkpoints into ``workdir``.

    Each checkpoint is followed by ``progress.json`` (the checkpoints and metric history so
    far), both written atomically. When ``workdir`` already holds progress of an earlier
    attempt (a killed worker, a crashed driver), training resumes from its latest checkpoint
    and continues bit for bit as the uninterrupted run would; the earlier checkpoint files
    and history are kept. So running the same job twice, or concurrently, is safe.
    ``status.json`` there tells how far it got (:func:`read_status`). The step (numpy or
    autograd): :func:`~nninfo.training.step_choice.choose_step`'s.
    """
    train_split = load_experiment_task(cfg, data_dir)["train"]
    rec = _SeedRecorder(workdir, seed, steps_per_epoch(cfg, data_dir))
    net = build_network(cfg, seed)
    choice = choose_step(net, train_split.x, train_split.y, cfg.training, device)
    train_network(net, train_split.x, train_split.y, cfg.training, seed=seed,
                  on_checkpoint=rec.checkpoint, on_metrics=rec.metrics, device=device,
                  resume_from=rec.resume, progress=rec.progress, path=choice.path)
    return rec.result()


def batchable(cfg: ExperimentConfig) -> bool:
    """Whether several seeds can train at once as one batched model (all-linear layers, each
    seed initialised from its own seed), so that they are worth grouping into one job."""
    return batchable_network(cfg.network.layers, cfg.network.seed)


def train_seed_group(cfg: ExperimentConfig, seeds: list[int], workdirs: list[str | Path], *,
                     data_dir: str | None = None, device: str | None = None
                     ) -> list[SeedTraining]:
    """Train several seeds, each seed's numbers those of :func:`train_seed` (its own RNG
    streams), and so are its files in its work directory: as one batched model (on a GPU,
    each step a captured CUDA graph) or one seed after another, as
    :func:`~nninfo.training.step_choice.choose_step` picks."""
    train_split = load_experiment_task(cfg, data_dir)["train"]
    spe = steps_per_epoch(cfg, data_dir)
    recs = [_SeedRecorder(w, s, spe) for s, w in zip(seeds, workdirs, strict=True)]
    resume = [r.resume for r in recs]
    choice = choose_step(build_network(cfg, seeds[0]), train_split.x, train_split.y,
                         cfg.training, device, group=True, batchable=batchable(cfg),
                         resume_steps=[None if c is None else c.step for c in resume])
    if not choice.batched:
        return [train_seed(cfg, s, w, data_dir=data_dir, device=device)
                for s, w in zip(seeds, workdirs, strict=True)]
    train_batched(list(cfg.network.layers), train_split.x, train_split.y, cfg.training,
                  seeds=list(seeds), device=device,
                  on_checkpoint=lambda i, ck: recs[i].checkpoint(ck),
                  on_metrics=lambda i, m, step: recs[i].metrics(m, step),
                  resume_from=None if resume[0] is None else resume, init=cfg.network.init,
                  progress=lambda step, last: [r.progress(step, last) for r in recs],
                  graph=choice.graph, compiled=choice.compiled)
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


def train_work_dir(cfg: ExperimentConfig) -> Path:
    """Where seeds train: :func:`nninfo.folders.work_root` / experiment /
    hash of what training depends on (task, network, training, nninfo version).

    The same for every attempt, so a seed retried after its worker died, or trained again
    after the driver crashed, resumes from its last checkpoint there. On a cluster it must
    be a folder that the workers and the driver share. A seed's folder is removed once its
    run is logged.
    """

    import nninfo
    from nninfo.folders import work_root

    name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in cfg.name)
    return work_root() / name / cfg.training_key(nninfo.__version__)

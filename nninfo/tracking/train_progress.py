"""Training progress while seeds train: one plain line per seed every few seconds (epoch /
total, loss, time left) and the live ``training/epoch`` metric, read from the status files
that the training jobs write into their work folders."""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from pathlib import Path

from nninfo.jobs import train as training
from nninfo.tracking import runs

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

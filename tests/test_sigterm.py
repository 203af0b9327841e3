"""SIGTERM (a batch scheduler's stop) or Ctrl-C of a training driver with a process pool, with
real processes: the workers stop within seconds, the driver exits promptly with status 1,
the runs end KILLED and the last checkpoint of each seed stays resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nninfo import results
from nninfo.config import build_config
from nninfo.jobs.train import _resume_point, read_status, train_work_dir
from nninfo.training import Checkpoint
from tests.helpers import tishby_layers

RAW = {
    "name": "stopped",
    "seeds": 2,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4, levels=4)},
    # far more than the test waits: about 10 minutes of training per seed
    "training": {"lr": 0.1, "loss": "bce", "epochs": 50000, "checkpoint_count": 30},
    "analysis": {"dataset": "all", "layers": ["L1"], "measures": ["shannon"]},
}
EXIT_S = 20.0  # signal -> driver gone
WORKERS_GONE_S = 5.0  # driver gone -> no worker left


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie (exited; its new parent reaps it)."""
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def _pool_workers(pid: int) -> list[int]:
    """The multiprocessing workers among the children of ``pid`` (not its resource tracker)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    workers = []
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            workers.append(child)
    return workers


def _steps(dirs: list[Path]) -> list[int]:
    statuses = [read_status(d) for d in dirs]
    return [-1 if s is None else s.step for s in statuses]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_stopping_the_driver_stops_its_workers(mlflow_store, tmp_path, monkeypatch, how):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(RAW))
    monkeypatch.setenv("NNINFO_WORK_DIR", str(tmp_path / "work"))
    env = dict(os.environ)
    dirs = [train_work_dir(build_config(RAW)) / f"seed_{s}" for s in (0, 1)]
    cmd = [sys.executable, "-m", "nninfo.cli", "train", "--config", str(config),
           "--no-progress", "--workers", "2"]
    # a session of its own: Ctrl-C in a terminal reaches the whole foreground process group
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    workers: list[int] = []
    try:
        # both seeds train, each in a worker of the pool
        _wait_for(lambda: driver.poll() is not None or min(_steps(dirs)) > 0, 180,
                  "both workers training")
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        workers = _pool_workers(driver.pid)
        assert len(workers) == 2, workers

        start = time.monotonic()
        if how == "sigterm":
            driver.send_signal(signal.SIGTERM)
        else:
            os.killpg(driver.pid, signal.SIGINT)
        _, err = driver.communicate(timeout=EXIT_S)
        exited = time.monotonic() - start
        _wait_for(lambda: all(_gone(pid) for pid in workers), WORKERS_GONE_S, "workers gone")
        stopped = time.monotonic() - start
        print(f"{how}: driver exited after {exited:.2f} s, last worker gone after "
              f"{stopped:.2f} s")
        assert driver.returncode == 1, err[-3000:]
        assert "Aborted!" in err and "Traceback" not in err, err[-3000:]

        # nothing writes to the work folders any more
        before = [sorted(p.name for p in d.iterdir()) for d in dirs], _steps(dirs)
        time.sleep(1.5)
        assert ([sorted(p.name for p in d.iterdir()) for d in dirs], _steps(dirs)) == before
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate(timeout=30)
        for pid in workers:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)

    statuses = results.list_runs("stopped")
    assert len(statuses) == 3 and set(statuses.status) == {"KILLED"}, statuses

    # each seed resumes from its last checkpoint: progress.json names it and it loads
    spe = json.loads((dirs[0] / "progress.json").read_text())["steps_per_epoch"]
    for seed, folder in enumerate(dirs):
        checkpoints, history, resume = _resume_point(folder, seed, spe)
        assert resume is not None and resume.step == checkpoints[-1].step > 0
        assert Checkpoint.load(checkpoints[-1].path).step == resume.step
        assert history and history[-1][0] <= resume.step

"""Failure behaviour, as a hostile user meets it: SIGTERM and kill -9 of the driver, dead
drivers' runs, workers outliving their driver, two runs of one experiment at once, an
incomplete training run, settings that cannot run. Real subprocesses where it matters."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from nninfo import results
from nninfo.cli import main
from nninfo.config import build_config
from nninfo.tracking import runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from tests.helpers import tishby_layers

RAW = {
    "name": "hostile",
    "seeds": 2,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4, levels=4)},
    "training": {"lr": 0.1, "loss": "bce", "epochs": 2, "checkpoint_count": 3},
    "analysis": {"dataset": "all", "layers": ["L1"], "measures": ["shannon"]},
    "performance": {"datasets": ["test"]},
}
SETTINGS = Settings(workers=1, progress=False)


def _config(tmp_path: Path, **training) -> Path:
    raw = {**RAW, "training": {**RAW["training"], **training}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _cli(entry: str, config: Path, *args: str, env: dict | None = None,
         cwd: Path | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "nninfo.cli", entry, "--config", str(config),
           "--no-progress", *args]
    return subprocess.Popen(cmd, env=env or dict(os.environ), cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.2)


def _statuses(experiment: str = "hostile") -> dict[str, str]:
    if MlflowClient().get_experiment_by_name(experiment) is None:
        return {}
    table = results.list_runs(experiment)
    return dict(zip(table.run_id, table.status, strict=True)) if not table.empty else {}


def _seeds_running() -> bool:
    if MlflowClient().get_experiment_by_name("hostile") is None:
        return False
    table = results.list_runs("hostile")
    return not table.empty and ((table.role == "seed") & (table.status == "RUNNING")).any()


@pytest.mark.slow
def test_sigterm_of_the_driver_leaves_every_run_killed(mlflow_store, tmp_path):
    proc = _cli("train", _config(tmp_path, epochs=5000), "--workers", "1")
    _wait_for(_seeds_running)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    statuses = _statuses()
    assert statuses and set(statuses.values()) == {"KILLED"}, (statuses, err[-3000:])


@pytest.mark.slow
def test_runs_of_a_driver_killed_hard_are_marked_killed_on_the_next_start(mlflow_store,
                                                                          tmp_path):
    config = _config(tmp_path, epochs=5000)
    proc = _cli("train", config, "--workers", "1")
    _wait_for(_seeds_running)
    proc.kill()
    proc.wait(timeout=60)
    assert "RUNNING" in _statuses().values()

    # the next start marks them, and analyze refuses the incomplete training run by name
    res = CliRunner().invoke(main, ["analyze", "--config", str(config), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert "incomplete: 0 of 2 seeds FINISHED" in res.output and "Traceback" not in res.output
    statuses = _statuses()
    assert set(statuses.values()) == {"KILLED"}, statuses
    note = MlflowClient().get_run(next(iter(statuses))).data.tags["mlflow.note.content"]
    assert "is gone" in note


def _sleep_and_report(pid_dir: str, i: int) -> int:
    Path(pid_dir, f"{os.getpid()}.pid").touch()
    time.sleep(120)
    return i


DRIVER = """
import sys
from nninfo.executors import run_jobs
from tests.test_failures import _sleep_and_report
jobs = [(i, _sleep_and_report, (sys.argv[1], i), {}) for i in range(2)]
for _ in run_jobs(jobs, workers=2):
    pass
"""


@pytest.mark.slow
def test_pool_workers_exit_when_their_driver_is_killed(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo))
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], env=env, cwd=repo)
    _wait_for(lambda: len(list(tmp_path.glob("*.pid"))) == 2, timeout=120)
    workers = [int(p.stem) for p in tmp_path.glob("*.pid")]
    driver.kill()
    driver.wait(timeout=30)

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") >= 0

    _wait_for(lambda: all(gone(pid) for pid in workers), timeout=15)


@pytest.mark.slow
def test_two_runs_of_one_experiment_at_once_both_finish(tmp_path):
    """The issue's case: two ``mlflow run`` of one project started together in one folder,
    with no store yet (both create ./mlflow.db at once) and one work folder."""
    repo = Path(__file__).resolve().parents[1]
    tmp_path = tmp_path / "fresh"  # no store yet (tmp_path has the test's migrated one)
    project = tmp_path / "projects" / "tishby_demo"
    shutil.copytree(repo / "projects" / "tishby_demo", project)
    shutil.copy(repo / "conda.yaml", tmp_path / "conda.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(NNINFO_WORK_DIR=str(tmp_path / "work"), NNINFO_CACHE_DIR=str(tmp_path / "c"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    # the race is in the store and the work folder: the cheapest analysis will do (the
    # project's PID and its surrogates at every layer would only add minutes of computing)
    cmd = [sys.executable, "-m", "mlflow", "run", str(project), "--env-manager", "local",
           "-P", "seeds=2", "-P", "epochs=20", "-P", "checkpoints=4", "-P", "workers=1",
           "-P", "set=analysis.measures=[shannon];analysis.surrogates={mi: 0, pid: 0}"]
    procs = [subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tishby_demo")
    parents = client.search_runs([exp.experiment_id], "tags.`nninfo.role` = 'entry'")
    assert len(parents) == 2 and {p.info.status for p in parents} == {"FINISHED"}
    for parent in parents:
        seeds = client.search_runs(
            [exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        assert len(seeds) == 2 and {s.info.status for s in seeds} == {"FINISHED"}
        for seed in seeds:
            steps = {m.step for m in client.get_metric_history(seed.info.run_id,
                                                                "L3/mutual_information")}
            assert len(steps) == 4, "every checkpoint analysed"
    assert not list((tmp_path / "work").rglob("*.pt")), "work folders removed once logged"


STORE_MAKER = """
import sys, time
from pathlib import Path
from mlflow.tracking import MlflowClient
Path(sys.argv[2]).touch()  # ready
while not Path(sys.argv[3]).exists():
    pass
MlflowClient(sys.argv[1]).search_experiments()
"""


@pytest.mark.slow
def test_processes_creating_one_new_sqlite_store_at_once_all_succeed(tmp_path):
    """Without nninfo's store plugin (a file lock around MLflow's migrations) every one of
    these processes but at most one dies in the migration; this is what ``mlflow run``'s
    launcher does first, before any nninfo code runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    fresh = tmp_path / "fresh"  # (tmp_path has the test's migrated store)
    fresh.mkdir()
    uri, go = f"sqlite:///{fresh / 'mlflow.db'}", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", STORE_MAKER, uri,
                               str(tmp_path / f"ready{i}"), str(go)], env=env,
                              stderr=subprocess.PIPE, text=True) for i in range(6)]
    _wait_for(lambda: len(list(tmp_path.glob("ready*"))) == 6)
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]


def test_the_newest_training_run_must_be_complete(mlflow_store):
    cfg = build_config(RAW)
    older = run_entry("train", ("train",), cfg, SETTINGS, "hostile")
    newer = run_entry("train", ("train",), cfg, SETTINGS, "hostile")
    runs.client().set_terminated(runs.seed_runs(newer)[1].info.run_id, "FAILED")
    name = runs.client().get_run(newer).info.run_name  # the parent's name, as the UI shows
    with pytest.raises(ValueError, match=f"newest training run '{re.escape(name)}' "
                                         f"\\({newer}\\) is incomplete: 1 of 2 seeds FINISHED"):
        run_entry("analyze", ("analyze",), cfg, SETTINGS, "hostile")
    # named explicitly, an older complete run (or the incomplete one) is used
    run_entry("analyze", ("analyze",), cfg, SETTINGS, "hostile", train_run=older)
    assert set(results.load_summary(train_run=older).seed) == {0, 1}


def test_nothing_to_do_is_said(mlflow_store, capsys):
    cfg = build_config(RAW)
    run_entry("main", ("train", "analyze"), cfg, SETTINGS, "hostile")
    capsys.readouterr()
    run_entry("analyze", ("analyze",), cfg, SETTINGS, "hostile")
    assert "analyze: nothing to do" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, message", [
    (["--train-run", "0123456789abcdef"], "--train-run: '0123456789abcdef' is not a run"),
    (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:{port}"],
     "--scheduler: no Dask scheduler answers at 'tcp://127.0.0.1:{port}'"),
    (["--scheduler", "tcp://127.0.0.1:{port}"], "--scheduler: 'tcp://127.0.0.1:{port}' needs "
                                                "--executor dask"),
])
def test_settings_that_cannot_run_fail_before_any_run(mlflow_store, tmp_path, args, message):
    port = _free_port()
    args = [a.format(port=port) for a in args]
    res = CliRunner().invoke(main, ["analyze", "--config", str(_config(tmp_path)), *args])
    assert res.exit_code == 2, res.output
    assert message.format(port=port) in res.output and "Traceback" not in res.output
    assert _statuses() == {}, "no run created"


def test_missing_data_fails_before_any_run(mlflow_store, tmp_path):
    raw = {**RAW, "task": {"name": "mnist"},
           "network": {"layers": [{"type": "linear", "in_features": 784, "out_features": 10,
                                   "activation": "tanh"}]},
           "training": {"epochs": 1},
           "analysis": {"layers": ["L1"], "measures": ["shannon"], "n_bins": 8}}
    with pytest.raises(FileNotFoundError):
        run_entry("train", ("train",), build_config(raw), Settings(
            data_dir=str(tmp_path / "empty"), workers=1, progress=False), "hostile")
    assert _statuses() == {}


def test_reading_results_never_creates_a_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    import mlflow

    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    (tmp_path / "mlflow.db").unlink()  # conftest's copy: this folder has no store now
    for args in (["runs"], ["runs", "hostile"]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and "tracking store: sqlite:///mlflow.db does not exist" \
            in res.output, res.output
    with pytest.raises(ValueError, match="does not exist"):
        results.load_summary("hostile")
    assert not (tmp_path / "mlflow.db").exists()


def test_runs_of_an_unknown_experiment_is_an_error(mlflow_store):
    res = CliRunner().invoke(main, ["runs", "nosuch"])
    assert res.exit_code == 2 and "experiment: 'nosuch' is not in the tracking store" \
        in res.output


def test_seed_runs_carry_one_param_per_setting(mlflow_store):
    parent = run_entry("train", ("train",), build_config(RAW), SETTINGS, "hostile")
    params = runs.seed_runs(parent)[0].data.params
    assert params["seed"] == "0" and not any(k.startswith("seeds.") for k in params)

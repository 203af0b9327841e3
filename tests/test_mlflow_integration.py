"""MLflow as users meet it: ``mlflow run`` on a project, and a tracking server's REST API."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from nninfo import results
from nninfo.tracking import runs

REPO = Path(__file__).resolve().parents[1]


def _env(uri: str) -> dict[str, str]:
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        env.pop(var, None)
    return env


def _project_copy(project: str) -> Path:
    """A copy of the project in this test's working directory (a temporary folder), so that
    what ``mlflow run`` writes beside the project (artifacts, outputs) stays out of the repo."""
    dst = Path.cwd() / project
    if not dst.exists():
        shutil.copytree(REPO / project, dst)
        shutil.copy(REPO / "conda.yaml", dst.parents[1] / "conda.yaml")
    return dst


def _mlflow_run(uri: str, *params: str, project: str = "projects/tishby_demo", entry="main"):
    cmd = [sys.executable, "-m", "mlflow", "run", str(_project_copy(project)), "--env-manager",
           "local", "-e", entry]
    for p in params:
        cmd += ["-P", p]
    return subprocess.run(cmd, env=_env(uri), capture_output=True, text=True, timeout=600)


def test_mlflow_run_tishby_demo_end_to_end(mlflow_store):
    proc = _mlflow_run(mlflow_store, "seeds=1", "epochs=1", "checkpoints=3", "workers=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = results.load_summary("tishby_demo")
    assert set(summary.layer) == {"L2", "L3", "L4"}
    assert summary["pid.representational_complexity"].between(1, 4).all()
    assert summary.epoch.iloc[0] == 0 and summary.epoch.max() == pytest.approx(1.0)
    # the launcher run (Default experiment) finished and points at the results
    launcher = MlflowClient().search_runs(["0"])[0]
    assert launcher.info.status == "FINISHED"
    assert "tishby_demo" in launcher.data.tags["mlflow.note.content"]
    # the UI's first view: the parent's name and the experiment's description, as mlflow ran it
    parent = MlflowClient().get_run(runs.find_parent("tishby_demo"))
    assert parent.info.run_name == \
        "tishby_demo · 1 seed · lr 0.01 · epochs 1 · checkpoint_count 3"
    for key in (runs.SOURCE_NAME, runs.SOURCE_TYPE, runs.USER):  # the project, as mlflow's own
        assert parent.data.tags[key] == launcher.data.tags[key]
    assert parent.data.tags[runs.SOURCE_TYPE] == "PROJECT"
    described = MlflowClient().get_experiment(parent.info.experiment_id).tags[runs.NOTE]
    assert described.startswith("tishby_demo: The 12-bit task of Shwartz-Ziv & Tishby (2017)")
    # re-running analyze finds everything logged and logs nothing twice
    seed_run = summary.run_id.iloc[0]
    before = len(MlflowClient().get_metric_history(seed_run, "L3/mutual_information"))
    again = _mlflow_run(mlflow_store, entry="analyze")
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(MlflowClient().get_metric_history(seed_run, "L3/mutual_information")) == before
    assert before == summary.step.nunique()


def test_mlflow_run_with_a_bad_parameter_fails_cleanly(mlflow_store):
    proc = _mlflow_run(mlflow_store, "seeds=-3")
    assert proc.returncode != 0
    assert "seeds: -3 is not valid" in proc.stderr
    assert "Traceback" not in proc.stderr.split("mlflow.exceptions")[0]
    statuses = {r.info.status for r in MlflowClient().search_runs(["0"])}
    assert statuses == {"FAILED"}
    assert MlflowClient().get_experiment_by_name("tishby_demo") is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rest(base: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture
def mlflow_server(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base + "/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start within 90 s")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_results_through_a_tracking_server_and_its_rest_api(mlflow_server, monkeypatch):
    import mlflow

    from tests.test_pipeline import TINY, _run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    parent = _run("main", ("train", "analyze", "performance"))
    summary = results.load_summary("tiny")
    assert len(summary) == TINY["seeds"] * 4

    # what the UI does: search runs, then fetch metric histories over REST
    exp = _rest(mlflow_server, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny")
    exp_id = exp["experiment"]["experiment_id"]
    found = _rest(mlflow_server, "/api/2.0/mlflow/runs/search",
                  {"experiment_ids": [exp_id],
                   "filter": f"tags.mlflow.parentRunId = '{parent}'"})
    seed_runs = found["runs"]
    assert len(seed_runs) == 2
    for run in seed_runs:
        rid = run["info"]["run_id"]
        hist = _rest(mlflow_server, "/api/2.0/mlflow/metrics/get-history?run_id="
                     f"{rid}&metric_key=L2/mutual_information")["metrics"]
        expected = summary[summary.run_id == rid].set_index("step").mutual_information
        assert {m["step"]: m["value"] for m in hist} == pytest.approx(expected.to_dict())

"""Scale out without losing or duplicating results: crash-resumed training, jobs of dead
workers run again, and a Dask cluster with a killed worker against a PostgreSQL-backed MLflow
tracking server (``scaleout`` marker; ``.ci/run`` starts the services).
"""

from __future__ import annotations

import copy
import os
import signal
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import torch

from nninfo import results
from nninfo.config import build_config
from nninfo.executors import gpu_count, run_jobs
from nninfo.jobs import analyze
from nninfo.jobs import train as experiment
from nninfo.tracking import pipeline, runs
from nninfo.tracking import train as tracking_train
from nninfo.tracking.checkpoints import checkpoint_index
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import PipelineError, Settings
from nninfo.tracking.runs import seed_runs
from nninfo.training import Checkpoint

SMALL = {
    "name": "scaleout",
    "seeds": 2,
    "task": {"name": "tishby"},
    "network": {"layers": [
        {"type": "linear", "in_features": 12, "out_features": 4, "activation": "tanh",
         "quantizer": {"levels": 8, "mode": "stochastic"}},
        {"type": "linear", "in_features": 4, "out_features": 3, "activation": "tanh",
         "quantizer": {"levels": 8, "mode": "stochastic"}},
        {"type": "linear", "in_features": 3, "out_features": 1, "activation": "sigmoid"},
    ]},
    "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64, "epochs": 2,
                 "checkpoint_schedule": "log_steps", "checkpoint_count": 4},
    "analysis": {"dataset": "all", "layers": ["L1", "L2"], "measures": ["pid", "shannon"]},
}
SERIAL = Settings(workers=1, progress=False)


def _crash_after(n_checkpoints: int):
    """A stand-in for the training loop that dies right after its n-th checkpoint was saved,
    and a record of the checkpoint each call resumed from."""
    real = experiment.train_network
    resumed: list[int | None] = []

    def train(*args, on_checkpoint, resume_from=None, **kw):
        resumed.append(None if resume_from is None else resume_from.step)
        seen = []

        def hook(ck):
            on_checkpoint(ck)
            seen.append(ck.step)
            if len(resumed) == 1 and len(seen) == n_checkpoints:
                raise RuntimeError("worker died")

        return real(*args, on_checkpoint=hook, resume_from=resume_from, **kw)

    return train, resumed


def _weights(path: str) -> dict[str, torch.Tensor]:
    return Checkpoint.load(path).model_state


def test_a_resumed_seed_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    cfg = build_config(SMALL)
    clean = experiment.train_seed(cfg, 1, tmp_path / "clean")
    crashing, resumed = _crash_after(2)
    monkeypatch.setattr(experiment, "train_network", crashing)
    with pytest.raises(RuntimeError, match="worker died"):
        experiment.train_seed(cfg, 1, tmp_path / "crashed")
    again = experiment.train_seed(cfg, 1, tmp_path / "crashed")

    assert resumed == [None, clean.checkpoints[1].step], "second attempt resumed, not restarted"
    assert [(c.chapter, c.step, c.epoch) for c in again.checkpoints] == \
        [(c.chapter, c.step, c.epoch) for c in clean.checkpoints]
    assert again.history == clean.history
    for a, b in zip(again.checkpoints, clean.checkpoints, strict=True):
        wa, wb = _weights(a.path), _weights(b.path)
        assert all(torch.equal(wa[k], wb[k]) for k in wb), f"weights differ at step {b.step}"
    # a finished seed is not trained again
    assert experiment.train_seed(cfg, 1, tmp_path / "crashed").history == clean.history
    assert resumed[-1] == clean.checkpoints[-1].step


def test_progress_of_another_seed_is_refused(tmp_path):
    cfg = build_config({**SMALL, "training": {**SMALL["training"], "epochs": 0.1}})
    experiment.train_seed(cfg, 0, tmp_path)
    with pytest.raises(ValueError, match="workdir: .* seed 0 .* not seed 1"):
        experiment.train_seed(cfg, 1, tmp_path)


def test_training_again_after_a_driver_crash_resumes_the_seed(mlflow_store, monkeypatch,
                                                               tmp_path):
    cfg = build_config(SMALL)
    crashing, resumed = _crash_after(3)
    monkeypatch.setattr(experiment, "train_network", crashing)
    monkeypatch.setattr(experiment, "batchable", lambda cfg: False)  # the single-seed loop
    with pytest.raises(PipelineError, match="worker died"):
        run_entry("train", ("train",), cfg, SERIAL, "crash")
    work = experiment.train_work_dir(cfg)
    assert (work / "seed_0" / "progress.json").is_file()
    parent = run_entry("train", ("train",), cfg, SERIAL, "crash")
    third = checkpoint_index(seed_runs(parent)[0].info.run_id)[2]["step"]
    # seeds 0, 1 (seed 0 dies after its third checkpoint); then seed 0 resumes there, and
    # seed 1, logged the first time, trains afresh for its new run
    assert resumed == [None, None, third, None]
    assert not any(work.glob("seed_*")), "work folders are removed once logged"

    monkeypatch.setenv("NNINFO_WORK_DIR", str(tmp_path / "fresh"))
    reference = run_entry("train", ("train",), cfg, SERIAL, "reference")
    for got, want in zip(seed_runs(parent), seed_runs(reference), strict=True):
        for key in ("train_running/loss", "train_running/accuracy", "epoch"):
            hist = [(m.step, m.value) for m in runs.client().get_metric_history(
                got.info.run_id, key)]
            ref = [(m.step, m.value) for m in runs.client().get_metric_history(
                want.info.run_id, key)]
            assert hist and sorted(hist) == sorted(ref), key
        assert checkpoint_index(got.info.run_id) == checkpoint_index(want.info.run_id)


# ------------------------------------------------------------------ jobs of dead workers

def _square_or_die(x: int, marker: str) -> int:
    """Kills its own process the first time it sees ``marker`` missing."""
    if x == 3 and not os.path.exists(marker):
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return x * x


@pytest.mark.slow  # spawns worker processes twice (each imports torch)
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_job_whose_worker_died_runs_again_and_ends_once(executor, tmp_path):
    if executor == "dask":
        pytest.importorskip("distributed")
    marker = str(tmp_path / "died")
    jobs = [(x, _square_or_die, (x, marker), {}) for x in range(8)]
    outcomes = list(run_jobs(jobs, executor=executor, workers=2))
    assert os.path.exists(marker), "a worker was killed"
    assert sorted(o.key for o in outcomes) == list(range(8))
    assert all(o.error is None and o.value == o.key ** 2 for o in outcomes)


def test_bad_executor_arguments_name_the_field():
    with pytest.raises(ValueError, match="executor: 'spark'"):
        list(run_jobs([], executor="spark"))
    with pytest.raises(ValueError, match="workers: -2"):
        list(run_jobs([], workers=-2))
    with pytest.raises(ValueError, match="scheduler: 'tcp://x:1' needs --executor dask"):
        list(run_jobs([], scheduler="tcp://x:1"))


# ------------------------------------------------- GPU workers (pretended on the CPU)

def _gpu_probe():
    """A job returning its key, the GPU its Dask worker sees and the worker's GPU resource;
    made here, so that it travels by value (workers need not import this test module)."""
    def probe(x: int) -> tuple[int, str | None, float]:
        import os
        import time

        import distributed

        time.sleep(0.3)  # long enough for both workers to take jobs
        state = distributed.get_worker().state
        resources = getattr(state, "total_resources", None) or state.available_resources
        return x, os.environ.get("CUDA_VISIBLE_DEVICES"), resources.get("GPU", 0)

    return probe


@pytest.mark.slow  # starts a Dask cluster of worker processes
def test_dask_gpu_workers_each_see_their_own_gpu():
    pytest.importorskip("distributed")
    jobs = [(x, _gpu_probe(), (x,), {}) for x in range(6)]
    outcomes = list(run_jobs(jobs, executor="dask", workers=2, gpus=True))
    assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
    assert sorted(o.key for o in outcomes) == list(range(6)), "each result exactly once"
    assert all(o.value[0] == o.key for o in outcomes)
    assert {o.value[1] for o in outcomes} == {"0", "1"}
    assert all(o.value[2] == 1 for o in outcomes), "every job ran on a worker with GPU=1"


@pytest.mark.slow  # starts Dask clusters
def test_gpu_count_sums_the_gpu_resources_of_the_dask_workers():
    distributed = pytest.importorskip("distributed")
    options = {"n_workers": 2, "threads_per_worker": 1, "processes": False,
               "protocol": "tcp://", "dashboard_address": None}
    with distributed.LocalCluster(**options, resources={"GPU": 1}) as cluster:
        assert gpu_count("dask", None, cluster.scheduler_address) == 2
    with distributed.LocalCluster(**options) as cluster:
        assert gpu_count("dask", None, cluster.scheduler_address) == 0
    assert gpu_count("dask", 3, "tcp://127.0.0.1:1") == 3, "--workers counts as given"


def _pretend_gpus(monkeypatch, n: int) -> None:
    monkeypatch.setattr(pipeline, "gpu_count", lambda *args: n)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)


@pytest.mark.parametrize("executor, device, expected", [
    ("local", "cuda", ["cuda:0", "cuda:1", "cuda:2"]),
    ("local", None, ["cuda:0", "cuda:1", "cuda:2"]),
    ("local", "cuda:1", ["cuda:1"] * 3),
    ("dask", "cuda", ["cuda"] * 3),
])
def test_seed_groups_go_one_per_gpu(monkeypatch, tmp_path, executor, device, expected):
    _pretend_gpus(monkeypatch, 3)
    cfg = build_config({**SMALL, "seeds": 20})
    settings = Settings(device=device, executor=executor, workers=8, progress=False)
    dirs = {s: tmp_path / f"seed_{s}" for s in cfg.seeds}
    gpus = pipeline.training_gpus(settings)
    jobs = tracking_train._training_jobs(cfg, settings, dirs, gpus)
    assert gpus == 3 and len(jobs) == 3
    assert sorted(s for key, *_ in jobs for s in key) == list(cfg.seeds), "each seed once"
    assert [kwargs["device"] for *_, kwargs in jobs] == expected


def test_seed_groups_on_the_cpu_go_one_per_worker(monkeypatch, tmp_path):
    _pretend_gpus(monkeypatch, 3)
    cfg = build_config({**SMALL, "seeds": 20})
    settings = Settings(device="cpu", workers=8, progress=False)
    assert pipeline.training_gpus(settings) == 0
    jobs = tracking_train._training_jobs(cfg, settings, {s: tmp_path for s in cfg.seeds})
    assert len(jobs) == 8 and {kwargs["device"] for *_, kwargs in jobs} == {"cpu"}


def test_a_cuda_device_without_gpus_fails_before_any_run(monkeypatch):
    _pretend_gpus(monkeypatch, 0)
    on_dask = Settings(device="cuda", executor="dask", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="--device: 'cuda' with --executor dask .* no Dask "
                                         "worker offers a GPU resource; .*--resources GPU=1"):
        pipeline.training_gpus(on_dask)
    assert pipeline.training_gpus(Settings(executor="dask", scheduler="tcp://127.0.0.1:1")) \
        == 0, "an automatic device trains as on the CPU when no worker has a GPU"
    with pytest.raises(ValueError, match="--device: 'cuda:0' with --executor local .* no CUDA"):
        run_entry("train", ("train",), build_config(SMALL),
                  Settings(device="cuda:0", workers=1, progress=False), "no-gpu")
    assert runs.client().get_experiment_by_name("no-gpu") is None, "no run created"


# --------------------------------------------- Dask cluster + PostgreSQL tracking server

@pytest.fixture
def tracking_server(monkeypatch) -> str:
    """The PostgreSQL-backed ``mlflow server`` that ``.ci/run`` started."""
    import mlflow

    uri = os.environ.get("NNINFO_SCALEOUT_TRACKING_URI")
    if not uri:
        if os.environ.get("NNINFO_REQUIRE_SCALEOUT") == "1":
            pytest.fail("NNINFO_REQUIRE_SCALEOUT=1 but NNINFO_SCALEOUT_TRACKING_URI is unset")
        pytest.skip("no tracking server: set NNINFO_SCALEOUT_TRACKING_URI (see .ci/run)")
    deadline = time.time() + 300  # .ci/run starts it while the test extra installs
    while True:
        try:
            urllib.request.urlopen(uri + "/health", timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                pytest.fail(f"tracking server {uri} did not answer /health")
            time.sleep(2)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return uri


class _KillDuringAnalysis:
    """Wraps the driver's hand-over of analysis results to its logbook: once ``after``
    results arrived, SIGKILL the worker process that is running an analysis task then."""

    def __init__(self, client, after: int, real):
        self.client, self.after, self.real = client, after, real
        self.logged, self.killed = 0, None

    def __call__(self, *args, **kwargs):
        self.real(*args, **kwargs)
        self.logged += 1
        if self.killed is None and self.logged >= self.after:
            self.killed = self._kill_busy_worker()

    def _kill_busy_worker(self):
        def busy(dask_scheduler):
            return sorted({ts.processing_on.address for ts in dask_scheduler.tasks.values()
                           if ts.state == "processing" and ts.processing_on is not None
                           and str(ts.key).startswith("analyze_checkpoint")})

        addresses = self.client.run_on_scheduler(busy)
        if not addresses:
            return None  # try again after the next result
        pid = self.client.run(os.getpid, workers=addresses[:1])[addresses[0]]
        os.kill(pid, signal.SIGKILL)
        return pid


@pytest.mark.scaleout
def test_dask_cluster_with_a_killed_worker_logs_every_result_exactly_once(tracking_server,
                                                                          monkeypatch):
    distributed = pytest.importorskip("distributed")
    raw = copy.deepcopy(SMALL)
    raw["name"] = f"scaleout-{uuid.uuid4().hex[:8]}"
    cfg = build_config(raw)
    layers = raw["analysis"]["layers"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        killer = _KillDuringAnalysis(client, after=3, real=pipeline.Logbook.add)
        monkeypatch.setattr(pipeline.Logbook, "add",
                            lambda book, *args, **kwargs: killer(book, *args, **kwargs))
        settings = Settings(executor="dask", workers=2, scheduler=cluster.scheduler_address,
                            progress=False)
        parent = run_entry("main", ("train", "analyze"), cfg, settings, raw["name"])
        n_jobs = len(cfg.seeds) * raw["training"]["checkpoint_count"] * len(layers)
        assert killer.killed is not None, "a worker was killed while analysing"
        assert 3 <= killer.logged == n_jobs

    assert runs.client().get_run(parent).info.status == "FINISHED"
    seeds = seed_runs(parent, finished=True)
    assert len(seeds) == len(cfg.seeds)
    expected = {(r.info.run_id, ck["step"], layer) for r in seeds
                for ck in checkpoint_index(r.info.run_id) for layer in layers}
    assert len(expected) == n_jobs

    summary = results.load_summary(train_run=parent)
    got = list(zip(summary.run_id, summary.step, summary.layer, strict=True))
    assert sorted(got) == sorted(expected), "each (run, checkpoint, layer) exactly once"
    for run in seeds:
        for layer in layers:
            steps = [m.step for m in runs.client().get_metric_history(
                run.info.run_id, f"{layer}/mutual_information")]
            assert sorted(steps) == sorted({s for r, s, _ in expected
                                            if r == run.info.run_id}), "no duplicate values"

    # a logged value equals the same analysis run here, in-process
    row = summary.iloc[-1]
    artifact = next(ck["artifact"] for ck in checkpoint_index(row.run_id)
                    if ck["step"] == row.step)
    path = runs.client().download_artifacts(row.run_id, artifact, str(Path.cwd()))
    direct = analyze.analyze_checkpoint(cfg, path, [row.layer])
    assert row.mutual_information == pytest.approx(
        direct.measures[f"{row.layer}/mutual_information"], abs=1e-12)

"""Training as a user watches it: progress lines on stderr and the metric ``training/epoch``
while seeds train (in this process and in pool workers), none with progress off; the
logged training dataset's true shape; each seed's final network as an MLflow PyTorch model
that loads in a fresh process and gives the last checkpoint's outputs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from nninfo.config import build_config
from nninfo.jobs import build_network, load_checkpoint_network, load_experiment_task
from nninfo.jobs.train import TrainingStatus, read_status
from nninfo.tracking import checkpoints, seed_outputs, train_progress
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from nninfo.tracking.runs import seed_runs
from nninfo.tracking.train_progress import PROGRESS_METRIC, progress_line
from nninfo.training import TrainConfig, train_batched, train_network
from nninfo.training import common as training_common
from tests.helpers import tishby_layers

RAW = {
    "name": "watched",
    "seeds": 2,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4, levels=4)},
    "training": {"lr": 0.1, "loss": "bce", "epochs": 40, "checkpoint_count": 3},
    "analysis": {"dataset": "all", "layers": ["L1"], "measures": ["shannon"]},
    "performance": {"datasets": ["test"]},
}
LINE = re.compile(r"seed (?P<seed>\d+): epoch (?P<epoch>[\d.]+)/(?P<total>[\d.]+)"
                  r"(?:, loss (?P<loss>[\d.e+-]+))?"
                  r"(?:, (?P<left>\d[\w ]*) left"
                  r"|, trained in (?P<took>[\w ]+) \((?P<k>\d+)/2 seeds\))?$", re.MULTILINE)


def _train(epochs: float, progress: bool, **settings) -> list[str]:
    raw = {**RAW, "training": {**RAW["training"], "epochs": epochs}}
    parent = run_entry("train", ("train",), build_config(raw),
                       Settings(workers=1, progress=progress, **settings), RAW["name"])
    return [r.info.run_id for r in seed_runs(parent)]


def _lines(text: str) -> list[re.Match]:
    return list(LINE.finditer(text.replace("\r", "\n")))


# --------------------------------------------------------------------------- the loops


def test_the_loops_report_progress_from_their_first_to_their_last_step(monkeypatch):
    monkeypatch.setattr(training_common, "PROGRESS_EVERY", 0.0)  # every clock reading reports
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 12, generator=g)
    y = (x[:, 0] > 0).long()
    cfg = TrainConfig(lr=0.1, loss="bce", batch_size=16, epochs=3, checkpoint_count=3)
    calls, ckpts = [], []
    train_network(build_network(build_config(RAW), 0), x, y, cfg, seed=0,
                  on_checkpoint=ckpts.append,
                  progress=lambda step, last: calls.append((step, last)))
    assert calls[0] == (0, 21) and calls[-1] == (21, 21)
    assert [s for s, _ in calls] == sorted(s for s, _ in calls) and len(calls) > 3
    resumed = []
    train_network(build_network(build_config(RAW), 0), x, y, cfg, seed=0,
                  on_checkpoint=lambda c: None, resume_from=ckpts[1],
                  progress=lambda step, last: resumed.append(step))
    assert resumed[0] == ckpts[1].step and resumed[-1] == 21
    both = []
    train_batched(tishby_layers(4, levels=4), x, y, cfg, seeds=[0, 1],
                  on_checkpoint=lambda i, c: None, progress=lambda s, last: both.append(s))
    assert both[0] == 0 and both[-1] == 21 and len(both) > 3


def test_without_a_callback_the_loop_never_reads_the_clock(monkeypatch):
    def tick(self):
        raise AssertionError("clock read without a progress callback")

    x = torch.randn(64, 12)
    cfg = TrainConfig(lr=0.1, loss="bce", batch_size=16, epochs=2, checkpoint_count=2)
    monkeypatch.setattr(training_common.LiveRun, "_tick", tick)
    train_network(build_network(build_config(RAW), 0), x, (x[:, 0] > 0).long(), cfg, seed=0,
                  on_checkpoint=lambda c: None)


def test_progress_lines_say_epoch_total_loss_and_time():
    status = TrainingStatus(seed=3, step=5280, last=44000, steps_per_epoch=44, loss=0.41234,
                            elapsed_s=2.0, eta_s=14.4)
    assert progress_line(status) == "seed 3: epoch 120/1000, loss 0.4123, 14 s left"
    mid = TrainingStatus(3, 5301, 44000, 44, None, 2.0, 200.0)
    assert progress_line(mid) == "seed 3: epoch 120.4/1000, 3 min 20 s left"
    start = TrainingStatus(3, 0, 44000, 44, None, 0.0, None)
    assert progress_line(start) == "seed 3: epoch 0/1000"
    done = TrainingStatus(3, 44000, 44000, 44, 0.052, 3725.0, 0.0)
    assert (progress_line(done, (4, 10))
            == "seed 3: epoch 1000/1000, loss 0.052, trained in 1 h 02 min (4/10 seeds)")


def test_on_a_terminal_a_line_clears_the_job_bar_and_the_bar_comes_back(monkeypatch):
    import io

    from tqdm import tqdm

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with tqdm(total=2, desc="train seed groups", file=term, mininterval=0) as bar:
        train_progress._say("seed 0: epoch 5/10")
        bar.update(1)
    out = term.getvalue()
    before, after = out.split("seed 0: epoch 5/10\n")
    assert before.rstrip(" ").endswith("\r") and "train seed groups" in after


# --------------------------------------------------------------------- the train entry


def test_training_shows_progress_lines_and_logs_the_epoch_metric(mlflow_store, capsys,
                                                                 monkeypatch):
    monkeypatch.setenv("NNINFO_PROGRESS_EVERY", "0")  # a line for every new status
    monkeypatch.setattr(train_progress, "POLL_EVERY", 0.02)
    monkeypatch.setattr(training_common, "PROGRESS_EVERY", 0.05)
    run_ids = _train(epochs=150, progress=True)
    lines = _lines(capsys.readouterr().err)
    for seed, run_id in enumerate(run_ids):
        mine = [m for m in lines if m["seed"] == str(seed)]
        assert mine and mine[0]["epoch"] == "0" and all(m["total"] == "150" for m in mine)
        assert mine[-1]["took"] and mine[-1]["epoch"] == "150"
        during = [m for m in mine[:-1] if m["loss"] and m["left"]]
        assert during, f"no progress line while seed {seed} trained: {mine}"
        assert [float(m["epoch"]) for m in mine] == sorted(float(m["epoch"]) for m in mine)
        history = MlflowClient().get_metric_history(run_id, PROGRESS_METRIC)
        values = [m.value for m in sorted(history, key=lambda m: m.step)]
        assert values[-1] == 150 and any(0 < v < 150 for v in values), values
    assert sorted(int(m["k"]) for m in lines if m["k"]) == [1, 2]


def test_no_progress_lines_when_progress_is_off(mlflow_store, capsys):
    run_ids = _train(epochs=5, progress=False)
    err = capsys.readouterr().err
    assert not _lines(err) and "train seed groups" not in err
    for run_id in run_ids:  # the metric is still logged: the UI shows how far a seed got
        assert MlflowClient().get_run(run_id).data.metrics[PROGRESS_METRIC] == 5


def test_the_job_writes_its_status_and_the_driver_reads_it(tmp_path):
    from nninfo.jobs.train import train_seed

    cfg = build_config({**RAW, "training": {**RAW["training"], "epochs": 2}})
    assert read_status(tmp_path / "nothing") is None
    train_seed(cfg, 0, tmp_path / "seed_0")
    status = read_status(tmp_path / "seed_0")
    assert status.done and status.epoch == status.epochs == 2 and status.loss > 0


@pytest.mark.slow
def test_progress_lines_stream_from_pool_workers_as_plain_lines(tmp_path):
    """The default executor (a spawned pool), stderr a pipe: lines arrive while the workers
    train, every line a whole plain line."""
    raw = {**RAW, "training": {**RAW["training"], "epochs": 1000, "checkpoint_count": 3}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "NNINFO_PROGRESS_EVERY": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nninfo.cli", "train", "--config", str(config), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    arrivals = []
    for line in proc.stderr:
        arrivals.append((time.monotonic(), line))
    assert proc.wait(timeout=300) == 0, "".join(line for _, line in arrivals)
    seen = [(t, m) for t, line in arrivals for m in [LINE.search(line)] if m]
    assert {m["seed"] for _, m in seen} == {"0", "1"}
    for seed in ("0", "1"):
        mine = [(t, m) for t, m in seen if m["seed"] == seed]
        assert mine[-1][1]["took"], mine
        assert any(m["loss"] and m["left"] for _, m in mine[:-1]), [m[0] for _, m in mine]
        gaps = [b - a for (a, _), (b, _) in zip(mine, mine[1:], strict=False)]
        assert max(gaps) < 10, gaps  # moves every few seconds
    for _, line in arrivals:  # our lines end their line and hold no carriage return
        if LINE.search(line):
            assert "\r" not in line[line.index("seed "):], repr(line)


# ------------------------------------------------------------- dataset and final model


def test_the_logged_dataset_has_the_splits_true_shape(mlflow_store):
    import json

    (run_id, _) = _train(epochs=1, progress=False)
    (dataset,) = [d.dataset for d in MlflowClient().get_run(run_id).inputs.dataset_inputs]
    profile, schema = json.loads(dataset.profile), json.loads(dataset.schema)
    assert profile["features_shape"] == [2796, 12] and profile["targets_shape"] == [2796]
    spec = json.loads(schema["mlflow_tensorspec"]["features"])[0]["tensor-spec"]
    assert spec["shape"] == [-1, 12]
    from mlflow.data.digest_utils import compute_numpy_digest

    data = load_experiment_task(build_config(RAW))["train"]
    assert dataset.digest == compute_numpy_digest(data.x.numpy(), data.labels.numpy())
    images = np.random.default_rng(0).random((900, 1, 28, 28), dtype=np.float32)
    labels = np.arange(900) % 10  # MLflow's digest, without its copy of the whole array
    assert seed_outputs.numpy_digest(images, labels) == compute_numpy_digest(images, labels)


def test_the_final_model_loads_in_a_fresh_process_and_matches_the_last_checkpoint(
        mlflow_store, tmp_path):
    run_ids = _train(epochs=3, progress=False)
    cfg = build_config({**RAW, "training": {**RAW["training"], "epochs": 3}})
    x = load_experiment_task(cfg)["test"].x
    np.save(tmp_path / "x.npy", x.numpy())
    script = textwrap.dedent("""
        import sys
        import mlflow, numpy as np, torch
        run_id, folder = sys.argv[1], sys.argv[2]
        net = mlflow.pytorch.load_model(f"runs:/{run_id}/model")
        x = torch.from_numpy(np.load(f"{folder}/x.npy"))
        with torch.no_grad():
            np.save(f"{folder}/out.npy", net(x).numpy())
        print(mlflow.register_model(f"runs:/{run_id}/model", "watched-seed").version)
    """)
    elsewhere = tmp_path / "elsewhere"  # not the repository: nninfo comes from site-packages
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", script, run_ids[1], str(tmp_path)], env=env,
                         cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[-1] == "1"  # registered as version 1
    index = checkpoints.checkpoint_index(run_ids[1])
    last = max(index, key=lambda e: e["step"])
    net = load_checkpoint_network(cfg, checkpoints.download_checkpoint(run_ids[1], last))
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)

    (model,) = MlflowClient().search_logged_models(
        experiment_ids=[MlflowClient().get_run(run_ids[1]).info.experiment_id],
        filter_string=f"source_run_id = '{run_ids[1]}'")
    assert model.name == "model" and model.tags["seed"] == "1"
    assert model.params["training.lr"] == "0.1"
    assert {m.key for m in model.metrics} >= {"train_running/loss", PROGRESS_METRIC}
    requirements = Path(mlflow.artifacts.download_artifacts(
        f"{model.artifact_location}/requirements.txt", dst_path=str(tmp_path))).read_text()
    assert "nninfo==" in requirements and "torch==" in requirements

"""nninfo.probe.lightning.NninfoProbe: a Lightning callback that probes the trained module and
logs under the run of the trainer's MLFlowLogger, in that logger's store."""

from __future__ import annotations

import signal
import subprocess
import sys

import lightning.pytorch as L
import mlflow
import pytest
import torch
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.tracking import MlflowClient
from torch import nn

from nninfo import results
from nninfo.probe import Layer
from nninfo.probe.lightning import NninfoProbe

RC = "h1/pid.representational_complexity"
ANALYSIS = {"measures": ["pid"], "surrogates": {"mi": 0, "pid": 0}}


class Tiny(L.LightningModule):
    """4 -> 4 (tanh) -> 3; ``fail_at``: raise this exception at that global step; ``switch``:
    point the global MLflow tracking URI elsewhere in every training step."""

    def __init__(self, fail_at: tuple[int, BaseException] | None = None,
                 switch: str | None = None) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 3))
        self.fail_at, self.switch = fail_at, switch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        if self.fail_at is not None and self.trainer.global_step == self.fail_at[0]:
            raise self.fail_at[1]
        if self.switch is not None:
            mlflow.set_tracking_uri(self.switch)
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


def samples() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def fit(callback: NninfoProbe, uri: str, module: Tiny | None = None, **trainer) -> MLFlowLogger:
    """3 epochs of 4 batches of 50 on CPU, logged by an MLFlowLogger to ``uri``."""
    torch.manual_seed(0)
    x, y = samples()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=50,
                                         shuffle=True)
    logger = MLFlowLogger(experiment_name="lightning", tracking_uri=uri)
    options = {"max_epochs": 3, "accelerator": "cpu", "enable_progress_bar": False,
               "enable_checkpointing": False, "enable_model_summary": False,
               "log_every_n_steps": 1, **trainer}
    L.Trainer(logger=logger, callbacks=[callback], **options).fit(module or Tiny(), loader)
    return logger


def history(run_id: str, key: str, uri: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in MlflowClient(uri).get_metric_history(run_id, key)]


def test_scheduled_steps_under_the_loggers_run(mlflow_store):
    probe = NninfoProbe(samples(), {"h1": Layer("net.1", n_bins=4)}, analysis=ANALYSIS,
                        schedule=[0, 2, 4, 8, 12, 99])
    logger = fit(probe, mlflow_store)
    c = MlflowClient(mlflow_store)
    runs = probe.probe.runs
    seed_run, parent = c.get_run(runs.seed_run), c.get_run(runs.parent)
    assert seed_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert parent.data.tags["mlflow.parentRunId"] == logger.run_id
    assert {r.info.status for r in (seed_run, parent, c.get_run(logger.run_id))} == {"FINISHED"}
    assert [s for s, _ in history(runs.seed_run, RC, mlflow_store)] == [0, 2, 4, 8, 12]
    assert history(runs.seed_run, "epoch", mlflow_store) == \
        [(0, 0.0), (2, 0.5), (4, 1.0), (8, 2.0), (12, 3.0)]
    summary = results.load_summary(train_run=runs.parent)
    assert summary["step"].tolist() == [0, 2, 4, 8, 12]
    assert summary["pid.representational_complexity"].between(1.0, 4.0).all()


def test_every_epoch_in_the_loggers_own_store(mlflow_store, tmp_path):
    """The logger keeps its runs in another store than the global URI, which the training
    step even points elsewhere: the probe logs beside the logger's runs, and leaves the global
    URI as it found it. Gradient accumulation: each epoch end is measured once."""
    other = f"sqlite:///{tmp_path / 'lightning.db'}"
    MlflowClient(other).search_experiments()  # create the store (migrations) before fit
    probe = NninfoProbe(samples(), {"h1": Layer("1", n_bins=4)}, module="net",
                        analysis=ANALYSIS)
    logger = fit(probe, other, Tiny(switch=mlflow_store), accumulate_grad_batches=2)
    assert mlflow.get_tracking_uri() == mlflow_store
    runs = probe.probe.runs
    c = MlflowClient(other)
    assert c.get_run(runs.parent).data.tags["mlflow.parentRunId"] == logger.run_id
    assert history(runs.seed_run, "epoch", other) == \
        [(0, 0.0), (2, 1.0), (4, 2.0), (6, 3.0)]
    assert [s for s, _ in history(runs.seed_run, RC, other)] == [0, 2, 4, 6]
    assert {c.get_run(r).info.status for r in (runs.seed_run, runs.parent)} == {"FINISHED"}
    assert MlflowClient(mlflow_store).search_runs(
        [e.experiment_id for e in MlflowClient(mlflow_store).search_experiments()]) == []


def test_training_unchanged(mlflow_store):
    """The same weights with the callback as without, its data a shuffling DataLoader."""
    data = torch.utils.data.TensorDataset(*samples())
    probe = NninfoProbe(torch.utils.data.DataLoader(data, batch_size=64, shuffle=True),
                        {"h1": Layer("net.1", n_bins=4)}, analysis=ANALYSIS,
                        schedule=[0, 1, 5, 11])
    trained = []
    for callbacks in ([], [probe]):
        torch.manual_seed(0)
        module = Tiny()
        loader = torch.utils.data.DataLoader(data, batch_size=50, shuffle=True)
        L.Trainer(max_epochs=3, accelerator="cpu", enable_progress_bar=False,
                  enable_checkpointing=False, enable_model_summary=False, logger=False,
                  callbacks=callbacks).fit(module, loader)
        trained.append(module.state_dict())
    for key, tensor in trained[0].items():
        assert torch.equal(trained[1][key], tensor), key
    assert [s for s, _ in history(probe.probe.runs.seed_run, RC, mlflow_store)] == [0, 1, 5, 11]


@pytest.mark.parametrize("error, status", [(RuntimeError("boom"), "FAILED"),
                                           (KeyboardInterrupt(), "KILLED")])
def test_runs_end_failed_or_killed(mlflow_store, error, status):
    probe = NninfoProbe(samples(), {"h1": Layer("net.1", n_bins=4)}, analysis=ANALYSIS,
                        schedule=[0, 2, 8])
    sigint = signal.getsignal(signal.SIGINT)  # Lightning ignores Ctrl-C after an interrupt
    try:
        with pytest.raises(RuntimeError if status == "FAILED" else SystemExit):
            fit(probe, mlflow_store, Tiny(fail_at=(5, error)))
    finally:
        signal.signal(signal.SIGINT, sigint)
    runs = probe.probe.runs
    c = MlflowClient(mlflow_store)
    assert {c.get_run(r).info.status for r in (runs.seed_run, runs.parent)} == {status}
    assert [s for s, _ in history(runs.seed_run, RC, mlflow_store)] == [0, 2]


def test_bad_arguments():
    with pytest.raises(ValueError, match="not both"):
        NninfoProbe(samples(), ["net.1"], schedule=[0], every_n_epochs=1)
    with pytest.raises(ValueError, match="every_n_epochs"):
        NninfoProbe(samples(), ["net.1"], every_n_epochs=0)


def test_nninfo_probe_imports_without_lightning():
    code = ("import sys; sys.modules['lightning'] = None\n"
            "import nninfo.probe\n"
            "try:\n    import nninfo.probe.lightning\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'nninfo[lightning]'" in out

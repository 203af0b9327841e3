"""``nninfo analyze-model``: a PyTorch model already in MLflow (runs:/, models:/, a local
folder) probed from the command line, its results in a probe run linked to the model's run."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from nninfo import cli
from nninfo.tracking import probe_runs, runs

MEASURES = "analysis.measures=[pid,shannon];analysis.surrogates={mi: 0, pid: 0}"
CODING = ["--layers", "hidden=1,out=3", "--levels", "4", "--set", MEASURES]


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 3), nn.Tanh(), nn.Linear(3, 2), nn.Sigmoid())


def _log_model(experiment: str = "models") -> str:
    """A run of ``experiment`` that logged a small PyTorch model (pickled, as nninfo logs
    its own); returns the run id."""
    mlflow.set_experiment(experiment)
    logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)  # pickle warning
    with mlflow.start_run() as run:
        mlflow.pytorch.log_model(_model(), name="model", serialization_format="pickle",
                                 pip_requirements=["torch"])
    return run.info.run_id


def _npz(tmp_path: Path, n: int = 300) -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 12)).astype(np.float32)
    np.savez(tmp_path / "samples.npz", x=x, labels=(x[:, 0] > 0).astype(np.int64))
    return str(tmp_path / "samples.npz")


def _invoke(*args: str):
    return CliRunner().invoke(cli.main, ["analyze-model", *args])


def _probe_run(model_run: str | None = None):
    found = [r for e in runs.client().search_experiments()
             for r in runs.client().search_runs([e.experiment_id],
                                                f"tags.`{runs.ENTRY}` = 'probe'")]
    assert len(found) == 1, found
    return found[0]


def _statuses() -> set[str]:
    c = runs.client()
    return {r.info.status for e in c.search_experiments()
            for r in c.search_runs([e.experiment_id])}


def _check_results(probe) -> dict[str, float]:
    seed = runs.seed_runs(probe.info.run_id)
    assert len(seed) == 1
    metrics = seed[0].data.metrics
    for layer in ("hidden", "out"):
        assert 0 < metrics[f"{layer}/pid.representational_complexity"] <= 3
        assert f"{layer}/shannon.avg_degree_redundancy" in metrics
    assert _statuses() == {"FINISHED"}
    return metrics


def test_runs_uri_logs_to_a_probe_run_under_the_model_run():
    model_run = _log_model()
    result = _invoke(f"runs:/{model_run}/model", "--data", "tishby:test", *CODING,
                     "--step", "5", "--epoch", "2.5")
    assert result.exit_code == 0, result.output
    probe = _probe_run()
    assert probe.data.tags[runs.PARENT] == model_run
    assert probe.data.tags[probe_runs.MODEL_RUN] == model_run
    assert probe.info.experiment_id == runs.client().get_run(model_run).info.experiment_id
    metrics = _check_results(probe)
    history = runs.client().get_metric_history(runs.seed_runs(probe.info.run_id)[0].info.run_id,
                                               "epoch")
    assert [(m.step, m.value) for m in history] == [(5, 2.5)] and metrics["epoch"] == 2.5
    assert f"tracking URI {runs.shown_uri()}" in result.output
    assert "mlflow ui --backend-store-uri" in result.output
    report = Path(result.stdout.strip().splitlines()[-1].removeprefix("report: "))
    assert report.name == "report.html" and report.is_file()


def test_registered_version_links_its_source_run_in_another_experiment(tmp_path):
    model_run = _log_model()
    mlflow.register_model(f"runs:/{model_run}/model", "tiny")
    result = _invoke("models:/tiny/1", "--data", _npz(tmp_path), *CODING,
                     "--experiment", "probes")
    assert result.exit_code == 0, result.output
    probe = _probe_run()
    assert runs.client().get_experiment(probe.info.experiment_id).name == "probes"
    assert runs.PARENT not in probe.data.tags  # another experiment: linked, not nested
    assert probe.data.tags[probe_runs.MODEL_RUN] == model_run
    _check_results(probe)


def test_local_model_folder_links_the_run_its_mlmodel_names(tmp_path):
    model_run = _log_model()
    folder = mlflow.artifacts.download_artifacts(f"runs:/{model_run}/model",
                                                 dst_path=str(tmp_path / "copy"))
    result = _invoke(folder, "--data", _npz(tmp_path), *CODING)
    assert result.exit_code == 0, result.output
    probe = _probe_run()
    assert probe.data.tags[probe_runs.MODEL_RUN] == model_run
    _check_results(probe)


def test_local_folder_without_a_run_goes_to_the_probe_experiment(tmp_path):
    logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
    mlflow.pytorch.save_model(_model(), str(tmp_path / "saved"),
                              serialization_format="pickle", pip_requirements=["torch"])
    result = _invoke(str(tmp_path / "saved"), "--data", _npz(tmp_path), *CODING)
    assert result.exit_code == 0, result.output
    probe = _probe_run()
    assert runs.client().get_experiment(probe.info.experiment_id).name == \
        probe_runs.DEFAULT_EXPERIMENT
    assert probe_runs.MODEL_RUN not in probe.data.tags
    _check_results(probe)


def test_under_mlflow_run_the_launcher_s_experiment_and_a_note(tmp_path, monkeypatch):
    """mlflow run -e analyze_model --experiment-name launch: the probe goes to that
    experiment, and mlflow run's own run notes where."""
    model_run = _log_model()
    launcher = runs.client().create_run(runs.experiment_id("launch")).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", launcher)
    result = _invoke(f"runs:/{model_run}/model", "--data", _npz(tmp_path), *CODING)
    assert result.exit_code == 0, result.output
    runs.client().set_terminated(launcher)  # what mlflow run does after the command
    probe = _probe_run()
    assert runs.client().get_experiment(probe.info.experiment_id).name == "launch"
    assert probe.data.tags[probe_runs.MODEL_RUN] == model_run
    tags = runs.client().get_run(launcher).data.tags
    assert tags["nninfo.redirected_to"] == probe.info.run_id
    assert probe.info.run_id in tags[runs.NOTE]
    _check_results(probe)


@pytest.mark.parametrize("uri", ["runs:/nosuchrun/model", "runs:/{run}/nomodel",
                                 "models:/nosuch/1", "models:/tiny/7", "models:/tiny/latest",
                                 "s3://bucket/model", "no/such/folder", "runs:/{run}"])
def test_a_uri_that_does_not_resolve_is_one_line_naming_it(uri, tmp_path):
    model_run = _log_model()
    mlflow.register_model(f"runs:/{model_run}/model", "tiny")
    uri = uri.format(run=model_run)
    result = _invoke(uri, "--data", _npz(tmp_path), *CODING)
    assert result.exit_code == 2, result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "Traceback" not in result.output
    assert f"model URI {uri!r}" in error[0] and "runs:/<run id>/<artifact path>" in error[0]
    assert _statuses() == {"FINISHED"}  # the model's run only: no probe run was made
    assert not [r for r in runs.client().search_runs(["0", "1"]) if
                r.data.tags.get(runs.ENTRY) == "probe"]


def test_a_pt2_model_is_refused_before_loading(tmp_path):
    """MLflow 3's default format (torch.export) keeps no modules to hook."""
    mlflow.set_experiment("models")
    x = np.zeros((2, 12), dtype=np.float32)
    with mlflow.start_run() as run:
        mlflow.pytorch.log_model(_model(), name="model", input_example=x,
                                 serialization_format="pt2", pip_requirements=["torch"])
    result = _invoke(f"runs:/{run.info.run_id}/model", "--data", _npz(tmp_path), *CODING)
    assert result.exit_code == 2, result.output
    assert "pt2 format" in result.output and "serialization_format='pickle'" in result.output
    assert _statuses() == {"FINISHED"}


@pytest.mark.parametrize("args, words", [
    (["--layers", "hidden=9", "--levels", "4"], "'9' is not a module path"),
    (["--layers", "nosuch", "--levels", "4"], "'nosuch' is not a module path"),
    (["--layers", "1"], "--levels N"),                              # no coding
    (["--layers", "1", "--levels", "4", "--limits", "1"], "--limits"),
    (["--layers", "0", "--levels", "4"], "no bounded range"),       # a Linear, no limits
    (["--layers", "1", "--levels", "4", "--set", "training.lr=1"], "--set"),
    (["--layers", "1", "--levels", "4", "--data", "nosuch.npz"], "--data"),
    (["--layers", "1", "--levels", "4", "--data", "mnist"], "TASK:SPLIT"),
    (["--layers", "1", "--levels", "4", "--data", "xor:test,n_test=64"], "forward pass"),
])
def test_bad_options_are_one_line_before_any_run(args, words, tmp_path):
    model_run = _log_model()
    argv = [f"runs:/{model_run}/model", *args]
    if "--data" not in args:
        argv += ["--data", _npz(tmp_path)]
    result = _invoke(*argv)
    assert result.exit_code == 2, result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and words in error[0], result.output
    assert len(runs.client().search_runs(
        [runs.client().get_run(model_run).info.experiment_id])) == 1  # the model's run only


def test_a_failure_while_measuring_ends_the_probe_runs_failed(tmp_path, monkeypatch):
    model_run = _log_model()

    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(probe_runs.ProbeRuns, "log", broken)
    result = _invoke(f"runs:/{model_run}/model", "--data", _npz(tmp_path), *CODING)
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    probe = _probe_run()
    assert probe.info.status == "FAILED"
    assert runs.seed_runs(probe.info.run_id)[0].info.status == "FAILED"
    assert runs.client().get_run(model_run).info.status == "FINISHED"


def test_a_missing_store_is_an_error_and_creates_none(tmp_path, monkeypatch):
    folder = tmp_path / "empty"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    result = _invoke("runs:/abc/model", "--data", _npz(tmp_path), *CODING)
    assert result.exit_code == 2 and "sqlite:///mlflow.db does not exist" in result.output
    assert not any(folder.iterdir())


# ---------------------------------------------------------------------- the MLflow evaluator
def test_mlflow_evaluate_with_the_nninfo_evaluator_logs_to_the_evaluation_run():
    from mlflow.models.evaluation.base import list_evaluators

    assert "nninfo" in list_evaluators(), ("entry point mlflow.model_evaluator:nninfo is not "
                                           "installed: pip install -e .")
    model_run = _log_model()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    config = {"layers": {"hidden": "1", "out": {"module": "3", "n_bins": 5}}, "levels": 4,
              "analysis": {"measures": ["pid", "shannon"], "surrogates": {"mi": 0, "pid": 0}},
              "step": 3, "report": False}
    mlflow.set_experiment("evals")
    with mlflow.start_run() as run:
        result = mlflow.models.evaluate(f"runs:/{model_run}/model", x, targets=y,
                                        model_type="classifier", evaluators="nninfo",
                                        evaluator_config=config)
    assert 0 < result.metrics["hidden/pid.representational_complexity"] <= 3
    assert "out/shannon.avg_degree_redundancy" in result.metrics
    logged = runs.client().get_run(run.info.run_id).data.metrics
    assert logged["hidden/pid.representational_complexity"] == \
        result.metrics["hidden/pid.representational_complexity"]
    probe = _probe_run()
    assert probe.data.tags[runs.PARENT] == run.info.run_id  # nested under the evaluation
    assert probe.data.tags[probe_runs.MODEL_RUN] == model_run
    assert result.artifacts["nninfo_probe"].content["probe_run"] == probe.info.run_id
    assert "4 levels" in result.artifacts["nninfo_probe"].content["layers"]["hidden"]
    assert "5 bins" in result.artifacts["nninfo_probe"].content["layers"]["out"]
    _check_results(probe)


def test_the_evaluator_runs_only_when_asked_and_reshapes_rows():
    from nninfo.probe.evaluator import NninfoEvaluator, inputs

    assert not NninfoEvaluator.can_evaluate(model_type="classifier", evaluator_config={})
    assert NninfoEvaluator.can_evaluate(model_type="classifier",
                                        evaluator_config={"layers": ["fc"]})
    rows = np.arange(24, dtype=np.float64).reshape(2, 12)
    assert inputs(rows, (3, 2, 2), None).shape == (2, 3, 2, 2)
    assert inputs(rows, None, None).dtype == np.float32
    with pytest.raises(ValueError, match="input_shape"):
        inputs(rows, (5, 5), None)


def test_the_evaluator_needs_a_torch_module():
    from nninfo.probe.evaluator import torch_module

    class Pyfunc:  # what MLflow hands an evaluator: a pyfunc whose raw model is not torch
        def get_raw_model(self):
            return {"weights": [1, 2]}

    with pytest.raises(ValueError, match="not only predictions"):
        torch_module(None)
    with pytest.raises(ValueError, match="gives dict: log it with mlflow.pytorch.log_model"):
        torch_module(Pyfunc())
    with pytest.raises(ValueError, match="env_manager='local'"):
        torch_module(object())  # a served model: no python object
    module = _model()
    assert torch_module(type("P", (), {"get_raw_model": lambda self: module})()) is module


def test_analysis_file_and_set(tmp_path, capsys):
    from nninfo.probe.model_uri import read_analysis

    config = tmp_path / "config.yaml"
    config.write_text("name: x\nanalysis:\n  layers: [L2]\n  dataset: train\n  n_bins: 8\n")
    assert read_analysis(str(config), ["analysis.surrogates.mi=0;analysis.measures=[shannon]"]
                         ) == {"n_bins": 8, "surrogates": {"mi": 0}, "measures": ["shannon"]}
    assert "analysis.layers and dataset not used" in capsys.readouterr().err
    (tmp_path / "section.yaml").write_text("n_bins: 4\nmeasures: [pid]\n")
    assert read_analysis(str(tmp_path / "section.yaml")) == {"n_bins": 4, "measures": ["pid"]}
    (tmp_path / "bad.yaml").write_text("[1, 2\n")
    for path, words in ((tmp_path / "bad.yaml", "is not YAML"),
                        (tmp_path / "none.yaml", "cannot read")):
        with pytest.raises(ValueError, match=f"--analysis: .*{words}"):
            read_analysis(str(path))
    with pytest.raises(ValueError, match="analysis.KEY=VALUE"):
        read_analysis(None, ["n_bins=4"])


def test_resolve_finds_the_run_of_an_alias_and_a_logged_model_id():
    from nninfo.probe.model_uri import resolve

    model_run = _log_model()
    version = mlflow.register_model(f"runs:/{model_run}/model", "tiny")
    runs.client().set_registered_model_alias("tiny", "champion", version.version)
    logged = runs.client().get_run(model_run).outputs.model_outputs[0].model_id
    for uri in ("models:/tiny@champion", f"models:/{logged}", "models:/tiny/1",
                f"runs:/{model_run}/model"):
        source = resolve(uri)
        assert source.run_id == model_run and source.model_data == "data", uri

"""projects/custom_model: a plain PyTorch CNN trained on MNIST with mlflow.pytorch and measured
by nninfo.probe at log-spaced epochs; its quick setting end to end on generated MNIST files."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest

from nninfo import results
from nninfo.testing import write_mnist
from nninfo.tracking import runs

PROJECT = Path(__file__).resolve().parents[1] / "projects" / "custom_model"


def _train_module():
    """projects/custom_model/train.py, imported by path."""
    spec = importlib.util.spec_from_file_location("custom_model_train", PROJECT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train():
    return _train_module()


def test_quick_setting_trains_logs_the_model_and_probes_at_log_spaced_epochs(train, tmp_path):
    import mlflow

    write_mnist(tmp_path / "data", n_train=600, n_test=200, seed=0)
    run_id = train.main(["--quick", "true", "--data-dir", str(tmp_path / "data")])

    c = runs.client()
    run = c.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["settings.quick"] == "true"
    assert run.data.params["settings.epochs"] == "3"
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        assert [m.step for m in c.get_metric_history(run_id, key)] == [1, 2, 3], key
    models = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id],
                                         filter_string=f"source_run_id = '{run_id}'",
                                         output_format="list")
    assert [m.name for m in models] == ["model"]

    # one probe run (an nninfo run, child of the training run) with its seed run
    children = c.search_runs([run.info.experiment_id],
                             f"tags.mlflow.parentRunId = '{run_id}'")
    assert [r.info.run_name for r in children] == ["probe"]
    probe = children[0]
    assert probe.info.status == "FINISHED"
    assert probe.data.tags["nninfo.model_run"] == run_id

    summary = results.load_summary(train_run=probe.info.run_id)
    # log-spaced whole epochs 0..3 (quick: at most 4 checkpoints), as optimizer steps
    steps_per_epoch = -(-600 // 64)  # batches of 64
    expected = [e * steps_per_epoch for e in (0, 1, 2, 3)]
    wide = summary[summary.layer.isin(["conv2", "fc1"]) & (summary.grouping == "neurons")]
    narrow = summary[summary.layer.isin(["fc2", "fc3"]) & (summary.grouping == "subsets5")]
    for frame, column in ((wide, "shannon.avg_degree_redundancy"),
                          (narrow, "pid.representational_complexity")):
        measured = frame.dropna(subset=[column])
        assert set(frame.layer) == set(measured.layer)
        for layer, part in frame.groupby("layer"):
            assert sorted(part.step) == expected, layer
            assert part[column].notna().sum() >= 2, (layer, column)
    assert wide["pid.representational_complexity"].isna().all()  # each grouping's measures
    assert narrow["shannon.avg_degree_redundancy"].isna().all()
    assert sorted(set(summary.epoch)) == [0.0, 1.0, 2.0, 3.0]

    # the report: outputs/<experiment>/<probe run name>-<run id[:8]>/ beside the SQLite store
    assert Path("outputs", "custom_model", f"probe-{probe.info.run_id[:8]}",
                "report.html").is_file()
    assert "report.html" in {a.path for a in c.list_artifacts(probe.info.run_id)}


def test_missing_data_fails_fast_naming_the_parameter(train, tmp_path, capsys):
    with pytest.raises(SystemExit, match="-P data_dir="):
        train.main(["--quick", "true", "--data-dir", str(tmp_path / "nowhere")])
    assert not runs.client().search_runs(
        [e.experiment_id for e in runs.client().search_experiments()])


def test_missing_data_dir_names_the_parameter(train, monkeypatch):
    monkeypatch.delenv("NNINFO_DATA_DIR", raising=False)
    with pytest.raises(SystemExit, match="-P data_dir="):
        train.main(["--quick", "true"])


def test_mlproject_command_reaches_train_py_arguments(train, tmp_path):
    """The main entry point, as mlflow renders it (defaults, or every parameter set), runs
    ``python train.py`` with arguments its parser takes; parameters use MLflow's types."""
    from mlflow.projects import _project_spec

    point = _project_spec.load_project(str(PROJECT)).get_entry_point("main")
    assert {p.type for p in point.parameters.values()} <= {"string", "float", "int", "path"}
    defaults = shlex.split(point.compute_command({}, str(tmp_path)))
    assert defaults[:2] == ["python", "train.py"]
    args = train.parse_args(defaults[2:])
    assert (args.quick, args.epochs, args.data_dir, args.out_dir) == ("false", 0, "", "")
    every = {"quick": "true", "data_dir": "/data", "epochs": "5", "checkpoints": "3",
             "lr": "0.1", "batch_size": "32", "probe_samples": "100", "seed": "2",
             "out_dir": "/reports"}
    args = train.parse_args(shlex.split(point.compute_command(every, str(tmp_path)))[2:])
    assert (args.quick, args.data_dir, args.epochs, args.checkpoints, args.lr,
            args.batch_size, args.probe_samples, args.seed, args.out_dir) == \
        ("true", "/data", 5, 3, 0.1, 32, 100, 2, "/reports")

"""The command line as a user meets it: help, version, where results go, run statuses,
listing, errors that name the tracking store, and what never creates a store."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pytest
import yaml
from click.testing import CliRunner
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

import nninfo
from nninfo import cli, results
from nninfo.cli import main
from nninfo.config import build_config
from nninfo.tracking import processes, runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from tests.helpers import tishby_layers

COMMANDS = ["train", "analyze", "performance", "report", "main", "runs", "analyze-model"]
WHAT = {"--config", "--experiment", "--quick", "--set"}
TRAINING = {"--seeds", "--epochs", "--checkpoints"}
COMPUTE = {"--data-dir", "--device", "--executor", "--workers", "--scheduler", "--progress"}
OWN_OPTIONS = {
    "train": WHAT | TRAINING | COMPUTE,
    "analyze": WHAT | {"--train-run", "--force"} | COMPUTE,
    "performance": WHAT | {"--train-run", "--force"} | COMPUTE,
    "report": WHAT | {"--train-run", "--out-dir", "--compare"},
    "main": WHAT | TRAINING | {"--force"} | COMPUTE | {"--out-dir"},
    "analyze-model": {"--data", "--layers", "--levels", "--n-bins", "--limits", "--units",
                      "--analysis", "--set", "--step", "--epoch", "--experiment", "--data-dir",
                      "--device", "--out-dir"},
}
RAW = {
    "name": "cli",
    "seeds": 2,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4, levels=4)},
    "training": {"lr": 0.1, "loss": "bce", "epochs": 2, "checkpoint_count": 3},
    "analysis": {"dataset": "all", "layers": ["L1"], "measures": ["shannon"],
                 "surrogates": {"mi": 0, "pid": 0}},
    "performance": {"datasets": ["test"]},
}
SETTINGS = Settings(workers=1, progress=False)


def _config(tmp_path: Path) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(RAW))
    return str(path)


def _all_runs() -> list:
    c = runs.client()
    ids = [e.experiment_id for e in c.search_experiments(view_type=ViewType.ALL)]
    return c.search_runs(ids, run_view_type=ViewType.ALL)


def test_version_and_help_everywhere():
    cli_runner = CliRunner()
    assert cli_runner.invoke(main, ["--version"]).output.strip().endswith(nninfo.__version__)
    for command in COMMANDS:
        res = cli_runner.invoke(main, [command, "--help"])
        assert res.exit_code == 0 and "Usage:" in res.output, command


@pytest.mark.parametrize("command", OWN_OPTIONS)
def test_each_command_lists_its_own_options_only(command):
    res = CliRunner().invoke(main, [command, "--help"])
    listed = set(re.findall(r"^\s+(--[a-z-]+)", res.output, re.MULTILINE)) - {"--help"}
    assert listed == OWN_OPTIONS[command], sorted(listed ^ OWN_OPTIONS[command])
    others = set().union(*OWN_OPTIONS.values()) - OWN_OPTIONS[command]
    assert not any(re.search(rf"^\s+{o}(?![\w-])", res.output, re.MULTILINE) for o in others)


def test_interrupt_marks_the_run_killed(mlflow_store):
    run_id = runs.entry_run_id("exp", "train")
    with pytest.raises(KeyboardInterrupt):
        with runs.status_guard(run_id):
            raise KeyboardInterrupt
    assert runs.client().get_run(run_id).info.status == "KILLED"


def test_error_marks_the_run_failed_and_success_finished(mlflow_store):
    failed = runs.entry_run_id("exp", "analyze")
    with pytest.raises(ZeroDivisionError):
        with runs.status_guard(failed):
            raise ZeroDivisionError("boom")
    ok = runs.entry_run_id("exp", "analyze")
    with runs.status_guard(ok):
        pass
    assert runs.client().get_run(failed).info.status == "FAILED"
    assert runs.client().get_run(ok).info.status == "FINISHED"


def test_missing_training_run_is_a_clear_error_naming_the_store(mlflow_store):
    res = CliRunner().invoke(main, ["analyze", "--config",
                                    str(nninfo_project("tishby_demo"))])
    assert res.exit_code == 2
    assert "no training run found" in res.output and "Traceback" not in res.output
    assert mlflow_store in res.output and "--train-run RUN_ID" in res.output
    assert not _all_runs(), "no run created"


def test_no_run_errors_use_the_api_s_words_in_python_and_the_cli_s_on_the_command_line(
        mlflow_store, monkeypatch):
    runs.entry_run_id("empty", "train")
    for experiment in ("empty", "nosuch"):
        with pytest.raises(runs.RunNotFound) as err:
            runs.find_parent(experiment)
        assert mlflow_store in str(err.value) and "train_run=RUN_ID" in str(err.value)
        assert "--" not in str(err.value) and "nninfo " not in str(err.value)
        assert "--train-run RUN_ID" in err.value.worded(cli._cli_words())
    with pytest.raises(runs.RunNotFound, match="train_run: 'nope' is not a run in the "
                                               "tracking store"):
        runs.find_parent(None, "nope")
    monkeypatch.setenv("MLFLOW_RUN_ID", "0" * 32)  # under mlflow run: its -P parameters
    assert cli._cli_words()["pass_run"] == "pass -P train_run=RUN_ID"


def test_bad_override_names_the_field(mlflow_store):
    res = CliRunner().invoke(main, ["train", "--config", str(nninfo_project("tishby_demo")),
                                    "--set", "training.optimizer=rmsprop"])
    assert res.exit_code == 2
    assert "optimizer" in res.output and "rmsprop" in res.output


def test_start_banner_names_uri_experiment_run_and_the_ui(mlflow_store, tmp_path):
    res = CliRunner().invoke(main, ["train", "--config", _config(tmp_path), "--workers", "1",
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    (run,) = [r for r in _all_runs() if r.data.tags.get(runs.ROLE) == "entry"]
    run_id, exp_id = run.info.run_id, run.info.experiment_id
    assert run.info.run_name == "cli · 2 seeds · lr 0.1"  # the UI's first columns
    assert run.data.tags[runs.SOURCE_TYPE] == "LOCAL" and run.data.tags[runs.USER]
    assert runs.client().get_experiment(exp_id).tags[runs.NOTE] == \
        "cli: task tishby, network 12-4-1, measures shannon of L1 (2 seeds)."
    banner = res.stderr
    assert banner.startswith(f"nninfo train: tracking URI {mlflow_store}, experiment 'cli'")
    assert f"run {run_id}, the parent of the seed runs" in banner
    assert f"mlflow ui --backend-store-uri {mlflow_store}" in banner
    assert f"http://127.0.0.1:5000/#/experiments/{exp_id}/runs/{run_id}" \
        "?workflowType=machine_learning" in banner  # MLflow 3.17's "Model training" view
    assert f"artifacts under {tmp_path / 'mlartifacts' / exp_id}" in banner

    res = CliRunner().invoke(main, ["performance", "--config", _config(tmp_path),
                                    "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert f"training run {run_id}; its seed runs hold the results" in res.stderr
    assert f"#/experiments/{exp_id}/runs/{run_id}" in res.stderr
    assert re.search(r"entry run [0-9a-f]{32} records this performance", res.stderr)


def test_analyze_with_nothing_to_do_says_so_and_leaves_no_run(mlflow_store, tmp_path):
    run_entry("main", ("train", "analyze"), build_config(RAW), SETTINGS, RAW["name"])
    before = {r.info.run_id for r in _all_runs()}
    res = CliRunner().invoke(main, ["analyze", "--config", _config(tmp_path), "--workers",
                                    "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "analyze: nothing to do" in res.stderr and "no run of its own" in res.stderr
    assert {r.info.run_id for r in _all_runs()} == before


def test_runs_lists_experiments_and_runs_without_nan(mlflow_store):
    parent = runs.entry_run_id("listed", "train")
    runs.child_run(parent, "seed 0", {runs.ROLE: runs.SEED_ROLE, "seed": "0"})
    cli_runner = CliRunner()
    res = cli_runner.invoke(main, ["runs"])
    assert res.exit_code == 0 and "listed" in res.stdout
    assert f"tracking URI {mlflow_store}" in res.stderr
    res = cli_runner.invoke(main, ["runs", "listed"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["run_id", "run_name", "status", "role", "entry", "seed",
                                "parent_run_id", "train_run", "start_time"]
    assert "train" in res.stdout and "RUNNING" in res.stdout and len(lines) == 3
    assert not re.search(r"\b(nan|NaN|None|NaT)\b", res.stdout)


def test_runs_lists_with_one_search_and_no_per_run_requests(mlflow_store, monkeypatch):
    parent = runs.entry_run_id("listed", "train")
    for seed in range(3):
        runs.child_run(parent, f"seed {seed}", {runs.ROLE: runs.SEED_ROLE, "seed": str(seed)})
    calls = []
    for name in ("search_runs", "get_run", "get_metric_history", "get_experiment"):
        original = getattr(MlflowClient, name)
        monkeypatch.setattr(MlflowClient, name, lambda self, *a, _o=original, _n=name, **k:
                            calls.append(_n) or _o(self, *a, **k))
    res = CliRunner().invoke(main, ["runs", "listed"])
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 5
    assert calls == ["search_runs"]


def test_runs_of_an_unknown_experiment_exits_2_naming_the_store(mlflow_store):
    res = CliRunner().invoke(main, ["runs", "nosuch"])
    assert res.exit_code == 2, res.output
    assert f"experiment: 'nosuch' is not in the tracking store {mlflow_store}" in res.output
    assert "Traceback" not in res.output


def test_new_experiments_keep_artifacts_beside_the_sqlite_file(mlflow_store, tmp_path,
                                                               monkeypatch):
    work = tmp_path / "project"  # where mlflow run would work: nothing may land here
    work.mkdir()
    monkeypatch.chdir(work)
    exp_id = runs.experiment_id("fresh")
    location = runs.client().get_experiment(exp_id).artifact_location
    assert location == str(tmp_path / "mlartifacts" / exp_id)
    run_id = runs.entry_run_id("fresh", "train")
    runs.client().log_text(run_id, "hello", "note.txt")
    assert (tmp_path / "mlartifacts" / exp_id / run_id / "artifacts" / "note.txt").is_file()
    assert not any(work.iterdir())
    # an experiment that exists keeps its own location
    elsewhere = tmp_path / "elsewhere"
    old = runs.client().create_experiment("old", artifact_location=str(elsewhere))
    assert runs.experiment_id("old") == old
    assert runs.client().get_experiment(old).artifact_location == str(elsewhere)


def test_a_new_store_keeps_the_default_experiment_s_artifacts_beside_it(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    assert processes.ensure_store() == uri
    default = runs.client().get_experiment("0")
    assert default.artifact_location == str(tmp_path / "new" / "mlartifacts" / "0")
    assert processes.artifact_root("http://host:5000") is None


def test_read_only_commands_create_no_store(tmp_path, monkeypatch):
    for relative in (True, False):
        folder = tmp_path / f"empty{relative}"
        folder.mkdir()
        monkeypatch.chdir(folder)
        uri = "sqlite:///mlflow.db" if relative else f"sqlite:///{folder / 'mlflow.db'}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        for args in (["runs"], ["runs", "cli"],
                     ["analyze", "--config", _config(tmp_path)],
                     ["report", "--config", _config(tmp_path)]):
            res = CliRunner().invoke(main, args)
            assert res.exit_code == 2 and f"tracking store: {uri} does not exist" in res.output
        for load in (results.load_summary, results.load_performance):
            with pytest.raises(ValueError, match="does not exist"):
                load("cli")
        assert not any(folder.iterdir()), list(folder.iterdir())


def test_mlflow_run_with_a_relative_uri_elsewhere_creates_no_store(tmp_path, monkeypatch):
    """``mlflow run`` hands a relative sqlite URI on and works in the project folder."""
    (tmp_path / "mlflow.db").unlink()  # conftest's store: this folder is the project now
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    monkeypatch.setenv("MLFLOW_RUN_ID", "0" * 32)
    res = CliRunner().invoke(main, ["train", "--config", _config(tmp_path)])
    assert res.exit_code == 2 and "absolute tracking URI" in res.output, res.output
    assert not (tmp_path / "mlflow.db").exists()


def test_mlflow_run_s_experiment_name_is_the_experiment(mlflow_store, monkeypatch):
    c = runs.client()
    chosen = c.create_run(runs.experiment_id("chosen")).info.run_id
    default = c.create_run("0").info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", chosen)
    assert runs.launcher_experiment() == "chosen"
    monkeypatch.setenv("MLFLOW_RUN_ID", default)  # mlflow run without --experiment-name
    assert runs.launcher_experiment() is None


def test_shown_uri_hides_passwords_and_resolves_relative_sqlite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runs.shown_uri("postgresql+psycopg2://me:s3cret@db:5432/mlflow") == \
        "postgresql+psycopg2://me:***@db:5432/mlflow"
    assert runs.shown_uri("sqlite:///mlflow.db") == \
        f"sqlite:///mlflow.db ({tmp_path / 'mlflow.db'})"
    assert runs.ui_hint("3", "abc", "http://mlflow.lab:5000/") == \
        "open http://mlflow.lab:5000/#/experiments/3/runs/abc?workflowType=machine_learning"


def nninfo_project(name: str):
    return Path(__file__).resolve().parents[1] / "projects" / name / "config.yaml"

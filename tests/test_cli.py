"""The command line as a user meets it: help, version, run statuses, listing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import nninfo
from nninfo.cli import main
from nninfo.tracking import runs

COMMANDS = ["train", "analyze", "performance", "report", "main", "runs"]


def test_version_and_help_everywhere():
    cli = CliRunner()
    assert cli.invoke(main, ["--version"]).output.strip().endswith(nninfo.__version__)
    for command in COMMANDS:
        res = cli.invoke(main, [command, "--help"])
        assert res.exit_code == 0 and "Usage:" in res.output, command


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


def test_missing_training_run_is_a_clear_error(mlflow_store):
    res = CliRunner().invoke(main, ["analyze", "--config",
                                    str(nninfo_project("tishby_demo"))])
    assert res.exit_code == 2
    assert "no training run found" in res.output and "Traceback" not in res.output


def test_bad_override_names_the_field(mlflow_store):
    res = CliRunner().invoke(main, ["train", "--config", str(nninfo_project("tishby_demo")),
                                    "--set", "training.optimizer=rmsprop"])
    assert res.exit_code == 2
    assert "optimizer" in res.output and "rmsprop" in res.output


def test_runs_lists_experiments_and_runs(mlflow_store):
    runs.entry_run_id("listed", "train")
    cli = CliRunner()
    assert "listed" in cli.invoke(main, ["runs"]).output
    out = cli.invoke(main, ["runs", "listed"]).output
    assert "train" in out and "RUNNING" in out


def nninfo_project(name: str):
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "projects" / name / "config.yaml"

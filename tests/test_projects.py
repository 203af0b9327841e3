"""Every MLflow project under projects/ runs its quick setting end to end on tiny data."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from nninfo import results
from nninfo.config import load_config
from nninfo.testing import write_cifar10, write_mnist
from nninfo.tracking import runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings

PROJECTS = Path(__file__).resolve().parents[1] / "projects"
NAMES = sorted(p.name for p in PROJECTS.iterdir() if (p / "MLproject").is_file())
ENTRY_POINTS = {"main", "train", "analyze", "performance", "report"}


@pytest.fixture
def data_dir(tmp_path) -> Path:
    root = tmp_path / "data"
    write_mnist(root, n_train=192, n_test=64, seed=0)
    write_cifar10(root, n_per_batch=16, n_test=32, seed=0)
    return root


def test_every_project_has_config_readme_and_entry_points():
    from mlflow.projects import _project_spec

    assert {"tishby_demo", "mnist_8levels_onehot", "mnist_8levels_binary",
            "mnist_4levels_onehot", "cifar10", "shannon_invariants_mnist"} <= set(NAMES)
    for name in NAMES:
        project = _project_spec.load_project(str(PROJECTS / name))
        assert ENTRY_POINTS <= set(project._entry_points), name
        assert (PROJECTS / name / "README.md").is_file(), name
        cfg = load_config(PROJECTS / name / "config.yaml")
        assert cfg.name == name


@pytest.mark.parametrize("name", NAMES)
def test_mlproject_command_parses_into_the_cli(name, monkeypatch, tmp_path):
    """The main entry point's command line, as mlflow renders it, reaches run_entry."""
    from mlflow.projects import _project_spec

    from nninfo import cli
    from nninfo.tracking import entry

    seen = {}
    monkeypatch.setattr(entry, "run_entry", lambda *a, **k: seen.update(args=a, kwargs=k))
    project = _project_spec.load_project(str(PROJECTS / name))
    command = project.get_entry_point("main").compute_command(
        {"quick": "true", "seeds": "3"}, str(tmp_path))
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "nninfo.cli"]
    monkeypatch.chdir(PROJECTS / name)
    result = CliRunner().invoke(cli.main, argv[3:])
    assert result.exit_code == 0, result.output
    _, steps, cfg, settings, experiment = seen["args"]
    assert steps == ("train", "analyze", "performance", "report")
    assert cfg.seeds == (0, 1, 2) and experiment == name


@pytest.mark.parametrize("name", [n for n in NAMES if n != "tishby_demo"])
def test_quick_setting_runs_end_to_end(name, data_dir, mlflow_store):
    cfg = load_config(PROJECTS / name / "config.yaml", quick=True)
    settings = Settings(data_dir=str(data_dir), workers=1, progress=False)
    parent = run_entry("main", ("train", "analyze", "performance", "report"), cfg, settings,
                       name)
    assert runs.client().get_run(parent).info.status == "FINISHED"
    summary = results.load_summary(name)
    assert set(summary.layer) == set(cfg.analysis.layers)
    assert set(summary.seed) == set(cfg.seeds)
    n_checkpoints = summary.groupby("seed").step.nunique()
    assert (n_checkpoints >= 2).all()
    if "pid" in cfg.analysis.measures:
        pid_rows = summary.dropna(subset=["representational_complexity"])
        assert set(pid_rows.grouping) == {g.name for g in cfg.analysis.groupings}
        assert pid_rows.representational_complexity.between(1, 5).all()
    if "shannon" in cfg.analysis.measures:
        assert summary.avg_degree_redundancy.notna().any()
    perf = results.load_performance(name)
    assert set(perf.dataset) == set(cfg.performance_datasets)
    assert Path("outputs", name, "report.html").is_file()

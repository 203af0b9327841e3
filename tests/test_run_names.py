"""What the MLflow UI shows first, however a run was launched: the parent run's name, the
experiment's description (never replacing a user's), the experiment kind, and MLflow's
Source and Created-by tags, also under ``mlflow run`` (``MLFLOW_RUN_ID``). No training: the
browser test (tests/test_mlflow_ui.py) and the banner test (tests/test_cli.py) see them on
real runs."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.utils.name_utils import _GENERATOR_NOUNS, _GENERATOR_PREDICATES, _generate_random_name

from nninfo import cli
from nninfo.config import load_config
from nninfo.tracking import runs
from nninfo.tracking.entry import _EntryRun
from nninfo.tracking.labels import (
    NAME_MAX,
    Origin,
    config_description,
    experiment_description,
    parent_run_name,
)
from tests.helpers import tishby_layers

RAW = {
    "name": "demo",
    "seeds": 10,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4)},
    "training": {"lr": 0.01, "loss": "bce", "epochs": 4, "checkpoint_count": 3},
    "analysis": {"layers": ["L1"], "measures": ["pid", "shannon"]},
    "quick": {"seeds": 2, "training": {"epochs": 1}},
}
README = """# demo (Shwartz-Ziv & Tishby 2017)

The 12-bit task on a small network:
X → L1 (4, tanh) → Y.

## Published settings

| setting | published |
"""
SHOWN = ("demo (Shwartz-Ziv & Tishby 2017): The 12-bit task on a small network: "
         "X → L1 (4, tanh) → Y.")
FROM_CONFIG = "demo: task tishby, network 12-4-1, measures pid, shannon of L1 (10 seeds)."
PROJECTS = Path(__file__).resolve().parents[1] / "projects"


def _project(folder: Path, *, mlproject: bool = True) -> Path:
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(RAW, allow_unicode=True))
    (folder / "README.md").write_text(README, encoding="utf-8")
    if mlproject:
        (folder / "MLproject").write_text("name: demo\n")
    return folder / "config.yaml"


def test_the_parent_run_is_named_by_config_seeds_lr_quick_and_overrides(tmp_path):
    path = _project(tmp_path / "demo")
    assert parent_run_name(load_config(path)) == "demo · 10 seeds · lr 0.01"
    assert parent_run_name(load_config(path, quick=True), Origin(str(path), True)) == \
        "demo · 2 seeds · lr 0.01 · quick"
    overrides = cli._overrides("3", 5.0, 0, ("analysis.n_bins=30; training.lr=0.1",))
    cfg = load_config(path, overrides=overrides)
    assert parent_run_name(cfg, Origin(str(path), False, overrides)) == \
        "demo · 3 seeds · lr 0.1 · epochs 5 · n_bins 30"  # seeds and lr said once
    many = {f"analysis.key{i}": "x" * 20 for i in range(10)}
    long = parent_run_name(cfg, Origin(overrides=many))
    assert len(long) == NAME_MAX and long.endswith("…")


def test_the_description_is_the_project_readme_s_title_and_first_paragraph(tmp_path):
    path = _project(tmp_path / "demo")
    cfg = load_config(path)
    assert experiment_description(cfg, path) == SHOWN
    assert experiment_description(cfg, str(path)) == SHOWN
    elsewhere = _project(tmp_path / "plain", mlproject=False)  # a README, but no project
    assert experiment_description(cfg, elsewhere) == FROM_CONFIG
    assert experiment_description(cfg, None) == config_description(cfg) == FROM_CONFIG


def test_every_project_s_experiment_is_described_by_its_readme():
    for config in sorted(PROJECTS.glob("*/config.yaml")):
        lines = (config.parent / "README.md").read_text(encoding="utf-8").splitlines()
        title, first = lines[0].removeprefix("# "), lines[2].strip()
        shown = experiment_description(load_config(config), config)
        assert shown.startswith(f"{title}: {first}"), (config, shown)
        assert "##" not in shown and "\n" not in shown


def test_a_user_s_description_and_kind_are_kept(mlflow_store):
    c = runs.client()
    exp = runs.experiment_id("described")
    assert c.get_experiment(exp).tags[runs.EXPERIMENT_KIND] == runs.ML_KIND  # at creation
    assert runs.describe_experiment(exp, "first")
    assert runs.describe_experiment(exp, "second")  # nninfo's own: brought up to date
    assert c.get_experiment(exp).tags[runs.NOTE] == "second"
    c.set_experiment_tag(exp, runs.NOTE, "my notes")  # e.g. edited in the UI
    assert not runs.describe_experiment(exp, "third")
    assert c.get_experiment(exp).tags[runs.NOTE] == "my notes"

    theirs = c.create_experiment("genai", tags={runs.EXPERIMENT_KIND: "genai_development"})
    assert runs.describe_experiment(theirs, "text")
    assert c.get_experiment(theirs).tags[runs.EXPERIMENT_KIND] == "genai_development"


def _entry(experiment: str) -> _EntryRun:
    entry = _EntryRun("main", experiment, {}, None)
    entry.run_name, entry.description = "demo · 2 seeds · lr 0.01 · quick", SHOWN
    return entry


def test_runs_nninfo_creates_say_their_script_and_user(mlflow_store, capsys):
    with _entry("local") as entry:
        entry.start()
    capsys.readouterr()
    c = runs.client()
    parent = c.get_run(entry.run_id)
    seed = c.get_run(runs.child_run(entry.run_id, "seed 0", {}))
    assert parent.info.run_name == "demo · 2 seeds · lr 0.01 · quick"
    assert seed.info.run_name == "seed 0"
    for run in (parent, seed):
        assert run.data.tags[runs.SOURCE_NAME] == sys.argv[0]
        assert run.data.tags[runs.SOURCE_TYPE] == "LOCAL"
        assert run.data.tags[runs.USER] == getpass.getuser()
    assert c.get_experiment(parent.info.experiment_id).tags[runs.NOTE] == SHOWN


def test_under_mlflow_run_the_launcher_s_run_is_named_and_keeps_its_tags(
        mlflow_store, monkeypatch, capsys):
    c = runs.client()
    chosen = c.create_experiment("chosen")  # mlflow run --experiment-name chosen
    project = {runs.SOURCE_NAME: "file:///home/alice/nninfo", runs.SOURCE_TYPE: "PROJECT",
               runs.USER: "alice", "mlflow.project.entryPoint": "main"}
    launcher = c.create_run(chosen, tags=project).info.run_id  # MLflow names it at random
    monkeypatch.setenv("MLFLOW_RUN_ID", launcher)
    with _entry("demo") as entry:
        entry.start()
    capsys.readouterr()
    assert entry.run_id == launcher
    run = c.get_run(launcher)
    assert run.info.run_name == run.data.tags[runs.RUN_NAME] == \
        "demo · 2 seeds · lr 0.01 · quick"
    assert {k: run.data.tags[k] for k in project} == project  # mlflow run's, unchanged
    seed = c.get_run(runs.child_run(launcher, "seed 0", {}))
    assert {k: seed.data.tags[k] for k in (runs.SOURCE_NAME, runs.SOURCE_TYPE, runs.USER)} \
        == {k: project[k] for k in (runs.SOURCE_NAME, runs.SOURCE_TYPE, runs.USER)}
    tags = c.get_experiment(chosen).tags
    assert tags[runs.NOTE] == SHOWN and tags[runs.EXPERIMENT_KIND] == runs.ML_KIND

    named = c.create_run(chosen, run_name="my baseline", tags=project).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", named)  # mlflow run --run-name "my baseline"
    with _entry("demo") as entry:
        entry.start()
    capsys.readouterr()
    assert c.get_run(named).info.run_name == "my baseline"


def test_mlflow_s_made_up_names_are_told_from_a_user_s():
    for _ in range(50):
        assert runs.generated_name(_generate_random_name())
    assert runs.generated_name(f"{_GENERATOR_PREDICATES[0]}-{_GENERATOR_NOUNS[-1]}-7")
    assert runs.generated_name(None)
    for name in ("my baseline", "lr-sweep-2", "main", "demo · 2 seeds · lr 0.01"):
        assert not runs.generated_name(name)


@pytest.mark.parametrize("error", [KeyError("getpwuid(): uid not found: 1234"), OSError()])
def test_a_system_without_a_user_name_says_unknown(monkeypatch, error):
    def no_user() -> str:
        raise error

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert runs.user() == "unknown"


def test_under_mlflow_run_in_default_the_launcher_s_run_points_to_the_named_run(
        mlflow_store, monkeypatch, capsys):
    c = runs.client()
    launcher = c.create_run(runs.DEFAULT_EXPERIMENT_ID, tags={
        runs.SOURCE_NAME: "/home/alice/nninfo", runs.SOURCE_TYPE: "PROJECT",
        runs.USER: "alice"}).info.run_id  # mlflow run . without --experiment-name
    monkeypatch.setenv("MLFLOW_RUN_ID", launcher)
    with _entry("demo") as entry:
        entry.start()
    capsys.readouterr()
    run = c.get_run(entry.run_id)
    assert entry.run_id != launcher and run.info.run_name == "demo · 2 seeds · lr 0.01 · quick"
    assert c.get_experiment(run.info.experiment_id).name == "demo"
    assert run.data.tags[runs.SOURCE_NAME] == "/home/alice/nninfo"
    assert run.data.tags[runs.USER] == "alice"
    assert c.get_run(launcher).info.run_name == "demo · 2 seeds · lr 0.01 · quick → demo"


def test_mlflow_run_s_own_params_on_the_launcher_run_do_not_clash_with_the_config_s(
        mlflow_store, tmp_path):
    """``mlflow run --experiment-name X -P seeds=3`` logs ``seeds: 3`` on its run, which
    becomes the parent; MLflow params cannot change, so ours (the seed list) goes beside it."""
    from nninfo.tracking.train import config_params, parent_params

    cfg = load_config(_project(tmp_path / "demo"), overrides={"seeds": 3})
    c = runs.client()
    launcher = c.create_run(c.create_experiment("chosen")).info.run_id
    runs.log_params(launcher, {"seeds": "3", "epochs": "0"})  # what mlflow run logged
    params = config_params(cfg)
    runs.log_params(launcher, parent_params(params, c.get_run(launcher).data.params))
    logged = c.get_run(launcher).data.params
    assert logged["seeds"] == "3" and logged["config.seeds"] == "0-2"
    assert {k: logged[k] for k in params if k != "seeds"} == \
        {k: v for k, v in params.items() if k != "seeds"}
    runs.log_params(launcher, parent_params(params, logged))  # a rerun logs the same again

"""Every MLflow project under projects/ runs its quick setting end to end on tiny data."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from nninfo import results
from nninfo.config import load_config
from nninfo.testing import write_cifar10, write_lfw, write_mnist, write_qmnist_test
from nninfo.tracking import runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from tests.helpers import local_report

REPO = Path(__file__).resolve().parents[1]
PROJECTS = REPO / "projects"
# The config-driven projects (config.yaml, MLproject from projects/mlproject.py). Not
# projects/custom_model: it trains its own PyTorch model with train.py and a hand-written
# MLproject (tests/test_custom_model.py tests it).
HAND_WRITTEN = {"custom_model"}
NAMES = sorted(p.name for p in PROJECTS.iterdir()
               if (p / "MLproject").is_file() and p.name not in HAND_WRITTEN)
ENTRY_POINTS = {"main", "train", "analyze", "performance", "report"}
MODEL_ENTRY = "analyze_model"  # nninfo analyze-model: a PyTorch model already in MLflow
MODEL_REQUIRED = {"model_uri", "data", "layers"}  # its parameters without a default
# Every MLflow project directory, the repository root (it runs the Tishby demo) included.
PROJECT_DIRS = {**{name: PROJECTS / name for name in NAMES}, "root": REPO}
# The parameter types MLflow documents. MLflow 3 checks none of them (it passes every value to
# the command as a string and treats only path and uri specially), so these tests do.
MLFLOW_TYPES = {"string", "float", "int", "path", "uri"}
SET = "analysis.n_bins=30;training.lr=0.1"


@pytest.fixture
def data_dir(tmp_path) -> Path:
    root = tmp_path / "data"
    write_mnist(root, n_train=192, n_test=64, seed=0)
    write_qmnist_test(root, n_extra=64, seed=0)  # the MNIST projects test on MNIST + QMNIST
    write_cifar10(root, n_per_batch=16, n_test=32, seed=0)
    write_lfw(root)  # 3 people x 4 images: 120 augmented faces
    return root


def test_every_project_has_config_readme_and_entry_points():
    from mlflow.projects import _project_spec

    assert {"tishby_demo", "mnist_8levels_onehot", "mnist_8levels_binary",
            "mnist_4levels_onehot", "cifar10", "shannon_invariants_mnist",
            "shannon_invariants_autoencoder"} <= set(NAMES)
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
        pid_rows = summary.dropna(subset=["pid.representational_complexity"])
        assert set(pid_rows.grouping) == {g.name for g in cfg.analysis.groupings}
        assert pid_rows["pid.representational_complexity"].between(1, 5).all()
    if "shannon" in cfg.analysis.measures:
        assert summary["shannon.avg_degree_redundancy"].notna().any()
    if "shannon_entropy" in cfg.analysis.measures:
        assert summary["shannon_entropy.avg_degree_redundancy"].notna().any()
    perf = results.load_performance(name)
    assert set(perf.dataset) == set(cfg.performance.datasets)
    assert local_report("outputs", name, parent).is_file()


def _generator():
    """projects/mlproject.py, the script that writes every MLproject, imported by path."""
    spec = importlib.util.spec_from_file_location("nninfo_mlproject", PROJECTS / "mlproject.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_mlproject_is_the_template_s_output():
    files = _generator().targets(REPO)
    assert set(files) == {d / "MLproject" for d in PROJECT_DIRS.values()}
    drifted = [str(path.relative_to(REPO)) for path, text in files.items()
               if not path.is_file() or path.read_text() != text]
    assert not drifted, (f"{drifted} differ from the template in projects/mlproject.py: edit "
                         "the template, not the file, and run `python projects/mlproject.py`")


def test_generator_check_lists_drifted_files_and_writing_fixes_them(tmp_path, capsys):
    gen = _generator()
    (tmp_path / "projects" / "demo").mkdir(parents=True)
    (tmp_path / "projects" / "demo" / "config.yaml").write_text("name: demo\n")
    assert gen.main(["--check"], repo=tmp_path) == 1  # missing files count as drifted
    assert gen.main([], repo=tmp_path) == 0
    assert gen.main(["--check"], repo=tmp_path) == 0
    mlproject = tmp_path / "projects" / "demo" / "MLproject"
    mlproject.write_text(mlproject.read_text().replace("{type: int,", "{type: string,"))
    capsys.readouterr()
    assert gen.main(["--check"], repo=tmp_path) == 1
    assert capsys.readouterr().err.split()[0] == str(Path("projects", "demo", "MLproject"))


@pytest.mark.parametrize("name", PROJECT_DIRS)
def test_parameters_have_mlflow_types_matching_defaults_and_reach_the_command(name):
    from mlflow.projects import _project_spec

    project = _project_spec.load_project(str(PROJECT_DIRS[name]))
    assert set(project._entry_points) == ENTRY_POINTS | {MODEL_ENTRY}
    for entry in project._entry_points.values():
        params = entry.parameters
        assert params["set"].default == "", entry.name
        required = {p.name for p in params.values() if p.default is None}
        assert required == (MODEL_REQUIRED if entry.name == MODEL_ENTRY else set()), entry.name
        for param in params.values():
            assert param.type in MLFLOW_TYPES, (entry.name, param.name, param.type)
            default = param.default
            if default is None:
                assert param.type == "string", (entry.name, param.name)
            elif param.type == "int":
                assert type(default) is int, (entry.name, param.name)
            elif param.type == "float":
                assert type(default) in (int, float), (entry.name, param.name)
            else:
                assert isinstance(default, str), (entry.name, param.name)
            assert f"{{{param.name}}}" in entry.command, (entry.name, param.name)
        for flag in {"quick", "force"} & set(params):
            assert params[flag].default == "false"  # booleans: the strings "true" / "false"
        if "seeds" in params:
            assert params["seeds"].type == "string"  # a count ("10") or a list ("0,3,7")


def _invoke(argv: list[str], monkeypatch):
    """Run the nninfo CLI with ``run_entry`` replaced; return (click result, its arguments)."""
    from nninfo import cli
    from nninfo.tracking import entry

    seen = {}
    monkeypatch.setattr(entry, "run_entry", lambda *a, **k: seen.update(args=a, kwargs=k))
    return CliRunner().invoke(cli.main, argv), seen.get("args")


@pytest.mark.parametrize("name", PROJECT_DIRS)
def test_every_entry_point_passes_set_and_its_defaults_to_the_cli(name, monkeypatch, tmp_path):
    """Each entry point's command, as mlflow renders it (defaults, or -P set=...), runs."""
    from mlflow.projects import _project_spec

    project = _project_spec.load_project(str(PROJECT_DIRS[name]))
    monkeypatch.chdir(PROJECT_DIRS[name])
    for entry_point in sorted(ENTRY_POINTS):
        point = project.get_entry_point(entry_point)
        for params in ({}, {"set": SET}):
            argv = shlex.split(point.compute_command(params, str(tmp_path)))
            result, args = _invoke(argv[3:], monkeypatch)
            assert result.exit_code == 0, (entry_point, params, result.output)
            cfg = args[2]
            assert args[0] == entry_point
            if params:
                assert cfg.analysis.n_bins == 30, entry_point
                assert cfg.to_dict()["training"]["lr"] == 0.1, entry_point
            else:
                config = PROJECT_DIRS[name] / point.parameters["config"].default
                assert cfg.to_dict() == load_config(config).to_dict(), entry_point


@pytest.mark.parametrize("sets, n_bins, lr", [
    (("",), None, 0.01),  # the MLproject default: ignored
    (("analysis.n_bins=30;training.lr=0.1",), 30, 0.1),
    (("analysis.n_bins=30;",), 30, 0.01),  # a trailing separator
    (("analysis.n_bins=30", "training.lr=0.1"), 30, 0.1),  # --set repeated
    ((" analysis.n_bins = 30 ; ; training.lr=0.1 ",), 30, 0.1),  # spaces, an empty item
])
def test_set_splits_on_semicolons_and_ignores_empty_items(sets, n_bins, lr, monkeypatch):
    config = PROJECT_DIRS["tishby_demo"] / "config.yaml"
    argv = ["train", "--config", str(config)] + [a for s in sets for a in ("--set", s)]
    result, args = _invoke(argv, monkeypatch)
    assert result.exit_code == 0, result.output
    cfg = args[2]
    assert cfg.analysis.n_bins == n_bins and cfg.to_dict()["training"]["lr"] == lr


def test_set_keeps_commas_inside_a_value(monkeypatch):
    config = PROJECT_DIRS["tishby_demo"] / "config.yaml"
    result, args = _invoke(["train", "--config", str(config),
                            "--set", "analysis.layers=[L2,L3];analysis.n_bins=16"], monkeypatch)
    assert result.exit_code == 0, result.output
    assert list(args[2].analysis.layers) == ["L2", "L3"] and args[2].analysis.n_bins == 16


@pytest.mark.parametrize("value", ["nokey", "analysis.n_bins=30;nokey", "=30"])
def test_set_without_key_or_equals_names_the_option(value, monkeypatch):
    config = PROJECT_DIRS["tishby_demo"] / "config.yaml"
    result, args = _invoke(["train", "--config", str(config), "--set", value], monkeypatch)
    assert result.exit_code == 2 and args is None
    assert "--set" in result.output and "Traceback" not in result.output


MODEL_ARGS = {"model_uri": "runs:/abc/model", "data": "mnist:test,flatten=false",
              "layers": "hidden=features.3,out=fc[0]"}


@pytest.mark.parametrize("name", PROJECT_DIRS)
def test_analyze_model_entry_point_passes_its_parameters_to_the_cli(name, monkeypatch,
                                                                      tmp_path):
    """analyze_model's command, as mlflow renders it (required parameters, with defaults or
    every parameter set), reaches nninfo analyze-model; without a required one mlflow
    refuses it."""
    from mlflow.projects import _project_spec
    from mlflow.projects.utils import ExecutionException

    from nninfo import cli
    from nninfo.probe import model_uri

    seen = {}

    def fake(uri, data, layers, **kwargs):
        seen.update(uri=uri, data=data, layers=layers, **kwargs)
        return tmp_path / "report.html"

    monkeypatch.setattr(model_uri, "analyze_model", fake)
    point = _project_spec.load_project(str(PROJECT_DIRS[name])).get_entry_point(MODEL_ENTRY)
    every = {**MODEL_ARGS, "data_dir": "/data", "levels": "8", "n_bins": "0",
             "limits": "-1,1", "units": "channels", "analysis": "a.yaml", "set": SET,
             "step": "12", "epoch": "1.5"}
    for params in (MODEL_ARGS, every):
        seen.clear()
        argv = shlex.split(point.compute_command(params, str(tmp_path)))
        assert argv[:4] == ["python", "-m", "nninfo.cli", "analyze-model"]
        result = CliRunner().invoke(cli.main, argv[3:])
        assert result.exit_code == 0, (params, result.output)
        assert (seen["uri"], seen["data"], seen["layers"]) == tuple(MODEL_ARGS.values())
        if params is MODEL_ARGS:  # the defaults: nothing set
            assert seen["levels"] == seen["n_bins"] == 0 and seen["epoch"] is None
            assert seen["limits"] == "" and seen["units"] == "units" and seen["step"] == 0
            assert seen["analysis"] is None and seen["sets"] == ("",)
            assert seen["data_dir"] == ""
        else:
            assert (seen["levels"], seen["limits"], seen["units"], seen["analysis"]) == \
                (8, "-1,1", "channels", "a.yaml")
            assert (seen["sets"], seen["step"], seen["epoch"]) == ((SET,), 12, 1.5)
            assert seen["data_dir"] == "/data"
    for missing in MODEL_REQUIRED:
        with pytest.raises(ExecutionException, match=missing):
            point.compute_command({k: v for k, v in MODEL_ARGS.items() if k != missing},
                                  str(tmp_path))

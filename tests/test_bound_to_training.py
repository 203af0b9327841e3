"""Steps that work on an existing training run (analyze, performance, report, and ``main``
reusing one) are bound to what that run trained: its config.yaml decides the task, network,
training and seeds; a config that disagrees on these has those settings set aside, each
named in one line, and only its analysis, performance and report settings apply. Also: a
seed run given as the training run, and a seed run's damaged checkpoint index, are one
clear error each."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from click.testing import CliRunner

from nninfo import results
from nninfo.cli import main
from nninfo.config import ConfigError, build_config
from nninfo.tracking import runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from nninfo.training.checkpoint import CheckpointError
from tests.helpers import tishby_layers

NAME = "bound"
RAW = {
    "name": NAME,
    "seeds": 2,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(3, levels=8)},
    "training": {"lr": 0.1, "loss": "bce", "epochs": 1, "checkpoint_count": 3},
    "analysis": {"dataset": "all", "layers": ["L1"], "measures": ["shannon"],
                 "surrogates": {"mi": 5, "pid": 0}},
    "performance": {"datasets": ["test"]},
}
SETTINGS = Settings(workers=1, progress=False)


def _raw(**changes) -> dict:
    """RAW with dotted ``changes`` (``network__layers__0__activation="hardtanh"``)."""
    raw = copy.deepcopy(RAW)
    for key, value in changes.items():
        *path, last = key.split("__")
        node = raw
        for part in path:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value
    return raw


def _trained(steps: tuple[str, ...] = ("train", "analyze")) -> str:
    """A training run of RAW (analysed with it): the training parent's id."""
    return run_entry("main", steps, build_config(RAW), SETTINGS, NAME)


def _metrics(parent: str) -> dict[str, list[tuple[int, float]]]:
    c = runs.client()
    return {run.info.run_id: sorted((m.step, m.value, m.timestamp) for m in
                                    c.get_metric_history(run.info.run_id,
                                                         "L1/mutual_information"))
            for run in runs.seed_runs(parent)}


def _run_ids() -> set[str]:
    return {r.info.run_id for r in runs.search(NAME)}


def _artifact_dir(run_id: str) -> Path:
    uri = runs.client().get_run(run_id).info.artifact_uri
    return Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)


def _config_file(tmp_path: Path, raw: dict) -> str:
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _latest(history: dict[str, list[tuple[int, float, int]]]) -> dict[str, dict[int, float]]:
    """Per seed run, the newest value at each step (what the UI and the results API read)."""
    return {rid: {step: value for step, value, _ in sorted(rows, key=lambda r: r[2])}
            for rid, rows in history.items()}


def test_another_network_in_the_config_is_set_aside_naming_each_field(mlflow_store, tmp_path):
    """The reported silent-wrong case: a run trained with tanh / 8 levels, analysed with a
    config saying hardtanh / 4 levels and --force, logged numbers of another network."""
    parent = _trained()
    before = _metrics(parent)
    layers = tishby_layers(3, levels=4)
    layers[0]["activation"] = "hardtanh"
    path = _config_file(tmp_path, _raw(network__layers=layers))
    res = CliRunner().invoke(main, ["analyze", "--config", path, "--workers", "1",
                                    "--force", "true"])
    assert res.exit_code == 0, res.output
    message = " ".join(res.output.split())
    assert f"training run {parent} is used as it was trained" in message
    assert "network.layers.0.activation: 'hardtanh' here, 'tanh' in the run" in message
    assert "network.layers.0.quantizer.levels: 4 here, 8 in the run" in message
    after = _metrics(parent)
    assert all(len(after[rid]) == 2 * len(before[rid]) for rid in before), "recomputed (force)"
    assert _latest(after) == _latest(before), "the same numbers: the run's own network"
    for run in runs.seed_runs(parent):
        assert run.data.params["network.layers.0.activation"] == "tanh"
    for step in (["performance", "--workers", "1"], ["report"]):
        res = CliRunner().invoke(main, [*step, "--config", path])
        assert res.exit_code == 0 and "network.layers.0.activation" in res.output, res.output


def test_another_data_split_or_seed_list_is_set_aside(mlflow_store, capsys):
    parent = _trained()
    before, ids = _metrics(parent), _run_ids()
    assert run_entry("analyze", ("analyze",), build_config(_raw(task__seed=7)), SETTINGS,
                     NAME) is None, "nothing to do: the run's split is analysed already"
    assert "task.seed: 7 here, 42 in the run" in capsys.readouterr().err
    assert run_entry("analyze", ("analyze",), build_config(_raw(seeds=3)), SETTINGS, NAME,
                     train_run=parent) is None
    assert "seeds: [0, 1, 2] here, [0, 1] in the run" in capsys.readouterr().err
    assert _metrics(parent) == before and _run_ids() == ids


def test_analysis_settings_that_do_not_fit_the_trained_network_are_an_error(mlflow_store):
    parent = _trained(("train",))
    raw = _raw(network__layers=tishby_layers(3, 3, levels=8))
    raw["analysis"]["layers"] = ["L2"]  # the run's network has no L2 before its output
    raw["analysis"]["measures"] = ["pid"]
    cfg = build_config(raw)
    with pytest.raises(ConfigError, match=f"training run {parent}: this config's analysis"):
        run_entry("analyze", ("analyze",), cfg, SETTINGS, NAME)


def test_other_analysis_performance_and_report_settings_are_used(mlflow_store):
    parent = _trained(("train",))
    raw = _raw(name="renamed", analysis={"dataset": "all", "layers": ["L1", "L2"],
                                         "measures": ["shannon"], "n_bins": 30,
                                         "surrogates": {"mi": 3, "pid": 0}},
               performance={"datasets": ["train", "test"]}, report={"band": "t"})
    cfg = build_config(raw)
    for step in ("analyze", "performance", "report"):
        assert run_entry(step, (step,), cfg, SETTINGS, NAME, train_run=parent)
    summary = results.load_summary(train_run=parent)
    assert set(summary.layer) == {"L1", "L2"} and set(summary.seed) == {0, 1}
    assert set(results.load_performance(train_run=parent).dataset) == {"train", "test"}


def test_a_quick_training_run_is_analysed_as_trained(mlflow_store, capsys):
    raw = _raw(quick={"training": {"epochs": 2}})
    parent = run_entry("train", ("train",), build_config(raw, quick=True), SETTINGS, NAME)
    assert run_entry("analyze", ("analyze",), build_config(raw, quick=True), SETTINGS, NAME)
    assert "set aside" not in capsys.readouterr().err
    assert run_entry("performance", ("performance",), build_config(raw), SETTINGS, NAME,
                     train_run=parent)
    assert "training.epochs: 1 here, 2 in the run" in capsys.readouterr().err


def test_a_damaged_run_config_is_an_error_naming_the_run(mlflow_store):
    parent = _trained(("train",))
    cfg, config = build_config(RAW), _artifact_dir(parent) / "config.yaml"
    for text, message in (("- not\n- a mapping\n", "holds a list, not a mapping"),
                          ("name: x\n", "is not a config this nninfo accepts"),
                          ("a: [\n", "is not valid YAML"),
                          (None, "config.yaml artifact, the config it was trained with, "
                                 "cannot be read")):
        if text is None:
            config.unlink()
        else:
            config.write_text(text)
        with pytest.raises(ConfigError, match=f"training run {parent}: .*{message}"):
            run_entry("analyze", ("analyze",), cfg, SETTINGS, NAME)


def test_a_seed_run_as_train_run_names_its_training_run(mlflow_store, tmp_path):
    parent = _trained(("train",))
    seed = runs.seed_runs(parent)[1].info.run_id
    res = CliRunner().invoke(main, ["analyze", "--config", _config_file(tmp_path, RAW),
                                    "--train-run", seed])
    assert res.exit_code == 2, res.output
    assert (f"--train-run {seed} is a seed run (seed 1) of training run {parent}; pass that "
            "id") in " ".join(res.output.split())
    with pytest.raises(ValueError, match=f"train_run {seed} is a seed run"):
        results.load_summary(train_run=seed)


def test_a_missing_checkpoint_index_names_the_seed_run(mlflow_store, tmp_path):
    parent = _trained(("train",))
    seed = runs.seed_runs(parent)[0].info.run_id
    (_artifact_dir(seed) / "checkpoints.json").unlink()
    with pytest.raises(CheckpointError, match=f"seed run {seed}: its checkpoints.json.* "
                                              "cannot be read"):
        run_entry("analyze", ("analyze",), build_config(RAW), SETTINGS, NAME)
    res = CliRunner().invoke(main, ["performance", "--config", _config_file(tmp_path, RAW)])
    assert res.exit_code == 2 and f"seed run {seed}: its checkpoints.json" in res.output
    assert "Traceback" not in res.output


def test_a_step_twice_in_the_checkpoint_index_is_refused(mlflow_store):
    parent = _trained(("train",))
    seed = runs.seed_runs(parent)[0].info.run_id
    path = _artifact_dir(seed) / "checkpoints.json"
    index = json.loads(path.read_text())
    path.write_text(json.dumps([*index, index[-1]]))
    with pytest.raises(CheckpointError, match=f"run {seed}: checkpoints.json lists step "
                                              f"{index[-1]['step']} more than once"):
        run_entry("analyze", ("analyze",), build_config(RAW), SETTINGS, NAME)

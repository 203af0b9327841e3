"""Every way a config (or a command-line argument) can be wrong fails before any work: one
line naming the field, the bad value and what is allowed, exit status 2, no traceback, no
MLflow experiment or run, no report folder."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner

from nninfo.cli import main
from nninfo.config import (
    ConfigError,
    build_config,
    check_against_task,
    check_experiment_name,
    load_config,
    needs_task_check,
    source_limits,
)
from nninfo.tracking import runs
from tests.helpers import tishby_layers

BASE: dict[str, Any] = {
    "name": "badcfg",
    "seeds": 1,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4, 3)},  # L1 (4), L2 (3), L3 (1, sigmoid)
    "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64, "epochs": 1,
                 "checkpoint_count": 3},
    "analysis": {"dataset": "all", "layers": ["L1", "L2"], "measures": ["pid", "shannon"],
                 "groupings": [{"name": "neurons"},
                               {"name": "pairs", "kind": "groups", "groups": [[0, 1], [2]],
                                "layers": ["L1"]}]},
    "performance": {"datasets": ["train", "test"]},
}
LIN = {"type": "linear", "activation": "tanh"}
CONV = {"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3}


def put(*pairs: Any) -> Callable[[dict], None]:
    """Set ``raw[a][b]...`` for each ``path == "a.b..."``, value pair (integer parts index
    lists)."""
    def mutate(raw: dict) -> None:
        for path, value in zip(pairs[::2], pairs[1::2], strict=True):
            *parts, last = path.split(".")
            node = raw
            for part in parts:
                node = node[int(part)] if isinstance(node, list) else node[part]
            node[int(last) if isinstance(node, list) else last] = value
    return mutate


def drop(key: str) -> Callable[[dict], None]:
    return lambda raw: raw.pop(key)


def grouping(**g: Any) -> Callable[[dict], None]:
    return put("analysis.groupings", [{"name": "neurons"}, g])


# (case, mutation of BASE or the file's text, extra CLI arguments, what the message must say:
#  the field, the bad value, and what is allowed where that fits)
CASES: list[tuple[str, Callable[[dict], None] | str | None, list[str], tuple[str, ...]]] = [
    # the file
    ("empty file", "", [], ("config:", "is empty", "name, task, network and training")),
    ("yaml syntax error", "name: badcfg\ntask: {name: tishby\nseeds: 1\n", [],
     ("config:", "line 3", "YAML syntax error")),
    ("yaml key given twice", "name: badcfg\nseeds: 1\nseeds: 2\n", [],
     ("config:", "line 3", "'seeds' is given twice")),
    ("top level not a mapping", "- 1\n- 2\n", [], ("config:", "'list'", "a YAML mapping")),
    ("unknown top-level key", put("analyis", {}), [], ("config: unknown key 'analyis'",
                                                      "allowed: name, seeds")),
    ("missing network", drop("network"), [], ("config: missing required field 'network'",)),
    ("quick not a mapping", put("quick", True), [], ("quick: True", "a mapping")),
    # the experiment name
    ("name path traversal", put("name", "../../../tmp/x"), [],
     ("name: '../../../tmp/x'", "without '/'")),
    ("name empty", put("name", ""), [], ("name: ''", "non-empty")),
    ("name leading dot", put("name", ".hidden"), [], ("name: '.hidden'", "leading '.'")),
    ("name backslash", put("name", "a\\b"), [], ("name: 'a\\\\b'", "'\\'")),
    ("name too long", put("name", "x" * 256), [], ("name: 'xxx", "at most 255 bytes")),
    ("name control character", put("name", "a\tb"), [], ("name: 'a\\tb'", "printable")),
    ("name null", put("name", None), [], ("name: None", "non-empty")),
    # seeds
    ("negative seed count", put("seeds", -3), [], ("seeds: -3", "positive count")),
    ("duplicate seeds", put("seeds", [1, 1]), [], ("seeds: [1, 1]", "distinct")),
    ("bad --seeds", None, ["--seeds", "a,b"], ("seeds: ['a', 'b']",)),
    # task
    ("unknown task", put("task.name", "tishbee"), [], ("task.name: 'tishbee'", "tishby")),
    ("unknown task key", put("task.sead", 1), [], ("task: unknown key 'sead'",
                                                   "allowed: name, seed, options")),
    ("unknown task option", put("task.options", {"n_trian": 5}), [],
     ("task.options: ['n_trian']", "n_train")),
    ("task options not a mapping", put("task.options", ["n_train"]), [],
     ("task.options: ['n_train']", "a mapping")),
    ("negative task seed", put("task.seed", -1), [], ("task.seed: -1", "integer >= 0")),
    ("unknown label encoding", put("task.label_encoding", "hex"), [],
     ("task.label_encoding: 'hex'", "binary")),
    # training
    ("negative lr", put("training.lr", -0.1), [], ("training.lr: -0.1", "positive number")),
    ("unknown optimizer", put("training.optimizer", "rmsprop"), [],
     ("training.optimizer: 'rmsprop'", "sgd")),
    ("unknown loss", put("training.loss", "hinge"), [], ("training.loss: 'hinge'", "bce")),
    ("zero batch size", put("training.batch_size", 0), [],
     ("training.batch_size: 0", "integer >= 1")),
    ("unknown training key", put("training.epoch", 3), [], ("training: unknown keys ['epoch']",
                                                            "checkpoint_count")),
    ("one checkpoint", None, ["--checkpoints", "1"], ("training.checkpoint_count: 1", ">= 2")),
    ("bce on a relu head", put("network.layers.2.activation", "relu"), [],
     ("training.loss: 'bce'", "'relu'")),
    # network
    ("unknown network key", put("network.dropout", 0.1), [],
     ("network: unknown keys ['dropout']", "input_shape")),
    ("bad layer type", put("network.layers.1.type", "dense"), [],
     ("network.layers[1] (L2).type: 'dense'", "linear")),
    ("softmax on a hidden layer", put("network.layers.0.activation", "softmax"), [],
     ("network.layers[0] (L1).activation: 'softmax'", "only allowed on the last layer")),
    ("one quantizer level", put("network.layers.0.quantizer.levels", 1), [],
     ("network.layers[0] (L1).quantizer.levels: 1", ">= 2")),
    ("widths do not chain", put("network.layers.1.in_features", 7), [],
     ("network.layers[1] (L2).in_features: 7 does not match L1's 4 outputs",)),
    ("first layer vs the task", put("network.layers.0.in_features", 10), [],
     ("network.layers[0] (L1).in_features: 10 does not match the task's 12 inputs",)),
    ("input shape vs the task", put("network.input_shape", [13]), [],
     ("network.input_shape: [13]", "the task's input shape [12]")),
    ("bad input shape", put("network.input_shape", 12), [],
     ("network.input_shape: 12", "list of positive integers")),
    ("conv on flat inputs", put("network.layers", [CONV, {"type": "flatten"},
                                                   {**LIN, "in_features": 20, "out_features": 1,
                                                    "activation": "sigmoid"}]), [],
     ("network.layers[0] (L1).in_channels: 1 does not match the task's 12 inputs",
      "add a reshape layer")),
    ("conv net widths do not chain",
     lambda raw: raw.update(
         task={"name": "mnist", "options": {"flatten": False}},
         network={"layers": [CONV, {"type": "flatten"},
                             {**LIN, "in_features": 5, "out_features": 1,
                              "activation": "sigmoid"}]},
         analysis={"layers": ["L3"]}), [],
     ("network.layers[2] (L3).in_features: 5 does not match L2's 1352 outputs",)),
    ("linear on unflattened images",
     lambda raw: raw.update(
         task={"name": "mnist", "options": {"flatten": False}},
         network={"layers": [CONV, {**LIN, "in_features": 26, "out_features": 1,
                                    "activation": "sigmoid"}]},
         analysis={"layers": ["L2"]}), [],
     ("network.layers[1] (L2).in_features: 26 does not match L1's outputs of shape "
      "[2, 26, 26]", "add a flatten")),
    ("kernel larger than the image",
     lambda raw: raw.update(
         task={"name": "mnist", "options": {"flatten": False}},
         network={"layers": [{**CONV, "kernel_size": 30}, {"type": "flatten"},
                             {**LIN, "in_features": 2, "out_features": 1,
                              "activation": "sigmoid"}]},
         analysis={"layers": ["L3"]}), [],
     ("network.layers[0] (L1): conv2d does not take the task's inputs of shape [1, 28, 28]",
      "Kernel size")),
    # analysis
    ("unknown analysis key", put("analysis.dataste", "all"), [],
     ("analysis: unknown key 'dataste'", "allowed: layers, measures, dataset")),
    ("misspelled analysis dataset", put("analysis.dataset", "tain"), [],
     ("analysis.dataset: 'tain'", "train, test, full", "'all'")),
    ("unknown measure", put("analysis.measures", ["pdi"]), [],
     ("analysis.measures: 'pdi'", "pid, shannon, reing")),
    ("unknown layer", put("analysis.layers", ["L9"]), [], ("analysis.layers: 'L9'", "L1, L2, L3")),
    ("layers not a list", put("analysis.layers", "L1"), [], ("analysis.layers: 'L1'", "a list")),
    ("n_bins 1", put("analysis.n_bins", 1), [], ("analysis.n_bins: 1", "integer >= 2")),
    ("surrogates as a number", put("analysis.surrogates", 20), [],
     ("analysis.surrogates: 20", "a mapping with keys mi, pid")),
    ("negative surrogates", put("analysis.surrogates", {"mi": -1}), [],
     ("analysis.surrogates.mi: -1", "integer >= 0")),
    ("unknown surrogates key", put("analysis.surrogates", {"pids": 3}), [],
     ("analysis.surrogates: unknown key 'pids'", "allowed: mi, pid")),
    ("unknown pid checkpoint", put("analysis.surrogates", {"pid_checkpoints": ["end"]}), [],
     ("analysis.surrogates.pid_checkpoints: ['end']", "first, middle, last")),
    ("bias fraction above 1", put("analysis.surrogates", {"bias_fraction": 10}), [],
     ("analysis.surrogates.bias_fraction: 10", "(0, 1]")),
    ("per_class without pid", put("analysis.per_class", True, "analysis.measures", ["shannon"]),
     [], ("analysis.per_class: True", "needs 'pid'")),
    ("unknown binning", put("analysis.binning", "gauss"), [],
     ("analysis.binning: 'gauss'", "hard", "goldfeld", "smoothed")),
    ("noise without a noisy binning", put("analysis.noise_sigma", 0.1), [],
     ("analysis.noise_sigma: 0.1", "binning: hard")),
    ("goldfeld without sigma", put("analysis.binning", "goldfeld", "analysis.n_bins", 10), [],
     ("analysis.noise_sigma: None", "a number > 0")),
    ("goldfeld on a quantized layer",
     put("analysis.binning", "smoothed", "analysis.n_bins", 10, "analysis.noise_sigma", 0.1),
     [], ("analysis.binning: 'smoothed'", "hard for L1", "quantized")),
    ("broja on 4 sources", put("analysis.measures", ["broja"]), [],
     ("analysis.measures: 'broja'", "exactly 2 sources", "has 4")),
    ("grouping named like a class", grouping(name="class_1", kind="groups", groups=[[0]]), [],
     ("analysis.groupings[1].name: 'class_1'", "not starting with 'class_'")),
    ("pid on a layer too wide",
     lambda raw: raw.update(network={"layers": tishby_layers(8, 3)}), [],
     ("analysis.layers: 'L1'", "at most 5 neurons for measure 'pid'", "L1 has 8")),
    ("reing on a layer too wide",
     lambda raw: raw.update(network={"layers": tishby_layers(20, 3)},
                            analysis={"layers": ["L1"], "measures": ["reing"]}), [],
     ("analysis.layers: 'L1'", "at most 18 neurons for measure 'reing'")),
    # groupings
    ("duplicate grouping names", put("analysis.groupings", [{"name": "a"}, {"name": "a"}]), [],
     ("analysis.groupings: ['a', 'a']", "distinct names")),
    ("unknown grouping key", grouping(name="p", kind="groups", groups=[[0]], sise=3), [],
     ("analysis.groupings[p]: unknown key 'sise'", "allowed: name, kind")),
    ("grouping key of another kind", grouping(name="p", kind="groups", groups=[[0]], size=3),
     [], ("analysis.groupings[p].size: 3", "keys of kind 'groups'")),
    ("unknown grouping kind", grouping(name="p", kind="pairs"), [],
     ("analysis.groupings[1].kind: 'pairs'", "random_subsets")),
    ("grouping name with a slash", grouping(name="a/b", kind="groups", groups=[[0]]), [],
     ("analysis.groupings[1].name: 'a/b'", "no '/'")),
    ("grouping name of dots", grouping(name="..", kind="groups", groups=[[0]]), [],
     ("analysis.groupings[1].name: '..'", "not only dots")),
    ("grouping name MLflow refuses", grouping(name="a|b", kind="groups", groups=[[0]]), [],
     ("analysis.groupings[1].name: 'a|b'", "letters, digits")),
    ("grouping named like a measure", grouping(name="pid", kind="groups", groups=[[0]]), [],
     ("analysis.groupings[1].name: 'pid'", "not a measure name")),
    ("group index out of range", grouping(name="p", kind="groups", groups=[[0, 1], [2, 7]]), [],
     ("analysis.groupings[p].groups: [7]", "neuron indices 0..3 of L1")),
    ("group index out of range on one layer",
     grouping(name="p", kind="groups", groups=[[0], [3]], layers=["L2"]), [],
     ("analysis.groupings[p].groups: [3]", "0..2 of L2")),
    ("overlapping groups", grouping(name="p", kind="groups", groups=[[0, 1], [1, 2]]), [],
     ("analysis.groupings[p].groups: [[0, 1], [1, 2]]", "disjoint")),
    ("too many groups for pid",
     grouping(name="p", kind="groups", groups=[[0], [1], [2], [3], [4], [5]]), [],
     ("analysis.groupings[p].groups", "at most 5 sources for measure 'pid'")),
    ("random subset larger than the layer",
     grouping(name="r", kind="random_subsets", size=4, count=2, layers=["L2"]), [],
     ("analysis.groupings[r].size: 4", "at most L2's 3 neurons")),
    ("random subset larger than pid allows",
     grouping(name="r", kind="random_subsets", size=6, count=2), [],
     ("analysis.groupings[r].size: 6", "at most 5 sources for measure 'pid'")),
    ("random subsets without a count", grouping(name="r", kind="random_subsets", size=2), [],
     ("analysis.groupings[r].count: None", "positive integer")),
    ("grouping on a layer not analysed",
     grouping(name="p", kind="groups", groups=[[0]], layers=["L3"]), [],
     ("analysis.groupings[p].layers: 'L3'", "analysed layers (L1, L2)")),
    # performance
    ("unknown performance key", put("performance.dataset", ["train"]), [],
     ("performance: unknown key 'dataset'", "allowed: datasets")),
    ("misspelled performance dataset", put("performance.datasets", ["train", "vaild"]), [],
     ("performance.datasets: 'vaild'", "train, test, full", "'all'")),
    ("performance datasets not a list", put("performance.datasets", "test"), [],
     ("performance.datasets: 'test'", "a non-empty list")),
    ("no performance datasets", put("performance.datasets", []), [],
     ("performance.datasets: []", "a non-empty list")),
    # report
    ("unknown report band", put("report", {"band": "bogus"}), [],
     ("report.band: 'bogus' is not valid", "allowed: quantile or t")),
    ("unknown report key", put("report", {"bands": "t"}), [],
     ("report: unknown key 'bands'", "allowed: band")),
    # the command line
    ("bogus device", None, ["--device", "bogus"],
     ("--device: 'bogus' is not a torch device; use cpu, cuda or cuda:N",)),
    ("meta device", None, ["--device", "meta"], ("--device: 'meta' is not a torch device",)),
    pytest.param("cuda without one", None, ["--device", "cuda"],
                 ("--device: 'cuda' requested but no CUDA device is available",),
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")),
    ("--set without '='", None, ["--set", "training.lr"],
     ("--set: 'training.lr' is not of the form KEY=VALUE",)),
    ("--set YAML syntax error", None, ["--set", "training.lr=[0.1"],
     ("training.lr: '[0.1'", "not a YAML value")),
    ("--set unknown key", None, ["--set", "analysis.dataste=all"],
     ("analysis: unknown key 'dataste'",)),
    ("--set through a value", None, ["--set", "training.lr.x=1"],
     ("training.lr.x: 1", "a path through mappings")),
]


def _case_id(case) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.mark.parametrize("case, change, args, expected", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_config_fails_before_any_work(case, change, args, expected, tmp_path):
    path = tmp_path / "bad.yaml"
    if isinstance(change, str):
        path.write_text(change)
    else:
        raw = copy.deepcopy(BASE)
        if change is not None:
            change(raw)
        path.write_text(yaml.safe_dump(raw))
    res = CliRunner().invoke(main, ["train", "--config", str(path), "--workers", "1",
                                    "--no-progress", *args])
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    for text in expected:
        assert text in lines[0], (text, lines[0])
    client = runs.client()
    experiments = client.search_experiments()
    assert [e.name for e in experiments] == ["Default"], "no experiment was created"
    assert not client.search_runs([e.experiment_id for e in experiments]), "no run was created"
    assert not (tmp_path / "outputs").exists()


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30


def test_base_config_and_every_project_round_trip():
    """The base of the table is valid; logged configs (``to_dict``, all grouping fields
    included) load again despite the unknown-key checks."""
    from pathlib import Path

    cfg = build_config(BASE)
    assert build_config(cfg.to_dict()) == cfg
    for path in sorted(Path(__file__).resolve().parents[1].glob("projects/*/config.yaml")):
        for quick in (False, True):
            cfg = load_config(path, quick=quick)
            assert build_config(cfg.to_dict()).to_dict() == cfg.to_dict(), path


def test_valid_edge_cases_pass():
    ok = copy.deepcopy(BASE)
    ok["name"] = "Tishby demo 2 (v1.2)"
    ok["analysis"]["groupings"].append(
        {"name": "random 2", "kind": "random_subsets", "size": 2, "count": 3, "seed": 1})
    ok["performance"]["datasets"] = ["all", "full"]
    cfg = build_config(ok)
    assert cfg.analysis.groupings[-1].name == "random 2"
    wide = {**copy.deepcopy(BASE), "network": {"layers": tishby_layers(8, 3)},
            "analysis": {"layers": ["L1"], "measures": ["shannon"]}}
    assert build_config(wide).analysis.measures == ("shannon",)  # no source limit
    mnist = {**copy.deepcopy(BASE), "task": {"name": "mnist", "options": {"flatten": False}},
             "network": {"layers": [CONV, {"type": "flatten"},
                                    {**LIN, "in_features": 1352, "out_features": 1,
                                     "activation": "sigmoid"}]},
             "analysis": {"layers": ["L3"], "dataset": "qmnist_test50k", "n_bins": 10}}
    with pytest.raises(ConfigError, match="analysis.dataset: 'qmnist_test50k'"):
        build_config(mnist)
    mnist["task"]["options"]["qmnist_test50k"] = True
    assert build_config(mnist).analysis.dataset == "qmnist_test50k"


def test_unquantized_layers_need_bins_and_a_bounded_activation_before_training():
    unquantized = copy.deepcopy(BASE)
    for layer in unquantized["network"]["layers"]:
        layer.pop("quantizer", None)
    unquantized["analysis"]["layers"] = ["L1"]
    with pytest.raises(ConfigError, match=r"analysis.n_bins: None .* L1 is not quantized"):
        build_config(unquantized)
    unquantized["analysis"]["n_bins"] = 8
    assert build_config(unquantized).analysis.n_bins == 8
    unquantized["network"]["layers"][0]["activation"] = "relu"
    with pytest.raises(ConfigError, match=r"analysis.layers: 'L1' .* activation is unbounded"):
        build_config(unquantized)


def test_source_limits_match_the_engines():
    from nninfo.info.lattice import MAX_SOURCES
    from nninfo.info.reing import MAX_EXACT_SUBSETS

    limits = source_limits(("pid", "shannon", "reing"))
    assert limits["pid"] == MAX_SOURCES and "shannon" not in limits
    n = limits["reing"]
    assert math.comb(n, n // 2) <= MAX_EXACT_SUBSETS < math.comb(n + 1, (n + 1) // 2)


@pytest.mark.parametrize("name", ["tishby_demo", "Run 3", "a.b-c_d", "x" * 255, "2024"])
def test_safe_experiment_names_pass(name):
    assert check_experiment_name("name", name) == name


def test_declared_splits_and_input_shapes_match_the_loaded_tasks():
    from nninfo.tasks import load_task, task_input_shape, task_splits

    for name, options in [("tishby", {}), ("parity", {"n_bits": 4, "n_train": 20, "n_test": 5}),
                          ("xor", {"n_train": 20, "n_test": 5}),
                          ("checkerboard", {"cells": 3, "n_train": 20, "n_test": 5})]:
        task = load_task(name, **options)
        assert task_splits(name, options) == tuple(task.splits), name
        assert task_input_shape(name, options) == task.input_shape, name
    assert task_splits("mnist", {"qmnist_test50k": True})[-1] == "qmnist_test50k"
    assert task_input_shape("mnist", {"flatten": False}) == (1, 28, 28)
    assert task_input_shape("cifar10") == (3, 32, 32)
    assert task_input_shape("cifar10", {"flatten": True}) == (3072,)


def _fake_task(monkeypatch, **declared):
    """Register a task ``fake`` (train/val splits of 6 inputs) in a private registry."""
    from nninfo.tasks import RawTask, base, register_task

    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    monkeypatch.setattr(base, "_DECLARED", dict(base._DECLARED))

    @register_task("fake", **declared)
    def load_fake(data_dir, seed):
        x, y = torch.zeros(8, 6), torch.zeros(8, dtype=torch.long)
        return RawTask({"train": (x, y), "val": (x, y)}, n_classes=2, default_encoding="binary")


def test_undeclared_task_is_checked_once_loaded(monkeypatch):
    from nninfo.tasks import load_task

    _fake_task(monkeypatch)
    raw = {**copy.deepcopy(BASE), "task": {"name": "fake"},
           "network": {"layers": tishby_layers(4, 3)}}
    raw["analysis"]["dataset"] = "val"
    cfg = build_config(raw)  # splits and input shape unknown without loading
    assert needs_task_check(cfg)
    with pytest.raises(ConfigError, match="performance.datasets: 'test' is not valid; "
                                          "allowed: train, val"):
        check_against_task(cfg, load_task("fake"))
    raw["performance"]["datasets"] = ["val"]
    with pytest.raises(ConfigError, match=r"network.layers\[0\] \(L1\).in_features: 12 does not "
                                          "match the task's 6 inputs"):
        check_against_task(build_config(raw), load_task("fake"))
    raw["network"]["layers"][0]["in_features"] = 6
    check_against_task(build_config(raw), load_task("fake"))
    assert not needs_task_check(build_config(BASE))


def test_a_wrong_declaration_is_caught_when_the_task_loads(monkeypatch):
    from nninfo.tasks import load_task

    _fake_task(monkeypatch, splits=("train", "test"), input_shape=(6,))
    with pytest.raises(RuntimeError, match="declares splits"):
        load_task("fake")


def test_check_device(monkeypatch):
    from nninfo.training.common import check_device

    for ok in (None, "", "cpu"):
        check_device(ok)
    with pytest.raises(ValueError, match=r"--device: 'bogus' is not a torch device; use cpu, "
                                         "cuda or cuda:N"):
        check_device("bogus")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device: 'cuda:0' requested but no CUDA device is "
                                         "available"):
        check_device("cuda:0")
    check_device("cuda:0", here=False)  # the GPUs of a Dask scheduler's workers
    with pytest.raises(ValueError, match="'bogus' is not a torch device"):
        check_device("bogus", here=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_device("cuda:1")
    with pytest.raises(ValueError, match=r"'cuda:2' requested but only 2 CUDA device\(s\)"):
        check_device("cuda:2")


def test_checkpoints_help_says_what_the_count_means():
    out = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    assert "counting the one at epoch 0 and the last step" in " ".join(out.split())


def test_a_wide_layer_is_fine_when_no_layer_is_analysed():
    """Train-only configs (no analysis.layers) are not held to the PID's source limit."""
    raw = {**BASE, "network": {"layers": tishby_layers(8, 3)}, "analysis": {}}
    assert build_config(raw).analysis.layers == ()

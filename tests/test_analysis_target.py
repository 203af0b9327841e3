"""``analysis.target``: the class label (default) or columns of the task's label code.

The published binary-output MNIST notebook (tmlr_scripts/2_tmlr_mnist_8levels_binary.ipynb,
TMLR commit 8289154) takes ``NeuronID('Y', (1,))`` as its PID target: column 0 of the label
code ``binary(y, 4)`` (``y & 2**arange(4) != 0``), the digit's lowest bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nninfo.config import ConfigError, build_config, check_target
from nninfo.jobs import analyze, load_experiment_task
from nninfo.jobs.common import target_labels
from nninfo.jobs.train import train_seed
from nninfo.testing import write_mnist

LAYERS = [{"type": "linear", "in_features": 784, "out_features": 4, "activation": "tanh",
           "quantizer": {"levels": 8}},
          {"type": "linear", "in_features": 4, "out_features": 4, "activation": "sigmoid"}]
BASE = {"name": "target", "seeds": 1,
        "task": {"name": "mnist", "label_encoding": "binary"},
        "network": {"layers": LAYERS},
        "training": {"optimizer": "sgd", "lr": 0.5, "loss": "mse", "batch_size": 20,
                     "epochs": 3, "checkpoint_schedule": "log_steps", "checkpoint_count": 4},
        "analysis": {"layers": ["L1"], "measures": ["pid", "shannon", "reing"],
                     "per_class": True, "surrogates": {"mi": 5, "pid": 2}}}


def config(target=None, **task):
    analysis = {**BASE["analysis"], **({} if target is None else {"target": target})}
    return build_config({**BASE, "task": {**BASE["task"], **task}, "analysis": analysis})


def published_binary(labels: np.ndarray, bits: int = 4) -> np.ndarray:
    """The published ``MnistBinaryTask.binary``: bit ``i`` of each label in column ``i``."""
    mask = 2 ** np.arange(bits)
    return (labels[:, None] & mask) != 0


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    write_mnist(root, n_train=200, n_test=20, seed=3)
    return str(root)


def test_bad_targets_are_refused_with_field_value_and_choices(mnist):
    assert config().analysis.target.is_label
    assert "target" not in config().to_dict()["analysis"]  # old configs: same params, key
    assert config("label").to_dict() == config().to_dict()
    assert config({"code_columns": [0]}).to_dict()["analysis"]["target"] == {"code_columns": [0]}
    for bad, field in (("digit", "analysis.target"), ({"code_columns": [1, 1]}, "code_columns"),
                       ({"code_columns": []}, "code_columns"), ({"columns": [0]}, "target"),
                       ({"code_columns": [-1]}, "code_columns"),
                       ({"code_columns": [True]}, "code_columns"),
                       ({"code_columns": 0}, "code_columns")):
        with pytest.raises(ConfigError, match=rf"{field}.*allowed"):
            config(bad)
    with pytest.raises(ConfigError, match="analysis.target: .*index is the class itself"):
        build_config({**BASE, "task": {"name": "mnist", "label_encoding": "index"},
                      "training": {**BASE["training"], "loss": "cross_entropy"},
                      "analysis": {"layers": ["L1"], "target": {"code_columns": [0]}}})
    cfg = config({"code_columns": [0, 4]})  # the 4-bit code of 10 digits has columns 0..3
    with pytest.raises(ConfigError, match=r"code_columns: \[0, 4\].*0\.\.3"):
        check_target(cfg, load_experiment_task(cfg, mnist))
    onehot = config({"code_columns": [9]}, label_encoding="onehot")
    check_target(onehot, load_experiment_task(onehot, mnist))
    with pytest.raises(ConfigError, match=r"0\.\.9"):
        wide = config({"code_columns": [10]}, label_encoding="onehot")
        check_target(wide, load_experiment_task(wide, mnist))


def test_probe_refuses_a_code_target():
    from nninfo.probe import Probe

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh())
    data = (torch.zeros(4, 3), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="analysis.target.*labels"):
        Probe(model, data, {"h": "1"}, analysis={"target": {"code_columns": [0]}})


def test_the_target_is_the_published_code_column(mnist):
    cfg = config({"code_columns": [0]})
    task = load_experiment_task(cfg, mnist)
    labels = task["train"].labels
    code = published_binary(labels.numpy())
    bit = target_labels(cfg, task, labels).numpy()
    np.testing.assert_array_equal(bit, code[:, 0])
    np.testing.assert_array_equal(bit, labels.numpy() & 1)
    assert set(bit) == {0, 1}
    # several columns: their joint value, the first chosen column least significant
    two = target_labels(config({"code_columns": [3, 1]}), task, labels).numpy()
    np.testing.assert_array_equal(two, code[:, 3] + 2 * code[:, 1])
    every = target_labels(config({"code_columns": [0, 1, 2, 3]}), task, labels)
    torch.testing.assert_close(every, labels)


def test_a_bit_target_carries_at_most_one_bit_through_every_measure(mnist, tmp_path):
    """A trained binary-output net: I(bit; L1) <= 1 bit at every checkpoint (and its
    surrogates, and the per-class PID has the bit's 2 values), where the digit gives more;
    all 4 columns, a bijection of the digit, give the digit's numbers."""
    label, bit, every = (config(t) for t in (None, {"code_columns": [0]},
                                              {"code_columns": [0, 1, 2, 3]}))
    trained = train_seed(label, 0, tmp_path / "work", data_dir=mnist)
    assert len(trained.checkpoints) >= 3
    most = 0.0
    for ck in trained.checkpoints:
        got = {name: analyze.analyze_checkpoint(c, ck.path, ["L1"], data_dir=mnist,
                                                pid_surrogates=True)
               for name, c in (("label", label), ("bit", bit), ("every", every))}
        one = got["bit"].measures
        assert one["L1/mutual_information"] <= 1 + 1e-12
        assert one["L1/pid.mutual_information"] <= 1 + 1e-12
        assert one["L1/mutual_information_surrogate_mean"] <= 1 + 1e-12
        assert set(got["bit"].class_atoms["t"]) == {0, 1}
        most = max(most, got["label"].measures["L1/mutual_information"])
        assert got["every"].measures == pytest.approx(got["label"].measures, nan_ok=True)
    assert most > 1


def test_the_report_names_the_target():
    from nninfo.presentation.report import render_report

    bit = render_report("t", config({"code_columns": [0]}), None, None, figures={})
    assert "target T: columns [0] of the label code" in bit
    assert "code_columns" in bit  # the config section lists the setting
    assert "target T: the class label" in render_report("t", config(), None, None, figures={})

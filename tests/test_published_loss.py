"""``performance.loss: published``: the published Tester's loss (nninfo/tester.py applies the
softmax to a ``softmax_output`` head, then the trainer's ``nn.CrossEntropyLoss``, which applies
it again). Its values follow from the closed form -log softmax(softmax(z))_y: a one-hot
probability vector gives log(e + K - 1) - 1, a uniform one log K, and nothing exceeds
log(e + K - 1)."""

from __future__ import annotations

import math

import pytest
import torch

from nninfo.config import ConfigError, ExperimentConfig, build_config
from nninfo.jobs.common import load_checkpoint_network, load_experiment_task
from nninfo.jobs.evaluate import evaluate_checkpoint
from nninfo.nn.network import Network
from nninfo.presentation.figures import LOSS_NAMES, figure_caption, plot_performance
from nninfo.presentation.report import render_report
from nninfo.training import OutputLoss, TrainConfig, train_network


def floor(k: int) -> float:
    """The published loss of a perfect (one-hot) output over ``k`` classes."""
    return math.log(math.e + k - 1) - 1


def double_softmax_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-log softmax(softmax(z))_y per sample, written out."""
    p = torch.exp(logits - logits.logsumexp(-1, keepdim=True))
    return torch.log(torch.exp(p).sum(-1)) - p.gather(1, y[:, None]).squeeze(1)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_a_perfect_output_gives_the_closed_form_floor(k):
    y = torch.arange(k)
    one_hot = 60.0 * torch.eye(k, dtype=torch.float64)  # softmax: one-hot to 1e-26
    loss = OutputLoss("cross_entropy", "softmax")
    published = loss.published_per_sample(one_hot, one_hot, y)
    assert published.numpy() == pytest.approx([floor(k)] * k, abs=1e-6)
    assert loss.per_sample(one_hot, one_hot, y).max() < 1e-12  # the true loss: zero
    uniform = torch.zeros(k, k, dtype=torch.float64)
    assert loss.published_per_sample(uniform, uniform, y).numpy() == pytest.approx(
        [math.log(k)] * k, abs=1e-12)
    if k == 10:  # the value the published loss curves level off at
        assert floor(10) == pytest.approx(1.4611, abs=1e-4)


def test_other_heads_and_losses_are_evaluated_as_in_training():
    """The published tester applies the softmax to softmax heads only, and MSE of a softmax
    head is of its probabilities in both: the published loss equals ours there."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(16, 4, generator=g, dtype=torch.float64)
    bits = (torch.rand(16, 4, generator=g) > 0.5).double()
    labels = torch.randint(0, 4, (16,), generator=g)
    cases = [("mse", "sigmoid", torch.sigmoid(z), bits), ("bce", "sigmoid", torch.sigmoid(z), bits),
             ("cross_entropy", "identity", z, labels)]
    for name, act, out, y in cases:
        loss = OutputLoss(name, act, width=4)
        t = loss.targets(y)[0]
        assert torch.equal(loss.published_per_sample(out, z, t), loss.per_sample(out, z, t))
    mse = OutputLoss("mse", "softmax", width=4)
    t = mse.targets(labels)[0]
    expected = ((torch.softmax(z, -1) - t) ** 2).mean(-1)
    assert torch.allclose(mse.published_per_sample(z, z, t), expected)
    bce = OutputLoss("bce", "softmax", width=4)  # the tester's BCELoss of the probabilities
    p = torch.softmax(z, -1)
    expected = -(bits * p.log() + (1 - bits) * (1 - p).log()).mean(-1)
    assert torch.allclose(bce.published_per_sample(z, z, bits), expected)


def test_a_trained_ten_class_network_stays_above_the_floor():
    g = torch.Generator().manual_seed(1)
    y = torch.arange(10).repeat(20)
    x = 3.0 * torch.eye(10)[y] + 0.1 * torch.randn(len(y), 10, generator=g)  # separable
    net = Network([{"type": "linear", "in_features": 10, "out_features": 10,
                    "activation": "softmax"}], seed=0)
    tc = TrainConfig(optimizer="adam", lr=0.1, batch_size=200, epochs=100,
                     checkpoint_schedule="lin", checkpoint_count=2)
    logits = []
    train_network(net, x, y, tc, seed=0, device="cpu",
                  on_checkpoint=lambda ck: logits.append(_logits(ck, x)))
    loss = OutputLoss("cross_entropy", "softmax")
    first, last = logits[0], logits[-1]
    for z in (first, last):
        published = loss.published_per_sample(z, z, y)
        assert torch.allclose(published, double_softmax_ce(z, y), atol=1e-6)
        assert (published >= floor(10) - 1e-6).all()
        assert (published <= math.log(math.e + 9) + 1e-6).all()
    assert loss.per_sample(last, last, y).mean() < 0.05  # trained: the true loss near 0 ...
    assert loss.published_per_sample(last, last, y).mean() < floor(10) + 0.05  # ... this not


def _logits(ck, x: torch.Tensor) -> torch.Tensor:
    net = Network([{"type": "linear", "in_features": 10, "out_features": 10,
                    "activation": "softmax"}], seed=0)
    net.load_state_dict(ck.model_state)
    with torch.no_grad():
        return net.eval().forward_parts(x)[0].double()


def _config(**performance) -> ExperimentConfig:
    return build_config({
        "name": "published_loss", "seeds": [0],
        "task": {"name": "parity", "options": {"n_bits": 3, "n_train": 64, "n_test": 32}},
        "network": {"layers": [
            {"type": "linear", "in_features": 3, "out_features": 4, "activation": "tanh"},
            {"type": "linear", "in_features": 4, "out_features": 2, "activation": "softmax"}]},
        "training": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.05, "epochs": 5,
                     "batch_size": 64, "checkpoint_count": 2},
        "performance": performance})


def test_evaluation_logs_the_chosen_loss_and_the_same_accuracy(tmp_path):
    cfg, published_cfg = _config(), _config(loss="published")
    task = load_experiment_task(cfg)
    cks = []
    train_network(Network(list(cfg.network.layers), seed=0), task["train"].x, task["train"].y,
                  cfg.training, seed=0, device="cpu", on_checkpoint=cks.append)
    path = tmp_path / "ck.pt"
    cks[-1].save(path)
    ours = evaluate_checkpoint(cfg, path, ("train", "test"))
    published = evaluate_checkpoint(published_cfg, path, ("train", "test"))
    net = load_checkpoint_network(cfg, path)
    for name in ("train", "test"):
        data = task[name]
        with torch.no_grad():
            z = net.forward_parts(data.x)[0].double()
        y = data.labels.long()
        row = {t: tab[(tab.dataset == name) & (tab["class"] == -1)].iloc[0]
               for t, tab in (("ours", ours), ("published", published))}
        true_ce = (z.logsumexp(-1) - z.gather(1, y[:, None]).squeeze(1)).mean().item()
        assert row["ours"]["loss"] == pytest.approx(true_ce, rel=1e-5)  # unchanged
        assert row["published"]["loss"] == pytest.approx(
            double_softmax_ce(z, y).mean().item(), rel=1e-5)
        assert floor(2) - 1e-6 <= row["published"]["loss"] <= math.log(math.e + 1) + 1e-6
    assert ours["accuracy"].tolist() == published["accuracy"].tolist()


def test_config_key_default_and_validation():
    cfg = _config()
    assert cfg.performance.loss == "training"
    assert "loss" not in cfg.to_dict()["performance"]  # old configs: same params, same key
    assert cfg.settings_key("performance") == _config(loss="training").settings_key(
        "performance")
    assert cfg.settings_key("performance") != _config(loss="published").settings_key(
        "performance")
    assert _config(loss="published").to_dict()["performance"]["loss"] == "published"
    for bad in ("double", 1, None):
        with pytest.raises(ConfigError, match=r"performance\.loss: .* allowed: training or "
                                              r"published"):
            _config(loss=bad)


def test_the_figure_names_the_published_loss():
    import pandas as pd

    perf = pd.DataFrame({"seed": [0, 0, 1, 1], "epoch": [0, 1, 0, 1],
                         "dataset": ["train"] * 4, "loss": [2.3, 1.5, 2.3, 1.5],
                         "accuracy": [0.1, 0.9, 0.1, 0.9]})
    fig = plot_performance(perf, loss="published")
    assert fig.axes[0].get_title().startswith("Published (double-softmax) loss")
    assert LOSS_NAMES["published"] in figure_caption(fig)
    plain = plot_performance(perf)
    assert plain.axes[0].get_title() == "Loss over training"
    assert "double-softmax" not in figure_caption(plain)
    with pytest.raises(ValueError, match="performance.loss"):
        plot_performance(perf, loss="true")
    page = render_report("t", {}, None, perf, figures={}, performance_loss="published")
    assert "published (double-softmax) loss</th>" in page and "ln(e+K-1)-1" in page
    assert "double-softmax" not in render_report("t", {}, None, perf, figures={})

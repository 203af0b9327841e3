"""The hand-written numpy step must compute what autograd computes, and train_network() must
use it."""

import numpy as np
import pytest
import torch

from nninfo.nn import Network
from nninfo.training import TrainConfig, train_network
from nninfo.training.losses import OutputLoss
from nninfo.training.mlp_step import MLPStep, unsupported_reason


def lin(i, o, act="tanh", q=None):
    return {
        "type": "linear",
        "in_features": i,
        "out_features": o,
        "activation": act,
        "quantizer": q,
    }


STOCH = {"levels": 8, "mode": "stochastic"}
NEAREST = {"levels": 4, "mode": "center_saturating"}
NARROW = {"levels": 5, "mode": "stochastic", "limits": [-0.5, 0.7]}  # narrower than tanh
NARROW_RELU = {"levels": 4, "mode": "stochastic", "limits": [0.2, 1.5]}  # lo above relu's 0

NETS = {
    "tanh_stochastic": ([lin(7, 9, q=STOCH), lin(9, 4, q=STOCH), lin(4, 3, "softmax")], "ce"),
    "tanh_narrow_limits": ([lin(7, 6, q=NARROW), lin(6, 3, "softmax")], "ce"),
    "sigmoid_nearest": ([lin(7, 6, "sigmoid", NEAREST), lin(6, 3, "identity")], "ce"),
    "relu_limits": (
        [
            lin(7, 6, "relu", {"levels": 6, "mode": "stochastic", "limits": [0, 2]}),
            lin(6, 3, "sigmoid"),
        ],
        "bce3",
    ),
    "hardtanh_identity": (
        [lin(7, 6, "hardtanh"), lin(6, 5, "identity"), lin(5, 1, "sigmoid")],
        "bce",
    ),
    "softmax_bce": ([lin(7, 5, q=STOCH), lin(5, 3, "softmax")], "bce3"),
    "sigmoid_mse": ([lin(7, 5, q=STOCH), lin(5, 3, "sigmoid")], "mse3"),
    "softmax_mse": ([lin(7, 5, q=STOCH), lin(5, 3, "softmax")], "mse3"),
    "tanh_mse": ([lin(7, 5, "relu", NARROW_RELU), lin(5, 3, "tanh")], "mse3"),
    "identity_mse": ([lin(7, 5, q=NEAREST), lin(5, 1, "identity")], "mse1"),
}


def batch(kind, n=13, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.randn(n, 7, generator=g)
    labels = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    if kind == "ce":
        return x, labels
    if kind == "bce":
        return x, (x[:, 0] > 0).float()[:, None]
    if kind == "mse1":
        return x, x[:, :1].tanh()
    return x, torch.rand(n, 3, generator=g).round()


def autograd_grads(net, cfg, x, t):
    """Loss sum, correct sum and parameter gradients as train_network()'s autograd path
    computes them."""
    out, pre, hidden = net.forward_parts(x)
    losses, correct = OutputLoss.of(net, cfg.loss)(out, pre, t)
    loss = losses.mean() + sum(cfg.l1 * h.abs().mean() + cfg.l2 * h.square().mean() for h in hidden)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    return losses.sum().item(), correct.sum().item(), grads


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("reg", [(0.0, 0.0), (0.03, 0.05)])
def test_loss_accuracy_and_gradients_match_autograd(name, reg):
    layers, kind = NETS[name]
    loss = {"ce": "cross_entropy", "bce": "bce", "bce3": "bce"}.get(kind, "mse")
    cfg = TrainConfig(loss=loss, l1=reg[0], l2=reg[1])
    x, t = batch(kind)
    net = Network(layers, seed=3).train()
    step = MLPStep.build(net, cfg, t, x)
    assert step is not None
    torch.manual_seed(11)  # both paths draw their quantizer noise from the global RNG
    loss, correct = step(x.numpy(), step.targets(t).numpy())
    torch.manual_seed(11)
    ref_loss, ref_correct, ref_grads = autograd_grads(net, cfg, x, t)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert correct == pytest.approx(ref_correct, abs=1e-5)
    for p, got, ref in zip(net.parameters(), step.grads, ref_grads, strict=True):
        assert got.shape == p.shape and got.stride() == p.stride()
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_stochastic_rounding_stays_on_the_levels_at_the_extremes():
    """Noise just below 1 on an activation at the upper limit must not round past it."""
    net = Network([lin(1, 4, q=STOCH), lin(4, 2, "softmax")], seed=0)
    with torch.no_grad():
        net.layers["L1"].op.weight.copy_(torch.tensor([[1e4], [-1e4], [0.0], [1e-3]]))
        net.layers["L1"].op.bias.zero_()
    cfg = TrainConfig()
    x, t = torch.tensor([[1.0], [-1.0], [0.5]]), torch.tensor([0, 1, 0])
    step = MLPStep.build(net, cfg, t, x)
    plan = step._plan(3)
    for u in (0.0, np.nextafter(np.float32(1), np.float32(0))):
        plan.noise_torch.fill_(float(u))
        step._forward(x.numpy(), plan)
        h = plan.inputs[1]
        levels = -1 + 2 / 7 * np.arange(8, dtype=np.float32)
        assert h.min() >= -1 and h.max() <= 1
        assert np.isin(h, levels).all()
        assert h[0, 0] == h[1, 1] == 1 and h[0, 1] == h[1, 0] == -1  # saturated units


def run(layers, cfg, path=None, x=None, y=None):
    if x is None:
        x, y = batch("ce", n=150, seed=4)
    ckpts, metrics = [], []
    train_network(
        Network(layers, seed=2),
        x,
        y,
        cfg,
        seed=7,
        on_checkpoint=ckpts.append,
        on_metrics=lambda m, s: metrics.append(m),
        device="cpu",
        path=path,
    )
    return ckpts, metrics


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_train_follows_the_autograd_path(optimizer):
    layers = [lin(7, 9, q=NEAREST), lin(9, 4, "sigmoid", NEAREST), lin(4, 3, "softmax")]
    cfg = TrainConfig(optimizer=optimizer, lr=0.05, momentum=0.9, batch_size=16, epochs=3, l2=0.01)
    fast, fast_m = run(layers, cfg)
    slow, slow_m = run(layers, cfg, "autograd")
    assert [c.step for c in fast] == [c.step for c in slow]
    for a, b in zip(fast, slow, strict=True):
        for k, v in b.model_state.items():
            np.testing.assert_allclose(a.model_state[k], v, atol=2e-5)
        assert torch.equal(a.torch_rng_state, b.torch_rng_state)
    for a, b in zip(fast_m, slow_m, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["train_accuracy"] == pytest.approx(b["train_accuracy"], abs=1e-6)


def test_train_uses_the_numpy_step_for_plain_mlps(monkeypatch):
    built = []
    real = MLPStep.__init__

    def spy(self, *a, **kw):
        built.append(True)
        real(self, *a, **kw)

    monkeypatch.setattr(MLPStep, "__init__", spy)
    run([lin(7, 5, q=STOCH), lin(5, 3, "softmax")], TrainConfig(batch_size=16, epochs=1))
    assert built


@pytest.mark.parametrize(
    "layers, loss, targets, reason",
    [
        (
            [{"type": "reshape", "shape": [1, 7]}, {"type": "flatten"}, lin(7, 3, "softmax")],
            "cross_entropy",
            "labels",
            "other than linear",
        ),
        ([lin(7, 5), lin(5, 3, "sigmoid", STOCH)], "bce", "floats", "quantized output"),
        ([lin(7, 5), lin(5, 3, "softmax")], "cross_entropy", "floats", "loss 'cross_entropy'"),
    ],
)
def test_other_networks_fall_back_to_autograd_and_still_train(layers, loss, targets, reason):
    x = torch.randn(40, 7)
    y = torch.randint(0, 3, (40,)) if targets == "labels" else torch.rand(40, 3)
    net = Network(layers, seed=0)
    got = unsupported_reason(net, loss, y, x)
    assert got is not None and reason in got
    cfg = TrainConfig(loss=loss, batch_size=8, epochs=1, checkpoint_count=2)
    ckpts, metrics = run(layers, cfg, x=x, y=y)
    assert ckpts[-1].epoch == 1.0 and np.isfinite(metrics[-1]["train_loss"])

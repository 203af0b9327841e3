"""One loss definition: evaluation's loss is training's loss, and both match hand formulas."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nninfo.jobs.evaluate import _per_sample
from nninfo.nn import Network
from nninfo.training import OutputLoss, TrainConfig, train_batched, train_network
from nninfo.training.stacked import BatchedMLP


def lin(i, o, act="tanh", q=None):
    return {
        "type": "linear",
        "in_features": i,
        "out_features": o,
        "activation": act,
        "quantizer": q,
    }


NEAREST = {"levels": 6, "mode": "center_saturating"}  # deterministic: same in train and eval
N = 90


def data(kind, seed=0):
    """Inputs, targets ``y`` and class labels of a small task; ``kind`` names the targets."""
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.randn(N, 5, generator=g)
    labels = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()  # 3 classes
    if kind == "index":
        return x, labels, labels
    if kind in ("bit", "bit_label"):  # one 0/1 output: float targets, or class labels
        bit = (x[:, 0] > 0).long()
        return x, bit if kind == "bit_label" else bit.float()[:, None], bit
    # binary code of the label, least significant bit first (2 outputs)
    return x, torch.stack([labels % 2, labels // 2], 1).float(), labels


# every (loss, output layer) pair training accepts: (loss, last layer, targets, label encoding)
PAIRS = {
    "ce-softmax": ("cross_entropy", lin(6, 3, "softmax"), "index", "index"),
    "ce-identity": ("cross_entropy", lin(6, 3, "identity"), "index", "index"),
    "bce-sigmoid": ("bce", lin(6, 1, "sigmoid"), "bit", "index"),
    "bce-sigmoid-code": ("bce", lin(6, 2, "sigmoid"), "code", "binary"),
    "bce-identity": ("bce", lin(6, 2, "identity"), "code", "binary"),
    "bce-softmax": ("bce", lin(6, 2, "softmax"), "code", "binary"),
    "bce-sigmoid-quantized": ("bce", lin(6, 2, "sigmoid", NEAREST), "code", "binary"),
    "mse-identity": ("mse", lin(6, 2, "identity"), "code", "binary"),
    "mse-tanh": ("mse", lin(6, 1, "tanh"), "bit", "index"),
    "mse-sigmoid-labels": ("mse", lin(6, 1, "sigmoid"), "bit_label", "index"),  # accuracy: > 0.5
    "mse-sigmoid": ("mse", lin(6, 2, "sigmoid"), "code", "binary"),
    "mse-softmax": ("mse", lin(6, 3, "softmax"), "index", "index"),  # one-hot targets
}


def first_step(loss, layers, x, y, path):
    """The first epoch's train_loss of a one-step run (whole data set, no shuffling; the loss
    of the initial weights) and the step-0 checkpoint."""
    cfg = TrainConfig(
        loss=loss, lr=0.1, batch_size=N, epochs=1, shuffle=False, checkpoint_count=2, l2=0.01
    )
    ckpts, metrics = [], []
    if path == "batched":
        train_batched(
            layers,
            x,
            y,
            cfg,
            seeds=[4],
            device="cpu",
            on_checkpoint=lambda i, c: ckpts.append(c),
            on_metrics=lambda i, m, s: metrics.append(m),
        )
    else:
        train_network(
            Network(layers, seed=4),
            x,
            y,
            cfg,
            seed=4,
            on_checkpoint=ckpts.append,
            on_metrics=lambda m, s: metrics.append(m),
            device="cpu",
            path=None if path == "numpy" else path,  # numpy: where it covers the pair
        )
    assert [c.step for c in ckpts] == [0, 1] and len(metrics) == 1
    return metrics[0], ckpts[0]


@pytest.mark.parametrize("path", ["numpy", "autograd", "batched"])
@pytest.mark.parametrize("pair", list(PAIRS))
def test_evaluation_loss_is_the_training_loss(pair, path):
    loss, last, kind, encoding = PAIRS[pair]
    layers = [lin(5, 6, q=NEAREST), last]
    x, y, labels = data(kind)
    metrics, ck = first_step(loss, layers, x, y, path)
    net = Network(layers)
    net.load_state_dict(ck.model_state)
    task = SimpleNamespace(label_encoding=encoding, n_classes=3)
    losses, pred = _per_sample(net.eval(), SimpleNamespace(x=x, y=y, labels=labels), loss, task)
    assert losses.shape == (N,)
    assert float(losses.mean()) == pytest.approx(metrics["train_loss"], rel=1e-5)
    # the losses module on the checkpoint's network gives the same mean
    head = OutputLoss.of(net, loss)
    with torch.no_grad():
        out, pre, _ = net.forward_parts(x)
        mean = head.mean(out, pre, head.targets(y)[0]).item()
    assert mean == pytest.approx(metrics["train_loss"], rel=1e-5)
    if "train_accuracy" in metrics and kind != "code":  # one prediction per label
        assert float((pred == labels.numpy()).mean()) == pytest.approx(
            metrics["train_accuracy"], abs=1e-6
        )


# --- hand formulas --------------------------------------------------------------------------


def tensors(seed=1, n=7, width=3):
    g = torch.Generator().manual_seed(seed)
    z = 3 * torch.randn(n, width, generator=g)
    t = torch.rand(n, width, generator=g).round()
    return z, t


@pytest.mark.parametrize("act", ["sigmoid", "identity", "softmax"])
def test_bce_with_logits_against_the_formula(act):
    z, t = tensors()
    head = OutputLoss("bce", act)
    # a sigmoid head's loss takes its pre-activation; identity and softmax heads' their output
    out, pre = (torch.sigmoid(z), z) if act == "sigmoid" else (z, z)
    s = torch.sigmoid(z.double())
    want = -(t * s.log() + (1 - t) * (1 - s).log()).mean(1)
    loss, correct = head(out, pre, t)
    torch.testing.assert_close(loss.double(), want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(correct, ((z > 0) == (t > 0.5)).float().mean(1))
    assert head.mean(out, pre, t).item() == pytest.approx(want.mean().item(), rel=1e-6)


def test_bce_of_a_quantized_sigmoid_takes_the_clamped_output():
    _, t = tensors()
    p = torch.tensor([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 0.4]).repeat(3, 1).T
    head = OutputLoss("bce", "sigmoid", quantized=True)
    q = p.clamp(1e-7, 1 - 1e-7).double()  # clamped in float32
    want = -(t * q.log() + (1 - t) * (1 - q).log()).mean(1)
    torch.testing.assert_close(head.per_sample(p, torch.zeros_like(p), t).double(), want)


def test_cross_entropy_and_mse_against_the_formulas():
    z, _ = tensors(width=4)
    y = torch.tensor([0, 3, 1, 2, 2, 0, 1])
    ce = OutputLoss("cross_entropy", "softmax")
    t, acc = ce.targets(y)
    assert acc and t.dtype == torch.long
    want = -torch.log_softmax(z.double(), 1)[torch.arange(7), y]
    torch.testing.assert_close(ce.per_sample(z, z, t).double(), want)
    # MSE of a softmax head: of the probabilities, against one-hot class labels
    mse = OutputLoss("mse", "softmax", width=4)
    t, acc = mse.targets(y)
    assert acc and t.shape == (7, 4) and torch.equal(t.argmax(1), y)
    want = ((torch.softmax(z, 1) - t) ** 2).mean(1)
    loss, correct = mse(z, z, t)
    torch.testing.assert_close(loss, want)
    assert torch.equal(correct, torch.softmax(z, 1).argmax(1) == y)
    # MSE of other heads: of the output itself; float targets keep their values
    out = torch.tanh(z)
    t, acc = OutputLoss("mse", "tanh").targets(torch.rand(7, 4))
    assert not acc
    torch.testing.assert_close(
        OutputLoss("mse", "tanh").per_sample(out, z, t), ((out - t) ** 2).mean(1)
    )


def test_targets_and_accuracy_flags():
    labels = torch.tensor([0, 1, 1])
    assert OutputLoss("bce", "sigmoid").targets(labels)[0].shape == (3, 1)
    assert OutputLoss("bce", "sigmoid").targets(labels.float())[1]  # BCE: always accuracy
    t, acc = OutputLoss("cross_entropy", "softmax").targets(torch.rand(3, 2))
    assert t.dtype == torch.float32 and not acc  # soft targets
    t, acc = OutputLoss("mse", "tanh", width=1).targets(labels)
    assert t.shape == (3, 1) and acc  # a single output's labels are not one-hot encoded
    with pytest.raises(ValueError, match="number of outputs is unknown"):
        OutputLoss("mse", "softmax").targets(labels)


def test_predictions():
    z = torch.tensor([[-0.2], [0.3], [2.0]])
    # BCE with logits: the logit above 0, not the raw output above 1/2
    got = OutputLoss("bce", "identity").predict(z, z, "index", 2)
    assert got.tolist() == [0, 1, 1]
    assert OutputLoss("mse", "identity").predict(z, z, "index", 2).tolist() == [0, 0, 1]
    # several outputs: decode_labels of the probabilities (binary code, LSB first)
    z = torch.tensor([[0.3, -1.0], [-0.3, 0.2], [4.0, 5.0]])
    assert OutputLoss("bce", "identity").predict(z, z, "binary", 4).tolist() == [1, 2, 3]
    sig = torch.sigmoid(z)
    assert OutputLoss("bce", "sigmoid").predict(sig, z, "binary", 4).tolist() == [1, 2, 3]
    assert OutputLoss("cross_entropy", "softmax").predict(z, z, "index", 2).tolist() == [0, 1, 1]


def test_leading_axes_are_kept_and_bad_pairs_are_refused():
    z, t = tensors(n=12)
    for name in ("cross_entropy", "bce", "mse"):
        head = OutputLoss(name, "identity")
        tt = t.argmax(1) if name == "cross_entropy" else t
        flat, flat_c = head(z, z, tt)
        loss, correct = head(z.view(3, 4, 3), z.view(3, 4, 3), tt.view(3, 4, *tt.shape[1:]))
        assert loss.shape == correct.shape == (3, 4)
        torch.testing.assert_close(loss.reshape(-1), flat)
        assert torch.equal(correct.reshape(-1), flat_c)
    with pytest.raises(ValueError, match="'bce' needs a sigmoid or identity output layer"):
        OutputLoss("bce", "tanh")
    with pytest.raises(ValueError, match="loss: 'hinge'"):
        OutputLoss("hinge", "identity")


def test_network_and_batched_mlp_share_the_output_head():
    layers = [lin(4, 5), lin(5, 3, "sigmoid", NEAREST)]
    for net in (Network(layers, seed=0), BatchedMLP(layers, [0, 1])):
        assert net.output_activation == "sigmoid" and net.output_quantized
        assert net.output_width == 3
    head = OutputLoss.of(Network([lin(4, 2, "softmax")]), "mse")
    assert head.width == 2 and not head.quantized
    assert math.isfinite(head.mean(*[torch.zeros(1, 2)] * 2, torch.ones(1, 2)).item())
    assert np.isclose(head.mean(*[torch.zeros(1, 2)] * 2, torch.ones(1, 2)).item(), 0.25)

"""Issue 12, items 3-5: the published settings of Ehrlich et al. (TMLR 2023) as defaults, ours
as named options. Expected values come from the published formulas, not from our output:

* initialisation (published ``NeuralNetwork._init_weight_fct`` with ``init_str="xavier"``):
  xavier-uniform, gain 5/3 on every linear layer, sqrt(2) on conv, 1 on transposed conv,
  PyTorch's default biases U(-1/sqrt(fan_in), 1/sqrt(fan_in));
* MNIST (published ``mnist_1d_dat`` / ``mnist_binary_dat`` with
  ``train_test_val_sequential_split(60_000, 60_000, 0)``): test set = MNIST's 10k test images
  followed by QMNIST's 50k extra, pixels / 256;
* stochastic rounding (published ``StochasticQuantizer``): up with probability
  ``remainder((x - lo) / step, 1)``, else down.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nninfo.capture import ROUNDINGS, capture_codes, derive_seed
from nninfo.config import ConfigError, build_config, load_config
from nninfo.jobs import analyze
from nninfo.jobs.common import build_network, load_experiment_task, split
from nninfo.nn.network import DEFAULT_INIT, INIT_SCHEMES, Network
from nninfo.tasks import DatasetMissingError, load_task
from nninfo.testing import write_mnist, write_qmnist_test
from nninfo.training import Checkpoint
from nninfo.training.stacked import BatchedMLP
from tests.helpers import tishby_layers

PROJECTS = Path(__file__).resolve().parents[1] / "projects"
MNIST_PROJECTS = ("mnist_8levels_onehot", "mnist_8levels_binary", "mnist_4levels_onehot",
                  "shannon_invariants_mnist")


def lin(i, o, act="tanh", **kw):
    return {"type": "linear", "in_features": i, "out_features": o, "activation": act, **kw}


def conv(i, o, k=3, act="relu", kind="conv2d"):
    return {"type": kind, "in_channels": i, "out_channels": o, "kernel_size": k,
            "activation": act}


def xavier_bound(gain, fan_in, fan_out):
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


def assert_uniform(t: torch.Tensor, bound: float, rel: float) -> None:
    """``t`` looks like U(-bound, bound): inside, reaching near the ends, std bound/sqrt(3)."""
    t = t.detach().double().flatten()
    assert t.abs().max().item() <= bound * (1 + 1e-6)
    assert t.abs().max().item() > 0.98 * bound
    assert t.std().item() == pytest.approx(bound / math.sqrt(3), rel=rel)
    assert abs(t.mean().item()) < 5 * bound / math.sqrt(3 * t.numel())


# ---------------------------------------------------------------- item 3: initialisation


def test_published_is_the_default_init():
    assert DEFAULT_INIT == "published" and set(INIT_SCHEMES) == {"published", "per_activation"}
    raw = {"name": "x", "task": {"name": "tishby"}, "network": {"layers": tishby_layers(4)},
           "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64,
                        "epochs": 1}}
    cfg = build_config(raw)
    assert cfg.network.init == "published" and cfg.to_dict()["network"]["init"] == "published"
    assert build_network(cfg, seed=3).init == "published"
    other = build_config({**raw, "network": {**raw["network"], "init": "per_activation"}})
    assert build_network(other, seed=3).init == "per_activation"
    with pytest.raises(ConfigError, match=r"network\.init: 'xavier' is not valid"):
        build_config({**raw, "network": {**raw["network"], "init": "xavier"}})
    with pytest.raises(ValueError, match=r"network\.init"):
        Network.from_config({"layers": [lin(2, 3)], "init": "he"})


@pytest.mark.parametrize("out_act", ["tanh", "softmax", "sigmoid", "identity", "relu"])
def test_published_linear_weights_are_xavier_5_3_output_layer_too(out_act):
    net = Network([lin(600, 500), lin(500, 400, out_act)], seed=0)
    for name, (fan_in, fan_out) in {"L1": (600, 500), "L2": (500, 400)}.items():
        assert_uniform(net.layers[name].op.weight, xavier_bound(5 / 3, fan_in, fan_out),
                       rel=0.02)


def test_published_biases_are_pytorch_default():
    net = Network([lin(100, 4000), lin(4000, 3000, "softmax")], seed=1)
    for name, fan_in in {"L1": 100, "L2": 4000}.items():
        assert_uniform(net.layers[name].op.bias, 1 / math.sqrt(fan_in), rel=0.04)


def test_published_conv_gain_sqrt2_and_transposed_gain_1():
    net = Network([conv(16, 64), conv(64, 16, kind="conv_transpose2d")], seed=2,
                  input_shape=(16, 8, 8))
    c, t = net.layers["L1"].op, net.layers["L2"].op
    # xavier fans of a conv weight (out, in, k, k): fan_in = in*k*k, fan_out = out*k*k;
    # a transposed conv's weight is (in, out, k, k), so torch reads them the other way round
    assert_uniform(c.weight, xavier_bound(math.sqrt(2), 16 * 9, 64 * 9), rel=0.04)
    assert_uniform(t.weight, xavier_bound(1.0, 16 * 9, 64 * 9), rel=0.04)
    wide = Network([conv(2, 3000)], seed=4, input_shape=(2, 5, 5)).layers["L1"].op
    assert_uniform(wide.bias, 1 / math.sqrt(2 * 9), rel=0.04)  # PyTorch's, fan_in = in*k*k
    # CIFAR's first conv (3 -> 32, 3x3): published bound vs kaiming-uniform's (ours before)
    first = Network([conv(3, 32)], seed=3, input_shape=(3, 32, 32)).layers["L1"].op.weight
    published = xavier_bound(math.sqrt(2), 27, 288)
    assert first.abs().max().item() <= published * (1 + 1e-6)
    assert first.abs().max().item() > 0.95 * published
    assert math.sqrt(6 / 27) / published == pytest.approx(2.415, abs=0.01)


def test_published_layer_init_kaiming_is_pytorchs_kaiming_uniform():
    w = Network([lin(800, 600, "relu", init="kaiming")], seed=4).layers["L1"].op.weight
    assert_uniform(w, math.sqrt(2) * math.sqrt(3 / 800), rel=0.02)  # gain sqrt(2), fan_in


def test_published_draw_order_is_the_published_constructor():
    """With a seed, the weights are those of the published ``NeuralNetwork`` built after
    ``torch.manual_seed(seed)``: its layers constructed in order (PyTorch's default weight,
    then bias), then ``xavier_uniform_(weight, gain=5/3)`` layer by layer."""
    layers = [lin(12, 10), lin(10, 5), lin(5, 3, "softmax")]
    net = Network(layers, seed=11)
    torch.manual_seed(11)
    ops = [nn.Linear(s["in_features"], s["out_features"]) for s in layers]
    for op in ops:
        nn.init.xavier_uniform_(op.weight, gain=5.0 / 3.0)
    for name, op in zip(net.layer_names, ops, strict=True):
        assert torch.equal(net.layers[name].op.weight, op.weight)
        assert torch.equal(net.layers[name].op.bias, op.bias)


def test_per_activation_reproduces_the_previous_scheme():
    """``init: per_activation`` is our scheme before issue 12: per layer, xavier with the
    activation's gain (tanh 5/3, else 1) or kaiming-uniform for relu, zero biases."""
    layers = [lin(12, 10), lin(10, 8, "relu"), lin(8, 6, "sigmoid"), lin(6, 3, "softmax")]
    net = Network(layers, seed=5, init="per_activation")
    torch.manual_seed(5)
    for name, spec in zip(net.layer_names, layers, strict=True):
        w = torch.empty(spec["out_features"], spec["in_features"])
        if spec["activation"] == "relu":
            nn.init.kaiming_uniform_(w, a=0.0, nonlinearity="relu")
        else:
            nn.init.xavier_uniform_(w, gain=5 / 3 if spec["activation"] == "tanh" else 1.0)
        assert torch.equal(net.layers[name].op.weight, w)
        assert not net.layers[name].op.bias.any()
    c = Network([conv(3, 32)], seed=6, init="per_activation", input_shape=(3, 8, 8))
    assert_uniform(c.layers["L1"].op.weight, math.sqrt(6 / 27), rel=0.05)  # kaiming (relu)


@pytest.mark.parametrize("init", INIT_SCHEMES)
def test_batched_copies_use_the_same_init(init):
    layers = [lin(5, 6), lin(6, 3, "softmax")]
    batched = BatchedMLP(layers, [7, 8], init)
    for i, s in enumerate([7, 8]):
        single = Network(layers, seed=s, init=init).state_dict()
        assert all(torch.equal(v, single[k]) for k, v in batched.network_state(i).items())


# ---------------------------------------------------------------- item 4: MNIST test set, scaling


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    mnist = write_mnist(root, n_train=40, n_test=15, seed=7)
    qmnist = write_qmnist_test(root, n_extra=25, seed=8)
    return root, mnist, qmnist


def test_published_test_set_is_mnist_then_qmnist50k_and_pixels_over_256(mnist_root):
    root, mnist, (q_images, q_labels) = mnist_root
    task = load_task("mnist", data_dir=root, test_set="mnist+qmnist50k", pixel_divisor=256)
    images = np.concatenate([mnist["test"][0], q_images])  # published: torch.cat order
    labels = np.concatenate([mnist["test"][1], q_labels])
    test = task["test"]
    assert len(test) == 15 + 25 and tuple(task.splits) == ("train", "test")
    np.testing.assert_array_equal(test.x.numpy(), images.reshape(40, -1) / np.float32(256))
    assert test.labels.tolist() == labels.tolist()
    assert len(task["train"]) == 40
    np.testing.assert_array_equal(task["train"].x.numpy(),
                                  mnist["train"][0].reshape(40, -1) / np.float32(256))
    white = images.reshape(40, -1) == 255
    assert white.any() and (test.x.numpy()[white] == 255 / 256).all()  # 0.99609375, not 1
    assert task.metadata["scaling"] == "pixel / 256"
    assert task.metadata["test_set"] == "mnist+qmnist50k"


def test_our_defaults_stay_available(mnist_root):
    root, mnist, _ = mnist_root
    task = load_task("mnist", data_dir=root)
    assert len(task["test"]) == 15 and float(task["test"].x.max()) == 1.0
    both = load_task("mnist", data_dir=root, test_set="mnist+qmnist50k", qmnist_test50k=True)
    assert len(both["test"]) == 40 and len(both["qmnist_test50k"]) == 25
    fashion_like = load_task("mnist", data_dir=root, flatten=False, pixel_divisor=256)
    assert fashion_like.input_shape == (1, 28, 28)
    for bad in ({"test_set": "qmnist"}, {"pixel_divisor": 100}, {"pixel_divisor": True}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            load_task("mnist", data_dir=root, **bad)


def test_mnist_projects_use_the_published_test_set_and_scaling():
    for name in MNIST_PROJECTS:
        cfg = load_config(PROJECTS / name / "config.yaml")
        assert cfg.task.options.get("test_set") == "mnist+qmnist50k", name
        assert cfg.task.options.get("pixel_divisor") == 256, name


def test_offline_error_names_every_missing_file(tmp_path):
    with pytest.raises(DatasetMissingError) as err:
        load_task("mnist", data_dir=tmp_path, test_set="mnist+qmnist50k", download=False)
    message = str(err.value)
    for folder, name in (("MNIST", "train-images-idx3-ubyte"), ("MNIST", "t10k-labels-idx1-ubyte"),
                         ("QMNIST", "qmnist-test-images-idx3-ubyte"),
                         ("QMNIST", "qmnist-test-labels-idx2-int")):
        assert str(tmp_path / folder / "raw") in message and name in message
    write_mnist(tmp_path, seed=1)
    with pytest.raises(DatasetMissingError) as err:
        load_task("mnist", data_dir=tmp_path, test_set="mnist+qmnist50k", download=False)
    assert "qmnist-test-labels-idx2-int" in str(err.value)
    assert "train-images-idx3-ubyte" not in str(err.value)
    empty = tmp_path / "empty"
    with pytest.raises(DatasetMissingError) as err:
        load_task("mnist", data_dir=empty, download=False)  # MNIST's own test set: no QMNIST
    assert "QMNIST" not in str(err.value)


# ---------------------------------------------------------------- item 5: analysis rounding

Q8 = {"levels": 8, "mode": "stochastic"}
LAYERS = [lin(6, 40, quantizer=Q8), lin(40, 30, quantizer=Q8), lin(30, 3, "softmax")]


def _net():
    return Network(LAYERS, seed=0).eval()


def _published_up_probability(a: torch.Tensor, levels: int = 8) -> torch.Tensor:
    """The published StochasticQuantizer: ceil with probability remainder(x_normalized, 1)."""
    step = 2.0 / (levels - 1)
    return torch.remainder((a.double() + 1.0) / step, 1.0)


def test_stochastic_codes_are_unbiased_and_within_one_level():
    net = _net()
    x = torch.randn(1, 6).repeat(20_000, 1)  # one input, many draws
    labels = np.zeros(len(x), dtype=np.int64)
    nearest = capture_codes(net, x, labels, ["L1"])["L1"].astype(np.int64)
    stoch = capture_codes(net, x, labels, ["L1"], rounding="stochastic",
                          rounding_seed=3)["L1"].astype(np.int64)
    assert np.abs(stoch - nearest).max() <= 1
    with torch.no_grad():
        a = torch.tanh(net.layers["L1"].apply_op(x[:1]))[0]  # the unrounded activation
    p_up = _published_up_probability(a).numpy()
    low = np.floor((a.double().numpy() + 1.0) / (2 / 7))
    assert set(np.unique(stoch - low)) <= {0, 1}  # the level below or the one above
    frac_up = (stoch - low).mean(axis=0)
    se = np.sqrt(p_up * (1 - p_up) / len(x))
    assert (np.abs(frac_up - p_up) <= 5 * se + 1e-9).all()
    mean_value = -1.0 + stoch.mean(axis=0) * (2 / 7)
    np.testing.assert_allclose(mean_value, a.double().numpy(), atol=float(5 * se.max() * 2 / 7)
                               + 1e-6)  # unbiased: E[value] = activation


def test_stochastic_rounding_is_seeded_and_leaves_the_global_rng_alone():
    net = _net()
    x = torch.randn(500, 6)
    labels = np.zeros(500, dtype=np.int64)
    state = torch.get_rng_state()
    a = capture_codes(net, x, labels, ["L1", "L2"], rounding="stochastic", rounding_seed=1)
    assert torch.equal(state, torch.get_rng_state())
    b = capture_codes(net, x, labels, ["L1", "L2"], rounding="stochastic", rounding_seed=1,
                      batch_size=37)
    c = capture_codes(net, x, labels, ["L2"], rounding="stochastic", rounding_seed=1)
    d = capture_codes(net, x, labels, ["L1", "L2"], rounding="stochastic", rounding_seed=2)
    for layer in ("L1", "L2"):
        np.testing.assert_array_equal(a[layer], b[layer])  # any batch size
        assert not np.array_equal(a[layer], d[layer])  # another seed, other codes
    np.testing.assert_array_equal(a["L2"], c["L2"])  # whichever layers are captured with it
    nearest = capture_codes(net, x, labels, ["L1", "L2"])
    assert not np.array_equal(a["L1"], nearest["L1"])
    np.testing.assert_array_equal(
        nearest["L2"], capture_codes(net, x, labels, ["L2"], rounding="nearest")["L2"])
    with pytest.raises(ValueError, match="rounding"):
        capture_codes(net, x, labels, ["L1"], rounding="floor")


def test_stochastic_rounding_propagates_through_the_layers():
    """As in the published analysis, every quantized layer on the way is rounded
    stochastically: L2 sees L1's stochastically rounded values. Layer L draws its noise from
    ``torch.Generator().manual_seed(derive_seed(seed, L))``."""
    net = _net()
    x = torch.randn(300, 6)
    got = capture_codes(net, x, np.zeros(300, dtype=np.int64), ["L2"], rounding="stochastic",
                        rounding_seed=9)["L2"]
    step = 2.0 / 7
    h = x
    with torch.no_grad():
        for name in ("L1", "L2"):
            a = torch.tanh(net.layers[name].apply_op(h))
            u = torch.rand(a.shape, generator=torch.Generator().manual_seed(derive_seed(9, name)))
            k = ((a + 1.0) / step + u).floor().clamp(0, 7)
            h = k * step - 1.0
    np.testing.assert_array_equal(got, k.numpy().astype(np.uint8))


def test_rounding_config():
    assert ROUNDINGS == ("nearest", "stochastic")
    raw = {"name": "r", "task": {"name": "tishby"}, "network": {"layers": tishby_layers(4)},
           "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64,
                        "epochs": 1}}
    assert build_config(raw).analysis.rounding == "nearest"
    cfg = build_config({**raw, "analysis": {"rounding": "stochastic", "rounding_seed": 4}})
    assert (cfg.analysis.rounding, cfg.analysis.rounding_seed) == ("stochastic", 4)
    for key, bad in (("rounding", "up"), ("rounding", 1), ("rounding_seed", -1),
                     ("rounding_seed", 1.5), ("rounding_seed", True)):
        with pytest.raises(ConfigError, match=rf"analysis\.{key}: "):
            build_config({**raw, "analysis": {key: bad}})
    shannon = load_config(PROJECTS / "shannon_invariants_mnist" / "config.yaml")
    assert shannon.analysis.rounding == "stochastic"
    for name in ("mnist_8levels_onehot", "mnist_8levels_binary", "mnist_4levels_onehot"):
        assert load_config(PROJECTS / name / "config.yaml").analysis.rounding == "nearest"


def test_analysis_job_rounding_depends_on_seed_and_checkpoint_only(tmp_path):
    raw = {"name": "r", "task": {"name": "tishby"}, "network": {"layers": tishby_layers(6, 4)},
           "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64,
                        "epochs": 1},
           "analysis": {"dataset": "all", "layers": ["L1", "L2"], "measures": ["shannon"],
                        "rounding": "stochastic", "rounding_seed": 5}}
    cfg = build_config(raw)
    net = build_network(cfg, seed=3)
    paths = []
    for step in (10, 20):
        ck = Checkpoint.capture(step=step, epoch=step / 44, model=net,
                                optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
                                generator_state=torch.Generator().get_state(), seed=3)
        paths.append(str(tmp_path / f"step_{step}.pt"))
        ck.save(paths[-1])

    def codes(c, path):
        analyze._last_capture.clear()
        return analyze._capture(c, path, None, None).cap.codes

    first = codes(cfg, paths[0])
    again = codes(cfg, paths[0])
    other_step = codes(cfg, paths[1])  # the same weights at another step
    other_seed = codes(build_config({**raw, "analysis": {**raw["analysis"],
                                                         "rounding_seed": 6}}), paths[0])
    x = split(load_experiment_task(cfg), "all").x
    direct = capture_codes(net.eval(), x, np.zeros(len(x), dtype=np.int64), ["L1", "L2"],
                           rounding="stochastic", rounding_seed=derive_seed(5, 3, 10))
    for layer in ("L1", "L2"):
        np.testing.assert_array_equal(first[layer], again[layer])
        np.testing.assert_array_equal(first[layer], direct[layer])
        assert not np.array_equal(first[layer], other_step[layer])
        assert not np.array_equal(first[layer], other_seed[layer])
    analyze._last_capture.clear()

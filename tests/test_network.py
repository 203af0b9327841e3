import math

import pytest
import torch

from nninfo.nn import Network
from nninfo.training.stacked import BatchedMLP


def lin(i, o, act="tanh", **kw):
    return {"type": "linear", "in_features": i, "out_features": o, "activation": act, **kw}


Q8 = {"levels": 8, "mode": "stochastic"}


def test_names_outputs_and_softmax_head():
    net = Network([lin(4, 6, quantizer=Q8), lin(6, 3, "softmax")], seed=0).eval()
    assert net.layer_names == ["L1", "L2"]
    x = torch.randn(10, 4)
    with torch.no_grad():
        outs = net.forward_layers(x)
        logits = net(x)
    assert list(outs) == ["L1", "L2"]
    assert torch.allclose(outs["L2"].sum(1), torch.ones(10))
    assert torch.allclose(torch.softmax(logits, 1), outs["L2"])
    assert list(net.forward_layers(x, ["L1"])) == ["L1"]


def test_forward_matches_hand_computation():
    net = Network([lin(3, 5, "tanh"), lin(5, 2, "sigmoid")], seed=1).eval()
    x = torch.randn(7, 3)
    w1, b1 = net.layers["L1"].op.weight, net.layers["L1"].op.bias
    w2, b2 = net.layers["L2"].op.weight, net.layers["L2"].op.bias
    h = torch.tanh(x @ w1.T + b1)
    with torch.no_grad():
        outs = net.forward_layers(x)
    assert torch.allclose(outs["L1"], h, atol=1e-6)
    assert torch.allclose(outs["L2"], torch.sigmoid(h @ w2.T + b2), atol=1e-6)


def test_quantized_outputs_lie_on_levels_in_eval_mode():
    net = Network([lin(3, 50, quantizer=Q8), lin(50, 2, "identity")], seed=2).eval()
    with torch.no_grad():
        h = net.forward_layers(torch.randn(100, 3), ["L1"])["L1"]
    levels = torch.linspace(-1, 1, 8)
    assert ((h[..., None] - levels).abs().min(-1).values < 1e-6).all()
    q = net.layer_quantizer("L1")
    assert torch.allclose(q.values(q.codes(h)), h, atol=1e-6)


def test_seed_reproducible_and_xavier_tanh_scale():
    a = Network([lin(400, 300)], seed=3)
    b = Network([lin(400, 300)], seed=3)
    c = Network([lin(400, 300)], seed=4)
    w = a.layers["L1"].op.weight
    assert torch.equal(w, b.layers["L1"].op.weight)
    assert not torch.equal(w, c.layers["L1"].op.weight)
    gain = 5 / 3  # tanh gain; xavier uniform std = gain * sqrt(2 / (fan_in + fan_out))
    assert w.std().item() == pytest.approx(gain * math.sqrt(2 / 700), rel=0.02)
    r = Network([lin(400, 300, "relu")], seed=3, init="per_activation").layers["L1"].op.weight
    assert r.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)  # kaiming, fan_in


def test_limits_quantizer_and_widths_of_a_conv_net():
    net = Network(
        [
            {
                "type": "conv2d",
                "in_channels": 1,
                "out_channels": 4,
                "kernel_size": 3,
                "activation": "relu",
            },
            {"type": "maxpool2d", "kernel_size": 2},
            {"type": "flatten"},
            lin(36, 10, "softmax"),
        ],
        input_shape=(1, 8, 8),
    )
    assert [net.layer_width(n) for n in net.layer_names] == [4 * 6 * 6, 4 * 3 * 3, 36, 10]
    assert net.layer_limits("L1") is None and net.layer_limits("L4") == (0.0, 1.0)
    assert net.layer_quantizer("L1") is None
    assert Network([lin(2, 3, "sigmoid")]).layer_limits("L1") == (0.0, 1.0)
    lazy = Network([{"type": "flatten"}, lin(12, 5)])
    with pytest.raises(ValueError, match="input_shape"):
        lazy.layer_width("L1")
    lazy.forward_layers(torch.zeros(2, 3, 4))
    assert [lazy.layer_width(n) for n in lazy.layer_names] == [12, 5]


@pytest.mark.parametrize(
    "layers, pattern",
    [
        ([lin(2, 2), lin(2, 2), lin(2, 2, "foo")], r"layers\[2\] \(L3\)\.activation: 'foo'"),
        ([lin(2, 2, "softmax"), lin(2, 2)], r"L1\)\.activation: 'softmax' is only allowed"),
        ([{"type": "linear", "out_features": 2}], r"L1\)\.in_features: missing"),
        ([lin(2, 2, bogus=1)], r"L1\)\.bogus: unknown key"),
        ([lin(2, 0)], r"L1\)\.out_features: 0 is not an integer >= 1"),
        ([{"type": "dense"}], r"L1\)\.type: 'dense' is not one of"),
        ([lin(2, 2, init="he")], r"L1\)\.init: 'he'"),
        ([lin(2, 2, quantizer={"levels": 1})], r"L1\)\.quantizer\.levels"),
    ],
)
def test_validation_errors_name_the_layer(layers, pattern):
    with pytest.raises(ValueError, match=pattern):
        Network(layers)


def test_from_config_and_unknown_layer_name():
    net = Network.from_config({"layers": [lin(2, 3)], "seed": 0})
    with pytest.raises(ValueError, match="'L9' is not one of"):
        net.layer_width("L9")
    with pytest.raises(ValueError, match="unknown keys"):
        Network.from_config({"layers": [lin(2, 3)], "depth": 3})


def test_batched_mlp_copies_match_single_networks():
    det = {"levels": 8, "mode": "center_saturating"}
    layers = [lin(5, 6, quantizer=det), lin(6, 3, "softmax")]
    seeds = [7, 8, 9]
    batched = BatchedMLP(layers, seeds)
    x = torch.randn(3, 11, 5)
    with torch.no_grad():
        out = batched(x)
    for i, s in enumerate(seeds):
        single = Network(layers, seed=s)
        assert all(
            torch.equal(v, single.state_dict()[k]) for k, v in batched.network_state(i).items()
        )
        assert torch.allclose(out[i], single(x[i]), atol=1e-5)

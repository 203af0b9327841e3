"""Activation capture: codes, binning, source grouping and activation statistics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from nninfo.capture import (
    Capture,
    activation_statistics,
    bin_edges,
    bin_values,
    capture_codes,
    layer_summary,
)


class FakeQuantizer:
    """``levels`` evenly spaced values in ``[lo, hi]``, nearest-level rounding."""

    def __init__(self, levels: int, limits: tuple[float, float]) -> None:
        self.levels, self.limits = levels, limits
        self.step = (limits[1] - limits[0]) / (levels - 1)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.limits
        return torch.round((x.clamp(lo, hi) - lo) / self.step).to(torch.uint8)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.codes(x).float() * self.step + self.limits[0]


class FakeNet(torch.nn.Module):
    """L1: quantized tanh (8 levels); L2: sigmoid conv-like map (N, 2, 2, 2); L3: relu."""

    layer_names = ["L1", "L2", "L3"]

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.l1, self.l2, self.l3 = (torch.nn.Linear(6, 5), torch.nn.Linear(5, 8),
                                     torch.nn.Linear(8, 3))
        self.q1 = FakeQuantizer(8, (-1.0, 1.0))
        self.seen: list[tuple[bool, bool]] = []

    def forward_layers(self, x, layers):
        self.seen.append((self.training, torch.is_grad_enabled()))
        h1 = self.q1(torch.tanh(self.l1(x)))
        h2 = torch.sigmoid(self.l2(h1)).reshape(-1, 2, 2, 2)
        h3 = torch.relu(self.l3(h2.reshape(-1, 8)))
        out = {"L1": h1, "L2": h2, "L3": h3}
        return {n: out[n] for n in layers}

    def layer_limits(self, name):
        return {"L1": (-1.0, 1.0), "L2": (0.0, 1.0), "L3": None}[name]

    def layer_quantizer(self, name):
        return self.q1 if name == "L1" else None


@pytest.fixture
def net_and_data():
    net = FakeNet()
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(1)) * 2
    labels = torch.arange(50) % 3
    return net, x, labels


def test_quantized_codes_equal_direct_quantization(net_and_data):
    net, x, labels = net_and_data
    net.train()
    cap = capture_codes(net, x, labels, ["L1"], batch_size=7)
    with torch.no_grad():
        values = net.forward_layers(x, ["L1"])["L1"].numpy()
    expected = np.rint((values + 1.0) / (2.0 / 7)).astype(int)
    np.testing.assert_array_equal(cap["L1"], expected)
    assert cap["L1"].dtype == np.uint8 and cap.levels["L1"] == 8
    assert cap.labels.tolist() == labels.tolist()
    assert net.training  # restored
    assert all(not training and not grad for training, grad in net.seen[:8])  # 50/7 -> 8 batches


def test_binned_conv_layer_flattened(net_and_data):
    net, x, labels = net_and_data
    cap = capture_codes(net, x, labels, ["L2", "L1"], n_bins=4, batch_size=16)
    with torch.no_grad():
        values = net.forward_layers(x, ["L2"])["L2"].numpy().reshape(50, 8)
    expected = np.digitize(values, [0.25, 0.5, 0.75])
    np.testing.assert_array_equal(cap["L2"], expected)
    assert cap.levels == {"L2": 4, "L1": 8} and cap.method["L2"] == "binning"


def test_capture_errors_name_the_layer(net_and_data):
    net, x, labels = net_and_data
    with pytest.raises(ValueError, match="'L2'.*n_bins"):
        capture_codes(net, x, labels, ["L2"])
    with pytest.raises(ValueError, match="'L3'.*no limits"):
        capture_codes(net, x, labels, ["L3"], n_bins=4)
    with pytest.raises(ValueError, match="L9"):
        capture_codes(net, x, labels, ["L9"])
    with pytest.raises(ValueError, match="labels"):
        capture_codes(net, x, labels[:10], ["L1"])


def test_many_bins_use_wider_dtype(net_and_data):
    net, x, labels = net_and_data
    cap = capture_codes(net, x, labels, ["L2"], n_bins=300)
    assert cap["L2"].dtype == np.uint16 and int(cap["L2"].max()) < 300


def test_bin_edges_and_boundaries():
    np.testing.assert_allclose(bin_edges((-1, 1), 4), [-1.0, -0.5, 0.0, 0.5, 1.0])
    v = torch.tensor([-0.5, 0.0, 0.2499, 0.25, 0.5, 0.9999, 1.0, 1.5])
    assert bin_values(v, (0.0, 1.0), 4).tolist() == [0, 0, 0, 1, 2, 3, 3, 3]
    with pytest.raises(ValueError, match="n_bins"):
        bin_edges((0, 1), 0)
    with pytest.raises(ValueError, match="limits"):
        bin_edges((1, 0), 3)


# ---------------------------------------------------------------- samples and grouping


def _capture(codes: np.ndarray, levels: int, labels=None) -> Capture:
    labels = np.arange(len(codes)) % 2 if labels is None else labels
    return Capture({"L1": codes}, np.asarray(labels), {"L1": levels})


def test_samples_sources_then_label():
    codes = np.array([[0, 1, 2], [3, 0, 1]], dtype=np.uint8)
    cap = _capture(codes, 4, labels=[5, 6])
    np.testing.assert_array_equal(cap.samples("L1"), [[0, 1, 2, 5], [3, 0, 1, 6]])
    np.testing.assert_array_equal(cap.samples("L1", neurons=[2, 0]), [[2, 0, 5], [1, 3, 6]])
    # mixed radix, first neuron lowest digit: (3, 0) -> 3 + 4*0, (0, 1) -> 0 + 4*1
    np.testing.assert_array_equal(cap.samples("L1", groups=[[0, 1], [2]]),
                                  [[4, 2, 5], [3, 1, 6]])
    with pytest.raises(ValueError, match="L7"):
        cap.samples("L7")
    with pytest.raises(ValueError, match="out of range"):
        cap.samples("L1", neurons=[3])


def test_groups_are_injective():
    levels = 3
    patterns = np.array(list(itertools.product(range(levels), repeat=4)), dtype=np.uint8)
    cap = _capture(patterns, levels)
    for groups in ([[0, 1, 2, 3]], [[0, 1], [2, 3]], [[3, 0], [1], [2]]):
        src = cap.samples("L1", groups=groups)[:, :-1]
        for g, col in zip(groups, src.T, strict=True):
            tuples = {tuple(row) for row in patterns[:, g]}
            assert len(np.unique(col)) == len(tuples) == levels ** len(g)
            assert col.min() >= 0 and col.max() < levels ** len(g)
        assert len({tuple(r) for r in src}) == len(patterns)


# ---------------------------------------------------------------- statistics


def test_statistics_uniform_constant_and_saturation():
    levels = 8
    uniform = np.tile(np.arange(levels), 4)
    constant = np.full(len(uniform), 3)
    edges = np.array([0, 0, 7, 3] * levels)
    codes = np.column_stack([uniform, constant, edges]).astype(np.uint8)
    stats = activation_statistics(codes, levels)
    assert list(stats.columns[:3]) == ["neuron", "entropy", "saturation"]
    assert list(stats.columns[-levels:]) == [f"level_{k}" for k in range(levels)]
    np.testing.assert_allclose(stats["entropy"], [math.log2(levels), 0.0, 1.5])
    np.testing.assert_allclose(stats["saturation"], [2 / levels, 0.0, 0.75])
    np.testing.assert_allclose(stats["saturation_low"], [1 / levels, 0.0, 0.5])
    for k in range(levels):
        assert stats[f"level_{k}"].tolist() == [int((codes[:, j] == k).sum()) for j in range(3)]


def test_layer_summary_counts_patterns():
    levels = 4
    codes = np.array(list(itertools.product(range(levels), repeat=2)) * 3, dtype=np.uint8)
    summary = layer_summary(codes, levels)
    assert summary["distinct_patterns"] == levels**2
    assert summary["pattern_entropy"] == pytest.approx(2 * math.log2(levels))
    assert summary["mean_entropy"] == pytest.approx(math.log2(levels))
    assert summary["mean_saturation"] == pytest.approx(0.5)
    assert (summary["n_samples"], summary["n_neurons"]) == (48, 2)
    with pytest.raises(ValueError, match="0..3"):
        activation_statistics(codes + 1, levels)


# ---------------------------------------------------------------- real network


def test_capture_with_real_network():
    network = pytest.importorskip("nninfo.nn.network")
    net = network.Network(
        [
            {"type": "linear", "in_features": 12, "out_features": 6, "activation": "tanh",
             "quantizer": {"levels": 8, "mode": "stochastic"}},
            {"type": "linear", "in_features": 6, "out_features": 2, "activation": "softmax"},
        ],
        seed=0,
    )
    x = torch.from_numpy(
        ((np.arange(4096)[:, None] >> np.arange(12)) & 1).astype(np.float32)
    )
    labels = torch.from_numpy((np.arange(4096) % 2).astype(np.int64))
    net.train()
    cap = capture_codes(net, x, labels, ["L1", "L2"], n_bins=10, batch_size=1000)
    assert net.training
    net.eval()
    with torch.no_grad():
        out = net.forward_layers(x, ["L1", "L2"])
    expected_l1 = np.rint((out["L1"].numpy() + 1.0) / (2.0 / 7)).astype(int)
    np.testing.assert_array_equal(cap["L1"], expected_l1)
    np.testing.assert_array_equal(cap["L2"], np.digitize(out["L2"].numpy(),
                                                          np.linspace(0, 1, 11)[1:-1]))
    assert cap.samples("L1").shape == (4096, 7)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_capture_on_cuda_matches_cpu(net_and_data):
    net, x, labels = net_and_data
    on_cpu = capture_codes(net, x, labels, ["L1", "L2"], n_bins=6, batch_size=9)
    net.to("cuda")
    on_gpu = capture_codes(net, x, labels.cuda(), ["L1", "L2"], n_bins=6, batch_size=9)
    np.testing.assert_array_equal(on_gpu["L1"], on_cpu["L1"])
    assert (on_gpu["L2"] != on_cpu["L2"]).mean() < 0.01  # bin edges may differ by rounding

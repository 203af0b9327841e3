"""Noise-smoothed binning against hard binning, the Gaussian formula and the PID identities."""

import math

import numpy as np
import pytest
import torch

from nninfo.capture import bin_values
from nninfo.info import sx_pid
from nninfo.smoothed import smoothed_outcomes


def table(outcomes, probs):
    return {tuple(r): p for r, p in zip(outcomes.tolist(), probs.tolist(), strict=True)}


def phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_zero_noise_is_hard_binning():
    rng = np.random.default_rng(0)
    values = rng.uniform(-1.2, 1.2, size=(500, 3))  # some outside the limits: end bins
    labels = rng.integers(0, 4, size=500)
    outcomes, probs = smoothed_outcomes(values, labels, (-1, 1), 6, 0.0)
    codes = bin_values(torch.tensor(values), (-1, 1), 6).numpy()
    rows, counts = np.unique(np.column_stack([codes, labels]), axis=0, return_counts=True)
    assert table(outcomes, probs) == pytest.approx(table(rows, counts / 500))


def test_one_unit_follows_the_gaussian_mass_per_bin():
    # bins [-1, 0) and [0, 1]; a value at -0.5 with sigma 0.5 crosses 0 with P = 1 - phi(1)
    outcomes, probs = smoothed_outcomes(
        np.array([[-0.5]]), np.array([2]), (-1, 1), 2, 0.5, cutoff=12
    )
    assert table(outcomes, probs) == pytest.approx({(0, 2): phi(1), (1, 2): 1 - phi(1)})


def test_units_are_independent_and_end_bins_take_the_tails():
    sigma = 0.3
    v = np.array([[0.1, 0.95]])
    got = table(*smoothed_outcomes(v, np.array([0]), (-1, 1), 4, sigma, cutoff=12))
    edges = [-np.inf, -0.5, 0.0, 0.5, np.inf]

    def mass(x, k):
        return phi((edges[k + 1] - x) / sigma) - phi((edges[k] - x) / sigma)

    want = {(a, b, 0): mass(0.1, a) * mass(0.95, b) for a in range(4) for b in range(4)}
    assert got == pytest.approx(want, abs=1e-12)


def test_a_distribution_over_the_grid_with_the_labels_kept():
    rng = np.random.default_rng(1)
    values, labels = rng.uniform(-1, 1, size=(300, 4)), rng.integers(0, 3, size=300)
    outcomes, probs = smoothed_outcomes(values, labels, (-1, 1), 8, 0.2)
    assert probs.sum() == pytest.approx(1.0) and (probs > 0).all()
    assert outcomes[:, :4].min() >= 0 and outcomes[:, :4].max() <= 7
    for label in range(3):  # noise moves bins, never samples between labels
        assert probs[outcomes[:, 4] == label].sum() == pytest.approx(np.mean(labels == label))


def test_pid_of_the_smoothed_table_and_its_limits():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, size=400)
    values = np.column_stack([labels * 1.2 - 0.6, (1 - labels) * 1.2 - 0.6])
    values += rng.normal(0, 0.05, size=values.shape)
    sharp = sx_pid(*smoothed_outcomes(values, labels, (-1, 1), 4, 0.05))
    noisy = sx_pid(*smoothed_outcomes(values, labels, (-1, 1), 4, 0.5))
    drowned = sx_pid(*smoothed_outcomes(values, labels, (-1, 1), 4, 50.0))
    for res in (sharp, noisy, drowned):
        assert res.atoms["average"].sum() == pytest.approx(res.mutual_information, abs=1e-9)
    assert sharp.mutual_information == pytest.approx(1.0, abs=0.01)  # one bit, read off
    assert drowned.mutual_information < 1e-3 < noisy.mutual_information < 0.99


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sigma": -1.0}, "sigma: -1.0"),
        ({"labels": np.array([0.5, 1.0])}, "labels: need non-negative integers"),
        ({"values": np.zeros(2)}, r"values: shape \(2,\)"),
        ({"n_bins": 0}, "n_bins=0"),
        ({"values": np.zeros((2, 40)), "n_bins": 8}, "overflow"),
    ],
)
def test_errors_name_the_field(kwargs, match):
    args = {
        "values": np.zeros((2, 3)),
        "labels": np.array([0, 1]),
        "limits": (-1, 1),
        "n_bins": 4,
        "sigma": 0.1,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        smoothed_outcomes(**args)


def test_chunked_and_sparse_accumulation_give_the_same_table(monkeypatch):
    from nninfo import smoothed

    rng = np.random.default_rng(3)
    values, labels = rng.uniform(-1, 1, size=(200, 3)), rng.integers(0, 2, size=200)
    want = table(*smoothed_outcomes(values, labels, (-1, 1), 5, 0.3))
    monkeypatch.setattr(smoothed, "CHUNK_ROWS", 64)  # many chunks
    monkeypatch.setattr(smoothed, "DENSE_MAX", 0)  # the unique-based path
    assert table(*smoothed_outcomes(values, labels, (-1, 1), 5, 0.3)) == pytest.approx(want)

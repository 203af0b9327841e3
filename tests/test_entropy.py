"""Plug-in entropies against textbook distributions, and hashing against exact counting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nninfo.info import entropy as E


def all_patterns(k: int, levels: int = 2) -> np.ndarray:
    """Every k-tuple over ``levels`` values once: the uniform distribution as samples."""
    return np.array(list(itertools.product(range(levels), repeat=k)))


@pytest.mark.parametrize("k", [1, 3, 10])
@pytest.mark.parametrize("method", ["exact", "hash"])
def test_uniform_bits_have_k_bits(k, method):
    assert E.joint_entropy(all_patterns(k), method=method) == pytest.approx(k, abs=1e-12)


def test_textbook_nonuniform_distribution():
    # p = (1/2, 1/4, 1/4) has H = 1.5 bits
    x = np.array([0, 0, 1, 2])
    assert E.joint_entropy(x) == pytest.approx(1.5)
    assert E.entropy_from_counts(np.array([2, 1, 1, 0])) == pytest.approx(1.5)


@pytest.mark.parametrize("method", ["exact", "hash"])
def test_xor_and_copy(method):
    s = all_patterns(2)
    xor = s[:, 0] ^ s[:, 1]
    copy = 2 * s[:, 0] + s[:, 1]
    assert E.mutual_information(s[:, 0], xor, method=method) == pytest.approx(0, abs=1e-12)
    assert E.mutual_information(s, xor, method=method) == pytest.approx(1)
    assert E.conditional_entropy(xor, s[:, 0], method=method) == pytest.approx(1)
    assert E.mutual_information(s, copy, method=method) == pytest.approx(2)
    assert E.conditional_entropy(copy, s, method=method) == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("k", [1, 4, 12, 40])
def test_hash_equals_exact_on_random_data(k):
    rng = np.random.default_rng(k)
    x = rng.integers(-3, 4, size=(3000, k)).astype(np.int8)
    # repeat rows so that there are ties to count
    x = np.vstack([x, x[:1000]])
    assert E.joint_entropy(x, method="hash") == pytest.approx(
        E.joint_entropy(x, method="exact"), abs=1e-12
    )
    n_hash = np.unique(E.row_hash(x)).size
    assert n_hash == np.unique(x, axis=0).shape[0]


@pytest.mark.parametrize("with_extra", [False, True])
def test_leave_one_out_equals_dropping_columns(with_extra):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=(2000, 9))
    t = (x[:, 0] + x[:, 1]) % 3 if with_extra else None
    got = E.leave_one_out_entropies(x, t)
    for i in range(x.shape[1]):
        rest = np.delete(x, i, axis=1)
        if with_extra:
            rest = np.column_stack([rest, t])
        assert got[i] == pytest.approx(E.joint_entropy(rest, method="exact"), abs=1e-12)


def test_leave_one_out_of_single_column_is_zero():
    x = np.array([[0], [1], [2], [2]])
    assert E.leave_one_out_entropies(x) == pytest.approx([0.0])


@pytest.mark.parametrize("high", [5, 10**7])  # bincount path and wide-range sort path
def test_column_entropies_match_exact(high):
    rng = np.random.default_rng(2)
    x = rng.integers(-high, high, size=(1500, 70))
    x[:, 3] = 7  # a constant column
    t = rng.integers(0, 4, 1500)
    h = E.column_entropies(x)
    ht = E.column_entropies(x, t)
    for i in [0, 3, 69]:
        assert h[i] == pytest.approx(E.joint_entropy(x[:, i], method="exact"), abs=1e-12)
        pair = np.column_stack([x[:, i], t])
        assert ht[i] == pytest.approx(E.joint_entropy(pair, method="exact"), abs=1e-12)
    assert h[3] == 0.0


def test_chain_rule_and_symmetry():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(500, 2))
    y = (x[:, 0] + rng.integers(0, 2, 500)) % 4
    hxy = E.joint_entropy(np.column_stack([x, y]))
    assert E.conditional_entropy(y, x) == pytest.approx(hxy - E.joint_entropy(x))
    assert E.mutual_information(x, y) == pytest.approx(E.mutual_information(y, x))


def test_column_weights_are_odd_and_reproducible():
    w = E.column_weights(100)
    assert w.dtype == np.uint64
    assert np.all(w % 2 == 1)
    assert np.array_equal(w, E.column_weights(100))
    assert np.array_equal(E.column_weights(10), w[:10])


def test_bool_input_is_accepted():
    x = np.array([True, False, True, False])
    assert E.joint_entropy(x) == pytest.approx(1.0)


def test_bad_input_names_the_field():
    with pytest.raises(TypeError, match="x must hold integers"):
        E.joint_entropy(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="x must be 1-D"):
        E.joint_entropy(np.zeros((2, 2, 2), dtype=int))
    with pytest.raises(ValueError, match="sample counts differ"):
        E.mutual_information(np.zeros(3, dtype=int), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="method must be"):
        E.joint_entropy(np.zeros(3, dtype=int), method="fast")
    with pytest.raises(ValueError, match="at least one sample"):
        E.joint_entropy(np.zeros((0, 2), dtype=int))
    with pytest.raises(ValueError, match="keys must contain at least one sample"):
        E.entropy_of_keys(np.array([], dtype=np.uint64))
    with pytest.raises(ValueError, match="weights must have shape"):
        E.row_hash(np.zeros((3, 2), dtype=int), np.ones(3, dtype=np.uint64))

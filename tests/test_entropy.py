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


# ------------------------------------------------- extreme integer codes (any integer dtype)

EXTREME_VALUES = {
    "uint64 near 2**64": np.array([2**64 - 1, 0, 2**63, 2**64 - 2, 2**63 - 1, 1], np.uint64),
    "int64 min/max": np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0, -1,
                               np.iinfo(np.int64).min + 1, 1], np.int64),
    "int32 extremes": np.array([-(2**31), 2**31 - 1, 0, -5, 7, 2**30], np.int32),
    "int8 negatives": np.array([-128, 127, -1, 0, -2, 3], np.int8),
    "int16 negatives": np.array([-32768, 32767, -300, 0, 12, -1], np.int16),
    "uint32 wide": np.array([2**32 - 1, 0, 2**31, 17, 2**16, 2**16 + 1], np.uint32),
}


def extreme_codes(values, n=600, k=5, seed=0):
    """``(codes, relabelled)``: small codes 0..5 (with dependence between columns and ties)
    and the same data with every code replaced by an extreme value of ``values``' dtype."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(values), size=(n, k))
    codes[:, 1] = (codes[:, 0] + rng.integers(0, 2, n)) % len(values)
    codes[:, 2] = 5 - codes[:, 0]  # a bijection of column 0
    return codes, values[codes]


@pytest.mark.parametrize("name", list(EXTREME_VALUES))
def test_extreme_codes_give_the_entropies_of_small_codes(name):
    codes, x = extreme_codes(EXTREME_VALUES[name])
    t_codes, t = codes[:, 3], x[:, 3]
    for method in ("exact", "hash"):
        assert E.joint_entropy(x, method=method) == pytest.approx(
            E.joint_entropy(codes, method="exact"), abs=1e-12), method
        assert E.mutual_information(x[:, :2], t, method=method) == pytest.approx(
            E.mutual_information(codes[:, :2], t_codes, method="exact"), abs=1e-12)
        assert E.conditional_entropy(x[:, 1], x[:, 0], method=method) == pytest.approx(
            E.conditional_entropy(codes[:, 1], codes[:, 0], method="exact"), abs=1e-12)
    np.testing.assert_allclose(E.column_entropies(x), E.column_entropies(codes), atol=1e-12)
    np.testing.assert_allclose(E.column_entropies(x, t), E.column_entropies(codes, t_codes),
                               atol=1e-12)
    np.testing.assert_allclose(E.leave_one_out_entropies(x),
                               E.leave_one_out_entropies(codes), atol=1e-12)
    np.testing.assert_allclose(E.leave_one_out_entropies(x, t),
                               E.leave_one_out_entropies(codes, t_codes), atol=1e-12)
    assert np.unique(E.row_hash(x)).size == np.unique(codes, axis=0).shape[0]
    assert np.unique(E.row_codes(x, "hash")).size == np.unique(codes, axis=0).shape[0]


def test_hash_does_not_merge_rows_that_differ_by_high_powers_of_two():
    """(2**63, 0) and (0, 2**63) hash equally for any odd weights unless the codes are
    re-coded first; the same holds for int64's minimum, -2**63."""
    for big in (np.uint64(2**63), np.int64(np.iinfo(np.int64).min)):
        x = np.array([[big, 0], [0, big]], dtype=big.dtype)
        assert E.joint_entropy(x, method="hash") == pytest.approx(1.0)
        with_constant = np.column_stack([x, np.zeros(2, x.dtype)])
        assert E.leave_one_out_entropies(with_constant) == pytest.approx([1.0, 1.0, 1.0])


def test_bool_samples_in_every_function():
    x = np.array([[True, False], [False, True], [True, True], [True, False]])
    codes = x.astype(np.int64)
    np.testing.assert_allclose(E.column_entropies(x, x[:, 0]), E.column_entropies(codes,
                                                                                  codes[:, 0]))
    np.testing.assert_allclose(E.leave_one_out_entropies(x, x[:, 1]),
                               E.leave_one_out_entropies(codes, codes[:, 1]))
    assert E.joint_entropy(x, method="hash") == pytest.approx(1.5)


def test_small_codes_pass_through_without_a_copy():
    x = np.random.default_rng(0).integers(0, 8, size=(100, 6)).astype(np.uint8)
    assert E.as_codes(x, "x") is x
    wide = x.astype(np.int64)
    assert E.as_codes(wide, "x") is wide
    shifted = E.as_codes(wide - 4, "x")  # negative: shifted to 0..7, not sorted
    np.testing.assert_array_equal(shifted, x)
    big = wide.astype(np.uint64) + np.uint64(2**63)
    np.testing.assert_array_equal(E.as_codes(big, "x"), x)


def test_mixed_integer_dtypes_combine():
    """uint64 and int64 have no common integer type (numpy gives float64)."""
    codes, big = extreme_codes(EXTREME_VALUES["uint64 near 2**64"])
    y_codes, y = codes[:, 3], EXTREME_VALUES["int64 min/max"][codes[:, 3]]
    for method in ("exact", "hash"):
        assert E.mutual_information(big[:, :2], y, method=method) == pytest.approx(
            E.mutual_information(codes[:, :2], y_codes), abs=1e-12)
        assert E.conditional_entropy(y, big[:, 0], method=method) == pytest.approx(
            E.conditional_entropy(y_codes, codes[:, 0]), abs=1e-12)


# ---- weighted tables: row probabilities instead of counts ----------------------------------

def distinct_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of samples and their relative counts."""
    rows, counts = np.unique(x, axis=0, return_counts=True)
    return rows, counts / counts.sum()


@pytest.mark.parametrize("method", ["exact", "hash"])
def test_distinct_rows_weighted_by_relative_counts_give_the_samples_entropies(method):
    rng = np.random.default_rng(11)
    x = rng.integers(0, 3, size=(700, 5))
    x[:, 4] = (x[:, 0] + x[:, 1] * (x[:, 2] > 0)) % 3
    x[:, 3] *= 10**7  # a wide column: counted by a sort instead of np.bincount
    rows, w = distinct_rows(x)
    assert len(rows) < len(x)
    pairs = [
        (E.joint_entropy(x, method=method), E.joint_entropy(rows, method=method, weights=w)),
        (E.mutual_information(x[:, :4], x[:, 4], method=method),
         E.mutual_information(rows[:, :4], rows[:, 4], method=method, weights=w)),
        (E.conditional_entropy(x[:, 4], x[:, :2], method=method),
         E.conditional_entropy(rows[:, 4], rows[:, :2], method=method, weights=w)),
    ]
    for samples, weighted in pairs:
        assert weighted == pytest.approx(samples, abs=1e-12)
    for extra in (None, 4):
        e, ew = (None, None) if extra is None else (x[:, extra], rows[:, extra])
        np.testing.assert_allclose(E.column_entropies(rows[:, :4], ew, weights=w),
                                   E.column_entropies(x[:, :4], e), atol=1e-12)
        np.testing.assert_allclose(E.leave_one_out_entropies(rows[:, :4], ew, weights=w),
                                   E.leave_one_out_entropies(x[:, :4], e), atol=1e-12)


def test_weights_split_over_duplicate_rows_and_zero_weights_drop_out():
    # p = (1/2, 1/4, 1/4) given as four rows, one of them twice, plus a row of weight 0
    x = np.array([0, 1, 0, 2, 3])
    w = np.array([0.25, 0.25, 0.25, 0.25, 0.0])
    assert E.joint_entropy(x, weights=w) == pytest.approx(1.5)
    assert E.entropy_of_keys(x, w) == pytest.approx(1.5)
    assert E.column_entropies(x, weights=w) == pytest.approx([1.5])


@pytest.mark.parametrize(
    "weights, error, match",
    [
        (np.full(3, 1 / 3), ValueError, r"weights: shape \(3,\); need \(4,\)"),
        (np.array([0.5, 0.5, 0.5, -0.5]), ValueError, "weights: negative value -0.5"),
        (np.array([0.5, 0.5, np.nan, 0]), ValueError, "weights: contains NaN"),
        (np.full(4, 0.3), ValueError, "weights: sum to 1.2"),
        (np.array(["a"] * 4), TypeError, "weights: expected real numbers"),
    ],
)
def test_bad_weights_name_the_field(weights, error, match):
    x = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    for call in (lambda: E.joint_entropy(x, weights=weights),
                 lambda: E.mutual_information(x[:, 0], x[:, 1], weights=weights),
                 lambda: E.leave_one_out_entropies(x, weights=weights)):
        with pytest.raises(error, match=match):
            call()

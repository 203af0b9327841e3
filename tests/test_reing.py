"""Reing's C_k against gates worked out by hand and brute-force conditional entropies."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nninfo.info.entropy import UndefinedRatioWarning, conditional_entropy, joint_entropy
from nninfo.info.reing import reing_complexity


def two_bits() -> np.ndarray:
    return np.array(list(itertools.product((0, 1), repeat=2)))


@pytest.mark.parametrize(
    ("gate", "C", "C_R"),
    [
        (lambda s: s[:, 0] ^ s[:, 1], [1, 1, 0], 2.0),  # XOR: all info at order 2
        (lambda s: 2 * s[:, 0] + s[:, 1], [2, 1, 0], 1.5),  # COPY: one bit per order
        (lambda s: s[:, 0], [1, 0.5, 0], 1.5),  # UNQ: one source of two has the bit
    ],
)
def test_gates_by_hand(gate, C, C_R):
    s = two_bits()
    r = reing_complexity(s, gate(s))
    assert r.C == pytest.approx(C, abs=1e-12)
    assert r.D == pytest.approx(-np.diff(C), abs=1e-12)
    assert r.C_R == pytest.approx(C_R)


def test_redundant_copy_has_order_one():
    t = np.array([0, 1, 1, 0, 1])
    r = reing_complexity(np.column_stack([t, t, t]), t)
    assert r.C == pytest.approx([joint_entropy(t), 0, 0, 0], abs=1e-12)
    assert r.C_R == pytest.approx(1.0)


def test_matches_brute_force_and_is_monotone():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 3, size=(800, 5))
    t = (s[:, 0] * s[:, 1] + s[:, 2] + rng.integers(0, 2, 800)) % 3
    r = reing_complexity(s, t)
    n = s.shape[1]
    for k in range(1, n + 1):
        ref = np.mean(
            [
                conditional_entropy(t, s[:, list(a)], method="exact")
                for a in itertools.combinations(range(n), k)
            ]
        )
        assert r.C[k] == pytest.approx(ref, abs=1e-12)
    assert r.C[0] == pytest.approx(joint_entropy(t))
    assert r.C[-1] == pytest.approx(conditional_entropy(t, s, method="exact"), abs=1e-12)
    assert np.all(np.diff(r.C) <= 1e-12)
    assert r.n_subsets.tolist() == [math.comb(n, k) for k in range(n + 1)]
    assert 1.0 <= r.C_R <= n
    assert r.D.sum() == pytest.approx(r.mutual_information)


def test_sampled_subsets_are_seeded_and_bounded():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 2, size=(500, 12))
    t = s[:, :6].sum(axis=1) % 2
    a = reing_complexity(s, t, max_subsets=20, seed=3)
    b = reing_complexity(s, t, max_subsets=20, seed=3)
    full = reing_complexity(s, t)
    assert np.array_equal(a.C, b.C)
    assert a.n_subsets.tolist() == [min(20, math.comb(12, k)) for k in range(13)]
    # orders with at most 20 subsets, and the end points, are exact
    for k in (0, 1, 11, 12):
        assert a.C[k] == pytest.approx(full.C[k])
    assert np.all(np.diff(a.C[[0, 1, 11, 12]]) <= 1e-12)
    assert a.to_dict()["reing.C_12"] == pytest.approx(full.C[12])


def test_max_subsets_at_least_all_subsets_is_exact():
    rng = np.random.default_rng(2)
    s = rng.integers(0, 2, size=(300, 4))
    t = s[:, 0] & s[:, 3]
    assert reing_complexity(s, t, max_subsets=6).C == pytest.approx(reing_complexity(s, t).C)


def test_to_dict_keys():
    s = two_bits()
    d = reing_complexity(s, s[:, 0] ^ s[:, 1]).to_dict()
    assert set(d) == {
        "reing.C_R",
        "reing.mutual_information",
        "reing.C_0",
        "reing.C_1",
        "reing.C_2",
        "reing.D_1",
        "reing.D_2",
    }


def test_independent_target_gives_nan():
    s = two_bits()
    with pytest.warns(UndefinedRatioWarning, match=r"reing\.C_R"):
        r = reing_complexity(s, np.zeros(4, dtype=int))
    assert math.isnan(r.C_R)


def test_bad_input_names_the_field():
    s = np.zeros((10, 20), dtype=int)
    with pytest.raises(ValueError, match="pass max_subsets"):
        reing_complexity(s, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="max_subsets must be a positive int"):
        reing_complexity(s, np.zeros(10, dtype=int), max_subsets=0)
    with pytest.raises(ValueError, match="sample counts differ"):
        reing_complexity(s, np.zeros(9, dtype=int), max_subsets=5)


def test_codes_beyond_int64_give_the_result_of_small_codes():
    """Codes >= 2**63 (uint64) and int64 extremes hash like their re-coded 0..k-1 versions."""
    rng = np.random.default_rng(3)
    small = rng.integers(0, 3, size=(400, 3))
    target = rng.integers(0, 2, size=400)
    huge = np.array([2**63, 2**63 + 5, 2**64 - 1], dtype=np.uint64)[small]
    extreme = np.array([np.iinfo(np.int64).min, -1, np.iinfo(np.int64).max])[small]
    want = reing_complexity(small, target)
    for codes in (huge, extreme):
        got = reing_complexity(codes, np.where(target == 1, 2**63, 7).astype(np.uint64))
        np.testing.assert_allclose(got.C, want.C, atol=1e-12)
        assert got.C_R == pytest.approx(want.C_R, abs=1e-12)

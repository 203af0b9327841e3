"""Reing's C_k against gates worked out by hand and brute-force conditional entropies."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from nninfo.info.entropy import UndefinedRatioWarning, conditional_entropy, joint_entropy
from nninfo.info.reing import reing_complexity


def two_bits() -> np.ndarray:
    return np.array(list(itertools.product((0, 1), repeat=2)))


def three_bits() -> np.ndarray:
    return np.array(list(itertools.product((0, 1), repeat=3)))


def published_rule(C) -> float:
    """The published post-processing, written from its rule: the analysis stores
    ``C(k-1||k) = C_(k-1) - C_k`` for k = 1..n; the post-processing returns
    sum_{k=1}^{n-1} k * C(k||k+1) / sum_{k=1}^{n-1} C(k||k+1) (C(0||1) is left out)."""
    n = len(C) - 1
    diffs = {f"C({k - 1}||{k})": C[k - 1] - C[k] for k in range(1, n + 1)}
    num = sum(k * diffs[f"C({k}||{k + 1})"] for k in range(1, n))
    den = sum(diffs[f"C({k}||{k + 1})"] for k in range(1, n))
    return num / den if abs(den) > 1e-12 else math.nan


def mean_order_rule(C) -> float:
    """sum_{k=1}^{n} k * (C_(k-1) - C_k) / (C_0 - C_n)."""
    n = len(C) - 1
    den = C[0] - C[n]
    return sum(k * (C[k - 1] - C[k]) for k in range(1, n + 1)) / den if den > 1e-12 else math.nan


# C_k worked out by hand (uniform sources, bits), then both complexities from the formulas:
#   XOR T = S1^S2: a single source says nothing, both say all: C = [1, 1, 0], D = [0, 1];
#     published 1*(C_1-C_2)/(C_1-C_2) = 1; mean order (1*0 + 2*1)/1 = 2.
#   COPY T = (S1, S2): each source tells one of the two bits: C = [2, 1, 0], D = [1, 1];
#     published 1*(1-0)/(1-0) = 1; mean order (1*1 + 2*1)/2 = 1.5.
#   UNQ T = S1: S1 tells all, S2 nothing, C_1 = (0 + 1)/2: C = [1, 0.5, 0], D = [0.5, 0.5];
#     published 1*(0.5-0)/(0.5-0) = 1; mean order (1*0.5 + 2*0.5)/1 = 1.5.
#   3-bit parity T = S1^S2^S3: any two sources say nothing, all three say all:
#     C = [1, 1, 1, 0], D = [0, 0, 1]; published (1*(C_1-C_2) + 2*(C_2-C_3))/(C_1-C_3)
#     = (0 + 2)/1 = 2; mean order (1*0 + 2*0 + 3*1)/1 = 3.
#   T = S1 = S2 (redundant copy): one source says all: C = [1, 0, 0], D = [1, 0];
#     published 1*(0-0)/(0-0) = 0/0 -> NaN; mean order (1*1 + 2*0)/1 = 1.
@pytest.mark.parametrize(
    ("sources", "gate", "C", "published", "mean_order"),
    [
        (two_bits, lambda s: s[:, 0] ^ s[:, 1], [1, 1, 0], 1.0, 2.0),
        (two_bits, lambda s: 2 * s[:, 0] + s[:, 1], [2, 1, 0], 1.0, 1.5),
        (two_bits, lambda s: s[:, 0], [1, 0.5, 0], 1.0, 1.5),
        (three_bits, lambda s: s[:, 0] ^ s[:, 1] ^ s[:, 2], [1, 1, 1, 0], 2.0, 3.0),
    ],
    ids=["xor", "copy", "unq", "parity3"],
)
def test_gates_by_hand(sources, gate, C, published, mean_order):
    s = sources()
    r = reing_complexity(s, gate(s))
    assert r.C == pytest.approx(C, abs=1e-12)
    assert r.D == pytest.approx(-np.diff(C), abs=1e-12)
    assert r.C_R_published == pytest.approx(published)
    assert r.C_R_mean_order == pytest.approx(mean_order)
    assert published_rule(C) == pytest.approx(published)  # the hand values follow the rules
    assert mean_order_rule(C) == pytest.approx(mean_order)
    d = r.to_dict()
    assert d["reing.C_R_published"] == r.C_R_published
    assert d["reing.C_R_mean_order"] == r.C_R_mean_order


def test_identical_sources_published_is_nan_mean_order_is_one():
    t = np.array([0, 1, 1, 0])
    with pytest.warns(UndefinedRatioWarning, match=r"reing\.C_R_published") as record:
        r = reing_complexity(np.column_stack([t, t]), t)
    assert all("C_R_mean_order" not in str(w.message) for w in record)
    assert r.C == pytest.approx([1, 0, 0], abs=1e-12)
    assert math.isnan(r.C_R_published)
    assert r.C_R_mean_order == pytest.approx(1.0)


def test_redundant_copy_has_order_one():
    t = np.array([0, 1, 1, 0, 1])
    with pytest.warns(UndefinedRatioWarning, match=r"reing\.C_R_published"):
        r = reing_complexity(np.column_stack([t, t, t]), t)
    assert r.C == pytest.approx([joint_entropy(t), 0, 0, 0], abs=1e-12)
    assert r.C_R_mean_order == pytest.approx(1.0)
    assert math.isnan(r.C_R_published)


def _entropy(rows) -> float:
    """Plug-in entropy in bits of a list of hashable outcomes (independent of nninfo)."""
    counts = np.array(list(Counter(rows).values()), dtype=float)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def test_random_case_against_an_independent_reference():
    """C_k from plain counting, then both rules as written above."""
    rng = np.random.default_rng(5)
    s = rng.integers(0, 3, size=(600, 4))
    t = (s[:, 0] + s[:, 1] * s[:, 2] + (rng.random(600) < 0.2)) % 3
    n = s.shape[1]
    C = []
    for k in range(n + 1):
        h = [_entropy([(*row[list(a)], y) for row, y in zip(s, t, strict=True)])
             - _entropy([tuple(row[list(a)]) for row in s])
             for a in itertools.combinations(range(n), k)]
        C.append(float(np.mean(h)))
    r = reing_complexity(s, t)
    np.testing.assert_allclose(r.C, C, atol=1e-12)
    assert r.C_R_published == pytest.approx(published_rule(C), abs=1e-12)
    assert r.C_R_mean_order == pytest.approx(mean_order_rule(C), abs=1e-12)
    assert 1.0 <= r.C_R_published <= n - 1 and 1.0 <= r.C_R_mean_order <= n
    # the two rules differ: published = mean over orders >= 2 of (order - 1)
    D = -np.diff(C)
    assert r.C_R_published == pytest.approx(
        sum((j - 1) * D[j - 1] for j in range(2, n + 1)) / D[1:].sum(), abs=1e-12)
    assert r.C_R_published != pytest.approx(r.C_R_mean_order)


def test_one_source_published_is_nan():
    s = np.array([[0], [1], [1], [0]])
    with pytest.warns(UndefinedRatioWarning, match=r"reing\.C_R_published"):
        r = reing_complexity(s, s[:, 0])
    assert math.isnan(r.C_R_published) and r.C_R_mean_order == pytest.approx(1.0)


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
    assert 1.0 <= r.C_R_mean_order <= n
    assert 1.0 <= r.C_R_published <= n - 1
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
        "reing.C_R_published",
        "reing.C_R_mean_order",
        "reing.mutual_information",
        "reing.C_0",
        "reing.C_1",
        "reing.C_2",
        "reing.D_1",
        "reing.D_2",
    }


def test_independent_target_gives_nan():
    s = two_bits()
    with pytest.warns(UndefinedRatioWarning) as record:
        r = reing_complexity(s, np.zeros(4, dtype=int))
    messages = " ".join(str(w.message) for w in record)
    assert "reing.C_R_published" in messages and "reing.C_R_mean_order" in messages
    assert math.isnan(r.C_R_published) and math.isnan(r.C_R_mean_order)


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
        assert got.C_R_published == pytest.approx(want.C_R_published, abs=1e-12)
        assert got.C_R_mean_order == pytest.approx(want.C_R_mean_order, abs=1e-12)


# ---- weighted tables: row probabilities instead of counts ----------------------------------

@pytest.mark.parametrize("max_subsets", [None, 3])
def test_distinct_rows_weighted_by_relative_counts_give_the_samples_complexity(max_subsets):
    rng = np.random.default_rng(14)
    s = rng.integers(0, 3, size=(900, 5))
    t = (s[:, 0] + s[:, 1] * s[:, 2] + (rng.random(900) < 0.2)) % 3
    rows, counts = np.unique(np.column_stack([s, t]), axis=0, return_counts=True)
    got = reing_complexity(rows[:, :-1], rows[:, -1], max_subsets=max_subsets,
                           weights=counts / counts.sum())
    want = reing_complexity(s, t, max_subsets=max_subsets)
    np.testing.assert_allclose(got.C, want.C, atol=1e-12)
    np.testing.assert_allclose(got.D, want.D, atol=1e-12)
    assert got.C_R_published == pytest.approx(want.C_R_published, abs=1e-12)
    assert got.C_R_mean_order == pytest.approx(want.C_R_mean_order, abs=1e-12)


def test_weighted_table_against_dit():
    dit = pytest.importorskip("dit")
    from nninfo.info.dit_bridge import to_distribution

    rng = np.random.default_rng(15)
    outcomes = np.unique(rng.integers(0, 3, size=(40, 4)), axis=0)
    outcomes[:, 3] = (outcomes[:, 0] * outcomes[:, 1] + outcomes[:, 2]) % 3
    probs = rng.dirichlet(np.ones(len(outcomes)))
    d = to_distribution(outcomes, probs)
    got = reing_complexity(outcomes[:, :3], outcomes[:, 3], weights=probs)
    want = [np.mean([dit.shannon.conditional_entropy(d, [3], list(a))
                     for a in itertools.combinations(range(3), k)]) for k in range(4)]
    np.testing.assert_allclose(got.C, want, atol=1e-12)


def test_weights_are_checked():
    s = two_bits()
    with pytest.raises(ValueError, match="weights: negative value"):
        reing_complexity(s, s[:, 0], weights=np.array([0.5, 0.5, 0.5, -0.5]))

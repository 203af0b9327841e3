"""Shannon invariants on logic gates worked out by hand, and against exact counting."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nninfo.info.entropy import joint_entropy, mutual_information
from nninfo.info.shannon import (
    UndefinedRatioWarning,
    entropy_invariants,
    shannon_invariants,
)


def two_bits() -> np.ndarray:
    return np.array(list(itertools.product((0, 1), repeat=2)))


def h2(p: float) -> float:
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def test_xor_is_purely_synergistic():
    s = two_bits()
    r = shannon_invariants(s, s[:, 0] ^ s[:, 1])
    assert r.mutual_information == pytest.approx(1)
    assert r.source_mi == pytest.approx([0, 0], abs=1e-12)
    assert r.leave_one_out_mi == pytest.approx([0, 0], abs=1e-12)
    assert r.avg_degree_redundancy == pytest.approx(0, abs=1e-12)
    assert r.avg_degree_vulnerability == pytest.approx(2)


def test_copy_of_independent_bits_is_unique():
    s = two_bits()
    r = shannon_invariants(s, 2 * s[:, 0] + s[:, 1])
    assert r.mutual_information == pytest.approx(2)
    assert r.avg_degree_redundancy == pytest.approx(1)
    assert r.avg_degree_vulnerability == pytest.approx(1)


def test_redundant_copy():
    t = np.array([0, 1, 0, 1, 1])
    r = shannon_invariants(np.column_stack([t, t]), t)
    assert r.avg_degree_redundancy == pytest.approx(2)
    assert r.avg_degree_vulnerability == pytest.approx(0, abs=1e-12)


def test_and_gate_by_hand():
    s = two_bits()
    r = shannon_invariants(s, s[:, 0] & s[:, 1])
    mi = h2(1 / 4)  # T is a function of S, so I(T;S) = H(T)
    mi_single = h2(1 / 4) - 0.5 * h2(1 / 2)  # given S_1 = 1, T = S_2 is a fair bit
    assert r.mutual_information == pytest.approx(mi)
    assert r.source_mi == pytest.approx([mi_single, mi_single])
    assert r.avg_degree_redundancy == pytest.approx(2 * mi_single / mi)
    # S_-1 = S_2, so I(T; S_-i) = I(T; S_j)
    assert r.avg_degree_vulnerability == pytest.approx(2 * (mi - mi_single) / mi)


def test_many_sources_match_exact_counting():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 3, size=(1500, 30)).astype(np.uint8)
    t = (s[:, 0] + s[:, 1] * s[:, 2] + rng.integers(0, 2, 1500)) % 4
    r = shannon_invariants(s, t)
    assert r.mutual_information == pytest.approx(mutual_information(s, t, method="exact"))
    for i in (0, 1, 29):
        assert r.source_mi[i] == pytest.approx(mutual_information(s[:, i], t, method="exact"))
        rest = np.delete(s, i, axis=1)
        assert r.leave_one_out_mi[i] == pytest.approx(mutual_information(rest, t, method="exact"))
    expected_v = (r.mutual_information - r.leave_one_out_mi).sum() / r.mutual_information
    assert r.avg_degree_vulnerability == pytest.approx(expected_v)


def test_to_dict_is_flat_scalars():
    s = two_bits()
    d = shannon_invariants(s, s[:, 0] ^ s[:, 1]).to_dict()
    assert {"shannon.mutual_information", "shannon.avg_degree_redundancy",
            "shannon.avg_degree_vulnerability"} <= set(d)
    assert all(k.startswith("shannon.") for k in d)
    assert all(isinstance(v, float) for v in d.values())
    assert d["shannon.n_sources"] == 2.0


def test_zero_information_gives_nan_and_warning():
    s = two_bits()
    with pytest.warns(UndefinedRatioWarning) as record:
        r = shannon_invariants(s, np.zeros(4, dtype=int))
    messages = " ".join(str(w.message) for w in record)
    assert "avg_degree_redundancy" in messages and "avg_degree_vulnerability" in messages
    assert math.isnan(r.avg_degree_redundancy) and math.isnan(r.avg_degree_vulnerability)
    assert r.mutual_information == 0.0


def test_entropy_invariants_independent_bits():
    s = np.array(list(itertools.product((0, 1), repeat=3)))
    r = entropy_invariants(s)
    assert r.joint_entropy == pytest.approx(3)
    assert r.avg_degree_redundancy == pytest.approx(1)
    assert r.avg_degree_vulnerability == pytest.approx(1)


def test_entropy_invariants_parity_constraint():
    s = two_bits()
    s = np.column_stack([s, s[:, 0] ^ s[:, 1]])  # any two bits determine the third
    r = entropy_invariants(s)
    assert r.joint_entropy == pytest.approx(2)
    assert r.source_entropies == pytest.approx([1, 1, 1])
    assert r.leave_one_out_entropies == pytest.approx([2, 2, 2])
    assert r.avg_degree_redundancy == pytest.approx(1.5)
    assert r.avg_degree_vulnerability == pytest.approx(0, abs=1e-12)
    assert set(r.to_dict()) >= {"shannon_entropy.joint_entropy",
                                "shannon_entropy.avg_degree_redundancy"}


def test_entropy_invariants_equal_invariants_with_sources_as_target():
    rng = np.random.default_rng(4)
    s = rng.integers(0, 2, size=(400, 3))
    s[:, 2] = s[:, 0] | s[:, 1]
    code = s @ np.array([1, 2, 4])
    a, b = entropy_invariants(s), shannon_invariants(s, code)
    assert a.joint_entropy == pytest.approx(joint_entropy(s))
    assert a.avg_degree_redundancy == pytest.approx(b.avg_degree_redundancy)
    assert a.avg_degree_vulnerability == pytest.approx(b.avg_degree_vulnerability)


def test_bad_input_names_the_field():
    s = two_bits()
    with pytest.raises(ValueError, match="target must be 1-D"):
        shannon_invariants(s, s)
    with pytest.raises(ValueError, match="sample counts differ"):
        shannon_invariants(s, np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="sources must have at least one column"):
        entropy_invariants(np.zeros((4, 0), dtype=int))
    with pytest.raises(TypeError, match="sources must hold integers"):
        shannon_invariants(s.astype(float), s[:, 0])


# ------------------------------------------------- extreme integer codes (any integer dtype)

EXTREMES = {
    "uint64 near 2**64": np.array([2**64 - 1, 0, 2**63, 2**64 - 2], np.uint64),
    "int64 min/max": np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, -1, 0]),
    "negatives": np.array([-3, -1, -2, -100]),
    "int8 negatives": np.array([-128, 127, -1, 0], np.int8),
}


def small_system(n=800, seed=1):
    """Codes 0..3 of 12 sources (with redundancy and synergy) and a target."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 4, size=(n, 12))
    s[:, 1] = s[:, 0]
    t = (s[:, 0] + s[:, 2] * s[:, 3] + rng.integers(0, 2, n)) % 4
    return s, t


def assert_same_invariants(a, b):
    for key, value in b.to_dict().items():
        assert a.to_dict()[key] == pytest.approx(value, abs=1e-12), key


@pytest.mark.parametrize("source_kind", list(EXTREMES))
@pytest.mark.parametrize("target_kind", ["small", *EXTREMES])
def test_extreme_codes_give_the_invariants_of_small_codes(source_kind, target_kind):
    s, t = small_system()
    big_s = EXTREMES[source_kind][s]
    big_t = t if target_kind == "small" else EXTREMES[target_kind][t]
    got, expected = shannon_invariants(big_s, big_t), shannon_invariants(s, t)
    assert_same_invariants(got, expected)
    np.testing.assert_allclose(got.source_mi, expected.source_mi, atol=1e-12)
    np.testing.assert_allclose(got.leave_one_out_mi, expected.leave_one_out_mi, atol=1e-12)
    assert_same_invariants(entropy_invariants(big_s), entropy_invariants(s))


def test_bool_sources_and_target():
    s = two_bits().astype(bool)
    r = shannon_invariants(s, s[:, 0] ^ s[:, 1])
    assert r.avg_degree_vulnerability == pytest.approx(2)
    assert entropy_invariants(s).joint_entropy == pytest.approx(2)


def test_sx_pid_accepts_uint64_codes_above_int64():
    from nninfo.info import sx_pid

    rng = np.random.default_rng(2)
    small = rng.integers(0, 3, size=(300, 3))
    small[:, 2] = (small[:, 0] + small[:, 1]) % 3
    big = np.array([2**64 - 1, 2**63, 5], np.uint64)[small]
    got, expected = sx_pid(big), sx_pid(small)
    assert got.mutual_information == pytest.approx(expected.mutual_information, abs=1e-12)
    assert sorted(got.counted.target_values.tolist()) == [5, 2**63, 2**64 - 1]


def test_sx_pid_refuses_float_codes_beyond_int64():
    from nninfo.info import sx_pid

    table = np.array([[0.0, 1.0, 0.0], [1e19, 0.0, 1.0]])
    with pytest.raises(ValueError, match=r"outcomes: code 1e\+19 .*2\*\*63"):
        sx_pid(table)


# ---- weighted tables: row probabilities instead of counts ----------------------------------

def random_table(rng, n_sources: int, rows: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Distinct outcome rows (sources..., target) with random probabilities."""
    outcomes = np.unique(rng.integers(0, 3, size=(rows, n_sources + 1)), axis=0)
    outcomes[:, -1] = (outcomes[:, 0] + outcomes[:, 1] + (outcomes[:, -1] == 0)) % 3
    return outcomes, rng.dirichlet(np.ones(len(outcomes)))


def test_distinct_rows_weighted_by_relative_counts_give_the_samples_invariants():
    rng = np.random.default_rng(12)
    s = rng.integers(0, 3, size=(800, 4))
    t = (s[:, 0] + s[:, 1] * (rng.random(800) < 0.7)) % 3
    rows, counts = np.unique(np.column_stack([s, t]), axis=0, return_counts=True)
    w = counts / counts.sum()
    got, want = shannon_invariants(rows[:, :-1], rows[:, -1], weights=w), shannon_invariants(s, t)
    for field in ("mutual_information", "target_entropy", "source_mi", "leave_one_out_mi",
                  "avg_degree_redundancy", "avg_degree_vulnerability"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), atol=1e-12)
    rows, counts = np.unique(s, axis=0, return_counts=True)
    got, want = entropy_invariants(rows, weights=counts / counts.sum()), entropy_invariants(s)
    for field in ("joint_entropy", "source_entropies", "leave_one_out_entropies",
                  "avg_degree_redundancy", "avg_degree_vulnerability"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), atol=1e-12)


def test_weighted_table_against_dit():
    dit = pytest.importorskip("dit")
    from nninfo.info.dit_bridge import to_distribution

    rng = np.random.default_rng(13)
    outcomes, probs = random_table(rng, n_sources=3)
    d = to_distribution(outcomes, probs)
    src, t = outcomes[:, :-1], outcomes[:, -1]
    r = shannon_invariants(src, t, weights=probs)
    assert r.mutual_information == pytest.approx(dit.shannon.mutual_information(d, [0, 1, 2], [3]),
                                                 abs=1e-12)
    assert r.target_entropy == pytest.approx(dit.shannon.entropy(d, [3]), abs=1e-12)
    want_i = [dit.shannon.mutual_information(d, [i], [3]) for i in range(3)]
    want_loo = [dit.shannon.mutual_information(d, [j for j in range(3) if j != i], [3])
                for i in range(3)]
    np.testing.assert_allclose(r.source_mi, want_i, atol=1e-12)
    np.testing.assert_allclose(r.leave_one_out_mi, want_loo, atol=1e-12)
    h = entropy_invariants(src, weights=probs)
    assert h.joint_entropy == pytest.approx(dit.shannon.entropy(d, [0, 1, 2]), abs=1e-12)
    np.testing.assert_allclose(h.source_entropies, [dit.shannon.entropy(d, [i]) for i in range(3)],
                               atol=1e-12)
    assert mutual_information(src, t, weights=probs) == pytest.approx(r.mutual_information,
                                                                     abs=1e-12)


def test_weighted_invariants_check_the_weights():
    s = two_bits()
    with pytest.raises(ValueError, match=r"weights: shape \(3,\); need \(4,\)"):
        shannon_invariants(s, s[:, 0], weights=np.full(3, 1 / 3))
    with pytest.raises(ValueError, match="weights: sum to 2.0"):
        entropy_invariants(s, weights=np.full(4, 0.5))

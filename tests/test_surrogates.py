"""Shuffled-target surrogates: bias of the plug-in MI, seeding, and the output frame."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nninfo.info.entropy import mutual_information
from nninfo.info.shannon import shannon_invariants
from nninfo.info.surrogates import (
    COLUMNS,
    TIE_TOLERANCE,
    mi_surrogates,
    shuffled_target_surrogates,
)


def mi_measure(sources, target):
    return {"mi": mutual_information(sources, target)}


def independent_data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4, size=(n, 2)), rng.integers(0, 4, size=n)


def test_independent_target_bias_matches_miller_madow():
    s, t = independent_data()
    df = shuffled_target_surrogates(mi_measure, s, t, n_shuffles=60, seed=1, progress=False)
    row = df.loc["mi"]
    # Miller-Madow: E[plug-in I] ~ (K_S - 1)(K_T - 1) / (2 N ln 2) for independent variables
    expected_bias = (16 - 1) * (4 - 1) / (2 * len(t) * math.log(2))
    assert row["surrogate_mean"] == pytest.approx(expected_bias, rel=0.25)
    assert abs(row["bias_corrected"]) < 4 * row["surrogate_std"]
    assert row["bias_corrected"] == pytest.approx(row["value"] - row["surrogate_mean"])
    assert 0 < row["p_value"] <= 1


def test_surrogates_equal_manual_shuffles():
    s, t = independent_data(500)
    df = shuffled_target_surrogates(mi_measure, s, t, n_shuffles=7, seed=42, progress=False)
    rng = np.random.default_rng(42)
    manual = np.array([mutual_information(s, rng.permutation(t)) for _ in range(7)])
    assert df.loc["mi", "surrogate_mean"] == pytest.approx(manual.mean())
    assert df.loc["mi", "surrogate_std"] == pytest.approx(manual.std(ddof=1))
    value = mutual_information(s, t)
    assert df.loc["mi", "value"] == pytest.approx(value)
    assert df.loc["mi", "p_value"] == pytest.approx((1 + (manual >= value).sum()) / 8)


def test_seed_reproducibility():
    s, t = independent_data(300)

    def run(seed):
        return shuffled_target_surrogates(mi_measure, s, t, n_shuffles=5, seed=seed, progress=False)

    assert run(3).equals(run(3))
    assert not run(3).equals(run(4))


def test_dependent_target_is_significant():
    rng = np.random.default_rng(5)
    s = rng.integers(0, 2, size=(400, 2))
    t = s[:, 0] ^ s[:, 1]
    df = shuffled_target_surrogates(
        lambda a, b: shannon_invariants(a, b).to_dict(),
        s,
        t,
        n_shuffles=19,
        seed=0,
        progress=False,
    )
    assert list(df.columns) == list(COLUMNS)
    assert df.loc["shannon.mutual_information", "p_value"] == pytest.approx(1 / 20)
    assert df.loc["shannon.mutual_information", "bias_corrected"] > 0.9


def test_progress_callback_and_bar():
    s, t = independent_data(100)
    calls = []
    shuffled_target_surrogates(
        mi_measure, s, t, n_shuffles=4, seed=0, progress=lambda d, n: calls.append((d, n))
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    df = shuffled_target_surrogates(mi_measure, s, t, n_shuffles=2, seed=0, progress=True)
    assert df.shape == (1, len(COLUMNS))


def test_bad_input():
    s, t = independent_data(50)
    with pytest.raises(ValueError, match="n_shuffles must be a positive int"):
        shuffled_target_surrogates(mi_measure, s, t, n_shuffles=0, seed=0)
    with pytest.raises(TypeError, match="measure must return a Mapping"):
        shuffled_target_surrogates(lambda a, b: 1.0, s, t, n_shuffles=2, seed=0)
    with pytest.raises(ValueError, match="sample counts differ"):
        shuffled_target_surrogates(mi_measure, s, t[:-1], n_shuffles=2, seed=0)
    flaky = iter([{"a": 1.0}, {"b": 1.0}])
    with pytest.raises(ValueError, match="same keys"):
        shuffled_target_surrogates(lambda a, b: next(flaky), s, t, n_shuffles=1, seed=0)


@pytest.mark.parametrize("bad", [True, False, 2.0, "5", None, np.bool_(True)])
def test_n_shuffles_must_be_a_positive_integer(bad):
    s, t = independent_data(50)
    calls = []

    def measure(a, b):
        calls.append(1)
        return {"mi": 0.0}

    with pytest.raises(ValueError) as err:
        shuffled_target_surrogates(measure, s, t, n_shuffles=bad, seed=0, progress=False)
    message = str(err.value)
    assert "n_shuffles" in message and repr(bad) in message
    assert "positive integer" in message
    assert not calls  # refused at entry, before the measure ran on the data


@pytest.mark.parametrize("bad", [0, -3])
def test_n_shuffles_below_one_is_refused(bad):
    s, t = independent_data(50)
    with pytest.raises(ValueError, match=rf"n_shuffles={bad}.*positive integer"):
        shuffled_target_surrogates(mi_measure, s, t, n_shuffles=bad, seed=0, progress=False)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "0", np.int64(-7)])
def test_seed_must_be_a_non_negative_integer_or_none(bad):
    s, t = independent_data(50)
    with pytest.raises(ValueError) as err:
        shuffled_target_surrogates(mi_measure, s, t, n_shuffles=2, seed=bad, progress=False)
    message = str(err.value)
    assert "seed" in message and repr(bad) in message
    assert "non-negative integer or None" in message


def test_numpy_integers_and_none_seed_are_accepted():
    s, t = independent_data(50)
    a = shuffled_target_surrogates(mi_measure, s, t, n_shuffles=np.int64(3), seed=np.uint8(4),
                                   progress=False)
    b = shuffled_target_surrogates(mi_measure, s, t, n_shuffles=3, seed=4, progress=False)
    assert a.equals(b)
    shuffled_target_surrogates(mi_measure, s, t, n_shuffles=2, seed=None, progress=False)


# --- mi_surrogates: the fast path for I(T;S) -------------------------------------------


def generic_mi(sources, target, n_shuffles, seed):
    frame = shuffled_target_surrogates(mi_measure, sources, target, n_shuffles, seed,
                                       progress=False)
    return frame.loc["mi"].to_dict()


@pytest.mark.parametrize(
    ("shape", "levels", "classes", "seed"),
    [((400, 2), 2, 2, 0), ((1500, 4), 8, 2, 3), ((800, 3), 5, 10, 7), ((300, 12), 3, 3, None)],
)
def test_mi_surrogates_equal_the_generic_path(shape, levels, classes, seed):
    rng = np.random.default_rng(11)
    s = rng.integers(0, levels, size=shape)
    t = (s[:, 0] + rng.integers(0, 2, size=shape[0])) % classes  # weakly dependent
    if seed is None:  # None: fresh entropy each call, so only compare the shapes
        assert set(mi_surrogates(s, t, 5, seed=None)) == set(COLUMNS)
        return
    fast = mi_surrogates(s, t, 40, seed=seed)
    slow = generic_mi(s, t, 40, seed)
    assert list(fast) == list(COLUMNS)
    for key in COLUMNS:
        assert fast[key] == pytest.approx(slow[key], abs=1e-12, rel=0), key


def test_mi_surrogates_use_the_documented_permutations():
    rng = np.random.default_rng(2)
    s, t = rng.integers(0, 3, size=(200, 2)), rng.integers(10, 13, size=200)  # any labels
    shuffles = np.random.default_rng(9)
    manual = np.array([mutual_information(s, shuffles.permutation(t)) for _ in range(6)])
    fast = mi_surrogates(s, t, 6, seed=9)
    assert fast["value"] == pytest.approx(mutual_information(s, t), abs=1e-12)
    assert fast["surrogate_mean"] == pytest.approx(manual.mean(), abs=1e-12)
    assert fast["surrogate_std"] == pytest.approx(manual.std(ddof=1), abs=1e-12)
    assert fast["bias_corrected"] == pytest.approx(fast["value"] - fast["surrogate_mean"])
    assert fast["p_value"] == (1 + (manual >= fast["value"] - TIE_TOLERANCE).sum()) / 7


def test_mi_surrogates_unrelated_label_is_bias_only():
    rng = np.random.default_rng(4)
    s, t = rng.integers(0, 4, size=(3000, 3)), rng.integers(0, 3, size=3000)
    out = mi_surrogates(s, t, 200, seed=0)
    assert out["value"] > 0.01  # plug-in bias: ~ (64 - 1)(3 - 1) / (2 N ln 2) = 0.03 bits
    assert out["surrogate_mean"] == pytest.approx(63 * 2 / (2 * 3000 * math.log(2)), rel=0.2)
    assert abs(out["bias_corrected"]) < 4 * out["surrogate_std"]


def test_mi_surrogates_p_values_are_roughly_uniform_under_the_null():
    p = np.array([
        mi_surrogates(*independent_data(150, seed=100 + i), n_shuffles=99, seed=i)["p_value"]
        for i in range(100)
    ])
    # Binomial(100, 0.1): P(X <= 2) + P(X >= 21) < 0.003; Binomial(100, 0.5): 30..70 is ~5 sd
    assert 3 <= (p <= 0.1).sum() <= 20
    assert 30 <= (p <= 0.5).sum() <= 70
    assert p.min() >= 1 / 100 and p.max() <= 1


def test_mi_surrogates_deterministic_label_is_significant():
    rng = np.random.default_rng(6)
    s = rng.integers(0, 4, size=(1000, 2))
    t = (s[:, 0] + 2 * s[:, 1]) % 5  # a function of the sources
    out = mi_surrogates(s, t, 100, seed=0)
    assert out["p_value"] == pytest.approx(1 / 101)
    assert out["p_value"] < 0.01
    assert out["bias_corrected"] > 1.5


def test_mi_surrogates_expose_the_bias_of_many_sources():
    """10 independent 8-level sources, unrelated 10-class label: nearly every sample is a
    distinct source pattern, so the plug-in I equals H(T) ~ log2(10) bits although the true
    I is 0. Every surrogate sees the same, so the surrogate mean is the plug-in I."""
    rng = np.random.default_rng(8)
    s, t = rng.integers(0, 8, size=(20_000, 10)), rng.integers(0, 10, size=20_000)
    out = mi_surrogates(s, t, 20, seed=0)
    assert out["value"] > 3.2
    assert out["surrogate_mean"] == pytest.approx(out["value"], abs=2e-3)
    assert abs(out["bias_corrected"]) < 2e-3
    assert out["p_value"] > 0.5  # nothing left once the bias is removed


def test_ties_count_as_exceeding_in_both_paths():
    """A measure that is the same on every shuffle up to float rounding gives p = 1."""
    s, t = independent_data(100)
    wobble = iter([1.0, 1.0 + 1e-15, 1.0 - 1e-15, 1.0 - 3e-16])
    frame = shuffled_target_surrogates(lambda a, b: {"x": next(wobble)}, s, t, 3, 0,
                                       progress=False)
    assert frame.at["x", "p_value"] == 1.0
    rng = np.random.default_rng(1)
    rows = rng.choice(8**6, size=500, replace=False)  # distinct rows: I = H(T), every shuffle
    s = np.column_stack(np.unravel_index(rows, (8,) * 6))
    assert len(np.unique(s, axis=0)) == 500
    t = rng.integers(0, 3, size=500)
    assert mi_surrogates(s, t, 30, seed=0)["p_value"] == 1.0
    assert generic_mi(s, t, 30, 0)["p_value"] == 1.0


def test_mi_surrogates_accept_wide_and_odd_integer_codes():
    rng = np.random.default_rng(3)
    small = rng.integers(0, 3, size=(300, 3))
    wide = small.astype(np.int64) * (2**61) - 2**62  # huge, negative codes; same outcomes
    t = rng.integers(0, 2, size=300)
    a, b = mi_surrogates(small, t, 10, seed=1), mi_surrogates(wide, t.astype(np.uint64), 10, 1)
    assert a == pytest.approx(b, abs=1e-12)
    assert mi_surrogates(small[:, 0], t.astype(bool), 3)["value"] == pytest.approx(
        mutual_information(small[:, 0], t))


@pytest.mark.parametrize(("kwargs", "field"), [({"n_shuffles": 0}, "n_shuffles"),
                                                ({"n_shuffles": True}, "n_shuffles"),
                                                ({"seed": -1}, "seed"),
                                                ({"seed": 1.5}, "seed")])
def test_mi_surrogates_validate_arguments(kwargs, field):
    s, t = independent_data(50)
    args = {"n_shuffles": 3, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=rf"{field}={kwargs[field]!r}"):
        mi_surrogates(s, t, **args)


def test_mi_surrogates_refuse_bad_data():
    s, t = independent_data(50)
    with pytest.raises(ValueError, match="sample counts differ"):
        mi_surrogates(s, t[:-1], 2)
    with pytest.raises(TypeError, match="integers"):
        mi_surrogates(s.astype(float), t, 2)
    with pytest.raises(ValueError, match="target must be 1-D"):
        mi_surrogates(s, s, 2)

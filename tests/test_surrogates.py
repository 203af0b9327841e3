"""Shuffled-target surrogates: bias of the plug-in MI, seeding, and the output frame."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nninfo.info.entropy import mutual_information
from nninfo.info.shannon import shannon_invariants
from nninfo.info.surrogates import COLUMNS, shuffled_target_surrogates


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

"""Shuffled-target surrogates of the I^sx PID: reproducible, and they expose plug-in bias."""

import numpy as np
import pytest

from nninfo.info import sx_pid, sx_pid_surrogates


def test_surrogate_mean_is_the_mean_over_manual_shuffles():
    rng = np.random.default_rng(3)
    samples = rng.integers(0, 3, size=(400, 3))
    table = sx_pid_surrogates(samples, 5, seed=11)
    shuffles = np.random.default_rng(11)
    manual = []
    for _ in range(5):
        t = shuffles.permutation(samples[:, -1])
        manual.append(sx_pid(np.column_stack([samples[:, :-1], t])).mutual_information)
    assert table.at["pid.mutual_information", "surrogate_mean"] == pytest.approx(np.mean(manual))
    assert table.at["pid.mutual_information", "surrogate_std"] == pytest.approx(
        np.std(manual, ddof=1))
    # every atom is reported
    assert table.index.str.startswith("pid.atom ").sum() == 4


def test_independent_target_bias_is_removed():
    rng = np.random.default_rng(0)
    samples = rng.integers(0, 4, size=(300, 3))   # target independent of the sources
    table = sx_pid_surrogates(samples, 30, seed=0, atoms=False)
    mi = table.loc["pid.mutual_information"]
    assert mi.value > 0.01                        # plug-in estimate is biased upward
    assert abs(mi.bias_corrected) < 3 * mi.surrogate_std
    assert mi.p_value > 0.05


def test_dependent_target_is_significant():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 2, size=(500, 2))
    samples = np.column_stack([s, s[:, 0] ^ s[:, 1]])
    table = sx_pid_surrogates(samples, 19, seed=0, atoms=False)
    assert table.at["pid.mutual_information", "p_value"] == pytest.approx(1 / 20)
    assert table.at["pid.mutual_information", "bias_corrected"] > 0.9


@pytest.mark.parametrize(
    ("kwargs", "field", "allowed"),
    [
        ({"n_shuffles": True}, "n_shuffles", "positive integer"),
        ({"n_shuffles": 0}, "n_shuffles", "positive integer"),
        ({"n_shuffles": 2.5}, "n_shuffles", "positive integer"),
        ({"seed": -1}, "seed", "non-negative integer or None"),
        ({"seed": False}, "seed", "non-negative integer or None"),
        ({"seed": 0.5}, "seed", "non-negative integer or None"),
    ],
)
def test_bad_shuffle_arguments_are_refused_at_entry(kwargs, field, allowed):
    samples = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    args = {"n_shuffles": 3, "seed": 0, **kwargs}
    with pytest.raises(ValueError) as err:
        sx_pid_surrogates(samples, args["n_shuffles"], args["seed"])
    message = str(err.value)
    assert f"{field}={kwargs[field]!r}" in message and allowed in message
    # refused before the samples are even looked at
    with pytest.raises(ValueError, match=field):
        sx_pid_surrogates(np.zeros(3), args["n_shuffles"], args["seed"])


def test_pid_mutual_information_surrogates_match_the_fast_mi_path():
    """I^sx's I(T;S) is the plug-in MI, so its surrogates are mi_surrogates' (same shuffles)."""
    from nninfo.info.surrogates import mi_surrogates

    rng = np.random.default_rng(12)
    samples = rng.integers(0, 3, size=(600, 4))
    samples[:, -1] = (samples[:, 0] + rng.integers(0, 2, size=600)) % 3
    row = sx_pid_surrogates(samples, 25, seed=5, atoms=False).loc["pid.mutual_information"]
    fast = mi_surrogates(samples[:, :-1], samples[:, -1], 25, seed=5)
    for key, value in fast.items():
        assert row[key] == pytest.approx(value, abs=1e-9), key

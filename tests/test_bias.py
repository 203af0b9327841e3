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

"""dit bridge: conversion keeps probabilities; BROJA / I^sx on gates with known atoms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nninfo.info.dit_bridge import (
    dit_pid,
    outcome_table,
    pid_measures,
    samples_to_distribution,
    to_distribution,
)

RED, UNQ1, UNQ2, SYN = ((1,), (2,)), ((1,),), ((2,),), ((1, 2),)


def gate(f) -> np.ndarray:
    """Outcome table of two independent fair bits and T = f(s1, s2), each row p = 1/4."""
    return np.array([(a, b, f(a, b)) for a, b in itertools.product((0, 1), repeat=2)])


def atoms(table, measure="BROJA", probs=None) -> dict:
    return dit_pid(table, probs, measure=measure)["average"].to_dict()


def test_broja_xor_is_one_bit_of_synergy():
    got = atoms(gate(lambda a, b: a ^ b))
    assert got[SYN] == pytest.approx(1, abs=1e-4)
    assert got[RED] == pytest.approx(0, abs=1e-4)
    assert got[UNQ1] == pytest.approx(0, abs=1e-4)


def test_broja_copy_is_unique_information():
    got = atoms(gate(lambda a, b: 2 * a + b))
    assert got[UNQ1] == pytest.approx(1, abs=1e-4)
    assert got[UNQ2] == pytest.approx(1, abs=1e-4)
    assert got[RED] == pytest.approx(0, abs=1e-4)
    assert got[SYN] == pytest.approx(0, abs=1e-4)


def test_broja_unq_gate():
    got = atoms(gate(lambda a, b: a))
    assert got[UNQ1] == pytest.approx(1, abs=1e-4)
    assert sum(got.values()) == pytest.approx(1, abs=1e-4)


def test_broja_and_gate():
    got = atoms(gate(lambda a, b: a & b))
    # BROJA: no unique information for AND; redundancy = I(T; S_1) = h(1/4) - 1/2
    h = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    assert got[RED] == pytest.approx(h - 0.5, abs=1e-4)  # 0.311 bits
    assert got[UNQ1] == pytest.approx(0, abs=1e-4)
    assert got[SYN] == pytest.approx(0.5, abs=1e-4)


def test_sx_and_gate_by_hand():
    # I^sx redundancy: mean over outcomes of log2 P(t | s1 or s2) / P(t); for AND the
    # four outcomes give ratios 4/3, 8/9, 8/9, 4/3.
    red = 0.25 * (2 * math.log2(4 / 3) + 2 * math.log2(8 / 9))
    single = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75)) - 0.5
    got = atoms(gate(lambda a, b: a & b), measure="sx")
    assert got[RED] == pytest.approx(red, abs=1e-9)
    assert got[UNQ1] == pytest.approx(single - red, abs=1e-9)


def test_index_is_nninfo_antichains_bottom_first():
    df = dit_pid(gate(lambda a, b: a ^ b), measure="MMI")
    assert list(df.index) == [RED, UNQ1, UNQ2, SYN]
    assert list(df.columns) == ["average"]
    three = np.array([(a, b, c, a ^ b ^ c) for a, b, c in itertools.product((0, 1), repeat=3)])
    df3 = dit_pid(three, measure="MMI")
    assert len(df3) == 18
    assert df3.index[0] == ((1,), (2,), (3,)) and df3.index[-1] == ((1, 2, 3),)
    assert df3["average"].sum() == pytest.approx(1)


def test_conversion_keeps_probabilities():
    table = np.array([[0, 0, 1], [1, 0, 0], [0, 0, 1], [1, 1, 1]])
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    rows, p = outcome_table(table, probs)
    assert rows.tolist() == [[0, 0, 1], [1, 0, 0], [1, 1, 1]]
    assert p == pytest.approx([0.4, 0.2, 0.4])
    d = to_distribution(table, probs)
    assert d[(0, 0, 1)] == pytest.approx(0.4)
    assert d[(1, 1, 1)] == pytest.approx(0.4)
    samples = samples_to_distribution(table[:, :2], table[:, 2])
    assert samples[(0, 0, 1)] == pytest.approx(0.5)
    assert samples[(1, 0, 0)] == pytest.approx(0.25)


def test_measure_names_are_introspected():
    names = pid_measures()
    assert {"BROJA", "SX", "MMI", "WB", "CCS", "dep", "PM"} <= set(names)
    with pytest.raises(ValueError, match="measure must be one of .*BROJA"):
        dit_pid(gate(lambda a, b: a), measure="nope")


def test_bad_input_names_the_field():
    five = np.array(list(itertools.product((0, 1), repeat=6)))
    with pytest.raises(ValueError, match="n=5 sources"):
        dit_pid(five, measure="MMI")
    three = np.array(list(itertools.product((0, 1), repeat=4)))
    with pytest.raises(ValueError, match="'BROJA' needs exactly 2 sources"):
        dit_pid(three)
    with pytest.raises(ValueError, match="probs must sum to 1"):
        dit_pid(gate(lambda a, b: a), probs=np.ones(4))
    with pytest.raises(ValueError, match=r"probs must have shape \(4,\)"):
        dit_pid(gate(lambda a, b: a), probs=np.ones(3) / 3)
    with pytest.raises(ValueError, match="outcomes must have n \\+ 1 >= 2 columns"):
        dit_pid(np.zeros((3, 1), dtype=int))
    with pytest.raises(TypeError, match="outcomes must hold integers"):
        dit_pid(np.zeros((3, 3)))

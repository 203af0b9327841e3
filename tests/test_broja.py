"""BROJA PID of two sources: textbook gates, the summaries, dit agreement, validation.

Expected values are derived here from the definitions: BROJA's redundancy is at most
min_i I(T;S_i) and all its atoms are >= 0, so with I(T;S_i) = 0 (XOR) there is no redundancy
or unique information; for COPY the sources are independent given T = (S_1, S_2) and BROJA
gives UI_i = I(T;S_i) = 1 bit; for AND the redundancy is I(T;S_1) = I(T;S_2).
"""

from __future__ import annotations

import functools
import math
import operator
import subprocess
import sys
import warnings

import numpy as np
import pytest

from nninfo.info.broja import BrojaPID, BrojaSolverWarning, broja_pid
from nninfo.info.sx import ZeroInformationWarning

BITS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
TOL = 1e-5  # dit's BROJA is an optimisation (cvxopt); it is accurate to ~1e-6


def h(*p: float) -> float:
    """Entropy in bits of the probabilities ``p``."""
    return -sum(q * math.log2(q) for q in p if q > 0)


@functools.cache
def gate(name: str) -> BrojaPID:
    fn = {"XOR": operator.xor, "AND": operator.and_, "COPY": lambda a, b: 2 * a + b}[name]
    return broja_pid(BITS, np.array([fn(a, b) for a, b in BITS]))


def check_atoms(res: BrojaPID, redundancy, unique_1, unique_2, synergy) -> None:
    assert res.redundancy == pytest.approx(redundancy, abs=TOL)
    assert res.unique_1 == pytest.approx(unique_1, abs=TOL)
    assert res.unique_2 == pytest.approx(unique_2, abs=TOL)
    assert res.synergy == pytest.approx(synergy, abs=TOL)
    total = res.redundancy + res.unique_1 + res.unique_2 + res.synergy
    assert total == pytest.approx(res.mutual_information, abs=1e-9)


def test_xor_is_pure_synergy():
    res = gate("XOR")
    assert res.mutual_information == pytest.approx(1.0)  # H(T) - H(T | S) = 1 - 0
    check_atoms(res, 0.0, 0.0, 0.0, 1.0)
    assert res.representational_complexity == pytest.approx(2.0, abs=TOL)


def test_copy_is_unique_information_of_each_source():
    res = gate("COPY")
    assert res.mutual_information == pytest.approx(2.0)  # H(T) = 2 bits
    check_atoms(res, 0.0, 1.0, 1.0, 0.0)  # I(T;S_i) = H(S_i) = 1 bit each
    assert res.representational_complexity == pytest.approx(1.0, abs=TOL)


def test_and_has_redundancy_i_t_s1_and_half_a_bit_synergy():
    res = gate("AND")
    i_total = h(0.75, 0.25)  # T is a function of S: I = H(T) = 0.811
    i_single = h(0.75, 0.25) - 0.5 * h(0.5, 0.5)  # H(T) - H(T|S_1): S_1 = 0 fixes T = 0
    assert i_single == pytest.approx(0.311278, abs=1e-6)
    assert res.mutual_information == pytest.approx(i_total)
    check_atoms(res, i_single, 0.0, 0.0, i_total - i_single)
    assert res.synergy == pytest.approx(0.5, abs=TOL)
    assert res.representational_complexity == pytest.approx(1 + 0.5 / i_total, abs=TOL)


def test_rdn_is_pure_redundancy():
    s = np.array([[0, 0], [1, 1]])
    res = broja_pid(s, s[:, 0])
    assert res.mutual_information == pytest.approx(1.0)
    check_atoms(res, 1.0, 0.0, 0.0, 0.0)
    assert res.representational_complexity == pytest.approx(1.0, abs=TOL)


def test_to_dict_keys_and_identities():
    res = gate("AND")
    d = res.to_dict()
    assert list(d) == [f"broja.{q}" for q in (
        "mutual_information", "redundancy", "unique_1", "unique_2", "synergy",
        "deg_syn_1", "deg_syn_2", "representational_complexity")]
    assert BrojaPID.key("synergy") == "broja.synergy"
    assert d["broja.deg_syn_1"] == pytest.approx(
        d["broja.redundancy"] + d["broja.unique_1"] + d["broja.unique_2"])
    assert d["broja.deg_syn_2"] == d["broja.synergy"]
    c = (d["broja.deg_syn_1"] + 2 * d["broja.deg_syn_2"]) / d["broja.mutual_information"]
    assert d["broja.representational_complexity"] == pytest.approx(c)
    assert list(res.degree_of_synergy_atoms.index) == [1, 2]
    assert "BrojaPID(mutual_information=0.811" in repr(res)


def random_table(seed=0):
    rng = np.random.default_rng(seed)
    table = np.array([(a, b, t) for a in range(2) for b in range(3) for t in range(2)])
    return table, rng.dirichlet(np.ones(len(table)))


def test_random_distribution_matches_dit_directly():
    import dit
    import dit.pid

    table, p = random_table()
    res = broja_pid(table[:, :2], table[:, 2], weights=p)
    dist = dit.Distribution([tuple(int(v) for v in r) for r in table], p.tolist())
    # the default exponential-cone solver (ECOS) against dit's other exact solver, admUI
    ref = dit.pid.PID_BROJA(dist, [[0], [1]], [2], method="admui", maxiter=5_000)
    # (the two solvers' stopping tolerances leave ~2e-7 bits between them)
    assert res.redundancy == pytest.approx(ref.get_pi(((0,), (1,))), abs=1e-6)
    assert res.unique_1 == pytest.approx(ref.get_pi(((0,),)), abs=1e-6)
    assert res.unique_2 == pytest.approx(ref.get_pi(((1,),)), abs=1e-6)
    assert res.synergy == pytest.approx(ref.get_pi(((0, 1),)), abs=1e-6)
    assert res.mutual_information == pytest.approx(
        dit.shannon.mutual_information(dist, [0, 1], [2]), abs=1e-12)
    # BROJA's defining properties hold: atoms >= 0, redundancy <= min_i I(T;S_i)
    singles = [dit.shannon.mutual_information(dist, [i], [2]) for i in (0, 1)]
    assert min(res._atom_values().values()) >= -1e-8  # ECOS tolerance
    assert res.redundancy <= min(singles) + 1e-8
    assert res.redundancy + res.unique_1 == pytest.approx(singles[0], abs=1e-12)
    assert res.redundancy + res.unique_2 == pytest.approx(singles[1], abs=1e-6)  # solver eps


def test_default_solver_is_deterministic():
    table, p = random_table(1)
    a = broja_pid(table[:, :2], table[:, 2], weights=p).to_dict()
    b = broja_pid(table[:, :2], table[:, 2], weights=p).to_dict()
    assert a == b


def test_unconverged_admui_falls_back_with_a_warning(monkeypatch):
    """dit falls back (to the cone solver, ecos being installed) when admUI needs more than
    maxiter iterations; a solver failure is an error naming the method."""
    table, p = random_table()
    with pytest.warns(BrojaSolverWarning, match="fell back to 'cone'.*maxiter=5"):
        res = broja_pid(table[:, :2], table[:, 2], weights=p, method="admui", maxiter=5)
    good = broja_pid(table[:, :2], table[:, 2], weights=p)
    assert res.to_dict() == pytest.approx(good.to_dict(), abs=1e-12)

    import dit.algorithms.broja_method as methods
    from dit.exceptions import OptimizationException

    def fail(*args, **kwargs):
        raise OptimizationException("no convergence")

    monkeypatch.setattr(methods, "broja_solve_bivariate", fail)
    with pytest.raises(RuntimeError, match="BROJA failed with method='cone', maxiter=5000"):
        broja_pid(table[:, :2], table[:, 2], weights=p)


def test_weighted_table_equals_samples():
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 2, size=(60, 3))
    samples[:, 2] = samples[:, 0] | (samples[:, 1] & rng.integers(0, 2, size=60))
    rows, counts = np.unique(samples, axis=0, return_counts=True)
    a = broja_pid(samples[:, :2], samples[:, 2])
    b = broja_pid(rows[:, :2], rows[:, 2], weights=counts / counts.sum())
    c = broja_pid(rows[:, :2], rows[:, 2], weights=counts)  # weights are normalised
    for other in (b, c):
        assert other.to_dict() == pytest.approx(a.to_dict(), abs=1e-6)
    # labels do not matter: huge and negative codes give the same PID
    wide = broja_pid(samples[:, :2].astype(np.int64) * 2**61 - 2**62,
                     samples[:, 2].astype(np.uint64) + np.uint64(2**63))
    assert wide.to_dict() == pytest.approx(a.to_dict(), abs=1e-6)


def test_no_information_gives_nan_complexity_with_warning():
    s = BITS
    res = broja_pid(s, np.zeros(4, dtype=int))
    assert res.mutual_information == 0.0
    with pytest.warns(ZeroInformationWarning):
        assert math.isnan(res.representational_complexity)


@pytest.mark.parametrize("n_sources", [1, 3])
def test_exactly_two_sources(n_sources):
    s = np.zeros((4, n_sources), dtype=int)
    with pytest.raises(ValueError, match=rf"sources.*exactly 2.*n_sources={n_sources}"):
        broja_pid(s, np.arange(4))


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"sources.*n_sources=1"):
        broja_pid(np.arange(4), np.arange(4))  # 1-D: one source
    with pytest.raises(TypeError, match="integers"):
        broja_pid(BITS.astype(float), np.arange(4))
    with pytest.raises(ValueError, match="sample counts differ"):
        broja_pid(BITS, np.arange(3))
    with pytest.raises(ValueError, match=r"weights: shape \(3,\)"):
        broja_pid(BITS, np.arange(4), weights=[0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="weights: must be finite"):
        broja_pid(BITS, np.arange(4), weights=[1.0, -0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="weights: must be finite"):
        broja_pid(BITS, np.arange(4), weights=np.zeros(4))


def test_importing_the_module_does_not_import_dit():
    code = "import sys, nninfo.info.broja; assert 'dit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_warning_for_informative_target():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gate("XOR").to_dict()

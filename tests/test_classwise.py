"""Per-class (target-pointwise) I^sx summaries: identities, textbook gates, hand derivations."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from nninfo.info import sx_pid
from nninfo.info.classwise import antichain_label, class_atoms, class_summaries

AND = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 1]])
XOR = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]])


def random_table(n_sources: int, levels: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    table = np.array(list(itertools.product(*[range(levels)] * n_sources, range(classes))))
    p = rng.dirichlet(np.full(len(table), 0.5))
    return table, p


def brute_force_class_atoms(table: np.ndarray, p: np.ndarray) -> dict:
    """I^sx atoms of 2 sources per target value, straight from the definitions (DESIGN.md):
    i+ = -log2 P(W_alpha), i- = -log2 [P(W_alpha, T = t) / P(T = t)], averaged over
    p(s | t), then the 2-source Moebius inversion. Returns {t: {label: (inf, mis)}}."""
    s1, s2, t = table.T

    def prob(mask):
        return float(p[mask].sum())

    events = {  # W_alpha at an outcome (a, b): which rows lie in the union
        "{1}{2}": lambda a, b: (s1 == a) | (s2 == b),
        "{1}": lambda a, b: s1 == a,
        "{2}": lambda a, b: s2 == b,
        "{1,2}": lambda a, b: (s1 == a) & (s2 == b),
    }
    out = {}
    for target in np.unique(t):
        p_t = prob(t == target)
        red = {k: np.zeros(2) for k in events}
        for (a, b, c), q in zip(table, p, strict=True):
            if c != target or q == 0:
                continue
            for k, event in events.items():
                w = event(a, b)
                plus = -math.log2(prob(w))
                minus = -math.log2(prob(w & (t == target)) / p_t)
                red[k] += q / p_t * np.array([plus, minus])
        r, r1, r2, r12 = red["{1}{2}"], red["{1}"], red["{2}"], red["{1,2}"]
        out[int(target)] = {"{1}{2}": r, "{1}": r1 - r, "{2}": r2 - r,
                            "{1,2}": r12 - r1 - r2 + r}
    return out


@pytest.mark.parametrize(("n_sources", "levels", "classes"), [(2, 3, 3), (3, 2, 3), (4, 2, 2)])
def test_class_values_average_to_the_whole_pid(n_sources, levels, classes):
    table, p = random_table(n_sources, levels, classes, seed=n_sources)
    pid = sx_pid(table, p)
    summary = class_summaries(pid)
    atoms = class_atoms(pid)
    p_t = summary.set_index("t")["p_t"]
    assert p_t.sum() == pytest.approx(1.0, abs=1e-12)
    assert (p_t * summary.set_index("t")["mutual_information"]).sum() == pytest.approx(
        pid.mutual_information, abs=1e-12)
    weighted = atoms.assign(w=atoms["t"].map(p_t))
    for column in ("informative", "misinformative", "average"):
        total = (weighted[column] * weighted["w"]).groupby(weighted["antichain"], sort=False).sum()
        expected = pid.atoms[column].to_numpy()
        np.testing.assert_allclose(total.to_numpy(), expected, rtol=0, atol=1e-12)
    for m in range(1, n_sources + 1):
        pi_m = (p_t * summary.set_index("t")[f"deg_syn_{m}"]).sum()
        assert pi_m == pytest.approx(pid.degree_of_synergy_atoms[m], abs=1e-12)


@pytest.mark.parametrize("n_sources", [2, 3])
def test_specific_information_is_the_class_kl_divergence(n_sources):
    """i(t) = sum_s p(s|t) log2[p(s|t) / p(s)]: the local MI averaged within class t."""
    table, p = random_table(n_sources, 2, 3, seed=10 + n_sources)
    summary = class_summaries(sx_pid(table, p)).set_index("t")
    frame = pd.DataFrame(table[:, :-1]).assign(t=table[:, -1], p=p)
    p_s = frame.groupby(list(range(n_sources)))["p"].transform("sum")
    p_t = frame.groupby("t")["p"].transform("sum")
    frame["local"] = np.log2(frame["p"] / (p_s * p_t))  # i(s; t) = log2 p(t|s) / p(t)
    expected = (frame["p"] / p_t * frame["local"]).groupby(frame["t"]).sum()
    np.testing.assert_allclose(summary["mutual_information"], expected.loc[summary.index],
                               rtol=0, atol=1e-12)
    assert (summary["mutual_information"] >= -1e-12).all()


def test_xor_classes_have_the_same_complexity():
    summary = class_summaries(sx_pid(XOR))
    assert list(summary["t"]) == [0, 1]
    np.testing.assert_allclose(summary["p_t"], [0.5, 0.5])
    np.testing.assert_allclose(summary["mutual_information"], [1.0, 1.0], atol=1e-12)
    c = summary["representational_complexity"].to_numpy()
    assert c[0] == pytest.approx(c[1], abs=1e-12)
    assert c[0] == pytest.approx(sx_pid(XOR).representational_complexity, abs=1e-12)


def test_and_classes_by_hand():
    """AND with uniform inputs. t = 1 only at s = (1, 1): p(s|t) = 1, p(s) = 1/4, so
    i(1) = 2 bits, all informative (i- = 0): redundancy -log2 P(S1=1 or S2=1) = log2(4/3),
    uniques 1 - log2(4/3) = log2(3/2), synergy 2 - 2 log2(3/2) - log2(4/3) = log2(4/3).
    t = 0 at the three other patterns (1/3 each): i(0) = log2[(1/3) / (1/4)] = log2(4/3)."""
    pid = sx_pid(AND)
    summary = class_summaries(pid).set_index("t")
    assert summary.at[1, "mutual_information"] == pytest.approx(2.0, abs=1e-12)
    assert summary.at[0, "mutual_information"] == pytest.approx(math.log2(4 / 3), abs=1e-12)
    np.testing.assert_allclose(summary["p_t"], [0.75, 0.25])
    r, u = math.log2(4 / 3), math.log2(3 / 2)
    assert summary.at[1, "deg_syn_1"] == pytest.approx(r + 2 * u, abs=1e-12)
    assert summary.at[1, "deg_syn_2"] == pytest.approx(r, abs=1e-12)
    assert summary.at[1, "representational_complexity"] == pytest.approx(
        (r + 2 * u + 2 * r) / 2, abs=1e-12)
    atoms = class_atoms(pid)
    one = atoms[atoms["t"] == 1].set_index("antichain")
    np.testing.assert_allclose(one["average"].loc[["{1}{2}", "{1}", "{2}", "{1,2}"]],
                               [r, u, u, r], atol=1e-12)
    np.testing.assert_allclose(one["misinformative"], 0.0, atol=1e-12)
    # every class atom, informative and misinformative, against the definitions
    reference = brute_force_class_atoms(AND, np.full(4, 0.25))
    for (t, label), row in atoms.set_index(["t", "antichain"]).iterrows():
        plus, minus = reference[t][label]
        assert row["informative"] == pytest.approx(plus, abs=1e-12)
        assert row["misinformative"] == pytest.approx(minus, abs=1e-12)
    # t = 0: C from the brute-force atoms
    zero = {k: v[0] - v[1] for k, v in reference[0].items()}
    c0 = (zero["{1}{2}"] + zero["{1}"] + zero["{2}"] + 2 * zero["{1,2}"]) / math.log2(4 / 3)
    assert summary.at[0, "representational_complexity"] == pytest.approx(c0, abs=1e-12)


def test_random_two_source_classes_match_the_definitions():
    table, p = random_table(2, 3, 3, seed=7)
    atoms = class_atoms(sx_pid(table, p)).set_index(["t", "antichain"])
    reference = brute_force_class_atoms(table, p)
    for (t, label), row in atoms.iterrows():
        plus, minus = reference[t][label]
        assert row["informative"] == pytest.approx(plus, abs=1e-10)
        assert row["misinformative"] == pytest.approx(minus, abs=1e-10)


def test_uninformative_class_has_nan_complexity_without_warning():
    """p(s | t=0) = p(s) (uniform), so i(0) = 0; the other classes stay informative."""
    table = np.array([[a, b, 0] for a in (0, 1) for b in (0, 1)]
                     + [[0, 0, 1], [1, 1, 1], [0, 1, 2], [1, 0, 2]])
    p = np.array([1 / 8] * 4 + [1 / 8] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = class_summaries(sx_pid(table, p)).set_index("t")
    assert summary.at[0, "mutual_information"] == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(summary.at[0, "representational_complexity"])
    assert summary.loc[[1, 2], "representational_complexity"].notna().all()
    assert summary.at[1, "mutual_information"] == pytest.approx(1.0, abs=1e-12)


def test_frames_layout_and_original_labels():
    rng = np.random.default_rng(3)
    samples = rng.integers(0, 3, size=(500, 4))
    samples[:, -1] = np.where(samples[:, 0] > 0, 7, 3)  # labels 3 and 7
    pid = sx_pid(samples)
    summary = class_summaries(pid)
    assert list(summary.columns) == ["t", "p_t", "mutual_information",
                                     "representational_complexity",
                                     "deg_syn_1", "deg_syn_2", "deg_syn_3"]
    assert list(summary["t"]) == [3, 7]
    np.testing.assert_allclose(summary["p_t"], [np.mean(samples[:, -1] == v) for v in (3, 7)])
    atoms = class_atoms(pid)
    assert list(atoms.columns) == ["t", "antichain", "degree", "informative",
                                   "misinformative", "average"]
    assert len(atoms) == 2 * 18
    assert atoms["antichain"].iloc[0] == "{1}{2}{3}" and atoms["antichain"].iloc[17] == "{1,2,3}"
    assert set(atoms.loc[atoms["antichain"] == "{1,2}{1,3}{2,3}", "degree"]) == {2}
    sums = atoms.groupby("t")["average"].sum()
    np.testing.assert_allclose(sums.to_numpy(), summary["mutual_information"], atol=1e-12)
    by_degree = atoms.groupby(["t", "degree"])["average"].sum().unstack()
    np.testing.assert_allclose(by_degree.to_numpy(),
                               summary[["deg_syn_1", "deg_syn_2", "deg_syn_3"]], atol=1e-12)


def test_antichain_label_and_bad_input():
    assert antichain_label(((1,), (2,))) == "{1}{2}"
    assert antichain_label(((1, 2), (1, 3))) == "{1,2}{1,3}"
    with pytest.raises(TypeError, match="pid: expected an SxPID"):
        class_summaries({"not": "a pid"})
    with pytest.raises(TypeError, match="pid: expected an SxPID"):
        class_atoms(None)

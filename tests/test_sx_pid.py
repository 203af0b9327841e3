"""I^sx engine tests: dit's PID_SX is the independent reference."""

import itertools
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nninfo.info.sx import ZeroInformationWarning, sx_pid

dit = pytest.importorskip("dit")
from dit.pid import PID_SX  # noqa: E402


def to_dit(node):
    """Our node (1-based, lexicographic) -> dit's node (0-based, sorted by (len, tuple))."""
    return tuple(sorted((tuple(i - 1 for i in a) for a in node), key=lambda t: (len(t), t)))


def dit_pid(outcomes, probs, pointwise=False):
    merged = defaultdict(float)
    for row, p in zip(outcomes, probs, strict=True):
        merged[tuple(int(v) for v in row)] += float(p)
    dist = dit.Distribution(list(merged), list(merged.values()))
    return dist, PID_SX(dist, pointwise=pointwise)


def assert_matches_dit(res, pid):
    for node, ours in zip(res.lattice.antichains, res.atoms["average"], strict=True):
        assert ours == pytest.approx(pid.get_pi(to_dit(node)), abs=1e-9), node


def random_table(seed, n, k, rows):
    rng = np.random.default_rng(seed)
    table = rng.integers(0, k, size=(rows, n + 1))
    p = rng.random(rows)
    return table, p / p.sum()


def plugin_mi(table, target=-1):
    """I(T;S) = H(S) + H(T) - H(S,T) from plug-in entropies of equally weighted rows."""

    def entropy(cols):
        _, counts = np.unique(cols, axis=0, return_counts=True)
        q = counts / counts.sum()
        return -(q * np.log2(q)).sum()

    s = np.delete(table, target % table.shape[1], axis=1)
    t = table[:, [target]]
    return entropy(s) + entropy(t) - entropy(np.column_stack([s, t]))


GATES = {
    "XOR": lambda a, b: (a, b, a ^ b),
    "AND": lambda a, b: (a, b, a & b),
    "COPY": lambda a, b: (a, b, 2 * a + b),
    "RDN": lambda a, b: (a, a, a),
    "UNQ": lambda a, b: (a, b, a),
}


@pytest.mark.parametrize("gate", list(GATES))
def test_gates_match_dit_including_parts(gate):
    table = np.array([GATES[gate](a, b) for a, b in itertools.product([0, 1], repeat=2)])
    probs = np.full(len(table), 1 / len(table))
    res = sx_pid(table, probs)
    dist, pid = dit_pid(table, probs, pointwise=True)
    assert_matches_dit(res, pid)
    weight = {o: dist[o] for o in dist.outcomes}
    for node, row in zip(res.lattice.antichains, res.atoms.itertuples(), strict=True):
        plus = sum(weight[o] * v for o, v in pid.get_pw_pi_plus(to_dit(node)).items())
        minus = sum(weight[o] * v for o, v in pid.get_pw_pi_minus(to_dit(node)).items())
        assert row.informative == pytest.approx(plus, abs=1e-9)
        assert row.misinformative == pytest.approx(minus, abs=1e-9)
    # pointwise atoms per outcome against dit's pointwise PID
    for chunk in res.pointwise(chunk_size=3):
        for values, local in zip(chunk.values, chunk.average, strict=True):
            outcome = tuple(str(v) for v in values) if isinstance(dist.outcomes[0][0], str) \
                else tuple(int(v) for v in values)
            for node, ours in zip(res.lattice.antichains, local, strict=True):
                assert ours == pytest.approx(pid.get_pw_pi(to_dit(node))[outcome], abs=1e-9)


def test_textbook_redundancy_gate():
    res = sx_pid(np.array([[0, 0, 0], [1, 1, 1]]))
    assert res.atom(((1,), (2,)))["average"] == pytest.approx(1.0, abs=1e-12)
    assert res.representational_complexity == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_two_sources_match_dit(seed):
    table, probs = random_table(seed, n=2, k=3, rows=8)
    assert_matches_dit(sx_pid(table, probs), dit_pid(table, probs)[1])


@pytest.mark.parametrize("seed", [3, 4])
def test_random_three_sources_match_dit(seed):
    table, probs = random_table(seed, n=3, k=2, rows=6)
    assert_matches_dit(sx_pid(table, probs), dit_pid(table, probs)[1])


def test_samples_match_dit_and_probs():
    rng = np.random.default_rng(5)
    samples = rng.integers(0, 2, size=(40, 3))
    samples[:, 2] = samples[:, 0] | (samples[:, 1] & rng.integers(0, 2, 40))
    res = sx_pid(samples)
    uniq, counts = np.unique(samples, axis=0, return_counts=True)
    assert_matches_dit(res, dit_pid(uniq, counts / counts.sum())[1])
    from_probs = sx_pid(uniq, counts / counts.sum())
    np.testing.assert_allclose(res.atoms.to_numpy(), from_probs.atoms.to_numpy(), atol=1e-12)


def test_three_bit_parity_matches_dit():
    table = np.array([(a, b, c, a ^ b ^ c) for a, b, c in itertools.product([0, 1], repeat=3)])
    res = sx_pid(table)
    pid = dit_pid(table, np.full(8, 1 / 8))[1]
    assert_matches_dit(res, pid)
    assert res.mutual_information == pytest.approx(1.0, abs=1e-12)
    expect = defaultdict(float)
    for node in res.lattice.antichains:
        expect[min(len(a) for a in node)] += pid.get_pi(to_dit(node))
    for m in (1, 2, 3):
        assert res.degree_of_synergy_atoms[m] == pytest.approx(expect[m], abs=1e-9)
    c_dit = sum(m * v for m, v in expect.items()) / pid._total
    assert res.representational_complexity == pytest.approx(c_dit, abs=1e-9)


@pytest.mark.parametrize("n, levels, rows", [(2, 4, 500), (3, 4, 800), (4, 3, 1500), (5, 4, 3000)])
def test_atoms_sum_to_plugin_mutual_information(n, levels, rows):
    rng = np.random.default_rng(n)
    t = rng.integers(0, 3, rows)
    sources = (t[:, None] + rng.integers(0, levels, size=(rows, n))) % levels
    table = np.column_stack([sources, t])
    res = sx_pid(table)
    assert res.n_sources == n
    assert res.mutual_information == pytest.approx(plugin_mi(table), abs=1e-9)
    assert res.atoms["average"].sum() == pytest.approx(res.mutual_information, abs=1e-9)
    assert res.degree_of_synergy_atoms.sum() == pytest.approx(res.mutual_information, abs=1e-9)
    np.testing.assert_allclose(
        res.atoms["average"], res.atoms["informative"] - res.atoms["misinformative"], atol=1e-12
    )
    assert 1 - 1e-9 <= res.representational_complexity <= n + 1e-9
    d = res.to_dict()
    assert set(d) == {"pid.mutual_information", "pid.representational_complexity"} | {
        f"pid.deg_syn_{m}" for m in range(1, n + 1)
    }
    assert d["pid.deg_syn_1"] == pytest.approx(res.degree_of_synergy_atoms[1])
    assert d["pid.mutual_information"] == res.mutual_information  # attributes keep their names


def test_target_pointwise_and_pointwise_are_consistent():
    rng = np.random.default_rng(7)
    table = rng.integers(0, 3, size=(300, 4))
    table[:, 3] = (table[:, 0] + table[:, 1] * table[:, 2] + rng.integers(0, 2, 300)) % 3 + 5
    res = sx_pid(table)
    tp = res.target_pointwise()
    pt = res.target_probabilities
    assert list(pt.index) == [5, 6, 7]
    weighted = sum(pt[t] * tp.xs(t, level="t").to_numpy() for t in pt.index)
    np.testing.assert_allclose(weighted, res.atoms.to_numpy(), atol=1e-9)
    # the conditional average of the pointwise atoms reproduces each target's table
    chunks = list(res.pointwise(chunk_size=16))
    values = np.concatenate([c.values for c in chunks])
    prob = np.concatenate([c.probability for c in chunks])
    inf = np.concatenate([c.informative for c in chunks])
    mis = np.concatenate([c.misinformative for c in chunks])
    np.testing.assert_allclose(prob @ inf, res.atoms["informative"], atol=1e-9)
    np.testing.assert_allclose(prob @ mis, res.atoms["misinformative"], atol=1e-9)
    for t in pt.index:
        sel = values[:, 3] == t
        cond = prob[sel] / prob[sel].sum()
        table_t = tp.xs(t, level="t")
        np.testing.assert_allclose(cond @ inf[sel], table_t["informative"], atol=1e-9)
        np.testing.assert_allclose(cond @ mis[sel], table_t["misinformative"], atol=1e-9)


def test_source_groups_and_target_column():
    rng = np.random.default_rng(8)
    table = rng.integers(0, 3, size=(200, 4))
    grouped = sx_pid(table, sources=[[0, 1], [2]])
    merged = np.column_stack([table[:, 0] * 3 + table[:, 1], table[:, 2], table[:, 3]])
    expect = sx_pid(merged).atoms.to_numpy()
    np.testing.assert_allclose(grouped.atoms.to_numpy(), expect, atol=1e-12)
    moved = sx_pid(table[:, [3, 0, 1, 2]], target=0)
    np.testing.assert_allclose(moved.atoms.to_numpy(), sx_pid(table).atoms.to_numpy(), atol=1e-12)


def test_constant_target_gives_nan_complexity():
    table = np.column_stack([np.arange(12) % 3, np.arange(12) % 2, np.zeros(12, dtype=int)])
    res = sx_pid(table)
    assert res.mutual_information == pytest.approx(0.0, abs=1e-12)
    with pytest.warns(ZeroInformationWarning, match="mutual_information"):
        assert np.isnan(res.representational_complexity)
    with pytest.warns(ZeroInformationWarning):
        assert np.isnan(res.to_dict()["pid.representational_complexity"])


# ----------------------------------------------------------------- properties

tables = st.tuples(
    st.integers(2, 4), st.integers(2, 3), st.integers(5, 30), st.integers(0, 2**32 - 1)
).map(lambda a: np.random.default_rng(a[3]).integers(0, a[1], size=(a[2], a[0] + 1)))


@settings(max_examples=25, deadline=None)
@given(table=tables, data=st.data())
def test_permuting_sources_permutes_atoms(table, data):
    n = table.shape[1] - 1
    perm = data.draw(st.permutations(range(n)))  # new source j is old source perm[j]
    res = sx_pid(table)
    res_p = sx_pid(table[:, [*perm, n]])
    new_label = {perm[j] + 1: j + 1 for j in range(n)}
    for node, row in zip(res.lattice.antichains, res.atoms.to_numpy(), strict=True):
        moved = [[new_label[i] for i in a] for a in node]
        np.testing.assert_allclose(res_p.atom(moved).to_numpy(), row, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(table=tables, seed=st.integers(0, 2**32 - 1))
def test_relabelling_values_changes_nothing(table, seed):
    rng = np.random.default_rng(seed)
    relabelled = np.column_stack(
        [rng.permutation(10)[col] * 7 + int(rng.integers(0, 100)) for col in table.T]
    )
    np.testing.assert_allclose(
        sx_pid(relabelled).atoms.to_numpy(), sx_pid(table).atoms.to_numpy(), atol=1e-10
    )


@settings(max_examples=25, deadline=None)
@given(table=tables)
def test_complexity_is_mean_degree_of_information(table):
    res = sx_pid(table)
    degree = np.array([min(len(a) for a in node) for node in res.atoms.index])
    average = res.atoms["average"].to_numpy()
    pi = {m: average[degree == m].sum() for m in range(1, res.n_sources + 1)}
    assert sum(pi.values()) == pytest.approx(res.mutual_information, abs=1e-10)
    if res.mutual_information > 1e-9:
        expect = sum(m * v for m, v in pi.items()) / res.mutual_information
        assert res.representational_complexity == pytest.approx(expect, rel=1e-9)


def test_complexity_can_fall_below_one():
    """1 <= C <= n does not hold for I^sx in general: a negative synergy atom (dit agrees)."""
    table = np.array([[1, 1, 0], [1, 0, 1], [1, 0, 1], [0, 0, 0], [1, 0, 0]])
    res = sx_pid(table)
    assert_matches_dit(res, dit_pid(table, np.full(5, 0.2))[1])
    assert res.degree_of_synergy_atoms[2] < 0
    assert res.representational_complexity < 1


# ----------------------------------------------------------------- bad input

GOOD = np.array([[0, 1, 0], [1, 0, 1], [1, 1, 0]])


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((np.array([[0, -1, 0]]),), {}, ValueError, "outcomes: negative"),
        ((np.array([[0, 1.5, 0]]),), {}, ValueError, "outcomes: non-integer"),
        ((np.array([[0, np.nan, 0]]),), {}, ValueError, "outcomes: .*NaN"),
        ((np.array([[0, np.inf, 0]]),), {}, ValueError, "outcomes: .*inf"),
        ((np.array([["a", "b"]]),), {}, TypeError, "outcomes"),
        ((np.array([0, 1, 2]),), {}, ValueError, "outcomes: expected a 2-D"),
        ((np.zeros((0, 3), dtype=int),), {}, ValueError, "outcomes: empty"),
        ((np.zeros((4, 1), dtype=int),), {}, ValueError, "outcomes: need at least 2 columns"),
        ((GOOD, [0.3, 0.3, 0.3]), {}, ValueError, "probs: sum"),
        ((GOOD, [0.5, 0.6, -0.1]), {}, ValueError, "probs: negative"),
        ((GOOD, [0.5, 0.5]), {}, ValueError, "probs: shape"),
        ((GOOD, [0.5, np.nan, 0.5]), {}, ValueError, "probs: .*NaN"),
        ((GOOD,), {"sources": []}, ValueError, "sources: need at least 1"),
        ((GOOD,), {"sources": [[0, 1], [1]]}, ValueError, "sources: .*more than once"),
        ((GOOD,), {"sources": [[0], [0]]}, ValueError, "sources: .*more than once"),
        ((GOOD,), {"sources": [[0], [2]]}, ValueError, "sources: column 2 is the target"),
        ((GOOD,), {"sources": [[0], [7]]}, ValueError, "sources: column index 7"),
        ((GOOD,), {"sources": [[0], []]}, ValueError, "sources: a source has no columns"),
        ((GOOD,), {"sources": [0, 1]}, TypeError, "sources: each source"),
        ((GOOD,), {"target": 3}, ValueError, "target: column index 3"),
        ((np.zeros((3, 7), dtype=int),), {}, ValueError, "sources: .*5 sources.*shannon_inv"),
    ],
)
def test_bad_input_raises(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sx_pid(*args, **kwargs)


def test_bad_pointwise_and_atom_arguments():
    res = sx_pid(GOOD)
    with pytest.raises(ValueError, match="chunk_size"):
        next(res.pointwise(chunk_size=0))
    with pytest.raises(KeyError, match="antichain"):
        res.atom(((1,), (1, 2)))

"""Tests of the redundancy lattice against brute-force definitions."""

import itertools

import numpy as np
import pytest

from nninfo import folders
from nninfo.info import lattice as lat_mod
from nninfo.info.lattice import redundancy_lattice


def brute_antichains(n):
    """All antichains of non-empty subsets of {1..n}, straight from the definition."""
    items = range(1, n + 1)
    subsets = [frozenset(c) for k in items for c in itertools.combinations(items, k)]
    out = []
    for k in range(1, len(subsets) + 1):
        for family in itertools.combinations(subsets, k):
            if all(not (a <= b or b <= a) for a, b in itertools.combinations(family, 2)):
                out.append(tuple(sorted(tuple(sorted(a)) for a in family)))
    return out


def brute_leq(alpha, beta):
    return all(any(set(a) <= set(b) for a in alpha) for b in beta)


@pytest.mark.parametrize("n, count", [(1, 1), (2, 4), (3, 18), (4, 166), (5, 7579)])
def test_counts(n, count):
    assert len(redundancy_lattice(n)) == count


@pytest.mark.parametrize("n", [1, 2, 3])
def test_nodes_match_definition(n):
    assert sorted(redundancy_lattice(n).antichains) == sorted(brute_antichains(n))


def test_node_representation_and_order():
    lat = redundancy_lattice(2)
    assert lat.antichains == (((1,), (2,)), ((1,),), ((2,),), ((1, 2),))
    lat5 = redundancy_lattice(5)
    assert lat5.bottom == ((1,), (2,), (3,), (4,), (5,))
    assert lat5.top == ((1, 2, 3, 4, 5),)
    for node in lat5.antichains[::97]:
        assert list(node) == sorted(node) and all(list(a) == sorted(a) for a in node)
        assert all(not (set(a) <= set(b)) for a, b in itertools.permutations(node, 2))


@pytest.mark.parametrize("n", [2, 3])
def test_order_matches_definition(n):
    lat = redundancy_lattice(n)
    for a, b in itertools.product(lat.antichains, repeat=2):
        assert lat.leq(a, b) == brute_leq(a, b)


def test_partial_order_spot_checks_n5():
    lat = redundancy_lattice(5)
    rng = np.random.default_rng(0)
    nodes = lat.antichains
    for i, j, k in rng.integers(0, len(nodes), size=(300, 3)):
        a, b, c = nodes[i], nodes[j], nodes[k]
        assert lat.leq(a, a)
        assert lat.leq(a, b) == brute_leq(a, b)
        if lat.leq(a, b) and lat.leq(b, a):
            assert a == b
        if lat.leq(a, b) and lat.leq(b, c):
            assert lat.leq(a, c)
        assert lat.leq(lat.bottom, a) and lat.leq(a, lat.top)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_node_order_is_linear_extension(n):
    zeta = redundancy_lattice(n).zeta_matrix().toarray()
    assert np.array_equal(zeta, np.tril(zeta))  # beta <= alpha only if beta comes first


def brute_mobius(n):
    nodes = redundancy_lattice(n).antichains
    size = len(nodes)
    mu = np.zeros((size, size))
    for x in range(size):  # mu(x, y) by the defining recursion, y above x
        for y in range(size):
            if x == y:
                mu[x, y] = 1.0
            elif brute_leq(nodes[x], nodes[y]):
                mu[x, y] = -sum(
                    mu[x, z] for z in range(size)
                    if z != y and brute_leq(nodes[x], nodes[z]) and brute_leq(nodes[z], nodes[y])
                )
    return mu


@pytest.mark.parametrize("n", [2, 3])
def test_mobius_matches_defining_recursion(n):
    lat = redundancy_lattice(n)
    # atoms = mobius @ red, i.e. mobius[alpha, beta] = mu(beta, alpha)
    np.testing.assert_array_equal(lat.mobius.toarray(), brute_mobius(n).T)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_mobius_inverts_zeta(n):
    lat = redundancy_lattice(n)
    product = lat.mobius.toarray() @ lat.zeta_matrix().toarray()
    np.testing.assert_array_equal(product, np.eye(len(lat)))


def test_mobius_inversion_round_trip_n5():
    lat = redundancy_lattice(5)
    rng = np.random.default_rng(1)
    atoms = rng.normal(size=(3, len(lat)))
    red = (lat.zeta_matrix() @ atoms.T).T
    np.testing.assert_allclose(lat.mobius_inversion(red), atoms, atol=1e-9)
    with pytest.raises(ValueError, match="redundancies"):
        lat.mobius_inversion(np.zeros(5))


def test_degree_of_synergy():
    lat = redundancy_lattice(3)
    expect = {
        ((1,), (2,), (3,)): 1,
        ((1,), (2, 3)): 1,
        ((1, 2), (1, 3), (2, 3)): 2,
        ((1, 2),): 2,
        ((1, 2, 3),): 3,
    }
    for node, degree in expect.items():
        assert lat.degree[lat.index[node]] == degree
    lat5 = redundancy_lattice(5)
    for node, degree in zip(lat5.antichains, lat5.degree, strict=True):
        assert degree == min(len(a) for a in node)


def test_union_coefficients_inclusion_exclusion():
    """coef @ subset marginals == brute-force probability of the union of events."""
    n = 4
    lat = redundancy_lattice(n)
    rng = np.random.default_rng(2)
    table = rng.integers(0, 2, size=(12, n))
    p = rng.random(12)
    p /= p.sum()
    for x in table[:3]:
        cols_of = [[i for i in range(n) if m >> i & 1] for m in range(1, 1 << n)]
        marg = np.array([p[np.all(table[:, c] == x[c], axis=1)].sum() for c in cols_of])
        for node, coef in zip(lat.antichains, lat.union_coefficients, strict=True):
            hit = np.zeros(len(table), dtype=bool)
            for a in node:
                cols = [i - 1 for i in a]
                hit |= np.all(table[:, cols] == x[cols], axis=1)
            assert coef @ marg == pytest.approx(p[hit].sum(), abs=1e-12)


def test_too_many_sources():
    with pytest.raises(ValueError, match=r"n: .*5 sources.*shannon_invariants"):
        redundancy_lattice(6)
    with pytest.raises(ValueError, match="n: "):
        redundancy_lattice(0)
    with pytest.raises(TypeError, match="n: "):
        redundancy_lattice("3")


def test_disk_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("NNINFO_CACHE_DIR", str(tmp_path))
    assert folders.cache_dir() == tmp_path
    lat_mod.clear_memory_cache()
    built = redundancy_lattice(4)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    lat_mod.clear_memory_cache()
    loaded = redundancy_lattice(4)
    assert loaded is not built
    assert loaded.antichains == built.antichains
    assert (loaded.mobius != built.mobius).nnz == 0
    np.testing.assert_array_equal(loaded.union_coefficients, built.union_coefficients)
    np.testing.assert_array_equal(loaded.degree, built.degree)
    # a corrupt cache file is rebuilt silently and rewritten
    files[0].write_bytes(b"not an npz file")
    lat_mod.clear_memory_cache()
    rebuilt = redundancy_lattice(4)
    assert rebuilt.antichains == built.antichains
    assert (rebuilt.mobius != built.mobius).nnz == 0
    lat_mod.clear_memory_cache()
    assert redundancy_lattice(4).antichains == built.antichains  # the rewritten file loads
    lat_mod.clear_memory_cache()

"""Redundancy lattice of the partial information decomposition for n = 1..5 sources.

A node is an *antichain*: a non-empty collection of non-empty subsets of the sources
{1..n}, none of which contains another (1, 4, 18, 166, 7579 nodes for n = 1..5).
Order (Williams & Beer): alpha <= beta iff every set in beta contains some set of alpha.
Bottom: ((1,), (2,), ..., (n,)) (full redundancy); top: ((1, ..., n),) (full synergy).

Internally a subset is a bitmask (source i <-> bit i-1) and an antichain is a tuple of
bitmasks. Each antichain alpha is also described by its *up-set* U(alpha), the family of
all subsets that contain some set of alpha, stored as a bit word over the 2^n - 1
non-empty subsets (subset mask m <-> bit m-1). Then alpha <= beta iff U(beta) is a subset of
U(alpha), and the lattice is (dually) the distributive lattice of non-empty up-sets, whose
Moebius function is known in closed form: mu(beta, alpha) = (-1)^|D| if
U(beta) = U(alpha) + D with D any set of maximal elements of the complement of U(alpha),
and 0 otherwise.

Node order (stable, documented): decreasing size of the up-set, ties broken by the
lexicographic order of the 1-based tuple representation. This is a linear extension of
the lattice order: the bottom comes first, the top last.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from nninfo.checks import is_integer
from nninfo.folders import cache_dir

MAX_SOURCES = 5
_CACHE_VERSION = 1

Antichain = tuple[tuple[int, ...], ...]


@dataclass(frozen=True, eq=False)
class RedundancyLattice:
    """The redundancy lattice for ``n`` sources (build it with :func:`redundancy_lattice`).

    Attributes
    ----------
    n : number of sources.
    masks : antichains as tuples of subset bitmasks (source i <-> bit i-1), in node order.
    upsets : uint32 array (N,), the up-set bit word of each antichain.
    degree : int array (N,), degree of synergy = size of the smallest set of the antichain.
    mobius : sparse CSR (N, N); ``mobius @ red`` turns redundancies into atoms.
    union_coefficients : int array (N, 2^n - 1); row alpha holds the inclusion-exclusion
        coefficients: P(union_{a in alpha} {S_a = s_a}) = sum_m coef[alpha, m-1] P(S_m = s_m),
        where m runs over the non-empty subset masks.
    """

    n: int
    masks: tuple[tuple[int, ...], ...]
    upsets: np.ndarray
    degree: np.ndarray
    mobius: sp.csr_matrix
    union_coefficients: np.ndarray

    def __len__(self) -> int:
        return len(self.masks)

    @functools.cached_property
    def antichains(self) -> tuple[Antichain, ...]:
        """Antichains as tuples of sorted 1-based source tuples, in node order."""
        return tuple(_expose(m) for m in self.masks)

    @functools.cached_property
    def index(self) -> dict[Antichain, int]:
        """Map from exposed antichain to its node position."""
        return {a: i for i, a in enumerate(self.antichains)}

    @property
    def bottom(self) -> Antichain:
        return self.antichains[0]

    @property
    def top(self) -> Antichain:
        return self.antichains[-1]

    def leq(self, alpha: Antichain, beta: Antichain) -> bool:
        """alpha <= beta in the lattice order."""
        ua, ub = int(self.upsets[self.index[alpha]]), int(self.upsets[self.index[beta]])
        return ub & ~ua == 0

    def zeta_matrix(self) -> sp.csr_matrix:
        """Sparse (N, N) 0/1 matrix Z with Z[alpha, beta] = 1 iff beta <= alpha.

        ``Z @ atoms`` gives the redundancies (the zeta transform); this builds a dense
        N x N comparison first, so it is meant for checks, not for hot paths.
        """
        u = self.upsets.astype(np.uint32)
        below = (u[:, None] & ~u[None, :]) == 0  # below[a, b]: U(a) inside U(b), i.e. b <= a
        return sp.csr_matrix(below.astype(np.int8))

    def mobius_inversion(self, redundancies: np.ndarray) -> np.ndarray:
        """Atoms from redundancies; ``redundancies`` has the nodes on its last axis."""
        red = np.asarray(redundancies, dtype=np.float64)
        if red.shape[-1] != len(self):
            raise ValueError(
                f"redundancies: last axis has length {red.shape[-1]}, "
                f"expected {len(self)} (number of antichains for n={self.n})"
            )
        flat = red.reshape(-1, len(self))
        return np.asarray(self.mobius @ flat.T).T.reshape(red.shape)


_SUBSET_TUPLES = tuple(
    tuple(i + 1 for i in range(MAX_SOURCES) if m >> i & 1) for m in range(1 << MAX_SOURCES)
)


def _expose(masks: tuple[int, ...]) -> Antichain:
    return tuple(sorted(_SUBSET_TUPLES[m] for m in masks))


def _check_n(n: int) -> None:
    if not is_integer(n, numpy_ints=True):
        raise TypeError(f"n: number of sources must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n: number of sources must be >= 1, got {n}")
    if n > MAX_SOURCES:
        raise ValueError(
            f"n: the I^sx PID lattice is limited to {MAX_SOURCES} sources, got n={n} "
            f"({n} sources). For more sources use the Shannon invariants "
            "(nninfo.info.shannon_invariants), which need entropies only."
        )


# ---------------------------------------------------------------- construction


def _subset_relations(n: int) -> tuple[list[int], list[int]]:
    """For each subset mask a (index a): comparable[a], superset[a] as family bit words."""
    full = (1 << n) - 1
    comparable, superset = [0] * (full + 1), [0] * (full + 1)
    for a in range(1, full + 1):
        for b in range(1, full + 1):
            if a & b == a:
                superset[a] |= 1 << (b - 1)
            if a & b in (a, b):
                comparable[a] |= 1 << (b - 1)
    return comparable, superset


def _enumerate_antichains(n: int, comparable: list[int]) -> list[tuple[int, ...]]:
    full = (1 << n) - 1
    out: list[tuple[int, ...]] = []

    def extend(start: int, chosen: tuple[int, ...], forbidden: int) -> None:
        for a in range(start, full + 1):
            if not forbidden >> (a - 1) & 1:
                new = chosen + (a,)
                out.append(new)
                extend(a + 1, new, forbidden | comparable[a])

    extend(1, (), 0)
    return out


def _union_coefficients(n: int, masks: list[tuple[int, ...]]) -> np.ndarray:
    """Signed sum over non-empty B in alpha of (-1)^(|B|+1), binned by the mask of union(B)."""
    size = 1 << n
    count = len(masks)
    width = max(len(m) for m in masks)
    sets = np.zeros((count, width), dtype=np.int64)
    for i, m in enumerate(masks):
        sets[i, : len(m)] = m
    coef = np.zeros((count, size), dtype=np.int64)
    coef[:, 0] = -1  # the empty B, sign (-1)^(0+1); dropped at the end
    rows = np.arange(count)[:, None]
    cols = np.arange(size)[None, :]
    for j in range(width):
        a = sets[:, j]
        active = a > 0
        target = (rows * size + (cols | a[:, None]))[active]
        add = np.bincount(target.ravel(), weights=-coef[active].ravel(), minlength=count * size)
        coef += add.reshape(count, size).astype(np.int64)
    return coef[:, 1:].astype(np.int32)


def _mobius(n: int, upsets: np.ndarray, superset: list[int]) -> sp.csr_matrix:
    """Closed-form Moebius function of the distributive lattice of up-sets (vectorised)."""
    subsets = np.arange(1, 1 << n)
    fam_bit = (np.int64(1) << (subsets - 1)).astype(np.int64)
    strict_sup = np.asarray([superset[a] for a in subsets], dtype=np.int64) & ~fam_bit
    full_fam = (np.int64(1) << np.int64((1 << n) - 1)) - 1
    ups = upsets.astype(np.int64)
    comp = full_fam & ~ups
    in_comp = (comp[:, None] & fam_bit[None, :]) != 0
    is_max = in_comp & ((comp[:, None] & strict_sup[None, :]) == 0)
    k = is_max.sum(axis=1)
    # maximal bits per row, left-aligned and zero padded
    order = np.argsort(~is_max, axis=1, kind="stable")
    bits = np.where(np.arange(is_max.shape[1])[None, :] < k[:, None], fam_bit[order], 0)
    rows = np.arange(len(ups))
    words, signs = ups.copy(), np.ones(len(ups), dtype=np.int64)
    for j in range(int(k.max(initial=0))):
        grow = k[rows] > j
        rows = np.concatenate([rows, rows[grow]])
        words = np.concatenate([words, words[grow] | bits[rows[len(words):], j]])
        signs = np.concatenate([signs, -signs[grow]])
    by_word = np.argsort(ups)
    cols = by_word[np.searchsorted(ups, words, sorter=by_word)]
    size = len(ups)
    return sp.csr_matrix((signs.astype(np.float64), (rows, cols)), shape=(size, size))


def _build(n: int) -> RedundancyLattice:
    comparable, superset = _subset_relations(n)
    raw = _enumerate_antichains(n, comparable)
    ups = []
    for masks in raw:
        u = 0
        for a in masks:
            u |= superset[a]
        ups.append(u)
    exposed = [_expose(m) for m in raw]
    order = sorted(range(len(raw)), key=lambda i: (-ups[i].bit_count(), exposed[i]))
    masks = [tuple(sorted(raw[i], key=_SUBSET_TUPLES.__getitem__)) for i in order]
    upsets = np.asarray([ups[i] for i in order], dtype=np.uint32)
    return _assemble(n, masks, upsets, _mobius(n, upsets, superset))


def _assemble(
    n: int,
    masks: list[tuple[int, ...]],
    upsets: np.ndarray,
    mobius: sp.csr_matrix,
    union_coefficients: np.ndarray | None = None,
) -> RedundancyLattice:
    degree = np.asarray([min(m.bit_count() for m in ms) for ms in masks], dtype=np.int64)
    if union_coefficients is None:
        union_coefficients = _union_coefficients(n, masks)
    return RedundancyLattice(
        n=n,
        masks=tuple(masks),
        upsets=upsets,
        degree=degree,
        mobius=mobius,
        union_coefficients=union_coefficients,
    )


# ---------------------------------------------------------------- disk cache


def _cache_path(n: int) -> Path:
    return cache_dir() / f"sx_lattice_n{n}_v{_CACHE_VERSION}.npz"


def _save(lat: RedundancyLattice, path: Path) -> None:
    sizes = np.asarray([len(m) for m in lat.masks], dtype=np.int64)
    flat = np.asarray([a for m in lat.masks for a in m], dtype=np.int64)
    mob = lat.mobius.tocsr()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        version=np.int64(_CACHE_VERSION),
        n=np.int64(lat.n),
        sizes=sizes,
        flat=flat,
        upsets=lat.upsets,
        mob_indptr=mob.indptr,
        mob_indices=mob.indices,
        mob_data=mob.data.astype(np.int8),
        union_coefficients=lat.union_coefficients.astype(np.int16),
    )
    os.replace(tmp, path)


def _load(n: int, path: Path) -> RedundancyLattice:
    with np.load(path, allow_pickle=False) as z:
        if int(z["version"]) != _CACHE_VERSION or int(z["n"]) != n:
            raise ValueError("stale lattice cache")
        sizes, flat = z["sizes"], z["flat"]
        upsets = z["upsets"].astype(np.uint32)
        size = len(upsets)
        mobius = sp.csr_matrix(
            (z["mob_data"].astype(np.float64), z["mob_indices"], z["mob_indptr"]),
            shape=(size, size),
        )
        coef = z["union_coefficients"].astype(np.int32)
    if sizes.sum() != len(flat) or len(sizes) != size or coef.shape != (size, (1 << n) - 1):
        raise ValueError("inconsistent lattice cache")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    masks = [tuple(int(a) for a in flat[bounds[i] : bounds[i + 1]]) for i in range(size)]
    mobius.check_format(full_check=True)
    return _assemble(n, masks, upsets, mobius, coef)


@functools.cache
def _cached(n: int, use_disk_cache: bool) -> RedundancyLattice:
    if not use_disk_cache:
        return _build(n)
    path = _cache_path(n)
    try:
        return _load(n, path)
    except Exception:  # missing, corrupt or stale cache file: rebuild silently
        pass
    lat = _build(n)
    try:
        _save(lat, path)
    except OSError:
        pass  # read-only cache location: the in-memory cache still works
    return lat


def redundancy_lattice(n: int, *, use_disk_cache: bool = True) -> RedundancyLattice:
    """The redundancy lattice for ``n`` sources (1 <= n <= 5), cached in memory and on disk."""
    _check_n(n)
    return _cached(int(n), bool(use_disk_cache))


def clear_memory_cache() -> None:
    """Forget the in-memory lattices (the disk cache is left alone)."""
    _cached.cache_clear()

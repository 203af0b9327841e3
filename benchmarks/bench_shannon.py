"""Benchmark: Shannon invariants by row hashing vs. naive ``np.unique(rows)`` counting.

Target size: 1,024 sources x 60,000 samples, 8 levels per source, 10-class target
(goal: <= 30 s on 2 cores). The naive method recounts every marginal with
``np.unique(rows, axis=0)`` (n + 1 marginals of up to n columns each, so it grows
faster than n^2); it is timed at a smaller number of sources in the same run, next to
the hashing method, and the speed-up is reported there. At full size only the hashing
method runs; its results are checked against the naive ones at the small size.

Run:  python benchmarks/bench_shannon.py [--sources 1024] [--samples 60000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nninfo.info.entropy import joint_entropy
from nninfo.info.shannon import entropy_invariants, shannon_invariants


def make_layer(n_samples: int, n_sources: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label-dependent 8-level codes: class centre plus noise in {-1, 0, 1}, mod 8."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 10, n_samples)
    centres = rng.integers(0, 8, size=(10, n_sources))
    noise = rng.integers(-1, 2, size=(n_samples, n_sources))
    return ((centres[target] + noise) % 8).astype(np.uint8), target


def naive_invariants(sources: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Same quantities, every joint entropy by ``np.unique(rows, axis=0)``."""

    def mi(s: np.ndarray) -> float:
        both = np.column_stack([s, target])
        h_t = joint_entropy(target, method="exact")
        return joint_entropy(s, method="exact") + h_t - joint_entropy(both, method="exact")

    n = sources.shape[1]
    total = mi(sources)
    single = sum(mi(sources[:, [i]]) for i in range(n))
    loo = sum(mi(np.delete(sources, i, axis=1)) for i in range(n))
    return {
        "mutual_information": total,
        "avg_degree_redundancy": single / total,
        "avg_degree_vulnerability": (n * total - loo) / total,
    }


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1024)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--small-sources", type=int, default=24)
    args = parser.parse_args()

    rows = []
    small_s, small_t = make_layer(args.samples, args.small_sources)
    t_naive, naive = timed(naive_invariants, small_s, small_t)
    t_hash_small, fast = timed(shannon_invariants, small_s, small_t)
    for key, value in naive.items():
        assert abs(getattr(fast, key) - value) < 1e-9, (key, value, getattr(fast, key))
    rows.append(("naive np.unique", args.small_sources, args.samples, t_naive, 1.0))
    rows.append(("hash", args.small_sources, args.samples, t_hash_small, t_naive / t_hash_small))

    big_s, big_t = make_layer(args.samples, args.sources)
    t_hash, result = timed(shannon_invariants, big_s, big_t)
    t_ent, ent = timed(entropy_invariants, big_s)
    rows.append(("hash", args.sources, args.samples, t_hash, float("nan")))
    rows.append(("hash, entropy-only", args.sources, args.samples, t_ent, float("nan")))

    print(f"{'method':<22}{'sources':>8}{'samples':>9}{'wall s':>10}{'speed-up':>10}")
    for name, n, N, wall, ratio in rows:
        print(f"{name:<22}{n:>8}{N:>9}{wall:>10.2f}{ratio:>10.1f}")
    print()
    print("full size:", {k: round(v, 4) for k, v in result.to_dict().items()})
    print("entropy-only:", {k: round(v, 4) for k, v in ent.to_dict().items()})


if __name__ == "__main__":
    main()

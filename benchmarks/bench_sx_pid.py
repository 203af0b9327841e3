"""Benchmark of the fast I^sx engine (nninfo.info.sx.sx_pid).

(a) 5 sources x 8 levels, 10-class target, 60,000 samples (~27,000 distinct outcomes):
    wall time including the lattice load from the disk cache, run in a fresh subprocess so
    that its peak RSS (ru_maxrss) is the memory figure; targets <= 2 s and <= 1 GB.
(b) speed ratio against dit's PID_SX (the published, quadratic algorithm) on a 3-source
    case. By default a small case (dit takes seconds); ``--with-dit`` adds the ~160-outcome
    case (dit takes minutes there). Goal: ratio >= 10,000.

Usage: python benchmarks/bench_sx_pid.py [--with-dit] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def layer_like_samples(samples: int = 60_000, noise: float = 1.8, seed: int = 0) -> np.ndarray:
    """Target = random labels (10 classes); 5 sources of 8 levels correlated with it by noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, samples)
    centres = rng.integers(0, 8, size=(5, 10))
    s = np.rint(centres[:, y].T + rng.normal(0, noise, (samples, 5)))
    return np.column_stack([np.clip(s, 0, 7).astype(np.int64), y])


def three_source_table(samples: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Distinct outcomes and probabilities of a noisy 3-source, 5-level system."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 5, size=(samples, 3))
    t = (s[:, 0] + s[:, 1] * s[:, 2] + rng.integers(0, 2, samples)) % 3
    uniq, counts = np.unique(np.column_stack([s, t]), axis=0, return_counts=True)
    return uniq, counts / counts.sum()


_CHILD = """
import json, resource, sys, time, tracemalloc
import numpy as np
sys.path.insert(0, {bench_dir!r})
from bench_sx_pid import layer_like_samples
data = layer_like_samples()
ti = time.perf_counter()
from nninfo.info.lattice import redundancy_lattice
from nninfo.info.sx import sx_pid
t0, c0 = time.perf_counter(), time.process_time()
redundancy_lattice(5)  # disk cache load (the in-memory cache is empty in a fresh process)
t1 = time.perf_counter()
res = sx_pid(data)
t2, c2 = time.perf_counter(), time.process_time()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
tracemalloc.start()
sx_pid(data)
traced = tracemalloc.get_traced_memory()[1]
print(json.dumps(dict(wall=t2 - t0, imports=t0 - ti, lattice=t1 - t0, pid=t2 - t1,
                      cpu=c2 - c0, rss=rss, traced=traced, outcomes=int(res.counted.n_outcomes),
                      mi=res.mutual_information, c=res.representational_complexity)))
"""


def run_main_case(repeats: int) -> list[dict]:
    from nninfo.info.lattice import redundancy_lattice

    redundancy_lattice(5)  # make sure the disk cache holds the n = 5 lattice
    code = _CHILD.format(bench_dir=os.path.dirname(os.path.abspath(__file__)))
    out = []
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def time_ours(table: np.ndarray, probs: np.ndarray, repeats: int = 20) -> float:
    from nninfo.info.sx import sx_pid

    sx_pid(table, probs)  # warm: lattice in memory
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        sx_pid(table, probs)
        best = min(best, time.perf_counter() - t0)
    return best


def time_dit(table: np.ndarray, probs: np.ndarray) -> tuple[float, object]:
    import dit
    from dit.pid import PID_SX

    dist = dit.Distribution([tuple(int(v) for v in row) for row in table], list(probs))
    t0 = time.perf_counter()
    pid = PID_SX(dist)
    return time.perf_counter() - t0, pid


def max_deviation(table: np.ndarray, probs: np.ndarray, pid: object) -> float:
    from nninfo.info.sx import sx_pid

    res = sx_pid(table, probs)
    dev = 0.0
    for node, ours in zip(res.lattice.antichains, res.atoms["average"], strict=True):
        key = tuple(sorted((tuple(i - 1 for i in a) for a in node), key=lambda t: (len(t), t)))
        dev = max(dev, abs(ours - pid.get_pi(key)))
    return dev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-dit", action="store_true", help="run dit on ~160 outcomes")
    parser.add_argument("--repeats", type=int, default=3, help="subprocess runs of case (a)")
    parser.add_argument("--skip-main", action="store_true", help="only the dit comparison")
    args = parser.parse_args()
    os.environ.setdefault("NNINFO_CACHE_DIR", os.path.join(tempfile.gettempdir(), "nninfo-bench"))

    print(f"{'case':<44}{'value':>16}  target")
    if not args.skip_main:
        runs = run_main_case(args.repeats)
        best = min(runs, key=lambda r: r["wall"])
        print(f"{'(a) distinct outcomes':<44}{best['outcomes']:>16,d}")
        print(f"{'(a) wall incl. lattice load, best [s]':<44}{best['wall']:>16.3f}  <= 2 s")
        walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
        print(f"{'(a) wall, all runs [s]':<44}{walls:>16}")
        print(f"{'(a)   lattice load from disk cache [s]':<44}{best['lattice']:>16.3f}")
        print(f"{'(a)   sx_pid [s]':<44}{best['pid']:>16.3f}")
        print(f"{'(a) (import of nninfo.info.sx, not in wall) [s]':<44}{best['imports']:>16.3f}")
        print(f"{'(a) CPU time (all threads) [s]':<44}{best['cpu']:>16.3f}")
        print(f"{'(a) peak RSS of the process [MB]':<44}{best['rss'] / 2**20:>16.1f}  <= 1 GB")
        print(f"{'(a) peak traced numpy/python alloc [MB]':<44}{best['traced'] / 2**20:>16.1f}")
        print(f"{'(a) I(T;S) [bits], C':<44}{best['mi']:>9.4f}, {best['c']:.3f}")
    cases = [("(b) small", 12)] + ([("(b) ~160 outcomes", 250)] if args.with_dit else [])
    for name, samples in cases:
        table, probs = three_source_table(samples)
        ours = time_ours(table, probs)
        t_dit, pid = time_dit(table, probs)
        print(f"{name + f' 3 sources, {len(table)} outcomes':<44}")
        print(f"{'    dit PID_SX [s]':<44}{t_dit:>16.3f}")
        print(f"{'    nninfo sx_pid [s]':<44}{ours:>16.5f}")
        print(f"{'    ratio dit / nninfo':<44}{t_dit / ours:>16,.0f}  >= 10,000")
        print(f"{'    max |atom difference| [bits]':<44}{max_deviation(table, probs, pid):>16.2e}")


if __name__ == "__main__":
    main()

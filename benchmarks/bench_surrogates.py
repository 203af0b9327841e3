"""Benchmark: the cost of shuffled-target surrogates next to one checkpoint's analysis.

Two realistic layers (label-dependent 8-level codes): Tishby-like (4 neurons, 2,796
samples, binary label) and MNIST-like (5 neurons, 60,000 samples, 10 classes). For each:

* analysis: ``sx_pid`` + ``shannon_invariants`` + ``reing_complexity`` + ``mutual_information``
  (what the pipeline computes per checkpoint and layer);
* ``mi_surrogates`` with 100 shuffles (the fast I(T;S) path);
* ``sx_pid_surrogates(atoms=False)`` with 20 shuffles (every PID quantity);
* the same 100 I-shuffles through the generic ``shuffled_target_surrogates`` path.

Times are wall seconds (best of ``--repeat`` for the analysis and the fast path) and
ratios to the analysis time. The fast and generic results are checked to agree.

Run:  python benchmarks/bench_surrogates.py [--mi-shuffles 100] [--pid-shuffles 20]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np

from nninfo.info.bias import sx_pid_surrogates
from nninfo.info.entropy import mutual_information
from nninfo.info.reing import reing_complexity
from nninfo.info.shannon import shannon_invariants
from nninfo.info.surrogates import mi_surrogates, shuffled_target_surrogates
from nninfo.info.sx import sx_pid

LAYERS = {  # name: (neurons, samples, classes)
    "Tishby-like": (4, 2_796, 2),
    "MNIST-like": (5, 60_000, 10),
}


def make_layer(neurons: int, samples: int, classes: int, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """8-level codes: a class centre per neuron plus noise in {-2..2}, clipped to 0..7."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, samples)
    centres = rng.integers(0, 8, size=(classes, neurons))
    noise = rng.integers(-2, 3, size=(samples, neurons))
    return np.clip(centres[target] + noise, 0, 7).astype(np.uint8), target


def analysis(sources: np.ndarray, target: np.ndarray) -> None:
    """The per-checkpoint analysis of one layer."""
    sx_pid(np.column_stack([sources, target]))
    shannon_invariants(sources, target)
    reing_complexity(sources, target)
    mutual_information(sources, target)


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_layer(name: str, args: argparse.Namespace) -> list[tuple[str, str, float]]:
    s, t = make_layer(*LAYERS[name])
    samples = np.column_stack([s, t])
    n_mi, n_pid = args.mi_shuffles, args.pid_shuffles
    t_analysis, _ = timed(lambda: analysis(s, t), args.repeat)
    t_fast, fast = timed(lambda: mi_surrogates(s, t, n_mi, seed=0), args.repeat)
    t_pid, _ = timed(lambda: sx_pid_surrogates(samples, n_pid, seed=0, atoms=False,
                                               progress=False))
    t_generic, generic = timed(lambda: shuffled_target_surrogates(
        lambda a, b: {"mi": mutual_information(a, b)}, s, t, n_mi, seed=0, progress=False))
    for key, value in fast.items():
        assert abs(generic.at["mi", key] - value) < 1e-12, (key, value, generic.at["mi", key])
    return [
        (name, "analysis (sx + shannon + reing + MI)", t_analysis),
        (name, f"{n_mi} I-shuffles, mi_surrogates", t_fast),
        (name, f"{n_pid} PID shuffles, sx_pid_surrogates", t_pid),
        (name, f"{n_mi} I-shuffles, generic path", t_generic),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mi-shuffles", type=int, default=100)
    parser.add_argument("--pid-shuffles", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="best of, for the fast parts")
    parser.add_argument("--layers", nargs="+", choices=sorted(LAYERS), default=list(LAYERS))
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # e.g. NaN ratios on a shuffle with I = 0
    rows = [row for name in args.layers for row in bench_layer(name, args)]
    base = {name: wall for name, what, wall in rows if what.startswith("analysis")}
    print(f"{'layer':<13}{'what':<40}{'wall s':>9}{'x analysis':>12}")
    for name, what, wall in rows:
        print(f"{name:<13}{what:<40}{wall:>9.3f}{wall / base[name]:>12.2f}")


if __name__ == "__main__":
    main()

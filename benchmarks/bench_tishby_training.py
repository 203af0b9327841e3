"""Training time of the Tishby network (12-12-4-4-4-1, tanh, 8-level stochastic rounding):
one seed with ``train_network()`` and groups of seeds as one batched model with
``train_batched``.

Usage: python benchmarks/bench_tishby_training.py [--epochs 1000] [--seeds 5 10]
Prints wall and process-CPU seconds per seed for 1,000 epochs (shorter runs are scaled).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from nninfo.nn import Network
from nninfo.training import TrainConfig, train_batched, train_network

WIDTHS = [12, 12, 4, 4, 4, 1]
LAYERS = [
    {"type": "linear", "in_features": a, "out_features": b,
     "activation": "sigmoid" if b == 1 else "tanh",
     "quantizer": None if b == 1 else {"levels": 8, "mode": "stochastic"}}
    for a, b in zip(WIDTHS[:-1], WIDTHS[1:], strict=True)
]


def tishby_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The published training split: 2,796 of the 4,096 patterns, random with seed 42."""
    d = np.load(Path(__file__).resolve().parents[1] / "nninfo" / "data" / "tishby_2017.npz")
    idx = np.random.default_rng(42).permutation(len(d["y"].ravel()))[:2796]
    return torch.tensor(d["F"][idx], dtype=torch.float32), torch.tensor(d["y"].ravel()[idx])


def timed(fn) -> tuple[float, float]:
    """(wall, process CPU) seconds of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[5, 10])
    a = p.parse_args()
    x, y = tishby_data()
    cfg = TrainConfig(lr=0.01, loss="bce", batch_size=64, epochs=a.epochs, checkpoint_count=30)
    scale = 1000 / a.epochs
    runs = {"1 seed, train_network()": (1, lambda: train_network(
        Network(LAYERS, seed=0), x, y, cfg, seed=0, on_checkpoint=lambda c: None, device="cpu"))}
    for n in a.seeds:
        runs[f"{n} seeds, train_batched()"] = (n, lambda n=n: train_batched(
            LAYERS, x, y, cfg, seeds=list(range(n)), on_checkpoint=lambda i, c: None,
            device="cpu"))
    print(f"torch={torch.__version__} threads={torch.get_num_threads()}; seconds per seed for "
          f"1,000 epochs (measured {a.epochs}, x{scale:g})")
    print(f"{'run':<28} {'wall':>7} {'cpu':>7}")
    for name, (n, fn) in runs.items():
        wall, cpu = timed(fn)
        print(f"{name:<28} {wall * scale / n:>7.2f} {cpu * scale / n:>7.2f}")


if __name__ == "__main__":
    main()

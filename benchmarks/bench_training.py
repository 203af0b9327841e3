"""Training speed: our loop vs a plain DataLoader loop, and the Tishby network per seed.

Usage: python benchmarks/bench_training.py [--device cpu|cuda] [--threads 0]
       [--mnist-epochs 1] [--repeats 5] [--tishby-epochs 1000] [--seeds 5 10]
Prints a table: MNIST epochs/s and us/step (wall, best of --repeats interleaved runs, the
ratio against the faster DataLoader configuration), Tishby wall and process-CPU seconds
per seed (times for --tishby-epochs below 1000 are scaled to 1,000 epochs).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from nninfo.nn import Network
from nninfo.training import TrainConfig, train, train_seeds


def mlp(widths: list[int], hidden: str, out: str, levels: int = 8) -> list[dict]:
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        last = i == len(widths) - 2
        q = None if last else {"levels": levels, "mode": "stochastic"}
        act = out if last else hidden
        layers.append(
            {
                "type": "linear",
                "in_features": a,
                "out_features": b,
                "activation": act,
                "quantizer": q,
            }
        )
    return layers


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device) -> tuple[float, float]:
    """(wall, process CPU) seconds of one call; CPU time is steadier on a shared machine."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - w, time.process_time() - c


def dataloader_run(net: Network, x, y, lr: float, epochs: float, device: torch.device) -> None:
    """The baseline: a textbook loop over DataLoader(TensorDataset) batches."""
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    steps = round(epochs * len(loader))
    net.train()
    for i, (xb, yb) in enumerate(loader):
        if i == steps:
            break
        xb, yb = xb.to(device), yb.to(device)
        loss = F.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


def bench_mnist(device: torch.device, epochs: float, repeats: int) -> list[tuple]:
    """Epochs/s of both loops, runs interleaved, best of ``repeats`` each.

    The DataLoader loop runs with 1 torch thread and with the default number, and its best
    is the baseline; train() runs with the default number (for this network it switches to
    one thread per library itself, see nninfo.training.loop).
    """
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(60000, 784, generator=g), torch.randint(0, 10, (60000,), generator=g)
    layers = mlp([784, 50, 10, 5, 5, 5, 10], "tanh", "softmax")
    cfg = TrainConfig(lr=0.01, batch_size=64, epochs=epochs, checkpoint_count=10)
    steps = round(epochs * 60000 / 64)
    threads = torch.get_num_threads()
    times: dict[str, list[float]] = {}

    def ours() -> None:
        net = Network(layers, seed=0)
        train(net, x, y, cfg, seed=0, on_checkpoint=lambda c: None, device=device)

    def base() -> None:
        dataloader_run(Network(layers, seed=0).to(device), x, y, 0.01, epochs, device)

    runs = [(f"DataLoader loop, {n} torch thread(s)", n, base) for n in sorted({1, threads})]
    runs.append((f"nninfo train(), {threads} torch thread(s)", threads, ours))
    ours()  # first use imports and compiles lazily-loaded torch parts
    for _ in range(repeats):
        for name, n, fn in runs:
            torch.set_num_threads(n)
            times.setdefault(name, []).append(timed(fn, device)[0])
    torch.set_num_threads(threads)
    best = {name: min(ts) for name, ts in times.items()}
    baseline = min(v for k, v in best.items() if k.startswith("DataLoader"))
    rows = []
    for name, wall in best.items():
        note = f"epochs/s  ({1e6 * wall / steps:.0f} us/step"
        if name.startswith("nninfo"):
            note += f"; {baseline / wall:.1f}x the best DataLoader loop, target >= 5x"
        rows.append((f"MNIST MLP, {name}", epochs / wall, note + ")"))
    return rows


def tishby_data() -> tuple[torch.Tensor, torch.Tensor]:
    path = Path(__file__).resolve().parents[1] / "nninfo" / "data" / "tishby_2017.npz"
    d = np.load(path)
    idx = np.random.default_rng(42).permutation(len(d["y"]))[:2796]
    return torch.tensor(d["F"][idx], dtype=torch.float32), torch.tensor(d["y"].ravel()[idx])


def bench_tishby(device: torch.device, epochs: int, seed_counts: list[int]) -> list[tuple]:
    x, y = tishby_data()
    layers = mlp([12, 12, 4, 4, 4, 1], "tanh", "sigmoid")
    cfg = TrainConfig(lr=0.01, loss="bce", batch_size=64, epochs=epochs, checkpoint_count=30)
    scale = 1000 / epochs
    note = "" if epochs == 1000 else f", measured {epochs} epochs x{scale:g}"
    single = timed(
        lambda: train(
            Network(layers, seed=0), x, y, cfg, seed=0, on_checkpoint=lambda c: None, device=device
        ),
        device,
    )
    rows = [
        (f"Tishby single seed ({kind})", single[k] * scale, f"s/seed (target <= 20{note})")
        for k, kind in ((0, "wall"), (1, "cpu"))
    ]
    for count in seed_counts:
        batched = timed(
            lambda count=count: train_seeds(
                layers,
                x,
                y,
                cfg,
                seeds=list(range(count)),
                on_checkpoint=lambda i, c: None,
                device=device,
            ),
            device,
        )
        rows += [
            (
                f"Tishby {count} seeds batched ({kind})",
                batched[k] * scale / count,
                f"s/seed (target <= 20{note})",
            )
            for k, kind in ((0, "wall"), (1, "cpu"))
        ]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    p.add_argument("--mnist-epochs", type=float, default=1.0)
    p.add_argument("--tishby-epochs", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[5, 10])
    p.add_argument("--repeats", type=int, default=5, help="MNIST runs per loop (best is kept)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    rows = bench_mnist(device, a.mnist_epochs, a.repeats) + bench_tishby(
        device, a.tishby_epochs, a.seeds
    )
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}} {'value':>9}  unit")
    for name, value, unit in rows:
        print(f"{name:<{width}} {value:>9.2f}  {unit}")


if __name__ == "__main__":
    main()

"""Benchmark: the probe on a torchvision ResNet-18 (issue 23's figure).

One block of ResNet-18 (``layer4``: 512 channels, each the spatial mean of its 4x4 map,
8 equal-mass bins), 10,000 generated 32x32 images with 10 labels, on this machine's CPU:

* the forward pass over the images alone (the baseline of the ratios),
* capture: the same forward pass with the probe's hook, coding every channel,
* Shannon invariants of all 512 units,
* the I^sx PID (and C) of 20 random 5-unit subsets (the published subset rule),
* I(T; layer)'s 100 shuffled-label surrogates,
* a whole ``probe.log`` (all of the above, logged to a temporary MLflow store).

The probe's overhead on training (``--epoch``): one training epoch of the custom-model
project's LeNet (60,000 generated 28x28 images, batch 64, SGD) against one ``probe.log`` with
the project's full settings (5,000 samples; Shannon invariants of conv2's 16 channels and
fc1's 120 units, PID of 20 random 5-unit subsets of fc2 and fc3, 20 I-shuffles), with and
without the PID's 10 shuffles (the first, middle and last checkpoint have them).

Run:  python benchmarks/bench_probe.py [--samples 10000] [--subsets 20] [--threads 2]
      python benchmarks/bench_probe.py --epoch
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import mlflow
import torch
from torchvision.models import resnet18

from nninfo.probe import Layer, Probe

LAYER = {"block": Layer("layer4", n_bins=8, limits="quantiles", units="channels")}


def images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (n,), generator=g)
    x = torch.rand(n, 3, 32, 32, generator=g) * 0.5 + labels[:, None, None, None] / 20
    return x, labels


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def table(title: str, rows: list[tuple[str, float]], ratio: str) -> None:
    """The timings, each also as a ratio to the first row (the baseline)."""
    print(title)
    print(f"{'step':58s} {'seconds':>8s} {ratio:>10s}")
    for name, seconds in rows:
        print(f"{name:58s} {seconds:8.2f} {seconds / rows[0][1]:10.2f}")


def analysis(measures: list[str], groupings: list[dict], mi: int = 0) -> dict:
    return {"measures": measures, "groupings": groupings,
            "surrogates": {"mi": mi, "pid": 0}}


def epoch_overhead() -> None:
    """One training epoch of projects/custom_model against one probe.log."""
    import sys
    from pathlib import Path

    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "projects" / "custom_model"))
    import train as project  # the project's model, layers and analysis

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (60_000,), generator=g)
    x = torch.rand(60_000, 1, 28, 28, generator=g) * 0.5 + labels[:, None, None, None] / 20
    torch.manual_seed(0)
    model = project.LeNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(TensorDataset(x, labels), batch_size=64, shuffle=True)

    def epoch() -> None:
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()

    full = project.SETTINGS["full"]
    data = (x[:full["probe_samples"]], labels[:full["probe_samples"]])
    probe = Probe(model, data, project.LAYERS, analysis=project.analysis(full))
    rows = [("one training epoch (baseline)", timed(epoch)),
            ("probe.analyze, no PID shuffles", timed(probe.analyze)),
            ("probe.analyze with the PID's 10 shuffles",
             timed(lambda: probe.analyze(pid_surrogates=True)))]
    table(f"custom_model LeNet, 60,000 images, batch 64; probe on {full['probe_samples']:,} "
          f"samples, {torch.get_num_threads()} threads", rows, "x epoch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--subsets", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epoch", action="store_true",
                        help="the probe's overhead on a custom_model training epoch instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.epoch:
        epoch_overhead()
        return
    torch.manual_seed(0)
    model = resnet18(num_classes=10).eval()
    x, labels = images(args.samples)
    data = (x, labels)
    everything = [{"name": "neurons", "measures": ["shannon"]},
                  {"name": "subsets", "kind": "random_subsets", "size": 5,
                   "count": args.subsets, "measures": ["pid"]}]

    def forward() -> None:
        with torch.no_grad():
            for i in range(0, len(x), 1024):
                model(x[i:i + 1024])

    with torch.no_grad():
        model(x[:256])  # warm-up: thread pool and allocator, outside every timing
    rows = [("forward pass alone (baseline)", timed(forward))]
    probe = Probe(model, data, LAYER, analysis=analysis(["shannon"], everything[:1]))
    rows.append(("capture: forward + hook + coding", timed(probe.capture)))
    rows.append(("Shannon invariants, 512 units (incl. capture)", timed(probe.analyze)))
    probe = Probe(model, data, LAYER, analysis=analysis(["pid"], everything[1:]))
    rows.append((f"PID/C of {args.subsets} random 5-unit subsets (incl. capture)",
                 timed(probe.analyze)))
    probe = Probe(model, data, LAYER, analysis=analysis(["shannon"], everything[:1], mi=100))
    rows.append(("... + I's 100 shuffled-label surrogates (incl. capture)",
                 timed(probe.analyze)))
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{os.path.join(tmp, 'mlflow.db')}")
        probe = Probe(model, data, LAYER, analysis={**analysis(["shannon", "pid"], everything,
                                                                mi=100)},
                      experiment="bench_probe")
        with probe:
            rows.append(("whole probe.log (all above, logged to MLflow)",
                         timed(lambda: probe.log(0))))
        mlflow.set_tracking_uri(None)
    table(f"ResNet-18 layer4 (512 channels), {args.samples:,} images 32x32, "
          f"{args.threads} threads", rows, "x forward")


if __name__ == "__main__":
    main()

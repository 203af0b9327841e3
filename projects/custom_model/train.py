"""Train a plain PyTorch CNN on MNIST, tracked with mlflow.pytorch, and measure its layers with
nninfo's probe at log-spaced epochs.

    python train.py --data-dir /path/to/data [--quick true] [--epochs 30] ...
    mlflow run projects/custom_model --env-manager local -P data_dir=/path/to/data

To adapt it to your own model, change the four marked parts: (1) the model, (2) the data,
(3) the layers to measure and how their outputs become symbols, (4) the analysis. The rest
is an ordinary training loop; the probe adds a few lines to it (``Probe(...)`` before training,
``probe.log`` after each epoch, ``probe.report`` at the end). See README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

import mlflow
import mlflow.pytorch
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nninfo.probe import Layer, Probe, checkpoint_steps

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from model import LeNet  # noqa: E402  (1) the model: any torch.nn.Module

# (3) The layers to measure: {name in the results: Layer(module path, coding)}. Module paths
# are those of model.named_modules(). Each probes a tanh, so its values lie in [-1, 1] and the
# probe places its 8 bins there (a bounded module's own range; give limits=(lo, hi) otherwise).
LAYERS = {
    # the second conv block, one unit per channel: the spatial mean of each of its 16 maps
    "conv2": Layer("features.tanh2", units="channels", n_bins=8),
    "fc1": Layer("classifier.tanh1", n_bins=8),  # the wide dense layer, 120 units
    "fc2": Layer("classifier.tanh2", n_bins=8),  # narrow: 10 units
    "fc3": Layer("classifier.tanh3", n_bins=8),  # narrow: 8 units
}
WIDE, NARROW = ["conv2", "fc1"], ["fc2", "fc3"]

# Run lengths. quick: a check that everything runs (well under a minute on a laptop CPU).
SETTINGS = {
    "full": {"epochs": 30, "checkpoints": 12, "train_samples": 0, "test_samples": 0,
             "probe_samples": 5000, "subsets": 20, "mi_surrogates": 20, "pid_surrogates": 10},
    "quick": {"epochs": 3, "checkpoints": 4, "train_samples": 1000, "test_samples": 500,
              "probe_samples": 500, "subsets": 4, "mi_surrogates": 5, "pid_surrogates": 2},
}


def analysis(s: dict) -> dict:
    """(4) What to measure: the analysis section of an nninfo config (see the README)."""
    return {
        "measures": ["shannon", "pid"],
        "groupings": [
            # Shannon invariants about the label of all units of the wide layers (any number
            # of sources): each unit one source
            {"name": "neurons", "layers": WIDE, "measures": ["shannon"]},
            # the I^sx PID (at most 5 sources) and its representational complexity C, averaged
            # over 5-unit subsets of the narrow layers drawn by the published rule
            # (itertools.combinations order shuffled with seed 1234)
            {"name": "subsets5", "kind": "random_subsets", "size": 5, "count": s["subsets"],
             "seed": 1234, "layers": NARROW, "measures": ["pid"]},
        ],
        # shuffled-label surrogates: of I(Y; layer) at every checkpoint (the estimation bias),
        # of the PID at the first, middle and last checkpoint
        "surrogates": {"mi": s["mi_surrogates"], "pid": s["pid_surrogates"]},
    }


def load_mnist(data_dir: str, train: bool, n: int) -> TensorDataset:
    """(2) The data: torchvision's MNIST files under ``data_dir`` (no download), as tensors,
    pixels scaled to [0, 1]; the first ``n`` samples (0: all)."""
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(data_dir, train=train, download=False)
    except RuntimeError as exc:
        raise SystemExit(
            f"custom_model: no MNIST files under {data_dir!r} ({exc}). Put the four idx files "
            "(train-images-idx3-ubyte, ...) in <data_dir>/MNIST/raw/ and pass the folder as "
            "-P data_dir=/absolute/path (mlflow run) or --data-dir (python train.py)") from None
    x, y = ds.data.float().div(255.0).unsqueeze(1), ds.targets.long()
    return TensorDataset(x[:n] if n else x, y[:n] if n else y)


def data_folder(given: str) -> str:
    folder = given or os.environ.get("NNINFO_DATA_DIR", "")
    if not folder:
        raise SystemExit("custom_model: no data directory: pass -P data_dir=/absolute/path "
                         "(mlflow run) or --data-dir (python train.py), or set NNINFO_DATA_DIR")
    return folder


def evaluate(model: nn.Module, loader: DataLoader) -> tuple[float, float]:
    model.eval()
    loss, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            loss += nn.functional.cross_entropy(out, y, reduction="sum").item()
            correct += (out.argmax(1) == y).sum().item()
            n += len(y)
    return loss / n, correct / n


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", default="false", choices=["true", "false"],
                   help="few epochs on a small subset of the data")
    p.add_argument("--data-dir", default="", help="folder with MNIST/raw/ (default: env "
                   "NNINFO_DATA_DIR)")
    p.add_argument("--epochs", type=int, default=0, help="0: 30 (quick: 3)")
    p.add_argument("--checkpoints", type=int, default=0, help="most probe checkpoints, epoch 0 "
                   "and the last included, log-spaced whole epochs; 0: 12 (quick: 4)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--probe-samples", type=int, default=0, help="training samples the probe "
                   "measures on; 0: 5000 (quick: 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default="", help="report folder; empty: outputs/ beside the "
                   "SQLite tracking store")
    p.add_argument("--experiment", default="custom_model",
                   help="MLflow experiment (not used under `mlflow run`, which sets its own)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    """Train, probe, report; returns the MLflow run id of the training run."""
    args = parse_args(argv)
    s = dict(SETTINGS["quick" if args.quick == "true" else "full"])
    s.update({k: v for k, v in (("epochs", args.epochs), ("checkpoints", args.checkpoints),
                                ("probe_samples", args.probe_samples)) if v})
    folder = data_folder(args.data_dir)
    train = load_mnist(folder, True, s["train_samples"])
    test = load_mnist(folder, False, s["test_samples"])

    torch.manual_seed(args.seed)
    model = LeNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test, batch_size=1000)
    steps_per_epoch = len(train_loader)
    # the probe measures at these optimizer steps: whole epochs, log-spaced (the published
    # rule), epoch 0 (the initial weights) and the last included
    schedule = checkpoint_steps("log", s["checkpoints"], s["epochs"], steps_per_epoch)
    # a fixed random subset of the training set, the same at every checkpoint
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))
    probe_data = train.tensors[0][pick[:s["probe_samples"]]], \
        train.tensors[1][pick[:s["probe_samples"]]]

    if "MLFLOW_RUN_ID" not in os.environ:  # `mlflow run` made the run and its experiment
        mlflow.set_experiment(args.experiment)
    with mlflow.start_run(run_name="custom_model") as run, contextlib.ExitStack() as stack:
        # the settings used, as "settings.*" (`mlflow run` has logged the parameters as given,
        # e.g. epochs=0 for the default, and MLflow refuses to change a logged param)
        mlflow.log_params({f"settings.{k}": v for k, v in {
            "model": "LeNet", "optimizer": "sgd", "momentum": 0.9, "lr": args.lr,
            "batch_size": args.batch_size, "seed": args.seed, "quick": args.quick,
            "train_samples": len(train), "test_samples": len(test),
            **{k: s[k] for k in ("epochs", "checkpoints", "probe_samples", "subsets")}}.items()})
        # the probe: an nninfo run, child of this one; ended FINISHED here, FAILED on an error
        probe = stack.enter_context(Probe(model, probe_data, LAYERS, analysis=analysis(s),
                                          schedule=schedule, run_name="probe", seed=args.seed))

        def measure(step: int, epoch: int) -> float:
            start = time.perf_counter()
            probe.log(step, epoch=epoch)  # measures only at the schedule's steps
            return time.perf_counter() - start

        measure(0, 0)  # the initial weights
        step = 0
        for epoch in range(1, s["epochs"] + 1):
            start = time.perf_counter()
            model.train()
            total, correct, seen = 0.0, 0, 0
            for x, y in train_loader:
                optimizer.zero_grad()
                out = model(x)
                loss = nn.functional.cross_entropy(out, y)
                loss.backward()
                optimizer.step()
                step += 1
                total += loss.item() * len(y)
                correct += (out.argmax(1) == y).sum().item()
                seen += len(y)
            trained = time.perf_counter() - start
            train_loss, train_acc = total / seen, correct / seen  # running, over the epoch
            test_loss, test_acc = evaluate(model, test_loader)
            probed = measure(step, epoch)
            mlflow.log_metrics({"train_loss": train_loss, "train_accuracy": train_acc,
                                "test_loss": test_loss, "test_accuracy": test_acc,
                                "epoch_seconds": trained, "probe_seconds": probed}, step=epoch)
            print(f"epoch {epoch}: train loss {train_loss:.3f} acc {train_acc:.3f}, test acc "
                  f"{test_acc:.3f} ({trained:.1f} s training, {probed:.1f} s probing)",
                  file=sys.stderr)

        # the trained model (MLflow 3's default pt2 format traces it on an input example,
        # which also gives its signature; naming the requirement skips MLflow's slow
        # inference of it); load it with mlflow.pytorch.load_model
        mlflow.pytorch.log_model(model.eval(), name="model",
                                 input_example=test.tensors[0][:4].numpy(),
                                 pip_requirements=[f"torch=={version('torch')}"])
        stack.close()  # end the probe's runs (FINISHED) before its report
        print(f"report: {probe.report(args.out_dir or None)}", file=sys.stderr)
        return run.info.run_id


if __name__ == "__main__":
    main()

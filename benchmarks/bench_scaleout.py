"""Speed-up from more workers: one small experiment (train + analyze) on 1 and 2 workers.

Runs the same Tishby experiment (seeds train in parallel, analysis fans out per
(seed, checkpoint, layer)) with the local process pool and with a Dask LocalCluster, each
against a fresh SQLite tracking store, and prints wall times and the speed-up relative to
one local worker. Executor start-up (spawning workers, importing torch) is included: it is
part of what a user waits for. Usage: ``python benchmarks/bench_scaleout.py [--seeds 4]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def experiment(seeds: int, epochs: float, checkpoints: int) -> dict:
    quantized = {"activation": "tanh", "quantizer": {"levels": 8, "mode": "stochastic"}}
    return {
        "name": "bench_scaleout",
        "seeds": seeds,
        "task": {"name": "tishby"},
        "network": {"layers": [
            {"type": "linear", "in_features": 12, "out_features": 8, **quantized},
            {"type": "linear", "in_features": 8, "out_features": 4, **quantized},
            {"type": "linear", "in_features": 4, "out_features": 4, **quantized},
            {"type": "linear", "in_features": 4, "out_features": 1, "activation": "sigmoid"},
        ]},
        "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64,
                     "epochs": epochs, "checkpoint_schedule": "log_steps",
                     "checkpoint_count": checkpoints},
        "analysis": {"dataset": "all", "layers": ["L2", "L3"],
                     "measures": ["pid", "shannon", "reing"]},
    }


def run_once(raw: dict, executor: str, workers: int, root: Path) -> tuple[float, float, int]:
    """Train and analyse in a fresh tracking store; (train s, analyze s, analysis jobs)."""
    import mlflow

    from nninfo.config import build_config
    from nninfo.tracking import analyze, pipeline, runs, train

    root.mkdir(parents=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["NNINFO_WORK_DIR"] = str(root / "work")
    mlflow.set_tracking_uri(uri)
    runs.client().search_experiments()  # database migrations: not timed
    cfg = build_config(raw)
    settings = pipeline.Settings(executor=executor, workers=workers, progress=False)
    parent = runs.entry_run_id(raw["name"], "main")
    t0 = time.perf_counter()
    train.train(cfg, settings, parent)
    t1 = time.perf_counter()
    jobs = analyze.analyze(cfg, settings, parent)
    t2 = time.perf_counter()
    runs.client().set_terminated(parent, "FINISHED")
    return t1 - t0, t2 - t1, jobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--epochs", type=float, default=8)
    ap.add_argument("--checkpoints", type=int, default=8)
    ap.add_argument("--executors", default="local,dask")
    args = ap.parse_args()
    raw = experiment(args.seeds, args.epochs, args.checkpoints)
    print(f"{args.seeds} seeds x {args.checkpoints} checkpoints x 2 layers, {args.epochs:g} "
          f"epochs; {os.cpu_count()} CPU cores, load average before: "
          f"{os.getloadavg()[0]:.1f}")
    print(f"\n{'executor':<9}{'workers':>8}{'train s':>10}{'analyze s':>11}{'total s':>10}"
          f"{'jobs':>6}{'speed-up':>10}", flush=True)
    base = None
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        for executor in args.executors.split(","):
            for workers in (1, 2):
                train_s, analyze_s, jobs = run_once(raw, executor, workers,
                                                    Path(tmp) / f"{executor}{workers}")
                total = train_s + analyze_s
                base = base or total
                print(f"{executor:<9}{workers:>8}{train_s:>10.1f}{analyze_s:>11.1f}"
                      f"{total:>10.1f}{jobs:>6}{base / total:>9.2f}x", flush=True)
    first = args.executors.split(",")[0]
    print(f"\nspeed-up: relative to {first} with 1 worker; load average after: "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

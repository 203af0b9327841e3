"""Benchmark: reading results back (issue 24's figure): ``nninfo runs`` and the results API.

Builds once, in ``--store`` (default a temporary folder), a SQLite store shaped like
``--experiments`` runs of the Tishby demo: per experiment a ``main`` training run with 10
seed runs, each with 29 checkpoints (the demo's ``checkpoints.json`` index) and the demo's
115 metric keys per seed (33 quantities for each of L2, L3 and L4, loss and accuracy per
split and class, the running training curves, ``epoch``): 49,300 values per experiment, as
the demo logs. The values are random; the parent's mean and band metrics are logged by
nninfo's own :func:`nninfo.tracking.aggregate.log_aggregates`, as the pipeline does (310
keys). Then it times, each as CPU seconds of the process (the machine may be shared) and
wall seconds:

* cold (a new Python process, what a user waits for): ``nninfo runs``, ``nninfo runs
  EXPERIMENT``, ``results.load_summary`` and ``results.load_performance`` of all the
  experiments; the baseline of the ratios is a new process that imports MLflow and lists
  the experiments through ``MlflowClient`` (the floor of any MLflow-based command);
* warm (the same process, the store already open): ``load_summary``, ``load_performance``,
  and ``list_runs`` of one experiment; the baseline of the ratios is ``load_summary``.

Run:  python benchmarks/bench_results.py [--experiments 3] [--seeds 10] [--store DIR]
A store built before in ``--store`` is reused.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LAYERS = ("L2", "L3", "L4")
QUANTITIES = (
    "bias_dominated", "distinct_patterns", "mean_entropy", "mean_saturation",
    "mutual_information", "mutual_information_bias_corrected", "mutual_information_p_value",
    "mutual_information_surrogate_mean", "mutual_information_surrogate_std", "pattern_entropy",
    *(f"pid.deg_syn_{m}{s}" for m in range(1, 5) for s in ("", "_surrogate_mean",
                                                             "_surrogate_std")),
    *(f"pid.{q}{s}" for q in ("mutual_information", "representational_complexity")
      for s in ("", "_surrogate_mean", "_surrogate_std")),
    "reing.C_R_mean_order", "reing.C_R_published", "shannon.avg_degree_redundancy",
    "shannon.avg_degree_vulnerability", "shannon.mutual_information")
PERFORMANCE = tuple(f"{split}/{part}{q}" for split in ("train", "test")
                    for part in ("", "class_0/", "class_1/") for q in ("loss", "accuracy"))
STEPS_PER_EPOCH = 44


def checkpoint_epochs(n: int = 29, epochs: int = 1000) -> list[int]:
    """Epoch 0 and log-spaced whole epochs up to ``epochs`` (``n`` distinct ones)."""
    count = n
    while True:
        found = sorted({0, *np.unique(np.round(np.logspace(0, np.log10(epochs), count)))})
        if len(found) >= n:
            return [int(e) for e in found[:n - 1]] + [epochs]
        count += 1


def build_store(folder: Path, n_experiments: int, n_seeds: int) -> list[str]:
    """The store described in the module docstring; returns the experiment names."""
    from mlflow.entities import Metric, RunStatus

    from nninfo.tracking import aggregate, processes, runs

    processes.ensure_store()
    c = runs.client()
    rng = np.random.default_rng(0)
    epochs = checkpoint_epochs()
    names = [f"bench_results_{i}" for i in range(n_experiments)]
    stamp = int(time.time() * 1000)
    for name in names:
        parent = c.create_run(runs.experiment_id(name), run_name="main", tags={
            runs.ROLE: "entry", runs.ENTRY: "main", runs.N_SEEDS: str(n_seeds)}).info.run_id
        for seed in range(n_seeds):
            rid = runs.child_run(parent, f"seed {seed}", {
                runs.ROLE: runs.SEED_ROLE, "seed": str(seed), "nninfo.layers": ",".join(LAYERS)})
            index = [{"chapter": i, "step": e * STEPS_PER_EPOCH, "epoch": float(e),
                      "artifact": f"checkpoints/step_{e * STEPS_PER_EPOCH:08d}.pt"}
                     for i, e in enumerate(epochs)]
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "checkpoints.json").write_text(json.dumps(index))
                c.log_artifact(rid, str(Path(tmp) / "checkpoints.json"))
            keys = [f"{layer}/{q}" for layer in LAYERS for q in QUANTITIES] + list(PERFORMANCE)
            metrics = [Metric(key, float(rng.random()), stamp, ck["step"])
                       for ck in index for key in keys]
            metrics += [Metric("epoch", ck["epoch"], stamp, ck["step"]) for ck in index]
            metrics += [Metric(f"train_running/{q}", float(rng.random()), stamp,
                               e * STEPS_PER_EPOCH) for e in range(1, 1001)
                        for q in ("loss", "accuracy")]
            runs.log_batch(rid, metrics=metrics)
            c.set_terminated(rid, RunStatus.to_string(RunStatus.FINISHED))
        aggregate.log_aggregates(parent, "quantile")
        c.set_terminated(parent, RunStatus.to_string(RunStatus.FINISHED))
    (folder / "experiments.json").write_text(json.dumps(names))
    return names


def cold(code: list[str]) -> tuple[float, float]:
    """CPU and wall seconds of a new process running ``code`` (argv)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(code, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def warm(fn) -> tuple[float, float]:
    """CPU and wall seconds of ``fn()`` in this process."""
    cpu, start = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - start


def table(title: str, rows: list[tuple[str, tuple[float, float]]], ratio: str) -> None:
    """The timings, the CPU seconds also as a ratio to the first row's (the baseline)."""
    print(title)
    print(f"{'what':58s} {'CPU s':>7s} {'wall s':>7s} {ratio:>12s}")
    for name, (cpu, wall) in rows:
        print(f"{name:58s} {cpu:7.2f} {wall:7.2f} {cpu / rows[0][1][0]:12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--store", default=None, help="folder of the store (reused if built)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (the best)")
    args = parser.parse_args()
    folder = Path(args.store or tempfile.mkdtemp(prefix="nninfo-bench-results-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    listed = folder / "experiments.json"
    if listed.is_file():
        names = json.loads(listed.read_text())
    else:
        start = time.perf_counter()
        names = build_store(folder, args.experiments, args.seeds)
        print(f"built {folder} in {time.perf_counter() - start:.0f} s")

    def best(measure, *what) -> tuple[float, float]:
        return min((measure(*what) for _ in range(args.repeat)), key=lambda t: t[0])

    nninfo = [sys.executable, "-m", "nninfo.cli"]
    load = "from nninfo import results; results.{}({!r})"
    table(f"cold: a new process each ({len(names)} experiments x {args.seeds} seeds)", [
        ("baseline: import mlflow, MlflowClient().search_experiments()",
         best(cold, [sys.executable, "-c", "import mlflow; "
                     "mlflow.MlflowClient().search_experiments()"])),
        ("nninfo runs", best(cold, [*nninfo, "runs"])),
        (f"nninfo runs {names[0]}", best(cold, [*nninfo, "runs", names[0]])),
        ("results.load_summary(all experiments)",
         best(cold, [sys.executable, "-c", load.format("load_summary", names)])),
        ("results.load_performance(all experiments)",
         best(cold, [sys.executable, "-c", load.format("load_performance", names)])),
    ], "x baseline")
    from nninfo import results

    results.list_experiments()  # the store opened
    print()
    table("warm: in this process, the store open", [
        ("results.load_summary(all experiments)",
         best(warm, lambda: results.load_summary(names))),
        ("results.load_performance(all experiments)",
         best(warm, lambda: results.load_performance(names))),
        (f"results.list_runs({names[0]!r})", best(warm, lambda: results.list_runs(names[0]))),
    ], "x summary")


if __name__ == "__main__":
    main()

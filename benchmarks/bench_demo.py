"""Benchmark: README command 1's run (the Tishby demo end to end), timed by stage.

Runs ``nninfo main`` (what ``mlflow run . --env-manager local`` runs) on the demo's config
in a new store in a temporary folder, reads its progress lines as they come, and prints how
long each stage took from them, with the CPU seconds of the whole run (this process's
children: the driver and its workers):

* start-up: imports and store creation, until the first line of the command;
* training: until the analysis says how many jobs it has;
* analysis: until the evaluation says how many it has;
* performance: until its jobs are done;
* aggregates and report: until the report is written;
* exit: until the command ends.

Run:  python benchmarks/bench_demo.py                # the full demo, as README command 1
      python benchmarks/bench_demo.py --quick        # the quick setting (-P quick=true)
      python benchmarks/bench_demo.py --mlflow-run   # through `mlflow run . --env-manager local`
Extra arguments after ``--`` go to ``nninfo main`` (``-- --workers 2``).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = (  # (stage, the start of the line that ends it)
    ("start-up", "nninfo main: tracking URI"),
    ("training", "analyze: "),
    ("analysis", "performance: "),
    ("performance", "evaluate checkpoints: "),
    ("aggregates and report", "report: "),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the config's quick setting")
    parser.add_argument("--mlflow-run", action="store_true",
                        help="run README command 1 itself (mlflow run . --env-manager local)")
    parser.add_argument("--keep", action="store_true", help="keep the store and print it")
    parser.add_argument("extra", nargs="*", help="more options of nninfo main (after --)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nninfo-bench-demo-"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
           "PYTHONUNBUFFERED": "1"}
    if args.mlflow_run:
        command = ["mlflow", "run", str(ROOT), "--env-manager", "local",
                   "-P", f"quick={'true' if args.quick else 'false'}"]
    else:
        command = [sys.executable, "-m", "nninfo.cli", "main", "--config",
                   str(ROOT / "projects/tishby_demo/config.yaml"), "--no-progress",
                   "--out-dir", str(folder / "outputs"), *(["--quick"] if args.quick else []),
                   *args.extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    ends: dict[str, float] = {}
    with subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            now = time.perf_counter() - start
            sys.stdout.write(f"{now:7.1f}  {line}")
            for stage, marker in STAGES:
                if stage not in ends and line.lstrip().startswith(marker):
                    ends[stage] = now
    total = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode:
        sys.exit(f"the demo failed with status {proc.returncode}")
    print(f"\n{'stage':34s} {'wall s':>7s} {'share':>6s}")
    last, names = 0.0, []
    for stage, _ in STAGES:  # a stage whose line did not come is counted with the next
        names.append(stage)
        if stage in ends:
            name = " + ".join(names)
            print(f"{name:34s} {ends[stage] - last:7.1f} {(ends[stage] - last) / total:6.0%}")
            last, names = ends[stage], []
    print(f"{' + '.join([*names, 'exit']):34s} {total - last:7.1f} {(total - last) / total:6.0%}")
    print(f"{'total':34s} {total:7.1f}   (CPU {cpu:.1f} s on {os.cpu_count()} cores)")
    if args.keep:
        print(f"store: {folder}")
    else:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The ``nninfo`` command line: the MLflow entry points, one command each.

User mistakes (bad config values, missing data, unknown runs) print one clear line and exit
with status 2; set ``NNINFO_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

import nninfo

DEFAULT_CONFIG = Path("projects/tishby_demo/config.yaml")
USER_ERRORS = (ValueError, FileNotFoundError, KeyError)


def _user_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            if os.environ.get("NNINFO_DEBUG"):
                raise
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            click.echo(f"Error: {message}", err=True)
            sys.exit(2)
    return wrapper


def _config_options(fn: Callable) -> Callable:
    options = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     default=str(DEFAULT_CONFIG), show_default=True,
                     help="Experiment YAML file."),
        click.option("--seeds", default="", help="Seed count ('10') or list ('0,3,7'); "
                     "empty: from the config."),
        click.option("--epochs", type=float, default=0.0,
                     help="Training epochs (fractions allowed); 0: from the config."),
        click.option("--checkpoints", type=click.IntRange(min=0), default=0,
                     help="Most checkpoints, counting the one at epoch 0 and the last "
                          "step (a run may get fewer: rounding to whole epochs or steps can "
                          "merge neighbours); at least 2; 0: from the config. 'log' with N: "
                          "epoch 0 and N-1 log-spaced whole epochs 1..E (the published "
                          "create_log_spaced_chapters(E, N-2))."),
        click.option("--quick", type=click.BOOL, is_flag=False, flag_value=True, default=False,
                     help="Apply the config's 'quick' section (a run of a few minutes); "
                          "'--quick' or '--quick true'."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override any config field, e.g. --set training.lr=0.1; repeat it "
                          "or separate several with ';' (--set 'analysis.n_bins=30;"
                          "training.lr=0.1'); values are YAML ([L2,L3]); empty: ignored."),
        click.option("--experiment", default=None,
                     help="MLflow experiment name; default: the config's name."),
        click.option("--data-dir", envvar="NNINFO_DATA_DIR", default=None,
                     help="Directory with the datasets (env NNINFO_DATA_DIR)."),
        click.option("--device", default=None, help="torch device; default cuda if present."),
        click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
                     show_default=True, help="Where jobs run."),
        click.option("--workers", type=click.IntRange(min=0), default=0,
                     help="Parallel workers; 0: number of CPU cores."),
        click.option("--scheduler", default=None,
                     help="Dask scheduler address (tcp://host:port); default: LocalCluster."),
        click.option("--out-dir", default="outputs", show_default=True,
                     help="Where figures and reports are written locally."),
        click.option("--progress/--no-progress", default=True, help="Show progress bars."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _prepare(config_path, seeds, epochs, checkpoints, quick, sets, experiment, data_dir,
             device, executor, workers, scheduler, out_dir, progress, force=False):
    from nninfo.config import load_config
    from nninfo.tracking.pipeline import Settings
    from nninfo.training.common import check_device

    overrides: dict[str, object] = {}
    if seeds:
        overrides["seeds"] = seeds
    if epochs:
        overrides["training.epochs"] = epochs
    if checkpoints:
        overrides["training.checkpoint_count"] = checkpoints
    for item in (part.strip() for arg in sets for part in arg.split(";")):
        if not item:  # --set '' (the MLproject default) or a trailing ';'
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set: {item!r} is not of the form KEY=VALUE")
        overrides[key.strip()] = value.strip()
    cfg = load_config(config_path, quick=quick, overrides=overrides)
    check_device(device)
    data_dir = data_dir or os.environ.get("NNINFO_DATA_DIR") or None
    settings = Settings(data_dir=data_dir, device=device, executor=executor,
                        workers=workers or None, scheduler=scheduler or None,
                        progress=progress, force=force, out_dir=out_dir)
    return cfg, settings, experiment or cfg.name


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(nninfo.__version__, prog_name="nninfo")
def main() -> None:
    """Information-theoretic analysis of neural networks, tracked with MLflow.

    Layers are named X (input), L1..Lk (the network's layers in order), Y (label).
    """


def _entry(name: str, steps: tuple[str, ...], doc: str, with_force: bool = False,
           with_train_run: bool = False) -> None:
    @_config_options
    @_user_errors
    def command(**kwargs):
        from nninfo.tracking import entry, processes

        train_run = kwargs.pop("train_run", None) or None
        cfg, settings, experiment = _prepare(**kwargs)
        processes.sigterm_as_interrupt()  # runs end KILLED on SIGTERM, as on Ctrl-C
        entry.run_entry(name, steps, cfg, settings, experiment, train_run=train_run)

    command.__doc__ = doc
    if with_force:
        command = click.option("--force", type=click.BOOL, is_flag=False, flag_value=True,
                               default=False,
                               help="Recompute results that are already logged.")(command)
    if with_train_run:
        command = click.option("--train-run", default=None,
                               help="Parent training run id; default: the newest.")(command)
    main.command(name)(command)


_entry("train", ("train",), "Train every seed (one child run per seed).")
_entry("analyze", ("analyze",), "PID / Shannon invariants / Reing for every checkpoint.",
       with_force=True, with_train_run=True)
_entry("performance", ("performance",), "Loss and accuracy per dataset and class.",
       with_force=True, with_train_run=True)
_entry("report", ("report",), "Figures (PNG+PDF) and a self-contained HTML report.",
       with_train_run=True)
_entry("main", ("train", "analyze", "performance", "report"),
       "Train, analyse, evaluate and report, in one run.", with_force=True)


@main.command("runs")
@click.argument("experiment", required=False)
@_user_errors
def runs_command(experiment: str | None) -> None:
    """List experiments, or the runs of EXPERIMENT."""
    from nninfo import results

    table = results.list_runs(experiment) if experiment else results.list_experiments()
    click.echo(table.to_string(index=False) if not table.empty else "(none)")


if __name__ == "__main__":
    main()

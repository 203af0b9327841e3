"""The ``nninfo`` command line: the MLflow entry points, one command each, each with only the
options it uses.

User mistakes (bad config values, missing data, unknown runs) print one clear line and exit
with status 2; set ``NNINFO_DEBUG=1`` to see the traceback. Ctrl-C or SIGTERM stops the
workers, marks the runs KILLED and exits with status 1
(:func:`nninfo.tracking.processes.exit_on_interrupt`).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

import nninfo
from nninfo.folders import DATA_DIR_ENV, data_dir_setting

DEFAULT_CONFIG = Path("projects/tishby_demo/config.yaml")
USER_ERRORS = (ValueError, FileNotFoundError, KeyError)


def _cli_words() -> dict[str, str]:
    """How an error with a ``worded`` method (:class:`nninfo.tracking.runs.RunNotFound`,
    :class:`nninfo.tasks.vision.DataFilesMissing`, ...) tells a user of the command line, or
    of ``mlflow run`` (``MLFLOW_RUN_ID`` set), to choose a run or name the data folder."""
    if os.environ.get("MLFLOW_RUN_ID"):
        return {"train_run": "-P train_run", "pass_run": "pass -P train_run=RUN_ID",
                "train": "run the train entry point first (mlflow run ... -e train)",
                "list": "`nninfo runs` lists them", "compare": "-P compare=",
                "data_dir": f"pass -P data_dir=DIR to mlflow run (or set {DATA_DIR_ENV}) "
                            "with DIR"}
    return {"train_run": "--train-run", "pass_run": "pass --train-run RUN_ID",
            "train": "run `nninfo train` first", "list": "`nninfo runs` lists them",
            "compare": "--compare ",
            "data_dir": f"pass --data-dir DIR (or set {DATA_DIR_ENV}) with DIR"}


def _user_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            worded = getattr(exc, "worded", None)  # RunNotFound: say it in the CLI's words
            text = worded(_cli_words()) if worded else str(message)
            _note_launcher(text)
            if os.environ.get("NNINFO_DEBUG"):
                raise
            click.echo(f"Error: {text}", err=True)
            sys.exit(2)
        except Exception as exc:
            _note_launcher(f"{type(exc).__name__}: {exc}")
            raise
    return wrapper


def _note_launcher(text: str) -> None:
    """Under ``mlflow run``: name and note its run after a failure
    (:func:`nninfo.tracking.runs.note_launcher_failure`), so that the FAILED run it leaves
    (in ``Default`` unless ``--experiment-name``) says what failed and how to fix it."""
    if os.environ.get("MLFLOW_RUN_ID"):
        from nninfo.tracking import runs

        ctx = click.get_current_context(silent=True)
        runs.note_launcher_failure(ctx.info_name if ctx and ctx.info_name else "nninfo", text)


INTERRUPTED = 1
"""The exit status after Ctrl-C or SIGTERM (as click's "Aborted!"); see
:func:`nninfo.tracking.processes.exit_on_interrupt`."""


_BOOL = {"type": click.BOOL, "is_flag": False, "flag_value": True, "default": False}
OPTIONS: dict[str, Callable] = {
    "config": click.option("--config", "config_path", type=click.Path(dir_okay=False),
                           default=str(DEFAULT_CONFIG), show_default=True,
                           help="Experiment YAML file."),
    "experiment": click.option("--experiment", default=None,
                               help="MLflow experiment name; default: the config's name."),
    "quick": click.option("--quick", **_BOOL,
                          help="Apply the config's 'quick' section (a run of a few minutes); "
                               "'--quick' or '--quick true'."),
    "set": click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                        help="Override any config field, e.g. --set training.lr=0.1; repeat "
                             "it or separate several with ';' (--set 'analysis.n_bins=30;"
                             "training.lr=0.1'); values are YAML ([L2,L3]); empty: ignored."),
    "seeds": click.option("--seeds", default="", help="Seed count ('10') or list ('0,3,7'); "
                          "empty: from the config."),
    "epochs": click.option("--epochs", type=float, default=0.0,
                           help="Training epochs (fractions allowed); 0: from the config."),
    "checkpoints": click.option(
        "--checkpoints", type=click.IntRange(min=0), default=0,
        help="Most checkpoints, counting the one at epoch 0 and the last step (a run may get "
             "fewer: rounding to whole epochs or steps can merge neighbours); at least 2; 0: "
             "from the config. 'log' with N: epoch 0 and N-1 log-spaced whole epochs 1..E "
             "(the published create_log_spaced_chapters(E, N-2))."),
    "train_run": click.option("--train-run", default=None,
                              help="Parent training run id; default: the newest."),
    "force": click.option("--force", **_BOOL,
                          help="Recompute results that are already logged."),
    "data_dir": click.option("--data-dir", envvar=DATA_DIR_ENV, default=None,
                             help=f"Directory with the datasets (env {DATA_DIR_ENV})."),
    "device": click.option("--device", default=None,
                           help="torch device; default cuda if present."),
    "executor": click.option("--executor", type=click.Choice(["local", "dask"]),
                             default="local", show_default=True, help="Where jobs run."),
    "workers": click.option("--workers", type=click.IntRange(min=0), default=0,
                            help="Parallel workers; 0: number of CPU cores."),
    "scheduler": click.option("--scheduler", default=None, help="Dask scheduler address "
                              "(tcp://host:port); default: a LocalCluster."),
    "progress": click.option("--progress/--no-progress", default=True,
                             help="Show progress bars."),
    "compare": click.option("--compare", "compare", multiple=True, metavar="EXPERIMENT",
                            help="Compare experiments instead (overlay figures and an HTML "
                                 "report, logged to a run of experiment compare/<a>+<b>): "
                                 "repeat it or separate names with commas, e.g. "
                                 "--compare q8,q4; --config is then not used."),
    "out_dir": click.option("--out-dir", default=None,
                            help="Where figures and the HTML report are written locally; "
                                 "default: outputs/ beside the SQLite store (./outputs for a "
                                 "tracking server)."),
}
WHAT = ("config", "experiment", "quick", "set")       # every entry point
TRAINING = ("seeds", "epochs", "checkpoints")
COMPUTE = ("data_dir", "device", "executor", "workers", "scheduler", "progress")
ENTRY_POINTS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "main": (("train", "analyze", "performance", "report"),
             "Train, analyse, evaluate and report, in one run.",
             WHAT + TRAINING + ("force",) + COMPUTE + ("out_dir",)),
    "train": (("train",), "Train every seed (one child run per seed).",
              WHAT + TRAINING + COMPUTE),
    "analyze": (("analyze",), "PID / Shannon invariants / Reing for every checkpoint.",
                WHAT + ("train_run", "force") + COMPUTE),
    "performance": (("performance",), "Loss and accuracy per dataset and class.",
                    WHAT + ("train_run", "force") + COMPUTE),
    "report": (("report",), "Figures (PNG+PDF) and a self-contained HTML report.",
               WHAT + ("train_run", "out_dir", "compare")),
}
"""name -> (steps, help, options): what each command runs and the only options it takes."""


def _prepare(config_path, quick=False, sets=(), experiment=None, seeds="", epochs=0.0,
             checkpoints=0, data_dir=None, device=None, executor="local", workers=0,
             scheduler=None, progress=True, out_dir=None, force=False):
    from nninfo.config import load_config
    from nninfo.tracking.pipeline import Settings, check_device_setting, default_out_dir

    overrides = _overrides(seeds, epochs, checkpoints, sets)
    cfg = load_config(config_path, quick=quick, overrides=overrides)
    check_device_setting(device, executor, scheduler)
    settings = Settings(data_dir=data_dir_setting(data_dir), device=device, executor=executor,
                        workers=workers or None, scheduler=scheduler or None,
                        progress=progress, force=force, out_dir=out_dir or default_out_dir())
    return cfg, settings, experiment or cfg.name


def _overrides(seeds="", epochs=0.0, checkpoints=0, sets=()) -> dict[str, object]:
    """The config overrides of ``--seeds``, ``--epochs``, ``--checkpoints`` and ``--set``
    (dotted key -> value as given; empty and zero values: none)."""
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
    return overrides


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(nninfo.__version__, prog_name="nninfo")
def main() -> None:
    """Information-theoretic analysis of neural networks, tracked with MLflow.

    Layers are named X (input), L1..Lk (the network's layers in order), Y (label).
    Results go to the MLflow tracking URI (MLFLOW_TRACKING_URI, default sqlite:///mlflow.db
    in this folder); every command says on stderr where, and how to see them.
    """


def _compare(names: tuple[str, ...], out_dir: str | None) -> None:
    """``report --compare``: the comparison report of the named experiments."""
    from nninfo.tracking import processes, runs
    from nninfo.tracking.compare import compare, comparison_dir, comparison_name
    from nninfo.tracking.pipeline import Settings, default_out_dir

    experiments = [n.strip() for arg in names for n in arg.split(",") if n.strip()]
    settings = Settings(out_dir=out_dir or default_out_dir())
    distinct = list(dict.fromkeys(experiments))
    if len(distinct) > 1:  # else compare's own error says what it needs
        click.echo(f"nninfo report --compare: tracking URI {runs.shown_uri()}; comparing "
                   f"{', '.join(map(repr, distinct))} (the newest complete training run of "
                   f"each); report {comparison_dir(distinct, settings.out_dir) / 'report.html'}"
                   f", logged to the run of experiment {comparison_name(distinct)!r} (one "
                   "per set of compared experiments, reused)",
                   err=True)
    processes.sigterm_as_interrupt()
    with processes.exit_on_interrupt(INTERRUPTED):
        page = compare(experiments, settings)
    print(f"report: {page}")


def _entry(name: str) -> None:
    steps, doc, names = ENTRY_POINTS[name]

    @_user_errors
    def command(train_run=None, compare=(), **kwargs):
        from nninfo.tracking import entry, processes

        if any(name.strip() for name in compare):  # MLproject passes --compare ''
            return _compare(compare, kwargs.get("out_dir"))
        cfg, settings, experiment = _prepare(**kwargs)
        origin = entry.Origin(kwargs["config_path"], bool(kwargs.get("quick")), _overrides(
            kwargs.get("seeds", ""), kwargs.get("epochs", 0.0), kwargs.get("checkpoints", 0),
            kwargs.get("sets", ())))  # the parent run's name and the experiment's description
        processes.sigterm_as_interrupt()  # runs end KILLED on SIGTERM, as on Ctrl-C
        with processes.exit_on_interrupt(INTERRUPTED):
            entry.run_entry(name, steps, cfg, settings, experiment,
                            train_run=train_run or None, origin=origin)

    command.__doc__ = doc
    for option in reversed(names):
        command = OPTIONS[option](command)
    main.command(name)(command)


for _name in ENTRY_POINTS:
    _entry(_name)


@main.command("runs")
@click.argument("experiment", required=False)
@_user_errors
def runs_command(experiment: str | None) -> None:
    """List experiments, or the runs of EXPERIMENT (newest first)."""
    from nninfo.tracking import runs

    rows = runs.run_rows(experiment) if experiment else runs.experiment_rows()
    for row in rows:
        if "start_time" in row:
            row["start_time"] = time.strftime("%Y-%m-%d %H:%M:%S",
                                              time.localtime(row["start_time"] / 1000))
    click.echo(f"tracking URI {runs.shown_uri()}", err=True)
    click.echo(_table(rows) if rows else "(none)")


def _optional_float(_ctx, _param, value: str | None) -> float | None:
    """``--epoch``: a number, or empty (an MLproject's default) for None."""
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number") from None


@main.command("analyze-model")
@click.argument("model_uri")
@click.option("--data", required=True, help="The samples: TASK:SPLIT of an nninfo task "
              "(mnist:test; task options after commas: mnist:test,flatten=false), or an .npz "
              "file with arrays x and labels (integer classes).")
@click.option("--layers", required=True, help="Module paths from model.named_modules(), "
              "comma-separated (fc1,act1), or NAME=PATH pairs; PATH[i]: element i of a tuple "
              "output.")
@click.option("--levels", type=click.IntRange(min=0), default=0,
              help="Round each value to the nearest of N evenly spaced levels; 0: not used.")
@click.option("--n-bins", type=click.IntRange(min=0), default=0,
              help="N equal-width bins between the limits; 0: analysis.n_bins.")
@click.option("--limits", default="", help="lo,hi (e.g. -1,1), or 'quantiles' (equal-mass "
              "bins, with --n-bins); empty: the module's range (tanh, sigmoid, ...).")
@click.option("--units", type=click.Choice(["units", "channels"]), default="units",
              show_default=True, help="channels: one unit per conv channel (its spatial mean).")
@click.option("--analysis", "analysis_path", default="", help="YAML file: an analysis "
              "section (measures, groupings, n_bins, surrogates, ...), or an nninfo config (its "
              "analysis section, less layers and dataset).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Analysis overrides, e.g. --set 'analysis.measures=[pid,shannon]'; ';' "
                   "separates several; YAML values.")
@click.option("--step", type=click.IntRange(min=0), default=0, show_default=True,
              help="The step the metrics are logged at.")
@click.option("--epoch", default="", callback=_optional_float,
              help="The epoch logged with them; empty: the step.")
@click.option("--experiment", default=None, help="MLflow experiment of the probe run; "
              "default: the model run's (the probe run is then its child), else nninfo_probe.")
@OPTIONS["data_dir"]
@OPTIONS["device"]
@OPTIONS["out_dir"]
@_user_errors
def analyze_model_command(model_uri, data, layers, levels, n_bins, limits, units,
                          analysis_path, sets, step, epoch, experiment, data_dir, device,
                          out_dir) -> None:
    """nninfo's measures on layers of a PyTorch model in MLflow.

    MODEL_URI: runs:/<run id>/model, models:/<name>/<version> (or @<alias>), or a local
    MLflow model folder. Results go to a new probe run linked to the model's run (its child
    when in the same experiment, the default), and a report is written. The model is
    unpickled: load only models from a store you trust.
    """
    from nninfo.probe.model_uri import analyze_model
    from nninfo.tracking import processes

    processes.sigterm_as_interrupt()  # the probe's runs end KILLED on SIGTERM, as on Ctrl-C
    with processes.exit_on_interrupt(INTERRUPTED):
        page = analyze_model(model_uri, data, layers, data_dir=data_dir, levels=levels,
                             n_bins=n_bins, limits=limits, units=units,
                             analysis=analysis_path or None, sets=sets,
                             experiment=experiment or None, step=step, epoch=epoch,
                             device=device or None, out_dir=out_dir or None)
    print(f"report: {page}")


def _table(rows: list[dict[str, object]]) -> str:
    """Rows as left-aligned text columns; missing values are empty cells."""
    columns = list(rows[0])
    cells = [["" if row.get(c) is None else str(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                     for line in [columns, *cells])


if __name__ == "__main__":
    main()

"""Run management: experiments, parent/child runs, honest statuses, batched logging.

Everything goes through :class:`mlflow.MlflowClient` with explicit run ids, so the same code
works against the default SQLite store, a tracking server, and from worker processes.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

import nninfo  # noqa: E402

ROLE = "nninfo.role"          # entry (main/train/analyze/...), seed
SEED_ROLE = "seed"
N_SEEDS = "nninfo.n_seeds"  # on train/main runs: how many seed runs make them complete
TRAIN_RUN = "nninfo.train_run"  # on entry runs that work on another run's seeds
TRAINING_KEY = "nninfo.training_key"  # on train/main runs: what their seeds were trained with
TRAIN_ENTRIES = ("train", "main")
PROBE_ENTRY = "probe"  # a probe's run (nninfo.probe): seed runs to read, no config to train
ENTRY = "nninfo.entry"
PARENT = "mlflow.parentRunId"
NOTE = "mlflow.note.content"
PROBE_TAG = "nninfo.probe"  # on a probe's seed run (nninfo.probe): its epochs are a metric
EPOCH_METRIC = "epoch"      # the probe's epoch of each logged step
DEFAULT_EXPERIMENT_ID = "0"
RUN_NAME = "mlflow.runName"
SOURCE_NAME, SOURCE_TYPE, USER = "mlflow.source.name", "mlflow.source.type", "mlflow.user"
EXPERIMENT_KIND = "mlflow.experimentKind"
ML_KIND = "custom_model_development"
"""The experiment kind the MLflow UI's kind selector calls "Machine learning". MLflow 3.17's UI
no longer reads it (the GenAI / Model training switch decides, see :data:`UI_VIEW`); earlier
MLflow 3 UIs open such an experiment on its runs."""
UI_VIEW = "workflowType=machine_learning"
"""The query (after the ``#/...`` route) that opens MLflow 3.17's UI in its "Model training"
view; without it the UI opens in GenAI mode (its last choice in this browser, else GenAI)."""
DESCRIBED = "nninfo.description"
"""Experiment tag: the description nninfo last set, so that a user's own is never replaced."""
_BATCH = {"metrics": 900, "params": 100, "tags": 100}
"""Entities per ``log_batch`` call (MLflow accepts at most 1000 metrics, 100 params and tags)."""


def client() -> MlflowClient:
    return MlflowClient()


def store_exists(uri: str | None = None) -> bool:
    """Whether the store of ``uri`` (the tracking URI when None) exists: False only for a
    ``sqlite:`` file that is not there, which reading through MLflow would create."""
    from nninfo.tracking.processes import sqlite_path

    db = sqlite_path(uri or mlflow.get_tracking_uri())
    return db is None or db.is_file()


def require_store() -> str:
    """The tracking URI, if its store exists; reading results never creates one (a new
    ``mlflow.db`` in whatever folder a command ran from). Raises ValueError naming the URI."""
    uri = mlflow.get_tracking_uri()
    if not store_exists(uri):
        raise ValueError(f"tracking store: {uri} does not exist (resolved from "
                         f"{Path.cwd()}); run from the folder that holds it, or set "
                         "MLFLOW_TRACKING_URI")
    return uri


def shown_uri(uri: str | None = None) -> str:
    """The tracking URI as messages show it: a password hidden, and a relative SQLite path
    with the file it means here (``sqlite:///mlflow.db (/home/me/mlflow.db)``)."""
    from nninfo.tracking.processes import sqlite_path

    uri = uri or mlflow.get_tracking_uri()
    db = sqlite_path(uri)
    if db is not None and not db.is_absolute():
        return f"{uri} ({os.path.abspath(db)})"
    return re.sub(r"(//[^/:@]+:)[^/@]+@", r"\1***@", uri)


def ui_hint(experiment: str, run_id: str, uri: str | None = None) -> str:
    """How to see a run in the MLflow UI: the page of a tracking server, or the ``mlflow ui``
    command for a local store and the run's URL there."""
    from nninfo.tracking.processes import sqlite_path

    uri = uri or mlflow.get_tracking_uri()
    path = f"#/experiments/{experiment}/runs/{run_id}?{UI_VIEW}"
    if uri.startswith(("http://", "https://")):
        return f"open {uri.rstrip('/')}/{path}"
    db = sqlite_path(uri)
    store = f"sqlite:///{os.path.abspath(db)}" if db is not None else shown_uri(uri)
    return (f"mlflow ui --backend-store-uri {shlex.quote(store)}, then open "
            f"http://127.0.0.1:5000/{path}")


def experiment_id(name: str) -> str:
    """Id of experiment ``name``, created when missing (race-safe, of kind :data:`ML_KIND`);
    a new experiment of a SQLite store keeps its artifacts beside the database
    (:func:`~nninfo.tracking.processes.artifact_root`), one that exists keeps its own."""
    from mlflow.entities import ExperimentTag

    from nninfo.tracking.processes import artifact_root, artifact_store

    c = client()
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    uri = mlflow.get_tracking_uri()
    try:
        if artifact_root(uri) is None:
            return c.create_experiment(name, tags={EXPERIMENT_KIND: ML_KIND})
        return artifact_store(uri).create_experiment(
            name, tags=[ExperimentTag(EXPERIMENT_KIND, ML_KIND)])
    except mlflow.exceptions.MlflowException:
        return c.get_experiment_by_name(name).experiment_id


def launcher_experiment() -> str | None:
    """Under ``mlflow run --experiment-name NAME``: NAME, the experiment of the launcher's run
    (``MLFLOW_RUN_ID``); None outside ``mlflow run`` or when it used the Default experiment.

    Checks first that the launcher's store is the one this process sees: ``mlflow run`` hands
    a relative ``sqlite:///`` URI on as it is, and runs the command in the project folder."""
    launcher = os.environ.get("MLFLOW_RUN_ID")
    if not launcher:
        return None
    uri = mlflow.get_tracking_uri()
    try:
        if not store_exists(uri):
            raise mlflow.exceptions.MlflowException("no store")
        run = client().get_run(launcher)
    except mlflow.exceptions.MlflowException:
        raise ValueError(f"MLFLOW_RUN_ID: mlflow run's run {launcher} is not in the tracking "
                         f"store {shown_uri(uri)}; mlflow run passes a relative URI on as it "
                         "is and runs the project in the project's folder: use an absolute "
                         "tracking URI, e.g. MLFLOW_TRACKING_URI=sqlite:////path/to/mlflow.db"
                         ) from None
    if run.info.experiment_id == DEFAULT_EXPERIMENT_ID:
        return None
    return client().get_experiment(run.info.experiment_id).name


def base_tags() -> dict[str, str]:
    """Tags every nninfo run carries: version, the git commit of the working tree, the
    process that drives it (see :mod:`nninfo.tracking.processes`) and MLflow's source and
    user tags (:func:`source_tags`)."""
    from nninfo.tracking.processes import DRIVER, driver_tag

    tags = {**source_tags(), "nninfo.version": nninfo.__version__, DRIVER: driver_tag()}
    commit = _git_commit()
    if commit:
        tags["nninfo.git_commit"] = commit
    return tags


def source_tags() -> dict[str, str]:
    """MLflow's Source and Created-by tags: under ``mlflow run`` (``MLFLOW_RUN_ID``) those of
    its run (the project, type ``PROJECT``), so that they match what ``mlflow run`` set; else
    this process's script (``sys.argv[0]``, as MLflow's own runs have it), type ``LOCAL``,
    and the user's login name."""
    launcher = os.environ.get("MLFLOW_RUN_ID")
    if launcher:
        given = _launcher_source(launcher, mlflow.get_tracking_uri())
        return {SOURCE_NAME: Path.cwd().as_uri(), SOURCE_TYPE: "PROJECT", USER: user(),
                **given}
    return {SOURCE_NAME: sys.argv[0] if sys.argv and sys.argv[0] else "<console>",
            SOURCE_TYPE: "LOCAL", USER: user()}


@functools.lru_cache(maxsize=8)
def _launcher_source(run_id: str, uri: str) -> dict[str, str]:
    """The source and user tags ``mlflow run`` gave its run (empty when it cannot be read)."""
    if not store_exists(uri):  # never create a store to read a tag
        return {}
    try:
        tags = client().get_run(run_id).data.tags
    except mlflow.exceptions.MlflowException:
        return {}
    return {k: tags[k] for k in (SOURCE_NAME, SOURCE_TYPE, USER) if tags.get(k)}


def user() -> str:
    """The login name (``getpass.getuser()``), or ``unknown`` where the system has none."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # noqa: BLE001 - KeyError/OSError without a passwd entry or USER
        return "unknown"


_GENERATED_NAME = re.compile(r"([a-z]+)-([a-z]+)-(\d+)")


def generated_name(name: str | None) -> bool:
    """Whether ``name`` is one MLflow made up for an unnamed run (``kindly-tern-613``: one of
    its adjectives, one of its nouns, a number), or no name at all."""
    if not name:
        return True
    match = _GENERATED_NAME.fullmatch(name)
    if match is None:
        return False
    try:
        from mlflow.utils.name_utils import _GENERATOR_NOUNS, _GENERATOR_PREDICATES
    except ImportError:  # a later MLflow: the form alone
        return True
    return (match[1] in {w.lower() for w in _GENERATOR_PREDICATES}
            and match[2] in {w.lower() for w in _GENERATOR_NOUNS})


def name_run(run_id: str, name: str) -> None:
    """Give run ``run_id`` the name ``name`` (its ``mlflow.runName``). ``mlflow run``'s own
    run keeps a name the user gave it (``mlflow run --run-name``); only a name MLflow made up
    (:func:`generated_name`) is replaced."""
    c = client()
    if run_id == os.environ.get("MLFLOW_RUN_ID") and \
            not generated_name(c.get_run(run_id).data.tags.get(RUN_NAME)):
        return
    c.update_run(run_id, name=name)


def describe_experiment(exp_id: str, text: str) -> bool:
    """Set experiment ``exp_id``'s description (``mlflow.note.content``, shown above its runs)
    to ``text``, unless it has one that nninfo did not set (a user's, kept); also give it the
    kind :data:`ML_KIND` when it has none. Returns whether the description is ``text`` now."""
    c = client()
    tags = c.get_experiment(exp_id).tags
    if EXPERIMENT_KIND not in tags:
        c.set_experiment_tag(exp_id, EXPERIMENT_KIND, ML_KIND)
    note = tags.get(NOTE)
    if note and note != tags.get(DESCRIBED):
        return note == text
    if note != text:
        c.set_experiment_tag(exp_id, NOTE, text)
        c.set_experiment_tag(exp_id, DESCRIBED, text)
    return True


def _git_commit() -> str | None:
    here = Path(nninfo.__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def entry_run_id(experiment: str, entry: str, tags: Mapping[str, str] | None = None, *,
                 under: str | None = None) -> str:
    """The run an entry point logs to.

    Under ``mlflow run`` the launcher's run (``MLFLOW_RUN_ID``) is used when it lives in an
    experiment the user chose (``--experiment-name``); with ``under`` (a training run of that
    experiment) it becomes that run's child. When ``mlflow run`` put it in the Default
    experiment, the results go to a run in experiment ``experiment`` (the project name) and
    the launcher run gets a note pointing there. That run is new, or with ``under`` the
    reused child of the training run (:func:`entry_child_run`).
    """
    c = client()
    all_tags = {**base_tags(), ROLE: "entry", ENTRY: entry, **(tags or {})}
    launcher = os.environ.get("MLFLOW_RUN_ID")
    if launcher:
        exp = c.get_run(launcher).info.experiment_id
        if exp != DEFAULT_EXPERIMENT_ID:
            if under and c.get_run(under).info.experiment_id == exp:
                all_tags[PARENT] = under
            _set_tags(launcher, all_tags)
            return launcher
    if under:
        run_id = entry_child_run(under, entry, tags)
        experiment = c.get_experiment(c.get_run(under).info.experiment_id).name
    else:
        run_id = c.create_run(experiment_id(experiment), tags=all_tags,
                              run_name=f"{entry}").info.run_id
    if launcher:
        _set_tags(launcher, {NOTE: f"nninfo logged this {entry} to experiment "
                                   f"'{experiment}', run {run_id}.",
                             "nninfo.redirected_to": run_id})
    return run_id


def entry_child_run(parent: str, entry: str, tags: Mapping[str, str] | None = None) -> str:
    """The run of entry point ``entry`` on training run ``parent``: one child run of
    ``parent`` per entry point (named ``entry``, tagged with :data:`TRAIN_RUN`), created the
    first time and reused after: the newest such child is reopened (:func:`reopen`) with
    ``tags``."""
    c = client()
    exp = c.get_run(parent).info.experiment_id
    all_tags = {**base_tags(), ROLE: "entry", ENTRY: entry, TRAIN_RUN: parent, PARENT: parent,
                **(tags or {})}
    found = c.search_runs([exp], f"tags.`{PARENT}` = '{parent}' and tags.`{ENTRY}` = '{entry}'",
                          max_results=1, order_by=["attributes.start_time DESC"])
    if found:
        return reopen(found[0].info.run_id, all_tags)
    return c.create_run(exp, run_name=entry, tags=all_tags).info.run_id


def child_run(parent_id: str, name: str, tags: Mapping[str, str]) -> str:
    """A child run of ``parent_id`` in the same experiment."""
    c = client()
    exp = c.get_run(parent_id).info.experiment_id
    return c.create_run(exp, run_name=name,
                        tags={**base_tags(), PARENT: parent_id, **tags}).info.run_id


def reopen(run_id: str, tags: Mapping[str, str]) -> str:
    """Use run ``run_id`` again: status RUNNING, ``tags`` set (with this process's
    :func:`base_tags`: its driver, so that :func:`mark_abandoned_runs` judges it by this
    process); its start time stays the first one's."""
    client().update_run(run_id, status="RUNNING")
    _set_tags(run_id, {**tags, **base_tags()})
    return run_id


@contextlib.contextmanager
def status_guard(run_id: str, *, owns: bool = True) -> Iterator[str]:
    """Mark ``run_id`` FINISHED on success, FAILED on error, KILLED on interrupt.

    With ``owns=False`` (the launcher's run under ``mlflow run``) only failures are
    recorded here; ``mlflow run`` sets the final status from the exit code.
    """
    try:
        yield run_id
    except BaseException as exc:
        end_run(run_id, exc, owns=owns)
        raise
    else:
        end_run(run_id, None, owns=owns)


def end_run(run_id: str, exc: BaseException | None, *, owns: bool = True) -> None:
    """Terminate ``run_id`` as :func:`status_guard` does after ``exc`` (None: success)."""
    if exc is None:
        if owns:
            client().set_terminated(run_id, "FINISHED")
    else:
        client().set_terminated(run_id, "KILLED" if isinstance(exc, KeyboardInterrupt)
                                else "FAILED")


def owns_run(run_id: str) -> bool:
    return os.environ.get("MLFLOW_RUN_ID") != run_id


def log_batch(run_id: str, *, metrics: Sequence[Metric] = (), params: Sequence[Param] = (),
              tags: Sequence[RunTag] = ()) -> None:
    """Log MLflow entities in as many ``log_batch`` calls as MLflow's limits need (metrics,
    then params, then tags, each in their order)."""
    for kind, items in (("metrics", metrics), ("params", params), ("tags", tags)):
        size = _BATCH[kind]
        for i in range(0, len(items), size):
            client().log_batch(run_id, **{kind: list(items[i:i + size])})


def _set_tags(run_id: str, tags: Mapping[str, str]) -> None:
    log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_params(run_id: str, params: Mapping[str, str]) -> None:
    """Log params in batches (values cut to MLflow's 6000-character limit)."""
    log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])


def log_metrics(run_id: str, rows: Iterable[tuple[str, float, int]]) -> None:
    """Log ``(key, value, step)`` rows in batches."""
    now = int(time.time() * 1000)
    log_batch(run_id, metrics=[Metric(k, float(v), now, int(s)) for k, v, s in rows])


def set_tags(run_id: str, tags: Mapping[str, str]) -> None:
    _set_tags(run_id, tags)


def search(experiment: str, filter_string: str = "") -> list[mlflow.entities.Run]:
    """All runs of an experiment matching a filter (newest first)."""
    c = client()
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs, token = [], None
    while True:
        page = c.search_runs([exp.experiment_id], filter_string, max_results=1000,
                             order_by=["attributes.start_time DESC"], page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


class RunNotFound(ValueError):
    """No run to work on. The message says how to choose one in the Python API's words
    (``experiment=``, ``train_run=``); :meth:`worded` says it in another's (the CLI's)."""

    API = {"train_run": "train_run", "pass_run": "pass train_run=RUN_ID",
           "train": "train it first", "list": "nninfo.results.list_experiments() lists them"}

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(self.worded(self.API))

    def worded(self, words: Mapping[str, str]) -> str:
        """The message with ``{train_run}`` (the option), ``{pass_run}``, ``{train}`` and
        ``{list}`` in ``words``."""
        return self.template.format_map(words)


def _q(value: object) -> str:
    """``value`` for a :class:`RunNotFound` template (braces escaped)."""
    return str(value).replace("{", "{{").replace("}", "}}")


def find_parent(experiment: str | None, train_run: str | None = None) -> str:
    """The training parent run to work on (a probe's run in an experiment with no training
    run: :mod:`nninfo.probe`).

    ``train_run``: that run (or the training run an entry run worked on, e.g. the one a
    ``main`` run reused), whatever its state; a seed run is an error naming its training
    run. Otherwise the newest train/main run of
    ``experiment`` with seed runs, which must be complete (all its seeds FINISHED): an
    incomplete newest run (killed, failed, still running) is an error that names it, so that
    nothing is silently analysed on part of the seeds or on an older run. Errors are
    :class:`RunNotFound` and name the tracking store searched.
    """
    store = _q(shown_uri())
    if train_run:
        try:
            run = client().get_run(train_run)
        except mlflow.exceptions.MlflowException:
            raise RunNotFound(f"{{train_run}}: {_q(repr(train_run))} is not a run in the "
                              f"tracking store {store}") from None
        if run.data.tags.get(ROLE) == SEED_ROLE:
            seed = _q(run.data.tags.get("seed", "?"))
            parent = _q(run.data.tags.get(PARENT, "?"))
            raise RunNotFound(f"{{train_run}} {_q(train_run)} is a seed run (seed {seed}) of "
                              f"training run {parent}; pass that id")
        return run.data.tags.get(TRAIN_RUN, train_run)
    name = _q(repr(experiment))
    if client().get_experiment_by_name(experiment) is None:
        raise RunNotFound(f"experiment {name}: no training run found: the tracking store "
                          f"{store} has no such experiment ({{list}}); {{train}}, or "
                          "{pass_run}")
    entries = search(experiment, f"tags.`{ROLE}` = 'entry'")
    trained = [r for r in entries if r.data.tags.get(ENTRY) in TRAIN_ENTRIES]
    probed = [r for r in entries if r.data.tags.get(ENTRY) == PROBE_ENTRY]
    for run in trained or probed:  # a probe's run only in an experiment with no training
        seeds = seed_runs(run.info.run_id)
        if not seeds:
            continue
        expected = int(run.data.tags.get(N_SEEDS, len(seeds)))
        finished = sum(r.info.status == "FINISHED" for r in seeds)
        if finished == expected:
            return run.info.run_id
        raise RunNotFound(
            f"experiment {name}: the newest training run {_q(repr(run.info.run_name))} "
            f"({run.info.run_id}) is incomplete: {finished} of {expected} seeds FINISHED, "
            f"run status {run.info.status} (tracking store {store}); train again, or "
            "{pass_run} to use it or another run")
    raise RunNotFound(f"experiment {name}: no training run found in the tracking store "
                      f"{store}; {{train}}, or {{pass_run}}")


def experiment_rows() -> list[dict[str, str]]:
    """Every experiment of the store: name, experiment_id, artifact_location."""
    require_store()
    rows, token = [], None
    while True:
        page = client().search_experiments(max_results=1000, page_token=token)
        rows += [{"name": e.name, "experiment_id": e.experiment_id,
                  "artifact_location": e.artifact_location} for e in page]
        token = page.token
        if not token:
            return rows


def run_rows(experiment: str) -> list[dict[str, object]]:
    """Every run of ``experiment``, newest first, from one search (no per-run requests):
    run_id, run_name, status, role, entry, seed, parent_run_id, train_run (the training run an
    entry run worked on), start_time (ms); None where a run lacks the tag."""
    require_store()
    if client().get_experiment_by_name(experiment) is None:
        raise RunNotFound(f"experiment: {_q(repr(experiment))} is not in the tracking store "
                          f"{_q(shown_uri())}; {{list}}")
    tags = {"role": ROLE, "entry": ENTRY, "seed": "seed", "parent_run_id": PARENT,
            "train_run": TRAIN_RUN}
    return [{"run_id": r.info.run_id, "run_name": r.info.run_name, "status": r.info.status,
             **{col: r.data.tags.get(tag) for col, tag in tags.items()},
             "start_time": r.info.start_time} for r in search(experiment)]


def find_training(experiment: str, key: str, n_seeds: int) -> str | None:
    """The newest train/main run whose training has ``key`` and all ``n_seeds`` seed runs
    FINISHED (training that can be reused instead of repeated), or None."""
    for run in search(experiment, f"tags.`{TRAINING_KEY}` = '{key}'"):
        if run.data.tags.get(ENTRY) in TRAIN_ENTRIES and \
                len(seed_runs(run.info.run_id, finished=True)) == n_seeds:
            return run.info.run_id
    return None


def seed_runs(parent: str, *, finished: bool = False) -> list[mlflow.entities.Run]:
    """Seed runs under ``parent`` (by seed)."""
    c = client()
    exp = c.get_run(parent).info.experiment_id
    filt = f"tags.`{PARENT}` = '{parent}' and tags.`{ROLE}` = '{SEED_ROLE}'"
    if finished:
        filt += " and attributes.status = 'FINISHED'"
    found = c.search_runs([exp], filt, max_results=10000)
    return sorted(found, key=lambda r: int(r.data.tags.get("seed", 0)))


def logged_steps(run_id: str, key: str) -> set[int]:
    return {m.step for m in client().get_metric_history(run_id, key)}


def mark_abandoned_runs(experiment: str) -> list[str]:
    """Mark runs of ``experiment`` left RUNNING by a driver that is gone KILLED, with a note;
    returns their ids."""
    from nninfo.tracking.processes import DRIVER, driver_alive

    c = client()
    marked = []
    for run in search(experiment, "attributes.status = 'RUNNING'"):
        tag = run.data.tags.get(DRIVER)
        if not tag or driver_alive(tag) is not False:
            continue
        c.set_tag(run.info.run_id, NOTE,
                  f"Marked KILLED by nninfo: the process that ran it ({tag}) is gone.")
        c.set_terminated(run.info.run_id, "KILLED")
        marked.append(run.info.run_id)
    return marked


CONFIG_ARTIFACT = "config.yaml"  # on a training run and its seed runs: the config they trained
ARTIFACT_TEXT_MAX = 4 << 20  # bytes of a small text artifact nninfo reads back (configs, indexes)


def artifact_text(run_id: str, path: str, max_bytes: int = ARTIFACT_TEXT_MAX) -> str:
    """The UTF-8 text of a run's small artifact ``path``; raises what the store raises for a
    missing or unreadable one, and ValueError for one larger than ``max_bytes``. Read in
    place where the run's artifacts are a local folder
    (:func:`~nninfo.tracking.store_reads.local_artifact`)."""
    import tempfile

    from nninfo.tracking.store_reads import local_artifact

    local = local_artifact(run_id, path)
    if local is not None:
        if local.stat().st_size > max_bytes:  # FileNotFoundError when missing
            raise ValueError(f"{path} is larger than {max_bytes >> 20} MB")
        return local.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(client().download_artifacts(run_id, path, tmp))
        if local.stat().st_size > max_bytes:
            raise ValueError(f"{path} is larger than {max_bytes >> 20} MB")
        return local.read_text(encoding="utf-8")


def logged_config(run_id: str, what: str = "run"):
    """The :class:`~nninfo.config.ExperimentConfig` a run was trained with, from its
    ``config.yaml`` (untrusted data: ``yaml.safe_load``, at most :data:`ARTIFACT_TEXT_MAX`
    bytes, validated by :func:`~nninfo.config.build_config`); a ConfigError naming the run
    (``what``: "training run", "seed run") when it is missing or not a valid config."""
    import yaml

    from nninfo.config import ConfigError, build_config

    where = f"{what} {run_id}"
    try:
        text = artifact_text(run_id, CONFIG_ARTIFACT)
    except Exception as err:  # MLflow's, the artifact store's or the file's error
        raise ConfigError(
            f"{where}: its {CONFIG_ARTIFACT} artifact, the config it was trained with, "
            f"cannot be read ({type(err).__name__}: {err}); is it a run of `nninfo train` or "
            "`main`? `nninfo runs` lists them") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: its {CONFIG_ARTIFACT} is not valid YAML "
                          f"({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: its {CONFIG_ARTIFACT} holds a {type(raw).__name__}, not "
                          "a mapping of config sections")
    try:
        return build_config(raw)
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"{where}: its {CONFIG_ARTIFACT} is not a config this nninfo "
                          f"accepts: {err}") from None


LAUNCHER_FAILED = "failed"  # the last part of a failed launcher run's name


def note_launcher_failure(entry: str, message: str) -> str | None:
    """Under ``mlflow run`` (``MLFLOW_RUN_ID``), after command ``entry`` failed with
    ``message``: the launcher's run, which ``mlflow run`` ends FAILED, gets a note saying what
    failed (after any note it has) and, unless nninfo made it an entry run (it then has its
    own name), a readable name ``<project> · <entry> · failed`` (the project: the folder
    ``mlflow run`` runs in) instead of a random one. Returns that run's id, or None outside
    ``mlflow run``, without a store, or when the store refuses (never raises)."""
    launcher = os.environ.get("MLFLOW_RUN_ID")
    if not launcher or not store_exists():  # never create a store here
        return None
    try:
        c = client()
        run = c.get_run(launcher)
        note = run.data.tags.get(NOTE, "")
        text = f"nninfo {entry} failed: {message}"
        _set_tags(launcher, {NOTE: f"{note}\n\n{text}" if note else text})
        if ROLE not in run.data.tags:
            c.update_run(launcher, name=f"{Path.cwd().name} · {entry} · {LAUNCHER_FAILED}")
    except Exception:  # noqa: BLE001 - the failure itself is what the user must see
        return None
    return launcher

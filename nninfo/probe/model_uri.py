"""A model already in MLflow, probed (``nninfo analyze-model``): its URI resolved to the run
that logged it, the PyTorch module loaded, the probe's samples, layers and analysis read from
the command line's words, and the probe logged to a run linked to the model's run.

Loading an MLflow PyTorch model unpickles it (MLflow's own behaviour for its ``pickle`` and
``cloudpickle`` formats), which can run any code: load only models from a store you trust.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nninfo.probe.coding import QUANTILES, Layer

ALLOWED = ("runs:/<run id>/<artifact path>, models:/<name>/<version>, models:/<name>@<alias>, "
           "models:/<model id> (m-...), or the path of a local MLflow model folder (holding "
           "an MLmodel file)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_OUTPUT = re.compile(r"^(.*)\[(-?\d+)\]$")
NPZ_KEYS = ("x", "labels")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: the URI as given, what MLflow loads, and the run that logged
    it (None: unknown, or not in this tracking store)."""

    uri: str
    load_uri: str
    run_id: str | None
    what: str  # "run abc", "registered model tiny version 1", "local folder /x"
    model_data: str = "data"  # the pytorch flavor's folder of the serialized model


def _fail(uri: str, why: str) -> ValueError:
    return ValueError(f"model URI {uri!r}: {why}; give {ALLOWED}")


def resolve(uri: str) -> ModelSource:
    """The model at ``uri`` and the run that logged it; a ValueError naming the URI (and what
    is allowed) when it does not resolve or is not an MLflow PyTorch model. Nothing is
    loaded or written."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from nninfo.tracking import runs

    uri = (uri or "").strip()
    if not uri:
        raise _fail(uri, "empty")
    scheme = _SCHEME.match(uri)
    kind = scheme.group(1).lower() if scheme else "file"
    if kind not in ("runs", "models", "file"):
        raise _fail(uri, f"scheme {kind}: is not read by nninfo analyze-model")
    try:
        if kind == "file":
            source = _local(uri)
        else:
            runs.require_store()  # a registry lookup never creates a store in the wrong folder
            source = _run_source(uri) if kind == "runs" else _registered(uri)
        info = mlflow.models.get_model_info(source.load_uri)
    except MlflowException as exc:
        raise _fail(uri, f"does not resolve in the tracking store {runs.shown_uri()}: "
                         f"{_first_line(exc.message)}") from None
    if "pytorch" not in info.flavors:
        raise _fail(uri, f"is a {'/'.join(f for f in info.flavors if f != 'python_function')} "
                         "model, not an MLflow PyTorch model (mlflow.pytorch.log_model)")
    source = dataclasses.replace(source, model_data=info.flavors["pytorch"].get("model_data")
                                 or "data")
    run_id = source.run_id or info.run_id  # a local folder's MLmodel names its run
    return _linked_if_here(source, run_id) if run_id and kind != "runs" else source


def _run_source(uri: str) -> ModelSource:
    from nninfo.tracking import runs

    found = re.match(r"^runs:/([^/]+)/(.+)$", uri)
    if not found:
        raise _fail(uri, "a runs:/ URI names a run and an artifact path")
    run_id = found.group(1)
    runs.client().get_run(run_id)  # MlflowException: "Run with id=... not found"
    return ModelSource(uri, uri, run_id, f"run {run_id}")


def _registered(uri: str) -> ModelSource:
    """``models:/name/version``, ``models:/name@alias`` or ``models:/m-<id>``: the run that
    logged it from the registry (the model version's, or the logged model's, source run)."""
    from nninfo.tracking import runs

    rest, c = uri[len("models:/"):].strip("/"), runs.client()
    if "@" in rest:
        name, _, alias = rest.partition("@")
        version = c.get_model_version_by_alias(name, alias)
        return ModelSource(uri, uri, version.run_id or None,
                           f"registered model {name!r} version {version.version} (@{alias})")
    if "/" in rest:
        name, _, number = rest.rpartition("/")
        if not number.isdigit():
            raise _fail(uri, f"version {number!r} is not a version number")
        version = c.get_model_version(name, number)
        return ModelSource(uri, uri, version.run_id or None,
                           f"registered model {name!r} version {number}")
    if rest.startswith("m-"):
        return ModelSource(uri, uri, c.get_logged_model(rest).source_run_id or None,
                           f"logged model {rest}")
    raise _fail(uri, "a models:/ URI names a registered model and a version or alias, or a "
                     "logged model id")


def _local(uri: str) -> ModelSource:
    path = Path(uri[len("file://"):] if uri.startswith("file://") else uri).expanduser()
    if not (path / "MLmodel").is_file():
        why = "is not a folder" if not path.is_dir() else "has no MLmodel file"
        raise _fail(uri, f"the local path {str(path.resolve())!r} {why}")
    path = path.resolve()
    return ModelSource(uri, str(path), None, f"local folder {path}")


def _linked_if_here(source: ModelSource, run_id: str) -> ModelSource:
    """``source`` linked to ``run_id`` (a registry's or MLmodel's record) when this tracking
    store has that run."""
    from mlflow.exceptions import MlflowException

    from nninfo.tracking import runs

    try:
        runs.client().get_run(run_id)
    except MlflowException:
        say(f"{source.what} was logged by run {run_id}, which is not in the tracking store "
            f"{runs.shown_uri()}; the probe is not linked to it")
        return dataclasses.replace(source, run_id=None)
    return dataclasses.replace(source, run_id=run_id, what=f"{source.what} (run {run_id})")


def load(source: ModelSource, device: str | None = None):
    """The ``torch.nn.Module`` of ``source`` on ``device`` (default: cuda if present, else
    cpu). It is unpickled: only load models from a store you trust. A model in MLflow 3's
    ``pt2`` format (``torch.export``) is refused: its graph keeps no modules to hook."""
    import mlflow.artifacts
    import mlflow.pytorch
    import torch
    from torch import nn

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="nninfo-model-") as tmp:
        try:
            local = source.load_uri if Path(source.load_uri).is_dir() else \
                mlflow.artifacts.download_artifacts(artifact_uri=source.load_uri, dst_path=tmp)
            if (Path(local) / source.model_data / "model.pt2").is_file():
                raise ValueError(
                    f"model URI {source.uri!r}: logged in the pt2 format (torch.export, "
                    "MLflow 3's default): its exported graph keeps no modules for forward "
                    "hooks; log the model with mlflow.pytorch.log_model(..., "
                    "serialization_format='pickle') to probe it")
            model = mlflow.pytorch.load_model(local, map_location=device)
        except ValueError:
            raise
        except Exception as exc:  # unpickling runs the model's code: any error is possible
            raise ValueError(f"model URI {source.uri!r}: MLflow could not load it: "
                             f"{type(exc).__name__}: {_first_line(str(exc))}") from exc
    if not isinstance(model, nn.Module):
        raise ValueError(f"model URI {source.uri!r}: loads as {type(model).__name__}, not a "
                         "torch.nn.Module")
    return model.to(device)


# ---------------------------------------------------------------------- the command's words
def read_data(spec: str, data_dir: str | None = None) -> tuple[Any, Any]:
    """``(x, labels)`` of ``--data``: an ``.npz`` file with arrays ``x`` and ``labels`` (read
    without unpickling), or a split of an nninfo task, ``TASK:SPLIT`` with task options after
    commas (``mnist:test``, ``mnist:test,flatten=false``)."""
    import yaml

    spec = (spec or "").strip()
    if spec.endswith(".npz") or Path(spec).is_file():
        return _npz(Path(spec))
    task, sep, rest = spec.partition(":")
    if not sep or not task or not rest:
        from nninfo.tasks import available_tasks

        raise ValueError(f"--data: {spec!r} is neither an .npz file (arrays x and labels) nor "
                         f"TASK:SPLIT (e.g. mnist:test; tasks: {', '.join(available_tasks())})")
    split, *items = (p.strip() for p in rest.split(","))
    options = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--data: {item!r} is not a task option KEY=VALUE (e.g. "
                             "mnist:test,flatten=false)")
        options[key.strip()] = yaml.safe_load(value)
    from nninfo.folders import data_dir_setting
    from nninfo.jobs.common import split as task_split
    from nninfo.tasks import load_task

    part = task_split(load_task(task.strip(), data_dir=data_dir_setting(data_dir), **options),
                      split)
    return part.x, part.labels


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise ValueError(f"--data: {str(path)!r} is not a file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise ValueError(f"--data: {str(path)!r} holds arrays {npz.files}; need "
                                 f"{list(NPZ_KEYS)} (inputs, integer class labels)")
            x, labels = npz["x"], npz["labels"]
    except ValueError as exc:  # allow_pickle=False refuses object arrays with a ValueError
        raise ValueError(_first_line(str(exc)) if str(exc).startswith("--data") else
                         f"--data: {str(path)!r}: {_first_line(str(exc))}") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"--data: {str(path)!r} is not a readable .npz file: {exc}") from None
    if labels.dtype.kind not in "iub":
        raise ValueError(f"--data: {str(path)!r}: labels have dtype {labels.dtype}; need "
                         "integer class labels")
    return (x.astype(np.float32) if x.dtype.kind == "f" else x), labels.astype(np.int64)


def parse_limits(text: str | None, what: str = "--limits"
                 ) -> tuple[float, float] | str | None:
    """``--limits``: empty (the module's range), ``quantiles``, or ``lo,hi``."""
    text = (text or "").strip()
    if not text:
        return None
    if text == QUANTILES:
        return QUANTILES
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{what}: {text!r}; give lo,hi (e.g. -1,1) or {QUANTILES}"
                         ) from None
    return (lo, hi)


def parse_layers(text: str, *, levels: int | None = None, n_bins: int | None = None,
                 limits: Any = None, units: str = "units") -> dict[str, Layer]:
    """``--layers``: module paths (``fc1,act1``) or ``name=path`` pairs, comma-separated; a
    path may end in ``[i]`` to take element ``i`` of a tuple output. Every layer gets the
    same coding."""
    out: dict[str, Layer] = {}
    for item in (p.strip() for p in (text or "").split(",")):
        if not item:
            continue
        name, eq, path = item.partition("=")
        name, path = name.strip(), (path if eq else name).strip()
        found = _OUTPUT.match(path)
        module, output = (found.group(1), int(found.group(2))) if found else (path, None)
        if not name or not module:
            raise ValueError(f"--layers: {item!r}; give a module path or NAME=PATH")
        if name in out:
            raise ValueError(f"--layers: {name!r} is named twice")
        out[name] = Layer(module, output=output, units=units, levels=levels, n_bins=n_bins,
                          limits=limits)
    if not out:
        raise ValueError("--layers: give module paths from model.named_modules(), "
                         "comma-separated (e.g. 1,3 or hidden=fc1,out=act2)")
    return out


def read_analysis(path: str | None, sets: Sequence[str] = ()) -> dict[str, Any]:
    """The probe's analysis settings: ``--analysis FILE.yaml`` (an analysis section, or an
    nninfo config whose ``analysis`` section is taken less its layers and dataset), then each
    ``--set analysis.KEY=VALUE`` (YAML values; ``;`` separates several)."""
    import yaml

    raw: dict[str, Any] = {}
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"--analysis: cannot read {path!r}: {exc.strerror}") from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"--analysis: {path!r} is not YAML: "
                             f"{_first_line(str(exc))}") from None
        if not isinstance(raw, dict):
            raise ValueError(f"--analysis: {path!r} holds {type(raw).__name__}; need a mapping "
                             "(an analysis section, or an nninfo config)")
        if isinstance(raw.get("analysis"), dict):  # a whole nninfo config
            raw = dict(raw["analysis"])
            unused = [k for k in ("layers", "dataset") if raw.pop(k, None) is not None]
            if unused:
                say(f"--analysis {path}: its analysis.{' and '.join(unused)} not used (layers "
                    "come from --layers, samples from --data)")
    for item in (p.strip() for arg in sets for p in arg.split(";")):
        if not item:
            continue
        key, eq, value = item.partition("=")
        keys = key.strip().split(".")
        if not eq or len(keys) < 2 or keys[0] != "analysis" or not all(keys):
            raise ValueError(f"--set: {item!r}; analyze-model takes analysis.KEY=VALUE (e.g. "
                             "analysis.n_bins=30)")
        node = raw
        for part in keys[1:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set: {item!r}; analysis.{part} is not a mapping")
        node[keys[-1]] = yaml.safe_load(value.strip())
    return raw


# ---------------------------------------------------------------------- the command
def analyze_model(uri: str, data: str, layers: str, *, data_dir: str | None = None,
                  levels: int | None = None, n_bins: int | None = None,
                  limits: str | None = None, units: str = "units",
                  analysis: str | None = None, sets: Sequence[str] = (),
                  experiment: str | None = None, step: int = 0, epoch: float | None = None,
                  device: str | None = None, out_dir: str | None = None) -> Path:
    """``nninfo analyze-model``: probe the model at ``uri`` once (at ``step``), log to a new
    nninfo probe run linked to the model's run (its child when in the same experiment) and
    write the report; returns the report's path. Every mistake that can be seen before any
    run is created is a ValueError; a failure later ends the runs FAILED (KILLED on
    Ctrl-C)."""
    from nninfo.probe.probe import Probe
    from nninfo.tracking import runs

    experiment = experiment or runs.launcher_experiment()
    coding = {"levels": levels or None, "n_bins": n_bins or None,
              "limits": parse_limits(limits), "units": units}
    named = parse_layers(layers, **coding)
    settings = read_analysis(analysis, sets)
    if coding["levels"] is None and coding["n_bins"] is None and "n_bins" not in settings:
        raise ValueError("say how the layers' values become symbols: --levels N (nearest of N "
                         "evenly spaced levels), --n-bins N (equal-width bins), or "
                         "analysis.n_bins (--analysis or --set analysis.n_bins=N)")
    say(f"tracking URI {runs.shown_uri()}, model {uri}")
    source = resolve(uri)
    here = _model_experiment(source.run_id)
    say(f"the model: {source.what}" + (f" in experiment {here!r}" if here else
                                       "; no run of this store logged it"))
    samples = read_data(data, data_dir)
    model = load(source, device)
    try:
        probe = Probe(model, samples, named, analysis=settings, experiment=experiment,
                      run_name=f"probe {uri}", parent_run_id=source.run_id,
                      model_run_id=source.run_id)
    except (RuntimeError, TypeError) as exc:  # the model's own forward on the first batch
        shape = tuple(getattr(samples[0], "shape", ()))
        raise ValueError(f"--data {data}: the model's forward pass fails on its inputs of "
                         f"shape {shape}: {type(exc).__name__}: {_first_line(str(exc))}"
                         ) from exc
    with probe:
        probe.log(step, epoch=epoch)
        _note_launcher(probe)
        page = probe.report(out_dir)
    say(f"done: run {probe.runs.parent} (seed run {probe.runs.seed_run}) in experiment "
        f"{probe.runs.experiment!r}" + (f", linked to the model's run {source.run_id}"
                                         if source.run_id else ""))
    return page


def _model_experiment(run_id: str | None) -> str | None:
    if run_id is None:
        return None
    from nninfo.tracking import runs

    c = runs.client()
    return c.get_experiment(c.get_run(run_id).info.experiment_id).name


def _note_launcher(probe: Any) -> None:
    """Under ``mlflow run``: its own run gets a note pointing to the probe's run."""
    from nninfo.tracking import runs

    launcher = os.environ.get("MLFLOW_RUN_ID")
    if launcher and launcher != probe.runs.parent:
        runs.set_tags(launcher, {
            runs.NOTE: f"nninfo logged this analyze_model to experiment "
                       f"'{probe.runs.experiment}', run {probe.runs.parent}.",
            "nninfo.redirected_to": probe.runs.parent})


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def say(line: str) -> None:
    print(f"nninfo analyze-model: {line}", file=sys.stderr)

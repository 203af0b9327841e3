"""nninfo as an MLflow model evaluator: ``mlflow.models.evaluate(model, data, targets=...,
model_type="classifier", evaluators="nninfo", evaluator_config={"layers": ...})`` probes the
layers of a PyTorch model on the evaluation data and logs nninfo's measures.

Registered under the entry-point group ``mlflow.model_evaluator`` as ``nninfo``. MLflow hands
an evaluator the model as a pyfunc (``PyFuncModel``) and the data as an
``EvaluationDataset`` (2-D features and the targets); the pyfunc of an MLflow PyTorch model
gives back its ``torch.nn.Module`` (``get_raw_model()``), a ``PythonModel`` pyfunc its python
model (``unwrap_python_model()``) when that is a module. Rows of features become model
inputs of ``input_shape`` (the config's, else the model signature's tensor shape).

``evaluator_config``: ``layers`` (required: module paths as a list or a comma-separated
string, or a mapping ``{name: path or nninfo.probe.Layer or a dict of Layer fields}``),
``levels`` / ``n_bins`` / ``limits`` / ``units`` (the coding of layers given as paths),
``analysis`` (the analysis section of an nninfo config, as for :class:`~nninfo.probe.Probe`),
``step`` and ``epoch`` (where the metrics are logged; default 0), ``input_shape``,
``batch_size`` and ``report`` (write the figures and the HTML report; default True).

Results: nninfo's probe runs (an nninfo run and its seed run, as ``nninfo analyze-model``
makes) nested under the evaluation run and linked to the model's run; the seed run's metrics
(``<layer>/pid.representational_complexity``, ``<layer>/shannon.*``, ...) are also logged to
the evaluation run and returned in the ``EvaluationResult``, whose artifact ``nninfo_probe``
(``nninfo_probe.json`` on the evaluation run) names the probe's runs and the report. The
model is already loaded by MLflow (an MLflow PyTorch model is unpickled: evaluate only
models from a store you trust).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from mlflow.models.evaluation.artifacts import JsonEvaluationArtifact
from mlflow.models.evaluation.base import EvaluationResult, ModelEvaluator

from nninfo.probe.coding import Layer

NAME = "nninfo"
ARTIFACT = "nninfo_probe.json"  # on the evaluation run: the probe's runs and report
CONFIG_KEYS = ("layers", "levels", "n_bins", "limits", "units", "analysis", "step", "epoch",
               "input_shape", "batch_size", "report", "col_mapping")


class NninfoEvaluator(ModelEvaluator):
    """nninfo's measures on layers of a PyTorch model, as an MLflow model evaluator."""

    name = NAME

    @classmethod
    def can_evaluate(cls, *, model_type, evaluator_config, **kwargs) -> bool:
        """Only when asked for: a config that names ``layers`` (so ``evaluators=None``, every
        registered evaluator, leaves other evaluations alone)."""
        return isinstance(evaluator_config, Mapping) and "layers" in evaluator_config

    def evaluate(self, *, model_type, dataset, run_id, evaluator_config, model=None,
                 extra_metrics=None, custom_artifacts=None, predictions=None, **kwargs):
        from nninfo.probe.probe import Probe
        from nninfo.tracking import runs

        config = dict(evaluator_config or {})
        unknown = sorted(set(config) - set(CONFIG_KEYS))
        if unknown:
            raise ValueError(f"evaluator_config: unknown key(s) {unknown}; the nninfo "
                             f"evaluator takes {list(CONFIG_KEYS[:-1])}")
        module = torch_module(model)
        x = inputs(dataset.features_data, config.get("input_shape"), model)
        labels = dataset.labels_data
        if labels is None:
            raise ValueError("the nninfo evaluator needs the class labels: pass targets= "
                             "(integer classes) to mlflow.models.evaluate")
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iub":
            raise ValueError(f"targets: dtype {labels.dtype}; the nninfo evaluator needs "
                             "integer class labels")
        model_run = getattr(getattr(model, "metadata", None), "run_id", None)
        if model_run is not None and not _in_store(model_run):
            model_run = None
        try:
            probe = Probe(module, (x, labels.astype(np.int64)), layers(config),
                          analysis=config.get("analysis"), parent_run_id=run_id,
                          model_run_id=model_run,
                          batch_size=int(config.get("batch_size", 1024)),
                          run_name=f"nninfo evaluate {type(module).__name__}")
        except (ValueError, RuntimeError, NotImplementedError) as exc:
            import torch.fx

            if not isinstance(module, torch.fx.GraphModule):
                raise
            raise ValueError(f"{exc} (the model is a torch.fx graph, as MLflow 3's default pt2 "
                             "format loads: an exported graph keeps no modules for forward "
                             "hooks; log the model with serialization_format='pickle')"
                             ) from exc
        step = config.get("step", 0)
        with probe:
            probe.log(step, epoch=config.get("epoch"))
            page = probe.report() if config.get("report", True) else None
        c = runs.client()
        seed = c.get_run(probe.runs.seed_run)
        metrics = {k: v for k, v in seed.data.metrics.items() if k != runs.EPOCH_METRIC
                   and math.isfinite(v)}
        runs.log_metrics(run_id, [(k, v, int(step)) for k, v in metrics.items()])
        runs.set_tags(run_id, {"nninfo.probe_run": probe.runs.parent})
        record = {"probe_run": probe.runs.parent, "seed_run": probe.runs.seed_run,
                  "experiment": probe.runs.experiment, "model_run": model_run,
                  "layers": probe.describe(), "report": None if page is None else str(page)}
        c.log_dict(run_id, record, ARTIFACT)
        uri = f"{c.get_run(run_id).info.artifact_uri.rstrip('/')}/{ARTIFACT}"
        return EvaluationResult(metrics=metrics,
                                artifacts={"nninfo_probe": JsonEvaluationArtifact(uri, record)})


def _in_store(run_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    from nninfo.tracking import runs

    try:
        runs.client().get_run(run_id)
    except MlflowException:
        return False
    return True


def torch_module(model: Any):
    """The ``torch.nn.Module`` behind MLflow's pyfunc ``model``; a ValueError saying why
    there is none."""
    from torch import nn

    if model is None:
        raise ValueError("the nninfo evaluator probes the model's layers: pass the model to "
                         "mlflow.models.evaluate, not only predictions")
    raw = None
    for get in ("get_raw_model", "unwrap_python_model"):
        try:
            raw = getattr(model, get)()
        except (AttributeError, NotImplementedError, TypeError):
            continue
        if isinstance(raw, nn.Module):
            return raw
    flavor = getattr(getattr(model, "metadata", None), "flavors", {}) or {}
    loader = flavor.get("python_function", {}).get("loader_module", type(model).__name__)
    if raw is None:
        raise ValueError(f"the nninfo evaluator probes layers of a torch.nn.Module; this model "
                         f"({loader}) gives no python object (a model served in another "
                         "process, env_manager other than 'local'?): evaluate an MLflow "
                         "PyTorch model with env_manager='local'")
    raise ValueError(f"the nninfo evaluator probes layers of a torch.nn.Module; this model "
                     f"({loader}) gives {type(raw).__name__}: log it with "
                     "mlflow.pytorch.log_model")


def inputs(features: Any, input_shape: Any, model: Any) -> np.ndarray:
    """The evaluation rows as model inputs: float32, each row reshaped to ``input_shape``
    (else the model signature's tensor shape when it has more dimensions than a row)."""
    x = np.asarray(features.to_numpy() if hasattr(features, "to_numpy") else features)
    if x.dtype.kind in "fiub":
        x = x.astype(np.float32)
    shape = input_shape if input_shape is not None else _signature_shape(model, x.shape[1:])
    if shape is None:
        return x
    shape = tuple(int(n) for n in shape)
    if math.prod(shape) != math.prod(x.shape[1:]):
        raise ValueError(f"input_shape: {list(shape)} does not hold a row of "
                         f"{math.prod(x.shape[1:])} features")
    return x.reshape(len(x), *shape)


def _signature_shape(model: Any, row: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        schema = model.metadata.get_input_schema()
    except AttributeError:
        return None
    if schema is None or not schema.is_tensor_spec() or len(schema.inputs) != 1:
        return None
    shape = tuple(schema.inputs[0].shape)[1:]
    if len(shape) <= len(row) or any(n < 0 for n in shape) \
            or math.prod(shape) != math.prod(row):
        return None
    return shape


def layers(config: Mapping[str, Any]) -> dict[str, Layer]:
    """The probed layers of ``config``, with its coding for those given as module paths or
    as mappings of Layer fields."""
    from nninfo.probe.coding import as_layers
    from nninfo.probe.model_uri import parse_limits

    limits = config.get("limits")
    coding = {"levels": config.get("levels"), "n_bins": config.get("n_bins"),
              "limits": parse_limits(limits, "evaluator_config limits")
              if isinstance(limits, str) else None if limits is None else tuple(limits),
              "units": config.get("units", "units")}
    given = config["layers"]
    if isinstance(given, str):
        given = [p.strip() for p in given.split(",") if p.strip()]
    elif isinstance(given, Mapping):
        given = {str(name): layer for name, layer in given.items()}
    return as_layers(given, coding, where="evaluator_config layers")

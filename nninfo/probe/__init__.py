"""nninfo's measures on any PyTorch network: :class:`Probe` takes the outputs of named
modules of a ``torch.nn.Module`` (forward hooks; the model is used as it is), codes them as
a :class:`Layer` says and logs the pipeline's metrics and tables to MLflow."""

from nninfo.probe.coding import QUANTILES, UNITS, Layer, module_limits
from nninfo.probe.probe import Probe, metric_names
from nninfo.training.schedule import checkpoint_steps

__all__ = ["QUANTILES", "UNITS", "Layer", "Probe", "checkpoint_steps", "metric_names",
           "module_limits"]

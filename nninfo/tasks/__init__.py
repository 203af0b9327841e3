"""Tasks: datasets as tensors per split, with labels encoded for the loss.

>>> task = load_task("tishby")               # doctest: +SKIP
>>> task["train"].x.shape, task["train"].y.shape, task["train"].labels.dtype
(torch.Size([2796, 12]), torch.Size([2796, 1]), torch.int64)

Names: ``tishby``, ``mnist``, ``fashion_mnist``, ``mnist_fashion``, ``cifar10``, ``lfw``
(faces, an autoencoder task: ``y`` is ``x``), ``xor``, ``parity``, ``checkerboard`` (see
:func:`available_tasks`, :func:`task_options`).
Real datasets live under the data directory (argument ``data_dir``, else ``$NNINFO_DATA_DIR``,
else ``~/.cache/nninfo/data``: :mod:`nninfo.folders`) in torchvision's layout; see
:mod:`nninfo.tasks.vision` and :mod:`nninfo.tasks.faces`.
"""

from nninfo.folders import DATA_DIR_ENV, default_data_dir, resolve_data_dir

from . import faces, synthetic, tishby, vision  # noqa: F401  (register the tasks)
from .base import (
    DatasetMissingError,
    RawTask,
    Split,
    Task,
    available_tasks,
    load_task,
    register_task,
    task_input_shape,
    task_options,
    task_splits,
)
from .labels import ENCODINGS, RECONSTRUCTION, code_width, decode_labels, encode_labels

__all__ = [
    "DATA_DIR_ENV",
    "ENCODINGS",
    "RECONSTRUCTION",
    "DatasetMissingError",
    "RawTask",
    "Split",
    "Task",
    "available_tasks",
    "code_width",
    "decode_labels",
    "default_data_dir",
    "encode_labels",
    "load_task",
    "register_task",
    "resolve_data_dir",
    "task_input_shape",
    "task_options",
    "task_splits",
]

"""Task containers, the task registry and :func:`load_task`.

A loader registered with :func:`register_task` returns a :class:`RawTask` (inputs and class
indices per split); :func:`load_task` validates the options, encodes the labels for the loss
(see :mod:`nninfo.tasks.labels`) and returns a :class:`Task`.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from nninfo.folders import resolve_data_dir

from .labels import RECONSTRUCTION, check_encoding, code_width, encode_labels


class DatasetMissingError(FileNotFoundError):
    """A dataset's files are not where the loader expects them (and could not be downloaded)."""


@dataclass
class Split:
    """One split of a task.

    ``x``: float32 inputs; ``y``: the loss target (see :mod:`nninfo.tasks.labels`; ``x``
    itself for ``reconstruction``); ``labels``: long class indices, the analysis target Y.
    """

    x: torch.Tensor
    y: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        n = {len(self.x), len(self.y), len(self.labels)}
        if len(n) != 1:
            raise ValueError(
                f"x, y and labels must have the same length, got "
                f"{len(self.x)}, {len(self.y)}, {len(self.labels)}"
            )

    def __len__(self) -> int:
        return len(self.x)

    def to(self, device: torch.device | str) -> Split:
        """A copy with all tensors on ``device`` (``y`` stays ``x`` for a reconstruction)."""
        x = self.x.to(device)
        return Split(x, x if self.y is self.x else self.y.to(device), self.labels.to(device))


@dataclass
class Task:
    """A loaded task: named splits plus what a network and the analysis need to know."""

    name: str
    splits: dict[str, Split]
    n_classes: int
    input_shape: tuple[int, ...]
    label_encoding: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def reconstruction(self) -> bool:
        """Whether the loss target is the input itself (an autoencoder task): the loss is a
        reconstruction error and there is no class prediction, so no accuracy."""
        return self.label_encoding == RECONSTRUCTION

    @property
    def output_dim(self) -> int:
        """Number of network outputs the label encoding needs (the input's size for
        ``reconstruction``)."""
        if self.reconstruction:
            return math.prod(self.input_shape)
        return code_width(self.label_encoding, self.n_classes)

    @property
    def loss(self) -> str:
        """Suggested loss: ``cross_entropy`` (index), ``bce`` (one 0/1 output) or ``mse``
        (also for ``reconstruction``)."""
        if self.label_encoding == "index":
            return "cross_entropy"
        if self.label_encoding == "binary" and self.output_dim == 1:
            return "bce"
        return "mse"

    def __getitem__(self, split: str) -> Split:
        if split not in self.splits:
            raise KeyError(f"task {self.name!r} has no split {split!r}; has {list(self.splits)}")
        return self.splits[split]

    def to(self, device: torch.device | str) -> Task:
        """A copy with every split on ``device``."""
        return replace(self, splits={k: s.to(device) for k, s in self.splits.items()})


@dataclass
class RawTask:
    """What a registered loader returns: per split ``(x, labels)`` before label encoding."""

    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
    n_classes: int
    default_encoding: str = "index"
    metadata: dict[str, Any] = field(default_factory=dict)


Loader = Callable[..., RawTask]
_REGISTRY: dict[str, Loader] = {}
#: What a task declares without loading: split names and input shape, each a value or a
#: function of the task's options (keyword arguments, defaults filled in).
_DECLARED: dict[str, tuple[Any, Any]] = {}


def register_task(
    name: str,
    *,
    splits: tuple[str, ...] | Callable[..., tuple[str, ...]] | None = None,
    input_shape: tuple[int, ...] | Callable[..., tuple[int, ...]] | None = None,
) -> Callable[[Loader], Loader]:
    """Decorator registering ``loader(data_dir: Path, seed: int, **options) -> RawTask``.

    ``splits`` (the split names the loader returns) and ``input_shape`` (the shape of one
    input) are optional declarations, each a tuple or a function of the task's options with
    their defaults filled in (``lambda flatten=True, **_: (784,) if flatten else (1, 28, 28)``);
    declared, they let an experiment config be checked without loading the data (see
    :func:`task_splits`, :func:`task_input_shape`), and :func:`load_task` checks that the
    loaded task agrees with them.
    """

    def decorate(loader: Loader) -> Loader:
        if name in _REGISTRY:
            raise ValueError(f"task {name!r} is already registered")
        _REGISTRY[name] = loader
        _DECLARED[name] = (splits, input_shape)
        return loader

    return decorate


def available_tasks() -> list[str]:
    """Sorted names accepted by :func:`load_task`."""
    return sorted(_REGISTRY)


def task_options(name: str) -> dict[str, Any]:
    """The options (and their defaults) a task accepts."""
    loader = _get_loader(name)
    params = inspect.signature(loader).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _declared(name: str, which: int, options: dict[str, Any] | None) -> Any:
    value = _DECLARED.get(name, (None, None))[which]
    if not callable(value):
        return value
    try:
        return value(**{**task_options(name), **(options or {})})
    except (TypeError, ValueError):  # bad option values: the loader will say which
        return None


def task_splits(name: str, options: dict[str, Any] | None = None) -> tuple[str, ...] | None:
    """The split names task ``name`` has with ``options``, without loading it; None when
    the task does not declare them (see :func:`register_task`)."""
    _get_loader(name)
    splits = _declared(name, 0, options)
    return None if splits is None else tuple(splits)


def task_input_shape(
    name: str, options: dict[str, Any] | None = None
) -> tuple[int, ...] | None:
    """The shape of one input of task ``name`` with ``options`` (e.g. ``(784,)``), without
    loading it; None when the task does not declare it (see :func:`register_task`)."""
    _get_loader(name)
    shape = _declared(name, 1, options)
    try:
        return None if shape is None else tuple(int(n) for n in shape)
    except (TypeError, ValueError):  # a bad option value (n_bits: "x"): the loader says which
        return None


def _get_loader(name: str) -> Loader:
    if name not in _REGISTRY:
        raise ValueError(f"task name={name!r} is unknown; allowed: {available_tasks()}")
    return _REGISTRY[name]


def load_task(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    seed: int = 42,
    label_encoding: str | None = None,
    **options: Any,
) -> Task:
    """Load task ``name`` with its splits, labels encoded by ``label_encoding``.

    ``label_encoding=None`` takes the task's default (``index``; ``binary`` for ``tishby``,
    i.e. one 0/1 float target for BCE; ``reconstruction`` for ``lfw``: ``y`` is ``x``, for
    an autoencoder). ``data_dir`` defaults to :func:`nninfo.folders.default_data_dir`.
    ``options`` are task specific, see :func:`task_options`.
    """
    loader = _get_loader(name)
    allowed = task_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"task {name!r} got unknown option(s) {unknown}; allowed: {sorted(allowed)}"
        )
    raw = loader(resolve_data_dir(data_dir), seed, **options)
    encoding = check_encoding(label_encoding or raw.default_encoding)
    splits = {
        key: Split(x, x if encoding == RECONSTRUCTION
                   else encode_labels(labels, encoding, raw.n_classes), labels)
        for key, (x, labels) in raw.splits.items()
    }
    input_shape = tuple(next(iter(splits.values())).x.shape[1:])
    declared = task_splits(name, options), task_input_shape(name, options)
    if declared != (None, None) and (
        declared[0] not in (None, tuple(splits)) or declared[1] not in (None, input_shape)
    ):
        raise RuntimeError(
            f"task {name!r} declares splits {declared[0]} and input shape {declared[1]} "
            f"but its loader returned {tuple(splits)} and {input_shape}; fix its register_task"
        )
    metadata = {"seed": seed, "options": dict(options), **raw.metadata}
    return Task(name, splits, raw.n_classes, input_shape, encoding, metadata)

"""Layer outputs of any ``torch.nn.Module`` by forward hooks, on the model's device, in eval
mode, without gradients, leaving the model's modes and the random number generators as they
were (so probing never changes the training that follows)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nninfo.probe.coding import Layer


@dataclass
class Data:
    """The probe's samples: batches of ``(x, labels)``; ``x`` a tensor or anything the model
    takes (a tuple of tensors, a dict), labels 1-D integers."""

    batches: Iterable
    size: int | None = None

    def __iter__(self) -> Iterator[tuple[object, torch.Tensor]]:
        for batch in self.batches:
            if not isinstance(batch, list | tuple) or len(batch) != 2:
                raise ValueError("data: each batch must be (inputs, labels); got "
                                 f"{type(batch).__name__}")
            yield batch[0], torch.as_tensor(batch[1])


def as_data(data: object, labels: object = None, batch_size: int = 1024) -> Data:
    """The samples a probe reads: ``(x, labels)`` tensors or arrays (or ``data=x,
    labels=y``), a map-style ``Dataset`` of ``(x, label)`` pairs, a ``DataLoader`` yielding
    ``(x, labels)`` batches, or a split of an nninfo task (``task["train"]``)."""
    from torch.utils.data import DataLoader, Dataset

    if labels is None and hasattr(data, "x") and hasattr(data, "labels"):
        data, labels = data.x, data.labels
    if labels is None and isinstance(data, list | tuple) and len(data) == 2:
        data, labels = data
    if labels is not None:
        x, y = torch.as_tensor(np.asarray(data) if not torch.is_tensor(data) else data), \
            torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"labels: shape {tuple(y.shape)} does not match the data: need "
                             f"one integer label per sample, {len(x)} of them (1-D)")
        chunks = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x),
                                                                          batch_size)]
        return Data(chunks, len(x))
    if isinstance(data, DataLoader):
        return Data(data)
    if isinstance(data, Dataset):
        return Data(DataLoader(data, batch_size=batch_size, shuffle=False))
    raise ValueError(f"data: {type(data).__name__}; give (x, labels) tensors, a Dataset of "
                     "(x, label) pairs, a DataLoader of (x, labels) batches, or an nninfo "
                     "task split")


def device_of(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    if first is None:
        first = next(iter(model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def to_device(x: object, device: torch.device) -> object:
    if torch.is_tensor(x):
        return x.to(device)
    if isinstance(x, list | tuple):
        return type(x)(to_device(v, device) for v in x)
    if isinstance(x, Mapping):
        return {k: to_device(v, device) for k, v in x.items()}
    return x


@contextlib.contextmanager
def inspecting(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients inside; afterwards every module's own training flag and the
    CPU and CUDA random states are what they were."""
    modes = {m: m.training for m in model.modules()}
    cuda = [torch.cuda.current_device()] if torch.cuda.is_available() \
        and device_of(model).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        try:
            model.eval()
        except NotImplementedError:  # torch.export's graph modules
            raise ValueError(f"model: a {type(model).__name__} cannot be put in eval mode (a "
                             "torch.export graph, such as an MLflow model saved as 'pt2'); "
                             "probe the nn.Module itself (MLflow: log it with "
                             "serialization_format='pickle')") from None
        try:
            yield
        finally:
            for module, mode in modes.items():
                module.training = mode


class Outputs:
    """Forward hooks that keep the outputs of the probed modules for one forward pass, as
    ``(N, units)`` float tensors (a tuple's chosen element; channels averaged over space)."""

    def __init__(self, modules: Mapping[str, tuple[nn.Module, Layer]]) -> None:
        self.modules = modules
        self.found: dict[str, list[torch.Tensor]] = {}
        self.handles = []

    def __enter__(self) -> Outputs:
        for name, (module, layer) in self.modules.items():
            self.handles.append(module.register_forward_hook(self._hook(name, layer)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()

    def _hook(self, name: str, layer: Layer):
        def keep(_module, _inputs, output) -> None:
            self.found.setdefault(name, []).append(select(name, layer, output))
        return keep

    def take(self) -> dict[str, torch.Tensor]:
        """This forward pass's outputs; a ValueError for a module called not once."""
        out = {}
        for name, (_, layer) in self.modules.items():
            got = self.found.get(name, [])
            if len(got) != 1:
                how = ("was not called by the model's forward (its parent may call its "
                       "functions directly, or another branch runs): probe a module that "
                       "is called") if not got else (
                    f"was called {len(got)} times in one forward pass (a shared module): "
                    "probe a module that runs once")
                raise ValueError(f"layers[{name!r}].module: {layer.module!r} {how}")
            out[name] = got[0]
        self.found.clear()
        return out


def select(name: str, layer: Layer, output: object) -> torch.Tensor:
    """The probed tensor of a module's output, ``(N, units)``."""
    where = f"layers[{name!r}]"
    if layer.output is not None:
        if not isinstance(output, list | tuple) or not -len(output) <= layer.output < len(output):
            raise ValueError(f"{where}.output: {layer.output!r}, but module {layer.module!r} "
                             f"returns {_kind(output)}")
        output = output[layer.output]
    if not torch.is_tensor(output):
        hint = (f"; pick one element with Layer({layer.module!r}, output=i)"
                if isinstance(output, list | tuple) else "")
        raise ValueError(f"{where}: module {layer.module!r} returns {_kind(output)}, not a "
                         f"tensor{hint}")
    if output.ndim < 2:
        raise ValueError(f"{where}: module {layer.module!r} returns a tensor of shape "
                         f"{tuple(output.shape)}; need (batch, ...) ")
    if not output.is_floating_point():
        output = output.float()
    if layer.units == "channels":
        if output.ndim < 3:
            raise ValueError(f"{where}.units: 'channels' needs maps (batch, channels, ...); "
                             f"module {layer.module!r} returns shape {tuple(output.shape)}")
        output = output.flatten(2).mean(dim=2)
    return output.detach().reshape(len(output), -1)


def _kind(output: object) -> str:
    if isinstance(output, list | tuple):
        return f"a {type(output).__name__} of {len(output)} ({', '.join(_kind(o) for o in output)})"
    if torch.is_tensor(output):
        return f"tensor{tuple(output.shape)}"
    return type(output).__name__

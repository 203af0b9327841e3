"""How one probed layer's outputs become discrete symbols: which module, which part of its
output, units or channels, and levels or bins between limits."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from nninfo.capture import bin_by_edges, bin_values, code_dtype
from nninfo.info.binning import MAX_BINS, MIN_BINS
from nninfo.nn.quantizers import Quantizer

#: ``Layer.units``: every unit of the output (conv maps flattened in C order), or one unit per
#: channel (the mean of each channel's map over its spatial positions).
UNITS = ("units", "channels")
#: ``Layer.limits`` for data-driven bins: equal-mass bins of the values at each capture.
QUANTILES = "quantiles"

_BOUNDED: dict[type, tuple[float, float]] = {
    nn.Tanh: (-1.0, 1.0), nn.Softsign: (-1.0, 1.0), nn.Sigmoid: (0.0, 1.0),
    nn.Hardsigmoid: (0.0, 1.0), nn.Softmax: (0.0, 1.0), nn.ReLU6: (0.0, 6.0),
}


def output_module(module: nn.Module) -> nn.Module:
    """The module whose output is ``module``'s: the last of a ``Sequential``, recursively."""
    while isinstance(module, nn.Sequential) and len(module):
        module = module[-1]
    return module


def module_limits(module: nn.Module) -> tuple[float, float] | None:
    """The range of a module's output where its kind bounds it (tanh, sigmoid, softmax,
    hardtanh, relu6, an nninfo quantizer; a ``Sequential``'s last module), else None."""
    module = output_module(module)
    if isinstance(module, Quantizer):
        return (module.lo, module.hi)
    if isinstance(module, nn.Hardtanh) and not isinstance(module, nn.ReLU6):
        return (float(module.min_val), float(module.max_val))
    for kind, limits in _BOUNDED.items():
        if isinstance(module, kind):
            return limits
    return None


@dataclass(frozen=True)
class Layer:
    """One probed layer.

    ``module``: its path in ``model.named_modules()`` (``features.3``, ``layer4.1.relu``).
    ``output``: which element of a tuple (or list) output to take; None for a tensor output.
    ``units``: ``units`` (each element of the output, conv maps flattened in C order) or
    ``channels`` (one unit per channel: the spatial mean of each map).
    ``levels``: round each value to the nearest of ``levels`` evenly spaced levels between the
    limits (what an nninfo quantizer does), or ``n_bins``: equal-width bins between the limits
    (values outside saturate into the end bins); None for both: the levels of an nninfo
    quantizer module, else ``analysis.n_bins``.
    ``limits``: ``(lo, hi)``; None takes the module's range where it is bounded (tanh,
    sigmoid, softmax, hardtanh, relu6, an nninfo quantizer); ``"quantiles"`` (bins only):
    equal-mass bins of the layer's values at each capture (the edges are logged, since they
    change between checkpoints)."""

    module: str
    output: int | None = None
    units: str = "units"
    levels: int | None = None
    n_bins: int | None = None
    limits: tuple[float, float] | str | None = None


def as_layers(layers: Any, defaults: Mapping[str, Any] | None = None,
              where: str = "layers") -> dict[str, Layer]:
    """``{name: Layer}`` from a list of module paths or Layers (named by their path) or a
    mapping ``name -> module path, Layer or mapping of Layer fields``. ``defaults``: Layer
    fields (the coding) for the layers given as paths or fields; a layer whose fields name
    ``levels`` or ``n_bins`` takes both from its own."""
    if isinstance(layers, str | Layer):
        layers = [layers]
    if isinstance(layers, Mapping) and layers:
        items = list(layers.items())
    elif isinstance(layers, list | tuple) and layers:
        items = [(x if isinstance(x, str) else getattr(x, "module", x), x) for x in layers]
    else:
        raise ValueError(f"layers: {layers!r}; give a list of module paths (from "
                         "model.named_modules()) or a mapping {name: module path or Layer}")
    out: dict[str, Layer] = {}
    for name, layer in items:
        if isinstance(layer, str):
            layer = Layer(layer, **(defaults or {}))
        elif isinstance(layer, Mapping):
            layer = _from_fields(f"{where}[{name!r}]", layer, defaults or {})
        if not isinstance(name, str) or not isinstance(layer, Layer):
            raise ValueError(f"layers[{name!r}]: {layer!r}; give a module path (str) or a "
                             "nninfo.probe.Layer")
        if name in out:
            raise ValueError(f"layers: {name!r} is named twice")
        out[name] = layer
    return out


def _from_fields(where: str, fields: Mapping[str, Any], defaults: Mapping[str, Any]) -> Layer:
    own = {**defaults, **fields}
    if {"levels", "n_bins"} & set(fields):  # its own coding replaces the default
        own.update({k: fields.get(k) for k in ("levels", "n_bins")})
    try:
        return Layer(**own)
    except TypeError:
        raise ValueError(f"{where}: {dict(fields)!r}; its keys are Layer fields (module, "
                         "output, units, levels, n_bins, limits)") from None


def resolve_module(model: nn.Module, name: str, layer: Layer) -> nn.Module:
    """The module at ``layer.module``, or a ValueError listing the nearest valid paths."""
    modules = dict(model.named_modules())
    if layer.module not in modules:
        near = difflib.get_close_matches(layer.module, [m for m in modules if m], n=5,
                                         cutoff=0.4)
        hint = (f"nearest: {', '.join(near)}" if near else
                f"the model's modules include {', '.join(list(m for m in modules if m)[:8])}")
        raise ValueError(f"layers[{name!r}].module: {layer.module!r} is not a module path of "
                         f"the model ({hint}; model.named_modules() lists them all)")
    return modules[layer.module]


@dataclass(frozen=True)
class Coder:
    """A layer's coding once its module and width are known."""

    name: str
    layer: Layer
    kind: str                                  # "levels" or "bins"
    count: int                                 # levels or bins
    limits: tuple[float, float] | None         # None: quantiles of each capture's values
    width: int

    @property
    def dtype(self) -> np.dtype:
        return code_dtype(self.count)

    def codes(self, values: torch.Tensor, edges: np.ndarray | None = None) -> torch.Tensor:
        """Symbols ``0 .. count-1`` of ``values`` (N, width); ``edges``: the quantile grid."""
        if self.kind == "levels":
            lo, hi = self.limits
            step = (hi - lo) / (self.count - 1)
            return ((values - lo) / step).clamp_(0.0, self.count - 1).round_().long()
        if edges is None:
            return bin_values(values, self.limits, self.count)
        return bin_by_edges(values, edges)

    def describe(self) -> str:
        where = "data quantiles" if self.limits is None else f"[{self.limits[0]:g}, " \
                f"{self.limits[1]:g}]"
        return f"{self.count} {self.kind} between {where}"


def make_coder(name: str, layer: Layer, module: nn.Module, width: int,
               default_bins: int | None) -> Coder:
    """Check ``layer``'s coding against its module; a ValueError naming the layer if it
    cannot be coded."""
    where = f"layers[{name!r}]"
    if layer.units not in UNITS:
        raise ValueError(f"{where}.units: {layer.units!r} is not one of {list(UNITS)}")
    if layer.levels is not None and layer.n_bins is not None:
        raise ValueError(f"{where}: give levels or n_bins, not both")
    quantizer = output_module(module)
    if layer.levels is None and layer.n_bins is None and isinstance(quantizer, Quantizer):
        layer = replace(layer, levels=quantizer.levels)
    if layer.levels is not None:
        kind, count = "levels", layer.levels
        if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= 65536:
            raise ValueError(f"{where}.levels: {count!r} is not an integer in 2..65536")
    else:
        kind, count = "bins", layer.n_bins if layer.n_bins is not None else default_bins
        if count is None:
            raise ValueError(f"{where}: say how its values become symbols: levels= (nearest "
                             "of evenly spaced levels), n_bins= (equal-width bins), or "
                             "analysis.n_bins for every layer without its own")
        if isinstance(count, bool) or not isinstance(count, int) \
                or not MIN_BINS <= count <= MAX_BINS:
            raise ValueError(f"{where}.n_bins: {count!r} is not an integer in "
                             f"{MIN_BINS}..{MAX_BINS}")
    limits = _limits(where, layer, module, kind)
    return Coder(name, layer, kind, count, limits, width)


def _limits(where: str, layer: Layer, module: nn.Module, kind: str
            ) -> tuple[float, float] | None:
    if isinstance(layer.limits, str):
        if layer.limits != QUANTILES or kind != "bins":
            raise ValueError(f"{where}.limits: {layer.limits!r}; give (lo, hi), None (the "
                             f"module's range) or {QUANTILES!r} with n_bins")
        return None
    if layer.limits is not None:
        try:
            lo, hi = (float(v) for v in layer.limits)
        except (TypeError, ValueError):
            raise ValueError(f"{where}.limits: {layer.limits!r} is not (lo, hi)") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"{where}.limits: {layer.limits!r}; need finite lo < hi")
        return (lo, hi)
    limits = module_limits(module)  # a channel's spatial mean stays in the same range
    if limits is None:
        raise ValueError(
            f"{where}: module {layer.module!r} ({type(module).__name__}) has no bounded range "
            "to place levels or bins in; give limits=(lo, hi), or n_bins with "
            f"limits={QUANTILES!r} (equal-mass bins of the data), or probe its bounded "
            "activation (tanh, sigmoid, ...) instead")
    return limits


def quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-mass bin edges of all of a layer's values (repeated edges merged, so a layer of
    mostly zeros gets fewer bins)."""
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)))
    return edges if len(edges) >= 2 else np.array([edges[0], edges[0] + 1.0])

"""Activation capture: layer outputs -> small-integer level codes for the info-theory code.

The network needs ``layer_names``, ``forward_layers(x, layers)`` (taking ``quantize=`` for
stochastic rounding), ``layer_limits(name)`` and ``layer_quantizer(name)`` (a quantizer with
``levels``, ``lo``, ``step`` and ``codes(x)``), as
:class:`nninfo.nn.Network` provides. Quantized layers give the quantizer's level indices;
unquantized layers are binned into ``n_bins`` equal-width bins between the layer limits
(values outside saturate into the end bins). Codes are ``uint8`` when a layer has at most
256 levels (``uint16`` up to 65,536, else ``int64``), shape ``(N, width)`` with conv maps
flattened in C order.

Rounding (``rounding=``): ``nearest`` (default) rounds every quantized layer to its nearest
level, as the quantizer does in eval mode (the published PID analyses' ``center_saturating``).
``stochastic`` rounds every quantized layer on the way up (not only the captured ones, so the
rounding propagates, as in the published Shannon-invariants analysis) up with probability
equal to the fractional distance from the level below: unbiased, ``E[value] = activation``.
Its noise comes from one CPU ``torch.Generator`` per layer, seeded by
:func:`derive_seed` ``(rounding_seed, layer name)``: the same codes on every rerun, on every
worker and device, whichever other layers are captured with it, for any ``batch_size``; the
global RNG is not touched. Binned (unquantized) layers are binned either way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from nninfo.checks import is_integer
from nninfo.info.binning import bin_edges

Coder = Callable[[torch.Tensor], torch.Tensor]
#: ``analysis.rounding``: how quantized layers are rounded when their codes are captured.
ROUNDINGS = ("nearest", "stochastic")


def derive_seed(*parts: object) -> int:
    """A seed in ``[0, 2**63)`` from ``parts`` (ints, strings, None), the same for the same
    parts on every machine and Python process (unlike ``hash``)."""
    digest = hashlib.sha256(json.dumps([repr(p) for p in parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class StochasticRounding:
    """Unbiased stochastic rounding of quantized layers, for ``Network.forward_layers``'s
    ``quantize``: a value between two levels rounds up with probability equal to its
    fractional distance from the lower one (values outside the limits saturate). Layer
    ``name`` draws its ``U[0, 1)`` noise from its own CPU generator seeded with
    ``derive_seed(seed, name)``, in the order of the batches."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._generators: dict[str, torch.Generator] = {}

    def __call__(self, name: str, quantizer, h: torch.Tensor) -> torch.Tensor:
        gen = self._generators.get(name)
        if gen is None:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, name))
            self._generators[name] = gen
        u = torch.rand(h.shape, generator=gen, dtype=torch.float32)
        u = u.to(device=h.device, dtype=h.dtype)
        k = ((h - quantizer.lo) / quantizer.step + u).floor_().clamp_(0.0, quantizer.levels - 1)
        return k * quantizer.step + quantizer.lo


def code_dtype(levels: int) -> np.dtype:
    """Smallest unsigned dtype for codes ``0 .. levels-1`` (int64 beyond 16 bits)."""
    if levels <= 256:
        return np.dtype(np.uint8)
    return np.dtype(np.uint16) if levels <= 65536 else np.dtype(np.int64)


def bin_values(values: torch.Tensor, limits: tuple[float, float], n_bins: int) -> torch.Tensor:
    """Bin index of each value: bin ``i`` is ``[e_i, e_{i+1})``, the last bin includes ``hi``.

    Values below ``lo`` go to bin 0, above ``hi`` to bin ``n_bins - 1``.
    """
    return bin_by_edges(values, bin_edges(limits, n_bins))


def bin_by_edges(values: torch.Tensor, edges: Sequence[float]) -> torch.Tensor:
    """Bin index of each value for bins ``[e_i, e_{i+1})`` between ascending ``edges`` (the
    last bin includes its upper edge; values outside go to the end bins)."""
    inner = torch.as_tensor(np.asarray(edges)[1:-1], dtype=values.dtype, device=values.device)
    return torch.bucketize(values, inner, right=True)


@dataclass
class Capture:
    """Level codes per layer, the labels and each layer's number of levels."""

    codes: dict[str, np.ndarray]
    labels: np.ndarray
    levels: dict[str, int]
    method: dict[str, str] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return len(self.labels)

    def __getitem__(self, layer: str) -> np.ndarray:
        return self.codes[self._check_layer(layer)]

    def _check_layer(self, layer: str) -> str:
        if layer not in self.codes:
            raise ValueError(f"layer={layer!r} was not captured; captured: {list(self.codes)}")
        return layer

    def samples(
        self,
        layer: str,
        neurons: Sequence[int] | None = None,
        groups: Sequence[Sequence[int]] | None = None,
    ) -> np.ndarray:
        """Info-core input ``(N, n_sources + 1)`` int64: source codes, then the label.

        Sources are single neurons (``neurons``, default all) or, with ``groups``, one
        source per group of neuron indices whose codes combine injectively in mixed radix
        (group ``[a, b]`` gives ``code_a + levels * code_b``).
        """
        codes = self[layer]
        if neurons is not None and groups is not None:
            raise ValueError("pass either neurons or groups, not both")
        levels = self.levels[layer]
        width = codes.shape[1]
        if groups is None:
            idx = list(range(width)) if neurons is None else _check_indices("neurons", neurons,
                                                                           width)
            sources = codes[:, idx].astype(np.int64)
        else:
            if len(groups) == 0:
                raise ValueError("groups must hold at least one group of neuron indices")
            sources = np.stack([_combine(codes, g, levels, width) for g in groups], axis=1)
        return np.column_stack([sources, self.labels.astype(np.int64)])


def _check_indices(name: str, idx: Sequence[int], width: int) -> list[int]:
    idx = [int(i) for i in idx]
    if not idx:
        raise ValueError(f"{name}={idx!r} must not be empty")
    bad = [i for i in idx if not 0 <= i < width]
    if bad:
        raise ValueError(f"{name}: indices {bad} out of range 0..{width - 1}")
    if len(set(idx)) != len(idx):
        raise ValueError(f"{name}={idx!r} repeats an index")
    return idx


def _combine(codes: np.ndarray, group: Sequence[int], levels: int, width: int) -> np.ndarray:
    """Mixed-radix code of one group of neurons (the first neuron is the lowest digit)."""
    idx = _check_indices("groups", group, width)
    if levels ** len(idx) > np.iinfo(np.int64).max:
        raise ValueError(f"groups: {len(idx)} neurons of {levels} levels overflow int64 codes")
    out = np.zeros(len(codes), dtype=np.int64)
    for i in reversed(idx):
        out = out * levels + codes[:, i]
    return out


def _coder(net, layer: str, n_bins: int | None) -> tuple[Coder, int, str]:
    q = net.layer_quantizer(layer)
    if q is not None:
        return q.codes, int(q.levels), "quantizer"
    if n_bins is None:
        raise ValueError(f"layer {layer!r} is not quantized: pass n_bins to bin it")
    limits = net.layer_limits(layer)
    if limits is None:
        raise ValueError(
            f"layer {layer!r} is not quantized and has no limits (unbounded activation): "
            "it cannot be binned"
        )
    bin_edges(limits, n_bins)  # validate early
    return (lambda v: bin_values(v, limits, n_bins)), n_bins, "binning"


def _device_of(net, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    param = next(iter(net.parameters()), None) if hasattr(net, "parameters") else None
    return param.device if param is not None else torch.device("cpu")


def capture_codes(
    net,
    x: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    layers: Sequence[str] | None = None,
    *,
    batch_size: int = 4096,
    n_bins: int | None = None,
    device: torch.device | str | None = None,
    rounding: str = "nearest",
    rounding_seed: int = 0,
) -> Capture:
    """Level codes of ``layers`` (all if None) for inputs ``x``, in eval mode, in batches.

    ``rounding``: ``nearest`` or ``stochastic`` (seeded by ``rounding_seed``; see the module
    docstring)."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding={rounding!r} is not one of {list(ROUNDINGS)}")
    if not is_integer(rounding_seed, 0):
        raise ValueError(f"rounding_seed={rounding_seed!r} must be an integer >= 0")
    quantize = StochasticRounding(rounding_seed) if rounding == "stochastic" else None
    layers = list(net.layer_names) if layers is None else list(layers)
    unknown = [n for n in layers if n not in net.layer_names]
    if unknown:
        raise ValueError(f"layers: {unknown} not in the network's layers {net.layer_names}")
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.ndim != 1 or len(labels) != len(x):
        raise ValueError(f"labels must be 1-D with len(x)={len(x)} entries, got {labels.shape}")
    if not is_integer(batch_size, 1):
        raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1")
    coders = {name: _coder(net, name, n_bins) for name in layers}
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    dev = _device_of(net, device)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb = x[start : start + batch_size].to(dev)
                out = (net.forward_layers(xb, layers) if quantize is None
                       else net.forward_layers(xb, layers, quantize=quantize))
                for name, (coder, levels, _) in coders.items():
                    codes = coder(out[name]).reshape(len(out[name]), -1)
                    chunks[name].append(codes.cpu().numpy().astype(code_dtype(levels)))
    finally:
        net.train(was_training)
    result = {name: _concat(chunks[name], name, coders[name][1]) for name in layers}
    levels = {name: c[1] for name, c in coders.items()}
    return Capture(result, labels.copy(), levels, {n: c[2] for n, c in coders.items()})


def capture_values(net, x: torch.Tensor, layers: Sequence[str], *, batch_size: int = 4096,
                   device: torch.device | str | None = None) -> dict[str, np.ndarray]:
    """The noiseless activations (float64, ``(N, width)``, conv maps flattened in C order) of
    unquantized ``layers`` in eval mode, for the Gaussian-noise binnings."""
    quantized = [n for n in layers if net.layer_quantizer(n) is not None]
    if quantized:
        raise ValueError(f"layers {quantized} are quantized: their activations are levels, "
                         "not noiseless values to smooth")
    dev = _device_of(net, device)
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                out = net.forward_layers(x[start : start + batch_size].to(dev), layers)
                for name in layers:
                    chunks[name].append(out[name].reshape(len(out[name]), -1).double().cpu()
                                        .numpy())
    finally:
        net.train(was_training)
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def _concat(chunks: list[np.ndarray], name: str, levels: int) -> np.ndarray:
    codes = np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=code_dtype(levels))
    if codes.size and (codes.min() < 0 or codes.max() >= levels):
        raise RuntimeError(f"layer {name!r}: codes outside 0..{levels - 1}")
    return codes


def _level_counts(codes: np.ndarray, levels: int) -> np.ndarray:
    """(width, levels) histogram of each neuron's codes."""
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (samples, neurons), got shape {codes.shape}")
    if not is_integer(levels, 1):
        raise ValueError(f"levels={levels!r} must be an integer >= 1")
    if codes.size and (codes.min() < 0 or codes.max() >= levels):
        raise ValueError(f"codes must lie in 0..{levels - 1}, got {codes.min()}..{codes.max()}")
    width = codes.shape[1]
    flat = (codes.astype(np.int64) + np.arange(width) * levels).ravel()
    return np.bincount(flat, minlength=width * levels).reshape(width, levels)


def _entropy_bits(counts: np.ndarray) -> np.ndarray:
    """Plug-in entropy (bits) of each row of counts (0 log 0 = 0)."""
    total = counts.sum(axis=-1, keepdims=True)
    p = np.divide(counts, total, out=np.zeros(counts.shape), where=total > 0)
    logp = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logp).sum(axis=-1)


def activation_statistics(codes: np.ndarray, levels: int) -> pd.DataFrame:
    """One row per neuron: ``neuron``, ``entropy`` (bits), ``saturation`` (fraction at the
    lowest or highest level), ``saturation_low``, ``saturation_high``, ``level_0`` ..
    ``level_{levels-1}`` (counts)."""
    counts = _level_counts(codes, levels)
    n = max(len(codes), 1)
    low, high = counts[:, 0] / n, counts[:, -1] / n
    frame = pd.DataFrame({
        "neuron": np.arange(counts.shape[0]),
        "entropy": _entropy_bits(counts),
        "saturation": low + (high if levels > 1 else 0.0),
        "saturation_low": low,
        "saturation_high": high,
    })
    level_cols = pd.DataFrame(counts, columns=[f"level_{k}" for k in range(levels)])
    return pd.concat([frame, level_cols], axis=1)


def layer_summary(codes: np.ndarray, levels: int) -> dict[str, float]:
    """Layer-level numbers: ``n_samples``, ``n_neurons``, ``distinct_patterns``,
    ``pattern_entropy`` (bits, plug-in), ``mean_entropy``, ``mean_saturation``."""
    stats = activation_statistics(codes, levels)
    codes = np.ascontiguousarray(codes)
    if codes.shape[0]:
        _, pattern_counts = np.unique(codes, axis=0, return_counts=True)
    else:
        pattern_counts = np.zeros(0, dtype=np.int64)
    return {
        "n_samples": int(codes.shape[0]),
        "n_neurons": int(codes.shape[1]),
        "distinct_patterns": int(len(pattern_counts)),
        "pattern_entropy": float(_entropy_bits(pattern_counts)),
        "mean_entropy": float(stats["entropy"].mean()),
        "mean_saturation": float(stats["saturation"].mean()),
    }

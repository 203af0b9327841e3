"""Feed-forward networks built from a list of layer dicts (one dict per layer, L1..Lk)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nninfo.checks import is_integer
from nninfo.nn.quantizers import Quantizer

ACTIVATIONS = ("tanh", "relu", "sigmoid", "hardtanh", "identity", "softmax")
INITS = ("xavier", "kaiming")  # a layer's optional ``init`` key: the weight initialiser
#: ``network.init``, the initialisation scheme of the whole network:
#:
#: * ``published`` (default): as Ehrlich et al. (2023) initialise (``init_str="xavier"`` in
#:   every notebook): xavier-uniform weights with gain 5/3 on every linear layer (the output
#:   layer too), sqrt(2) on conv and 1 on transposed-conv layers, PyTorch's default biases
#:   ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; a layer's ``init: kaiming`` gets PyTorch's
#:   ``kaiming_uniform_`` defaults, as their ``he_kaiming``. With a seed, the draws follow
#:   their order: every layer as PyTorch constructs it (weight, then bias), then the weights.
#: * ``per_activation``: xavier-uniform with the gain of each layer's own activation (1 for a
#:   linear, sigmoid or softmax output), kaiming-uniform for ReLU layers, zero biases. Kept
#:   because it is the variance-preserving choice for each activation (the published 5/3
#:   over-scales a sigmoid/softmax output, and xavier's fan average under-scales widening
#:   ReLU convolutions: 2.4x narrower on CIFAR's first conv).
INIT_SCHEMES = ("published", "per_activation")
DEFAULT_INIT = "published"
ACTIVATION_LIMITS: dict[str, tuple[float, float]] = {
    "tanh": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0),
    "hardtanh": (-1.0, 1.0),
    "softmax": (0.0, 1.0),
}
_ACT_FN = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "hardtanh": F.hardtanh,
    "identity": None,
    "softmax": lambda h: torch.softmax(h, dim=1),
}
# type -> (required keys, optional keys with defaults)
_LAYER_KEYS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "linear": (("in_features", "out_features"), {}),
    "conv2d": (("in_channels", "out_channels", "kernel_size"), {"stride": 1, "padding": 0}),
    "conv_transpose2d": (
        ("in_channels", "out_channels", "kernel_size"),
        {"stride": 1, "padding": 0, "output_padding": 0},
    ),
    "maxpool2d": (("kernel_size",), {"stride": None}),
    "avgpool2d": (("kernel_size",), {"stride": None}),
    "flatten": ((), {}),
    "reshape": (("shape",), {}),
    "dropout": (("p",), {}),
    "batchnorm1d": (("num_features",), {}),
    "batchnorm2d": (("num_features",), {}),
}
_COMMON_KEYS = ("type", "activation", "init", "quantizer")
#: Layer types whose outputs are some of their inputs' values (so keep a quantizer's levels).
_KEEPS_LEVELS = ("maxpool2d", "flatten", "reshape")
_INT_KEYS = {"in_features", "out_features", "in_channels", "out_channels", "num_features"}
_SIZE_KEYS = {"kernel_size", "stride", "padding", "output_padding"}


def _where(i: int, key: str | None = None) -> str:
    return f"layers[{i}] (L{i + 1})" + (f".{key}" if key else "")


def _check_int(i: int, key: str, value: Any, minimum: int) -> None:
    if not is_integer(value, minimum):
        raise ValueError(f"{_where(i, key)}: {value!r} is not an integer >= {minimum}")


def _check_size(i: int, key: str, value: Any, minimum: int) -> None:
    items = value if isinstance(value, list | tuple) else [value]
    if isinstance(value, list | tuple) and len(value) != 2:
        raise ValueError(f"{_where(i, key)}: {value!r} is not an integer or a pair of integers")
    for v in items:
        _check_int(i, key, v, minimum)


def validate_layer(i: int, spec: Mapping[str, Any], n_layers: int) -> dict[str, Any]:
    """Check one layer dict and return it with defaults filled in (errors name the layer)."""
    if not isinstance(spec, Mapping):
        raise TypeError(f"{_where(i)}: expected a dict, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in _LAYER_KEYS:
        raise ValueError(f"{_where(i, 'type')}: {kind!r} is not one of {list(_LAYER_KEYS)}")
    required, optional = _LAYER_KEYS[kind]
    for key in spec:
        if key not in _COMMON_KEYS and key not in required and key not in optional:
            allowed = list(_COMMON_KEYS) + list(required) + list(optional)
            raise ValueError(f"{_where(i, key)}: unknown key for type {kind!r}; allowed: {allowed}")
    for key in required:
        if key not in spec:
            raise ValueError(f"{_where(i, key)}: missing (required for type {kind!r})")
    out = {**optional, **dict(spec)}
    for key, value in out.items():
        if key in _INT_KEYS:
            _check_int(i, key, value, 1)
        elif key in _SIZE_KEYS and value is not None:
            _check_size(i, key, value, 1 if key in ("kernel_size", "stride") else 0)
    if kind == "dropout" and not (isinstance(out["p"], int | float) and 0 <= out["p"] < 1):
        raise ValueError(f"{_where(i, 'p')}: {out['p']!r} is not a number in [0, 1)")
    if kind == "reshape":
        shape = out["shape"]
        if not isinstance(shape, list | tuple) or not shape:
            raise ValueError(f"{_where(i, 'shape')}: {shape!r} is not a non-empty list of ints")
        for v in shape:
            _check_int(i, "shape", v, 1)
    act = out.setdefault("activation", "identity")
    if act not in ACTIVATIONS:
        raise ValueError(f"{_where(i, 'activation')}: {act!r} is not one of {list(ACTIVATIONS)}")
    if act == "softmax" and i != n_layers - 1:
        raise ValueError(f"{_where(i, 'activation')}: 'softmax' is only allowed on the last layer")
    init = out["init"] = out.get("init")  # None: the network's init scheme decides
    if init is not None and init not in INITS:
        raise ValueError(f"{_where(i, 'init')}: {init!r} is not one of {list(INITS)}")
    out["quantizer"] = _validate_quantizer(i, out.get("quantizer"), act)
    return out


def _validate_quantizer(i: int, q: Any, act: str) -> dict[str, Any] | None:
    if q is None:
        return None
    if not isinstance(q, Mapping):
        raise TypeError(f"{_where(i, 'quantizer')}: expected null or a dict, got {q!r}")
    unknown = set(q) - {"levels", "mode", "limits"}
    if unknown:
        raise ValueError(
            f"{_where(i, 'quantizer')}: unknown keys {sorted(unknown)}; "
            "allowed: ['levels', 'mode', 'limits']"
        )
    limits = q.get("limits")
    if limits is None:
        if act not in ACTIVATION_LIMITS:
            raise ValueError(
                f"{_where(i, 'quantizer.limits')}: required for the unbounded activation "
                f"{act!r} (bounded ones: {list(ACTIVATION_LIMITS)})"
            )
        limits = ACTIVATION_LIMITS[act]
    spec = {"levels": q.get("levels"), "mode": q.get("mode", "stochastic"), "limits": limits}
    try:
        Quantizer(spec["levels"], spec["mode"], tuple(limits))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{_where(i)}.{err}") from None
    spec["limits"] = [float(limits[0]), float(limits[1])]
    return spec


def _make_op(spec: dict[str, Any]) -> nn.Module:
    kind = spec["type"]
    if kind == "linear":
        return nn.Linear(spec["in_features"], spec["out_features"])
    if kind in ("conv2d", "conv_transpose2d"):
        args = (spec["in_channels"], spec["out_channels"], spec["kernel_size"])
        kw = {"stride": spec["stride"], "padding": spec["padding"]}
        if kind == "conv2d":
            return nn.Conv2d(*args, **kw)
        return nn.ConvTranspose2d(*args, output_padding=spec["output_padding"], **kw)
    if kind in ("maxpool2d", "avgpool2d"):
        cls = nn.MaxPool2d if kind == "maxpool2d" else nn.AvgPool2d
        return cls(spec["kernel_size"], stride=spec["stride"])
    if kind == "flatten":
        return nn.Flatten()
    if kind == "reshape":
        return nn.Unflatten(1, tuple(spec["shape"]))
    if kind == "dropout":
        return nn.Dropout(spec["p"])
    return (nn.BatchNorm1d if kind == "batchnorm1d" else nn.BatchNorm2d)(spec["num_features"])


class Layer(nn.Module):
    """One configured layer: operation, then activation, then optional quantizer."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        self.op = _make_op(spec)
        self.activation = spec["activation"]
        self.act_fn = _ACT_FN[self.activation]
        q = spec["quantizer"]
        self.quantizer = None if q is None else Quantizer(q["levels"], q["mode"], q["limits"])
        self._linear = isinstance(self.op, nn.Linear)  # fast path: skip Module.__call__

    def apply_op(self, h: torch.Tensor) -> torch.Tensor:
        """The layer's operation (linear, conv, pool, ...) on ``h``."""
        if self._linear:
            return F.linear(h, self.op.weight, self.op.bias)
        return self.op(h)

    @property
    def _weighted(self) -> bool:
        return isinstance(self.op, nn.Linear | nn.Conv2d | nn.ConvTranspose2d)

    def reset_parameters(self, scheme: str = DEFAULT_INIT) -> None:
        """Re-initialise the layer by ``scheme`` (see :data:`INIT_SCHEMES`); ``published``
        here is the layer on its own (:meth:`Network.reset_parameters` orders the draws)."""
        if scheme == "published":
            self.reset_default()
            self.init_published_weight()
            return
        if not self._weighted:
            self.reset_default()
            return
        weight = self.op.weight
        act = self.activation if self.activation in ("tanh", "relu", "sigmoid") else "linear"
        init = self.spec["init"] or ("kaiming" if self.activation == "relu" else "xavier")
        if init == "xavier":
            gain = nn.init.calculate_gain(act) if act in ("tanh", "relu") else 1.0
            nn.init.xavier_uniform_(weight, gain=gain)
        else:
            nn.init.kaiming_uniform_(weight, a=0.0, nonlinearity=act)
        if self.op.bias is not None:
            nn.init.zeros_(self.op.bias)

    def reset_default(self) -> None:
        """PyTorch's own initialisation of the operation (weights and biases), if any."""
        if hasattr(self.op, "reset_parameters"):
            self.op.reset_parameters()

    def init_published_weight(self) -> None:
        """The published weight initialisation (biases are left as they are): xavier-uniform
        with gain 5/3 (linear), sqrt(2) (conv), 1 (transposed conv), or PyTorch's
        ``kaiming_uniform_`` defaults for a layer with ``init: kaiming``."""
        if not self._weighted:
            return
        if self.spec["init"] == "kaiming":
            nn.init.kaiming_uniform_(self.op.weight)
            return
        if isinstance(self.op, nn.Linear):
            gain = 5.0 / 3.0
        elif isinstance(self.op, nn.ConvTranspose2d):
            gain = 1.0
        else:
            gain = math.sqrt(2.0)
        nn.init.xavier_uniform_(self.op.weight, gain=gain)

    def post(self, h: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Activation and quantizer (with optional pre-drawn ``noise``) applied to ``h``."""
        if self.act_fn is not None:
            h = self.act_fn(h)
        if self.quantizer is not None:
            h = self.quantizer.forward(h, noise)
        return h


class OutputHeadMixin:
    """The output layer's activation, quantization and width, from ``layer_specs``.

    For models with ``layer_specs``, ``layer_names`` and ``layer_width`` (:class:`Network`,
    :class:`~nninfo.training.stacked.BatchedMLP`).
    """

    layer_specs: list[dict[str, Any]]
    layer_names: list[str]

    @property
    def output_activation(self) -> str:
        """Activation of the last layer."""
        return self.layer_specs[-1]["activation"]

    @property
    def output_quantized(self) -> bool:
        """Whether the last layer has a quantizer."""
        return self.layer_specs[-1]["quantizer"] is not None

    @property
    def output_ndim(self) -> int:
        """Number of axes of one sample's output: 1 for a flat output, 3 for an image
        (channels, height, width), e.g. an autoencoder's reconstruction."""
        for spec in reversed(self.layer_specs):
            kind = spec["type"]
            if kind in ("linear", "flatten", "batchnorm1d"):
                return 1
            if kind == "reshape":
                return len(spec["shape"])
            if kind != "dropout":  # convolutions, pooling, batchnorm2d
                return 3
        shape = getattr(self, "input_shape", None)  # only dropout layers: the input's axes
        return 1 if shape is None else len(shape)

    @property
    def output_width(self) -> int:
        """Number of units of the last layer."""
        spec = self.layer_specs[-1]
        if spec["type"] == "linear":
            return spec["out_features"]
        return self.layer_width(self.layer_names[-1])  # type: ignore[attr-defined]


class Network(OutputHeadMixin, nn.Module):
    """A feed-forward network from a list of layer dicts; layers are named L1..Lk.

    ``net(x)`` returns the training output: the last layer's logits if its activation is
    softmax, else its (activated, quantized) output. :meth:`forward_layers` returns what each
    layer passes on (softmax probabilities for a softmax last layer).
    """

    def __init__(
        self,
        layers: list[dict[str, Any]],
        *,
        seed: int | None = None,
        input_shape: tuple[int, ...] | None = None,
        init: str = DEFAULT_INIT,
    ) -> None:
        super().__init__()
        if not isinstance(layers, list | tuple) or not layers:
            raise ValueError(f"layers: {layers!r} is not a non-empty list of layer dicts")
        if init not in INIT_SCHEMES:
            raise ValueError(f"init: {init!r} is not one of {list(INIT_SCHEMES)}")
        self.init = init
        specs = [validate_layer(i, s, len(layers)) for i, s in enumerate(layers)]
        self.layer_names = [f"L{i + 1}" for i in range(len(specs))]
        self.layers = nn.ModuleDict(
            {n: Layer(s) for n, s in zip(self.layer_names, specs, strict=True)}
        )
        self._layer_list = list(self.layers.values())
        self.layer_specs = specs
        self.seed = seed
        if input_shape is None and specs[0]["type"] == "linear":
            input_shape = (specs[0]["in_features"],)
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self._widths: dict[str, int] | None = None
        self.reset_parameters(seed)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Network:
        """Build from ``{"layers": [...], "seed": int | None, "input_shape": [...] | None,
        "init": "published" | "per_activation"}``."""
        allowed = ["layers", "seed", "input_shape", "init"]
        unknown = set(config) - set(allowed)
        if unknown:
            raise ValueError(f"network: unknown keys {sorted(unknown)}; allowed: {allowed}")
        if "layers" not in config:
            raise ValueError("network.layers: missing")
        init = config.get("init")
        if init is not None and init not in INIT_SCHEMES:
            raise ValueError(f"network.init: {init!r} is not one of {list(INIT_SCHEMES)}")
        shape = config.get("input_shape")
        return cls(
            list(config["layers"]),
            seed=config.get("seed"),
            input_shape=None if shape is None else tuple(shape),
            init=DEFAULT_INIT if init is None else init,
        )

    def reset_parameters(self, seed: int | None = None) -> None:
        """Initialise all layers by the network's ``init`` scheme; with a seed, reproducibly
        and without touching the global RNG."""
        if seed is None:
            self._init_layers()
            return
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self._init_layers()

    def _init_layers(self) -> None:
        if self.init == "published":
            # the published order: every layer as PyTorch constructs it, then the weights
            for layer in self._layer_list:
                layer.reset_default()
            for layer in self._layer_list:
                layer.init_published_weight()
            return
        for layer in self._layer_list:
            layer.reset_parameters(self.init)

    def forward_parts(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(output, last pre-activation, hidden layer outputs): what the loss needs.

        The output is :meth:`forward`'s (logits for a softmax last layer); the hidden outputs
        are those of all layers but the last, for the l1/l2 terms.
        """
        hidden = []
        h = x
        last = self._layer_list[-1]
        for layer in self._layer_list[:-1]:
            h = layer.post(layer.apply_op(h))
            hidden.append(h)
        pre = last.apply_op(h)
        out = pre if last.activation == "softmax" else last.post(pre)
        return out, pre, hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for layer in self._layer_list[:-1]:
            h = layer.post(layer.apply_op(h))
        last = self._layer_list[-1]
        h = last.apply_op(h)
        return h if last.activation == "softmax" else last.post(h)

    def forward_layers(
        self,
        x: torch.Tensor,
        layers: Iterable[str] | None = None,
        *,
        quantize: Callable[[str, Quantizer, torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Outputs of the requested layers (all if None) as passed to the next layer.

        ``quantize(name, quantizer, activation)``, if given, replaces the quantizer of every
        quantized layer on the way (e.g. stochastic rounding at analysis time, see
        :func:`nninfo.capture.capture_codes`); its output is what the next layer gets.
        """
        wanted = self.layer_names if layers is None else list(layers)
        for name in wanted:
            self._check_name(name)
        stop = max(self.layer_names.index(n) for n in wanted) if wanted else -1
        out: dict[str, torch.Tensor] = {}
        h = x
        widths = {}
        for name, layer in zip(self.layer_names[: stop + 1], self._layer_list, strict=False):
            h = layer.apply_op(h)
            if quantize is None or layer.quantizer is None:
                h = layer.post(h)
            else:
                h = quantize(name, layer.quantizer, h if layer.act_fn is None else layer.act_fn(h))
            widths[name] = math.prod(h.shape[1:])
            if name in wanted:
                out[name] = h
        if self._widths is None and len(widths) == len(self.layer_names):
            self._widths = widths  # remembered for layer_width() when input_shape is unknown
        return {n: out[n] for n in wanted}

    def _check_name(self, name: str) -> None:
        if name not in self.layers:
            raise ValueError(f"layer: {name!r} is not one of {self.layer_names}")

    def layer_limits(self, name: str) -> tuple[float, float] | None:
        """Value range of a layer's output: the limits of :meth:`layer_quantizer`, else the
        activation's, else None."""
        q = self.layer_quantizer(name)
        if q is not None:
            return (q.lo, q.hi)
        return ACTIVATION_LIMITS.get(self.layers[name].activation)

    def layer_quantizer(self, name: str) -> Quantizer | None:
        """The quantizer whose levels the layer's outputs lie on, or None: the layer's own,
        else, for a layer that only picks or moves its input's values (max-pooling, flatten,
        reshape, with an activation that leaves those levels as they are: identity, hardtanh
        on levels inside [-1, 1], relu on levels >= 0), its input layer's. The published
        autoencoder quantizes its convolutions and analyses the max-pooled maps after them."""
        self._check_name(name)
        i = self.layer_names.index(name)
        layer = self._layer_list[i]
        if layer.quantizer is not None or i == 0 or layer.spec["type"] not in _KEEPS_LEVELS:
            return layer.quantizer
        q = self.layer_quantizer(self.layer_names[i - 1])
        act = layer.activation
        if q is None or act == "identity" or (act == "hardtanh" and -1 <= q.lo and q.hi <= 1) \
                or (act == "relu" and q.lo >= 0):
            return q
        return None

    def layer_width(self, name: str) -> int:
        """Number of units in the layer's output (flattened over all but the batch axis).

        Computed from ``input_shape`` (given, or implied by a linear first layer), else taken
        from the first :meth:`forward_layers` call that ran all layers.
        """
        self._check_name(name)
        if self._widths is None:
            if self.input_shape is None:
                raise ValueError(
                    "input_shape: needed to compute layer widths when the first layer is not "
                    "linear; pass Network(..., input_shape=(C, H, W)) or call forward_layers first"
                )
            p = next(self.parameters(), None)
            x = torch.zeros((2, *self.input_shape), device=None if p is None else p.device)
            was_training = self.training
            self.eval()
            with torch.no_grad():
                outs = self.forward_layers(x)
            self.train(was_training)
            self._widths = {n: math.prod(t.shape[1:]) for n, t in outs.items()}
        return self._widths[name]

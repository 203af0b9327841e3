"""A hand-written training step for plain MLPs on the CPU (numpy on shared buffers).

A small MLP's step in eager PyTorch is almost all per-operation overhead: for the
784-50-10-5-5-5-10 network, autograd, dispatch and ``nn.Module`` calls cost ~2 ms per batch
of 64 while the arithmetic takes ~0.2 ms. For networks made only of linear layers with
elementwise activations and quantizers, :class:`MLPStep` computes the same forward pass,
loss and gradients with numpy on preallocated buffers. The parameters and gradient buffers
share memory with torch tensors, and the update is still torch's fused optimiser kernel
(:class:`~nninfo.training.fused.FusedStep`), so optimiser state, checkpoints and resumption
are those of the autograd path. Quantizer noise is drawn from the global torch RNG in the
same order and amount as the autograd path, so both paths see the same noise; they differ
only by float rounding (numpy's BLAS vs torch's).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from nninfo.nn.network import Network
from nninfo.training.losses import bce_with_logits, output_is_logits

_HIDDEN_ACTS = ("tanh", "sigmoid", "relu", "hardtanh", "identity")
_ACT_MIN = {"tanh": -1.0, "sigmoid": 0.0, "relu": 0.0, "hardtanh": -1.0}  # exact lower bounds


class _Layer:
    """A linear layer's parameters (numpy views of the torch tensors), activation, quantizer."""

    def __init__(self, layer: torch.nn.Module) -> None:
        self.w = layer.op.weight.detach().numpy()  # (out, in), the torch weight's memory
        self.w_t = self.w.T
        self.b = layer.op.bias.detach().numpy()
        self.act: str = layer.activation
        q = layer.quantizer
        self.levels = 0 if q is None else q.levels  # 0: not quantized
        self.stochastic = q is not None and q.mode == "stochastic"
        if q is None:
            return
        inv_step = np.float32(1.0 / q.step)
        self.inv_step, self.step, self.lo = _c(inv_step), _c(q.step), _c(q.lo)
        self.shift = _c(-(np.float32(q.lo) * inv_step))  # so that a = lo maps to exactly 0
        self.top = _c(q.levels - 1)
        floor = _ACT_MIN.get(layer.activation)
        self.clamp_low = floor is None or q.lo > floor  # can a go below the lowest level?


def _c(value: float) -> np.ndarray:
    """A float32 constant as a 0-d array (ufuncs take these faster than scalars)."""
    return np.array(value, dtype=np.float32)


_ZERO, _ONE = _c(0.0), _c(1.0)


def unsupported_reason(net: torch.nn.Module, loss: str, t: Tensor, x: Tensor) -> str | None:
    """Why ``net`` cannot use :class:`MLPStep` (None if it can)."""
    if not isinstance(net, Network):
        return "not a Network"
    params = list(net.parameters())
    if x.device.type != "cpu" or any(p.device.type != "cpu" for p in params):
        return "not on the CPU"
    if x.dtype != torch.float32 or any(p.dtype != torch.float32 for p in params):
        return "not float32"
    specs = net.layer_specs
    if any(s["type"] != "linear" for s in specs):
        return "has layers other than linear"
    if any(s["activation"] not in _HIDDEN_ACTS for s in specs[:-1]):
        return "has a hidden softmax"
    last = specs[-1]
    if last["quantizer"] is not None:
        return "quantized output layer"
    # the losses of nninfo.training.losses that are functions of the logits z (= pre):
    # cross-entropy of an output that is z, BCE with logits, MSE of act(z)
    act, width = last["activation"], last["out_features"]
    if loss == "cross_entropy" and t.dim() == 1 and not t.is_floating_point():
        if output_is_logits(act, quantized=False):
            return None
    if loss == "bce" and t.shape[1:] == (width,) and bce_with_logits(act, quantized=False):
        return None
    if loss == "mse" and t.shape[1:] == (width,) and t.is_floating_point():
        return None
    return f"loss {loss!r} with a {last['activation']} output"


class MLPStep:
    """``step(xb, tb) -> (loss sum, correct sum)``; leaves the gradients in :attr:`grads`.

    ``xb``: (B, in) float32 numpy rows; ``tb``: one-hot (cross-entropy) or float (BCE, MSE)
    targets, (B, out). The returned sums are over the batch, of the per-sample loss (without
    the l1/l2 terms) and of the per-sample accuracy, as
    :class:`~nninfo.training.losses.OutputLoss` defines them.
    Build with :meth:`build`, which returns None for networks it does not cover.
    """

    def __init__(self, net: Network, loss: str, l1: float, l2: float) -> None:
        self.loss, self.l1, self.l2 = loss, l1, l2
        self.last_act = net.output_activation
        self.layers = [_Layer(layer) for layer in net._layer_list]
        # in net.parameters() order (the optimiser's): weight, bias of L1, L2, ...
        self.grads = [torch.empty_like(p, requires_grad=False) for p in net.parameters()]
        self._g = [g.numpy() for g in self.grads]
        self._plans: dict[int, _Plan] = {}

    @classmethod
    def build(cls, net: torch.nn.Module, cfg, t: Tensor, x: Tensor) -> MLPStep | None:
        """An :class:`MLPStep` for ``net`` trained with ``cfg`` on ``(x, t)``, or None."""
        if unsupported_reason(net, cfg.loss, t, x) is not None:
            return None
        return cls(net, cfg.loss, cfg.l1, cfg.l2)

    def targets(self, t: Tensor) -> Tensor:
        """The loop's targets in the form :meth:`__call__` takes (one-hot for class labels)."""
        if self.loss == "cross_entropy":
            return torch.nn.functional.one_hot(t, self.layers[-1].w.shape[0]).float()
        return t

    def _plan(self, batch: int) -> _Plan:
        """Preallocated arrays for a batch size (full batches and the last one)."""
        if batch not in self._plans:
            self._plans[batch] = _Plan(self.layers, batch)
        return self._plans[batch]

    def __call__(self, xb: np.ndarray, tb: np.ndarray) -> tuple[float, float]:
        plan = self._plan(xb.shape[0])
        if plan.noise_len:  # one draw for all stochastic layers: the autograd path's numbers
            torch.rand(plan.noise_len, out=plan.noise_torch)
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite losses: the loop's job
            self._forward(xb, plan)
            loss, correct = self._output_grad(plan, tb)
            self._backward(plan)
        return loss, correct

    def _forward(self, xb: np.ndarray, plan: _Plan) -> None:
        """Run all layers, keeping what the backward pass needs in ``plan``."""
        inputs, dot = plan.inputs, np.dot
        inputs[0] = h = xb
        for i, (s, z, a, d, q, u) in enumerate(plan.forward, 1):
            dot(h, s.w_t, z)
            z += s.b
            h = _activate(s.act, z, a, d)
            if s.levels:
                h = _quantize(s, h, q, u)
            inputs[i] = h
        z = plan.logits
        dot(h, self.layers[-1].w_t, z)
        z += self.layers[-1].b

    def _output_grad(self, plan: _Plan, tb: np.ndarray) -> tuple[float, float]:
        """Loss and accuracy sums; the mean loss's gradient w.r.t. the logits into plan."""
        if self.loss == "cross_entropy":
            return self._cross_entropy(plan, tb)
        return self._bce(plan, tb) if self.loss == "bce" else self._mse(plan, tb)

    def _cross_entropy(self, plan: _Plan, tb: np.ndarray) -> tuple[float, float]:
        z, g = plan.logits, plan.grad_out
        m = z.max(axis=1, keepdims=True)
        np.subtract(z, m, out=g)
        np.exp(g, out=g)
        s = g.sum(axis=1, keepdims=True)
        loss = float(np.log(s).sum() + m.sum() - np.vdot(z, tb))
        correct = float(tb[plan.rows, z.argmax(axis=1)].sum())
        g /= s
        g -= tb
        g *= plan.inv_batch
        return loss, correct

    def _bce(self, plan: _Plan, tb: np.ndarray) -> tuple[float, float]:
        """BCE on the logits z (a sigmoid output layer's sigmoid is part of the loss)."""
        z, g = plan.logits, plan.grad_out
        width = z.shape[1]
        # log(1 + exp(-|z|)) + max(z, 0) - z t, the stable form torch uses
        per = np.logaddexp(0.0, -np.abs(z)) + np.maximum(z, 0.0) - z * tb
        loss = float(per.sum() / width)
        correct = float(((z > 0) == (tb > 0.5)).sum() / width)
        np.negative(z, out=g)
        np.exp(g, out=g)
        g += _ONE
        np.reciprocal(g, out=g)  # sigmoid(z)
        g -= tb
        g *= plan.inv_batch / np.float32(width)
        return loss, correct

    def _mse(self, plan: _Plan, tb: np.ndarray) -> tuple[float, float]:
        """Mean squared error of the output activation (softmax: of the probabilities)."""
        z, g, act = plan.logits, plan.grad_out, self.last_act
        if act == "softmax":
            p = plan.out
            np.subtract(z, z.max(axis=1, keepdims=True), out=p)
            np.exp(p, out=p)
            p /= p.sum(axis=1, keepdims=True)
        else:
            p = _activate(act, z, plan.out, plan.out_d)
        width = z.shape[1]
        np.subtract(p, tb, out=g)
        loss = float(np.vdot(g, g) / width)
        if width == 1:  # one output: right when on the target's side of 0.5
            correct = float(((p > 0.5) == (tb > 0.5)).sum())
        else:
            correct = float((p.argmax(axis=1) == tb.argmax(axis=1)).sum())
        g *= plan.inv_batch * np.float32(2.0 / width)
        if act == "softmax":  # through the softmax's Jacobian: p * (g - <g, p>)
            g -= (g * p).sum(axis=1, keepdims=True)
            g *= p
        elif act != "identity":
            g *= plan.out_d
        return loss, correct

    def _backward(self, plan: _Plan) -> None:
        """Gradients of all weights and biases into :attr:`grads`."""
        g = plan.grad_out
        for i in range(len(self.layers) - 1, -1, -1):
            h = plan.inputs[i]
            np.dot(g.T, h, out=self._g[2 * i])
            np.dot(plan.ones, g, out=self._g[2 * i + 1])
            if i == 0:
                break
            below, gin = plan.forward[i - 1], plan.grads[i - 1]
            np.dot(g, self.layers[i].w, out=gin)
            if self.l1 or self.l2:
                self._regularise(gin, h)
            if below.spec.act != "identity":
                gin *= below.d
            g = gin

    def _regularise(self, g: np.ndarray, h: np.ndarray) -> None:
        """Add the gradient of l1 * mean|h| + l2 * mean(h**2) (straight through the quantizer)."""
        if self.l1:
            g += np.sign(h) * np.float32(self.l1 / h.size)
        if self.l2:
            g += h * np.float32(2.0 * self.l2 / h.size)


class _Hidden(NamedTuple):
    """A hidden layer's spec and arrays: pre-activation, activation, derivative, output, noise."""

    spec: _Layer
    z: np.ndarray
    a: np.ndarray
    d: np.ndarray
    q: np.ndarray
    noise: np.ndarray


class _Plan:
    """Arrays of one batch size: per hidden layer, for the logits and for the gradients."""

    def __init__(self, layers: list[_Layer], batch: int) -> None:
        def new(width: int) -> np.ndarray:
            return np.empty((batch, width), np.float32)

        hidden = layers[:-1]
        widths = [s.w.shape[0] for s in hidden]
        noisy = [w if s.stochastic else 0 for s, w in zip(hidden, widths, strict=True)]
        self.noise_len = batch * sum(noisy)
        self.noise_torch = torch.empty(self.noise_len)
        self.noise = self.noise_torch.numpy()
        ends = np.cumsum([0, *noisy]) * batch
        self.forward = [
            _Hidden(s, new(w), new(w), new(w), new(w), self.noise[e0:e1].reshape(batch, -1))
            for s, w, e0, e1 in zip(hidden, widths, ends[:-1], ends[1:], strict=True)
        ]
        self.grads = [new(w) for w in widths]  # w.r.t. each hidden layer's output
        out = layers[-1].w.shape[0]
        self.logits, self.grad_out = new(out), new(out)
        self.out, self.out_d = new(out), new(out)  # output activation, derivative (MSE)
        self.inputs: list[np.ndarray] = [np.empty(0)] * len(layers)  # each layer's input
        self.ones = np.ones(batch, np.float32)
        self.rows = np.arange(batch)
        self.inv_batch = _c(1.0 / batch)


def _activate(act: str, z: np.ndarray, a: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Activation of ``z`` into ``a``; its derivative (as a function of z) into ``d``."""
    if act == "identity":
        return z
    if act == "tanh":
        np.tanh(z, out=a)
        np.multiply(a, a, out=d)
        np.subtract(_ONE, d, out=d)
    elif act == "sigmoid":
        np.negative(z, out=a)
        np.exp(a, out=a)
        a += _ONE
        np.reciprocal(a, out=a)
        np.subtract(_ONE, a, out=d)
        d *= a
    elif act == "relu":
        np.maximum(z, _ZERO, out=a)
        np.greater(z, _ZERO, out=d)
    else:  # hardtanh: gradient 1 strictly inside (-1, 1), as torch's hardtanh_backward
        np.clip(z, -1.0, 1.0, out=a)
        np.less(np.abs(z), 1.0, out=d)
    return a


def _quantize(s: _Layer, a: np.ndarray, h: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Quantized ``a`` into ``h``: stochastic rounding with ``noise``, or nearest level."""
    np.multiply(a, s.inv_step, out=h)
    h += s.shift
    if s.stochastic:
        h += noise
        np.floor(h, out=h)
    else:
        np.rint(h, out=h)
    # a * (1/step) >= lo * (1/step) = -shift for a >= lo, so h >= 0 from here on
    if s.clamp_low:
        np.maximum(h, _ZERO, out=h)
    np.minimum(h, s.top, out=h)
    h *= s.step
    h += s.lo
    return h

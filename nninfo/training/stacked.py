"""Several seeds of an all-linear network as one model, for training them at once.

:class:`BatchedMLP` stacks the weights of ``len(seeds)`` copies of a :class:`Network` along a
leading seed axis; :func:`~nninfo.training.batched.train_batched` trains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nninfo.nn.network import DEFAULT_INIT, Network, OutputHeadMixin


class _StackedLinear(torch.autograd.Function):
    """``baddbmm(b, x, w^T)`` on seed stacks, with gradients that do not depend on the stack.

    On the CPU, ``bmm`` with a transposed first operand (autograd's weight gradient) picks
    its kernel by the shapes and the number of stacked matrices, so a seed's gradient would
    change with the other seeds in the stack; there the weight gradient is one ``mm`` per
    seed. On a GPU it is one ``bmm`` (cuBLAS: equal up to rounding, whatever the stack).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, w = ctx.saved_tensors
        g = g.contiguous()
        gx = torch.bmm(g, w) if ctx.needs_input_grad[0] else None
        return gx, _weight_grad(g, x), g.sum(1)


def _weight_grad(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``g_s^T x_s`` for every seed s: one ``bmm`` on a GPU, one ``mm`` per seed on the CPU."""
    gt = g.transpose(1, 2)
    if not g.is_cpu:
        return torch.bmm(gt, x)
    # each product into a fresh (aligned) tensor: written into a slice of a stack, the
    # vectorised kernel would round by the slice's alignment, i.e. by the seed's position
    return torch.stack([gs @ xs for gs, xs in zip(gt, x, strict=True)])


class BatchedMLP(OutputHeadMixin, nn.Module):
    """``len(seeds)`` independent copies of an all-linear :class:`Network`, run as one model.

    Weights are stacked along a leading seed axis (``(S, out, in)``, biases ``(S, out)``) and
    applied with ``torch.baddbmm`` (see :class:`_StackedLinear`) to inputs of shape
    ``(S, batch, in)``; copy ``i`` starts from exactly the weights of
    ``Network(layers, seed=seeds[i], init=init)``. Small MLPs are dominated by per-operation
    overhead, so S seeds cost about as much as one. Stochastic quantizer noise is passed in
    per layer (see :meth:`draw_noise`), so that every copy can have its own RNG stream.
    :meth:`network_state` gives one copy's weights as a ``Network`` state dict.
    """

    def __init__(
        self, layers: list[dict[str, Any]], seeds: list[int], init: str = DEFAULT_INIT
    ) -> None:
        super().__init__()
        if not isinstance(seeds, list | tuple) or not seeds:
            raise ValueError(f"seeds: {seeds!r} is not a non-empty list of integers")
        nets = [Network(layers, seed=s, init=init) for s in seeds]
        specs = nets[0].layer_specs
        bad = [
            f"{n} ({s['type']})"
            for n, s in zip(nets[0].layer_names, specs, strict=True)
            if s["type"] != "linear"
        ]
        if bad:
            raise ValueError(
                f"layers: several seeds at once (BatchedMLP) support linear layers only "
                f"(no dropout, conv, pooling, ...); not linear: {bad}"
            )
        self.seeds = list(seeds)
        self.layer_names = nets[0].layer_names
        self.layer_specs = specs
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for name in self.layer_names:
            ops = [net.layers[name].op for net in nets]
            self.weights.append(nn.Parameter(torch.stack([op.weight.detach() for op in ops])))
            self.biases.append(nn.Parameter(torch.stack([op.bias.detach() for op in ops])))
        # activation + quantizer of each layer, without the per-seed weights
        self.posts = nn.ModuleList(nets[0].layers[n] for n in self.layer_names)
        for layer in self.posts:
            layer.op = nn.Identity()

    def _noisy(self, k: int) -> bool:
        """Whether layer ``k``'s quantizer draws noise in the training pass."""
        q = self.posts[k].quantizer
        last_logits = k == len(self.posts) - 1 and self.posts[k].activation == "softmax"
        return q is not None and q.stochastic and not last_logits

    def noise_widths(self) -> list[int]:
        """Per layer, its width if its quantizer draws noise in the training pass, else 0."""
        return [s["out_features"] if self._noisy(k) else 0 for k, s in enumerate(self.layer_specs)]

    def draw_noise(
        self, generators: list[torch.Generator], batch: int
    ) -> list[torch.Tensor | None]:
        """Quantizer noise of one training pass, per layer ``(S, batch, width)`` or None.

        Copy ``i`` draws from ``generators[i]`` exactly the numbers a single ``Network`` draws
        from the global RNG in its training pass (``rand_like`` per noisy layer, in order).
        On CPU the draws of all layers are one ``uniform_`` per copy (the Mersenne twister
        stream is sequential, one number per element); elsewhere one per copy and layer.
        """
        if len(generators) != len(self.seeds):
            raise ValueError(f"generators: {len(generators)} given, need {len(self.seeds)}")
        widths = self.noise_widths()
        if not any(widths):
            return [None] * len(widths)
        w = self.weights[0]
        if w.device.type != "cpu":
            return [None if not n else self._per_layer_noise(generators, batch, n) for n in widths]
        buf = torch.empty(len(self.seeds), batch * sum(widths), dtype=w.dtype)
        for row, g in zip(buf, generators, strict=True):
            row.uniform_(generator=g)
        out, start = [], 0
        for n in widths:
            out.append(buf[:, start : start + batch * n].view(-1, batch, n) if n else None)
            start += batch * n
        return out

    def _per_layer_noise(self, gens: list[torch.Generator], batch: int, n: int) -> torch.Tensor:
        w = self.weights[0]
        u = torch.empty(len(gens), batch, n, dtype=w.dtype, device=w.device)
        for row, g in zip(u, gens, strict=True):
            row.uniform_(generator=g)
        return u

    def forward_parts(
        self, x: torch.Tensor, noise: list[torch.Tensor | None] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Training pass on ``(S, batch, in)``: (output, last pre-activation, hidden outputs).

        ``noise``: from :meth:`draw_noise`; without it stochastic quantizers use the global RNG.
        """
        hidden = []
        h = x
        k = len(self.posts) - 1
        noise = noise or [None] * (k + 1)
        for j in range(k):
            pre = _StackedLinear.apply(h, self.weights[j], self.biases[j])
            h = self.posts[j].post(pre, noise[j])
            hidden.append(h)
        last = self.posts[k]
        pre = _StackedLinear.apply(h, self.weights[k], self.biases[k])
        out = pre if last.activation == "softmax" else last.post(pre, noise[k])
        return out, pre, hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_parts(x)[0]

    def network_state(self, i: int) -> dict[str, torch.Tensor]:
        """State dict of copy ``i`` for ``Network(layers)`` (CPU copies)."""
        state = {}
        for name, w, b in zip(self.layer_names, self.weights, self.biases, strict=True):
            state[f"layers.{name}.op.weight"] = w[i].detach().cpu().clone()
            state[f"layers.{name}.op.bias"] = b[i].detach().cpu().clone()
        return state

    def load_network_state(self, i: int, state: Mapping[str, torch.Tensor]) -> None:
        """Set copy ``i`` from a ``Network`` state dict."""
        with torch.no_grad():
            for name, w, b in zip(self.layer_names, self.weights, self.biases, strict=True):
                w[i].copy_(state[f"layers.{name}.op.weight"])
                b[i].copy_(state[f"layers.{name}.op.bias"])

    def layer_width(self, name: str) -> int:
        """Number of units of a layer."""
        return self.layer_specs[self.layer_names.index(name)]["out_features"]

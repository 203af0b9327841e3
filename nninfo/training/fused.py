"""``optimizer.step()`` for fused SGD / Adam without its per-call Python bookkeeping.

Small networks spend most of a training step in per-call overhead; ``torch.optim``'s ``step``
and ``zero_grad`` alone cost about as much as the model's forward pass. :class:`FusedStep`
takes the gradients (from ``torch.autograd.grad``, so no ``.grad`` fields to zero) and calls
the same ``torch._fused_sgd_`` / ``torch._fused_adam_`` kernels that ``step`` would, on the
optimiser's own state, so results are bit-identical and ``state_dict`` stays valid.
These kernels are private torch API: where the installed torch lacks the one it would call,
or the kernel rejects its arguments at the first step (a changed signature), :class:`FusedStep`
falls back to ``opt.step()`` (same results, only slower; a rejected call warns once);
``tests/test_private_torch.py`` fails, naming the kernel, when a torch upgrade changes them.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor


class FusedStep:
    """Callable ``step(grads)`` equivalent to setting ``p.grad`` and calling ``opt.step()``.

    ``split=True`` (parameters stacked along a leading seed axis): the kernels get one tensor
    per seed slice, so each seed is updated exactly as a lone tensor of the slice's shape
    would be (the vectorised kernels round a tensor's tail differently from its body).
    """

    def __init__(self, opt: torch.optim.Optimizer, split: bool = False) -> None:
        if len(opt.param_groups) != 1:
            raise ValueError(f"optimizer: {len(opt.param_groups)} param groups; need 1")
        self.opt = opt
        self.group = opt.param_groups[0]
        self.params: list[Tensor] = list(self.group["params"])
        self.split = split
        self._slices = [t for p in self.params for t in p.detach().unbind(0)] if split else []
        g = self.group
        fused = g.get("fused") and not g.get("differentiable") and not g.get("capturable")
        plain_adam = not g.get("amsgrad") and not g.get("decoupled_weight_decay")
        # private kernels, maybe absent from another torch version: then opt.step()
        sgd_ok = fused and hasattr(torch, "_fused_sgd_")
        adam_ok = fused and plain_adam and hasattr(torch, "_fused_adam_")
        if sgd_ok and isinstance(opt, torch.optim.SGD):
            self.kind, self._kernel = "sgd", torch._fused_sgd_
        elif adam_ok and type(opt) is torch.optim.Adam:
            self.kind, self._kernel = "adam", torch._fused_adam_
        else:
            self.kind, self._kernel = "generic", None
        self._tried = self.kind == "generic"  # whether the kernel has run once

    def __call__(self, grads: list[Tensor] | tuple[Tensor, ...]) -> None:
        # the fused kernels walk memory linearly: a gradient must have its parameter's strides
        # (autograd.grad may return e.g. a transposed view, which .grad accumulation would copy)
        self.apply(
            [
                g if g.stride() == p.stride() else torch.empty_like(p).copy_(g)
                for p, g in zip(self.params, grads, strict=True)
            ]
        )

    def apply(self, grads: list[Tensor]) -> None:
        """The update, for gradients that already have their parameters' strides."""
        if self.kind == "generic":
            self._generic(grads)
        elif not self._tried:
            self._first(grads)
        elif self.kind == "sgd":
            self._sgd(grads)
        else:
            self._adam(grads)

    def _first(self, grads: list[Tensor]) -> None:
        """The first update with the private kernel; if the kernel rejects its arguments (a
        torch whose kernel changed), warn once and take ``opt.step()`` from now on."""
        try:
            self._sgd(grads) if self.kind == "sgd" else self._adam(grads)
        except (TypeError, RuntimeError) as err:
            name = "_fused_sgd_" if self.kind == "sgd" else "_fused_adam_"
            warnings.warn(
                f"torch.{name} (private) rejected FusedStep's arguments in torch "
                f"{torch.__version__} ({err}); using opt.step() instead (same results, "
                "slower). Update nninfo.training.fused for this torch version.",
                RuntimeWarning,
                stacklevel=3,
            )
            self.kind, self._kernel = "generic", None
            self._generic(grads)
        self._tried = True

    def _generic(self, grads: list[Tensor]) -> None:
        for p, grad in zip(self.params, grads, strict=True):
            p.grad = grad
        self.opt.step()
        for p in self.params:
            p.grad = None

    def _parts(self, tensors: list[Tensor]) -> list[Tensor]:
        """Per-seed slices of stacked tensors (``split``), else the tensors."""
        return [t for x in tensors for t in x.unbind(0)] if self.split else tensors

    def _params(self) -> list[Tensor]:
        return self._slices if self.split else self.params

    def _repeat(self, tensors: list[Tensor]) -> list[Tensor]:
        """One entry per slice of each stacked parameter (shared per-parameter scalars)."""
        if not self.split:
            return tensors
        return [t for t, p in zip(tensors, self.params, strict=True) for _ in range(len(p))]

    def _sgd(self, grads: list[Tensor]) -> None:
        g, state = self.group, self.opt.state
        bufs: list[Tensor] = []
        first = False
        if g["momentum"] != 0:
            found = [state[p].get("momentum_buffer") for p in self.params]
            first = all(b is None for b in found)
            bufs = [torch.empty_like(x) for x in grads] if first else found
        self._kernel(
            self._params(),
            self._parts(grads),
            self._parts(bufs),
            weight_decay=g["weight_decay"],
            momentum=g["momentum"],
            lr=g["lr"],
            dampening=g["dampening"],
            nesterov=g["nesterov"],
            maximize=g["maximize"],
            is_first_step=first,
            grad_scale=None,
            found_inf=None,
        )
        if first:
            for p, b in zip(self.params, bufs, strict=True):
                state[p]["momentum_buffer"] = b

    def _adam(self, grads: list[Tensor]) -> None:
        g, state = self.group, self.opt.state
        states = [state[p] for p in self.params]
        for p, s in zip(self.params, states, strict=True):
            if not s:  # as torch.optim.Adam initialises a fused group's state
                s["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                s["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                s["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = g["betas"]
        try:
            self._kernel(
                self._params(),
                self._parts(grads),
                self._parts([s["exp_avg"] for s in states]),
                self._parts([s["exp_avg_sq"] for s in states]),
                [],
                self._repeat(steps),
                amsgrad=False,
                lr=g["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=g["weight_decay"],
                eps=g["eps"],
                maximize=g["maximize"],
                grad_scale=None,
                found_inf=None,
            )
        except BaseException:
            torch._foreach_sub_(steps, 1)  # the step did not happen (opt.step() counts it)
            raise

"""The private torch kernels that nninfo.training.fused.FusedStep calls.

``torch._fused_sgd_`` and ``torch._fused_adam_`` are not public API; a torch upgrade may rename
or drop them, or change their arguments. FusedStep then falls back to ``opt.step()`` (correct,
slower). These tests say so loudly, naming the kernel and the torch version.
"""

import pytest
import torch

from nninfo.training.fused import FusedStep

KERNELS = ["_fused_sgd_", "_fused_adam_"]


def tensors(seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    params, grads = ([torch.randn(s, generator=g) for s in [(3, 4), (4,)]] for _ in range(2))
    return params, grads


def reference(opt_cls, params, grads, **kw) -> list[torch.Tensor]:
    """``params`` after one step of torch.optim's fused optimiser."""
    ps = [p.clone().requires_grad_() for p in params]
    opt = opt_cls(ps, fused=True, **kw)
    for p, g in zip(ps, grads, strict=True):
        p.grad = g.clone()
    opt.step()
    return [p.detach() for p in ps]


def call_sgd(params, grads) -> None:
    torch._fused_sgd_(
        params,
        grads,
        [],
        weight_decay=0.0,
        momentum=0.0,
        lr=0.1,
        dampening=0.0,
        nesterov=False,
        maximize=False,
        is_first_step=False,
        grad_scale=None,
        found_inf=None,
    )


def call_adam(params, grads) -> None:
    steps = [torch.ones(()) for _ in params]  # the step count after torch.optim's increment
    torch._fused_adam_(
        params,
        grads,
        [torch.zeros_like(p) for p in params],
        [torch.zeros_like(p) for p in params],
        [],
        steps,
        amsgrad=False,
        lr=0.01,
        beta1=0.9,
        beta2=0.999,
        weight_decay=0.0,
        eps=1e-8,
        maximize=False,
        grad_scale=None,
        found_inf=None,
    )


CASES = {
    "_fused_sgd_": (call_sgd, torch.optim.SGD, {"lr": 0.1}),
    "_fused_adam_": (call_adam, torch.optim.Adam, {"lr": 0.01}),
}


@pytest.mark.parametrize("name", KERNELS)
def test_private_fused_kernel_exists_and_equals_torch_optim(name):
    where = f"torch {torch.__version__}"
    assert hasattr(torch, name), (
        f"torch.{name} is missing in {where}: nninfo.training.fused.FusedStep falls back to "
        "opt.step() (correct, slower); update FusedStep for this torch version"
    )
    call, opt_cls, kw = CASES[name]
    params, grads = tensors(0)
    expected = reference(opt_cls, params, grads, **kw)
    try:
        call(params, grads)
    except Exception as err:  # e.g. a changed signature
        pytest.fail(f"torch.{name} in {where} no longer takes FusedStep's arguments: {err!r}")
    for got, want in zip(params, expected, strict=True):
        assert torch.equal(got, want), (
            f"torch.{name} in {where} differs from {opt_cls.__name__}(fused=True).step()"
        )


@pytest.mark.parametrize("name", KERNELS)
def test_fused_step_falls_back_without_the_kernel(name, monkeypatch):
    _, opt_cls, kw = CASES[name]
    params, grads = tensors(1)
    expected = reference(opt_cls, params, grads, **kw)
    ps = [p.clone().requires_grad_() for p in params]
    with monkeypatch.context() as m:
        m.delattr(torch, name)
        step = FusedStep(opt_cls(ps, fused=True, **kw))
    assert step.kind == "generic"
    # the fallback is opt.step(); this torch's fused opt.step() itself needs the kernel, so
    # the step runs with it restored
    step(grads)
    for got, want in zip(ps, expected, strict=True):
        assert torch.equal(got.detach(), want)

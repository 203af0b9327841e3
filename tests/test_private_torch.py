"""The private torch kernels that nninfo.training.fused.FusedStep calls.

``torch._fused_sgd_`` and ``torch._fused_adam_`` are not public API; a torch upgrade may rename
or drop them, or change their arguments. FusedStep then falls back to ``opt.step()`` (correct,
slower). These tests say so loudly, naming the kernel and the torch version.
"""

import warnings

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


def changed_signature(params, grads, *buffers, renamed_argument, **kwargs):
    """A kernel whose signature changed: FusedStep's call lacks ``renamed_argument``."""
    raise AssertionError("a call without renamed_argument never gets here")


FALLBACK_KW = {"_fused_sgd_": {"lr": 0.1, "momentum": 0.9}, "_fused_adam_": {"lr": 0.01}}


def built_with(name, kernel, monkeypatch):
    """``FusedStep(opt)`` made while ``torch.<name>`` is ``kernel`` (None: absent). Afterwards
    torch.optim's own fused ``step`` has the real kernel again, as after a torch upgrade that
    changed the kernel and torch.optim with it."""

    def build(opt, **kw):
        with monkeypatch.context() as m:
            if kernel is None:
                m.delattr(torch, name)
            else:
                m.setattr(torch, name, kernel)
            return FusedStep(opt, **kw)

    return build


@pytest.mark.parametrize("name", KERNELS)
def test_fused_step_falls_back_once_when_the_kernel_rejects_its_arguments(name, monkeypatch):
    _, opt_cls, _ = CASES[name]
    kw = FALLBACK_KW[name]
    params, grads = tensors(2)
    ps = [p.clone().requires_grad_() for p in params]
    ref = [p.clone().requires_grad_() for p in params]
    ref_opt = opt_cls(ref, fused=True, **kw)
    step = built_with(name, changed_signature, monkeypatch)(opt_cls(ps, fused=True, **kw))
    assert step.kind != "generic"  # the kernel is there; only calling it shows the change
    with pytest.warns(RuntimeWarning, match=rf"torch\.{name} .*rejected"):
        step(grads)
    assert step.kind == "generic"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning, not one per step
        step([2 * g for g in grads])
    for gs in (grads, [2 * g for g in grads]):
        for p, g in zip(ref, gs, strict=True):
            p.grad = g.clone()
        ref_opt.step()
    for got, want in zip(ps, ref, strict=True):
        assert torch.equal(got.detach(), want.detach())
    assert all(
        torch.equal(a, b)
        for p, q in zip(ps, ref, strict=True)
        for a, b in zip(step.opt.state[p].values(), ref_opt.state[q].values(), strict=True)
    )


@pytest.mark.parametrize("path", ["numpy", "autograd"])
@pytest.mark.parametrize("name", KERNELS)
def test_training_with_a_changed_kernel_runs_as_the_fallback_does(name, path, monkeypatch):
    from nninfo.nn import Network
    from nninfo.training import TrainConfig, train_network
    from nninfo.training import loop as loop_module

    layers = [
        {"type": "linear", "in_features": 6, "out_features": 5, "activation": "tanh",
         "quantizer": {"levels": 8}},
        {"type": "linear", "in_features": 5, "out_features": 3, "activation": "softmax"},
    ]
    g = torch.Generator().manual_seed(3)
    x = torch.randn(90, 6, generator=g)
    y = torch.randint(0, 3, (90,), generator=g)
    cfg = TrainConfig(optimizer="sgd" if name == "_fused_sgd_" else "adam", lr=0.05,
                      momentum=0.9, batch_size=16, epochs=3, checkpoint_count=4)

    def run(build):
        if build is not None:
            monkeypatch.setattr(loop_module, "FusedStep", build)
        ckpts, metrics = [], []
        train_network(Network(layers, seed=1), x, y, cfg, seed=1, on_checkpoint=ckpts.append,
                      on_metrics=lambda m, s: metrics.append(m), device="cpu", path=path)
        monkeypatch.setattr(loop_module, "FusedStep", FusedStep)
        return ckpts, metrics

    with pytest.warns(RuntimeWarning, match="rejected"):
        changed = run(built_with(name, changed_signature, monkeypatch))
    fallback = run(built_with(name, None, monkeypatch))  # no kernel: opt.step() throughout
    fused = run(None)
    for other in (fallback, fused):
        assert changed[1] == other[1]
        for a, b in zip(changed[0], other[0], strict=True):
            assert a.step == b.step
            assert all(torch.equal(v, b.model_state[k]) for k, v in a.model_state.items())

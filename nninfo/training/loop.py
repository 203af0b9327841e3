"""The training loop: resident tensors, per-epoch permutations, scheduled checkpoints.

Reads top to bottom: set up (device, targets, optimiser, RNGs), then for each epoch draw a
permutation from the loop's own generator, permute the data once and step through contiguous
slices; save a :class:`Checkpoint` at the scheduled steps and report metrics per epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from torch import Tensor

from nninfo.nn.network import BatchedMLP, Network
from nninfo.training.checkpoint import Checkpoint
from nninfo.training.fused import FusedStep
from nninfo.training.mlp_step import MLPStep, unsupported_reason
from nninfo.training.schedule import SCHEDULES, checkpoint_steps, total_steps

OPTIMIZERS = ("sgd", "adam")
LOSSES = ("cross_entropy", "bce", "mse")
PREPERMUTE_MAX = 2**22  # input elements up to which an epoch's data is permuted in one copy


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (validated on construction)."""

    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    loss: str = "cross_entropy"
    batch_size: int = 64
    epochs: float = 1.0
    shuffle: bool = True
    l1: float = 0.0  # weight of mean |activation| summed over hidden layers
    l2: float = 0.0  # weight of mean activation**2 summed over hidden layers
    checkpoint_schedule: str = "log"
    checkpoint_count: int = 20

    def __post_init__(self) -> None:
        for name, allowed in (
            ("optimizer", OPTIMIZERS),
            ("loss", LOSSES),
            ("checkpoint_schedule", SCHEDULES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: {getattr(self, name)!r} is not one of {list(allowed)}")
        for name, low in (("batch_size", 1), ("checkpoint_count", 2)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name}: {v!r} is not an integer >= {low}")
        for name in ("lr", "epochs", "momentum", "l1", "l2"):
            v = getattr(self, name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            positive = name in ("lr", "epochs")
            if not ok or (v <= 0 if positive else v < 0):
                need = "a positive number" if positive else "a number >= 0"
                raise ValueError(f"{name}: {v!r} is not {need}")
        if not isinstance(self.shuffle, bool):
            raise ValueError(f"shuffle: {self.shuffle!r} is not a bool")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a plain dict, refusing unknown keys."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"training: unknown keys {unknown}; allowed: {names}")
        return cls(**d)


def _seeds(seed: int) -> tuple[int, int, int]:
    """Independent (init, shuffle, noise) seeds derived from one run seed."""
    a, b, c = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
    return int(a >> 1), int(b >> 1), int(c >> 1)


def _targets(net: Network | BatchedMLP, y: torch.Tensor, loss: str) -> tuple[torch.Tensor, bool]:
    """Targets in the form the loss wants, and whether accuracy is defined for them."""
    if loss == "cross_entropy":
        if y.is_floating_point():
            return y.float(), False
        return y.long(), True
    labels = not y.is_floating_point()
    if loss == "mse" and labels and y.dim() == 1 and net.layer_width(net.layer_names[-1]) > 1:
        return F.one_hot(y.long(), net.layer_width(net.layer_names[-1])).float(), True
    t = y.float()
    return (t[:, None] if t.dim() == 1 else t), loss == "bce" or labels


def _loss_fn(net: Network | BatchedMLP, cfg: TrainConfig) -> Callable[..., tuple[Tensor, Tensor]]:
    """``f(out, pre, target) -> (loss, correct)`` per sample (shape ``out.shape[:-1]``)."""
    act, quantized = net.output_activation, net.output_quantized

    def per_sample(fn: Callable[..., Tensor], a: Tensor, t: Tensor) -> Tensor:
        return last_mean(fn(a, t, reduction="none"))

    def last_mean(v: Tensor) -> Tensor:  # mean over outputs; a view for a single output
        return v.squeeze(-1) if v.shape[-1] == 1 else v.mean(-1)

    if cfg.loss == "cross_entropy":

        def cross_entropy(out: Tensor, pre: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
            c = out.shape[-1]
            flat_t = t.reshape(-1, c) if t.is_floating_point() else t.reshape(-1)
            loss = F.cross_entropy(out.reshape(-1, c), flat_t, reduction="none")
            labels = t.argmax(-1) if t.is_floating_point() else t
            return loss.view(out.shape[:-1]), out.argmax(-1) == labels

        return cross_entropy
    if cfg.loss == "bce":
        logits = act in ("identity", "softmax") or (act == "sigmoid" and not quantized)
        if not logits and act != "sigmoid":
            raise ValueError(f"loss: 'bce' needs a sigmoid or identity output layer, not {act!r}")

        def bce(out: Tensor, pre: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
            if logits:
                z = pre if act == "sigmoid" else out
                loss = per_sample(F.binary_cross_entropy_with_logits, z, t)
                return loss, last_mean(((z > 0) == (t > 0.5)).to(z.dtype))
            loss = per_sample(F.binary_cross_entropy, out.clamp(1e-7, 1 - 1e-7), t)
            return loss, last_mean(((out > 0.5) == (t > 0.5)).to(out.dtype))

        return bce

    def mse(out: Tensor, pre: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        p = torch.softmax(out, dim=-1) if act == "softmax" else out
        return per_sample(F.mse_loss, p, t), p.argmax(-1) == t.argmax(-1)

    return mse


def _optimizer(net: Network | BatchedMLP, cfg: TrainConfig) -> torch.optim.Optimizer:
    # fused kernels: one op per step instead of a Python loop over parameters
    fused = all(p.device.type in ("cpu", "cuda") for p in net.parameters())
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, fused=fused)
    return torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=fused)


def train(
    net: Network,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    *,
    seed: int,
    on_checkpoint: Callable[[Checkpoint], None],
    on_metrics: Callable[[dict, int], None] | None = None,
    device: str | torch.device | None = None,
    resume_from: Checkpoint | None = None,
    progress: bool = False,
) -> Checkpoint:
    """Train ``net`` on ``(x, y)``; call ``on_checkpoint`` at the scheduled steps.

    ``seed`` drives initialisation (only if the net was built without a seed), shuffling and
    the global torch RNG (quantiser noise, dropout; note: this reseeds the global RNG).
    With ``resume_from`` the run continues exactly as the uninterrupted run would.
    ``on_metrics(metrics, step)`` gets per-epoch train loss
    (without the l1/l2 terms) and accuracy, running averages over the epoch's batches (keys
    ``epoch``, ``train_loss``, ``train_accuracy``; no accuracy for float targets with
    cross-entropy or mse). Returns the last checkpoint. Raises
    :class:`NonFiniteLossError` (naming the epoch) when the loss becomes NaN or infinite;
    the check runs at epoch ends and checkpoints, so no non-finite checkpoint is emitted.
    After each ``on_checkpoint`` call the global RNG and train mode are restored, so callbacks
    cannot perturb the run. Device: ``device`` or CUDA when available, else CPU. On the
    CPU, plain MLPs train with the hand-written numpy step of
    :mod:`nninfo.training.mlp_step` (same numbers up to float rounding), with torch and
    numpy's BLAS on one thread each for the duration of the loop.
    """
    device = _device(device)
    init_seed, shuffle_seed, noise_seed = _seeds(seed)
    net.to(device)
    x = (x if x.is_floating_point() else x.float()).to(device)
    t, has_acc = _targets(net, y.to(device), cfg.loss)
    loss_fn, opt = _loss_fn(net, cfg), _optimizer(net, cfg)
    opt_step = FusedStep(opt)
    n, bs = len(x), cfg.batch_size
    spe = math.ceil(n / bs)
    last = total_steps(cfg.epochs, spe)
    ckpt_steps = set(
        checkpoint_steps(cfg.checkpoint_schedule, cfg.checkpoint_count, cfg.epochs, spe)
    )
    gen = torch.Generator().manual_seed(shuffle_seed)
    loss_sum = torch.zeros((), dtype=x.dtype, device=device)  # running sums of the epoch
    correct_sum = torch.zeros((), dtype=x.dtype, device=device)
    count = 0
    metrics: dict[str, float] = {}
    if resume_from is None:
        if getattr(net, "seed", 0) is None:
            net.reset_parameters(init_seed)
        torch.manual_seed(noise_seed)
        step = 0
    else:
        net.load_state_dict(resume_from.model_state)
        opt.load_state_dict(resume_from.optimizer_state)
        gen.set_state(resume_from.generator_state)
        resume_from.restore_rng()
        step, metrics, latest = resume_from.step, dict(resume_from.metrics), resume_from
        if resume_from.epoch_sums:
            loss_sum += resume_from.epoch_sums[0]
            correct_sum += resume_from.epoch_sums[1]
            count = int(resume_from.epoch_sums[2])
    epoch_state = gen.get_state()
    regularise = cfg.l1 > 0 or cfg.l2 > 0
    net.train()

    def end_epoch() -> dict[str, float]:
        nonlocal count
        if not math.isfinite(loss_sum.item()):
            _raise_non_finite(step, spe, cfg)
        m = {"epoch": step / spe, "train_loss": loss_sum.item() / count}
        if has_acc:
            m["train_accuracy"] = correct_sum.item() / count
        loss_sum.zero_(), correct_sum.zero_()
        count = 0
        if on_metrics is not None:
            on_metrics(m, step)
        return m

    def checkpoint() -> Checkpoint:
        if not math.isfinite(loss_sum.item()):
            _raise_non_finite(step, spe, cfg)
        state = gen.get_state() if step % spe == 0 else epoch_state
        ck = Checkpoint.capture(
            step=step,
            epoch=step / spe,
            model=net,
            optimizer=opt,
            generator_state=state,
            seed=seed,
            metrics=metrics,
            epoch_sums=[loss_sum.item(), correct_sum.item(), count],
        )
        on_checkpoint(ck)
        ck.restore_rng()  # the callback may use the global RNG or switch to eval mode
        net.train()
        return ck

    def autograd_step(xb: Tensor, tb: Tensor) -> None:
        out, pre, hidden = net._run(xb)
        losses, correct = loss_fn(out, pre, tb)
        loss = data_loss = losses.mean()
        if regularise:
            loss = loss + sum(cfg.l1 * h.abs().mean() + cfg.l2 * h.square().mean() for h in hidden)
        opt_step(torch.autograd.grad(loss, opt_step.params))
        loss_sum.add_(data_loss.detach(), alpha=tb.shape[0])
        correct_sum.add_(correct.sum())

    mlp = MLPStep.build(net, cfg, t, x)  # plain MLPs on the CPU: hand-written backward
    if mlp is not None:
        t = mlp.targets(t)
        sums = (loss_sum.numpy(), correct_sum.numpy())  # the CPU tensors' memory

        def mlp_step(xb: Tensor, tb: Tensor) -> None:
            batch_loss, batch_correct = mlp(xb.numpy(), tb.numpy())
            opt_step.apply(mlp.grads)  # made with empty_like: the parameters' strides
            sums[0][...] += batch_loss
            sums[1][...] += batch_correct

    batch_step = autograd_step if mlp is None else mlp_step
    if resume_from is None:
        latest = checkpoint()
    bar = _progress(progress, last, step)
    with _one_thread() if mlp is not None else nullcontext():
        while step < last:
            epoch, first = divmod(step, spe)
            epoch_state = gen.get_state()
            order = torch.randperm(n, generator=gen).to(device) if cfg.shuffle else None
            for xb, tb in _batches(x, t, order, bs, first, min(spe, last - epoch * spe)):
                batch_step(xb, tb)
                count += tb.shape[0]
                step += 1
                if step % spe == 0 or step == last:
                    metrics = end_epoch()
                if step in ckpt_steps:
                    latest = checkpoint()
            if bar is not None:
                bar.update(step - bar.n)
    if bar is not None:
        bar.close()
    return latest


def uses_numpy_step(
    net: Network, x: Tensor, y: Tensor, cfg: TrainConfig, device: str | torch.device | None
) -> bool:
    """Whether :func:`train` would train ``net`` with the hand-written numpy step (CPU)."""
    if _device(device).type != "cpu":
        return False
    x = x if x.is_floating_point() else x.float()
    return unsupported_reason(net, cfg.loss, _targets(net, y, cfg.loss)[0], x) is None


def _device(device: str | torch.device | None) -> torch.device:
    """``device``, else CUDA when available, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _batches(
    x: Tensor, t: Tensor, order: Tensor | None, bs: int, first: int, stop: int
) -> Iterator[tuple[Tensor, Tensor]]:
    """Batches ``first .. stop-1`` of an epoch whose rows come in ``order`` (None: as stored).

    Small data is permuted in one copy and sliced; large data is gathered batch by batch
    into two reused buffers (a fresh allocation per batch costs page faults).
    """
    if order is not None and x.numel() <= PREPERMUTE_MAX:
        x, t, order = x.index_select(0, order), t.index_select(0, order), None
    if order is None:
        for b in range(first, stop):
            yield x[b * bs : (b + 1) * bs], t[b * bs : (b + 1) * bs]
        return
    xb, tb = x.new_empty((bs, *x.shape[1:])), t.new_empty((bs, *t.shape[1:]))
    for b in range(first, stop):
        rows = order[b * bs : (b + 1) * bs]  # index_select: much faster than x[rows]
        n = rows.shape[0]
        yield (
            torch.index_select(x, 0, rows, out=xb[:n]),
            torch.index_select(t, 0, rows, out=tb[:n]),
        )


@contextmanager
def _one_thread() -> Iterator[None]:
    """torch and numpy's BLAS on one thread each, for the small operations of MLPStep.

    They gain nothing from more threads, and idle threads that spin waiting for work (both
    OpenMP's and OpenBLAS's do) compete for the cores: on 2 cores, with 2 threads each, the
    MNIST MLP's step took several times as long.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)


def _raise_non_finite(
    step: int, spe: int, cfg: TrainConfig, seeds: list[int] | None = None
) -> None:
    epoch = (step - 1) // spe + 1
    which = "" if seeds is None else f" for seed{'s' if len(seeds) > 1 else ''} {seeds}"
    raise NonFiniteLossError(
        f"training loss became non-finite{which} in epoch {epoch} (at or before step {step}, "
        f"epoch {step / spe:g}); lower lr (now {cfg.lr}) or check the inputs for NaN/inf"
    )


def _progress(enabled: bool, total: int, start: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, unit="step", desc="training")

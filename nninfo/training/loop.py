"""The training loop: resident tensors, per-epoch permutations, scheduled checkpoints.

Reads top to bottom: set up (device, targets, optimiser, RNGs), then for each epoch draw a
permutation from the loop's own generator, permute the data once and step through contiguous
slices; save a :class:`Checkpoint` at the scheduled steps and report metrics per epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext

import torch
from torch import Tensor

from nninfo.nn.network import Network
from nninfo.training.checkpoint import Checkpoint
from nninfo.training.common import (
    PREPERMUTE_MAX,
    EpochSums,
    LiveRun,
    Progress,
    StepPlan,
    init_shuffle_noise_seeds,
    make_optimizer,
    one_thread,
    progress_callback,
    resolve_device,
)
from nninfo.training.config import TrainConfig
from nninfo.training.fused import FusedStep
from nninfo.training.losses import OutputLoss
from nninfo.training.mlp_step import MLPStep
from nninfo.training.step_choice import AUTOGRAD, NUMPY, choose_step


class _Run(LiveRun):
    """A live single-seed run: its generator and metrics; checkpoints and epoch ends.

    ``epoch_state`` is the shuffling generator's state at the start of the current epoch
    (what a mid-epoch checkpoint saves, so that a resumed run redraws the permutation).
    """

    def __init__(
        self,
        net: Network,
        opt: torch.optim.Optimizer,
        gen: torch.Generator,
        plan: StepPlan,
        sums: EpochSums,
        cfg: TrainConfig,
        seed: int,
        accuracy: bool,
        on_checkpoint: Callable[[Checkpoint], None],
        on_metrics: Callable[[dict, int], None] | None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(plan, sums, cfg, progress)
        self.net, self.opt, self.gen, self.seed, self.accuracy = net, opt, gen, seed, accuracy
        self.on_checkpoint, self.on_metrics = on_checkpoint, on_metrics
        self.metrics: dict[str, float] = {}
        self.epoch_state = gen.get_state()
        self.latest: Checkpoint | None = None

    def resume(self, ck: Checkpoint) -> None:
        """Continue from ``ck``: weights, optimiser, generators, epoch sums and metrics."""
        self.net.load_state_dict(ck.model_state)
        self.opt.load_state_dict(ck.optimizer_state)
        self.gen.set_state(ck.generator_state)
        self.epoch_state = self.gen.get_state()
        ck.restore_rng()
        self.step, self.metrics, self.latest = ck.step, dict(ck.metrics), ck
        self.sums.load(0, ck.epoch_sums)

    def end_epoch(self) -> None:
        self.sums.check_finite(self.step, self.plan, self.cfg)
        self.metrics = self.sums.take_metrics(self.step / self.plan.per_epoch, self.accuracy)[0]
        if self.on_metrics is not None:
            self.on_metrics(self.metrics, self.step)

    def checkpoint(self) -> None:
        self.sums.check_finite(self.step, self.plan, self.cfg)
        state = self.gen.get_state() if self.step % self.plan.per_epoch == 0 else self.epoch_state
        ck = Checkpoint.capture(
            step=self.step,
            epoch=self.step / self.plan.per_epoch,
            model=self.net,
            optimizer=self.opt,
            generator_state=state,
            seed=self.seed,
            metrics=self.metrics,
            epoch_sums=self.sums.values()[0],
        )
        self.on_checkpoint(ck)
        ck.restore_rng()  # the callback may use the global RNG or switch to eval mode
        self.net.train()
        self.latest = ck


def train_network(
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
    progress: bool | Progress = False,
    path: str | None = None,
) -> Checkpoint:
    """Train ``net`` on ``(x, y)``; call ``on_checkpoint`` at the scheduled steps.

    ``seed`` drives initialisation (only if the net was built without a seed), shuffling and
    the global torch RNG (quantizer noise, dropout; note: this reseeds the global RNG).
    With ``resume_from`` the run continues exactly as the uninterrupted run would.
    ``on_metrics(metrics, step)`` gets per-epoch train loss
    (:class:`~nninfo.training.losses.OutputLoss`, without the l1/l2 terms) and accuracy,
    running averages over the epoch's batches (keys ``epoch``, ``train_loss``,
    ``train_accuracy``; no accuracy for float targets with cross-entropy or mse). Returns the
    last checkpoint. Raises :class:`~nninfo.training.common.NonFiniteLossError` (naming the
    epoch) when the loss becomes NaN or infinite;
    the check runs at epoch ends and checkpoints, so no non-finite checkpoint is emitted.
    After each ``on_checkpoint`` call the global RNG and train mode are restored, so callbacks
    cannot perturb the run. Device: ``device`` or CUDA when available, else CPU. ``path``:
    ``"numpy"`` or ``"autograd"``; None: as :func:`~nninfo.training.step_choice.choose_step`
    picks (on the CPU, plain MLPs take the hand-written numpy step of
    :mod:`nninfo.training.mlp_step`, same numbers up to float rounding, with torch and
    numpy's BLAS on one thread each for the duration of the loop). ``progress``: True for a
    tqdm bar, or ``progress(step, last_step)``, called at the start, about every second
    (:data:`~nninfo.training.common.PROGRESS_EVERY`) and at the end; it is called at moments
    that depend on the clock, so it must leave the global RNG and the network alone.
    """
    device = resolve_device(device)
    init_seed, shuffle_seed, noise_seed = init_shuffle_noise_seeds(seed)
    net.to(device)
    x = (x if x.is_floating_point() else x.float()).to(device)
    y = y.to(device)
    if path is None:
        path = choose_step(net, x, y, cfg, device).path
    if path not in (NUMPY, AUTOGRAD):
        raise ValueError(f"path: {path!r} is not {NUMPY!r} or {AUTOGRAD!r}")
    loss_fn = OutputLoss.of(net, cfg.loss)
    t, accuracy = loss_fn.targets(y)
    opt = make_optimizer(net, cfg)
    opt_step = FusedStep(opt)  # before resuming: it keeps the param group holding cfg's values
    plan = StepPlan.of(cfg, len(x))
    gen = torch.Generator().manual_seed(shuffle_seed)
    sums = EpochSums(1, x.dtype, device)
    report, bar = progress_callback(progress)
    run = _Run(net, opt, gen, plan, sums, cfg, seed, accuracy, on_checkpoint, on_metrics, report)
    if resume_from is None:
        if getattr(net, "seed", 0) is None:
            net.reset_parameters(init_seed)
        torch.manual_seed(noise_seed)
    else:
        run.resume(resume_from)
    net.train()
    mlp = None
    if path == AUTOGRAD:
        batch_step = _autograd_step(net, loss_fn, opt_step, sums, cfg)
    else:
        mlp = MLPStep.build(net, cfg, t, x)  # plain MLPs on the CPU: hand-written backward
        if mlp is None:
            raise ValueError("path: the numpy step does not cover this network; use 'autograd'")
        t = mlp.targets(t)
        batch_step = _numpy_step(mlp, opt_step, sums)
    if resume_from is None:
        run.checkpoint()
    n, bs = len(x), cfg.batch_size
    run.report()
    with one_thread() if mlp is not None else nullcontext():
        while run.step < plan.last:
            epoch, first = divmod(run.step, plan.per_epoch)
            run.epoch_state = gen.get_state()
            order = torch.randperm(n, generator=gen).to(device) if cfg.shuffle else None
            stop = min(plan.per_epoch, plan.last - epoch * plan.per_epoch)
            for xb, tb in _batches(x, t, order, bs, first, stop):
                batch_step(xb, tb)
                run.advance(tb.shape[0])
    run.report()
    if bar is not None:
        bar.close()
    return run.latest


def _autograd_step(
    net: Network, loss_fn: OutputLoss, opt_step: FusedStep, sums: EpochSums, cfg: TrainConfig
) -> Callable[[Tensor, Tensor], None]:
    """``step(xb, tb)``: forward, loss (plus l1/l2 terms), gradients, update; adds to sums."""
    regularise = cfg.l1 > 0 or cfg.l2 > 0

    def step(xb: Tensor, tb: Tensor) -> None:
        out, pre, hidden = net.forward_parts(xb)
        losses, correct = loss_fn(out, pre, tb)
        loss = data_loss = losses.mean()
        if regularise:
            loss = loss + sum(cfg.l1 * h.abs().mean() + cfg.l2 * h.square().mean() for h in hidden)
        opt_step(torch.autograd.grad(loss, opt_step.params))
        sums.loss.add_(data_loss.detach(), alpha=tb.shape[0])
        sums.correct.add_(correct.sum())

    return step


def _numpy_step(
    mlp: MLPStep, opt_step: FusedStep, sums: EpochSums
) -> Callable[[Tensor, Tensor], None]:
    """``step(xb, tb)`` with :class:`MLPStep`'s hand-written gradients; adds to sums."""
    loss_sum, correct_sum = sums.loss.numpy(), sums.correct.numpy()  # the CPU tensors' memory

    def step(xb: Tensor, tb: Tensor) -> None:
        batch_loss, batch_correct = mlp(xb.numpy(), tb.numpy())
        opt_step.apply(mlp.grads)  # made with empty_like: the parameters' strides
        loss_sum[...] += batch_loss
        correct_sum[...] += batch_correct

    return step


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

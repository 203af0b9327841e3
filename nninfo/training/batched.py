"""Several seeds of an all-linear network trained at once as one :class:`BatchedMLP`.

Every seed owns the RNG streams the single-seed :func:`~nninfo.training.train_network`
would use (shuffling generator, quantizer-noise generator, both from
:func:`~nninfo.training.common.init_shuffle_noise_seeds`), so a seed's run does not depend
on which other seeds share its batch, and its checkpoints resume in ``train_network`` (and
vice versa).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor

from nninfo.nn.network import DEFAULT_INIT
from nninfo.training.checkpoint import Checkpoint
from nninfo.training.common import (
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
from nninfo.training.seed_step import SeedBatches, group_step
from nninfo.training.stacked import BatchedMLP


def _weight_bias_order(k: int) -> list[int]:
    """``order[j]``: index in a ``Network``'s parameters of the BatchedMLP's parameter ``j``.

    BatchedMLP holds all weights, then all biases; Network holds W1, b1, W2, b2, ...
    """
    return [2 * j for j in range(k)] + [2 * j + 1 for j in range(k)]


def _seed_optimizer_state(opt_state: dict[str, Any], i: int, n_seeds: int) -> dict[str, Any]:
    """Optimiser state of copy ``i`` of a BatchedMLP, in the layout of a single Network."""

    def pick(v: Any) -> Any:
        if isinstance(v, Tensor) and v.dim() >= 1 and v.shape[0] == n_seeds:
            return v[i].detach().cpu().clone()
        return v.detach().cpu().clone() if isinstance(v, Tensor) else v

    order = _weight_bias_order(len(opt_state["param_groups"][0]["params"]) // 2)
    state = {
        order[j]: {key: pick(v) for key, v in opt_state["state"][j].items()}
        for j in range(len(order))
        if j in opt_state["state"]
    }
    groups = [{**g, "params": list(range(len(order)))} for g in opt_state["param_groups"]]
    return {"state": dict(sorted(state.items())), "param_groups": groups}


def _batched_optimizer_state(states: list[dict[str, Any]]) -> dict[str, Any]:
    """Inverse of :func:`_seed_optimizer_state`: stack single-Network states seed by seed."""
    order = _weight_bias_order(len(states[0]["param_groups"][0]["params"]) // 2)

    def join(j: int, key: str) -> Any:
        vals = [s["state"][order[j]][key] for s in states]
        if isinstance(vals[0], Tensor) and vals[0].dim() >= 1:
            return torch.stack(vals)
        return vals[0]  # per-step scalars (Adam's step count) are equal across seeds

    state = {
        j: {key: join(j, key) for key in states[0]["state"][order[j]]}
        for j in range(len(order))
        if order[j] in states[0]["state"]
    }
    groups = [{**g, "params": list(range(len(order)))} for g in states[0]["param_groups"]]
    return {"state": state, "param_groups": groups}


def _cuda_index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


def _rng_states(noise_seed: int, gen: torch.Generator, device: torch.device) -> tuple:
    """(CPU state, CUDA states) the single-seed loop's global RNGs would have now.

    That loop calls ``torch.manual_seed(noise_seed)`` (all devices); only the training
    device's stream advances, by the quantizer noise that ``gen`` replays here.
    """
    if device.type == "cpu":
        return gen.get_state(), []
    cpu = torch.Generator().manual_seed(noise_seed).get_state()
    idx = _cuda_index(device)
    cuda = [
        gen.get_state()
        if d == idx
        else torch.Generator(f"cuda:{d}").manual_seed(noise_seed).get_state()
        for d in range(torch.cuda.device_count())
    ]
    return cpu, cuda


def _check_resume(resume_from: Any, seeds: list[int]) -> list[Checkpoint]:
    if not isinstance(resume_from, list | tuple) or len(resume_from) != len(seeds):
        raise ValueError(
            f"resume_from: expected a list of {len(seeds)} checkpoints (one per seed), "
            f"got {resume_from!r:.80}"
        )
    for i, ck in enumerate(resume_from):
        if not isinstance(ck, Checkpoint):
            raise TypeError(f"resume_from[{i}]: expected a Checkpoint, got {type(ck).__name__}")
        if ck.seed is not None and ck.seed != seeds[i]:
            raise ValueError(f"resume_from[{i}]: checkpoint of seed {ck.seed}, not {seeds[i]}")
    steps = sorted({ck.step for ck in resume_from})
    if len(steps) != 1:
        raise ValueError(f"resume_from: checkpoints at different steps {steps}; need one step")
    return list(resume_from)


def _check_seeds(seeds: Any) -> list[int]:
    ok = isinstance(seeds, list | tuple) and seeds
    if not ok or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds: {seeds!r} is not a non-empty list of integers >= 0")
    return list(seeds)


class _SeedsRun(LiveRun):
    """A live several-seeds run: per-seed generators, metrics; checkpoints and epoch ends.

    Seeds ``seeds[n_real:]`` are a discarded twin (see :func:`train_batched`): trained, never
    reported.
    """

    def __init__(
        self,
        net: BatchedMLP,
        opt: torch.optim.Optimizer,
        plan: StepPlan,
        sums: EpochSums,
        cfg: TrainConfig,
        seeds: list[int],
        n_real: int,
        accuracy: bool,
        device: torch.device,
        on_checkpoint: Callable[[int, Checkpoint], None],
        on_metrics: Callable[[int, dict, int], None] | None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(plan, sums, cfg, progress)
        self.net, self.opt, self.seeds, self.n_real = net, opt, seeds, n_real
        self.accuracy, self.device = accuracy, device
        self.on_checkpoint, self.on_metrics = on_checkpoint, on_metrics
        self.derived = [init_shuffle_noise_seeds(s) for s in seeds]
        self.gens = [torch.Generator().manual_seed(d[1]) for d in self.derived]
        self.noise_gens = [torch.Generator(self.device).manual_seed(d[2]) for d in self.derived]
        self.metrics: list[dict[str, float]] = [{} for _ in seeds]
        self.epoch_states = [g.get_state() for g in self.gens]
        self.latest: list[Checkpoint] = []
        self._next: tuple[Tensor, list[Tensor]] | None = None  # see prefetch

    def resume(self, ckpts: list[Checkpoint]) -> None:
        """Continue from one checkpoint per seed (all at the same step)."""
        cuda = self.device.type == "cuda"
        for i, ck in enumerate(ckpts):
            self.net.load_network_state(i, ck.model_state)
            self.gens[i].set_state(ck.generator_state)
            self.noise_gens[i].set_state(
                ck.cuda_rng_states[_cuda_index(self.device)] if cuda else ck.torch_rng_state
            )
            self.metrics[i] = dict(ck.metrics)
            self.sums.load(i, ck.epoch_sums)
        self.opt.load_state_dict(_batched_optimizer_state([ck.optimizer_state for ck in ckpts]))
        self.step = ckpts[0].step
        self.epoch_states = [g.get_state() for g in self.gens]
        self.latest = ckpts[: self.n_real]

    def end_epoch(self) -> None:
        self.sums.check_finite(self.step, self.plan, self.cfg, self.seeds[: self.n_real])
        epoch = self.step / self.plan.per_epoch
        self.metrics[: self.n_real] = self.sums.take_metrics(epoch, self.accuracy, self.n_real)
        if self.on_metrics is not None:
            for i in range(self.n_real):
                self.on_metrics(i, self.metrics[i], self.step)

    def checkpoint(self) -> None:
        self.sums.check_finite(self.step, self.plan, self.cfg, self.seeds[: self.n_real])
        opt_state = self.opt.state_dict()
        sums = self.sums.values()
        gen_states = ([self._epoch_start_state(i) for i in range(len(self.seeds))]
                      if self.step % self.plan.per_epoch == 0 else self.epoch_states)
        self.latest = []
        for i, seed in enumerate(self.seeds[: self.n_real]):
            rng, cuda = _rng_states(self.derived[i][2], self.noise_gens[i], self.device)
            ck = Checkpoint(
                step=self.step,
                epoch=self.step / self.plan.per_epoch,
                model_state=self.net.network_state(i),
                optimizer_state=_seed_optimizer_state(opt_state, i, len(self.seeds)),
                generator_state=gen_states[i],
                torch_rng_state=rng,
                cuda_rng_states=cuda,
                seed=seed,
                metrics=dict(self.metrics[i]),
                epoch_sums=sums[i],
            )
            self.on_checkpoint(i, ck)
            self.latest.append(ck)
        self.net.train()  # the callbacks may switch to eval mode

    def _epoch_start_state(self, i: int) -> Tensor:
        """Seed ``i``'s shuffling generator as the next epoch starts (before its draw)."""
        return self._next[1][i] if self._next is not None else self.gens[i].get_state()

    def prefetch(self, n: int) -> None:
        """Draw the next epoch's permutations of ``n`` rows now (the GPU still has the
        epoch's last steps to run, so drawing costs no GPU time); ``start_epoch`` uses them."""
        if self.cfg.shuffle and self._next is None:
            states = [g.get_state() for g in self.gens]
            perms = torch.stack([torch.randperm(n, generator=g) for g in self.gens])
            self._next = perms, states

    def start_epoch(self, batches: SeedBatches) -> int:
        """Give ``batches`` this epoch's permutations (each seed's own, from its shuffling
        generator) from the current step on; return the number of steps left in the epoch."""
        epoch, first = divmod(self.step, self.plan.per_epoch)
        n = len(batches.x)
        self.prefetch(n)
        if self._next is not None:
            perms, self.epoch_states = self._next
            self._next = None
        else:
            self.epoch_states = [g.get_state() for g in self.gens]
            perms = torch.arange(n).expand(len(self.seeds), n)
        batches.start_epoch(perms, first * self.cfg.batch_size)
        return min(self.plan.per_epoch, self.plan.last - epoch * self.plan.per_epoch) - first


def train_batched(
    layers: list[dict[str, Any]],
    x: Tensor,
    y: Tensor,
    cfg: TrainConfig,
    *,
    seeds: list[int],
    on_checkpoint: Callable[[int, Checkpoint], None],
    on_metrics: Callable[[int, dict, int], None] | None = None,
    device: str | torch.device | None = None,
    resume_from: list[Checkpoint] | None = None,
    init: str = DEFAULT_INIT,
    progress: bool | Progress = False,
    graph: bool = True,
    compiled: bool = False,
) -> list[Checkpoint]:
    """Train one all-linear network per seed at once, as a :class:`BatchedMLP`.

    Seed ``s`` behaves like ``train_network(Network(layers, seed=s, init=init), ...,
    seed=s)``: the same initial weights, permutations and quantizer noise (each seed draws
    from its own generator), and an independent optimiser. On the CPU its numbers do not
    depend on the other seeds in ``seeds`` (bit for bit) and equal the single-seed run up to
    floating-point differences between batched and plain matrix products; on a GPU both hold
    up to rounding (cuBLAS picks its kernels by the stack). The whole training set stays on
    the device and each seed's batches are gathered there from its own permutation. On a GPU
    the step (forward, loss, backward, update) runs as a captured CUDA graph
    (:class:`~nninfo.training.graphs.GraphedStep`; ``graph=False``: eagerly, as on the CPU).
    ``compiled``: the forward pass and loss compiled by ``torch.compile`` into fused kernels,
    with quantizer noise from a hash of (seed, step, position)
    (:class:`~nninfo.training.counter_noise.CounterNoise`) instead of the generators: still
    each seed's own (its numbers independent of its group up to rounding) and resumed
    exactly, but another stream than the single-seed loop's (whose
    :func:`~nninfo.training.loop.train_network` resumes such a checkpoint with its own). The
    jobs never ask for it (see :mod:`~nninfo.training.step_choice`).
    ``on_checkpoint(seed_index, checkpoint)`` gets per-seed checkpoints in the
    single-Network layout, with the RNG states the single-seed loop would have, so
    ``train_network`` resumes them; ``on_metrics(seed_index, metrics, step)`` per-epoch
    metrics. ``resume_from``: one checkpoint per seed, all at the same step. Only linear
    layers (no dropout). ``progress``: as for ``train_network``, for all seeds. Raises
    :class:`~nninfo.training.common.NonFiniteLossError` naming the epoch and the seeds.
    Returns the last checkpoint of every seed.
    """
    seeds = _check_seeds(seeds)
    ckpts_in = None if resume_from is None else _check_resume(resume_from, seeds)
    device = resolve_device(device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device: {str(device)!r} is not supported; use 'cpu' or 'cuda'")
    n_real = len(seeds)
    if n_real == 1:  # bmm takes another path for a single matrix: run a discarded twin
        seeds = seeds * 2
        ckpts_in = None if ckpts_in is None else ckpts_in * 2
    net = BatchedMLP(layers, seeds, init).to(device)
    x = (x if x.is_floating_point() else x.float()).to(device)
    loss_fn = OutputLoss.of(net, cfg.loss)
    t, accuracy = loss_fn.targets(y.to(device))
    opt = make_optimizer(net, cfg)
    opt_step = FusedStep(opt, split=True)  # before resuming, as in train_network()
    sums = EpochSums(len(seeds), x.dtype, device)
    plan = StepPlan.of(cfg, len(x))
    report, bar = progress_callback(progress)
    run = _SeedsRun(
        net, opt, plan, sums, cfg, seeds, n_real, accuracy, device, on_checkpoint, on_metrics,
        report,
    )
    if ckpts_in is not None:
        run.resume(ckpts_in)
    net.train()
    if ckpts_in is None:
        run.checkpoint()
    run.report()
    batches = SeedBatches(x, t, len(seeds), cfg.batch_size)
    step = group_step(net, loss_fn, opt_step, sums, cfg, batches, noise_gens=run.noise_gens,
                      noise_seeds=[d[2] for d in run.derived], start=run.step, graph=graph,
                      compiled=compiled)
    with one_thread() if device.type == "cpu" else nullcontext():  # small ops: see one_thread
        while run.step < plan.last:
            for left in range(run.start_epoch(batches), 0, -1):
                batch = min(cfg.batch_size, len(x) - run.step % plan.per_epoch * cfg.batch_size)
                step(batch)
                if left == 1 and run.step + 1 < plan.last:
                    run.prefetch(len(x))  # while the GPU runs the epoch's last steps
                run.advance(batch)
    run.report()
    if bar is not None:
        bar.close()
    return run.latest

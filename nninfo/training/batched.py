"""Several seeds of an all-linear network trained at once as one :class:`BatchedMLP`.

Every seed owns the RNG streams the single-seed :func:`~nninfo.training.train` would use
(shuffling generator, quantiser-noise generator, both from ``_seeds(seed)``), so a seed's run
does not depend on which other seeds share its batch, and its checkpoints resume in
``train`` (and vice versa).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from nninfo.nn.network import BatchedMLP
from nninfo.training.checkpoint import Checkpoint
from nninfo.training.fused import FusedStep
from nninfo.training.loop import (
    PREPERMUTE_MAX,
    TrainConfig,
    _device,
    _loss_fn,
    _optimizer,
    _raise_non_finite,
    _seeds,
    _targets,
)
from nninfo.training.schedule import checkpoint_steps, total_steps

# Batches are padded (with ignored rows) to a multiple of this many rows, so that every
# elementwise kernel sees each seed's block as whole vector chunks: the vectorised kernels
# compute a tensor's tail differently from its body, which would make a seed's numbers depend
# on its position in the stack (and so on the other seeds in the batch).
PAD_ROWS = 64


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
    device's stream advances, by the quantiser noise that ``gen`` replays here.
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


def _padded_pass(
    net: BatchedMLP,
    loss_fn: Callable[..., tuple[Tensor, Tensor]],
    xb: Tensor,
    tb: Tensor,
    noise_gens: list[torch.Generator],
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Per-sample losses and correctness ``(S, batch)`` and hidden outputs of one batch,
    computed on the batch padded to a multiple of :data:`PAD_ROWS` rows."""
    batch = xb.shape[1]
    noise = net.draw_noise(noise_gens, batch)
    pad = -batch % PAD_ROWS
    if pad:
        xb = F.pad(xb, (0, 0, 0, pad))
        tb = F.pad(tb, (0, pad) if tb.dim() == 2 else (0, 0, 0, pad))
        noise = [None if u is None else F.pad(u, (0, 0, 0, pad)) for u in noise]
    out, pre, hidden = net._run(xb, noise)
    losses, correct = loss_fn(out, pre, tb)
    if pad:
        losses, correct = losses[:, :batch], correct[:, :batch]
        hidden = [h[:, :batch] for h in hidden]
    return losses, correct, hidden


def _check_seeds(seeds: Any) -> list[int]:
    ok = isinstance(seeds, list | tuple) and seeds
    if not ok or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds: {seeds!r} is not a non-empty list of integers >= 0")
    return list(seeds)


def train_seeds(
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
) -> list[Checkpoint]:
    """Train one all-linear network per seed at once, as a :class:`BatchedMLP`.

    Seed ``s`` behaves like ``train(Network(layers, seed=s), ..., seed=s)``: the same initial
    weights, permutations and quantiser noise (each seed draws from its own generator), and an
    independent optimiser. Its numbers do not depend on the other seeds in ``seeds`` (bit for
    bit); they equal the single-seed run up to floating-point differences between batched
    and plain matrix products. ``on_checkpoint(seed_index, checkpoint)`` gets per-seed
    checkpoints in the single-Network layout, with the RNG states the single-seed loop would
    have, so :func:`train` resumes them; ``on_metrics(seed_index, metrics, step)`` per-epoch
    metrics. ``resume_from``: one checkpoint per seed, all at the same step. Only linear layers
    (no dropout). Raises :class:`NonFiniteLossError` naming the epoch and the seeds. Returns
    the last checkpoint of every seed.
    """
    seeds = _check_seeds(seeds)
    ckpts_in = None if resume_from is None else _check_resume(resume_from, seeds)
    device = _device(device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device: {str(device)!r} is not supported; use 'cpu' or 'cuda'")
    n_real = len(seeds)
    if n_real == 1:  # bmm takes another path for a single matrix: run a discarded twin
        seeds = seeds * 2
        ckpts_in = None if ckpts_in is None else ckpts_in * 2
    net = BatchedMLP(layers, seeds).to(device)
    s_count, n, bs = len(seeds), len(x), cfg.batch_size
    x = (x if x.is_floating_point() else x.float()).to(device)
    t, has_acc = _targets(net, y.to(device), cfg.loss)
    loss_fn, opt = _loss_fn(net, cfg), _optimizer(net, cfg)
    opt_step = FusedStep(opt, split=True)
    spe = math.ceil(n / bs)
    last = total_steps(cfg.epochs, spe)
    ckpts = set(checkpoint_steps(cfg.checkpoint_schedule, cfg.checkpoint_count, cfg.epochs, spe))
    derived = [_seeds(s) for s in seeds]
    gens = [torch.Generator().manual_seed(d[1]) for d in derived]
    noise_gens = [torch.Generator(device).manual_seed(d[2]) for d in derived]
    loss_sum = torch.zeros(s_count, dtype=x.dtype, device=device)
    correct_sum = torch.zeros(s_count, dtype=x.dtype, device=device)
    count, step, metrics = 0, 0, [{} for _ in seeds]
    if ckpts_in is not None:
        for i, ck in enumerate(ckpts_in):
            net.load_network_state(i, ck.model_state)
            gens[i].set_state(ck.generator_state)
            cuda = device.type == "cuda"
            noise_gens[i].set_state(
                ck.cuda_rng_states[_cuda_index(device)] if cuda else ck.torch_rng_state
            )
            metrics[i] = dict(ck.metrics)
            if ck.epoch_sums:
                loss_sum[i], correct_sum[i] = ck.epoch_sums[0], ck.epoch_sums[1]
                count = int(ck.epoch_sums[2])
        opt.load_state_dict(_batched_optimizer_state([ck.optimizer_state for ck in ckpts_in]))
        step = ckpts_in[0].step
    epoch_states = [g.get_state() for g in gens]
    net.train()

    def check_finite() -> None:
        finite = torch.isfinite(loss_sum[:n_real]).tolist()
        if not all(finite):
            bad = [s for s, ok in zip(seeds, finite, strict=False) if not ok]
            _raise_non_finite(step, spe, cfg, bad)

    def end_epoch() -> None:
        nonlocal count
        check_finite()
        losses, correct = loss_sum.tolist(), correct_sum.tolist()
        for i in range(n_real):
            metrics[i] = {"epoch": step / spe, "train_loss": losses[i] / count}
            if has_acc:
                metrics[i]["train_accuracy"] = correct[i] / count
            if on_metrics is not None:
                on_metrics(i, metrics[i], step)
        loss_sum.zero_(), correct_sum.zero_()
        count = 0

    def checkpoint() -> list[Checkpoint]:
        check_finite()
        opt_state = opt.state_dict()
        losses, correct = loss_sum.tolist(), correct_sum.tolist()
        out = []
        for i, seed in enumerate(seeds[:n_real]):
            rng, cuda = _rng_states(derived[i][2], noise_gens[i], device)
            ck = Checkpoint(
                step=step,
                epoch=step / spe,
                model_state=net.network_state(i),
                optimizer_state=_seed_optimizer_state(opt_state, i, s_count),
                generator_state=gens[i].get_state() if step % spe == 0 else epoch_states[i],
                torch_rng_state=rng,
                cuda_rng_states=cuda,
                seed=seed,
                metrics=dict(metrics[i]),
                epoch_sums=[losses[i], correct[i], count],
            )
            on_checkpoint(i, ck)
            out.append(ck)
        net.train()  # the callbacks may switch to eval mode
        return out

    latest = checkpoint() if ckpts_in is None else ckpts_in[:n_real]
    while step < last:
        epoch, first = divmod(step, spe)
        epoch_states = [g.get_state() for g in gens]
        xs, ts, order = x.expand(s_count, *x.shape), t.expand(s_count, *t.shape), None
        if cfg.shuffle:
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
            if x.numel() * s_count <= PREPERMUTE_MAX:
                xs, ts = x[perms], t[perms]
            else:
                xs, ts, order = x, t, perms
        for b in range(first, min(spe, last - epoch * spe)):
            rows = order[:, b * bs : (b + 1) * bs] if order is not None else None
            # contiguous: bmm takes another path for a strided stack than for one seed
            xb = (xs[:, b * bs : (b + 1) * bs] if rows is None else xs[rows]).contiguous()
            tb = ts[:, b * bs : (b + 1) * bs] if rows is None else ts[rows]
            losses, correct, hidden = _padded_pass(net, loss_fn, xb, tb, noise_gens)
            seed_loss = losses.mean(1)
            loss = seed_loss.sum()  # seeds share no weights: each gets its own gradient
            if cfg.l1 > 0 or cfg.l2 > 0:
                loss = loss + sum(
                    cfg.l1 * h.abs().mean((1, 2)).sum() + cfg.l2 * h.square().mean((1, 2)).sum()
                    for h in hidden
                )
            opt_step(torch.autograd.grad(loss, opt_step.params))
            loss_sum.add_(seed_loss.detach(), alpha=tb.shape[1])
            correct_sum.add_(correct.sum(1))
            count += tb.shape[1]
            step += 1
            if step % spe == 0 or step == last:
                end_epoch()
            if step in ckpts:
                latest = checkpoint()
    return latest

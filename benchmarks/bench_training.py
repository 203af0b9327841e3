"""Training speed of the published MNIST network: seeds per group, and library paths.

The network of projects/mnist_8levels_onehot (784-50-10-5-5-5-10, tanh hidden layers with
8-level stochastic quantizers, softmax output; SGD lr 0.01, batch 64, cross-entropy), on
random data shaped like MNIST (60,000 x 784 floats, labels 0..9). Prints three tables:

1. ``train_batched`` with 1, 5, 10, 20 seeds per group (``--seeds``) on each device
   (``--device``; on CUDA: the captured graph, eagerly, and the graph of the compiled
   pass with counter-based noise, ``compiled=True``), and the single-seed
   ``train_network`` (numpy step on the CPU): us per optimiser step of the whole group and per seed,
   and the projected wall time of the published schedule (20 seeds x 10^5 epochs x 938 steps,
   ``20/g`` groups one after another on one device), against the goal <= 2 h on one GPU.
   A rate is marginal: (best of ``--repeats`` runs of ``--steps`` steps minus best of runs of
   ``--steps // 3``) / the difference, after one warm-up run, so set-up, the two checkpoints
   and graph capture cancel out (the ``fixed s`` column shows what they cost).
2. Single seed, one torch thread: ``train_network()`` as is vs the plain autograd step
   (forward_parts -> OutputLoss -> backward -> SGD(fused=True).step()), eager and compiled
   (``torch.compile(fullgraph=True, dynamic=False)``; mode="reduce-overhead" on CUDA).
3. The optimiser update alone (SGD, Adam): ``FusedStep.apply`` vs ``opt.step()`` eager and
   compiled. Then the verdict per hand-written piece: keep it only where it is >= 1.5x
   faster than the best library path.

Usage: python benchmarks/bench_training.py [--device cpu cuda] [--seeds 1 5 10 20]
       [--steps 300] [--repeats 3] [--threads 0] [--no-compile]
No timed assertions. Compiling needs a C compiler on the CPU and takes tens of seconds
when cold (printed as the time of the first calls; inductor's disk cache shortens reruns).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator

import torch

from nninfo.nn import Network
from nninfo.training import OutputLoss, TrainConfig, choose_step, train_batched, train_network
from nninfo.training.fused import FusedStep

Q8 = {"levels": 8}  # mode "stochastic" by default, as in the published config
LAYERS = [
    {"type": "linear", "in_features": a, "out_features": b, "activation": "tanh", "quantizer": Q8}
    for a, b in [(784, 50), (50, 10), (10, 5), (5, 5), (5, 5)]
] + [{"type": "linear", "in_features": 5, "out_features": 10, "activation": "softmax"}]
STEPS_PER_EPOCH, EPOCHS, SEEDS = 938, 10**5, 20  # the published schedule
GOAL_H = 2.0  # on one GPU: <= 75 us per step of a 20-seed group
KEEP = 1.5  # a hand-written piece stays if the best library path is this much slower


def mnist_like(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(60000, 784, generator=g), torch.randint(0, 10, (60000,), generator=g)
    return x.to(device), y.to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn, device: torch.device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def marginal(run, steps: int, repeats: int, device: torch.device) -> tuple[float, float]:
    """(us per step, fixed seconds) of ``run(n)`` (n steps), from long minus short runs."""
    short = max(1, steps // 3)  # --steps 2814 (3 epochs): the difference holds 2 epoch ends
    run(short)  # warm-up: lazy imports, allocator, kernels
    t_short = min(seconds(lambda: run(short), device) for _ in range(repeats))
    t_long = min(seconds(lambda: run(steps), device) for _ in range(repeats))
    per_step = max(t_long - t_short, 0.0) / (steps - short)
    return 1e6 * per_step, t_short - short * per_step


def cfg_of(steps: int) -> TrainConfig:
    return TrainConfig(lr=0.01, batch_size=64, epochs=steps / STEPS_PER_EPOCH, checkpoint_count=2)


def projected_hours(us_group_step: float, group: int) -> float:
    return math.ceil(SEEDS / group) * EPOCHS * STEPS_PER_EPOCH * us_group_step / 3.6e9


def seed_rows(device: torch.device, seeds: list[int], steps: int, repeats: int,
              compile_: bool) -> Iterator[tuple]:
    """(name, seeds, us per group step, fixed s) of train_network(), then of train_batched per
    group size (on CUDA: graph, graph + compiled, eager), one by one as they are measured."""
    x, y = mnist_like(device)
    variants = [{}]  # train_batched's keywords
    if device.type == "cuda":
        variants = [{"graph": True}, *([{"compiled": True}] if compile_ else []),
                    {"graph": False}]
    numpy = choose_step(Network(LAYERS), x, y, cfg_of(1), device).path == "numpy"
    path = "numpy step" if numpy else ""
    us, fixed = marginal(
        lambda n: train_network(
            Network(LAYERS, seed=0), x, y, cfg_of(n), seed=0,
            on_checkpoint=lambda c: None, device=device,
        ),
        steps, repeats, device,
    )
    yield f"train_network() {path}".strip(), 1, us, fixed
    for g in seeds:
        torch.compiler.reset()  # a few compilations per function, then torch runs it eagerly
        for kw in variants:
            us, fixed = marginal(
                lambda n, g=g, kw=kw: train_batched(
                    LAYERS, x, y, cfg_of(n), seeds=list(range(g)),
                    on_checkpoint=lambda i, c: None, device=device, **kw,
                ),
                steps, repeats, device,
            )
            yield variant_name(kw), g, us, fixed


def variant_name(kw: dict) -> str:
    if not kw:
        return "train_batched"
    if kw.get("compiled"):
        return "train_batched graph+compiled"
    return "train_batched graph" if kw["graph"] else "train_batched eager"


def print_seed_table(device: torch.device, rows: Iterator[tuple]) -> list[tuple]:
    """Print the rows as they come; return them."""
    print(f"\n[{device}] MNIST network, us per optimiser step; projection: published schedule "
          f"({SEEDS} seeds x 10^{math.log10(EPOCHS):.0f} epochs x {STEPS_PER_EPOCH} steps), "
          f"groups one after another on one device; goal on CUDA: <= {GOAL_H:g} h "
          "(<= 75 us per step of a 20-seed group)")
    head = f"{'path':<28} {'seeds':>5} {'us/step/seed':>12} {'us/group step':>13} "
    print(head + f"{'fixed s':>7} {'projected h':>11}  goal")
    done = []
    for name, g, us, fixed in rows:
        hours = projected_hours(us, g)
        goal = ("meets" if hours <= GOAL_H else "misses") if device.type == "cuda" else "-"
        print(f"{name:<28} {g:>5} {us / g:>12.1f} {us:>13.1f} {fixed:>7.2f} {hours:>11.1f}  {goal}")
        done.append((name, g, us, fixed))
    return done


def plain_step(device: torch.device, compiled: bool, fused_update: bool):
    """``step(xb, tb)`` of the plain autograd path (``fused_update``: FusedStep's update)."""
    net = Network(LAYERS, seed=0).to(device).train()
    loss_fn = OutputLoss.of(net, "cross_entropy")
    opt = torch.optim.SGD(net.parameters(), lr=0.01, fused=True)
    params = list(net.parameters())

    def loss_of(xb: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
        out, pre, _ = net.forward_parts(xb)
        return loss_fn(out, pre, tb)[0].mean()

    opt_step, update = opt.step, FusedStep(opt)
    if compiled:
        torch._dynamo.reset()  # a fresh compile per variant (timed in time_loop)
        mode = "reduce-overhead" if device.type == "cuda" else None
        loss_of = torch.compile(loss_of, fullgraph=True, dynamic=False, mode=mode)
        opt_step = torch.compile(opt.step, mode=mode)

    def step(xb: torch.Tensor, tb: torch.Tensor) -> None:
        loss = loss_of(xb, tb)
        if fused_update:
            update(torch.autograd.grad(loss, params))
        else:
            loss.backward()
            opt_step()
            opt.zero_grad()

    return step


def time_loop(step, x, y, steps: int, repeats: int, device: torch.device) -> tuple[float, float]:
    """(us per call of ``step`` on shuffled batches, seconds of the first 3 calls)."""
    order = torch.randperm(len(x), device=device)
    per_epoch = len(x) // 64
    batches = [order[i % per_epoch * 64 :][:64] for i in range(steps)]

    def loop(n: int) -> None:
        for rows in batches[:n]:
            step(x.index_select(0, rows), y.index_select(0, rows))

    first = seconds(lambda: loop(3), device)  # compiles here (cudagraphs record by call 3)
    best = min(seconds(lambda: loop(steps), device) for _ in range(repeats))
    return 1e6 * best / steps, first


def library_rows(device, train_us: float, steps: int, repeats: int, compile_: bool) -> list:
    """(name, us/step, compile s) of the single-seed step: train_network() and the library paths."""
    x, y = mnist_like(device)
    rows = [("(a) train_network() as is", train_us, None)]
    variants = [("(b) autograd + SGD(fused) eager", False, False)]
    if compile_:
        variants += [
            ("(c) compiled autograd + compiled opt.step", True, False),
            ("    compiled autograd + FusedStep", True, True),
        ]
    for name, compiled, fused_update in variants:
        us, first = time_loop(plain_step(device, compiled, fused_update), x, y, steps, repeats,
                              device)
        rows.append((name, us, first if compiled else None))
    return rows


def update_fns(make, device: torch.device, compile_: bool) -> list[tuple]:
    """(name, fn, compiled): one update of the MNIST network's parameters, three ways."""
    base = [p.detach().to(device) for p in Network(LAYERS, seed=0).parameters()]
    grads = [torch.randn_like(p) for p in base]

    def opt_with_grads() -> torch.optim.Optimizer:
        ps = [p.clone().requires_grad_() for p in base]
        for p, g in zip(ps, grads, strict=True):
            p.grad = g
        return make(ps)

    fused = FusedStep(make([p.clone().requires_grad_() for p in base]))
    fns = [
        ("FusedStep.apply", lambda: fused.apply(grads), False),
        ("opt.step() eager", opt_with_grads().step, False),
    ]
    if compile_:
        torch._dynamo.reset()
        mode = "reduce-overhead" if device.type == "cuda" else None
        fns.append(("torch.compile(opt.step)", torch.compile(opt_with_grads().step, mode=mode),
                    True))
    return fns


def update_rows(device: torch.device, repeats: int, compile_: bool, calls: int = 1000) -> list:
    """(optimiser, name, us/update, compile s) for the MNIST network's parameters."""
    makers = {
        "SGD": lambda ps: torch.optim.SGD(ps, lr=0.01, fused=True),
        "Adam": lambda ps: torch.optim.Adam(ps, lr=0.01, fused=True),
    }
    rows = []
    for kind, make in makers.items():
        for name, fn, compiled in update_fns(make, device, compile_):
            first = seconds(lambda fn=fn: [fn() for _ in range(3)], device)
            best = min(
                seconds(lambda fn=fn: [fn() for _ in range(calls)], device)
                for _ in range(repeats)
            )
            rows.append((kind, name, 1e6 * best / calls, first if compiled else None))
    return rows


def verdict(piece: str, ours: float, library: dict[str, float]) -> str:
    name, best = min(library.items(), key=lambda kv: kv[1])
    ratio = best / ours if ours > 0 else math.nan
    decision = ("unknown (rate not measured: more --steps)" if math.isnan(ratio)
                else "keep" if ratio >= KEEP else "replace by the library path")
    return (f"{piece}: {ours:.1f} us vs best library path {name} {best:.1f} us "
            f"({ratio:.2f}x) -> {decision}")


def print_library(device, lib: list, upd: list, numpy_step: bool, compiled: bool) -> None:
    print(f"\n[{device}] single seed, {torch.get_num_threads()} torch thread(s): us per step")
    train_us = lib[0][1] or math.nan  # a marginal rate of 0: too few --steps to tell
    for name, us, first in lib:
        note = "" if first is None else f"  (first 3 steps incl. compile: {first:.1f} s)"
        print(f"{name:<44} {us:>8.1f} us  {us / train_us:>5.2f}x train_network(){note}")
    print(f"\n[{device}] optimiser update alone, MNIST network's parameters")
    for kind, name, us, first in upd:
        ref = next(u for k, n, u, _ in upd if k == kind and n == "FusedStep.apply")
        note = "" if first is None else f"  (first 3 calls incl. compile: {first:.1f} s)"
        print(f"{kind:<5} {name:<38} {us:>8.1f} us  {us / ref:>5.2f}x FusedStep{note}")
    skipped = "" if compiled else "; compiled paths skipped (--no-compile)"
    print(f"\n[{device}] verdict (keep a hand-written piece only if >= {KEEP}x faster{skipped}):")
    piece = ("numpy MLPStep + FusedStep (train_network())" if numpy_step
             else "train_network() autograd+FusedStep")
    print("  " + verdict(piece, train_us, {n.strip(): u for n, u, _ in lib[1:]}))
    for kind in ("SGD", "Adam"):
        mine = {n: u for k, n, u, _ in upd if k == kind}
        ours = mine.pop("FusedStep.apply")
        print("  " + verdict(f"FusedStep ({kind})", ours, mine))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    default = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    p.add_argument("--device", nargs="+", default=default, help="devices (default: %(default)s)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 5, 10, 20])
    p.add_argument("--steps", type=int, default=300, help="steps per timed run")
    p.add_argument("--repeats", type=int, default=3, help="timed runs (the best is kept)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    a = p.parse_args()
    if a.steps < 5:
        p.error("--steps: at least 5 (rates are long runs minus runs of steps // 3)")
    if a.threads:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    print(f"device={' '.join(a.device)} torch={torch.__version__} threads={threads}")
    for dev in map(torch.device, a.device):
        rows = print_seed_table(dev, seed_rows(dev, a.seeds, a.steps, a.repeats,
                                               not a.no_compile))
        torch.set_num_threads(1)
        lib = library_rows(dev, rows[0][2], a.steps, a.repeats, not a.no_compile)
        upd = update_rows(dev, a.repeats, not a.no_compile)
        numpy_step = rows[0][0].endswith("numpy step")
        print_library(dev, lib, upd, numpy_step, not a.no_compile)
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()

"""What the single-seed loop and the several-seeds loop share: seeds, device, optimiser,
the step plan, the running epoch sums and the non-finite-loss error."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from nninfo.training.config import TrainConfig
from nninfo.training.schedule import checkpoint_steps, total_steps

PREPERMUTE_MAX = 2**22  # input elements up to which an epoch's data is permuted in one copy
PROGRESS_EVERY = 1.0  # seconds between calls of a loop's progress callback

Progress = Callable[[int, int], None]  # progress(step, last step)


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


def init_shuffle_noise_seeds(seed: int) -> tuple[int, int, int]:
    """Independent (init, shuffle, noise) seeds derived from one run seed."""
    a, b, c = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
    return int(a >> 1), int(b >> 1), int(c >> 1)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device``, else CUDA when available, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def check_device(device: str | None, here: bool = True) -> None:
    """Raise ValueError (naming ``--device``) unless ``device`` is usable here: empty or None
    (automatic), ``cpu``, ``cuda`` / ``cuda:N`` with such a CUDA device, ``mps`` if present.
    ``here=False`` (jobs run on the workers of a Dask scheduler): only that it names one of
    these kinds of device."""
    if not device:
        return
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device: {device!r} is not a torch device; use cpu, cuda or cuda:N")
    if not here:
        return
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"--device: {device!r} requested but no CUDA device is available")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"--device: {device!r} requested but only {count} CUDA device(s) "
                             f"are available (cuda:0..cuda:{count - 1})")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device: {device!r} requested but MPS is not available")


def make_optimizer(net: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The configured optimiser over ``net``'s parameters (fused kernels where available)."""
    # fused kernels: one op per step instead of a Python loop over parameters
    fused = all(p.device.type in ("cpu", "cuda") for p in net.parameters())
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, fused=fused)
    return torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=fused)


@dataclass(frozen=True)
class StepPlan:
    """Steps of a run on ``n`` samples: per epoch, in all, and the checkpoint steps."""

    per_epoch: int
    last: int
    checkpoints: frozenset[int]

    @classmethod
    def of(cls, cfg: TrainConfig, n: int) -> StepPlan:
        spe = math.ceil(n / cfg.batch_size)
        steps = checkpoint_steps(cfg.checkpoint_schedule, cfg.checkpoint_count, cfg.epochs, spe,
                                 start_exponent=cfg.checkpoint_start_exponent)
        return cls(spe, total_steps(cfg.epochs, spe), frozenset(steps))

    def epoch_ends(self, step: int) -> bool:
        """Whether ``step`` completes an epoch (or the run)."""
        return step % self.per_epoch == 0 or step == self.last


class EpochSums:
    """Running sums of the current epoch, per seed, on the training device.

    ``loss``: per-sample losses (without l1/l2 terms), ``correct``: per-sample correctness,
    both ``(seeds,)`` tensors the loops add to in place; ``count``: samples so far.
    """

    def __init__(self, n_seeds: int, dtype: torch.dtype, device: torch.device) -> None:
        self.loss = torch.zeros(n_seeds, dtype=dtype, device=device)
        self.correct = torch.zeros(n_seeds, dtype=dtype, device=device)
        self.count = 0

    def load(self, i: int, sums: list[float]) -> None:
        """Seed ``i``'s sums from a checkpoint's ``epoch_sums`` (none: left at zero)."""
        if sums:
            self.loss[i], self.correct[i] = sums[0], sums[1]
            self.count = int(sums[2])

    def values(self) -> list[list[float]]:
        """Per seed ``[loss, correct, count]``, a checkpoint's ``epoch_sums``."""
        return [
            [lo, c, self.count]
            for lo, c in zip(self.loss.tolist(), self.correct.tolist(), strict=True)
        ]

    def check_finite(
        self, step: int, plan: StepPlan, cfg: TrainConfig, seeds: list[int] | None = None
    ) -> None:
        """Raise :class:`NonFiniteLossError` if a seed's loss sum is NaN or infinite.

        ``seeds``: the seeds of the first ``len(seeds)`` entries, checked and named in the
        error; None: a single run's sums, not named.
        """
        finite = torch.isfinite(self.loss[: None if seeds is None else len(seeds)]).tolist()
        if not all(finite):
            bad = (
                None
                if seeds is None
                else [s for s, ok in zip(seeds, finite, strict=True) if not ok]
            )
            raise non_finite_error(step, plan.per_epoch, cfg, bad)

    def take_metrics(self, epoch: float, accuracy: bool, n: int | None = None) -> list[dict]:
        """Epoch metrics of the first ``n`` (all) seeds: means over the epoch's samples; then
        start a new epoch."""
        losses, correct = self.loss.tolist(), self.correct.tolist()
        out = []
        for i in range(len(losses) if n is None else n):
            m = {"epoch": epoch, "train_loss": losses[i] / self.count}
            if accuracy:
                m["train_accuracy"] = correct[i] / self.count
            out.append(m)
        self.loss.zero_(), self.correct.zero_()
        self.count = 0
        return out


class LiveRun:
    """Step accounting of a live run: :meth:`advance` ends epochs and checkpoints when due,
    and calls ``progress(step, last)`` about every :data:`PROGRESS_EVERY` seconds.

    Subclasses (the single-seed and several-seeds loops) define :meth:`end_epoch` (check the
    sums, report metrics) and :meth:`checkpoint`. The clock is read only every ``stride``
    steps, a stride that adapts to the speed of a step, so progress costs the loop one
    integer comparison per step.
    """

    def __init__(
        self, plan: StepPlan, sums: EpochSums, cfg: TrainConfig, progress: Progress | None = None
    ) -> None:
        self.plan, self.sums, self.cfg, self.progress = plan, sums, cfg, progress
        self.step = 0
        self._tick_at = 0 if progress is not None else plan.last + 1  # never
        self._stride, self._told, self._looked = 1, -math.inf, time.monotonic()

    def advance(self, batch: int) -> None:
        """Account for one step on ``batch`` samples: epoch end and checkpoint when due."""
        self.sums.count += batch
        self.step += 1
        if self.plan.epoch_ends(self.step):
            self.end_epoch()
        if self.step in self.plan.checkpoints:
            self.checkpoint()
        if self.step >= self._tick_at:
            self._tick()

    def report(self) -> None:
        """Call ``progress`` now (the loops do at their start and end)."""
        if self.progress is not None:
            self._told = time.monotonic()
            self.progress(self.step, self.plan.last)

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._told >= PROGRESS_EVERY:
            self.report()
        looked, self._looked = self._looked, now  # read the clock ~10 times per report
        if now - looked < PROGRESS_EVERY / 20:
            self._stride *= 2
        elif now - looked > PROGRESS_EVERY / 5 and self._stride > 1:
            self._stride //= 2
        self._tick_at = self.step + self._stride

    def end_epoch(self) -> None:
        raise NotImplementedError

    def checkpoint(self) -> None:
        raise NotImplementedError


def progress_callback(progress: bool | Progress | None, desc: str = "training"
                      ) -> tuple[Progress | None, object | None]:
    """A loop's ``progress`` argument as a callback: itself, None (off), or for ``True`` the
    update of a new tqdm bar on stderr over steps (returned second, to be closed)."""
    if callable(progress):
        return progress, None
    if not progress:
        return None, None
    from tqdm.auto import tqdm

    bar = tqdm(total=None, unit="step", desc=desc)

    def update(step: int, last: int) -> None:
        bar.total = last
        bar.update(step - bar.n)

    return update, bar


def non_finite_error(
    step: int, spe: int, cfg: TrainConfig, seeds: list[int] | None = None
) -> NonFiniteLossError:
    """The error for a loss found non-finite at ``step`` (naming the epoch, the seeds)."""
    epoch = (step - 1) // spe + 1
    which = "" if seeds is None else f" for seed{'s' if len(seeds) > 1 else ''} {seeds}"
    return NonFiniteLossError(
        f"training loss became non-finite{which} in epoch {epoch} (at or before step {step}, "
        f"epoch {step / spe:g}); lower lr (now {cfg.lr}) or check the inputs for NaN/inf"
    )


@contextmanager
def one_thread() -> Iterator[None]:
    """torch and numpy's BLAS on one thread each, for the small operations of small MLPs.

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

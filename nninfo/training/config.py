"""Hyper-parameters of a training run (the experiment config's ``training`` section)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from nninfo.checks import is_integer
from nninfo.training.losses import LOSSES
from nninfo.training.schedule import (
    DEFAULT_START_EXPONENT,
    SCHEDULES,
    check_start_exponent,
)

OPTIMIZERS = ("sgd", "adam")


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
    # "log": the published rule (whole epochs, log-spaced from 1 to the last); "log_fractional":
    # the published fractional form (from epoch 10**checkpoint_start_exponent); "log_steps":
    # log-spaced optimiser steps from step 1 (works for runs of any length); "lin": evenly
    # spaced steps. See nninfo.training.schedule.
    checkpoint_schedule: str = "log_steps"
    # the most checkpoints, counting the one at epoch 0 and the last step (>= 2); rounding
    # can merge neighbours, so a run may get fewer, never more. "log" with n is the published
    # create_log_spaced_chapters(epochs, n - 2): epoch 0 and n - 1 log-spaced epochs 1..E
    checkpoint_count: int = 20
    # log_fractional only: the first checkpoint after epoch 0 is at epoch 10**this (the
    # published start_exp); must be below log10(epochs)
    checkpoint_start_exponent: float = DEFAULT_START_EXPONENT

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
            if not is_integer(v, low):
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
        s = self.checkpoint_start_exponent
        if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s):
            raise ValueError(f"checkpoint_start_exponent: {s!r} is not a finite number")
        if self.checkpoint_schedule == "log_fractional":
            check_start_exponent(s, self.epochs)  # its first epoch is before the end

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a plain dict, refusing unknown keys."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"training: unknown keys {unknown}; allowed: {names}")
        return cls(**d)

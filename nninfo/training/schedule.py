"""Checkpoint schedules: at which optimiser steps to save the model."""

from __future__ import annotations

import math

import numpy as np

SCHEDULES = ("log", "lin")


def total_steps(epochs: float, steps_per_epoch: int) -> int:
    """Number of optimiser steps in ``epochs`` (fractional epochs allowed), at least 1."""
    return max(1, round(epochs * steps_per_epoch))


def checkpoint_steps(kind: str, n: int, epochs: float, steps_per_epoch: int) -> list[int]:
    """Sorted, distinct steps at which to checkpoint; always include 0 and the final step.

    ``n`` is the number of checkpoints, counting step 0 (epoch 0) and the final step.
    ``log``: step 0, then ``n - 1`` steps log-spaced from 1 to the last step (so early
    checkpoints fall at fractions of an epoch; ``n == 2``: steps 0 and the last). ``lin``:
    ``n`` steps evenly spaced from 0 to the last step. Steps are rounded to integers and
    duplicates dropped, so a short run may get fewer than ``n`` checkpoints, never more. The
    epoch of a checkpoint is ``step / steps_per_epoch``.
    """
    # TrainConfig validates these (the keys named here); a cheap guard for direct callers
    if kind not in SCHEDULES:
        raise ValueError(f"training.checkpoint_schedule: {kind!r} is not one of {list(SCHEDULES)}")
    if not (n >= 2 and epochs > 0 and steps_per_epoch >= 1):
        raise ValueError(
            f"checkpoint_steps: need training.checkpoint_count >= 2 (got {n!r}), "
            f"training.epochs > 0 (got {epochs!r}) and steps_per_epoch >= 1 "
            f"(got {steps_per_epoch!r})"
        )
    last = total_steps(epochs, steps_per_epoch)
    if kind == "lin":
        steps = np.rint(np.linspace(0, last, n))
    elif n == 2:  # np.logspace(0, x, 1) is [1], not the last step
        steps = np.array([0, last])
    else:
        steps = np.concatenate([[0], np.rint(np.logspace(0, math.log10(last), n - 1))])
    return sorted({int(s) for s in steps} | {0, last})

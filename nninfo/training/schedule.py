"""Checkpoint schedules: at which optimiser steps to save the model.

Every schedule gives sorted, distinct steps that include step 0 (the initial weights) and the
last step. ``training.checkpoint_count`` n is the most checkpoints a run gets, those two
included; rounding can merge neighbours, so a run may get fewer, never more.

``log`` is the rule of the published nninfo (Ehrlich et al., TMLR 2023;
``Schedule.create_log_spaced_chapters(E, n_chapters)``): the whole epochs
``unique(round(logspace(0, log10(E), n_chapters + 1)))`` with epoch 0 in front. Here
``n_chapters = n - 2``: epoch 0 and ``n - 1`` log-spaced epochs from 1 to E, duplicates
after rounding dropped. The published ``create_log_spaced_chapters(1000, 30)`` of the Tishby
demo is ``log`` with n = 32 (29 distinct checkpoints).

``log_fractional`` is the published ``fractional=True`` form with ``start_exp=s``: epoch 0
and ``n - 1`` epochs ``logspace(s, log10(E), n - 1)``, not rounded, so with s < 0 the first
ones fall inside epoch 1. Like the published training loop, the checkpoint of epoch e is
taken after the first step that reaches it, step ``ceil(e * steps_per_epoch)``; where
several epochs fall on one step, that step is saved once (the published code saves the same
weights again under a new chapter number).

``log_steps``: step 0 and ``n - 1`` steps log-spaced from step 1 to the last step (early
checkpoints at fractions of an epoch; the late ones sparser than ``log``'s).
``lin``: ``n`` steps evenly spaced from 0 to the last step.
"""

from __future__ import annotations

import math

import numpy as np

SCHEDULES = ("log", "log_fractional", "log_steps", "lin")
# start exponent of ``log_fractional``: the first checkpoint after step 0 is at epoch 10**s
DEFAULT_START_EXPONENT = -2.0


def total_steps(epochs: float, steps_per_epoch: int) -> int:
    """Number of optimiser steps in ``epochs`` (fractional epochs allowed), at least 1."""
    return max(1, round(epochs * steps_per_epoch))


def _log_points(start: float, epochs: float, n: int) -> np.ndarray:
    """``n - 1`` points log-spaced from ``10**start`` to ``epochs`` (n == 2: ``epochs``
    alone; ``np.logspace(a, b, 1)`` would be ``10**a``, not the end)."""
    if n == 2:
        return np.array([float(epochs)])
    return np.logspace(start, math.log10(epochs), n - 1)


def checkpoint_steps(kind: str, n: int, epochs: float, steps_per_epoch: int, *,
                     start_exponent: float = DEFAULT_START_EXPONENT) -> list[int]:
    """Sorted, distinct steps at which to checkpoint; always include 0 and the final step.

    ``n`` is the most checkpoints (``training.checkpoint_count``), step 0 and the final step
    included; the schedules are described in the module docstring. The epoch of a checkpoint
    is ``step / steps_per_epoch``.

    ``log`` places checkpoints at whole epochs (step ``epoch * steps_per_epoch``), as the
    published rule does; for a run of a whole number E of epochs the steps are exactly the
    published ones. A run of fractional length keeps the whole epochs before its end and
    ends with its last step (a run shorter than one epoch: steps 0 and the last only).
    ``start_exponent`` (``training.checkpoint_start_exponent``) is used by
    ``log_fractional`` only; ``10**start_exponent`` must be below ``epochs``.
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
    elif kind == "log_steps":
        steps = np.rint(_log_points(0.0, last, n))
    elif kind == "log":
        # the published rounding to whole epochs; the last point is the end of the run (for
        # a whole E the same), so a fractional E keeps its end and gets no extra checkpoint
        whole = np.unique(np.round(_log_points(0.0, epochs, n)[:-1]))
        steps = whole * steps_per_epoch
        steps = steps[steps < last]
    else:  # log_fractional
        check_start_exponent(start_exponent, epochs)
        x = _log_points(start_exponent, epochs, n) * steps_per_epoch
        # first step at or past each epoch; the slack keeps float noise of logspace (an epoch
        # a hair above a step) from moving a checkpoint one step later
        steps = np.clip(np.ceil(x * (1 - 1e-12) - 1e-9), 1, last)
    return sorted({int(s) for s in steps} | {0, last})


def check_start_exponent(start_exponent: float, epochs: float) -> None:
    """Refuse a ``log_fractional`` start exponent that is not a finite number, or whose first
    epoch ``10**start_exponent`` is not before the end of the run (the error names the keys)."""
    s = start_exponent
    if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s):
        raise ValueError(f"training.checkpoint_start_exponent: {s!r} is not a finite number")
    if not 10.0**s < epochs:
        raise ValueError(
            f"training.checkpoint_start_exponent: {s!r} puts the first log_fractional "
            f"checkpoint at epoch 10**{s!r} = {10.0**s:g}, not before the end of the run "
            f"(training.epochs: {epochs!r}); use an exponent below log10(epochs) = "
            f"{math.log10(epochs):.3g}"
        )

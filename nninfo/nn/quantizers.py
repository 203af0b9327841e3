"""Quantizers that map activations onto a few evenly spaced levels.

Level ``k`` (``k = 0 .. levels-1``) has the value ``lo + k * (hi - lo) / (levels - 1)``, so both
limits are levels. Gradients pass straight through (the quantizer is the identity for backprop).
"""

from __future__ import annotations

import torch
from torch import nn

from nninfo.checks import is_integer

MODES = ("stochastic", "center_saturating")


class Quantizer(nn.Module):
    """Round activations to ``levels`` evenly spaced values in ``[lo, hi]`` (inclusive).

    ``mode="stochastic"``: in training mode a value between two levels rounds up with
    probability equal to its fractional distance from the lower level (unbiased); in eval mode
    it rounds to the nearest level. ``mode="center_saturating"``: always the nearest level.
    Values outside the limits saturate at the limits in both modes. The noise is ``U[0, 1)``
    drawn with ``torch.rand_like`` from the global RNG of the tensor's device (so checkpoints
    that save it resume exactly), unless ``forward`` is given pre-drawn ``noise`` of x's shape
    (how :class:`~nninfo.training.stacked.BatchedMLP` gives every seed its own stream).
    """

    def __init__(self, levels: int, mode: str, limits: tuple[float, float]) -> None:
        super().__init__()
        if not is_integer(levels, 2):
            raise ValueError(f"quantizer.levels: {levels!r} is not an integer >= 2")
        if mode not in MODES:
            raise ValueError(f"quantizer.mode: {mode!r} is not one of {list(MODES)}")
        lo, hi = _check_limits(limits)
        self.levels, self.mode, self.lo, self.hi = levels, mode, lo, hi
        self.step = (hi - lo) / (levels - 1)
        # 0-dim tensors: ops with them skip the scalar-to-tensor copy a Python float costs
        self.register_buffer("_lo", torch.tensor(lo), persistent=False)
        self.register_buffer("_step", torch.tensor(self.step), persistent=False)
        self.register_buffer("_shift", torch.tensor(-lo / self.step), persistent=False)
        self.register_buffer("_inv_step", torch.tensor(1.0 / self.step), persistent=False)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, mode={self.mode}, limits=({self.lo}, {self.hi})"

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Position of ``x`` in level units, clamped to ``[0, levels-1]``."""
        return ((x - self.lo) / self.step).clamp_(0.0, self.levels - 1)

    @property
    def stochastic(self) -> bool:
        """Whether ``forward`` draws noise (stochastic mode, training)."""
        return self.training and self.mode == "stochastic"

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Quantized ``x`` (straight-through gradient); ``noise``: U[0,1) draws, x's shape."""
        with torch.no_grad():
            if self.stochastic:
                # floor((x - lo) / step + U[0,1)) rounds up with probability equal to the
                # fractional part: unbiased rounding.
                u = torch.rand_like(x) if noise is None else noise
                u = torch.addcmul(self._shift, x, self._inv_step).add_(u)
                u.floor_().clamp_(0.0, self.levels - 1)
            else:
                u = self._scaled(x).round_()
            q = torch.addcmul(self._lo, u, self._step)
            if not x.requires_grad:
                return q
            delta = q.sub_(x)
        return x + delta  # straight-through: value q, gradient identity

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Index (0 .. levels-1) of the nearest level; uint8 if levels <= 256 else int64."""
        dtype = torch.uint8 if self.levels <= 256 else torch.int64
        with torch.no_grad():
            return self._scaled(x).round_().to(dtype)

    def values(self, codes: torch.Tensor) -> torch.Tensor:
        """Level values of integer ``codes`` (inverse of :meth:`codes` on level values)."""
        return codes.to(torch.get_default_dtype()) * self.step + self.lo


def _check_limits(limits: object) -> tuple[float, float]:
    if not isinstance(limits, list | tuple) or len(limits) != 2:
        raise ValueError(f"quantizer.limits: {limits!r} is not a pair [lo, hi]")
    try:
        lo, hi = float(limits[0]), float(limits[1])
    except (TypeError, ValueError):
        raise ValueError(f"quantizer.limits: {limits!r} is not a pair of numbers") from None
    if not (lo < hi) or not (abs(lo) < float("inf") and abs(hi) < float("inf")):
        raise ValueError(f"quantizer.limits: {limits!r} must be finite with lo < hi")
    return lo, hi

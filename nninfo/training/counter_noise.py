"""Stochastic-rounding noise as a hash of (seed, step, position): the noise of a compiled step.

A generator draws its numbers in kernels of its own, one call per seed and layer: for 20
seeds and five quantized layers that is 100 small kernels per step, more than the rest of
the step. Here the uniform number that rounds element ``(b, j)`` of layer ``k`` at step
``s`` of a seed is a hash of the seed's key, ``s`` and the element's position, computed with
integer tensor operations, so ``torch.compile`` folds it into the quantizer's own kernel.
A seed's noise depends on its seed and the step only: not on the other seeds of its group,
not on graphs or compilation, and a run resumed at step ``s`` draws what it would have drawn.

The hash is Chris Wellons' ``lowbias32``, a bijection of 32-bit integers with low bias,
applied in layers (key, then step, then position); multiplications are split into 16-bit
halves so that no intermediate leaves the int64 range. Uniforms have 24 random bits (every
float32 in [0, 1) of the form k / 2^24).
"""

from __future__ import annotations

import torch
from torch import Tensor

_M32 = 0xFFFFFFFF
_C1, _C2 = 0x7FEB352D, 0x846CA68B
_POS_BITS = 24  # positions within a layer's step: batch * width < 2^24


def _mul32(x: Tensor | int, c: int) -> Tensor | int:
    """``x * c mod 2^32`` for ``x`` in [0, 2^32), without overflowing int64."""
    lo, hi = x & 0xFFFF, x >> 16
    return (lo * c + (((hi * (c & 0xFFFF)) & 0xFFFF) << 16)) & _M32


def mix32(x: Tensor | int) -> Tensor | int:
    """``lowbias32``: a bijective 32-bit hash of ``x`` in [0, 2^32) (int or int64 tensor)."""
    x = x ^ (x >> 16)
    x = _mul32(x, _C1)
    x = x ^ (x >> 15)
    x = _mul32(x, _C2)
    return x ^ (x >> 16)


def seed_key(seed: int) -> int:
    """A 32-bit key of a (up to 64-bit) noise seed."""
    return mix32((seed & _M32) ^ mix32((seed >> 32) & _M32))


class CounterNoise:
    """Noise of every seed of a group for each training pass, from a step counter.

    ``keys``: one per seed (:func:`seed_key` of its noise seed); ``widths``: per layer, its
    width if its quantizer draws noise, else 0. :meth:`draw` returns what
    :meth:`~nninfo.training.stacked.BatchedMLP.draw_noise` does, ``(S, batch, width)`` per
    noisy layer, for the current step, and advances the step; :attr:`step` is a device
    tensor (set it with :meth:`set_step` to resume).
    """

    def __init__(self, keys: list[int], widths: list[int], device: torch.device) -> None:
        self.keys = torch.tensor(keys, dtype=torch.long, device=device).view(-1, 1, 1)
        self.widths = list(widths)
        self.step = torch.zeros((), dtype=torch.long, device=device)

    def set_step(self, step: int) -> None:
        self.step.fill_(step)

    def draw(self, batch: int) -> list[Tensor | None]:
        """Uniforms in [0, 1) for this step's pass on ``batch`` rows; the step advances."""
        base = mix32(self.keys ^ mix32(self.step & _M32))
        out: list[Tensor | None] = []
        for k, width in enumerate(self.widths):
            if not width:
                out.append(None)
                continue
            pos = torch.arange(batch * width, device=self.keys.device).view(batch, width)
            h = mix32(mix32(base ^ k) ^ (pos | (k << _POS_BITS) & _M32))
            out.append((h >> 8).to(torch.float32) * 2.0**-24)
        self.step.add_(1)
        return out

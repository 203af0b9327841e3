"""Synthetic tasks generated from the seed: ``xor``, ``parity``, ``checkerboard``.

All draw ``n_train + n_test`` i.i.d. samples from ``np.random.default_rng(seed)``; the first
``n_train`` form ``train``, the rest ``test``. Labels are class indices 0/1.

``parity``: ``n_bits`` fair coin bits ``b``; label ``sum(b) mod 2``; inputs ``b`` (0/1), or,
with ``noise > 0``, ``b + noise * N(0, 1)`` (the bits are drawn before the noise, so the same
seed gives the same bits and labels at every noise level). ``xor`` is parity of 2 bits.
``checkerboard``: points uniform in ``[0, 1)^2``; with ``cells = (cx, cy)`` the label is
``(floor(x0 * cx) + floor(x1 * cy)) mod 2``, computed from the stored float32 coordinates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from nninfo.checks import is_integer

from .base import RawTask, register_task


def _check_int(name: str, value: Any, minimum: int) -> int:
    if not is_integer(value, minimum, numpy_ints=True):
        raise ValueError(f"option {name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _check_noise(noise: Any) -> float:
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0:
        raise ValueError(f"option noise={noise!r} must be a number >= 0")
    return float(noise)


def _split(x: np.ndarray, labels: np.ndarray, n_train: int) -> dict:
    xt, lt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels.astype(np.int64))
    return {"train": (xt[:n_train], lt[:n_train]), "test": (xt[n_train:], lt[n_train:])}


def parity_samples(
    n: int, n_bits: int, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` parity samples: inputs (n, n_bits) float64 and labels (n,) int64."""
    bits = rng.integers(0, 2, size=(n, n_bits))
    labels = bits.sum(axis=1) % 2
    x = bits.astype(np.float64)
    if noise > 0:
        x += noise * rng.standard_normal(size=x.shape)
    return x, labels


@register_task("parity", splits=("train", "test"),
               input_shape=lambda n_bits, **_: (n_bits,))
def load_parity(
    data_dir: Path,
    seed: int,
    *,
    n_bits: int = 3,
    n_train: int = 4096,
    n_test: int = 1024,
    noise: float = 0.0,
) -> RawTask:
    """Parity of ``n_bits`` bits (continuous inputs when ``noise > 0``)."""
    n_bits = _check_int("n_bits", n_bits, 1)
    n_train, n_test = _check_int("n_train", n_train, 1), _check_int("n_test", n_test, 0)
    noise = _check_noise(noise)
    x, labels = parity_samples(n_train + n_test, n_bits, noise, np.random.default_rng(seed))
    return RawTask(_split(x, labels, n_train), n_classes=2, metadata={"n_bits": n_bits})


@register_task("xor", splits=("train", "test"), input_shape=(2,))
def load_xor(
    data_dir: Path,
    seed: int,
    *,
    n_train: int = 4096,
    n_test: int = 1024,
    noise: float = 0.0,
) -> RawTask:
    """XOR of two bits (parity with ``n_bits=2``)."""
    return load_parity(data_dir, seed, n_bits=2, n_train=n_train, n_test=n_test, noise=noise)


def _check_cells(cells: Any) -> tuple[int, int]:
    pair = (cells, cells) if not isinstance(cells, list | tuple) else tuple(cells)
    if len(pair) != 2:
        raise ValueError(f"option cells={cells!r} must be an integer or a pair of integers")
    return _check_int("cells", pair[0], 1), _check_int("cells", pair[1], 1)


@register_task("checkerboard", splits=("train", "test"), input_shape=(2,))
def load_checkerboard(
    data_dir: Path,
    seed: int,
    *,
    cells: int | tuple[int, int] = 4,
    n_train: int = 4096,
    n_test: int = 1024,
) -> RawTask:
    """Points in the unit square labelled by the parity of their checkerboard cell."""
    cx, cy = _check_cells(cells)
    n_train, n_test = _check_int("n_train", n_train, 1), _check_int("n_test", n_test, 0)
    rng = np.random.default_rng(seed)
    x = rng.random(size=(n_train + n_test, 2)).astype(np.float32)
    col = np.minimum(np.floor(x[:, 0] * np.float32(cx)), cx - 1)
    row = np.minimum(np.floor(x[:, 1] * np.float32(cy)), cy - 1)
    labels = (col + row).astype(np.int64) % 2
    return RawTask(_split(x, labels, n_train), n_classes=2, metadata={"cells": [cx, cy]})

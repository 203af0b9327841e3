"""The Shwartz-Ziv & Tishby (2017) 12-bit task, shipped as ``nninfo/data/tishby_2017.npz``.

All 4096 patterns of 12 bits ``F`` with a binary label ``y`` (2,118 ones). Inputs stay 0/1
floats, as in the published nninfo code (the ``var_u.mat`` bits are used unchanged). The
published split draws ``np.random.default_rng(seed).permutation(4096)`` (numpy's PCG64
``Generator``, as in nninfo's ``SubSet``) and takes the first 2,796 indices for training and
the remaining 1,300 for testing; ``seed`` defaults to 42.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .base import RawTask, register_task

N_PATTERNS = 4096
N_TRAIN = 2796


def load_tishby_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The shipped ``(F, y)`` arrays: (4096, 12) and (4096,) uint8."""
    with resources.files("nninfo").joinpath("data/tishby_2017.npz").open("rb") as fh:
        with np.load(fh) as data:
            return data["F"].copy(), data["y"].copy()


def tishby_split_indices(seed: int = 42, n_train: int = N_TRAIN) -> tuple[np.ndarray, np.ndarray]:
    """Train and test pattern indices of the published random split."""
    if not 0 < n_train < N_PATTERNS:
        raise ValueError(f"n_train={n_train} must lie in 1..{N_PATTERNS - 1}")
    perm = np.random.default_rng(seed).permutation(N_PATTERNS)
    return perm[:n_train], perm[n_train:]


@register_task("tishby", splits=("train", "test", "full"), input_shape=(12,))
def load_tishby(data_dir: Path, seed: int, *, n_train: int = N_TRAIN) -> RawTask:
    """Splits ``train`` (2,796) and ``test`` (1,300); ``full`` holds all 4096 patterns."""
    bits, y = load_tishby_arrays()
    x = torch.from_numpy(bits.astype(np.float32))
    labels = torch.from_numpy(y.astype(np.int64))
    train, test = (torch.from_numpy(i) for i in tishby_split_indices(seed, n_train))
    splits = {
        "train": (x[train], labels[train]),
        "test": (x[test], labels[test]),
        "full": (x, labels),
    }
    meta = {"split": f"np.random.default_rng({seed}).permutation(4096)[:{n_train}] / rest"}
    return RawTask(splits, n_classes=2, default_encoding="binary", metadata=meta)

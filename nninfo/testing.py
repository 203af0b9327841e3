"""Write tiny datasets in the exact on-disk formats torchvision reads (for tests and demos).

Each writer fills ``root`` in torchvision's layout with random images and labels drawn from
``np.random.default_rng(seed)`` and returns what it wrote, so a test can compare a loader's
output with the arrays. Formats:

* idx ("SN3 Pascal Vincent"): 4-byte big-endian magic ``0x0000 <type> <ndim>``, then ``ndim``
  big-endian uint32 sizes, then the big-endian data (type 0x08 uint8, 0x0C int32).
* CIFAR-10 python batches: pickled dicts with ``data`` (N, 3072) uint8 in CHW order and
  ``labels`` (list of ints); ``batches.meta`` holds ``label_names``.
* LFW: torchvision's ImageFolder layout ``lfw-deepfunneled/<person>/<person>_NNNN.jpg``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

_IDX_TYPES = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
QMNIST_COMPAT_ROWS = 10_000  # QMNIST's "test50k" is the test file from row 10,000 on
CIFAR10_LABEL_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (uint8 or int32, 1 to 3 dimensions) as an uncompressed idx file."""
    array = np.asarray(array)
    if array.dtype not in _IDX_TYPES or not 1 <= array.ndim <= 3:
        raise ValueError(f"array: dtype {array.dtype}, ndim {array.ndim}; need uint8/int32, 1-3")
    header = bytes([0, 0, _IDX_TYPES[array.dtype], array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(array.astype(array.dtype.newbyteorder(">"), copy=False).tobytes())


def _random_images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def write_mnist(
    root: str | os.PathLike,
    *,
    kind: str = "MNIST",
    n_train: int = 60,
    n_test: int = 20,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write ``root/<kind>/raw/*-ubyte`` (kind ``MNIST`` or ``FashionMNIST``).

    Returns ``{"train": (images (n, 28, 28) uint8, labels (n,) int64), "test": ...}``.
    """
    if kind not in ("MNIST", "FashionMNIST"):
        raise ValueError(f"kind={kind!r}; allowed: 'MNIST', 'FashionMNIST'")
    rng = np.random.default_rng(seed)
    raw = Path(root) / kind / "raw"
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = _random_images(rng, n, (28, 28))
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        out[split] = (images, labels.astype(np.int64))
    return out


def write_qmnist_test(
    root: str | os.PathLike, *, n_extra: int = 30, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Write ``root/QMNIST/raw/qmnist-test-{images-idx3-ubyte,labels-idx2-int}``.

    The test file gets ``10,000 + n_extra`` rows (the first 10,000 are the MNIST-compatible
    part, all zero here); returns the ``n_extra`` rows that form QMNIST's ``test50k``:
    images (n_extra, 28, 28) uint8 and class labels (n_extra,) int64. The label file has
    QMNIST's 8 int32 columns (class first; the others are random stand-ins).
    """
    rng = np.random.default_rng(seed)
    n = QMNIST_COMPAT_ROWS + n_extra
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[QMNIST_COMPAT_ROWS:] = _random_images(rng, n_extra, (28, 28))
    table = rng.integers(0, 1000, size=(n, 8)).astype(np.int32)
    table[:, 0] = rng.integers(0, 10, size=n)
    raw = Path(root) / "QMNIST" / "raw"
    write_idx(raw / "qmnist-test-images-idx3-ubyte", images)
    write_idx(raw / "qmnist-test-labels-idx2-int", table)
    return images[QMNIST_COMPAT_ROWS:], table[QMNIST_COMPAT_ROWS:, 0].astype(np.int64)


def write_cifar10(
    root: str | os.PathLike, *, n_per_batch: int = 8, n_test: int = 10, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write ``root/cifar-10-batches-py`` (5 train batches, test batch, meta).

    Returns ``{"train": (images (5 * n_per_batch, 3, 32, 32) uint8, labels), "test": ...}``.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    written = []
    for name in names:
        n = n_test if name == "test_batch" else n_per_batch
        images = _random_images(rng, n, (3, 32, 32))
        labels = rng.integers(0, 10, size=n)
        entry = {
            "batch_label": name,
            "labels": [int(v) for v in labels],
            "data": images.reshape(n, 3 * 32 * 32),
            "filenames": [f"{name}_{i}.png" for i in range(n)],
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(entry, fh, protocol=2)
        written.append((images, labels.astype(np.int64)))
    meta = {"label_names": CIFAR10_LABEL_NAMES, "num_cases_per_batch": n_per_batch,
            "num_vis": 3072}
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump(meta, fh, protocol=2)
    train = written[:5]
    return {
        "train": (np.concatenate([i for i, _ in train]), np.concatenate([y for _, y in train])),
        "test": written[5],
    }


def write_lfw(root: Path, people: int = 3, images: int = 4, seed: int = 0) -> Path:
    """A tiny ``lfw-deepfunneled`` ImageFolder under ``root``: ``people`` x ``images`` random
    RGB JPEGs of 40x40 (every person's last image 50x44, to exercise the resize)."""
    from PIL import Image  # Pillow comes with torchvision

    rng = np.random.default_rng(seed)
    for p in range(people):
        folder = root / "lfw-deepfunneled" / f"Person_{p}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(images):
            shape = (44, 50, 3) if i == images - 1 else (40, 40, 3)
            pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"Person_{p}_{i + 1:04d}.jpg")
    return root

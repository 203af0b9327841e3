"""Labeled Faces in the Wild (deep-funneled) as 32x32 RGB images: the ``lfw`` task.

The published face autoencoder (Gutknecht et al. 2025, ``face_task_augmented.py`` of the
published nninfo) reads LFW with torchvision's ``ImageFolder`` from::

    root/lfw-deepfunneled/<person>/<person>_<number>.jpg      (13,233 images, 5,749 people)

(``root`` is the data directory, see :func:`nninfo.folders.default_data_dir`; the Kaggle copy's
extra level ``lfw-deepfunneled/lfw-deepfunneled/`` and torchvision's ``LFWPeople`` folder
``lfw-py/lfw-deepfunneled/`` are found too). Nothing is downloaded. Each RGB image is, as
published, flipped horizontally or not, rotated by -10, -5, 0, 5 or 10 degrees (bilinear,
about its centre, corners filled black), resized to 40x40 and centre-cropped to 32x32: ten
versions of every image (``augment=False``: one, resized straight to 32x32 as the published
``face_task.py``). Pixels become float32 ``pixel / 255`` in [0, 1], shape ``(N, 3, 32, 32)``.
The versions are stacked flip-major, then angle, then image in ``ImageFolder`` order, and
shuffled by ``np.random.default_rng(seed).permutation`` (seed 42 published); the first
``n_train`` form ``train`` and the rest ``test``. By default ``n_train`` keeps the published
proportion 100,000 / 132,330, so the full data set gives exactly the published 100,000 /
32,330 split.

The loss target is the image itself (label encoding ``reconstruction``); the labels, the
analysis target Y, are the person indices of ``ImageFolder`` (sorted folder names).
Decoding and transforming all images takes minutes, so the pixels are cached (``cache=True``)
in ``root/lfw-deepfunneled.nninfo-<augment>-<key>.npy``, keyed by the files' names, sizes and
modification times and the PIL and torchvision versions, beside its SHA-256
(``<cache>.sha256``): a cache that does not match it, or does not load as the expected
uint8 array (never unpickled), is rebuilt with a warning. An image that does not decode
(not an image, truncated) stops the load with :class:`LFWImageError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nninfo.checks import is_integer

from .base import DatasetMissingError, RawTask, register_task
from .labels import RECONSTRUCTION

LFW_FOLDER = "lfw-deepfunneled"
#: Where LFW's deep-funneled images can be had (the notebook names the Kaggle copy).
LFW_SOURCES = ("http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz",
               "https://www.kaggle.com/datasets/jessicali9530/lfw-dataset")
FLIPS = (False, True)
ANGLES = (-10, -5, 0, 5, 10)  # degrees, counter-clockwise
RESIZE, CROP = 40, 32
#: The published split: 100,000 train / 32,330 test of the 10 x 13,233 augmented images.
PUBLISHED_SPLIT = (100_000, 132_330)
_CACHE_VERSION = 2  # 2: caches come with their SHA-256


class LFWImageError(ValueError):
    """An LFW image file does not decode; the message names the file and what is wrong."""


def find_lfw_folder(data_dir: Path) -> Path:
    """The folder holding one sub-folder per person; :class:`DatasetMissingError` if none."""
    folder = Path(data_dir) / LFW_FOLDER
    for candidate in (folder / LFW_FOLDER, folder, Path(data_dir) / "lfw-py" / LFW_FOLDER):
        if candidate.is_dir() and any(p.is_dir() for p in candidate.iterdir()):
            return candidate
    raise DatasetMissingError(
        f"LFW (deep-funneled) not found: expected the folder {folder} with one sub-folder per "
        f"person holding its images ({folder}/<person>/<person>_0001.jpg, torchvision's "
        f"ImageFolder layout). Download lfw-deepfunneled.tgz ({LFW_SOURCES[0]}) or the Kaggle "
        f"copy the published notebook names ({LFW_SOURCES[1]}) and unpack it so that "
        f"{folder} holds the 5,749 person folders, or pass data_dir=... / set NNINFO_DATA_DIR "
        f"to the directory that holds '{LFW_FOLDER}'. Nothing is downloaded."
    )


def published_versions(image: Any, augment: bool = True) -> np.ndarray:
    """The published 32x32 versions of one PIL RGB image: ``(10, 3, 32, 32)`` uint8 (flip
    major, then angle) with ``augment``, else ``(1, 3, 32, 32)``; ``ToTensor`` of them is
    these values / 255."""
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode

    if not augment:
        return np.asarray(F.resize(image, [CROP, CROP]))[None].transpose(0, 3, 1, 2)
    out = []
    for flip in FLIPS:
        img = F.hflip(image) if flip else image
        for angle in ANGLES:
            turned = F.rotate(img, angle, interpolation=InterpolationMode.BILINEAR)
            out.append(np.asarray(F.center_crop(F.resize(turned, [RESIZE, RESIZE]), [CROP, CROP])))
    return np.stack(out).transpose(0, 3, 1, 2)


def _cache_path(folder: Path, samples: list[tuple[str, int]], augment: bool) -> Path:
    import PIL
    import torchvision

    files = []
    for path, _ in samples:
        st = os.stat(path)
        files.append([os.path.relpath(path, folder), st.st_size, st.st_mtime_ns])
    key = json.dumps([_CACHE_VERSION, augment, RESIZE, CROP, PIL.__version__,
                      torchvision.__version__, files])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return folder.parent / f"{folder.name}.nninfo-{'x10' if augment else 'x1'}-{digest}.npy"


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save(path: Path, images: np.ndarray) -> None:
    """The cache and then its SHA-256, each written to a temporary file and renamed: a
    reader sees whole files (a cache without its checksum is rebuilt)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    sums = _checksum_path(path)
    tmp_sum = sums.with_name(f".{sums.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:  # a file object: np.save adds no suffix
            np.save(fh, images)
        tmp_sum.write_text(_file_sha256(tmp) + "\n")
        os.replace(tmp, path)
        os.replace(tmp_sum, sums)
    except OSError as err:
        warnings.warn(f"lfw: could not cache the images in {path}: {err}", stacklevel=3)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_sum.unlink(missing_ok=True)


def _load_cache(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached images if ``path`` holds them intact (its SHA-256 as recorded, a uint8
    array of ``shape``; nothing is unpickled), else None with a warning that it is rebuilt."""
    if not path.is_file():
        return None
    sums = _checksum_path(path)
    try:
        recorded = sums.read_text().strip() if sums.is_file() else None
        if recorded is None:
            problem = f"its checksum file {sums.name} is missing"
        elif _file_sha256(path) != recorded:
            problem = f"its SHA-256 does not match {sums.name}"
        else:
            images = np.load(path, allow_pickle=False)
            if images.dtype == np.uint8 and images.shape == shape:
                return images
            problem = (f"it holds a {images.dtype} array of shape {list(images.shape)}, not "
                       f"uint8 of shape {list(shape)}")
    except (OSError, ValueError, EOFError) as err:
        problem = f"it does not load: {err}"
    warnings.warn(f"lfw: the cached images {path} are unusable ({problem}); rebuilding the "
                  "cache from the image files", stacklevel=3)
    return None


def _decode(path: str, loader, augment: bool) -> np.ndarray:
    """:func:`published_versions` of the image file ``path``; :class:`LFWImageError` naming
    the file when it does not decode."""
    try:
        return published_versions(loader(path), augment)
    except (OSError, ValueError, SyntaxError) as err:  # PIL: UnidentifiedImageError, truncated
        what = ("not an image PIL can identify" if type(err).__name__ == "UnidentifiedImageError"
                else f"{type(err).__name__}: {err}")
        raise LFWImageError(f"LFW image {path}: cannot be decoded ({what}); replace the file "
                            "with the original (re-download or unpack LFW again) or remove "
                            "it") from None


def lfw_images(folder: Path, augment: bool = True, cache: bool = True
               ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(images, labels, people)`` of an ``ImageFolder``: images ``(K, N, 3, 32, 32)`` uint8
    (K = 10 versions with ``augment``, else 1), person indices ``(N,)`` int64 in
    ``ImageFolder`` order, and the person names."""
    from torchvision.datasets import ImageFolder

    try:
        ds = ImageFolder(str(folder))
    except FileNotFoundError as err:
        raise DatasetMissingError(f"LFW folder {folder}: {err}") from None
    labels = np.asarray(ds.targets, dtype=np.int64)
    path = _cache_path(folder, ds.samples, augment) if cache else None
    n_versions = len(FLIPS) * len(ANGLES) if augment else 1
    shape = (n_versions, len(labels), 3, CROP, CROP)
    cached = None if path is None else _load_cache(path, shape)
    if cached is not None:
        return cached, labels, list(ds.classes)
    images = np.empty(shape, dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # PIL frees the GIL
        done = pool.map(lambda s: _decode(s[0], ds.loader, augment), ds.samples)
        for i, v in enumerate(done):
            images[:, i] = v
    if path is not None:
        _save(path, images)
    return images, labels, list(ds.classes)


def published_n_train(total: int) -> int:
    """Train-split size keeping the published proportion 100,000 / 132,330 (exactly 100,000
    for the full augmented LFW), at least 1 and at most ``total - 1``."""
    n, of = PUBLISHED_SPLIT
    return min(max((total * n + of // 2) // of, 1), total - 1)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"option {name}={value!r} must be a bool")
    return value


@register_task("lfw", splits=("train", "test"), input_shape=(3, CROP, CROP))
def load_lfw(
    data_dir: Path,
    seed: int,
    *,
    augment: bool = True,
    n_train: int | None = None,
    cache: bool = True,
) -> RawTask:
    """LFW deep-funneled, 32x32 RGB, augmented x10 and split as published (see the module
    docstring); ``n_train=None`` keeps the published proportion. Loss target: the image."""
    _check_bool("augment", augment)
    _check_bool("cache", cache)
    folder = find_lfw_folder(data_dir)
    images, people, names = lfw_images(folder, augment, cache)
    n_versions, n_images = images.shape[:2]
    total = n_versions * n_images
    if total < 2:
        raise DatasetMissingError(f"LFW folder {folder}: {total} image(s); a train and a test "
                                  "split need at least 2")
    if n_train is None:
        n_train = published_n_train(total)
    elif not is_integer(n_train, 1) or n_train >= total:
        raise ValueError(f"option n_train={n_train!r} must be null (the published proportion) "
                         f"or an integer in 1..{total - 1} ({total} images)")
    order = np.random.default_rng(seed).permutation(total)
    x = torch.from_numpy(images.reshape(total, 3, CROP, CROP)[order]).float().div_(255.0)
    labels = torch.from_numpy(np.tile(people, n_versions)[order])
    splits = {"train": (x[:n_train], labels[:n_train]), "test": (x[n_train:], labels[n_train:])}
    meta = {"folder": str(folder), "images": n_images, "people": len(names),
            "versions": n_versions, "scaling": "pixel / 255",
            "split": f"np.random.default_rng({seed}).permutation({total})[:{n_train}] / rest"}
    return RawTask(splits, n_classes=max(len(names), 1), default_encoding=RECONSTRUCTION,
                   metadata=meta)

"""Image tasks: MNIST, Fashion-MNIST, both combined, QMNIST's extra test images, CIFAR-10.

Directory layout under the data directory ``root`` (see
:func:`nninfo.folders.default_data_dir`), the layout torchvision uses::

    root/MNIST/raw/{train-images-idx3-ubyte, train-labels-idx1-ubyte,
                    t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte}
    root/FashionMNIST/raw/  (the same four file names)
    root/QMNIST/raw/{qmnist-test-images-idx3-ubyte, qmnist-test-labels-idx2-int}
    root/cifar-10-batches-py/{data_batch_1 .. data_batch_5, test_batch, batches.meta}

MNIST-like images become float32 ``pixel / pixel_divisor``, flattened to 784 unless
``flatten=False`` (then ``(N, 1, 28, 28)``). ``pixel_divisor`` is 255 (default: pixels span
exactly [0, 1]) or 256 (what the published nninfo of Ehrlich et al. 2023 divides by in every
MNIST-family task, so its pixels span [0, 255/256]). ``mnist``'s ``test_set`` is ``mnist``
(MNIST's 10k test images) or ``mnist+qmnist50k``: those followed by QMNIST's 50k extra test
images as one 60k ``test`` split, the test set of the published MNIST experiments. The
MNIST-family files are read by torchvision (``download=True`` fetches missing files when
online); when files lack and cannot be fetched (``download=False``, no download host
answering within :data:`REACH_TIMEOUT_S` seconds, or a failed download), one
:class:`DataFilesMissing` names every missing file of every dataset the task needs (QMNIST's
too when the options use it) and how to get them.
torchvision's ``CIFAR10`` insists on the md5 sums of the original archive's files, so CIFAR-10
is fetched through torchvision when missing but read here from the documented pickle format
(``verify_md5=True`` checks the files against torchvision's md5 list first). The batches are
unpickled by a restricted unpickler that resolves only the globals a numpy array needs (see
:class:`_CifarUnpickler`), so a planted or corrupt file raises :class:`DataFileError` and runs
no code. CIFAR-10 images are ``(N, 3, 32, 32)`` float32, standardised per channel by the
training set's mean and (population) standard deviation. The ``seed`` argument is unused:
these tasks have fixed published splits.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch

from .base import DatasetMissingError, RawTask, register_task

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
QMNIST_TEST_FILES = ("qmnist-test-images-idx3-ubyte", "qmnist-test-labels-idx2-int")
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_FILES = (*CIFAR10_TRAIN_FILES, "test_batch", "batches.meta")
#: ``mnist``'s ``test_set`` option: MNIST's 10k test images, or those and QMNIST's 50k extra
#: (one 60k test split, as the published MNIST experiments test).
MNIST_TEST_SETS = ("mnist", "mnist+qmnist50k")
#: ``pixel_divisor`` of the MNIST-family tasks: 255 (pixels span [0, 1]) or 256 (published).
PIXEL_DIVISORS = (255, 256)


#: Seconds a download host (or the proxy for it) has to accept a connection before missing
#: files are reported as missing instead of fetched (torchvision itself waits far longer).
REACH_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class _Files:
    """The files of one dataset a task needs, how torchvision fetches them (``fetch``, from
    ``urls``) and how a user puts them there by hand (``how``)."""

    name: str
    folder: Path
    files: tuple[str, ...]
    fetch: Callable[[], Any]
    urls: tuple[str, ...] = ()
    how: str = ""

    @property
    def missing(self) -> list[str]:
        return [f for f in self.files if not (self.folder / f).is_file()]


class DataFilesMissing(DatasetMissingError):
    """Files of an image dataset are missing. The message tells how to point nninfo at them
    in the Python API's words (``data_dir=``); :meth:`worded` says it in another's (the
    command line's ``--data-dir``, ``mlflow run``'s ``-P data_dir=``)."""

    API = {"data_dir": "pass data_dir=... or set NNINFO_DATA_DIR to"}

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(self.worded(self.API))

    def worded(self, words: dict[str, str]) -> str:
        """The message with ``{data_dir}`` from ``words`` (else the API's)."""
        return self.template.format_map({**self.API, **words})

    def __reduce__(self) -> tuple[Any, ...]:  # pickled by a worker: keep the template
        return type(self), (self.template,)


def _missing_message(needs: list[_Files], reason: str) -> str:
    """A :class:`DataFilesMissing` template: what is missing where, why it was not fetched,
    how to get each dataset, and ``{data_dir}`` (how to name the folder)."""
    where = "; ".join(f"the files {list(n.files)} in {n.folder}" for n in needs)
    holds = " and ".join(
        f"'{n.folder.parent.name if n.folder.name == 'raw' else n.folder.name}'" for n in needs
    )
    how = " ".join(n.how for n in needs if n.how)
    text = (f"{' and '.join(n.name for n in needs)} not found: expected {where} ({reason}). "
            f"{how}{' ' if how else ''}")
    return text.replace("{", "{{").replace("}", "}}") + (
        f"If they are elsewhere, {{data_dir}} the directory that holds {holds}.")


def _reachable(urls: tuple[str, ...], timeout: float = REACH_TIMEOUT_S) -> bool:
    """Whether the host of any of ``urls`` (or the proxy urllib would use for it) accepts a
    TCP connection within ``timeout`` seconds, name lookup included (the attempts run in
    daemon threads; one still waiting then counts as unreachable)."""
    import socket
    import threading
    import time
    import urllib.request
    from urllib.parse import urlparse

    proxies = urllib.request.getproxies()
    targets = set()
    for url in urls:
        parts = urlparse(url)
        if parts.scheme in proxies and not urllib.request.proxy_bypass(parts.hostname or ""):
            parts = urlparse(proxies[parts.scheme])
        default = 443 if parts.scheme == "https" else 80
        if parts.hostname:
            targets.add((parts.hostname, parts.port or default))
    reached = threading.Event()

    def knock(address: tuple[str, int]) -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            reached.set()
        except (OSError, ValueError):
            pass

    threads = [threading.Thread(target=knock, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    while (not reached.is_set() and time.monotonic() < deadline
           and any(t.is_alive() for t in threads)):
        reached.wait(0.02)
    return reached.is_set()


def _ensure(needs: list[_Files], download: bool) -> None:
    """Make sure every file the task needs is there, before reading any: with
    ``download=False``, or when no download host answers within :data:`REACH_TIMEOUT_S`
    seconds, one :class:`DataFilesMissing` names every missing dataset's files and how to get
    them; else missing datasets are fetched, and a failed fetch names all that still lack."""
    missing = [n for n in needs if n.missing]
    if missing and not download:
        raise DataFilesMissing(_missing_message(missing, "download=False"))
    urls = tuple(u for n in missing for u in n.urls)
    if missing and urls and not _reachable(urls):
        hosts = sorted({urlparse(u).hostname or u for u in urls})
        raise DataFilesMissing(_missing_message(
            missing, f"not downloaded: no download host ({', '.join(hosts)}) answered within "
                     f"{REACH_TIMEOUT_S:g} s; this machine seems offline"))
    for need in missing:
        try:
            need.fetch()
        except Exception as err:  # torchvision raises RuntimeError, URLError, OSError, ...
            reason = f"download failed: {type(err).__name__}: {err}".strip()
            lacking = [n for n in needs if n.missing] or [need]
            raise DataFilesMissing(_missing_message(lacking, reason)) from err


def _check_divisor(pixel_divisor: Any) -> float:
    if isinstance(pixel_divisor, bool) or pixel_divisor not in PIXEL_DIVISORS:
        raise ValueError(
            f"option pixel_divisor={pixel_divisor!r} must be 255 (pixels span [0, 1]) or 256 "
            "(the published nninfo's pixel / 256.)"
        )
    return float(pixel_divisor)


def _images(data: torch.Tensor, flatten: bool, divisor: float = 255.0) -> torch.Tensor:
    x = data.to(torch.float32).div_(divisor)
    return x.reshape(len(x), -1) if flatten else x.unsqueeze(1)


def _mnist_shape(flatten: bool = True, **_: Any) -> tuple[int, ...]:
    return (784,) if flatten else (1, 28, 28)


def _mnist_splits(qmnist_test50k: bool = False, **_: Any) -> tuple[str, ...]:
    return ("train", "test", "qmnist_test50k") if qmnist_test50k else ("train", "test")


def _cifar_shape(flatten: bool = False, **_: Any) -> tuple[int, ...]:
    return (3 * 32 * 32,) if flatten else (3, 32, 32)


def _idx_how(folder: Path, base_url: str, files: tuple[str, ...]) -> str:
    """How to fetch idx files by hand: their .gz from ``base_url``, unpacked into ``folder``."""
    return (f"To get them: download {', '.join(f + '.gz' for f in files)} from {base_url} "
            f"(on a machine that is online) and gunzip them into {folder} (torchvision reads "
            "the idx files uncompressed).")


def _mnist_files(cls_name: str, root: Path) -> _Files:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    folder = root / cls_name / "raw"
    mirrors = tuple(cls.mirrors)
    return _Files(cls_name, folder, MNIST_FILES,
                  lambda: cls(str(root), train=True, download=True),  # fetches all four
                  urls=mirrors, how=_idx_how(folder, mirrors[0], MNIST_FILES))


def _qmnist_files(root: Path) -> _Files:
    from torchvision.datasets import QMNIST

    folder = root / "QMNIST" / "raw"
    urls = tuple(url for url, _ in QMNIST.resources["test"])  # test50k is read from these
    return _Files("QMNIST", folder, QMNIST_TEST_FILES,
                  lambda: QMNIST(str(root), what="test50k", compat=True, download=True),
                  urls=urls, how=_idx_how(folder, urls[0].rsplit("/", 1)[0] + "/",
                                          QMNIST_TEST_FILES))


def _mnist_like(cls_name: str, root: Path, flatten: bool, divisor: float) -> dict:
    """``train`` and ``test`` of MNIST or Fashion-MNIST (files checked by :func:`_ensure`)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    splits = {}
    for split, train in (("train", True), ("test", False)):
        ds = cls(str(root), train=train, download=False)
        splits[split] = (_images(ds.data, flatten, divisor), ds.targets.long())
    return splits


def _qmnist_test50k(root: Path, flatten: bool, divisor: float) -> tuple[torch.Tensor, ...]:
    """QMNIST's 50k extra test images (``what="test50k"``) and their class labels."""
    from torchvision.datasets import QMNIST

    ds = QMNIST(str(root), what="test50k", compat=True, download=False)
    return _images(ds.data, flatten, divisor), ds.targets[:, 0].long()


def _check_flags(**flags: Any) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"option {name}={value!r} must be a bool")


@register_task("mnist", splits=_mnist_splits, input_shape=_mnist_shape)
def load_mnist(
    data_dir: Path,
    seed: int,
    *,
    flatten: bool = True,
    download: bool = True,
    qmnist_test50k: bool = False,
    test_set: str = "mnist",
    pixel_divisor: int = 255,
) -> RawTask:
    """MNIST 60k ``train``; ``test``: MNIST's 10k (``test_set="mnist"``) or those followed by
    QMNIST's 50k extra (``"mnist+qmnist50k"``, 60k, the published test set);
    ``qmnist_test50k=True`` adds QMNIST's 50k extra as a split of its own. Pixels are divided
    by ``pixel_divisor`` (255, or the published 256)."""
    _check_flags(flatten=flatten, download=download, qmnist_test50k=qmnist_test50k)
    if not isinstance(test_set, str) or test_set not in MNIST_TEST_SETS:
        raise ValueError(
            f"option test_set={test_set!r} must be 'mnist' (MNIST's 10k test images) or "
            "'mnist+qmnist50k' (those and QMNIST's 50k extra: the published 60k test set)"
        )
    divisor = _check_divisor(pixel_divisor)
    use_qmnist = qmnist_test50k or test_set == "mnist+qmnist50k"
    _ensure([_mnist_files("MNIST", data_dir)] + ([_qmnist_files(data_dir)] if use_qmnist else []),
            download)
    splits = _mnist_like("MNIST", data_dir, flatten, divisor)
    if use_qmnist:
        extra = _qmnist_test50k(data_dir, flatten, divisor)
        if test_set == "mnist+qmnist50k":
            splits["test"] = tuple(torch.cat([m, q]) for m, q in zip(splits["test"], extra,
                                                                     strict=True))
        if qmnist_test50k:
            splits["qmnist_test50k"] = extra
    meta = {"scaling": f"pixel / {pixel_divisor}", "test_set": test_set}
    return RawTask(splits, n_classes=10, metadata=meta)


@register_task("fashion_mnist", splits=("train", "test"), input_shape=_mnist_shape)
def load_fashion_mnist(
    data_dir: Path, seed: int, *, flatten: bool = True, download: bool = True,
    pixel_divisor: int = 255,
) -> RawTask:
    """Fashion-MNIST 60k ``train`` / 10k ``test``; pixels / ``pixel_divisor`` (255 or 256)."""
    _check_flags(flatten=flatten, download=download)
    divisor = _check_divisor(pixel_divisor)
    _ensure([_mnist_files("FashionMNIST", data_dir)], download)
    splits = _mnist_like("FashionMNIST", data_dir, flatten, divisor)
    return RawTask(splits, n_classes=10, metadata={"scaling": f"pixel / {pixel_divisor}"})


@register_task("mnist_fashion", splits=("train", "test"), input_shape=_mnist_shape)
def load_mnist_fashion(
    data_dir: Path, seed: int, *, flatten: bool = True, download: bool = True,
    pixel_divisor: int = 255,
) -> RawTask:
    """MNIST followed by Fashion-MNIST per split; 20 classes, fashion labels offset by 10;
    pixels / ``pixel_divisor`` (255 or 256)."""
    _check_flags(flatten=flatten, download=download)
    divisor = _check_divisor(pixel_divisor)
    _ensure([_mnist_files("MNIST", data_dir), _mnist_files("FashionMNIST", data_dir)], download)
    digits = _mnist_like("MNIST", data_dir, flatten, divisor)
    fashion = _mnist_like("FashionMNIST", data_dir, flatten, divisor)
    splits = {
        key: (torch.cat([digits[key][0], fashion[key][0]]),
              torch.cat([digits[key][1], fashion[key][1] + 10]))
        for key in ("train", "test")
    }
    return RawTask(splits, n_classes=20, metadata={"scaling": f"pixel / {pixel_divisor}"})


class DataFileError(ValueError):
    """A data file exists but is refused or unreadable (planted, truncated, corrupt)."""


def _numpy_reconstruct() -> Callable[..., Any]:
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _Refused(pickle.UnpicklingError):
    """The pickle asks for something a CIFAR-10 batch never contains."""


def _latin1_encode(text: object, encoding: object = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 writes ``bytes`` at protocol 2, latin-1 only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(
            f"it calls _codecs.encode({type(text).__name__}, {encoding!r}); only "
            "_codecs.encode(<str>, 'latin1') (bytes pickled at protocol 2) is allowed"
        )
    return text.encode("latin1")


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler for CIFAR-10 python batches: dicts, lists, str/bytes, ints and numpy arrays.

    ``find_class`` (every global a pickle names, also via INST/OBJ/EXT opcodes) resolves only
    the numpy array constructors and ``_codecs.encode`` for latin-1; anything else, e.g.
    ``os.system`` or ``builtins.exec``, is refused before it is called.
    """

    ALLOWED = (
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.ndarray",
        "numpy.dtype",
        "_codecs.encode",
    )

    def find_class(self, module: str, name: str) -> Any:
        qualified = f"{module}.{name}"
        if qualified in ("numpy.core.multiarray._reconstruct",
                         "numpy._core.multiarray._reconstruct"):
            return _numpy_reconstruct()
        if qualified == "numpy.ndarray":
            return np.ndarray
        if qualified == "numpy.dtype":
            return np.dtype
        if qualified == "_codecs.encode":
            return _latin1_encode
        raise _Refused(
            f"it names the global {qualified!r}, and a CIFAR-10 python batch may only "
            f"reference {list(self.ALLOWED)}"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused(f"it holds the persistent id {pid!r}; CIFAR-10 batches have none")


def _unpickle_cifar(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            return _CifarUnpickler(fh, encoding="latin1").load()
    except _Refused as err:
        raise DataFileError(
            f"CIFAR-10 file {path} refused: {err}. It is not a genuine CIFAR-10 batch and may "
            "be malicious; nothing in it was run. Delete it and download CIFAR-10 again "
            "(verify_md5=True checks the files against the published md5 sums)."
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, OverflowError, MemoryError, RecursionError) as err:
        raise DataFileError(
            f"CIFAR-10 file {path} is truncated or corrupt: it cannot be read as a CIFAR-10 "
            f"python batch ({type(err).__name__}: {err}). Delete it and download CIFAR-10 "
            "again."
        ) from err


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 3, 32, 32) uint8, labels (N,) int64)`` of one python batch file."""
    entry = _unpickle_cifar(path)
    expected = "a dict with 'data' ((N, 3072) uint8 array) and 'labels' (N ints in 0..9)"
    if not isinstance(entry, dict):
        raise DataFileError(
            f"CIFAR-10 file {path}: expected {expected}; got a {type(entry).__name__}")
    for key in ("data", "labels"):
        if key not in entry:
            raise DataFileError(
                f"CIFAR-10 file {path}: the key {key!r} is missing; expected {expected}; "
                f"got keys {sorted(map(str, entry))}")
    data, labels = entry["data"], entry["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        got = f"dtype {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataFileError(
            f"CIFAR-10 file {path}: 'data' must be a uint8 numpy array; got {got}")
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataFileError(
            f"CIFAR-10 file {path}: 'data' must have shape (N, 3072); got {data.shape}")
    if not isinstance(labels, list | np.ndarray) or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in labels
    ):
        raise DataFileError(f"CIFAR-10 file {path}: 'labels' must be a list of ints")
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(data):
        raise DataFileError(
            f"CIFAR-10 file {path}: 'data' holds {len(data)} images but {len(labels)} labels; "
            "they must match")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = labels[(labels < 0) | (labels > 9)][0]
        raise DataFileError(f"CIFAR-10 file {path}: label {bad} is outside the classes 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def _verify_cifar_md5(folder: Path) -> None:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    expected = [*CIFAR10.train_list, *CIFAR10.test_list, [CIFAR10.meta["filename"],
                                                           CIFAR10.meta["md5"]]]
    bad = [name for name, md5 in expected if not check_integrity(str(folder / name), md5)]
    if bad:
        raise ValueError(f"CIFAR-10 files {bad} in {folder} fail torchvision's md5 check")


def _ensure_cifar(root: Path, download: bool) -> Path:
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10_FOLDER
    how = (f"To get them: download {CIFAR10.url} (the python version, on a machine that is "
           f"online) and unpack it in {root} (tar xzf {CIFAR10.filename}), which makes the "
           f"folder {folder}.")
    _ensure([_Files("CIFAR-10", folder, CIFAR10_FILES,
                    lambda: CIFAR10(str(root), train=True, download=True),
                    urls=(CIFAR10.url,), how=how)], download)
    return folder


@register_task("cifar10", splits=("train", "test"), input_shape=_cifar_shape)
def load_cifar10(
    data_dir: Path,
    seed: int,
    *,
    flatten: bool = False,
    download: bool = True,
    verify_md5: bool = False,
) -> RawTask:
    """CIFAR-10 50k ``train`` / 10k ``test``, standardised per channel by the train set."""
    _check_flags(flatten=flatten, download=download, verify_md5=verify_md5)
    folder = _ensure_cifar(data_dir, download)
    if verify_md5:
        _verify_cifar_md5(folder)
    train = [_read_cifar_batch(folder / f) for f in CIFAR10_TRAIN_FILES]
    x_train = np.concatenate([d for d, _ in train]).astype(np.float32) / 255.0
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = _read_cifar_batch(folder / "test_batch")
    x_test = x_test.astype(np.float32) / 255.0
    mean = x_train.mean(axis=(0, 2, 3), dtype=np.float64)
    std = x_train.std(axis=(0, 2, 3), dtype=np.float64)
    std[std == 0] = 1.0  # a constant channel is only centred
    shift = mean.astype(np.float32)[:, None, None]
    scale = std.astype(np.float32)[:, None, None]
    splits = {}
    for key, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x -= shift  # in place: the arrays are fresh float32 copies
        x /= scale
        x = x.reshape(len(x), -1) if flatten else x
        splits[key] = (torch.from_numpy(x), torch.from_numpy(y))
    meta = {"channel_mean": mean.tolist(), "channel_std": std.tolist(), "scaling": "pixel / 255"}
    return RawTask(splits, n_classes=10, metadata=meta)

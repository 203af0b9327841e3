"""CIFAR-10 batches are unpickled with a restricted unpickler: planted files cannot run code."""

from __future__ import annotations

import builtins
import os
import pickle
import struct

import numpy as np
import pytest

from nninfo import testing
from nninfo.tasks import load_task
from nninfo.tasks.vision import CIFAR10_FOLDER, DataFileError, _read_cifar_batch


class _Payload:
    """Unpickling this calls ``func(*args)``: what an attacker plants."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _plant(root, name, obj, protocol=2):
    path = root / CIFAR10_FOLDER / name
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
    return path


@pytest.fixture
def cifar_root(tmp_path):
    testing.write_cifar10(tmp_path, n_per_batch=4, n_test=5, seed=0)
    return tmp_path


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("how", ["os.system", "builtins.exec", "nested in a valid dict"])
def test_planted_batch_runs_no_code(cifar_root, tmp_path, protocol, how):
    marker = tmp_path / "pwned"
    if how == "os.system":
        obj = _Payload(os.system, f"touch {marker}")
    elif how == "builtins.exec":
        obj = _Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()")
    else:
        obj = {"data": np.zeros((1, 3072), np.uint8),
               "labels": [_Payload(os.system, f"touch {marker}")]}
    path = _plant(cifar_root, "data_batch_1", obj, protocol)
    with pytest.raises(DataFileError) as err:
        load_task("cifar10", data_dir=cifar_root, download=False)
    assert not marker.exists()
    message = str(err.value)
    assert str(path) in message
    assert "refused" in message


def test_codecs_global_only_decodes_latin1(cifar_root, tmp_path):
    """``_codecs.encode`` (Python 3's protocol-2 bytes) is allowed for latin-1 only."""
    import _codecs

    path = _plant(cifar_root, "test_batch", _Payload(_codecs.encode, "abc", "rot13"))
    with pytest.raises(DataFileError, match="refused"):
        _read_cifar_batch(path)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_batch_names_the_file(cifar_root, damage):
    path = cifar_root / CIFAR10_FOLDER / "data_batch_3"
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) // 2],
                      "garbage": bytes(range(256)) * 4,
                      "empty": b""}[damage])
    with pytest.raises(DataFileError) as err:
        load_task("cifar10", data_dir=cifar_root, download=False)
    assert not isinstance(err.value, pickle.UnpicklingError | EOFError)
    assert str(path) in str(err.value)
    assert "corrupt" in str(err.value)


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ([1, 2, 3], "expected a dict"),
        ({"labels": [0]}, "'data'"),
        ({"data": np.zeros((1, 3072), np.float64), "labels": [0]}, "uint8"),
        ({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, "3072"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "2 images but 1 labels"),
        ({"data": np.zeros((1, 3072), np.uint8), "labels": [12]}, "0..9"),
    ],
)
def test_wrong_structure_names_the_file(cifar_root, entry, match):
    path = _plant(cifar_root, "test_batch", entry)
    with pytest.raises(DataFileError, match=match) as err:
        _read_cifar_batch(path)
    assert str(path) in str(err.value)


def _py2_batch(images: np.ndarray, labels: list[int]) -> bytes:
    """The bytes Python 2's cPickle (protocol 2) wrote for the published CIFAR-10 batches:
    Python-2 ``str`` objects (SHORT_BINSTRING / BINSTRING) and ``numpy.core.multiarray``."""

    def s(text: str | bytes) -> bytes:
        raw = text.encode("latin1") if isinstance(text, str) else text
        if len(raw) < 256:
            return b"U" + bytes([len(raw)]) + raw
        return b"T" + struct.pack("<i", len(raw)) + raw

    def i(value: int) -> bytes:
        return b"J" + struct.pack("<i", value)

    n = len(images)
    dtype = (b"cnumpy\ndtype\n" + s("u1") + b"\x89\x88\x87R"
             + b"(" + i(3) + s("|") + b"NNN" + i(-1) + i(-1) + i(0) + b"tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n"
             + i(0) + b"\x85" + s("b") + b"\x87R"
             + b"(" + i(1) + i(n) + i(3072) + b"\x86" + dtype + b"\x89"
             + s(images.reshape(n, 3072).tobytes()) + b"tb")
    label_list = b"](" + b"".join(i(v) for v in labels) + b"e"
    return (b"\x80\x02}(" + s("batch_label") + s("training batch 1 of 5")
            + s("labels") + label_list + s("data") + array + b"u.")


def test_python2_protocol2_batch_is_read(tmp_path):
    """The real files' format (Python 2, numpy.core globals, str payloads) still loads."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 3, 32, 32), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(_py2_batch(images, [3, 0, 9]))
    data, labels = _read_cifar_batch(path)
    np.testing.assert_array_equal(data, images)
    assert labels.tolist() == [3, 0, 9] and labels.dtype == np.int64


def test_written_batches_still_load(cifar_root):
    task = load_task("cifar10", data_dir=cifar_root, download=False)
    assert len(task["train"]) == 20 and len(task["test"]) == 5

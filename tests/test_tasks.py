"""Tasks: loaders on tiny files in torchvision's formats, label encodings, synthetic tasks."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from nninfo import testing
from nninfo.tasks import (
    DatasetMissingError,
    Split,
    available_tasks,
    code_width,
    decode_labels,
    encode_labels,
    load_task,
    task_options,
)
from nninfo.tasks.tishby import load_tishby_arrays


def _as_ints(bits: torch.Tensor) -> np.ndarray:
    """Rows of 0/1 floats read as binary numbers (first column most significant)."""
    b = bits.numpy().astype(np.int64)
    return b @ (1 << np.arange(b.shape[1])[::-1])


# ---------------------------------------------------------------- registry and errors


def test_registry_lists_all_tasks():
    expected = {"tishby", "mnist", "fashion_mnist", "mnist_fashion", "cifar10", "lfw", "xor",
                "parity", "checkerboard"}
    assert set(available_tasks()) == expected


def test_unknown_task_names_the_allowed_ones():
    with pytest.raises(ValueError, match="mnist") as err:
        load_task("imagenet")
    assert "imagenet" in str(err.value) and "checkerboard" in str(err.value)


def test_unknown_option_and_encoding_rejected():
    with pytest.raises(ValueError, match="n_bitz"):
        load_task("parity", n_bitz=3)
    with pytest.raises(ValueError, match="hexadecimal"):
        load_task("xor", label_encoding="hexadecimal")
    with pytest.raises(ValueError, match="n_bits"):
        load_task("parity", n_bits=0)
    assert "qmnist_test50k" in task_options("mnist")


def test_split_rejects_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        Split(torch.zeros(3, 2), torch.zeros(3), torch.zeros(2, dtype=torch.long))


# ---------------------------------------------------------------- tishby


def test_tishby_published_split():
    task = load_task("tishby")
    train, test = task["train"], task["test"]
    assert (len(train), len(test)) == (2796, 1300)
    a, b = _as_ints(train.x), _as_ints(test.x)
    assert not set(a) & set(b)
    assert sorted(np.concatenate([a, b])) == list(range(4096))
    perm = np.random.default_rng(42).permutation(4096)
    bits, y = load_tishby_arrays()
    np.testing.assert_array_equal(train.x.numpy(), bits[perm[:2796]])
    np.testing.assert_array_equal(test.labels.numpy(), y[perm[2796:]])


def test_tishby_labels_targets_and_reproducibility():
    task = load_task("tishby")
    bits, y = load_tishby_arrays()
    lookup = dict(zip(_as_ints(torch.from_numpy(bits.astype(np.float32))), y, strict=True))
    train = task["train"]
    assert [lookup[k] for k in _as_ints(train.x)] == train.labels.tolist()
    assert train.y.shape == (2796, 1) and train.y.dtype == torch.float32
    assert torch.equal(train.y[:, 0].long(), train.labels)
    assert task.loss == "bce" and task.input_shape == (12,)
    assert set(train.x.unique().tolist()) == {0.0, 1.0}
    again, other = load_task("tishby"), load_task("tishby", seed=7)
    assert torch.equal(again["train"].x, train.x)
    assert not torch.equal(other["train"].x, train.x)
    assert len(task["full"]) == 4096 and int(task["full"].labels.sum()) == 2118


# ---------------------------------------------------------------- label encodings


@pytest.mark.parametrize("n_classes", [2, 10, 20])
@pytest.mark.parametrize("encoding", ["index", "onehot", "binary", "quaternary", "octal"])
def test_encoding_round_trip(encoding, n_classes):
    labels = torch.arange(n_classes).repeat(3)
    y = encode_labels(labels, encoding, n_classes)
    assert torch.equal(decode_labels(y, encoding, n_classes), labels)
    if encoding != "index":
        assert y.dtype == torch.float32 and y.shape == (len(labels), code_width(encoding,
                                                                                 n_classes))
        noisy = y + 0.3 * (torch.rand_like(y) - 0.5)  # outputs near the targets decode right
        assert torch.equal(decode_labels(noisy, encoding, n_classes), labels)


def test_code_values_least_significant_digit_first():
    enc = lambda v, e, n: encode_labels(torch.tensor([v]), e, n)[0].tolist()  # noqa: E731
    assert enc(6, "binary", 10) == [0, 1, 1, 0]  # 6 = 0*1 + 1*2 + 1*4 + 0*8
    assert enc(13, "quaternary", 20) == [1, 3, 0]  # 13 = 1 + 3*4
    assert enc(19, "octal", 20) == [3, 2]  # 19 = 3 + 2*8
    widths = {e: code_width(e, n) for e in ("binary", "quaternary", "octal") for n in (10,)}
    assert widths == {"binary": 4, "quaternary": 2, "octal": 2}
    for enc_name, base in (("binary", 2), ("quaternary", 4), ("octal", 8)):
        assert code_width(enc_name, 20) == math.ceil(math.log(20, base) - 1e-12)


# ---------------------------------------------------------------- MNIST family


@pytest.fixture(scope="module")
def vision_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    data = {
        "MNIST": testing.write_mnist(root, kind="MNIST", seed=1),
        "FashionMNIST": testing.write_mnist(root, kind="FashionMNIST", n_train=50, seed=2),
        "QMNIST": testing.write_qmnist_test(root, n_extra=25, seed=3),
        "CIFAR": testing.write_cifar10(root, n_per_batch=6, n_test=9, seed=4),
    }
    return root, data


def test_mnist_loads_written_files(vision_root):
    root, data = vision_root
    task = load_task("mnist", data_dir=root, qmnist_test50k=True)
    for split in ("train", "test"):
        images, labels = data["MNIST"][split]
        s = task[split]
        np.testing.assert_allclose(s.x.numpy(), images.reshape(len(images), -1) / 255.0,
                                   rtol=1e-6)
        assert s.labels.tolist() == labels.tolist() and torch.equal(s.y, s.labels)
    q_images, q_labels = data["QMNIST"]
    q = task["qmnist_test50k"]
    np.testing.assert_allclose(q.x.numpy(), q_images.reshape(25, -1) / 255.0, rtol=1e-6)
    assert q.labels.tolist() == q_labels.tolist()
    assert task.input_shape == (784,) and task.n_classes == 10 and task.loss == "cross_entropy"


def test_mnist_unflattened_and_binary_codes(vision_root):
    root, data = vision_root
    task = load_task("mnist", data_dir=root, flatten=False, label_encoding="binary")
    assert task.input_shape == (1, 28, 28) and task.loss == "mse"
    s = task["train"]
    assert s.y.shape == (len(s), 4)
    assert torch.equal(decode_labels(s.y, "binary", 10), s.labels)
    assert float(s.x.max()) <= 1.0 and float(s.x.min()) >= 0.0


def test_fashion_and_combined(vision_root):
    root, data = vision_root
    fashion = load_task("fashion_mnist", data_dir=root)
    assert fashion["train"].labels.tolist() == data["FashionMNIST"]["train"][1].tolist()
    both = load_task("mnist_fashion", data_dir=root, label_encoding="octal")
    assert both.n_classes == 20 and both.output_dim == 2
    expected = np.concatenate([data["MNIST"]["test"][1], data["FashionMNIST"]["test"][1] + 10])
    assert both["test"].labels.tolist() == expected.tolist()
    assert len(both["train"]) == 60 + 50
    assert torch.equal(decode_labels(both["test"].y, "octal", 20), both["test"].labels)


# ---------------------------------------------------------------- CIFAR-10


def test_cifar10_standardised_nchw(vision_root):
    root, data = vision_root
    task = load_task("cifar10", data_dir=root)
    train = task["train"].x.double()
    assert task.input_shape == (3, 32, 32)
    np.testing.assert_allclose(train.mean(dim=(0, 2, 3)).numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(train.std(dim=(0, 2, 3), unbiased=False).numpy(), 1.0, rtol=1e-5)
    mean = np.array(task.metadata["channel_mean"])[:, None, None]
    std = np.array(task.metadata["channel_std"])[:, None, None]
    images, labels = data["CIFAR"]["test"]
    restored = task["test"].x.numpy() * std + mean
    np.testing.assert_allclose(restored, images / 255.0, atol=1e-5)
    assert task["test"].labels.tolist() == labels.tolist()


def test_cifar10_files_match_torchvision_reader(vision_root, monkeypatch):
    """torchvision reads the written batches once its md5 check is bypassed."""
    import torchvision.datasets.cifar as tv_cifar

    root, data = vision_root
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    ds = tv_cifar.CIFAR10(str(root), train=True, download=False)
    np.testing.assert_array_equal(ds.data, data["CIFAR"]["train"][0].transpose(0, 2, 3, 1))
    assert ds.targets == data["CIFAR"]["train"][1].tolist()
    with pytest.raises(ValueError, match="md5"):
        load_task("cifar10", data_dir=root, verify_md5=True)


# ---------------------------------------------------------------- missing data


@pytest.mark.parametrize(
    ("name", "folder", "filename"),
    [
        ("mnist", "MNIST/raw", "train-images-idx3-ubyte"),
        ("fashion_mnist", "FashionMNIST/raw", "t10k-labels-idx1-ubyte"),
        ("cifar10", "cifar-10-batches-py", "data_batch_1"),
    ],
)
def test_missing_files_error_names_path(tmp_path, name, folder, filename):
    with pytest.raises(DatasetMissingError) as err:
        load_task(name, data_dir=tmp_path / "empty", download=False)
    assert isinstance(err.value, FileNotFoundError)
    assert str(tmp_path / "empty" / folder) in str(err.value)
    assert filename in str(err.value)


def test_missing_qmnist_names_its_files(tmp_path):
    testing.write_mnist(tmp_path, seed=5)
    with pytest.raises(DatasetMissingError, match="qmnist-test-labels-idx2-int"):
        load_task("mnist", data_dir=tmp_path, qmnist_test50k=True, download=False)


def test_data_dir_from_environment(vision_root, monkeypatch):
    root, data = vision_root
    monkeypatch.setenv("NNINFO_DATA_DIR", str(root))
    task = load_task("fashion_mnist")
    assert task["test"].labels.tolist() == data["FashionMNIST"]["test"][1].tolist()


# ---------------------------------------------------------------- synthetic tasks


def test_xor_labels_and_reproducibility():
    task = load_task("xor", seed=3, n_train=200, n_test=50)
    assert (len(task["train"]), len(task["test"])) == (200, 50)
    for s in task.splits.values():
        x = s.x.numpy()
        assert set(np.unique(x)) <= {0.0, 1.0}
        assert s.labels.tolist() == [int(a != b) for a, b in x]
    same, other = load_task("xor", seed=3, n_train=200, n_test=50), load_task("xor", seed=4)
    assert torch.equal(same["train"].x, task["train"].x)
    assert not torch.equal(other["train"].x[:200], task["train"].x)


def test_parity_labels_and_noise():
    clean = load_task("parity", seed=0, n_bits=5, n_train=300, n_test=0)
    x = clean["train"].x.numpy().astype(int)
    expected = np.bitwise_xor.reduce(x, axis=1)
    assert clean["train"].labels.tolist() == expected.tolist()
    noisy = load_task("parity", seed=0, n_bits=5, n_train=300, n_test=0, noise=0.2)
    assert torch.equal(noisy["train"].labels, clean["train"].labels)
    residual = (noisy["train"].x - clean["train"].x).numpy()
    assert abs(residual.std() - 0.2) < 0.02 and abs(residual.mean()) < 0.02
    assert len(np.unique(noisy["train"].x.numpy())) > 1000  # continuous inputs


@pytest.mark.parametrize("cells", [4, (3, 2)])
def test_checkerboard_labels(cells):
    task = load_task("checkerboard", seed=1, cells=cells, n_train=500, n_test=100)
    cx, cy = (cells, cells) if isinstance(cells, int) else cells
    for s in task.splits.values():
        pts = s.x.numpy().astype(np.float64)
        assert pts.min() >= 0.0 and pts.max() < 1.0
        expected = [(int(a * cx) + int(b * cy)) % 2 for a, b in pts]
        assert s.labels.tolist() == expected
    assert 0.4 < task["train"].labels.float().mean() < 0.6
    again = load_task("checkerboard", seed=1, cells=cells, n_train=500, n_test=100)
    assert torch.equal(again["test"].x, task["test"].x)


def test_task_to_device_copies_splits():
    task = load_task("xor", n_train=8, n_test=4)
    moved = task.to("meta")
    assert moved["train"].x.device.type == "meta" and moved["test"].labels.device.type == "meta"
    assert task["train"].x.device.type == "cpu" and moved.n_classes == task.n_classes

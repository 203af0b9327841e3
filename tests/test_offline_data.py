"""Image datasets on a machine that cannot download them: a clear error within seconds that
names the missing files, how to get them for that dataset, and how to name the data folder
in the words of the caller (Python, the command line, ``mlflow run``); and the run that
``mlflow run`` leaves FAILED gets a readable name and a note saying what failed."""

from __future__ import annotations

import pickle
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nninfo.cli import main
from nninfo.tasks import DatasetMissingError, load_task, vision
from nninfo.tracking import runs

PROJECTS = Path(__file__).resolve().parents[1] / "projects"
FAST_S = 5.0  # "fails in seconds": far below torchvision's 45-65 s of download attempts


@pytest.fixture
def offline(monkeypatch):
    """No download host answers; torchvision must not even be asked to fetch."""
    asked = []
    monkeypatch.setattr(vision, "_reachable", lambda urls, timeout=2.0: asked.append(urls))

    def no_fetch(*args, **kwargs):
        raise AssertionError("torchvision was asked to download while offline")

    import torchvision.datasets as tvd
    for name in ("MNIST", "FashionMNIST", "QMNIST", "CIFAR10"):
        monkeypatch.setattr(getattr(tvd, name), "download", no_fetch)
    return asked


def _fails_fast(name: str, root: Path, **options) -> str:
    start = time.monotonic()
    with pytest.raises(DatasetMissingError) as err:
        load_task(name, data_dir=root, **options)
    assert time.monotonic() - start < FAST_S
    return str(err.value)


def test_missing_mnist_fails_at_once_naming_files_source_and_data_dir(tmp_path, offline):
    text = _fails_fast("mnist", tmp_path / "data", test_set="mnist+qmnist50k")
    assert offline and any("ossci-datasets.s3.amazonaws.com" in u for u in offline[0])
    for folder, file in (("MNIST", "train-images-idx3-ubyte"), ("QMNIST",
                                                                "qmnist-test-labels-idx2-int")):
        assert f"{file}" in text and str(tmp_path / "data" / folder / "raw") in text
    assert "train-images-idx3-ubyte.gz" in text and "gunzip" in text
    assert "facebookresearch/qmnist" in text and "within 2 s" in text
    assert "pass data_dir=... or set NNINFO_DATA_DIR to the directory that holds 'MNIST' " \
           "and 'QMNIST'" in text  # the Python API's words


def test_missing_cifar_says_how_to_get_cifar_not_mnist_files(tmp_path, offline):
    text = _fails_fast("cifar10", tmp_path / "data")
    root = tmp_path / "data"
    assert str(root / "cifar-10-batches-py") in text and "data_batch_1" in text
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in text
    assert f"unpack it in {root}" in text
    assert "idx" not in text and "MNIST" not in text


def test_download_false_names_the_files_without_asking_the_network(tmp_path, offline):
    text = _fails_fast("fashion_mnist", tmp_path, download=False)
    assert not offline and "download=False" in text and "FashionMNIST" in text


def test_the_error_survives_a_worker_and_keeps_its_wording(tmp_path, offline):
    with pytest.raises(vision.DataFilesMissing) as err:
        load_task("cifar10", data_dir=tmp_path / "{odd}")
    back = pickle.loads(pickle.dumps(err.value))
    assert str(back) == str(err.value) and str(tmp_path / "{odd}") in str(back)
    assert "--data-dir DIR" in back.worded({"data_dir": "pass --data-dir DIR with DIR"})


def test_reachable_is_quick_either_way():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert vision._reachable((f"http://127.0.0.1:{port}/x",), timeout=1.0)
    start = time.monotonic()
    assert not vision._reachable((f"http://127.0.0.1:{port}/x", "https://nosuch.invalid/"),
                                 timeout=0.5)  # closed port, unknown name
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize(("project", "missing", "how"), [
    ("mnist_4levels_onehot", "MNIST and QMNIST not found", "gunzip"),
    ("cifar10", "CIFAR-10 not found", "cifar-10-python.tar.gz"),
])
def test_command_line_says_data_dir_option_and_fails_in_seconds(mlflow_store, tmp_path,
                                                                   offline, project, missing,
                                                                   how):
    start = time.monotonic()
    res = CliRunner().invoke(main, ["train", "--config", str(PROJECTS / project / "config.yaml"),
                                    "--data-dir", str(tmp_path / "data")])
    assert time.monotonic() - start < FAST_S
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert missing in res.stderr and how in res.stderr
    assert "pass --data-dir DIR (or set NNINFO_DATA_DIR) with DIR the directory" in res.stderr
    assert "data_dir=..." not in res.stderr and "-P data_dir" not in res.stderr


def test_mlflow_run_s_failed_run_gets_a_name_a_note_and_its_words(mlflow_store, tmp_path,
                                                                   offline, monkeypatch):
    c = runs.client()
    launcher = c.create_run(runs.DEFAULT_EXPERIMENT_ID).info.run_id  # random name, Default
    monkeypatch.setenv("MLFLOW_RUN_ID", launcher)
    project = tmp_path / "cifar10"  # mlflow run works in the project folder
    project.mkdir()
    monkeypatch.chdir(project)
    start = time.monotonic()
    res = CliRunner().invoke(main, ["main", "--config", str(PROJECTS / "cifar10" / "config.yaml"),
                                    "--data-dir", str(tmp_path / "data")])
    assert time.monotonic() - start < FAST_S
    assert res.exit_code == 2
    hint = "pass -P data_dir=DIR to mlflow run (or set NNINFO_DATA_DIR) with DIR the directory"
    assert hint in res.stderr
    run = c.get_run(launcher)
    assert run.info.run_name == "cifar10 · main · failed"
    note = run.data.tags[runs.NOTE]
    assert note.startswith("nninfo main failed: CIFAR-10 not found") and hint in note
    assert "cifar-10-python.tar.gz" in note


def test_a_launcher_nninfo_uses_keeps_its_name_and_its_note(mlflow_store, monkeypatch):
    c = runs.client()
    launcher = c.create_run(runs.experiment_id("chosen"), run_name="mine").info.run_id
    runs.set_tags(launcher, {runs.ROLE: "entry", runs.NOTE: "nninfo logged this main"})
    monkeypatch.setenv("MLFLOW_RUN_ID", launcher)
    assert runs.note_launcher_failure("main", "boom") == launcher
    run = c.get_run(launcher)
    assert run.info.run_name == "mine"
    assert run.data.tags[runs.NOTE] == "nninfo logged this main\n\nnninfo main failed: boom"
    monkeypatch.setenv("MLFLOW_RUN_ID", "0" * 32)  # not in this store: nothing, no error
    assert runs.note_launcher_failure("main", "boom") is None

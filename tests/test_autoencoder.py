"""The face autoencoder of the published Shannon-invariants notebook 2: the ``lfw`` task on a
tiny generated image folder, the reconstruction target and loss, the network's layers against
the notebook's ``layer_shapes``, and the quick project end to end through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from nninfo.capture import capture_codes
from nninfo.config import load_config
from nninfo.jobs.common import build_network, checkpoint_network
from nninfo.tasks import RECONSTRUCTION, DatasetMissingError, load_task
from nninfo.tasks.faces import published_n_train
from nninfo.testing import write_lfw
from nninfo.tracking.performance import _performance_rows
from nninfo.training import OutputLoss, TrainConfig, train_network
from tests.helpers import local_report

PROJECT = Path(__file__).resolve().parents[1] / "projects" / "shannon_invariants_autoencoder"
#: The notebook's ``layer_shapes`` (its layer n counts the input as layer 1) ...
NOTEBOOK_SHAPES = {2: (8, 32, 32), 3: (8, 16, 16), 5: (16, 8, 8), 7: (32, 4, 4), 9: (128,),
                   11: (32, 4, 4), 12: (16, 8, 8), 13: (8, 16, 16), 14: (3, 32, 32)}
#: ... and its analysed layers, which are ours L(n-1).
NOTEBOOK_LAYERS = (3, 5, 7, 9, 11, 12, 13)


@pytest.fixture
def lfw_root(tmp_path) -> Path:
    return write_lfw(tmp_path / "data")


# ---------------------------------------------------------------- the lfw task


def test_lfw_shapes_range_augmentation_split_and_labels(lfw_root):
    task = load_task("lfw", data_dir=lfw_root)
    train_, test = task["train"], task["test"]
    assert len(train_) + len(test) == 3 * 4 * 10  # x10: 2 flips x 5 angles
    assert len(train_) == published_n_train(120) == round(120 * 100_000 / 132_330) == 91
    assert published_n_train(132_330) == 100_000  # the published 100,000 / 32,330
    for s in (train_, test):
        assert s.x.shape[1:] == (3, 32, 32) and s.x.dtype == torch.float32
        assert 0 <= s.x.min() and s.x.max() <= 1
        assert torch.equal(s.x * 255, (s.x * 255).round())  # pixel / 255
        assert s.y is s.x and s.labels.dtype == torch.int64
    labels = torch.cat([train_.labels, test.labels])
    assert torch.bincount(labels).tolist() == [40, 40, 40]  # 4 images x 10 versions each
    assert task.label_encoding == RECONSTRUCTION and task.reconstruction
    assert task.n_classes == 3 and task.output_dim == 3 * 32 * 32 and task.loss == "mse"
    assert task.input_shape == (3, 32, 32)


def _published(root: Path, seed: int = 42) -> tuple[torch.Tensor, torch.Tensor]:
    """The published ``Face2DTaskAugmented.load_samples`` (torchvision transforms on
    ImageFolder, flip-major concatenation, ``default_rng(42)`` shuffle), and the labels."""
    import torchvision
    from torchvision import transforms
    from torchvision.transforms.functional import InterpolationMode

    xs, ys = [], []
    with torch.random.fork_rng(devices=[]):  # RandomHorizontalFlip draws from the global RNG
        for flip in [False, True]:
            for angle in [-10, -5, 0, 5, 10]:
                ds = torchvision.datasets.ImageFolder(
                    root=root / "lfw-deepfunneled", transform=transforms.Compose([
                        transforms.RandomHorizontalFlip(p=1 if flip else 0),
                        transforms.Lambda(lambda x, a=angle: transforms.functional.rotate(
                            x, a, interpolation=InterpolationMode.BILINEAR)),
                        transforms.Resize((40, 40)),
                        transforms.CenterCrop((32, 32)),
                        transforms.ToTensor(),
                    ]))
                xs += [x for x, _ in ds]
                ys += [y for _, y in ds]
    order = np.random.default_rng(seed).permutation(len(xs))
    return torch.stack(xs)[order], torch.tensor(ys)[order]


def test_lfw_is_the_published_augmentation_and_shuffle(lfw_root):
    task = load_task("lfw", data_dir=lfw_root)
    x, labels = _published(lfw_root)
    assert torch.equal(torch.cat([task["train"].x, task["test"].x]), x)
    assert torch.equal(torch.cat([task["train"].labels, task["test"].labels]), labels)


def test_lfw_without_augmentation_is_the_published_face_task(lfw_root):
    import torchvision
    from torchvision import transforms

    task = load_task("lfw", data_dir=lfw_root, augment=False, n_train=8)
    ds = torchvision.datasets.ImageFolder(root=lfw_root / "lfw-deepfunneled", transform=(
        transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor()])))
    order = np.random.default_rng(42).permutation(len(ds))
    x = torch.stack([ds[i][0] for i in order])
    assert len(task["train"]) == 8 and torch.equal(torch.cat([task["train"].x,
                                                              task["test"].x]), x)


def test_lfw_seeded_cached_and_option_checks(lfw_root):
    a = load_task("lfw", data_dir=lfw_root, seed=3)
    cached = sorted(p.name for p in lfw_root.iterdir() if p.suffix == ".npy")
    assert len(cached) == 1 and cached[0].startswith("lfw-deepfunneled.nninfo-x10-")
    b = load_task("lfw", data_dir=lfw_root, seed=3)  # from the cache
    c = load_task("lfw", data_dir=lfw_root, seed=3, cache=False)
    for other in (b, c):
        for split in ("train", "test"):
            assert torch.equal(a[split].x, other[split].x)
            assert torch.equal(a[split].labels, other[split].labels)
    d = load_task("lfw", data_dir=lfw_root, seed=4)
    assert not torch.equal(a["train"].x, d["train"].x)
    assert torch.equal(torch.sort(torch.cat([a["train"].labels, a["test"].labels]))[0],
                       torch.sort(torch.cat([d["train"].labels, d["test"].labels]))[0])
    for bad in (0, 120, 2.5, True):
        with pytest.raises(ValueError, match="n_train"):
            load_task("lfw", data_dir=lfw_root, n_train=bad)
    with pytest.raises(TypeError, match="augment"):
        load_task("lfw", data_dir=lfw_root, augment="yes")


def test_lfw_kaggle_layout_is_found(tmp_path):
    write_lfw(tmp_path / "data" / "lfw-deepfunneled", people=2, images=1)  # nested twice
    task = load_task("lfw", data_dir=tmp_path / "data", augment=False, cache=False)
    assert task.n_classes == 2 and len(task["train"]) + len(task["test"]) == 2


def test_lfw_missing_folder_says_what_to_put_where(tmp_path):
    with pytest.raises(DatasetMissingError) as err:
        load_task("lfw", data_dir=tmp_path / "empty")
    text = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert str(tmp_path / "empty" / "lfw-deepfunneled") in text
    assert "<person>" in text and "lfw-deepfunneled.tgz" in text
    assert "kaggle.com/datasets/jessicali9530/lfw-dataset" in text and "NNINFO_DATA_DIR" in text


def test_reconstruction_encoding_works_for_other_tasks_and_has_no_code():
    from nninfo.tasks import code_width, decode_labels, encode_labels

    task = load_task("xor", label_encoding="reconstruction", n_train=8, n_test=4)
    assert task["train"].y is task["train"].x and task.output_dim == 2 and task.loss == "mse"
    with pytest.raises(ValueError, match="input itself"):
        code_width("reconstruction", 2)
    with pytest.raises(ValueError, match="input itself"):
        encode_labels(torch.zeros(2), "reconstruction", 2)
    with pytest.raises(ValueError, match="input itself"):
        decode_labels(torch.zeros(2, 2), "reconstruction", 2)


# ---------------------------------------------------------------- network and loss


def test_layers_match_the_notebook_layer_shapes():
    cfg = load_config(PROJECT / "config.yaml")
    net = build_network(cfg, seed=0)
    outs = net.forward_layers(torch.zeros(2, 3, 32, 32))
    for n, shape in NOTEBOOK_SHAPES.items():
        assert tuple(outs[f"L{n - 1}"].shape[1:]) == shape, n
    assert cfg.analysis.layers == tuple(f"L{n - 1}" for n in NOTEBOOK_LAYERS)
    assert cfg.analysis.measures == ("shannon_entropy",)
    assert [g.kind for g in cfg.analysis.groupings] == ["neurons"]  # one source per unit
    assert net.init == "published" and cfg.training.optimizer == "adam"
    assert (cfg.training.checkpoint_schedule, cfg.training.checkpoint_count,
            cfg.training.checkpoint_start_exponent) == ("log_fractional", 52, -2)
    assert net.layers["L13"].activation == "sigmoid" and net.layer_quantizer("L13") is None


def test_pooled_and_reshaped_layers_carry_the_levels_of_the_layer_before():
    cfg = load_config(PROJECT / "config.yaml")
    net = build_network(cfg, seed=1)
    for layer, source in (("L2", "L1"), ("L4", "L3"), ("L6", "L5"), ("L7", "L5"),
                          ("L10", "L9")):
        assert net.layer_quantizer(layer) is net.layer_quantizer(source), layer
        assert net.layer_limits(layer) == (-1.0, 1.0)
    x = torch.rand(16, 3, 32, 32)
    for rounding in ("nearest", "stochastic"):
        cap = capture_codes(net, x, torch.zeros(16, dtype=torch.long), ["L1", "L2", "L9", "L10"],
                            rounding=rounding, rounding_seed=5)
        conv = torch.from_numpy(cap["L1"].astype(np.int64)).view(16, 8, 32, 32).float()
        pooled = torch.nn.functional.max_pool2d(conv, 2).view(16, -1).long().numpy()
        assert np.array_equal(cap["L2"], pooled), rounding  # max commutes with the levels
        assert np.array_equal(cap["L10"], cap["L9"]), rounding
        assert cap.levels["L2"] == 8


def test_image_loss_is_the_mean_over_pixels_without_accuracy():
    net = build_network(load_config(PROJECT / "config.yaml"), seed=0)
    assert net.output_ndim == 3 and build_network(load_config(
        Path(__file__).resolve().parents[1] / "projects" / "tishby_demo" / "config.yaml"),
        seed=0).output_ndim == 1
    loss = OutputLoss.of(net, "mse")
    assert loss.sample_dims == 3
    out, t = torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)
    targets, accuracy = loss.targets(t)
    assert torch.equal(targets, t) and accuracy is False
    per_sample, correct = loss(out, out, t)
    assert per_sample.shape == correct.shape == (5,)
    assert torch.allclose(per_sample, ((out - t) ** 2).mean(dim=(1, 2, 3)))
    assert torch.allclose(loss.mean(out, out, t), torch.nn.MSELoss()(out, t))
    assert OutputLoss("bce", "sigmoid", True, sample_dims=3).targets(t)[1] is False


def _one_step(lfw_root) -> tuple[object, list]:
    cfg = load_config(PROJECT / "config.yaml", overrides={"training.epochs": 1})
    data = load_task("lfw", data_dir=lfw_root)["train"]
    tc = TrainConfig(optimizer="adam", lr=0.001, loss="mse", batch_size=len(data), epochs=1,
                     checkpoint_schedule="lin", checkpoint_count=2)
    cks = []
    train_network(build_network(cfg, seed=0), data.x, data.y, tc, seed=0,
                  on_checkpoint=cks.append, device="cpu")
    return cfg, cks


def test_one_training_step_reduces_the_reconstruction_loss(lfw_root):
    cfg, cks = _one_step(lfw_root)
    data = load_task("lfw", data_dir=lfw_root)["train"]
    assert [ck.step for ck in cks] == [0, 1]
    losses = []
    for ck in cks:
        net = checkpoint_network(cfg, ck)
        with torch.no_grad():
            out, pre, _ = net.forward_parts(data.x)
        losses.append(OutputLoss.of(net, "mse").mean(out, pre, data.x).item())
    assert losses[1] < losses[0]
    assert "train_accuracy" not in cks[-1].metrics


def test_evaluation_of_a_reconstruction_logs_the_loss_only(lfw_root, tmp_path):
    from nninfo.jobs.evaluate import evaluate_checkpoint

    cfg, cks = _one_step(lfw_root)
    path = tmp_path / "ck.pt"
    cks[-1].save(path)
    table = evaluate_checkpoint(cfg, path, ("train", "test"), data_dir=str(lfw_root))
    assert list(table.columns) == ["dataset", "class", "loss", "n"]
    assert table["class"].tolist() == [-1, -1] and table["n"].tolist() == [91, 29]
    assert table["loss"].between(0, 1).all()
    assert [key for key, _, _ in _performance_rows(7, table)] == ["train/loss", "test/loss"]
    labelled = pd.DataFrame([{"dataset": "test", "class": -1, "loss": 0.5, "accuracy": 0.8,
                              "n": 3}])
    assert [k for k, _, _ in _performance_rows(7, labelled)] == ["test/loss", "test/accuracy"]


# ---------------------------------------------------------------- the project, end to end


def test_quick_project_runs_through_the_cli(lfw_root, mlflow_store):
    from nninfo import cli, results
    from nninfo.tracking import runs

    argv = ["main", "--config", str(PROJECT / "config.yaml"), "--quick", "true",
            "--data-dir", str(lfw_root), "--workers", "1", "--no-progress"]
    res = CliRunner().invoke(cli.main, argv)
    assert res.exit_code == 0, res.output
    name = "shannon_invariants_autoencoder"
    summary = results.load_summary(name)
    layers = [f"L{n - 1}" for n in NOTEBOOK_LAYERS]
    assert set(summary.layer) == set(layers) and set(summary.seed) == {0, 1}
    for quantity in ("avg_degree_redundancy", "avg_degree_vulnerability", "joint_entropy"):
        column = f"shannon_entropy.{quantity}"
        assert summary.groupby("layer")[column].count().reindex(layers).gt(0).all(), column
    assert (summary["shannon_entropy.avg_degree_redundancy"] > 0).all()
    client = runs.client()
    logged = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    keys = {key for run in logged for key in run.data.metrics}
    assert {"train/loss", "test/loss"} <= keys
    assert not [key for key in keys if "accuracy" in key]  # no accuracy for a reconstruction
    perf = results.load_performance(name)
    assert set(perf.dataset) == {"train", "test"} and perf["loss"].notna().all()
    assert "accuracy" not in perf or perf["accuracy"].isna().all()
    assert local_report("outputs", name, runs.find_parent(name)).is_file()

"""I/O failures as one clear line, not tracebacks (issue 22, items 4 and 5): broken LFW
images and caches, an artifact store that refuses writes mid-analysis, reports written
whole, and ``report --compare``'s errors in the command line's words."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from nninfo.config import build_config
from nninfo.tasks import load_task
from nninfo.tasks.faces import LFWImageError
from nninfo.testing import write_lfw
from nninfo.tracking import runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import ArtifactWriteError, Settings, unlogged_dir
from tests.helpers import local_report, tishby_layers

SETTINGS = Settings(workers=1, progress=False)
RAW = {
    "name": "io",
    "seeds": 1,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4, levels=4)},
    "training": {"lr": 0.1, "loss": "bce", "epochs": 1, "checkpoint_count": 3},
    "analysis": {"dataset": "all", "layers": ["L1"], "measures": ["shannon"],
                 "surrogates": {"mi": 0, "pid": 0}},
    "performance": {"datasets": ["test"]},
}


# ---------------------------------------------------------------- LFW

def _first_image(root: Path) -> Path:
    return sorted((root / "lfw-deepfunneled").rglob("*.jpg"))[0]


def test_a_non_image_jpg_is_named_with_what_is_wrong(tmp_path):
    root = write_lfw(tmp_path / "data", people=2, images=2)
    bad = _first_image(root)
    bad.write_text("<html>not an image</html>")
    with pytest.raises(LFWImageError, match=rf"LFW image {bad}: cannot be decoded \(not an "
                                            r"image PIL can identify\)"):
        load_task("lfw", data_dir=root, augment=False, cache=False)


def test_a_truncated_jpeg_is_named(tmp_path):
    root = write_lfw(tmp_path / "data", people=2, images=2)
    bad = _first_image(root)
    bad.write_bytes(bad.read_bytes()[:300])
    with pytest.raises(LFWImageError, match=rf"LFW image {bad}: cannot be decoded \(OSError"):
        load_task("lfw", data_dir=root, augment=False, cache=False)


def test_the_cli_shows_a_broken_image_as_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from nninfo.cli import main

    root = write_lfw(tmp_path / "data", people=2, images=2)
    bad = _first_image(root)
    bad.write_text("not an image")
    config = tmp_path / "lfw.yaml"
    config.write_text(yaml.safe_dump({
        "name": "faces", "task": {"name": "lfw", "options": {"augment": False, "cache": False}},
        "network": {"layers": [{"type": "flatten"},
                               {"type": "linear", "in_features": 3072, "out_features": 3072,
                                "activation": "sigmoid"}]},
        "training": {"epochs": 1, "loss": "mse", "checkpoint_count": 2}}))
    result = CliRunner().invoke(main, ["train", "--config", str(config), "--data-dir",
                                       str(root)])
    assert result.exit_code == 2, result.output
    assert f"LFW image {bad}: cannot be decoded" in result.output
    assert "Traceback" not in result.output


def _cache_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.name.startswith("lfw-deepfunneled.nninfo"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "checksum", "pickle"])
def test_a_corrupt_pixel_cache_is_rebuilt_with_a_notice(tmp_path, damage):
    root = write_lfw(tmp_path / "data", people=2, images=2)
    first = load_task("lfw", data_dir=root, augment=False)
    cache, sums = _cache_files(root)
    assert sums.name == cache.name + ".sha256"
    data = cache.read_bytes()
    if damage == "truncate":
        cache.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # same size, same header: only the checksum tells
        cache.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    elif damage == "checksum":
        sums.unlink()
    else:  # an object array: would need unpickling, which is never done
        with cache.open("wb") as fh:
            np.save(fh, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        import hashlib
        sums.write_text(hashlib.sha256(cache.read_bytes()).hexdigest())
    with pytest.warns(UserWarning, match=rf"lfw: the cached images {cache} are unusable"):
        again = load_task("lfw", data_dir=root, augment=False)
    assert np.array_equal(again.splits["train"].x.numpy(), first.splits["train"].x.numpy())
    assert cache.read_bytes() == data  # rebuilt: later runs load it without a notice
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_task("lfw", data_dir=root, augment=False)


# ---------------------------------------------------------------- artifact store refusals

def test_a_refused_artifact_write_keeps_what_analyze_computed(monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    cfg = build_config(RAW)
    parent = run_entry("train", ("train",), cfg, SETTINGS, "io")
    original = MlflowClient.log_artifacts

    def refuse(self, run_id, local_dir, artifact_path=None):
        raise PermissionError(13, "Permission denied", "/store/artifacts")

    monkeypatch.setattr(MlflowClient, "log_artifacts", refuse)
    with pytest.raises(ArtifactWriteError) as err:
        run_entry("analyze", ("analyze",), cfg, SETTINGS, "io", train_run=parent)
    seed = runs.seed_runs(parent)[0].info.run_id
    message = str(err.value)
    assert f"run {seed} artifact analysis/" in message and "PermissionError" in message
    assert str(unlogged_dir(seed)) in message
    logged = runs.logged_steps(seed, "L1/mutual_information")
    assert len(logged) == 3  # every computed unit's metrics are logged
    kept = sorted(p.relative_to(unlogged_dir(seed)).as_posix()
                  for p in unlogged_dir(seed).rglob("*.csv"))
    assert len(kept) >= 3 and all(k.startswith("analysis/") for k in kept)

    monkeypatch.setattr(MlflowClient, "log_artifacts", original)
    calls = []
    from nninfo.jobs import analyze as jobs

    monkeypatch.setattr(jobs, "analyze_checkpoint",
                        lambda *a, **k: calls.append(a) or pytest.fail("recomputed"))
    run_entry("analyze", ("analyze",), cfg, SETTINGS, "io", train_run=parent)
    assert not calls  # the rerun does not redo the units
    uploaded = {a.path for a in runs.client().list_artifacts(seed, "analysis/measures/L1")}
    assert len(uploaded) == 3
    assert not unlogged_dir(seed).exists()
    assert "uploaded the tables kept in" in capsys.readouterr().err


def test_a_refused_write_is_one_line_on_the_command_line(monkeypatch, tmp_path):
    from click.testing import CliRunner
    from mlflow.tracking import MlflowClient

    from nninfo.cli import main

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(RAW))
    assert CliRunner().invoke(main, ["train", "--config", str(config)]).exit_code == 0

    def refuse(self, run_id, local_dir, artifact_path=None):
        raise PermissionError(13, "Permission denied", "/store/artifacts")

    monkeypatch.setattr(MlflowClient, "log_artifacts", refuse)
    result = CliRunner().invoke(main, ["analyze", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "the artifact store refused to write run" in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- reports written whole

def test_report_files_are_written_beside_and_renamed_into_place(monkeypatch, tmp_path):
    cfg = build_config(RAW)
    parent = run_entry("main", ("train", "analyze", "performance"), cfg, SETTINGS, "io")
    replaced = []
    real = os.replace

    def spy(src, dst):
        replaced.append((Path(src), Path(dst)))
        return real(src, dst)

    out = tmp_path / "out"
    monkeypatch.setattr(os, "replace", spy)
    page = run_entry("report", ("report",), cfg, Settings(progress=False, out_dir=str(out)),
                     "io", train_run=parent)
    assert page is not None
    final = local_report(out, "io", parent)
    assert final.is_file() and final.read_text().rstrip().endswith("</html>")
    replaced = [(src, dst) for src, dst in replaced if out in dst.parents]
    targets = {dst for _, dst in replaced}
    assert final in targets
    assert any(dst.parent == final.parent / "figures" and dst.suffix == ".png" for dst in targets)
    assert out / "io" / "index.html" in targets  # the experiment's index of reports too
    for src, dst in replaced:  # written in the same folder tree, then renamed
        assert src.name.startswith(dst.name) or src.name == dst.name
        assert src != dst and str(src).startswith(str(out / "io"))
    assert not [p for p in out.rglob("*") if ".writing-" in p.name]  # no temporary left


# ---------------------------------------------------------------- --compare wording

def test_compare_errors_use_the_command_line_s_words():
    from click.testing import CliRunner

    from nninfo.cli import main
    from nninfo.tracking.compare import compare

    with pytest.raises(ValueError, match=r"experiments: \['q8'\]; compare needs at least two"):
        compare(["q8"])
    for given in ("q8", "q8,q8", "q8, ,"):
        result = CliRunner().invoke(main, ["report", "--compare", given])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == ("Error: --compare q8: name at least two different "
                                         "experiments, e.g. --compare a,b")


def test_compare_errors_under_mlflow_run_use_its_words(monkeypatch):
    from click.testing import CliRunner

    from nninfo.cli import main

    monkeypatch.setenv("MLFLOW_RUN_ID", "abc")
    result = CliRunner().invoke(main, ["report", "--compare", "q8"])
    assert "-P compare=q8: name at least two different experiments, e.g. -P compare=a,b" \
        in result.output

"""Logged checkpoints are checked before use: each carries its SHA-256 and step in
``checkpoints.json``, a replaced, damaged or unreadable file is refused with an error naming the
run, the step and the file, artifact paths outside the run's ``checkpoints/`` are refused before
anything is read, and verified copies are cached once per (run, artifact)."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from nninfo import results
from nninfo.config import build_config
from nninfo.tracking import checkpoints, store_reads
from nninfo.tracking.checkpoints import checkpoint_index
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from nninfo.tracking.runs import seed_runs
from nninfo.training.checkpoint import Checkpoint, CheckpointError
from tests.helpers import tishby_layers

RAW = {
    "name": "checked",
    "seeds": 1,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(3, levels=4)},
    "training": {"lr": 0.1, "loss": "bce", "epochs": 1, "checkpoint_count": 3},
    "analysis": {"dataset": "all", "layers": ["L1"], "measures": ["shannon"]},
    "performance": {"datasets": ["test"]},
}
SETTINGS = Settings(workers=1, progress=False)


def _cfg():
    return build_config(RAW)


def _train() -> str:
    """The seed run of a freshly trained one-seed experiment."""
    parent = run_entry("train", ("train",), _cfg(), SETTINGS, RAW["name"])
    return seed_runs(parent)[0].info.run_id


def _entry(name: str) -> str:
    return run_entry(name, (name,), _cfg(), SETTINGS, RAW["name"])


def _fetch(run_id: str, artifact: str, folder: Path) -> Path:
    """A plain copy of a logged artifact (MLflow's own download, no checks)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(MlflowClient().download_artifacts(run_id, artifact, str(folder)))


def _relog(run_id: str, artifact: str, data: bytes, tmp: Path) -> None:
    """Overwrite a logged artifact with ``data``."""
    folder = tmp / f"relog-{time.monotonic_ns()}"
    folder.mkdir()
    local = folder / Path(artifact).name
    local.write_bytes(data)
    MlflowClient().log_artifact(run_id, str(local), str(Path(artifact).parent) or None)


def _relog_index(run_id: str, index: list, tmp: Path) -> None:
    folder = tmp / f"index-{time.monotonic_ns()}"
    folder.mkdir()
    (folder / "checkpoints.json").write_text(json.dumps(index))
    MlflowClient().log_artifact(run_id, str(folder / "checkpoints.json"))


def _names(err: BaseException, run_id: str, step: int, artifact: str) -> None:
    msg = str(err)
    assert run_id in msg and f"step {step}" in msg and artifact in msg, msg


def _count_downloads(monkeypatch) -> list[str]:
    """Artifact paths read, in order: those MLflow is asked to download and those read in
    place from a local artifact folder (:func:`nninfo.tracking.store_reads.local_artifact`)."""
    calls: list[str] = []
    real = MlflowClient.download_artifacts
    real_local = store_reads.local_artifact

    def counting(self, run_id, path, dst_path=None):
        calls.append(path)
        return real(self, run_id, path, dst_path)

    def counting_local(run_id, path):
        found = real_local(run_id, path)
        if found is not None:  # else the caller downloads it (counted above)
            calls.append(path)
        return found

    monkeypatch.setattr(MlflowClient, "download_artifacts", counting)
    monkeypatch.setattr(store_reads, "local_artifact", counting_local)
    return calls


# ------------------------------------------------------------------ index: hash and step

def test_the_index_stores_each_files_sha256_and_step(tmp_path):
    rid = _train()
    index = checkpoint_index(rid)
    assert len(index) == 3
    for ck in index:
        local = _fetch(rid, ck["artifact"], tmp_path / "plain")
        assert ck["sha256"] == checkpoints.file_sha256(local)
        assert Checkpoint.load(local).step == ck["step"]


# ------------------------------------------------------------------ (a) replaced files

def test_a_checkpoint_replaced_by_another_steps_file_fails_analyze(tmp_path):
    rid = _train()
    victim, other = checkpoint_index(rid)[1], checkpoint_index(rid)[2]
    _relog(rid, victim["artifact"], _fetch(rid, other["artifact"], tmp_path / "o").read_bytes(),
           tmp_path)
    with pytest.raises(CheckpointError, match="SHA-256") as err:
        _entry("analyze")
    _names(err.value, rid, victim["step"], victim["artifact"])


def test_without_a_logged_hash_the_step_check_catches_a_replaced_file(tmp_path):
    """Runs logged before the index had ``sha256`` still load, checked by step."""
    rid = _train()
    index = [{k: v for k, v in ck.items() if k != "sha256"} for ck in checkpoint_index(rid)]
    _relog_index(rid, index, tmp_path)
    assert checkpoints.download_checkpoint(rid, index[0])  # an old index loads

    victim, other = index[1], index[2]
    _relog(rid, victim["artifact"], _fetch(rid, other["artifact"], tmp_path / "o").read_bytes(),
           tmp_path)
    with pytest.raises(CheckpointError, match=f"step {other['step']}, not of step") as err:
        _entry("analyze")
    _names(err.value, rid, victim["step"], victim["artifact"])


# ------------------------------------------------------------------ (b) flipped bytes

def test_a_checkpoint_with_flipped_bytes_is_refused_by_its_hash(tmp_path):
    rid = _train()
    victim = checkpoint_index(rid)[0]
    data = bytearray(_fetch(rid, victim["artifact"], tmp_path / "v").read_bytes())
    data[len(data) // 2] ^= 0xFF
    _relog(rid, victim["artifact"], bytes(data), tmp_path)
    with pytest.raises(CheckpointError, match="SHA-256") as err:
        _entry("performance")
    _names(err.value, rid, victim["step"], victim["artifact"])
    with pytest.raises(CheckpointError, match="SHA-256"):
        results.load_model(rid, step=victim["step"])


# ------------------------------------------------------------------ (c) paths outside the run

@pytest.mark.parametrize("kind", ["absolute", "dotdot", "parent", "outside", "empty part"])
def test_artifact_paths_outside_the_runs_checkpoints_are_refused_before_reading(
        tmp_path, monkeypatch, kind):
    rid = _train()
    index = checkpoint_index(rid)
    # a readable checkpoint on local disk: an absolute path would have been analysed
    outside = _fetch(rid, index[0]["artifact"], tmp_path / "local")
    bad = {"absolute": str(outside.resolve()), "dotdot": "checkpoints/../config.yaml",
           "parent": "../x.pt", "outside": "config.yaml",
           "empty part": "checkpoints//" + Path(index[0]["artifact"]).name}[kind]
    index[1] = {k: v for k, v in index[1].items() if k != "sha256"} | {"artifact": bad}
    _relog_index(rid, index, tmp_path)

    calls = _count_downloads(monkeypatch)
    with pytest.raises(CheckpointError, match="not a path inside") as err:
        _entry("analyze")
    assert rid in str(err.value) and repr(bad) in str(err.value)
    # (config.yaml: the training run's config, checked against this one first)
    assert calls == ["config.yaml", "checkpoints.json"], "refused before any checkpoint was read"
    with pytest.raises(CheckpointError, match="not a path inside"):
        checkpoints.download_checkpoint(rid, {"step": 1, "artifact": bad})


# ------------------------------------------------------------------ (d) unreadable files

def _damaged(data: bytes) -> dict[str, bytes]:
    return {"truncated": data[: len(data) // 2], "empty": b"",
            "garbage": bytes(range(256)) * 8, "text": b"not a checkpoint\n" * 20}


@pytest.mark.parametrize("kind", ["truncated", "empty", "garbage", "text"])
def test_checkpoint_load_names_the_file_of_an_unreadable_checkpoint(tmp_path, kind):
    good = tmp_path / "good.pt"
    torch.save({"step": 1, "weights": torch.randn(50)}, good)
    path = tmp_path / f"{kind}.pt"
    path.write_bytes(_damaged(good.read_bytes())[kind])
    with pytest.raises(CheckpointError, match=re.escape(str(path))) as err:
        Checkpoint.load(path)
    assert isinstance(err.value, ValueError)


def test_checkpoint_load_refuses_a_file_that_is_no_checkpoint(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        Checkpoint.load(tmp_path / "tensor.pt")
    torch.save({"step": 3}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="missing fields"):
        Checkpoint.load(tmp_path / "partial.pt")


def test_a_checkpoint_has_the_same_bytes_whatever_name_it_is_saved_under(tmp_path):
    """Checkpoints are written under temporary names and renamed: their bytes (and SHA-256)
    must not depend on the name, or a resumed run's checkpoints differ from a fresh run's."""
    model = torch.nn.Linear(3, 2)
    ck = Checkpoint.capture(step=4, epoch=0.5, model=model,
                            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                            generator_state=torch.Generator().get_state(), seed=1)
    ck.save(tmp_path / "step_00000004.pt")
    ck.save(tmp_path / ".step_00000004.pt.123.abc.tmp")
    assert (tmp_path / "step_00000004.pt").read_bytes() == \
        (tmp_path / ".step_00000004.pt.123.abc.tmp").read_bytes()
    assert Checkpoint.load(tmp_path / "step_00000004.pt").step == 4


@pytest.mark.parametrize("hashed", [True, False], ids=["hashed index", "old index"])
def test_unreadable_logged_checkpoints_name_run_step_and_file(tmp_path, hashed):
    rid = _train()
    index = checkpoint_index(rid)
    if not hashed:
        index = [{k: v for k, v in ck.items() if k != "sha256"} for ck in index]
        _relog_index(rid, index, tmp_path)
    victim = index[1]
    good = _fetch(rid, victim["artifact"], tmp_path / "v").read_bytes()
    for kind, data in _damaged(good).items():
        _relog(rid, victim["artifact"], data, tmp_path)
        with pytest.raises(CheckpointError, match="SHA-256" if hashed else "empty|cannot be read"
                           ) as err:
            checkpoints.download_checkpoint(rid, victim)
        _names(err.value, rid, victim["step"], victim["artifact"])
        assert kind != "empty" or hashed or "empty" in str(err.value)
    with pytest.raises(CheckpointError) as err:
        _entry("analyze")
    _names(err.value, rid, victim["step"], victim["artifact"])


# ------------------------------------------------------------------ (e) the cache

def test_a_checkpoint_is_downloaded_once_and_served_from_the_cache(tmp_path, monkeypatch):
    rid = _train()
    ck = checkpoint_index(rid)[0]
    calls = _count_downloads(monkeypatch)
    first = checkpoints.download_checkpoint(rid, ck)
    assert checkpoints.download_checkpoint(rid, ck) == first
    assert checkpoints.download_checkpoint(rid, ck["artifact"]) == first  # by path: looked up
    assert calls.count(ck["artifact"]) == 1
    cache = Path(os.environ["NNINFO_CACHE_DIR"]) / "checkpoints" / rid / ck["artifact"]
    assert Path(first) == cache
    assert [p.name for p in cache.parent.iterdir()] == [cache.name], "no download leftovers"

    cache.write_bytes(b"damaged in the cache")  # a damaged cached copy is fetched again
    assert checkpoints.download_checkpoint(rid, ck) == first
    assert calls.count(ck["artifact"]) == 2
    assert checkpoints.file_sha256(first) == ck["sha256"]


def test_analyze_and_performance_share_the_cached_copies(monkeypatch):
    rid = _train()
    calls = _count_downloads(monkeypatch)
    _entry("analyze")
    _entry("performance")
    for ck in checkpoint_index(rid):
        assert calls.count(ck["artifact"]) == 1, ck["artifact"]


def test_load_model_uses_the_cache_and_leaves_no_temporary_folder(tmp_path, monkeypatch):
    rid = _train()
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    calls = _count_downloads(monkeypatch)
    last = checkpoint_index(rid)[-1]
    for _ in range(2):
        net = results.load_model(rid)
        assert not net.training
    results.load_activations(rid, layers=["L1"])
    assert calls.count(last["artifact"]) == 1
    assert list(own_tmp.iterdir()) == [], "temporary folders left behind"


def test_the_cache_is_pruned_least_recently_used_first(tmp_path, monkeypatch):
    rid = _train()
    root = Path(os.environ["NNINFO_CACHE_DIR"]) / "checkpoints"
    stale_file = root / "0123abcd" / "checkpoints" / "old.pt"
    stale_file.parent.mkdir(parents=True)
    stale_file.write_bytes(b"x" * 4096)
    stale_download = root / rid / ".download-left-by-a-crash"
    stale_download.mkdir(parents=True)
    (stale_download / "part.pt").write_bytes(b"x" * 10)
    recent = root / "4567ef" / "checkpoints" / "recent.pt"
    recent.parent.mkdir(parents=True)
    recent.write_bytes(b"y" * 4096)
    day_ago = time.time() - 2 * 24 * 3600
    for path in (stale_file, stale_download):
        os.utime(path, (day_ago, day_ago))
    monkeypatch.setenv(checkpoints.CHECKPOINT_CACHE_MB, "0.001")

    got = Path(checkpoints.download_checkpoint(rid, checkpoint_index(rid)[0]))
    assert got.is_file() and recent.is_file(), "files used within a day are kept"
    assert not stale_file.exists() and not stale_file.parent.parent.exists()
    assert not stale_download.exists()

"""A seed run's checkpoints: the index logged with them (``checkpoints.json``), and verified,
cached local copies of the files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from nninfo.checks import is_integer
from nninfo.folders import checkpoint_cache_dir
from nninfo.tracking import runs


def checkpoint_index(run_id: str) -> list[dict]:
    """The ``checkpoints.json`` of a seed run: one ``{chapter, step, epoch, artifact, sha256}``
    per checkpoint (``sha256`` is missing in runs logged before nninfo stored it).

    The index is checked before any checkpoint is read: every entry needs an integer
    ``step`` and an ``artifact`` path inside the run's ``checkpoints/`` (absolute paths and
    ``..`` are refused) and no step twice, else
    :class:`~nninfo.training.checkpoint.CheckpointError` naming the run; so is a missing or
    unreadable ``checkpoints.json``."""
    try:
        text = runs.artifact_text(run_id, "checkpoints.json")
    except Exception as err:  # MLflow's or the artifact store's: missing, unreadable
        raise _checkpoint_error(
            f"seed run {run_id}: its checkpoints.json, the index of its checkpoints, "
            f"cannot be read ({type(err).__name__}: {err}); without it no checkpoint of "
            "the run can be analysed or evaluated: train again") from None
    try:
        index = json.loads(text)
    except json.JSONDecodeError as err:
        raise _checkpoint_error(f"run {run_id}: checkpoints.json is not valid JSON "
                                f"({err})") from err
    if not isinstance(index, list):
        raise _checkpoint_error(f"run {run_id}: checkpoints.json holds a "
                                f"{type(index).__name__}, not a list of checkpoints")
    seen: set[int] = set()
    for entry in index:
        _check_index_entry(run_id, entry)
        if entry["step"] in seen:
            raise _checkpoint_error(f"run {run_id}: checkpoints.json lists step "
                                    f"{entry['step']} more than once")
        seen.add(entry["step"])
    return index


CHECKPOINT_CACHE_MB = "NNINFO_CHECKPOINT_CACHE_MB"
"""Environment variable: size in MB the checkpoint cache is pruned to (default 2048)."""
_CACHE_GRACE_S = 24 * 3600     # a cached file used within this time is never pruned
_RUN_ID = re.compile(r"[A-Za-z0-9_-]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def download_checkpoint(run_id: str, checkpoint: Mapping | str) -> str:
    """A verified local copy of one of a run's checkpoints; ``checkpoint`` is its entry in
    :func:`checkpoint_index` (or its artifact path, looked up there).

    Verified: the artifact path lies inside the run's ``checkpoints/`` (checked before
    anything is read), the file's SHA-256 equals the one logged with it (when the index has
    one: runs logged before nninfo stored it have only the step check) and the checkpoint
    in the file is of the index's step. Any failure raises
    :class:`~nninfo.training.checkpoint.CheckpointError` naming the run, the step and the file.

    Cache: ``<cache_dir>/checkpoints/<run id>/<artifact path>``, ``cache_dir`` being
    :func:`nninfo.folders.cache_dir` (``$NNINFO_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/nninfo``, else ``~/.cache/nninfo``), so the copy made for ``analyze``
    serves ``performance`` and :func:`nninfo.results.load_model`. A cached copy is used only
    if it passes the same checks (else it is fetched again); a download goes to a temporary
    folder beside it and is renamed into place once verified, so no reader sees a partial or
    unverified file. After a download, the cache is pruned, least recently used first, to
    ``$NNINFO_CHECKPOINT_CACHE_MB`` (default 2048) MB, sparing files used within the last
    day (a running analysis may still read them): after a process's first download, then
    once its downloads pass 5 % of that size (:func:`_prune_after_download`).
    """
    entry = _index_entry(run_id, checkpoint)
    step, artifact = entry["step"], entry["artifact"]
    root = checkpoint_cache_dir()
    local = root / run_id / artifact
    if local.is_file():
        try:
            _verify_checkpoint(run_id, entry, local)
        except (ValueError, OSError):
            local.unlink(missing_ok=True)  # damaged since it was cached: fetch it again
        else:
            with contextlib.suppress(OSError):
                os.utime(local)  # recently used: pruned last
            return str(local)
    (root / run_id).mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=root / run_id)
    try:
        try:
            got = _fetch(run_id, artifact, Path(tmp))
        except Exception as err:
            raise _checkpoint_error(f"run {run_id}, step {step}, file {artifact}: cannot be "
                                    f"downloaded ({type(err).__name__}: {err})") from err
        _verify_checkpoint(run_id, entry, got)
        size = got.stat().st_size
        local.parent.mkdir(parents=True, exist_ok=True)
        os.replace(got, local)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _prune_after_download(root, size)
    return str(local)


_PRUNE_SHARE = 0.05
_unpruned: dict[Path, int] = {}  # cache root -> bytes this process downloaded since its prune


def _prune_after_download(root: Path, size: int) -> None:
    """Prune the cache (:func:`_prune_checkpoint_cache`) after this process's first download
    into it, then whenever its downloads since the last prune pass a twentieth of the limit:
    the cache stays within 5 % of its limit, and an analysis that downloads hundreds of small
    checkpoints does not walk the whole cache after each one."""
    limit = float(os.environ.get(CHECKPOINT_CACHE_MB) or 2048) * 2**20
    grown = _unpruned.get(root)
    if grown is not None and grown + size <= _PRUNE_SHARE * limit:
        _unpruned[root] = grown + size
        return
    _unpruned[root] = 0
    _prune_checkpoint_cache(root)


def _fetch(run_id: str, artifact: str, folder: Path) -> Path:
    """A copy of the run's ``artifact`` in ``folder``: copied from where it lies when the run's
    artifacts are a local folder (no MLflow download machinery per file), else downloaded."""
    from nninfo.tracking.store_reads import local_artifact

    local = local_artifact(run_id, artifact)
    if local is None:
        return Path(runs.client().download_artifacts(run_id, artifact, str(folder)))
    got = folder / local.name
    shutil.copyfile(local, got)  # FileNotFoundError when it is missing
    return got


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checkpoint_error(message: str) -> ValueError:
    from nninfo.training.checkpoint import CheckpointError

    return CheckpointError(message)


def _check_index_entry(run_id: str, entry: object) -> None:
    """An index entry has an integer step, an artifact path inside ``checkpoints/`` and, if
    any, a well-formed SHA-256."""
    if not isinstance(entry, Mapping):
        raise _checkpoint_error(f"run {run_id}: checkpoints.json entry {entry!r} is not an "
                                "object")
    step, artifact = entry.get("step"), entry.get("artifact")
    if not is_integer(step):
        raise _checkpoint_error(f"run {run_id}: checkpoints.json entry {dict(entry)!r} has no "
                                "integer step")
    parts = artifact.split("/") if isinstance(artifact, str) else []
    if (len(parts) < 2 or parts[0] != "checkpoints" or "\\" in artifact
            or any(p in ("", ".", "..") or not p.isprintable() for p in parts)):
        raise _checkpoint_error(
            f"run {run_id}, step {step}: checkpoints.json names the file {artifact!r}, which "
            "is not a path inside the run's checkpoints/ (absolute paths and '..' are "
            "refused)")
    sha = entry.get("sha256")
    if sha is not None and not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
        raise _checkpoint_error(f"run {run_id}, step {step}, file {artifact}: checkpoints.json "
                                f"has sha256 {sha!r}, not 64 hex digits")


def _index_entry(run_id: str, checkpoint: Mapping | str) -> Mapping:
    """The checked index entry of ``checkpoint`` (an entry, or an artifact path)."""
    if not _RUN_ID.fullmatch(run_id):
        raise _checkpoint_error(f"run id {run_id!r}: not a run id (letters, digits, '-', '_')")
    if isinstance(checkpoint, str):
        found = [ck for ck in checkpoint_index(run_id) if ck["artifact"] == checkpoint]
        if not found:
            raise _checkpoint_error(f"run {run_id}: file {checkpoint!r} is not a checkpoint "
                                    "in its checkpoints.json")
        return found[0]
    _check_index_entry(run_id, checkpoint)
    return checkpoint


def _verify_checkpoint(run_id: str, entry: Mapping, path: Path) -> None:
    """``path`` holds the checkpoint ``entry`` describes: same SHA-256 (when logged), a
    readable checkpoint, the same step."""
    from nninfo.training.checkpoint import Checkpoint, CheckpointError

    step, artifact, sha = entry["step"], entry["artifact"], entry.get("sha256")
    where = f"run {run_id}, step {step}, file {artifact}"
    if sha is not None:
        got = file_sha256(path)
        if got != sha:
            raise CheckpointError(
                f"{where}: SHA-256 {got} of the file differs from {sha} logged with it; the "
                "file was changed or replaced after training")
    try:
        ck = Checkpoint.load(path)
    except CheckpointError as err:
        raise CheckpointError(f"{where}: {err}") from err
    if ck.step != step:
        raise CheckpointError(f"{where}: the file holds the checkpoint of step {ck.step}, not "
                              f"of step {step} (it was replaced by another checkpoint's file)")


def _prune_checkpoint_cache(root: Path) -> None:
    """Delete cached checkpoints, least recently used first, until the cache fits
    ``$NNINFO_CHECKPOINT_CACHE_MB``; files used within the last day are kept, as are
    downloads in progress (left-over ones older than a day are removed)."""
    limit = float(os.environ.get(CHECKPOINT_CACHE_MB) or 2048) * 2**20
    old = time.time() - _CACHE_GRACE_S
    files = []
    for path in root.rglob("*"):
        with contextlib.suppress(OSError):
            if path.name.startswith(".download-") and path.is_dir():
                if path.stat().st_mtime < old:
                    shutil.rmtree(path, ignore_errors=True)
            elif path.is_file() and not any(
                    p.startswith(".download-") for p in path.relative_to(root).parts):
                st = path.stat()
                files.append((st.st_mtime, st.st_size, path))
    total = sum(size for _, size, _ in files)
    for mtime, size, path in sorted(files):
        if total <= limit or mtime >= old:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
            for parent in path.parents:
                if parent == root or not parent.is_relative_to(root):
                    break
                parent.rmdir()  # OSError once a folder is not empty: stops here

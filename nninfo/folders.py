"""Where nninfo keeps files on disk: the cache folder, the work folder seeds train in and the
data folder with the datasets, each with its environment variable.

- cache: ``$NNINFO_CACHE_DIR``, else ``$XDG_CACHE_HOME/nninfo``, else ``~/.cache/nninfo``;
  it holds the PID lattices (:mod:`nninfo.info.lattice`) and, under ``checkpoints/``, the
  verified checkpoint files (:mod:`nninfo.tracking.checkpoints`).
- work: ``$NNINFO_WORK_DIR``, else ``<cache>/work``; seeds train (and resume) below it.
- data: the ``data_dir`` argument, else ``$NNINFO_DATA_DIR``, else ``~/.cache/nninfo/data``
  (not below ``$NNINFO_CACHE_DIR`` or ``$XDG_CACHE_HOME``).
- local reports: ``<out_dir>/<experiment>/<run name>-<run id[:8]>/`` (:func:`report_folder`),
  one folder per reported run, so that experiments of one config, or runs of one experiment,
  never overwrite each other's figures and ``report.html``; names are made safe folder names
  (:func:`safe_name`): nothing written there leaves ``<out_dir>``.

Standard library only, so that every part of the package (the numpy-only
:mod:`nninfo.info` too) may import it.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

CACHE_DIR_ENV = "NNINFO_CACHE_DIR"
"""Environment variable naming the cache folder."""
WORK_DIR_ENV = "NNINFO_WORK_DIR"
"""Environment variable naming the folder seeds train in."""
DATA_DIR_ENV = "NNINFO_DATA_DIR"
"""Environment variable naming the data directory when ``data_dir`` is not given."""


def cache_dir() -> Path:
    """Disk cache folder: $NNINFO_CACHE_DIR, else $XDG_CACHE_HOME/nninfo, else ~/.cache/nninfo."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nninfo"


def checkpoint_cache_dir() -> Path:
    """Where fetched checkpoint files are cached: ``<cache>/checkpoints``."""
    return cache_dir() / "checkpoints"


def work_root() -> Path:
    """The folder seeds train in: ``$NNINFO_WORK_DIR``, else ``<cache>/work`` (one subfolder
    per experiment and training key below it)."""
    return Path(os.environ.get(WORK_DIR_ENV) or cache_dir() / "work")


def default_data_dir() -> Path:
    """``$NNINFO_DATA_DIR`` if set, else ``~/.cache/nninfo/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nninfo" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """The data directory: the argument, else :func:`default_data_dir`."""
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


def data_dir_setting(data_dir: str | None) -> str | None:
    """The command line's data directory: ``--data-dir`` unless empty (an MLproject's default),
    else ``$NNINFO_DATA_DIR`` unless empty, else None (the workers' :func:`default_data_dir`)."""
    return data_dir or os.environ.get(DATA_DIR_ENV) or None


_UNSAFE = re.compile(r"[^A-Za-z0-9_.+=-]+")
_NAME_MAX = 80  # characters of one folder name made from a name
_RUN_NAME_MAX = 60  # characters of a run's name in its report folder's name


def safe_name(name: str, max_len: int = _NAME_MAX) -> str:
    """``name`` as one folder name: every run of characters other than ASCII letters, digits
    and ``_ . + = -`` becomes ``_`` (so no ``/`` or ``\\``), leading and trailing dots go (no
    ``..``, no hidden folder), at most ``max_len`` characters; ``_`` when nothing is left."""
    return _UNSAFE.sub("_", name)[:max_len].strip(".") or "_"


def experiment_folder(out_dir: str | os.PathLike, experiment: str) -> Path:
    """``<out_dir>/<experiment>``: each ``/``-separated part of the experiment's name a
    :func:`safe_name` (``compare/q8+q4`` -> ``compare/q8+q4``, ``a/../b`` -> ``a/_/b``,
    ``/Users/me/x`` -> ``Users/me/x``), so the folder is always inside ``out_dir``."""
    parts = [safe_name(part) for part in experiment.split("/") if part.strip()] or ["_"]
    folder = Path(out_dir).joinpath(*parts)
    if not folder.resolve().is_relative_to(Path(out_dir).resolve()):  # by construction never
        raise ValueError(f"experiment: {experiment!r} names a folder outside {out_dir}")
    return folder


def report_folder(out_dir: str | os.PathLike, experiment: str, run_name: str | None,
                  run_id: str) -> Path:
    """Where the local report of run ``run_id`` of ``experiment`` goes:
    ``<out_dir>/<experiment>/<run name>-<run id[:8]>`` (:func:`experiment_folder`,
    :func:`safe_name`): one folder per run, the same on every rerun of its report."""
    name = safe_name(run_name or "run", _RUN_NAME_MAX)
    return experiment_folder(out_dir, experiment) / f"{name}-{safe_name(run_id[:8])}"


def write_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` whole: into a temporary file in the same folder,
    then one ``os.replace``, so that a reader or a concurrent writer never sees a half-written
    file (the last writer wins)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.writing-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

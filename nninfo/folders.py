"""Where nninfo keeps files on disk: the cache folder, the work folder seeds train in and the
data folder with the datasets, each with its environment variable.

- cache: ``$NNINFO_CACHE_DIR``, else ``$XDG_CACHE_HOME/nninfo``, else ``~/.cache/nninfo``;
  it holds the PID lattices (:mod:`nninfo.info.lattice`) and, under ``checkpoints/``, the
  verified checkpoint files (:mod:`nninfo.tracking.checkpoints`).
- work: ``$NNINFO_WORK_DIR``, else ``<cache>/work``; seeds train (and resume) below it.
- data: the ``data_dir`` argument, else ``$NNINFO_DATA_DIR``, else ``~/.cache/nninfo/data``
  (not below ``$NNINFO_CACHE_DIR`` or ``$XDG_CACHE_HOME``).

Standard library only, so that every part of the package (the numpy-only
:mod:`nninfo.info` too) may import it.
"""

from __future__ import annotations

import os
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

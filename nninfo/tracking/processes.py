"""Runs and the processes that drive them: who drives a run, runs whose driver is gone,
SIGTERM handled like Ctrl-C, and one process at a time creating a new SQLite store (with its
artifacts beside it, :func:`artifact_root`).

Every run nninfo creates carries the tag ``nninfo.driver`` = ``host:pid:start``, the driving
process's host, pid and start time (so a recycled pid is not mistaken for the driver). A run
left RUNNING by a driver that no longer exists on this host (killed with ``kill -9``, out of
memory, power loss) is marked KILLED, with a note, the next time an entry point of its
experiment starts (:func:`nninfo.tracking.runs.mark_abandoned_runs`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

DRIVER = "nninfo.driver"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or '' elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat, after "(comm)"


def driver_tag() -> str:
    """``host:pid:start`` of this process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def driver_alive(tag: str) -> bool | None:
    """Whether the process named by a :func:`driver_tag` still runs; None when that cannot
    be told from here (another host, or a malformed tag)."""
    host, _, rest = tag.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    return not start or _start_time(pid) in ("", start)


def sigterm_as_interrupt() -> None:
    """Handle SIGTERM like Ctrl-C (KeyboardInterrupt), so runs end KILLED, not RUNNING.

    Only the first SIGTERM interrupts; later ones (a scheduler repeating it, ``kill`` again)
    are ignored, so they do not cut short the handling of the first: stopping the workers
    and marking the runs KILLED. SIGKILL still ends the process at once."""

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def exit_on_interrupt(status: int) -> Iterator[None]:
    """For the command line only, around an entry point's work: once Ctrl-C or SIGTERM (a
    KeyboardInterrupt, see :func:`sigterm_as_interrupt`) has unwound the block, which marks
    its runs KILLED on the way, stop every worker still running
    (:func:`nninfo.executors.stop_workers`), say "Aborted!" and leave at once with
    ``status``: ``os._exit``, because interpreter shutdown can hang for minutes in
    third-party exit handlers (CUDA's). Never for a library call."""
    try:
        yield
    except KeyboardInterrupt:
        import sys

        from nninfo.executors import stop_workers

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: no half-done stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stop_workers()
        finally:
            print("Aborted!", file=sys.stderr)
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(status)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (relative: ``sqlite:///x.db``,
    absolute: ``sqlite:////abs/x.db``), else None."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    path = uri[len(prefix):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


_held: set[Path] = set()  # lock files this process holds (file_lock is re-entrant)


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = 120.0) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (re-entrant within one process)."""
    import fcntl

    key = path.resolve()
    if key in _held:
        yield
        return
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"store: waited {timeout:.0f} s for the lock {path}") from None
                time.sleep(0.1)
        _held.add(key)
        try:
            yield
        finally:
            _held.discard(key)
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Held while a ``sqlite:///`` store is created or migrated: ``<database>.lock`` beside
    it (nothing for other URIs)."""
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(db.with_name(db.name + ".lock")):
        yield


ARTIFACT_FOLDER = "mlartifacts"


def artifact_root(uri: str) -> str | None:
    """Where the experiments nninfo creates keep their artifacts: ``mlartifacts/`` beside a
    SQLite store's database file (absolute), as ``mlflow server`` started in that folder does
    (its default ``--artifacts-destination ./mlartifacts``), so artifacts do not follow the
    working directory (``mlflow run`` works in the project folder); None for other stores,
    whose server decides."""
    db = sqlite_path(uri)
    return None if db is None else os.path.join(os.path.abspath(db.parent), ARTIFACT_FOLDER)


def artifact_store(uri: str):
    """The tracking store of ``uri`` whose new experiments get :func:`artifact_root`, or
    MLflow's default for stores that are not SQLite."""
    from mlflow.tracking._tracking_service.utils import _get_store

    return _get_store(uri, artifact_root(uri))


def ensure_store() -> str:
    """Create (and migrate) the tracking store once, under :func:`store_lock`, before
    anything else touches it: two processes creating one new SQLite file at once race in
    MLflow's migrations. A new SQLite store's Default experiment keeps its artifacts in
    :func:`artifact_root` too. Returns the tracking URI."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    with store_lock(uri):
        artifact_store(uri).search_experiments(max_results=1)
    return uri

"""Execution backends behind one interface: run independent jobs, yield results as they finish.

``local`` runs jobs in this process (``workers=1``) or in a spawned process pool; ``dask``
submits them to a Dask distributed scheduler (``scheduler="tcp://host:port"``) or to a
``LocalCluster`` (one single-threaded worker process per ``workers``) started for the
occasion. Failures come back as values, not raised, so the caller can mark the one affected
run FAILED and carry on with the others.

With ``gpus=True`` every job holds one GPU while it runs. On Dask each job then needs the
worker resource ``GPU=1``: start one worker per GPU, each seeing only its own, e.g.
``CUDA_VISIBLE_DEVICES=1 dask worker tcp://host:8786 --nthreads 1 --resources GPU=1``; the
cluster started for the occasion does that with one worker per GPU. Locally the caller gives
each job its own ``cuda:<i>`` device.

Every job yields exactly one :class:`Outcome`, even when it ran more than once: a job whose
worker process died is run again (Dask reschedules tasks of lost workers on the others; the
local pool is restarted for the unfinished jobs, up to ``retries`` times), and a job that
raised is retried ``retries`` times on Dask. Jobs must therefore be safe to run twice.

An interrupt (Ctrl-C, or SIGTERM turned into one by the command line) while jobs run stops
them: the local pool's workers get SIGTERM, and SIGKILL after a grace period, and the pool is
discarded; Dask futures are cancelled. :func:`stop_workers` does the same for every pool of
this process. Pool workers ignore SIGINT (Ctrl-C reaches the whole process group; the driver
decides) and die at once on SIGTERM, so jobs must write their files atomically.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import importlib.util
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from nninfo.checks import is_integer

EXECUTORS = ("local", "dask")


@dataclass
class Outcome:
    """The result of job ``key``: ``value`` on success, ``error`` on failure."""

    key: Any
    value: Any = None
    error: BaseException | None = None


Job = tuple[Any, Callable[..., Any], tuple, dict]


def _init_worker(threads: int, driver: int) -> None:
    import torch

    # SIGTERM (from the driver stopping its pool, or a batch scheduler) ends a worker at
    # once, even inside a long native call: its job's files are written atomically, so the
    # last complete checkpoint stays usable. Ctrl-C reaches the whole process group: the
    # driver decides, and stops its workers.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_driver, args=(driver,), daemon=True,
                     name="nninfo-exit-with-driver").start()


def _exit_with_driver(driver: int, interval: float = 1.0) -> None:
    """Exit this worker process as soon as its driver is gone (killed with ``kill -9`` it
    cannot shut the pool down, and a worker would otherwise compute on, holding memory)."""
    import time

    while os.getppid() == driver:
        time.sleep(interval)
    os._exit(1)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run_jobs(jobs: Sequence[Job], *, executor: str = "local", workers: int | None = None,
             scheduler: str | None = None, retries: int = 2,
             gpus: bool = False) -> Iterator[Outcome]:
    """Run ``(key, fn, args, kwargs)`` jobs; yield one :class:`Outcome` per job as it ends.

    ``workers``: processes of the local pool or of the Dask cluster started here (default:
    the number of CPU cores, with ``gpus`` the number of GPUs); ignored when ``scheduler``
    names a running Dask scheduler.
    ``retries``: how often a job is run again after its worker died (and, on Dask, after it
    raised) before its failure is reported.
    ``gpus``: each job needs one GPU. On Dask it is submitted with ``resources={"GPU": 1}``,
    so it runs on a worker started with ``--resources GPU=1`` (and ``CUDA_VISIBLE_DEVICES``
    set to that worker's GPU); without ``scheduler``, a cluster of ``workers`` such workers,
    worker ``i`` seeing GPU ``i``, is started. Locally jobs run as they are.
    """
    check_executor(executor, workers, scheduler, reach=False)
    if workers is None:
        workers = (gpu_count(executor) if gpus and not scheduler else 0) or default_workers()
    if not is_integer(retries, 0):
        raise ValueError(f"retries: {retries!r} is not an integer >= 0")
    if executor == "dask":
        yield from _dask(jobs, workers, scheduler, retries, gpus)
    elif workers == 1 or len(jobs) <= 1:
        yield from _serial(jobs)
    else:
        yield from _pool(jobs, workers, retries)


def check_executor(executor: str, workers: int | None = None, scheduler: str | None = None,
                   *, reach: bool = True, timeout: float = 5.0) -> None:
    """Refuse settings that cannot run, before any work starts: an unknown executor, a bad
    worker count, a scheduler without dask, dask not installed, and (with ``reach``) a Dask
    scheduler that does not answer within ``timeout`` seconds."""
    if executor not in EXECUTORS:
        raise ValueError(f"--executor: {executor!r} is not one of {list(EXECUTORS)}")
    if workers is not None and not is_integer(workers, 1):
        raise ValueError(f"--workers: {workers!r} is not a positive integer")
    if scheduler is not None and executor != "dask":
        raise ValueError(f"--scheduler: {scheduler!r} needs --executor dask, not {executor!r}")
    if executor != "dask":
        return
    if importlib.util.find_spec("distributed") is None:
        raise ValueError("--executor: 'dask' needs the optional dependency; install it with "
                         "pip install 'nninfo[dask]'")
    if scheduler is not None and reach:
        _reach(scheduler, timeout)


def gpu_count(executor: str, workers: int | None = None, scheduler: str | None = None) -> int:
    """How many GPUs jobs can use at once: ``workers`` when given; with a Dask ``scheduler``
    the sum of the ``GPU`` resources its workers offer (0 if none); else the CUDA devices
    here."""
    if workers:
        return workers
    if executor == "dask" and scheduler:
        from distributed import Client

        with Client(scheduler, set_as_default=False) as client:
            try:
                info = client.scheduler_info(n_workers=-1)  # newer versions cap the list
            except TypeError:
                info = client.scheduler_info()
        return int(sum((w.get("resources") or {}).get("GPU", 0)
                       for w in info["workers"].values()))
    import torch

    return torch.cuda.device_count()


def _reach(scheduler: str, timeout: float) -> None:
    """Open (and close) a TCP connection to ``tcp://host:port``."""
    import socket
    from urllib.parse import urlparse

    address = urlparse(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    try:
        port = address.port
    except ValueError:
        port = None
    if address.scheme not in ("tcp", "tls") or not address.hostname or port is None:
        raise ValueError(f"--scheduler: {scheduler!r} is not an address tcp://host:port")
    try:
        socket.create_connection((address.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise ValueError(f"--scheduler: no Dask scheduler answers at {scheduler!r} "
                         f"({exc.strerror or exc})") from None


def _serial(jobs: Sequence[Job]) -> Iterator[Outcome]:
    for key, fn, args, kwargs in jobs:
        try:
            yield Outcome(key, fn(*args, **kwargs))
        except Exception as exc:  # reported to the caller, which marks the run FAILED
            yield Outcome(key, error=exc)


def _pool(jobs: Sequence[Job], workers: int, retries: int) -> Iterator[Outcome]:
    """A spawned process pool; when a worker dies the pool breaks, and the jobs it had not
    finished run again in a fresh pool (at most ``retries`` times)."""
    pending = list(jobs)
    for attempt in range(retries + 1):
        lost: list[Job] = []
        for job, outcome in _pool_once(pending, workers):
            if isinstance(outcome.error, BrokenProcessPool) and attempt < retries:
                lost.append(job)
            else:
                yield outcome
        if not lost:
            return
        pending = lost


_pools: dict[int, cf.ProcessPoolExecutor] = {}


def _shared_pool(workers: int) -> cf.ProcessPoolExecutor:
    """One spawned pool per worker count for the life of the process, so the steps of
    ``main`` do not each pay for starting workers (and importing torch) again."""
    if workers not in _pools:
        ctx = multiprocessing.get_context("spawn")
        _pools[workers] = cf.ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker,
            initargs=(max(1, default_workers() // workers), os.getpid()))
    return _pools[workers]


def _discard_pool(workers: int) -> None:
    pool = _pools.pop(workers, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


GRACE_S = 5.0
"""How long a stopped worker may take to exit after SIGTERM before it gets SIGKILL."""


def _stop_pool(workers: int, grace: float = GRACE_S) -> None:
    """Discard the pool of ``workers`` and end its worker processes now: pending jobs are
    cancelled, running ones die with their worker (SIGTERM, SIGKILL after ``grace``)."""
    pool = _pools.pop(workers, None)
    if pool is None:
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.terminate()
    # wait on the sentinels (readable once a worker is gone), not on the pids: the pool's
    # own thread reaps them
    waiting = {proc.sentinel: proc for proc in processes}
    deadline = time.monotonic() + grace
    while waiting and (left := deadline - time.monotonic()) > 0:
        for ready in multiprocessing.connection.wait(list(waiting), left):
            waiting.pop(ready)
    for proc in waiting.values():
        with contextlib.suppress(Exception):
            proc.kill()


def stop_workers(grace: float = GRACE_S) -> None:
    """Stop every job of this process now: end the local pools' worker processes (SIGTERM,
    SIGKILL after ``grace`` seconds) and cancel the Dask futures in flight (and close a
    cluster started for them). For a driver that is being interrupted; jobs resume from
    their last checkpoint when run again."""
    for workers in list(_pools):
        _stop_pool(workers, grace)
    for client, futures, cluster in list(_dask_sessions):
        _cancel_dask(client, futures, cluster)


def _at_exit() -> None:
    # idle pools: a normal shutdown; jobs still running (their driver is leaving without
    # their results, e.g. after an interrupt outside run_jobs): their workers are ended, so
    # that the interpreter does not wait for them (concurrent.futures joins its pools'
    # threads before atexit handlers run, hence threading's hook where there is one)
    for workers, pool in list(_pools.items()):
        if getattr(pool, "_pending_work_items", None):
            _stop_pool(workers)
        else:
            _discard_pool(workers)


_register_at_exit = getattr(threading, "_register_atexit", atexit.register)
_register_at_exit(_at_exit)


def _pool_once(jobs: Sequence[Job], workers: int) -> Iterator[tuple[Job, Outcome]]:
    workers = min(workers, len(jobs))
    futures: dict[cf.Future, Job] = {}
    try:
        pool = _shared_pool(workers)
        for key, fn, args, kwargs in jobs:
            futures[pool.submit(fn, *args, **kwargs)] = (key, fn, args, kwargs)
        for fut in cf.as_completed(futures):
            job = futures.pop(fut)
            exc = fut.exception()
            if isinstance(exc, BrokenProcessPool):
                _discard_pool(workers)  # a worker died: the next attempt starts a fresh pool
            yield job, Outcome(job[0], None if exc else fut.result(), exc)
    except GeneratorExit:  # the caller stopped reading: what has not started is not run
        for fut in futures:
            fut.cancel()
        raise
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): the running jobs stop too
        for fut in futures:
            fut.cancel()
        _stop_pool(workers)
        raise


def _call(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Run one job on a Dask worker (keeps the job's kwargs apart from ``submit``'s)."""
    return fn(*args, **kwargs)


def _cluster(workers: int, gpus: bool) -> Any:
    """A local Dask cluster of ``workers`` single-threaded worker processes; with ``gpus``
    worker ``i`` offers the resource ``GPU=1`` and sees only GPU ``i``."""
    import logging

    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster

    if not gpus:
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=None)
    common = {"nthreads": 1, "resources": {"GPU": 1}, "host": "127.0.0.1",
              "dashboard": False, "silence_logs": logging.WARN,
              "memory_limit": 1 / workers}  # a share of the memory, as in LocalCluster
    spec = {i: {"cls": Nanny, "options": {**common, "env": {"CUDA_VISIBLE_DEVICES": str(i)}}}
            for i in range(workers)}
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard": False,
                                               "dashboard_address": None}}
    return SpecCluster(workers=spec, scheduler=scheduler, silence_logs=logging.WARN)


def _dask(jobs: Sequence[Job], workers: int, scheduler: str | None, retries: int,
          gpus: bool = False) -> Iterator[Outcome]:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise ValueError("executor: 'dask' needs the optional dependency; "
                         "install it with pip install 'nninfo[dask]'") from exc
    cluster = None if scheduler else _cluster(workers, gpus)
    client = Client(scheduler or cluster)
    need = {"resources": {"GPU": 1}} if gpus else {}
    futures: dict[Any, Any] = {}
    session = (client, futures, cluster)
    _dask_sessions.append(session)
    try:
        # task keys start with the job's function name (as in the Dask dashboard)
        for key, fn, args, kwargs in jobs:
            futures[client.submit(_call, fn, args, kwargs, pure=False, retries=retries,
                                  key=f"{getattr(fn, '__name__', 'job')}-{uuid.uuid4().hex}",
                                  **need)] = key
        for fut in as_completed(list(futures)):
            key = futures.pop(fut)
            try:
                yield Outcome(key, fut.result())
            except Exception as exc:  # the job's error, or KilledWorker after lost workers
                yield Outcome(key, error=exc)
            finally:
                fut.release()  # consumed: nothing left for the cluster to keep or recompute
    except BaseException:  # interrupted, or the caller stopped reading: cancel the rest
        _cancel_dask(client, futures, None)
        raise
    finally:
        with contextlib.suppress(ValueError):
            _dask_sessions.remove(session)
        client.close()
        if cluster is not None:
            cluster.close()


_dask_sessions: list[tuple[Any, dict, Any]] = []  # (client, futures in flight, own cluster)


def _cancel_dask(client: Any, futures: dict, cluster: Any) -> None:
    """Best effort: cancel ``futures`` (a task already running on a worker of an outside
    scheduler finishes there; Dask cannot stop it), then close ``cluster`` if given (its
    worker processes end)."""
    with contextlib.suppress(Exception):
        if futures:
            client.cancel(list(futures), force=True)
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close(timeout=10)

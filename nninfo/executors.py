"""Execution backends behind one interface: run independent jobs, yield results as they finish.

``local`` runs jobs in this process (``workers=1``) or in a spawned process pool; ``dask``
submits them to a Dask distributed scheduler (``scheduler="tcp://host:port"``) or to a
``LocalCluster`` started for the occasion. Failures come back as values, not raised, so the
caller can mark the one affected run FAILED and carry on with the others.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

EXECUTORS = ("local", "dask")


@dataclass
class Outcome:
    """The result of job ``key``: ``value`` on success, ``error`` on failure."""

    key: Any
    value: Any = None
    error: BaseException | None = None


Job = tuple[Any, Callable[..., Any], tuple, dict]


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run_jobs(jobs: Sequence[Job], *, executor: str = "local", workers: int | None = None,
             scheduler: str | None = None, retries: int = 2) -> Iterator[Outcome]:
    """Run ``(key, fn, args, kwargs)`` jobs; yield an :class:`Outcome` per job as it ends."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor: {executor!r} is not one of {list(EXECUTORS)}")
    workers = workers or default_workers()
    if workers < 1:
        raise ValueError(f"workers: {workers!r} is not a positive integer")
    if executor == "dask":
        yield from _dask(jobs, workers, scheduler, retries)
    elif workers == 1 or len(jobs) <= 1:
        yield from _serial(jobs)
    else:
        yield from _pool(jobs, workers)


def _serial(jobs: Sequence[Job]) -> Iterator[Outcome]:
    for key, fn, args, kwargs in jobs:
        try:
            yield Outcome(key, fn(*args, **kwargs))
        except Exception as exc:  # reported to the caller, which marks the run FAILED
            yield Outcome(key, error=exc)


def _pool(jobs: Sequence[Job], workers: int) -> Iterator[Outcome]:
    workers = min(workers, len(jobs))
    threads = max(1, default_workers() // workers)
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(threads,)) as pool:
        futures = {pool.submit(fn, *args, **kwargs): key for key, fn, args, kwargs in jobs}
        try:
            for fut in cf.as_completed(futures):
                exc = fut.exception()
                yield Outcome(futures[fut], None if exc else fut.result(), exc)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def _dask(jobs: Sequence[Job], workers: int, scheduler: str | None,
          retries: int) -> Iterator[Outcome]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ValueError("executor: 'dask' needs the optional dependency; "
                         "install it with pip install 'nninfo[dask]'") from exc
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1,
                                                   processes=True, dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        futures = {client.submit(fn, *args, **kwargs, pure=False, retries=retries): key
                   for key, fn, args, kwargs in jobs}
        for fut in as_completed(futures):
            if fut.status == "error":
                yield Outcome(futures[fut], error=fut.exception())
            else:
                yield Outcome(futures[fut], fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

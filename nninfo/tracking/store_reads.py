"""Reading the tracking store in bulk: metric histories of many keys at once, and a run's
artifacts read where they lie when the artifact store is a local folder.

MLflow's client reads one (run, key) history per request; a results frame needs every key
of every seed run (about 100 keys x 10 seeds for the Tishby demo), and each request costs
a query and a round of entity conversion. Against MLflow's SQL store (a ``sqlite:`` file or
a database server) :func:`metric_histories` reads them with one query per block of runs,
in the order MLflow's ``get_metric_history`` returns them (timestamp, step, value), so what
is built from them is the same; other stores (a tracking server over REST, a file store)
are read key by key through the client, as before.

Artifacts: ``MlflowClient.download_artifacts`` looks the run up (its metrics, params and
tags), builds an artifact repository and copies the files, for every call. Where a run's
artifacts are a local folder (a ``sqlite:`` store's ``mlartifacts/``), :func:`local_artifact`
gives the path to read in place; elsewhere (a tracking server's proxied artifacts, S3, ...)
it gives None and callers download as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

RUN_BLOCK = 200
"""Runs per query (SQL parameter limits: SQLite allows 32,766 by default)."""


class Point(NamedTuple):
    """One logged value of a metric, as :class:`mlflow.entities.Metric` has it."""

    step: int
    value: float
    timestamp: int


Histories = dict[str, dict[str, list[Point]]]
"""run id -> metric key -> its points, oldest first (timestamp, step, value)."""


def _client():
    """MLflow's client of the current tracking URI (this module is below
    :mod:`nninfo.tracking.runs`, which reads artifacts through it)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def _sql_store():
    """The client's store when it is MLflow's SQLAlchemy store, else None."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = _client()._tracking_client.store
    except (ImportError, AttributeError):
        return None
    return store if isinstance(store, SqlAlchemyStore) else None


def metric_histories(run_ids: Iterable[str], keys: Iterable[str] | None = None,
                     *, present: dict[str, Iterable[str]] | None = None) -> Histories:
    """Every logged value of ``keys`` (all keys when None) of each run in ``run_ids``.

    ``present``: run id -> the metric keys the run has (``run.data.metrics``), used only
    where the store is read key by key (it saves asking for keys a run lacks). A run or key
    without values is absent from the result."""
    ids = list(dict.fromkeys(run_ids))
    wanted = None if keys is None else set(keys)
    store = _sql_store()
    if store is None:
        return _by_key(ids, wanted, present)
    from mlflow.store.tracking.dbmodels.models import SqlMetric

    out: Histories = {}
    with store.ManagedSessionMaker() as session:
        for i in range(0, len(ids), RUN_BLOCK):
            query = session.query(SqlMetric.run_uuid, SqlMetric.key, SqlMetric.step,
                                  SqlMetric.value, SqlMetric.is_nan, SqlMetric.timestamp
                                  ).filter(SqlMetric.run_uuid.in_(ids[i:i + RUN_BLOCK]))
            if wanted is not None and len(wanted) <= RUN_BLOCK:
                query = query.filter(SqlMetric.key.in_(sorted(wanted)))
            query = query.order_by(SqlMetric.run_uuid, SqlMetric.key, SqlMetric.timestamp,
                                   SqlMetric.step, SqlMetric.value)
            for run_id, key, step, value, is_nan, timestamp in query:
                if wanted is not None and key not in wanted:
                    continue
                point = Point(step, math.nan if is_nan else value, timestamp)
                out.setdefault(run_id, {}).setdefault(key, []).append(point)
    return out


def _by_key(ids: list[str], wanted: set[str] | None,
            present: dict[str, Iterable[str]] | None) -> Histories:
    """:func:`metric_histories` through the client, one request per (run, key)."""
    c = _client()
    out: Histories = {}
    for run_id in ids:
        have = present.get(run_id) if present else None
        if have is None:
            have = c.get_run(run_id).data.metrics
        for key in sorted(set(have) if wanted is None else wanted & set(have)):
            points = [Point(m.step, m.value, m.timestamp)
                      for m in c.get_metric_history(run_id, key)]
            if points:
                out.setdefault(run_id, {})[key] = sorted(points, key=lambda p: p.timestamp)
    return out


def latest_per_step(points: Iterable[Point]) -> dict[int, float]:
    """step -> the newest value there (a forced re-analysis logs again; the newest wins)."""
    return {p.step: p.value for p in points}


_ARTIFACT_URIS: dict[tuple[str, str], str] = {}  # (tracking URI, run id) -> artifact URI


def remember_runs(found: Iterable) -> None:
    """Note the artifact URIs of runs already fetched (a search's results), so that
    :func:`local_artifact` need not look them up (a run's artifact URI never changes)."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    for run in found:
        _ARTIFACT_URIS[(uri, run.info.run_id)] = run.info.artifact_uri


def local_artifact(run_id: str, path: str) -> Path | None:
    """Where artifact ``path`` of run ``run_id`` lies when the run's artifacts are a local
    folder (it may not exist), else None. ``path`` must stay inside the run's artifacts
    (a ValueError otherwise, as MLflow's own check)."""
    import mlflow
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    key = (mlflow.get_tracking_uri(), run_id)
    if key not in _ARTIFACT_URIS:
        _ARTIFACT_URIS[key] = _client().get_run(run_id).info.artifact_uri
    repo = get_artifact_repository(_ARTIFACT_URIS[key])
    if not isinstance(repo, LocalArtifactRepository):
        return None
    root = Path(repo.artifact_dir).resolve()
    target = (root / path).resolve() if path else root
    if target != root and root not in target.parents:
        raise ValueError(f"artifact path {path!r} leaves the run's artifacts")
    return target

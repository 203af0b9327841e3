"""MLflow tracking-store plugin for ``sqlite:`` URIs: MLflow's own SQLAlchemy store, built
under a file lock beside the database.

Two processes that open one new SQLite file at once both run MLflow's schema migrations and
one of them dies ("Online migration expected to match one row"), e.g. two ``mlflow run``
started together in a fresh folder: the launcher creates its run before any nninfo code
runs. Registered through the ``mlflow.tracking_store`` entry point (pyproject.toml), this
builder serialises the creation (and migration) of the store across processes; once the
store exists, building it again is quick and the lock is held only for that moment.
"""

from __future__ import annotations

from typing import Any

from nninfo.tracking.processes import store_lock


def sqlite_store(store_uri: str, artifact_uri: str | None = None) -> Any:
    """MLflow's SQLAlchemy store for ``store_uri``, created under ``<database>.lock``."""
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    with store_lock(store_uri):
        return _get_sqlalchemy_store(store_uri, artifact_uri)

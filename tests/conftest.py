"""Hermetic MLflow for every test: a private SQLite store and artifact root per test.

A migrated template database is made once per session (migrations cost about a second) and
copied for each test; each test runs in its own temporary working directory, so nothing
lands in the repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    import os

    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow-template")
    here = os.getcwd()
    os.chdir(root)  # the Default experiment's artifact folder is ./mlruns/0 at creation
    try:
        MlflowClient(f"sqlite:///{root / 'mlflow.db'}").search_experiments()  # migrations
    finally:
        os.chdir(here)
    return root / "mlflow.db"


@pytest.fixture(autouse=True)
def mlflow_store(mlflow_template, tmp_path, monkeypatch) -> str:
    """A private, migrated tracking URI for this test; the working directory is tmp_path."""
    import mlflow

    db = tmp_path / "mlflow.db"
    shutil.copy(mlflow_template, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NNINFO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)

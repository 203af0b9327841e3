"""Bulk reads of the tracking store give what MLflow's one-at-a-time calls give: metric
histories (newest value per step, NaN, several runs and keys), artifacts read in place, and
figure footers broken as matplotlib's wrap breaks them."""

from __future__ import annotations

import math

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from nninfo.presentation.canvas import wrap_words
from nninfo.tracking import runs, store_reads
from nninfo.tracking.results_frames import history
from nninfo.tracking.store_reads import latest_per_step, local_artifact, metric_histories


def _client_history(c: MlflowClient, run_id: str, key: str) -> dict[int, float]:
    """The rule the results API documents, through MLflow's client: the newest value per
    step (by timestamp)."""
    return {m.step: m.value
            for m in sorted(c.get_metric_history(run_id, key), key=lambda m: m.timestamp)}


@pytest.fixture
def two_runs() -> tuple[str, str]:
    c = MlflowClient()
    exp = c.create_experiment("reads")
    a, b = (c.create_run(exp).info.run_id for _ in range(2))
    c.log_batch(a, metrics=[Metric("L2/mi", 0.5, 1000, 0), Metric("L2/mi", 0.25, 1000, 7),
                            Metric("L2/mi", 0.75, 2000, 0),  # re-logged later: it wins
                            Metric("L2/c", float("nan"), 1000, 0), Metric("x", 3.0, 5, 2)])
    c.log_batch(b, metrics=[Metric("L2/mi", 1.5, 10, 3)])
    return a, b


def test_histories_in_one_query_equal_the_clients(two_runs):
    a, b = two_runs
    c = MlflowClient()
    got = metric_histories([a, b])
    assert set(got) == {a, b} and set(got[a]) == {"L2/mi", "L2/c", "x"}
    for run_id in (a, b):
        for key in c.get_run(run_id).data.metrics:
            mine = latest_per_step(got[run_id][key])
            theirs = _client_history(c, run_id, key)
            assert mine.keys() == theirs.keys()
            assert all(mine[s] == theirs[s] or (math.isnan(mine[s]) and math.isnan(theirs[s]))
                       for s in mine)
    assert latest_per_step(got[a]["L2/mi"]) == {0: 0.75, 7: 0.25}
    assert math.isnan(latest_per_step(got[a]["L2/c"])[0])
    assert metric_histories([a], ["x", "missing"]) == {a: {"x": got[a]["x"]}}
    assert history(a, "L2/mi") == {0: 0.75, 7: 0.25}


def test_other_stores_are_read_key_by_key_alike(two_runs, monkeypatch):
    a, b = two_runs
    bulk = metric_histories([a, b], ["L2/mi", "x"])
    monkeypatch.setattr(store_reads, "_sql_store", lambda: None)  # as a REST store
    assert metric_histories([a, b], ["L2/mi", "x"]) == bulk


def test_local_artifacts_are_read_in_place_and_stay_inside_the_run(tmp_path):
    c = runs.client()
    run_id = c.create_run(runs.experiment_id("reads")).info.run_id
    (tmp_path / "index.json").write_text("[1]")
    c.log_artifact(run_id, str(tmp_path / "index.json"), "sub")
    path = local_artifact(run_id, "sub/index.json")
    assert path is not None and path.read_text() == "[1]"
    assert runs.artifact_text(run_id, "sub/index.json") == "[1]"
    with pytest.raises(ValueError, match="leaves the run"):
        local_artifact(run_id, "../../x")


def test_footers_break_as_matplotlib_wraps():
    """matplotlib's rule (``Text._get_wrapped_text``): each line is the longest run of the
    next words, at least one, whose width fits; here a word's width is its length."""
    def width(s: str) -> float:
        return float(len(s))

    text = "aa bbb c dddddddddddd ee f\ngg hh"
    assert wrap_words(text, width, 8).split("\n") == [
        "aa bbb c", "dddddddddddd", "ee f", "gg hh"]
    assert wrap_words("one", width, 1) == "one"
    assert wrap_words(text, width, 1000) == text

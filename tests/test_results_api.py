"""The results API over one and several experiments, the parent-run aggregates and
``compare``, on two quick finished experiments (8 and 4 quantization levels)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nninfo import results
from nninfo.config import build_config
from nninfo.tracking import runs
from nninfo.tracking.aggregate import band_keys, log_parent_aggregates
from nninfo.tracking.compare import EXPERIMENTS_TAG, TRAIN_RUNS_TAG, compare
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from nninfo.tracking.results import LAYER_KEY, PERF_KEY, RUNNING
from nninfo.tracking.results_frames import run_layers
from tests.helpers import tishby_layers

SETTINGS = Settings(workers=1, progress=False)
PAIRS = {"name": "pairs", "kind": "groups", "groups": [[0, 1], [2, 3]], "layers": ["L1"]}


def config(name: str, levels: int, band: str, per_class: bool) -> dict:
    return {
        "name": name,
        "seeds": 2,
        "task": {"name": "tishby"},
        "network": {"layers": tishby_layers(4, 3, levels=levels)},
        "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64,
                     "epochs": 2, "checkpoint_schedule": "log_steps", "checkpoint_count": 3},
        "analysis": {"dataset": "all", "layers": ["L1", "L2"], "measures": ["pid"],
                     "groupings": [{"name": "neurons"}, PAIRS], "per_class": per_class,
                     "surrogates": {"mi": 10, "pid": 0}},
        "report": {"band": band},
    }


CONFIGS = {"q8": config("q8", 8, "quantile", True), "q4": config("q4", 4, "t", False)}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A store with experiments q8 and q4 trained, analysed and evaluated (built once)."""
    import mlflow

    root = tmp_path_factory.mktemp("results-api")
    db = root / "mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        uri = f"sqlite:///{db}"
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("NNINFO_CACHE_DIR", str(root / "cache"))
        for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
            mp.delenv(var, raising=False)
        mlflow.set_tracking_uri(uri)
        try:
            for name, raw in CONFIGS.items():
                run_entry("main", ("train", "analyze", "performance"), build_config(raw),
                          SETTINGS, name)
        finally:
            mlflow.set_tracking_uri(None)
    return db


@pytest.fixture
def store(built, mlflow_store, tmp_path) -> str:
    """This test's private copy of the built store (artifacts stay where they were built)."""
    shutil.copy(built, tmp_path / "mlflow.db")
    return mlflow_store


def parent(name: str) -> str:
    return runs.find_parent(name)


# ---------------------------------------------------------------- loaders
ID = {"experiment": "str", "run_id": "str", "seed": "int64", "chapter": "int64",
      "step": "int64", "epoch": "float64"}
LAYER = {**ID, "layer": "str", "grouping": "str"}
LOADERS = {
    "load_summary": {**LAYER, "distinct_patterns": "Int64", "mutual_information": "float64",
                     "pid.representational_complexity": "float64", "pid.deg_syn_2": "float64"},
    "load_class_summary": {**LAYER, "class": "int64", "pid.mutual_information": "float64"},
    "load_performance": {**ID, "dataset": "str", "loss": "float64", "accuracy": "float64"},
    "load_pid": {**LAYER, "antichain": "str", "informative": "float64",
                 "misinformative": "float64", "average": "float64", "degree": "int64",
                 "subset": "int64"},
    "load_class_pid": {**LAYER, "t": "int64", "degree": "int64", "subset": "int64",
                       "average": "float64"},
    "load_measures": {**ID, "layer": "str", "quantity": "str", "value": "float64"},
    "load_activation_statistics": {**ID, "layer": "str", "neuron": "int64",
                                   "entropy": "float64", "saturation": "float64",
                                   "level_0": "Int64"},
    "load_training_history": {"experiment": "str", "run_id": "str", "seed": "int64",
                              "step": "int64", "epoch": "float64", "loss": "float64",
                              "accuracy": "float64"},
}


def check_types(df: pd.DataFrame, expected: dict[str, str], name: str) -> None:
    lead = [c for c in expected if c in ID or c in ("layer", "grouping")]
    assert list(df.columns[:len(lead)]) == lead, (name, list(df.columns))
    for col, dtype in expected.items():
        assert col in df.columns, (name, col, list(df.columns))
        if dtype == "str":
            assert pd.api.types.is_string_dtype(df[col]), (name, col, df[col].dtype)
        else:
            assert str(df[col].dtype) == dtype, (name, col, df[col].dtype)


def test_every_loader_has_its_columns_and_types(store):
    for name, expected in LOADERS.items():
        df = getattr(results, name)("q8")
        assert not df.empty, name
        check_types(df, expected, name)
        assert set(df.experiment) == {"q8"}
        assert set(df.seed) == {0, 1}
        doc = getattr(results, name).__doc__
        assert "Columns:" in doc and "experiment" in doc, name
    per_class = results.load_performance("q8", per_class=True)
    check_types(per_class, {**LOADERS["load_performance"], "class": "int64", "n": "int64"},
                "per_class")
    summary = results.load_summary("q8")
    pairs = summary[summary.grouping == "pairs"]
    assert set(pairs.layer) == {"L1"} and pairs.distinct_patterns.isna().all()
    assert summary[summary.grouping == "neurons"].distinct_patterns.notna().all()
    stats_ = results.load_activation_statistics(["q8", "q4"])
    q4 = stats_[stats_.experiment == "q4"]
    assert q4["level_7"].isna().all() and q4["level_3"].notna().all()  # 4 levels only


def test_empty_frames_keep_their_types(store):
    classes = results.load_class_summary("q4")  # per_class is off in q4
    assert classes.empty
    check_types(classes, {**LAYER, "class": "int64"}, "empty class summary")


def test_two_experiments_in_one_call(store):
    for name in LOADERS:
        loader = getattr(results, name)
        both = loader(["q4", "q8"])
        assert list(pd.unique(both.experiment)) == (["q8"] if name.startswith(
            "load_class") else ["q4", "q8"]), name
        for exp in ("q4", "q8"):
            alone = loader(exp)
            part = both[both.experiment == exp].reset_index(drop=True)
            pd.testing.assert_frame_equal(part[alone.columns], alone, check_dtype=False,
                                          obj=f"{name}({exp})")
    by_run = results.load_summary(train_run=[parent("q8"), parent("q4")])
    by_name = results.load_summary(["q8", "q4"])
    pd.testing.assert_frame_equal(by_run, by_name)
    assert results.load_summary(train_run=parent("q4")).experiment.unique().tolist() == ["q4"]
    with pytest.raises(ValueError, match="'nope' is not in the tracking store"):
        results.load_summary(["q8", "nope"])


def test_training_history_order_and_epochs(store):
    history = results.load_training_history(["q8", "q4"])
    for (_, _), part in history.groupby(["experiment", "seed"], sort=False):
        assert part.step.is_monotonic_increasing
        np.testing.assert_array_equal(part.epoch, [1.0, 2.0])  # once per epoch, 2 epochs
    for exp in ("q8", "q4"):
        part = history[history.experiment == exp]
        assert list(part.seed) == sorted(part.seed)
        for run in runs.seed_runs(parent(exp)):
            per_epoch = float(run.data.params["steps_per_epoch"])
            rows = part[part.run_id == run.info.run_id]
            np.testing.assert_allclose(rows.epoch, rows.step / per_epoch)
            logged = runs.client().get_metric_history(run.info.run_id, f"{RUNNING}/loss")
            assert sorted(m.step for m in logged) == list(rows.step)


# ---------------------------------------------------------------- parent aggregates
def newest(run_id: str, key: str) -> dict[int, float]:
    hist = sorted(runs.client().get_metric_history(run_id, key), key=lambda m: m.timestamp)
    return {m.step: m.value for m in hist}


def expected_aggregates(parent_id: str, band: str) -> dict[str, dict[int, float]]:
    """Mean and band per key and step, recomputed from the seed runs' metric histories."""
    seeds = runs.seed_runs(parent_id)
    keys = {k for r in seeds for k in r.data.metrics
            if (LAYER_KEY.match(k) and run_layers(r)(LAYER_KEY.match(k).group("layer")))
            or (PERF_KEY.match(k) and not k.startswith(RUNNING))}
    out: dict[str, dict[int, float]] = {}
    for key in keys:
        values: dict[int, list[float]] = {}
        for run in seeds:
            for step, value in newest(run.info.run_id, key).items():
                values.setdefault(step, []).append(value)
        for step, v in values.items():
            v = np.asarray(v)
            if band == "quantile":
                lo, hi = np.quantile(v, [0.025, 0.975])
            else:
                half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
                lo, hi = v.mean() - half, v.mean() + half
            for name, value in zip((key, *band_keys(key)), (v.mean(), lo, hi), strict=True):
                out.setdefault(name, {})[step] = float(value)
    out["epoch"] = newest(seeds[0].info.run_id, "epoch")
    return out


@pytest.mark.parametrize("exp", ["q8", "q4"])
def test_parent_aggregates_are_the_seed_mean_and_band(store, exp):
    cfg = build_config(CONFIGS[exp])
    pid = parent(exp)
    log_parent_aggregates(cfg, pid)
    expected = expected_aggregates(pid, cfg.report.band)
    assert "spread/L1 pairs pid.representational_complexity hi" in expected
    assert {"test/accuracy", "spread/train loss lo", "epoch"} <= set(expected)
    logged = runs.client().get_run(pid).data.metrics
    assert set(logged) == set(expected)
    for key, per_step in expected.items():
        got = newest(pid, key)
        assert set(got) == set(per_step), key
        for step, value in per_step.items():
            assert got[step] == pytest.approx(value, rel=1e-12, abs=1e-12), (key, step)
    run = runs.client().get_run(pid)
    assert run.data.tags["nninfo.aggregate_band"] == cfg.report.band
    assert run.data.tags["nninfo.aggregate_seeds"] == "2"
    assert log_parent_aggregates(cfg, pid) == 0, "nothing new: nothing logged again"


def test_aggregates_follow_a_reanalysis(store):
    """A re-analysis logs new seed values at a step; the parent's newest value follows."""
    cfg = build_config(CONFIGS["q8"])
    pid = parent("q8")
    log_parent_aggregates(cfg, pid)
    key = "L2/pid.representational_complexity"
    seed0, seed1 = runs.seed_runs(pid)
    step = max(newest(seed0.info.run_id, key))
    runs.log_metrics(seed0.info.run_id, [(key, 7.0, step)])
    assert log_parent_aggregates(cfg, pid) == 3  # mean, lo, hi at that step
    other = newest(seed1.info.run_id, key)[step]
    assert newest(pid, key)[step] == pytest.approx((7.0 + other) / 2)
    assert newest(pid, band_keys(key)[1])[step] == pytest.approx(
        np.quantile([7.0, other], 0.975))
    assert runs.client().get_run(pid).data.metrics[key] == pytest.approx((7.0 + other) / 2)
    expected = expected_aggregates(pid, "quantile")
    for name in (key, *band_keys(key)):
        assert newest(pid, name) == pytest.approx(expected[name])


# ---------------------------------------------------------------- compare
def test_compare_writes_figures_and_a_report_logged_to_a_comparison_run(store, tmp_path):
    assert results.compare is compare  # exported by the public results API
    assert results.log_parent_aggregates is log_parent_aggregates
    settings = Settings(workers=1, progress=False, out_dir=str(tmp_path / "out"))
    page = compare(["q8", "q4"], settings)
    assert page == tmp_path / "out" / "compare" / "q8+q4" / "report.html"
    text = page.read_text(encoding="utf-8")
    figures = sorted(p.stem for p in (page.parent / "figures").glob("*.png"))
    assert {"complexity", "degree_of_synergy", "mutual_information", "performance"} <= set(
        figures)
    for name in figures:
        for suffix in (".png", ".pdf"):
            assert (page.parent / "figures" / f"{name}{suffix}").is_file()
    assert text.count("data:image/png;base64,") == len(figures)
    assert "q8" in text and "q4" in text
    # the experiments disagree on report.band: the quantile band, and the page says so
    assert "2.5–97.5 % quantiles over seeds" in text
    # every figure's caption says how the experiments are told apart
    assert text.count("colours: experiments") + text.count(
        "experiments: a row of panels each") == len(figures)
    differences = pd.read_csv(page.parent / "config_differences.csv", dtype=str).set_index(
        "parameter")
    assert differences.loc["network.layers.0.quantizer.levels"].tolist() == ["8", "4"]
    assert differences.loc["report.band"].tolist() == ["quantile", "t"]
    c = runs.client()
    exp = c.get_experiment_by_name("compare/q8+q4")
    (run,) = c.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert json.loads(run.data.tags[EXPERIMENTS_TAG]) == ["q8", "q4"]
    assert json.loads(run.data.tags[TRAIN_RUNS_TAG]) == [parent("q8"), parent("q4")]
    logged = {a.path for a in c.list_artifacts(run.info.run_id, "figures")}
    assert {f"figures/{n}{s}" for n in figures for s in (".png", ".pdf")} == logged
    assert {"report.html", "config_differences.csv"} <= {
        a.path for a in c.list_artifacts(run.info.run_id)}
    # the page opens with the settings that differ; the figures are images in the MLflow UI
    assert text.index('id="settings"') < text.index('id="experiments"')
    assert "<td class=\"text\">report.band</td>" in text
    images = {a.path.split("+")[0] for a in c.list_artifacts(run.info.run_id, "images")}
    assert "images/Figures~01 complexity" in images and len(images) == len(figures)


def test_compare_refuses_fewer_than_two_or_unknown_experiments(store, tmp_path):
    with pytest.raises(ValueError, match="at least two"):
        compare(["q8", "q8"], Settings(out_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="'nope' is not in the tracking store"):
        compare(["q8", "nope"], Settings(out_dir=str(tmp_path)))
    assert runs.client().get_experiment_by_name("compare/q8+nope") is None


def test_report_compare_from_the_command_line(store, tmp_path):
    from click.testing import CliRunner

    from nninfo.cli import main

    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["report", "--compare", "q8,q4", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "compare" / "q8+q4" / "report.html").is_file()
    one = CliRunner().invoke(main, ["report", "--compare", "q8"])
    assert one.exit_code == 2 and "at least two" in one.output

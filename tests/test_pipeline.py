"""End-to-end: entry points log to MLflow and the results API reads the same numbers back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from nninfo import results
from nninfo.cli import main
from nninfo.config import build_config
from nninfo.tracking import runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from nninfo.tracking.runs import seed_runs
from tests.helpers import local_report

TINY = {
    "name": "tiny",
    "seeds": 2,
    "task": {"name": "tishby"},
    "network": {"layers": [
        {"type": "linear", "in_features": 12, "out_features": 6, "activation": "tanh",
         "quantizer": {"levels": 8, "mode": "stochastic"}},
        {"type": "linear", "in_features": 6, "out_features": 3, "activation": "tanh",
         "quantizer": {"levels": 8, "mode": "stochastic"}},
        {"type": "linear", "in_features": 3, "out_features": 1, "activation": "sigmoid"},
    ]},
    "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64, "epochs": 2,
                 "checkpoint_schedule": "log_steps", "checkpoint_count": 4},
    "analysis": {"dataset": "all", "layers": ["L2"], "measures": ["pid", "shannon", "reing"],
                 "surrogates": {"mi": 20, "pid": 2}, "per_class": True},
}
SETTINGS = Settings(workers=1, progress=False)


def _run(entry: str, steps: tuple[str, ...], raw=TINY, **kw) -> str:
    return run_entry(entry, steps, build_config(raw), SETTINGS, raw["name"], **kw)


def test_main_logs_everything_and_results_round_trip(mlflow_store):
    from nninfo.capture import capture_codes
    from nninfo.info.classwise import class_summaries
    from nninfo.info.sx import sx_pid
    from nninfo.jobs import load_experiment_task, split

    parent = _run("main", ("train", "analyze", "performance", "report"))
    c = runs.client()
    assert c.get_run(parent).info.status == "FINISHED"
    seeds = seed_runs(parent)
    assert [r.data.tags["seed"] for r in seeds] == ["0", "1"]
    assert all(r.info.status == "FINISHED" for r in seeds)
    tags = seeds[0].data.tags
    assert tags["nninfo.version"] and tags["nninfo.task"] == "tishby"
    assert seeds[0].data.params["training.lr"] == "0.1"
    assert runs.client().get_run(seeds[0].info.run_id).data.tags["nninfo.layers"] == "L2"
    assert seeds[0].inputs.dataset_inputs, "training data logged with log_input"

    summary = results.load_summary("tiny")
    assert set(summary.seed) == {0, 1}
    assert summary.epoch.min() == 0
    assert {"mutual_information", "pid.mutual_information", "shannon.mutual_information",
            "pid.representational_complexity", "pid.deg_syn_1",
            "shannon.avg_degree_redundancy", "reing.C_R_published", "reing.C_R_mean_order",
            "pid.mutual_information_surrogate_mean"} <= set(summary.columns)
    # PID surrogates at the first, middle and last of the 4 checkpoints; I's at every one
    with_pid = summary.dropna(subset=["pid.mutual_information_surrogate_mean"])
    assert with_pid.groupby("seed").size().tolist() == [3, 3]
    assert (with_pid["pid.mutual_information_surrogate_mean"] >= 0).all()
    assert summary["mutual_information_p_value"].between(1 / 21, 1).all()
    assert np.allclose(summary["mutual_information_bias_corrected"],
                       summary["mutual_information"]
                       - summary["mutual_information_surrogate_mean"])
    assert set(summary["bias_dominated"]) <= {0.0, 1.0}
    flagged = (summary.bias_dominated > 0).groupby(summary.seed).sum()
    for run in seed_runs(parent):
        tag = run.data.tags["nninfo.bias_dominated"]
        hits = flagged[int(run.data.tags["seed"])]
        assert tag == (f"L2: {hits}/{summary.step.nunique()} checkpoints" if hits else "none")
    logged = set(seeds[0].data.metrics)
    assert {"L2/mutual_information", "L2/pid.representational_complexity",
            "L2/shannon.mutual_information", "L2/reing.C_R_published",
            "L2/reing.C_R_mean_order",
            "train_running/loss", "train/loss", "test/loss"} <= logged
    assert not any(k.startswith("training/") for k in logged - {"training/epoch"})

    # the logged numbers equal a direct computation on the same checkpoint
    row = summary[(summary.seed == 1)].sort_values("epoch").iloc[-1]
    model = results.load_model(row.run_id, row.epoch)
    cfg = build_config(TINY)
    data = split(load_experiment_task(cfg), "all")
    cap = capture_codes(model, data.x, data.labels, ["L2"])
    direct = sx_pid(cap.samples("L2"))
    assert row.mutual_information == pytest.approx(direct.mutual_information, abs=1e-12)
    assert row["pid.mutual_information"] == pytest.approx(direct.mutual_information, abs=1e-12)
    assert row["pid.representational_complexity"] == pytest.approx(
        direct.representational_complexity, abs=1e-12)

    classes = results.load_class_summary("tiny")
    final = classes[(classes.run_id == row.run_id) & (classes.step == row.step)]
    expected = class_summaries(direct).set_index("t")
    assert sorted(final["class"]) == sorted(expected.index)
    for _, r in final.iterrows():
        assert r["pid.mutual_information"] == pytest.approx(
            expected.at[r["class"], "mutual_information"], abs=1e-12)
        assert r["pid.representational_complexity"] == pytest.approx(
            expected.at[r["class"], "representational_complexity"], abs=1e-12, nan_ok=True)
    class_atoms = results.load_class_pid("tiny", layer="L2")
    assert not class_atoms.empty and {"t", "antichain", "average"} <= set(class_atoms.columns)

    atoms = results.load_pid("tiny", layer="L2")
    last = atoms[(atoms.run_id == row.run_id) & (atoms.step == row.step)]
    assert len(last) == 18  # 3 sources
    assert last.average.sum() == pytest.approx(direct.mutual_information, abs=1e-9)
    assert {"informative", "misinformative", "average"} <= set(atoms.columns)

    measures = results.load_measures("tiny", layer="L2")
    c_k = measures[(measures.run_id == row.run_id) & (measures.step == row.step)]
    c_k = c_k.set_index("quantity").value
    for form in ("reing.C_R_published", "reing.C_R_mean_order"):
        assert c_k[form] == pytest.approx(row[form], nan_ok=True)
    assert c_k["reing.C_0"] >= c_k["reing.C_3"]          # conditioning never adds entropy
    history = results.load_training_history("tiny")
    assert set(history.seed) == {0, 1} and history.loss.notna().all()
    assert history.step.max() == summary.step.max()
    perf = results.load_performance("tiny")
    assert set(perf.dataset) == {"train", "test"}
    assert perf.accuracy.between(0, 1).all()
    per_class = results.load_performance("tiny", per_class=True)
    assert set(per_class["class"]) == {-1, 0, 1}

    stats = results.load_activation_statistics("tiny", layer="L2")
    assert set(stats.neuron) == {0, 1, 2} or set(stats.neuron) == {1, 2, 3}
    figures = [a.path for a in c.list_artifacts(parent, "figures")]
    assert any(p.endswith(".png") for p in figures) and any(p.endswith(".pdf") for p in figures)
    assert any(a.path == "report.html" for a in c.list_artifacts(parent))
    page = local_report("outputs", "tiny", parent).read_text()
    assert page.count("data:image/png;base64,") == sum(p.endswith(".png") for p in figures)
    # report.band defaults to the published quantile band; figures and tables say so
    assert page.count("line: mean over 2 seeds; band: 2.5–97.5 % quantiles over seeds") == (
        page.count("<figcaption>")) > 0
    assert "quantiles of the per-seed values (2 seeds)</caption>" in page
    acts = results.load_activations(row.run_id, row.epoch, layers=["L2"])
    np.testing.assert_array_equal(acts["L2"], cap["L2"])


def test_analyze_skips_logged_results_unless_forced(mlflow_store):
    parent = _run("train", ("train",))
    settings = SETTINGS
    cfg = build_config(TINY)
    from nninfo.tracking import analyze

    first = analyze.analyze(cfg, settings, parent)
    assert first == 2 * 4  # seeds x checkpoints, one layer
    assert analyze.analyze(cfg, settings, parent) == 0
    forced = Settings(workers=1, progress=False, force=True)
    assert analyze.analyze(cfg, forced, parent) == first
    summary = results.load_summary(train_run=parent)
    assert len(summary) == first  # forced values replace, never duplicate


def test_batched_seed_groups_equal_one_seed_per_job(mlflow_store, monkeypatch):
    from nninfo.jobs import train as experiment
    from nninfo.training import step_choice

    with monkeypatch.context() as m:  # on a CPU, groups train one by one with the numpy step
        m.setattr(step_choice, "numpy_step_unsupported", lambda *a: "switched off")
        batched = _run("train", ("train",))
    monkeypatch.setattr(experiment, "batchable", lambda cfg: False)
    single = _run("train", ("train",))
    for a, b in zip(seed_runs(batched), seed_runs(single), strict=True):
        ha = runs.client().get_metric_history(a.info.run_id, "train_running/loss")
        hb = runs.client().get_metric_history(b.info.run_id, "train_running/loss")
        assert [m.step for m in ha] == [m.step for m in hb]
        np.testing.assert_allclose([m.value for m in ha], [m.value for m in hb], rtol=1e-4)
    ma = results.load_model(seed_runs(batched)[1].info.run_id)
    mb = results.load_model(seed_runs(single)[1].info.run_id)
    for pa, pb in zip(ma.parameters(), mb.parameters(), strict=True):
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().numpy(), atol=1e-5)


def test_seed_groups_train_one_by_one_where_the_numpy_step_is_faster(mlflow_store, monkeypatch):
    from nninfo.jobs import train as experiment

    def batched(*a, **kw):
        raise AssertionError("a CPU group of plain MLPs should not train as a batched model")

    monkeypatch.setattr(experiment, "train_batched", batched)
    parent = _run("train", ("train",))
    assert len(seed_runs(parent)) == TINY["seeds"]


def test_same_parameters_give_identical_metrics(mlflow_store):
    a = _run("main", ("train", "analyze", "performance"))
    forced = Settings(workers=1, progress=False, force=True)  # train again, do not reuse
    b = run_entry("main", ("train", "analyze", "performance"), build_config(TINY), forced,
                  TINY["name"])
    assert runs.seed_runs(a)[0].info.run_id != runs.seed_runs(b)[0].info.run_id
    cols = ["seed", "step", "layer", "mutual_information", "pid.representational_complexity"]
    sa = results.load_summary(train_run=a)[cols]
    sb = results.load_summary(train_run=b)[cols]
    pd.testing.assert_frame_equal(sa, sb)
    pa = results.load_performance(train_run=a).drop(columns="run_id")
    pb = results.load_performance(train_run=b).drop(columns="run_id")
    pd.testing.assert_frame_equal(pa, pb)


def test_a_failing_seed_marks_its_run_and_the_parent_failed(mlflow_store, monkeypatch):
    from nninfo.jobs import train as experiment

    real = experiment.train_seed

    def flaky(cfg, seed, workdir, **kw):
        if seed == 1:
            raise FloatingPointError("non-finite loss at epoch 0.5")
        return real(cfg, seed, workdir, **kw)

    monkeypatch.setattr(experiment, "train_seed", flaky)
    monkeypatch.setattr(experiment, "batchable", lambda cfg: False)  # one job per seed
    with pytest.raises(RuntimeError, match=r"seeds \[1\]: non-finite loss"):
        _run("train", ("train",))
    table = results.list_runs("tiny").set_index("seed")
    assert table.loc["0", "status"] == "FINISHED"
    assert table.loc["1", "status"] == "FAILED"
    parent = table[table.role == "entry"]
    assert list(parent.status) == ["FAILED"]


def test_cli_reports_config_errors_without_traceback(tmp_path):
    import yaml

    bad = {**TINY, "analysis": {"layers": ["L9"]}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    res = CliRunner().invoke(main, ["train", "--config", str(path)])
    assert res.exit_code == 2
    assert "analysis.layers" in res.output and "'L9'" in res.output
    assert "Traceback" not in res.output
    assert results.list_experiments().query("name == 'tiny'").empty, "nothing half-written"


def test_interrupted_training_leaves_no_run_running(mlflow_store, monkeypatch):
    from nninfo.jobs import train as experiment

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "train_seed_group", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run("train", ("train",))
    assert set(results.list_runs("tiny").status) == {"KILLED"}

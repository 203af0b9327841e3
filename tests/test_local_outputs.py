"""Local report folders and the report's own run: one folder per experiment and run, titled
after the experiment; ``nninfo report`` nests one run under the training run and reuses it;
unsafe experiment names stay inside the output folder.

The training runs are written by hand in the shape a ``main`` run leaves (a parent with its
config, seed runs with a checkpoint index and metrics), so no network is trained here, and
the reports draw no figures (drawing them is tested with the pipeline's report)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from nninfo.config import build_config
from nninfo.folders import experiment_folder, report_folder, safe_name
from nninfo.tracking import runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from tests.helpers import tishby_layers

RAW = {
    "name": "tishby_demo",
    "seeds": 2,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4, 3)},
    "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64, "epochs": 2,
                 "checkpoint_schedule": "log_steps", "checkpoint_count": 2},
    "analysis": {"dataset": "all", "layers": ["L2"], "measures": ["pid"],
                 "surrogates": {"mi": 0, "pid": 0}},
}
STEPS = (0, 10)  # two checkpoints: epochs 0 and 2


@pytest.fixture(autouse=True)
def no_figures(monkeypatch):
    """Reports without figures: the tables, title, folders and runs are what is tested."""
    monkeypatch.setattr("nninfo.presentation.figures.standard_figures", lambda *a, **k: {})
    monkeypatch.setattr("nninfo.presentation.compare.standard_figures", lambda *a, **k: {})


def fake_training(experiment: str, n_seeds: int) -> str:
    """A finished ``main`` run of ``RAW`` with ``n_seeds`` seed runs in ``experiment``, its
    seeds' metrics logged as the pipeline logs them; returns the parent's id."""
    cfg = build_config({**RAW, "seeds": n_seeds})
    c = runs.client()
    parent = c.create_run(runs.experiment_id(experiment), run_name="main", tags={
        runs.ROLE: "entry", runs.ENTRY: "main", runs.N_SEEDS: str(n_seeds)}).info.run_id
    c.log_text(parent, yaml.safe_dump(cfg.to_dict()), runs.CONFIG_ARTIFACT)
    for seed in range(n_seeds):
        run = runs.child_run(parent, f"seed {seed}", {runs.ROLE: runs.SEED_ROLE,
                                                       "seed": str(seed),
                                                       "nninfo.layers": "L2"})
        index = [{"chapter": i, "step": s, "epoch": 2.0 * i, "artifact": f"checkpoints/{s}.pt"}
                 for i, s in enumerate(STEPS)]
        c.log_text(run, json.dumps(index), "checkpoints.json")
        rows = []
        for i, step in enumerate(STEPS):
            p1, p2 = 0.1 + 0.05 * seed + 0.1 * i, 0.2
            rows += [("L2/mutual_information", p1 + p2, step),
                     ("L2/pid.mutual_information", p1 + p2, step),
                     ("L2/pid.representational_complexity", (p1 + 2 * p2) / (p1 + p2), step),
                     ("L2/pid.deg_syn_1", p1, step), ("L2/pid.deg_syn_2", p2, step),
                     ("test/loss", 0.7 - 0.1 * i, step), ("test/accuracy", 0.5 + 0.1 * i, step)]
        runs.log_metrics(run, rows)
        c.set_terminated(run, "FINISHED")
    c.set_terminated(parent, "FINISHED")
    return parent


def report(experiment: str, out: Path) -> Path:
    """``nninfo report --experiment <experiment>`` of ``RAW`` (the same config name)."""
    run_entry("report", ("report",), build_config(RAW), Settings(progress=False,
                                                                 out_dir=str(out)), experiment)
    return out


def title_of(page: Path) -> str:
    return re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8")).group(1)


def test_two_experiments_of_one_config_keep_their_own_reports(tmp_path, capsys):
    out = tmp_path / "outputs"
    full, quick = fake_training("tishby_demo", 3), fake_training("tishby_quick", 2)
    report("tishby_demo", out)
    report("tishby_quick", out)  # the config's name is tishby_demo for both
    said = capsys.readouterr().out
    for experiment, parent, n in (("tishby_demo", full, 3), ("tishby_quick", quick, 2)):
        page = out / experiment / f"main-{parent[:8]}" / "report.html"
        assert f"report: {page}" in said  # the end message names this run's own page
        text = page.read_text(encoding="utf-8")
        assert title_of(page) == f"nninfo: {experiment}"
        assert f"{n} seed(s)" in text and f"per-seed values ({n} seeds)</caption>" in text
        # the MLflow copy on the training run is the same page
        logged = Path(runs.client().download_artifacts(parent, "report.html", str(tmp_path)))
        assert logged.read_text(encoding="utf-8") == text
        index = (out / experiment / "index.html").read_text(encoding="utf-8")
        assert f'href="main-{parent[:8]}/report.html"' in index
        record = json.loads((page.parent / "run.json").read_text(encoding="utf-8"))
        assert (record["experiment"], record["run_id"], record["seeds"]) == (experiment,
                                                                             parent, n)
    assert not (out / "tishby_demo" / "report.html").exists()  # no shared page any more


def test_report_reruns_reuse_one_report_run_under_the_training_run(tmp_path):
    out = tmp_path / "outputs"
    parent = fake_training("exp", 2)
    report("exp", out)
    c = runs.client()
    (first,) = [r for r in runs.search("exp") if r.data.tags.get(runs.ENTRY) == "report"]
    report("exp", out)
    reports = [r for r in runs.search("exp") if r.data.tags.get(runs.ENTRY) == "report"]
    assert [r.info.run_id for r in reports] == [first.info.run_id]  # reused, not a new one
    again = c.get_run(first.info.run_id)
    assert again.data.tags[runs.PARENT] == parent  # nested under the training run
    assert again.data.tags[runs.TRAIN_RUN] == parent and again.info.status == "FINISHED"
    assert str(out / "exp" / f"main-{parent[:8]}" / "report.html") in again.data.tags[runs.NOTE]
    # nothing else at the top level: the training run only
    top = [r for r in runs.search("exp") if runs.PARENT not in r.data.tags]
    assert [r.info.run_id for r in top] == [parent]
    assert sorted(p.name for p in (out / "exp").iterdir()) == ["index.html", f"main-{parent[:8]}"]


def test_under_mlflow_run_the_launcher_run_becomes_the_report_child(tmp_path, monkeypatch):
    """``mlflow run -e report --experiment-name exp``: mlflow's own run records the report,
    nested under the training run instead of beside it."""
    parent = fake_training("exp", 1)
    c = runs.client()
    launcher = c.create_run(runs.experiment_id("exp"), run_name="mlflow-named").info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", launcher)
    report("exp", tmp_path / "outputs")
    tags = c.get_run(launcher).data.tags
    assert tags[runs.PARENT] == parent and tags[runs.ENTRY] == "report"
    assert [r.info.run_id for r in runs.search("exp") if runs.PARENT not in r.data.tags] == [
        parent]


def test_report_compare_reuses_one_run_per_set_of_experiments(tmp_path):
    from nninfo.tracking.compare import EXPERIMENTS_TAG, TRAIN_RUNS_TAG, compare

    first = [fake_training("a", 2), fake_training("b", 1)]
    settings = Settings(progress=False, out_dir=str(tmp_path / "outputs"))
    page = compare(["a", "b"], settings)
    newer = fake_training("b", 2)  # b trained again: the comparison now shows the new run
    assert compare(["a", "b"], settings) == page == tmp_path / "outputs/compare/a+b/report.html"
    (run,) = runs.search("compare/a+b")
    assert run.info.status == "FINISHED"
    assert json.loads(run.data.tags[EXPERIMENTS_TAG]) == ["a", "b"]
    assert json.loads(run.data.tags[TRAIN_RUNS_TAG]) == [first[0], newer]
    compare(["b", "a"], settings)  # another order: another comparison experiment
    assert len(runs.search("compare/b+a")) == 1 and len(runs.search("compare/a+b")) == 1


@pytest.mark.parametrize("name", ["../../escape", "a/../../b", "..", "/abs/x", "c:\\..\\d e"])
def test_unsafe_experiment_names_stay_inside_the_output_folder(tmp_path, name):
    out = tmp_path / "outputs"
    folder = report_folder(out, name, "../run", "0123456789abcdef")
    assert folder.resolve().is_relative_to(out.resolve())
    assert ".." not in folder.relative_to(out).parts
    assert experiment_folder(out, name).resolve().is_relative_to(out.resolve())
    assert "/" not in safe_name(name) and safe_name(name) not in ("", ".", "..")


def test_a_report_of_an_unsafe_experiment_writes_only_below_outputs(tmp_path):
    out = tmp_path / "work" / "outputs"
    parent = fake_training("../../team/x y", 1)
    report("../../team/x y", out)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "mlflow" not in p.parts[-1]
               and "mlartifacts" not in p.parts and "cache" not in p.parts]
    assert written and all(p.is_relative_to(out) for p in written), written
    page = out / "_" / "_" / "team" / "x_y" / f"main-{parent[:8]}" / "report.html"
    assert title_of(page) == "nninfo: ../../team/x y"  # the title keeps the real name

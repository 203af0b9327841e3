"""What a log shows (stderr not a terminal, as under ``mlflow run`` or piped to a file): plain
progress lines while analyze and performance run, as training prints its own, none with
progress off; and the start banner of ``report --compare``."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from nninfo.cli import main
from nninfo.config import build_config
from nninfo.tracking import pipeline, runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from tests.helpers import tishby_layers

RAW = {
    "name": "logged",
    "seeds": 1,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(3, levels=4)},
    "training": {"lr": 0.1, "loss": "bce", "epochs": 1, "checkpoint_count": 2},
    "analysis": {"dataset": "all", "layers": ["L1"], "measures": ["shannon"],
                 "surrogates": {"mi": 0, "pid": 0}},
    "performance": {"datasets": ["test"]},
}
LINE = re.compile(r"^(?P<desc>.+): (?P<k>\d+)/(?P<n>\d+) jobs done"
                  r"(?: in (?P<took>\d[\w ]*)|, (?P<so_far>\d[\w ]*) so far, "
                  r"about (?P<left>\d[\w ]*) left)(?P<failed>, \d+ failed)?$", re.MULTILINE)


def _square(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return x * x


def _units(values: list[int]) -> list:
    return [(x, _square, (x,), {}) for x in values]


def test_plain_lines_count_jobs_done_and_failed(capsys, monkeypatch):
    monkeypatch.setenv("NNINFO_PROGRESS_EVERY", "0")  # a line after every job
    out = list(pipeline.run_units(Settings(workers=1), _units([1, -2, 3]), "square", lines=True))
    assert [o.value for o in out] == [1, None, 9] and out[1].error is not None
    found = [m.groupdict() for m in LINE.finditer(capsys.readouterr().err)]
    assert [(m["desc"], m["k"], m["n"]) for m in found] == [("square", str(k), "3")
                                                            for k in (1, 2, 3)]
    assert found[0]["left"] and not found[0]["failed"]
    assert found[1]["failed"] == ", 1 failed" and found[2]["took"]  # the last: the total time


def test_plain_lines_come_at_most_every_few_seconds_and_the_last_always(capsys, monkeypatch):
    monkeypatch.setenv("NNINFO_PROGRESS_EVERY", "60")
    list(pipeline.run_units(Settings(workers=1), _units(list(range(50))), "square", lines=True))
    (only,) = LINE.finditer(capsys.readouterr().err)
    assert (only["k"], only["n"]) == ("50", "50") and only["took"]
    list(pipeline.run_units(Settings(workers=1, progress=False), _units([1]), "square",
                            lines=True))
    assert capsys.readouterr().err == ""  # --no-progress: no lines either


def test_analyze_and_performance_print_progress_lines_in_logs(mlflow_store, capsys,
                                                                monkeypatch):
    monkeypatch.setenv("NNINFO_PROGRESS_EVERY", "0")
    run_entry("main", ("train", "analyze", "performance"), build_config(RAW),
              Settings(workers=1), RAW["name"])
    err = capsys.readouterr().err
    found = {(m["desc"], m["k"], m["n"]) for m in LINE.finditer(err)}
    # one seed, two checkpoints (epoch 0 and 1), one layer: two jobs each
    assert {("analyse (checkpoint, layer)", k, "2") for k in "12"} <= found, err
    assert {("evaluate checkpoints", k, "2") for k in "12"} <= found, err


def test_report_compare_says_first_what_it_compares_and_where_the_report_goes(mlflow_store,
                                                                                 tmp_path):
    out = tmp_path / "reports"
    res = CliRunner().invoke(main, ["report", "--compare", "q8,q4,q8", "--out-dir", str(out)])
    assert res.exit_code == 2  # neither experiment exists: the banner comes first all the same
    first = res.stderr.splitlines()[0]
    assert first.startswith(f"nninfo report --compare: tracking URI {runs.shown_uri()}; "
                            "comparing 'q8', 'q4'")
    assert f"report {out / 'compare' / 'q8+q4' / 'report.html'}" in first
    assert "experiment 'compare/q8+q4'" in first


@pytest.mark.parametrize("given", ["q8", "q8,q8"])
def test_no_banner_when_there_is_nothing_to_compare(given):
    res = CliRunner().invoke(main, ["report", "--compare", given])
    assert res.exit_code == 2 and res.stderr.startswith("Error:"), res.stderr

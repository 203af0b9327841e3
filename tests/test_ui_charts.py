"""What the MLflow UI shows first of a parent run: the report's figures as images in the
section ``Figures``, the layers' charts without band bounds, the bounds in one section
``spread``; and the comparison page's differing settings at its top.

The UI's rules are MLflow 3.17's (server/js bundle): a chart's or image card's section is the
key's part before its last ``/`` ("Model metrics" without one); sections are ordered by name,
by code point when first built and by ``localeCompare`` (case-insensitive) when keys or images
arrive later; an image logged with ``log_image(key=, step=)`` is the file
``images/<key, '/' as '~'>+step+<step>+timestamp+<ms>+<uuid>.png`` (and ``+compressed.webp``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import PIL.Image
import pytest

from nninfo.presentation.compare import render_comparison_report
from nninfo.tracking import runs
from nninfo.tracking.aggregate import aggregate_rows, band_keys
from nninfo.tracking.compare import config_differences
from nninfo.tracking.report_files import log_figure_images
from tests.test_report import PageParser, make_frames

MODEL_METRICS = "Model metrics"


def section(key: str) -> str:
    """MLflow 3.17's ``extractChartSectionName``: the key up to its last ``/``."""
    return key.rsplit("/", 1)[0] if "/" in key else MODEL_METRICS


def ui_orders(names: set[str]) -> list[list[str]]:
    """The sections in both of the UI's orders (named ones sorted, then "Model metrics")."""
    named = [n for n in names if n != MODEL_METRICS]
    tail = [MODEL_METRICS] if MODEL_METRICS in names else []
    return [sorted(named) + tail, sorted(named, key=str.casefold) + tail]


def test_band_bounds_form_one_section_after_the_layers_in_both_ui_orders():
    rng = np.random.default_rng(1)
    keys = ["L1/pid.representational_complexity", "L1/pairs/mutual_information",
            "L2/pid.deg_syn_2", "test/accuracy", "train/loss"]
    long = pd.DataFrame([{"key": k, "step": step, "epoch": step / 10, "seed": seed,
                          "value": rng.normal()}
                         for k in keys for step in (0, 10) for seed in range(5)])
    rows = {(k, s): v for k, v, s in aggregate_rows(long, "quantile")}
    for (key, step), part in long.groupby(["key", "step"]):
        lo, hi = band_keys(key)
        assert rows[(key, step)] == pytest.approx(part["value"].mean(), rel=1e-12)
        assert rows[(lo, step)] == pytest.approx(np.quantile(part["value"], 0.025), rel=1e-12)
        assert rows[(hi, step)] == pytest.approx(np.quantile(part["value"], 0.975), rel=1e-12)
    logged = {k for k, _ in rows}
    assert not [k for k in logged if k.endswith(("_band_lo", "_band_hi"))]
    assert band_keys("L1/pairs/mutual_information") == (
        "spread/L1 pairs mutual_information lo", "spread/L1 pairs mutual_information hi")
    bounds = {k for key in keys for k in band_keys(key)}
    assert {section(k) for k in bounds} == {"spread"}
    assert {section(k) for k in logged - bounds} == {"L1", "L1/pairs", "L2", "test", "train",
                                                     MODEL_METRICS}  # the last: epoch
    for order in ui_orders({section(k) for k in logged} | {"Figures"}):
        assert order[0] == "Figures"
        assert order.index("spread") > max(order.index(s) for s in ("L1", "L1/pairs", "L2"))


def test_figures_are_logged_as_images_c_first(tmp_path):
    pngs = {}
    for i, name in enumerate(["performance", "activation_statistics", "complexity",
                              "mutual_information"]):
        pixels = np.full((20, 30, 3), 40 * i, dtype=np.uint8)
        pixels[5, 7] = (255, 0, 0)
        PIL.Image.fromarray(pixels).save(tmp_path / f"{name}.png")
        pngs[name] = tmp_path / f"{name}.png"
    c = runs.client()
    run = c.create_run(c.create_experiment("figs")).info.run_id
    keys = log_figure_images(run, pngs)

    assert keys == ["Figures/01 complexity", "Figures/02 mutual information",
                    "Figures/03 performance", "Figures/04 activation statistics"]
    assert c.get_run(run).data.tags["mlflow.loggedImages"] == "True"
    files = {}
    for art in c.list_artifacts(run, "images"):
        name = art.path.removeprefix("images/")
        key, word, step, when, _, _ = re.sub(r"\.(png|webp)$", "", name).split("+")[:6]
        assert (word, step, when) == ("step", "0", "timestamp")
        files.setdefault(key.replace("~", "/"), []).append(art.path)
    assert sorted(files) == keys
    assert {section(k) for k in files} == {"Figures"}
    expected = {"complexity": keys[0], "mutual_information": keys[1], "performance": keys[2],
                "activation_statistics": keys[3]}
    for name, key in expected.items():
        (png,) = [f for f in files[key] if f.endswith(".png")]
        assert [f for f in files[key] if f != png] == [png[:-4] + "+compressed.webp"]
        local = c.download_artifacts(run, png, str(tmp_path / "down"))
        with PIL.Image.open(local) as got, PIL.Image.open(pngs[name]) as want:
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_comparison_page_opens_with_the_settings_that_differ():
    summary, perf, _ = make_frames()
    summary = pd.concat([summary.assign(experiment="a"), summary.assign(experiment="b")])
    perf = pd.concat([perf.assign(experiment="a"), perf.assign(experiment="b")])
    params = {"a": {"training.lr": "0.1", "seeds": "3", "network.layers.0.quantizer.levels": "8"},
              "b": {"training.lr": "0.01", "seeds": "3", "analysis.per_class": "True"}}
    page = render_comparison_report("cmp", summary, perf, figures={},
                                    settings=config_differences(params))
    parsed = PageParser()
    parsed.feed(page)
    assert parsed.h2[0] == "Settings that differ"
    assert page.index('id="settings"') < page.index('id="experiments"')
    rows = parsed.tables["settings"][0]
    assert rows[0] == ["setting", "a", "b"]
    assert sorted(rows[1:]) == [["analysis.per_class", "—", "True"],
                                ["network.layers.0.quantizer.levels", "8", "—"],
                                ["training.lr", "0.1", "0.01"]]
    assert "seeds" not in {r[0] for r in rows}  # equal settings are not listed
    same = render_comparison_report("cmp", summary, perf, figures={},
                                    settings=config_differences({"a": {"x": "1"},
                                                                 "b": {"x": "1"}}))
    assert "settings are the same" in same
    assert 'id="settings"' not in render_comparison_report("cmp", summary, perf, figures={})

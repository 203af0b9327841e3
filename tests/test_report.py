"""The self-contained HTML report: content, escaping, embedding, and how Chromium shows it."""

from __future__ import annotations

import base64
import os
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats as sps

from nninfo.info.catalog import BROJA
from nninfo.presentation import compare as comparison
from nninfo.presentation import figures as plotting
from nninfo.presentation import report
from nninfo.presentation.numbers import format_mean_spread, format_number, mathtext_html

SEEDS = (0, 1, 2)
EPOCHS = [0.0, 1.0, 3.0, 10.0]
LAYERS = ["L1", "L2"]
ANTICHAINS = {"{1}{2}": 1, "{1}": 1, "{2}": 1, "{1,2}": 2}
CONFIG = {
    "experiment": "tishby <toy> & co",
    "seeds": list(SEEDS),
    "optimizer": {"name": "SGD", "lr": 0.0004},
    "network": {"layers": [12, 10, 7], "activation": "tanh"},
}


def make_frames(rng_seed: int = 0):
    rng = np.random.default_rng(rng_seed)
    summary, perf, atoms = [], [], []
    for s in SEEDS:
        for e in EPOCHS:
            base = {"run_id": f"r{s}", "seed": s, "chapter": 0, "epoch": e}
            for d in ("train", "test"):
                perf.append({**base, "dataset": d, "loss": rng.uniform(0, 1),
                             "accuracy": rng.uniform(0.5, 1)})
            for layer in LAYERS:
                p1, p2 = rng.uniform(0.1, 0.6, 2)
                summary.append({**base, "layer": layer, "mutual_information": p1 + p2,
                                "pid.representational_complexity": (p1 + 2 * p2) / (p1 + p2),
                                "pid.deg_syn_1": p1, "pid.deg_syn_2": p2,
                                "shannon.avg_degree_redundancy": rng.uniform(1, 2),
                                "shannon.avg_degree_vulnerability": np.nan})
                for ac, deg in ANTICHAINS.items():
                    inf, mis = rng.uniform(0, 1, 2)
                    atoms.append({**base, "layer": layer, "antichain": ac, "degree": deg,
                                  "informative": inf, "misinformative": mis,
                                  "average": inf - mis})
    return pd.DataFrame(summary), pd.DataFrame(perf), pd.DataFrame(atoms)


class PageParser(HTMLParser):
    """Collects <h2> texts, <img> sources, <figcaption> texts and, per section id, tables as
    rows of cell text and their <caption> texts."""

    def __init__(self):
        super().__init__()
        self.h2, self.imgs, self.tables, self.captions, self.figcaptions = [], [], {}, {}, []
        self._section, self._in_h2, self._cell, self._caption = None, False, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs["id"]
        elif tag == "h2":
            self._in_h2 = True
            self.h2.append("")
        elif tag == "img":
            self.imgs.append(attrs["src"])
        elif tag == "table":
            self.tables.setdefault(self._section, []).append([])
        elif tag == "tr":
            self.tables[self._section][-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag in ("caption", "figcaption"):
            self._caption = ""

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag in ("td", "th"):
            self.tables[self._section][-1][-1].append(self._cell)
            self._cell = None
        elif tag == "caption":
            self.captions.setdefault(self._section, []).append(self._caption)
            self._caption = None
        elif tag == "figcaption":
            self.figcaptions.append(self._caption)
            self._caption = None

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data
        if self._cell is not None:
            self._cell += data
        if self._caption is not None:
            self._caption += data


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    return parser


def table_dict(rows: list[list[str]], key: str) -> dict[str, dict[str, str]]:
    head = rows[0]
    return {r[head.index(key)]: dict(zip(head, r, strict=True)) for r in rows[1:]}


def pm(values: pd.Series, band: str = "quantile") -> str:
    """The expected cell, from numpy/scipy: ``mean ± h`` of the per-seed values, h half the
    distance between their 2.5 % and 97.5 % quantiles (quantile band) or
    ``t_{0.975, n-1} * sd / sqrt(n)`` (t band); the rounding is tested on its own."""
    v = np.asarray(values, dtype=float)
    if band == "quantile":
        lo, hi = np.quantile(v, [0.025, 0.975])
        return format_mean_spread(v.mean(), (hi - lo) / 2)
    half = sps.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return format_mean_spread(v.mean(), half)


@pytest.fixture(scope="module")
def frames():
    return make_frames()


@pytest.fixture(scope="module")
def page(frames):
    summary, perf, atoms = frames
    return report.render_report("Tishby <run> & seeds", CONFIG, summary, perf, atoms=atoms)


def test_self_contained_with_one_embedded_png_per_figure(page, frames):
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(link|script)\b", page)
    n_expected = len(plotting.standard_figures(frames[0], frames[1]))
    imgs = parse(page).imgs
    assert len(imgs) == n_expected == page.count('<img alt=')
    for src in imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")


def test_title_and_config_are_escaped_and_shown(page):
    assert "<run>" not in page and "Tishby &lt;run&gt; &amp; seeds" in page
    config = table_dict(parse(page).tables["config"][0], "parameter")
    assert config["experiment"]["value"] == CONFIG["experiment"]
    assert config["optimizer.lr"]["value"] == str(CONFIG["optimizer"]["lr"])
    assert config["optimizer.name"]["value"] == "SGD"
    assert config["network.layers"]["value"] == "[12, 10, 7]"


def test_sections_in_order(page):
    assert parse(page).h2 == ["Configuration", "Performance", "Estimation bias",
                              "Representational complexity", "PID atoms", "Shannon invariants",
                              "Figures"]


def test_performance_table_is_final_epoch_mean_and_quantiles(page, frames):
    perf = frames[1]
    final = perf[perf.epoch == perf.epoch.max()]
    table = table_dict(parse(page).tables["performance"][0], "dataset")
    for d in ("train", "test"):
        rows = final[final.dataset == d]
        assert table[d]["accuracy"] == pm(rows["accuracy"])
        assert table[d]["loss"] == pm(rows["loss"])
        assert table[d]["seeds"] == str(len(SEEDS))


@pytest.fixture(scope="module")
def t_page(frames):
    summary, perf, atoms = frames
    return report.render_report("t band", CONFIG, summary, perf, atoms=atoms, band="t")


def test_t_band_tables_show_mean_pm_t_half_width(t_page, frames):
    summary, perf, _ = frames
    final = perf[perf.epoch == perf.epoch.max()]
    table = table_dict(parse(t_page).tables["performance"][0], "dataset")
    for d in ("train", "test"):
        rows = final[final.dataset == d]
        assert table[d]["accuracy"] == pm(rows["accuracy"], "t")
    c_table = table_dict(parse(t_page).tables["complexity"][0], "layer")
    rows = summary[summary.layer == "L1"]
    per_seed_max = rows.groupby("seed")["pid.representational_complexity"].max()
    assert c_table["L1"]["max C"] == pm(per_seed_max, "t")


@pytest.mark.parametrize("band", ["quantile", "t"])
def test_every_table_and_figure_caption_says_which_spread_over_how_many_seeds(
        band, page, t_page):
    parsed = parse(page if band == "quantile" else t_page)
    table_words = {"quantile": "mean ± h over seeds: h is half the distance between the 2.5 % "
                               "and 97.5 % quantiles of the per-seed values (3 seeds)",
                   "t": "mean ± h over seeds: h is the half-width of the 95 % t-interval of "
                        "the mean of the per-seed values (3 seeds)"}[band]
    for section in ("performance", "complexity", "atoms", "invariants"):
        assert len(parsed.captions[section]) == len(parsed.tables[section]) >= 1, section
        assert all(c == table_words for c in parsed.captions[section]), section
    assert "config" not in parsed.captions  # the configuration is no statistic
    figure_words = {"quantile": "line: mean over 3 seeds; band: 2.5–97.5 % quantiles over "
                                "seeds",
                    "t": "line: mean over 3 seeds; band: 95 % t-interval of the mean over "
                         "seeds"}[band]
    assert parsed.figcaptions and len(parsed.figcaptions) == len(parsed.imgs)
    assert all(c.count(figure_words) == 1 for c in parsed.figcaptions), parsed.figcaptions


def test_bad_band_is_refused(frames):
    with pytest.raises(ValueError, match="band: 'sd' is not valid; allowed: quantile or t"):
        report.render_report("t", {}, frames[0], frames[1], figures={}, band="sd")


def test_complexity_final_and_max_per_layer(page, frames):
    summary = frames[0]
    tables = parse(page).tables["complexity"]
    c_table = table_dict(tables[0], "layer")
    for layer in LAYERS:
        rows = summary[summary.layer == layer]
        final = rows[rows.epoch == max(EPOCHS)]["pid.representational_complexity"]
        per_seed_max = rows.groupby("seed")["pid.representational_complexity"].max()
        assert c_table[layer]["final C"] == pm(final)
        assert c_table[layer]["max C"] == pm(per_seed_max)
    pi_table = table_dict(tables[1], "layer")
    final_l2 = summary[(summary.layer == "L2") & (summary.epoch == max(EPOCHS))]
    assert pi_table["L2"]["Π2"] == pm(final_l2["pid.deg_syn_2"])  # Π<sub>2</sub>
    assert "<th>Π<sub>2</sub></th>" in page


def test_invariants_skip_all_nan_columns(page):
    head = parse(page).tables["invariants"][0][0]
    assert "degree of redundancy" in head
    assert "degree of vulnerability" not in head


def test_invariants_show_both_reing_forms_and_their_formulas(frames):
    summary, perf, _ = frames
    summary = summary.assign(**{"reing.C_R_published": 1.0 + 0.1 * summary["seed"],
                                "reing.C_R_mean_order": 2.0 - 0.1 * summary["seed"]})
    page = report.render_report("reing", {}, summary, perf, figures={})
    table = table_dict(parse(page).tables["invariants"][0], "layer")
    # per seed 1.0, 1.1, 1.2 at the final epoch
    assert table["L1"]["CR (published)"] == pm(pd.Series([1.0, 1.1, 1.2]))
    assert table["L1"]["CR (published)"] == "1.100 ± 0.095"
    assert table["L2"]["CR (mean order)"] == pm(pd.Series([2.0, 1.9, 1.8]))
    assert ("C<sub>R</sub>=Σ<sub>k=1</sub><sup>n−1</sup>k\u2009(C<sub>k</sub>−C<sub>k+1</sub>)"
            "/(C<sub>1</sub>−C<sub>n</sub>)") in page
    assert "C<sub>R</sub>=Σ<sub>k=1</sub><sup>n</sup>k\u2009(C<sub>k−1</sub>−C<sub>k</sub>)" in page


def test_top_atoms_order_by_mean_absolute_average(page, frames):
    atoms = frames[2]
    final = atoms[atoms.epoch == max(EPOCHS)]
    rows = parse(page).tables["atoms"][0]
    head = rows[0]
    for layer in LAYERS:
        mean = final[final.layer == layer].groupby("antichain")["average"].mean()
        expected = list(mean.abs().sort_values(ascending=False).index)
        shown = [r[head.index("antichain")] for r in rows[1:]
                 if r[head.index("layer")] == layer]
        assert shown == expected


def test_explicit_figures_and_bad_input(frames, tmp_path):
    summary, perf, _ = frames
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    page = report.render_report("t", {}, summary, perf, figures={"my <fig>": fig})
    assert len(parse(page).imgs) == 1 and "my &lt;fig&gt;" in page
    assert not parse(report.render_report("t", {}, summary, perf, figures={})).imgs
    with pytest.raises(TypeError, match="config"):
        report.render_report("t", [1], summary, perf, figures={})
    with pytest.raises(TypeError, match="title"):
        report.render_report(3, {}, summary, perf, figures={})
    with pytest.raises(ValueError, match="layer"):
        report.render_report("t", {}, summary.drop(columns="layer"), perf, figures={})
    with pytest.raises(TypeError, match="figures"):
        report.render_report("t", {}, summary, perf, figures={"x": "png"})
    path = report.write_report(tmp_path / "a" / "r.html", "t", CONFIG, summary, perf, figures={})
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# ---------------------------------------------------------------- headless Chromium
def _need(reason: str):
    if os.environ.get("NNINFO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"NNINFO_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def start_chromium():
    """A headless Chromium webdriver; skip (or fail under NNINFO_REQUIRE_BROWSER=1) if absent."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        _need("chromium and chromedriver are not both on PATH "
              "(Debian: apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _need("selenium is not installed (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


@pytest.mark.browser
def test_report_renders_in_chromium(frames, tmp_path):
    browser = start_chromium()
    try:
        _check_page_in_browser(browser, frames, tmp_path)
    finally:
        browser.quit()


def _check_page_in_browser(browser, frames, tmp_path):
    from selenium.webdriver.common.by import By

    summary, perf, atoms = frames
    title = "Tishby <run> & seeds"
    path = report.write_report(tmp_path / "report.html", title, CONFIG, summary, perf,
                               atoms=atoms)
    browser.get(path.as_uri())
    assert browser.title == title
    assert browser.find_element(By.TAG_NAME, "h1").text == title
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings == ["Configuration", "Performance", "Estimation bias",
                        "Representational complexity", "PID atoms", "Shannon invariants",
                        "Figures"]
    widths = browser.execute_script(
        "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1);")
    assert len(widths) == len(plotting.standard_figures(summary, perf)) > 0
    assert all(w > 0 for w in widths), widths
    final = perf[(perf.epoch == perf.epoch.max()) & (perf.dataset == "test")]
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#performance td")]
    assert pm(final["accuracy"]) in cells
    config_cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#config td")]
    assert CONFIG["experiment"] in config_cells


# ---------------------------------------------------------------- estimation bias
def bias_frame(layers=("L1", "L2", "L3"), flags=True) -> pd.DataFrame:
    """Two seeds x three checkpoints, as load_summary: I and its surrogates on the neurons
    rows, a pairs row per checkpoint without them. L1: bias-dominated at epoch 0 of both
    seeds (surrogate mean 0.5 and 0.2 of I = 1), p < 0.05 at 4 of 6; L2: never (0.05 of
    I), p < 0.05 at 6 of 6; L3: only seed 0, epoch 0, with I = 0 < surrogate mean, no p."""
    sur = {"L1": {0: [0.5, 0.05, 0.02], 1: [0.2, 0.08, 0.01]},
           "L2": {0: [0.1, 0.1, 0.1], 1: [0.1, 0.1, 0.1]}}
    pval = {"L1": {0: [0.3, 0.01, 0.01], 1: [0.2, 0.01, 0.001]},
            "L2": {0: [0.01] * 3, 1: [0.01] * 3}}
    info = {"L1": 1.0, "L2": 2.0}
    rows = []
    for seed in (0, 1):
        for j, epoch in enumerate((0.0, 1.0, 2.0)):
            base = {"run_id": f"r{seed}", "seed": seed, "chapter": 0, "step": j,
                    "epoch": epoch}
            for layer in layers:
                if layer == "L3":
                    if seed == 0 and j == 0:
                        rows.append({**base, "layer": layer, "grouping": "neurons",
                                     "mutual_information": 0.0,
                                     "mutual_information_surrogate_mean": 0.05,
                                     "mutual_information_p_value": np.nan,
                                     "bias_dominated": 1.0})
                    continue
                key = "L1" if layer not in info else layer
                mi, s = info[key], sur[key][seed][j]
                rows.append({**base, "layer": layer, "grouping": "neurons",
                             "mutual_information": mi,
                             "mutual_information_surrogate_mean": s,
                             "mutual_information_surrogate_std": s / 10,
                             "mutual_information_bias_corrected": mi - s,
                             "mutual_information_p_value": pval[key][seed][j],
                             "bias_dominated": float(s > 0.1 * mi)})
                rows.append({**base, "layer": layer, "grouping": "pairs",
                             "pid.representational_complexity": 1.5})
    df = pd.DataFrame(rows)
    return df if flags else df.drop(columns="bias_dominated")


def warnings_in(page: str) -> list[str]:
    return re.findall(r'<p class="warning">(.*?)</p>', page)


def test_bias_table_counts_flagged_pairs():
    table = report.bias_table(bias_frame()).set_index("layer")
    assert list(table.index) == ["L1", "L2", "L3"]  # one row per layer: pairs rows have no I
    assert table.loc["L1", "pairs"] == 6 and table.loc["L1", "bias-dominated"] == 2
    assert table.loc["L2", "bias-dominated"] == 0 and table.loc["L3", "bias-dominated"] == 1
    assert table.loc["L1", "max surrogate mean / I"] == pytest.approx(0.5)
    assert table.loc["L2", "max surrogate mean / I"] == pytest.approx(0.05)
    assert table.loc["L3", "max surrogate mean / I"] == np.inf
    assert table.loc["L1", "p < 0.05"] == 4 and table.loc["L1", "tested"] == 6
    assert table.loc["L2", "p < 0.05"] == 6 and table.loc["L3", "tested"] == 0


def test_bias_section_shows_counts_and_names_the_bias_dominated_layers():
    page = report.render_report("bias", {}, bias_frame(), None, figures={})
    parsed = parse(page)
    assert "Estimation bias" in parsed.h2
    table = table_dict(parsed.tables["bias"][0], "layer")
    assert table["L1"]["bias-dominated (seed, checkpoint) pairs"] == "2 of 6"
    assert table["L2"]["bias-dominated (seed, checkpoint) pairs"] == "0 of 6"
    assert table["L3"]["bias-dominated (seed, checkpoint) pairs"] == "1 of 1"
    assert table["L1"]["max surrogate mean / I"] == "0.5"
    assert table["L3"]["max surrogate mean / I"] == "∞"
    assert table["L1"]["pairs with p < 0.05"] == "4 of 6 (67 %)"
    assert table["L2"]["pairs with p < 0.05"] == "6 of 6 (100 %)"
    assert table["L3"]["pairs with p < 0.05"] == "—"
    found = warnings_in(page)
    assert len(found) == 2  # the banner at the top and the line in the section
    assert page.index(found[0]) < page.index('<section id="config"')
    for text in found:
        assert "bias-dominated estimates in L1, L3 (3 of 13" in text and "L2" not in text
    assert "No layer is bias-dominated" not in page
    # the final-epoch I table: mean over the two seeds, both at epoch 2
    final = table_dict(parsed.tables["bias"][1], "layer")
    assert final["L1"]["surrogate mean [bits]"] == pm(pd.Series([0.02, 0.01]))
    assert final["L1"]["I − surrogate mean [bits]"] == pm(pd.Series([0.98, 0.99]))


def test_no_bias_dominated_layer_says_so_without_warning():
    page = report.render_report("clean", {}, bias_frame(layers=("L2",)), None, figures={})
    assert warnings_in(page) == []
    assert "No layer is bias-dominated: at every (seed, checkpoint) pair the shuffled-label " \
           "surrogate mean of I is at most the configured fraction" in page


def test_bias_flags_are_read_as_logged_and_the_typed_config_words_the_fraction():
    """The rule (surrogate mean > bias_fraction · I) runs once, in the analysis; the report
    counts the logged flags and takes the fraction's wording from the typed config."""
    from nninfo.config import build_config
    from tests.helpers import tishby_layers

    cfg = build_config({"name": "fraction", "seeds": 1, "task": {"name": "tishby"},
                        "network": {"layers": tishby_layers(4, levels=3)},
                        "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce",
                                     "batch_size": 64, "epochs": 1},
                        "analysis": {"surrogates": {"bias_fraction": 0.3}}})
    frame = bias_frame(layers=("L1", "L2"))
    page = report.render_report("fraction", cfg, frame, None, figures={})
    cells = table_dict(parse(page).tables["bias"][0], "layer")
    assert cells["L1"]["bias-dominated (seed, checkpoint) pairs"] == "2 of 6"  # as logged
    assert "exceeds 30 % of I" in warnings_in(page)[0]
    unflagged = bias_frame(layers=("L1", "L2"), flags=False)
    assert report.bias_table(unflagged)["bias-dominated"].isna().all()  # not recomputed


def test_bias_warning_is_escaped():
    frame = bias_frame(layers=("L1",))
    frame["layer"] = "L<b>1"
    page = report.render_report("esc", {}, frame, None, figures={})
    assert "L<b>1" not in page and "L&lt;b&gt;1" in warnings_in(page)[0]


def test_without_surrogates_the_bias_is_unknown(page):
    assert "no shuffled-label surrogates were computed" in page
    assert warnings_in(page) == [] and "bias" not in parse(page).tables


def test_pid_surrogates_at_their_checkpoints(frames):
    summary = frames[0].copy()
    at = summary.epoch.isin([0.0, 3.0])
    summary["pid.representational_complexity_surrogate_mean"] = np.where(
        at, 1.0 + 0.1 * summary["seed"], np.nan)
    page = report.render_report("pid", {}, summary, frames[1], figures={})
    rows = parse(page).tables["bias"][-1]
    head = rows[0]
    assert head[:3] == ["layer", "epoch", "seeds"] and "surrogate mean of C" in head
    assert [(r[0], r[1]) for r in rows[1:]] == [("L1", "0"), ("L1", "3"), ("L2", "0"),
                                                ("L2", "3")]
    cell = rows[1][head.index("surrogate mean of C")]
    assert cell == pm(pd.Series([1.0, 1.1, 1.2]))
    c_cell = rows[2][head.index("C")]
    final = summary[(summary.layer == "L1") & (summary.epoch == 3.0)]
    assert c_cell == pm(final["pid.representational_complexity"])


# ---------------------------------------------------------------- new analyses
def make_classes() -> pd.DataFrame:
    rows = [{"run_id": f"r{s}", "seed": s, "chapter": 0, "step": int(e), "epoch": e,
             "layer": layer, "grouping": "neurons", "class": c,
             "pid.mutual_information": 0.1 * (c + 1) + 0.01 * s,
             "pid.representational_complexity": 1.0 + 0.5 * c + 0.1 * s + 0.01 * e}
            for s in SEEDS for e in EPOCHS for layer in LAYERS for c in (0, 1)]
    return pd.DataFrame(rows)


def with_new_measures(summary: pd.DataFrame) -> pd.DataFrame:
    return summary.assign(**{
        "shannon_entropy.joint_entropy": 3.0 + summary["seed"],
        "shannon_entropy.avg_degree_redundancy": 1.5,
        "shannon_entropy.avg_degree_vulnerability": 0.5,
        "broja.mutual_information": 0.8, "broja.redundancy": 0.1, "broja.unique_1": 0.2,
        "broja.unique_2": 0.3, "broja.synergy": 0.2,
        "broja.representational_complexity": 1.25 + 0.01 * summary["seed"],
    })


def test_sections_for_classes_entropy_invariants_and_broja(frames):
    summary, perf, atoms = frames
    classes = make_classes()
    page = report.render_report("all", CONFIG, with_new_measures(summary), perf, atoms=atoms,
                                classes=classes)
    parsed = parse(page)
    assert parsed.h2 == ["Configuration", "Performance", "Estimation bias",
                         "Representational complexity", "Per-class complexity", "PID atoms",
                         "Shannon invariants", "Entropy-only Shannon invariants", "BROJA PID",
                         "Figures"]
    rows = parsed.tables["classes"][0]
    head = rows[0]
    assert head[:2] == ["layer", "class"]
    cells = {(r[0], r[1]): dict(zip(head, r, strict=True)) for r in rows[1:]}
    final = classes[(classes.epoch == max(EPOCHS)) & (classes.layer == "L2") &
                    (classes["class"] == 1)]
    assert cells[("L2", "1")]["C of the class"] == pm(final["pid.representational_complexity"])
    assert cells[("L2", "1")]["specific information [bits]"] == pm(
        final["pid.mutual_information"])
    entropy = table_dict(parsed.tables["entropy"][0], "layer")
    assert entropy["L1"]["H(S) [bits]"] == pm(pd.Series([3.0, 4.0, 5.0]))
    broja = table_dict(parsed.tables["broja"][0], "layer")
    assert broja["L1"]["C"] == pm(
        pd.Series([1.25, 1.26, 1.27]))
    assert mathtext_html(BROJA.note) in page  # C of the BROJA PID defined
    names = [re.search(r'id="fig-([^"]+)"', f).group(1)
             for f in re.findall(r'<figure id="[^"]+"', page)]
    assert {"mutual_information", "class_complexity", "entropy_invariants",
            "broja_complexity"} <= set(names)
    for section in ("classes", "entropy", "broja"):
        assert parsed.captions[section] == [report.spread_text("quantile", 3)]


@pytest.mark.parametrize("drop", [False, True])
def test_performance_without_accuracy_renders_loss_only(frames, drop):
    summary, perf, _ = frames
    perf = perf.assign(accuracy=np.nan)
    if drop:
        perf = perf.drop(columns="accuracy")
    page = report.render_report("ae", {}, summary, perf)
    head = parse(page).tables["performance"][0][0]
    assert "loss" in head and "accuracy" not in head
    assert "No accuracy was logged" in page
    assert 'id="fig-performance"' in page


# ---------------------------------------------------------------- numbers and symbols
@pytest.mark.parametrize(("mean", "spread", "integer", "expected"), [
    (0.0006674, 0.0005255, False, "0.00067 ± 0.00053"),
    (1.8312, 0.1203, False, "1.83 ± 0.12"),
    (12.3, 3.04, True, "12 ± 3"),
    (12.3, 3.04, False, "12.3 ± 3.0"),
    (0.9594, 0.00996, False, "0.959 ± 0.010"),  # 0.00996 rounds up to 0.010: 2 digits
    (1234.5, 123.0, False, "1230 ± 120"),
    (-0.00001, 0.5, False, "0.00 ± 0.50"),  # never "-0.00"
    (1.25, 0.0, False, "1.25 ± 0"),
    (0.5, np.nan, False, "0.5"),  # one seed: no spread
    (12.4, np.nan, True, "12"),
    (3.2e-9, 1.1e-9, False, "(3.2 ± 1.1)e-09"),
])
def test_mean_and_spread_with_two_significant_digits(mean, spread, integer, expected):
    assert format_mean_spread(mean, spread, integer=integer) == expected


def test_single_numbers_and_integers():
    assert [format_number(x) for x in (1000.0, 10000.0, 0.95263, 0.5, 3, np.inf, np.nan,
                                       pd.NA, "L3")] == [
        "1000", "10000", "0.953", "0.5", "3", "∞", "—", "—", "L3"]


def hand_picked(epoch: float = 10000.0) -> pd.DataFrame:
    """Three seeds at epoch 0 and ``epoch``; at the last: accuracy 0.95, 0.96, 0.97,
    distinct patterns 9, 12, 15 (Int64, as the results API loads them), I 0.0001, 0.0006,
    0.0013."""
    rows = []
    for s, (acc, pat, mi) in enumerate([(0.95, 9, 0.0001), (0.96, 12, 0.0006),
                                        (0.97, 15, 0.0013)]):
        rows.append({"seed": s, "epoch": 0.0, "layer": "L1", "accuracy": 0.5,
                     "distinct_patterns": 1, "mutual_information": 0.0})
        rows.append({"seed": s, "epoch": epoch, "layer": "L1", "accuracy": acc,
                     "distinct_patterns": pat, "mutual_information": mi})
    return pd.DataFrame(rows).astype({"distinct_patterns": "Int64"})


def test_final_epoch_cells_on_hand_picked_numbers():
    df = hand_picked()
    values = ["accuracy", "distinct_patterns", "mutual_information"]
    q = report.final_epoch_table(df, ["layer"], values).iloc[0].to_dict()
    assert q == {"layer": "L1", "epoch": "10000", "seeds": 3, "accuracy": "0.9600 ± 0.0095",
                 "distinct_patterns": "12 ± 3", "mutual_information": "0.00067 ± 0.00057"}
    t = report.final_epoch_table(df, ["layer"], values, band="t").iloc[0].to_dict()
    assert t["accuracy"] == "0.960 ± 0.025" and t["distinct_patterns"] == "12 ± 7"
    one = report.final_epoch_table(df[df.seed == 1], ["layer"], values).iloc[0].to_dict()
    assert (one["accuracy"], one["distinct_patterns"]) == ("0.96", "12")


def test_integer_columns_render_as_integers(frames):
    summary, perf, atoms = frames
    stats = hand_picked().assign(entropy=1.5)
    page = report.render_report("ints", {}, summary, perf, atoms=atoms, stats=stats,
                                figures={})
    parsed = parse(page)
    act = table_dict(parsed.tables["activations"][0], "layer")["L1"]
    assert act["distinct_patterns"] == "12 ± 3" and act["seeds"] == "3"
    assert act["epoch"] == "10000"
    atoms_rows = parsed.tables["atoms"][0]
    degree = atoms_rows[0].index("degree")
    assert {r[degree] for r in atoms_rows[1:]} == {"1", "2"}
    perf_rows = parsed.tables["performance"][0]
    assert all(r[perf_rows[0].index("seeds")] == "3" for r in perf_rows[1:])


def test_mathtext_becomes_escaped_html():
    assert mathtext_html(r"$\Pi_2$ [bits]") == "Π<sub>2</sub> [bits]"
    assert mathtext_html(r"<b> $S_{-i}$ & $I^{\mathrm{sx}}$") == (
        "&lt;b&gt; S<sub>−i</sub> &amp; I<sup>sx</sup>")
    assert mathtext_html(r"$\Sigma_iI(Y;S_i)/I(Y;S)$") == (
        "Σ<sub>i</sub>I(Y;S<sub>i</sub>)/I(Y;S)")
    assert mathtext_html("costs $5 <now>") == "costs $5 &lt;now&gt;"  # no pair: no math


def test_figure_captions_define_symbols_in_html(frames):
    summary, perf, _ = frames
    page = report.render_report("symbols", {}, summary, perf)
    caption = next(c for c in parse(page).figcaptions if c.startswith("shannon invariants"))
    assert "degree of redundancy ΣiI(Y;Si)/I(Y;S)" in caption  # Σ<sub>i</sub>I(Y;S<sub>i</sub>)
    assert "$" not in page.split("<style>")[1]


# ---------------------------------------------------------------- comparison report
EXPS = ("8 <levels>", "4 & levels")


def compared(frame: pd.DataFrame, skip=("seed", "epoch", "chapter")) -> pd.DataFrame:
    """``frame`` as the first experiment and, with the same seeds and every value + 1, as
    the second."""
    second = frame.copy()
    for col in second.columns:
        if col not in skip and pd.api.types.is_float_dtype(second[col]):
            second[col] = second[col] + 1.0
    return pd.concat([frame.assign(experiment=EXPS[0]), second.assign(experiment=EXPS[1])],
                     ignore_index=True)


def test_comparison_report_renders_both_experiments(frames, tmp_path):
    summary, perf, _ = frames
    summaries, performance = compared(summary), compared(perf)
    path = comparison.write_comparison_report(tmp_path / "cmp" / "compare.html", "compare <a> & b",
                                          summaries, performance, None, "quantile")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and not re.search(r"https?://|<script", page)
    assert "compare &lt;a&gt; &amp; b" in page and "<a> & b" not in page
    assert "8 <levels>" not in page and "8 &lt;levels&gt;" in page
    parsed = parse(page)
    assert parsed.h2 == ["Experiments", "Performance", "Information and complexity",
                         "Estimation bias", "Figures"]
    exps = table_dict(parsed.tables["experiments"][0], "experiment")
    assert list(exps) == list(EXPS) and exps[EXPS[0]]["seeds"] == "3"
    assert exps[EXPS[1]]["final epoch"] == "10" and exps[EXPS[1]]["layers"] == "L1, L2"
    rows = parsed.tables["information"][0]
    head = rows[0]
    assert head[:4] == ["experiment", "layer", "epoch", "seeds"] and "C" in head
    cells = {(r[0], r[1]): dict(zip(head, r, strict=True)) for r in rows[1:]}
    assert list(cells) == [(e, la) for e in EXPS for la in LAYERS]
    final = summary[(summary.layer == "L2") & (summary.epoch == max(EPOCHS))]
    value = final["pid.representational_complexity"]
    assert cells[(EXPS[0], "L2")]["C"] == pm(value)
    assert cells[(EXPS[1], "L2")]["C"] == pm(value + 1.0)  # same seeds, not mixed
    assert cells[(EXPS[1], "L2")]["Π2"] == pm(final["pid.deg_syn_2"] + 1.0)
    assert parsed.captions["information"][0] == report.spread_text("quantile", 3)
    perf_rows = table_dict([r[1:] for r in parsed.tables["performance"][0]], "dataset")
    assert set(perf_rows) == {"train", "test"}
    assert len(parsed.tables["performance"][0]) == 5  # 2 experiments x 2 datasets
    n_figures = len(plotting.standard_figures(summaries, performance))
    assert len(parsed.imgs) == n_figures == len(parsed.figcaptions) > 0
    assert all("colours: experiments" in c for c in parsed.figcaptions
               if not c.startswith("degree of synergy"))


def test_comparison_report_takes_png_figures_and_checks_input(frames, tmp_path):
    summary, perf, _ = frames
    fig = plotting.plot_complexity(compared(summary))
    png = plotting.save_figure(fig, tmp_path / "complexity")[0]
    page = comparison.render_comparison_report("t", compared(summary), None,
                                           {"complexity": png}, band="t")
    parsed = parse(page)
    assert len(parsed.imgs) == 1 and "no performance metrics" in page
    assert parsed.captions["information"][0] == report.spread_text("t", 3)
    with pytest.raises(ValueError, match="experiment"):
        comparison.write_comparison_report(tmp_path / "x.html", "t", summary, perf, {}, "quantile")
    with pytest.raises(ValueError, match="band"):
        comparison.render_comparison_report("t", compared(summary), None, {}, band="sd")


def test_a_spread_far_below_the_mean_is_formatted_without_recursion():
    from nninfo.presentation.numbers import format_mean_spread

    assert format_mean_spread(1e6, 1e-10) == "(1.000000000000 ± 0.000000000000)e+06"
    assert format_mean_spread(3.0, 1e-11).endswith("e+00")

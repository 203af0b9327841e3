"""A self-contained HTML page comparing several experiments (e.g. 8 vs 4 quantisation levels),
from frames with an ``experiment`` column such as the results API's
``load_summary(["a", "b"])``.

The page opens with the settings that differ between the experiments (setting | value per
experiment) where the caller passes them. Tables show, per experiment and layer, the
final-epoch ``mean ± h`` over that experiment's seeds (h as in :mod:`nninfo.presentation.report`);
figures are overlays, a colour per experiment
(:func:`nninfo.presentation.figures.standard_figures`), or whatever ``figures`` the caller
passes.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from nninfo import __version__
from nninfo.presentation.bands import (
    BAND_TEXT,
    DEFAULT_BAND,
    check_band,
    has_values,
    spread_text,
    subset_text,
)
from nninfo.presentation.figures import save_figures, standard_figures
from nninfo.presentation.measure_figures import (
    C_NOTE,
    COMPLEXITY,
    DEG_SYN_PREFIX,
    MUTUAL_INFORMATION,
    deg_syn_columns,
    pi_label,
)
from nninfo.presentation.numbers import SPREAD_DIGITS, mathtext_html
from nninfo.presentation.page import check_frame, figures_section, html_page
from nninfo.presentation.sections import measure_sections
from nninfo.presentation.style import EXPERIMENT, experiment_names
from nninfo.presentation.tables import (
    bias_table,
    empty_note,
    final_epoch_table,
    html_table,
    rows_with,
    seed_count,
    value_keys,
)

__all__ = ["SETTING", "render_comparison_report", "settings_section", "write_comparison",
           "write_comparison_report"]

_PID_COLS = {MUTUAL_INFORMATION: "$I(Y;L)$ [bits]", COMPLEXITY: "$C$"}
SETTING = "setting"
"""The first column of the settings table (the CSV's ``parameter``)."""


def settings_section(differences: pd.DataFrame) -> str:
    """The settings that differ: a table with a :data:`SETTING` column (or the CSV's
    ``parameter``) and one per experiment (``""`` or missing: not set), or a note that
    none differ."""
    if differences.empty:
        return empty_note("none: the experiments' settings are the same (their names apart)")
    table = differences.rename(columns={"parameter": SETTING})
    if SETTING not in table.columns:
        raise ValueError(f"settings: columns {list(differences.columns)}; the first must be "
                         f"{SETTING!r} (or 'parameter'), then one per experiment")
    names = [c for c in table.columns if c != SETTING]
    shown = table[[SETTING, *names]].astype(object).replace("", None)
    return ("<p>The settings (MLflow params of the seed runs, without seed and name) whose "
            "values differ between the experiments; — where one has no such setting.</p>"
            + html_table(shown, text_cols=[SETTING, *names]))


def _experiments_table(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per experiment: its seeds, final epoch and layers."""
    rows = []
    for name in experiment_names(pd.concat([f[[EXPERIMENT]] for f in frames])):
        parts = [f[f[EXPERIMENT] == name] for f in frames]
        seeds = sorted({s for p in parts for s in p["seed"].dropna().unique()})
        epoch = max((p["epoch"].max() for p in parts if not p.empty), default=float("nan"))
        layers = sorted({str(v) for p in parts if "layer" in p for v in p["layer"].dropna()},
                        key=lambda v: (len(v), v))
        rows.append({EXPERIMENT: name, "seeds": len(seeds), "final epoch": epoch,
                     "layers": ", ".join(layers) or "—"})
    return pd.DataFrame(rows, columns=[EXPERIMENT, "seeds", "final epoch", "layers"])


def _values_table(frame: pd.DataFrame, cols: Mapping[str, str], band: str,
                  intro: str = "", by: list[str] | None = None) -> str:
    """Final-epoch table per experiment and ``by`` (default: layer[, grouping]) of the
    ``cols`` (column -> header) with values; ``""`` when none has any."""
    data = rows_with(frame, list(cols))
    present = [c for c in cols if has_values(data, c)]
    if not present:
        return ""
    keys = [EXPERIMENT, *(value_keys(data) if by is None else by)]
    table = final_epoch_table(data, keys, present, band).rename(columns=dict(cols))
    return intro + html_table(table, text_cols=keys, caption=spread_text(
        band, seed_count(data)) + subset_text(data, band))


def _information_section(summary: pd.DataFrame | None, band: str) -> str:
    if summary is None or summary.empty:
        return empty_note("no analysis results")
    pid = {**_PID_COLS, **{c: pi_label(c.removeprefix(DEG_SYN_PREFIX))
                            for c in deg_syn_columns(summary)}}
    parts = [
        _values_table(summary, pid, band, "<h3>Information and the I<sup>sx</sup> PID</h3>"
                      f"<p>{mathtext_html(C_NOTE)}.</p>"),
        *(_values_table(summary, cols, band, f"<h3>{html.escape(title)}</h3>{intro}")
          for title, cols, intro in measure_sections(summary).values()),
    ]
    return "".join(parts) or empty_note("no information measures with values")


def _bias_section(summary: pd.DataFrame | None) -> str:
    """Per experiment and layer: bias-dominated (seed, checkpoint) pairs of I."""
    if summary is None or not has_values(summary, "mutual_information_surrogate_mean"):
        return empty_note("no shuffled-label surrogates of I(Y; L) were computed")
    tables = []
    for name in experiment_names(summary):
        table = bias_table(summary[summary[EXPERIMENT] == name])
        tables.append(table.assign(**{EXPERIMENT: name}))
    table = pd.concat(tables, ignore_index=True)
    keys = [EXPERIMENT, *[k for k in ("layer", "grouping") if k in table.columns]]
    shown = table[keys].copy()
    shown["bias-dominated (seed, checkpoint) pairs"] = [
        "—" if pd.isna(k) else f"{int(k)} of {int(n)}"
        for k, n in zip(table["bias-dominated"], table["pairs"], strict=True)]
    shown["max surrogate mean / I"] = table["max surrogate mean / I"]
    return ("<p>A (seed, checkpoint) pair is bias-dominated when the shuffled-label "
            "surrogate mean of I(Y; L) exceeds the configured fraction of I (the run's "
            "<code>bias_dominated</code> flag).</p>"
            + html_table(shown, text_cols=keys, caption="counts over all seeds and checkpoints"))


def _meta(frames: list[pd.DataFrame], band: str) -> str:
    table = _experiments_table(frames)
    names = ", ".join(f"{r[EXPERIMENT]} ({r['seeds']} seeds)" for _, r in table.iterrows())
    text = (f"{len(table)} experiments: {names or '—'} · spread over seeds (band = {band}): "
            f"{BAND_TEXT[band]}; tables show mean ± h, h to {SPREAD_DIGITS} significant "
            f"digits · nninfo {__version__}")
    return f'<p class="meta">{html.escape(text)}</p>'


def render_comparison_report(title: str, summaries: pd.DataFrame | None,
                             performance: pd.DataFrame | None,
                             figures: Mapping[str, Figure | Path] | None = None,
                             band: str = DEFAULT_BAND,
                             settings: pd.DataFrame | None = None) -> str:
    """The comparison page as a string (see :func:`write_comparison_report`)."""
    check_band(band)
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    check_frame(summaries, "summaries", [EXPERIMENT, "seed", "epoch", "layer"])
    check_frame(performance, "performance", [EXPERIMENT, "seed", "epoch", "dataset"])
    frames = [f for f in (summaries, performance) if f is not None and not f.empty]
    if figures is None:
        figures = standard_figures(summaries, performance, band=band)
    perf = (_values_table(performance, {"loss": "loss", "accuracy": "accuracy"}, band,
                          by=["dataset"])
            if performance is not None and not performance.empty else "")
    experiments = _experiments_table(frames) if frames else pd.DataFrame()
    sections = {} if settings is None else {
        "settings": ("Settings that differ", settings_section(settings))}
    sections |= {
        "experiments": ("Experiments", html_table(experiments, text_cols=[EXPERIMENT, "layers"])
                        if not experiments.empty else empty_note("no data")),
        "performance": ("Performance", perf or empty_note("no performance metrics")),
        "information": ("Information and complexity", _information_section(summaries, band)),
        "bias": ("Estimation bias", _bias_section(summaries)),
        "figures": ("Figures", figures_section(figures, {})),
    }
    return html_page(title, _meta(frames, band), sections)


def write_comparison_report(path: str | Path, title: str, summaries: pd.DataFrame | None,
                            performance: pd.DataFrame | None,
                            figures: Mapping[str, Figure | Path] | None = None,
                            band: str = DEFAULT_BAND,
                            settings: pd.DataFrame | None = None) -> Path:
    """Write a self-contained HTML page comparing the experiments of ``summaries`` and
    ``performance`` (frames with an ``experiment`` column, e.g. from
    ``nninfo.results.load_summary([...])``) to ``path`` (UTF-8) and return it.

    Sections: first, where ``settings`` is given (a :data:`SETTING` column, then one per
    experiment, as :func:`nninfo.tracking.compare.config_differences`), the settings that
    differ (:func:`settings_section`); the experiments (seeds, final epoch, layers);
    final-epoch tables per experiment and layer of performance, I(Y; L), C, Π_m, the Shannon
    invariants, Reing's C_R and BROJA (those with values), each cell ``mean ± h`` over the
    experiment's seeds with ``band``'s h (:func:`nninfo.presentation.tables.spread_text`);
    the bias-dominated counts; the ``figures`` (name -> Figure or PNG path; ``None`` draws
    the overlays of :func:`nninfo.presentation.figures.standard_figures`), each with its
    caption."""
    path = Path(path)
    page = render_comparison_report(title, summaries, performance, figures, band, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def write_comparison(folder: str | Path, title: str, summaries: pd.DataFrame,
                     performance: pd.DataFrame, band: str = DEFAULT_BAND,
                     settings: pd.DataFrame | None = None) -> tuple[Path, list[Path]]:
    """The overlay figures (PNG + PDF under ``<folder>/figures``) and the comparison page
    ``<folder>/report.html`` (:func:`write_comparison_report`, ``settings`` the differing
    settings at its top); returns the page and the figure files."""
    figures = standard_figures(summaries, performance, band=band)
    saved = save_figures(figures, Path(folder) / "figures")
    page = write_comparison_report(Path(folder) / "report.html", title, summaries, performance,
                                   figures=figures, band=band, settings=settings)
    return page, [path for paths in saved.values() for path in paths]

"""A self-contained HTML report of one experiment (all seeds).

One page, inline CSS, figures embedded as base64 PNG, no external resources: it opens
offline and can be logged as a single MLflow artifact. Tables show, at each seed's final
epoch, ``mean ± h`` over seeds, h from the same band as the figures' (``band=``, the config's
``report.band``): half the distance between the 2.5 % and 97.5 % quantiles of the per-seed
values (``"quantile"``, the published figures' band) or the half-width of the 95 %
t-interval of the seed mean (``"t"``), h to 2 significant digits and the mean to the same
decimal place (:mod:`nninfo.presentation.numbers`); every table's caption and every figure's
caption say which, and over how many seeds. The "Estimation bias" section counts, per layer, the
(seed, checkpoint) pairs whose plug-in I is dominated by its shuffled-label surrogate mean,
and a warning at the top of the page names those layers. Built from the tidy frames of the
results API; the tables are built in :mod:`nninfo.presentation.tables`, the page shell in
:mod:`nninfo.presentation.page`. :func:`write_comparison_report` compares several experiments
(:mod:`nninfo.presentation.compare`).
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from nninfo import __version__
from nninfo.config.spec import ExperimentConfig
from nninfo.presentation.bands import (
    BAND_TEXT,
    DEFAULT_BAND,
    DEFAULT_SUBSET_BAND,
    SUBSET_BAND_TEXT,
    check_band,
    spread_text,
    subset_groupings,
    subset_values,
)
from nninfo.presentation.figures import check_performance_loss, standard_figures
from nninfo.presentation.numbers import SPREAD_DIGITS
from nninfo.presentation.page import check_frame, figures_section, html_page
from nninfo.presentation.sections import (
    bias_warning,
    section_bodies,
    section_titles,
)
from nninfo.presentation.style import natural_key
from nninfo.presentation.tables import (
    bias_table,
    empty_note,
    final_epoch_table,
    html_table,
    pid_surrogate_table,
    top_atoms,
)

__all__ = ["bias_table", "final_epoch_table", "pid_surrogate_table",
           "render_report", "spread_text", "top_atoms", "write_report"]

# ---------------------------------------------------------------- config
def _plain(value: object) -> object:
    """Config value as plain YAML/JSON types (unknown objects become strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _flatten(config: Mapping, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            rows.append((name, value))
        else:
            rows.append((name, json.dumps(value)))
    return rows


def _config_section(config: Mapping) -> str:
    plain = _plain(config)
    if not plain:
        return empty_note("no configuration given")
    table = pd.DataFrame(_flatten(plain), columns=["parameter", "value"])
    dump = yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)
    return (html_table(table, text_cols=["parameter", "value"])
            + "<details><summary>YAML</summary><pre>"
            + html.escape(dump) + "</pre></details>")


# ---------------------------------------------------------------- page
def _target_text(config: Mapping) -> str:
    """What the analysis target T is (``analysis.target``; absent: the class label)."""
    analysis = config.get("analysis")
    target = analysis.get("target") if isinstance(analysis, Mapping) else None
    if isinstance(target, Mapping) and target.get("code_columns"):
        return (f"columns {list(target['code_columns'])} of the label code, jointly "
                "(analysis.target)")
    return "the class label"


def _meta(summary: pd.DataFrame | None, performance: pd.DataFrame | None, band: str,
          target: str = "the class label", subset_band: str = DEFAULT_SUBSET_BAND) -> str:
    frames = [f for f in (summary, performance) if f is not None and not f.empty]
    seeds = sorted({s for f in frames for s in f["seed"].dropna().unique()}, key=natural_key)
    text = (f"{len(seeds)} seed(s): {', '.join(map(str, seeds)) or '—'} · target T: "
            f"{target} · spread over seeds "
            f"(report.band = {band}): {BAND_TEXT[band]}{_subset_meta(summary, band, subset_band)}"
            f"; tables show mean ± h, h to "
            f"{SPREAD_DIGITS} significant digits · nninfo {__version__}")
    return f'<p class="meta">{html.escape(text)}</p>'


def _subset_meta(summary: pd.DataFrame | None, band: str, subset_band: str) -> str:
    """The random-subset groupings' band for the page's header, ``""`` without them."""
    names = subset_groupings(summary, band)
    if not names:
        return ""
    return (f"; {', '.join(names)} (random subsets, report.subset_band = {subset_band}): "
            f"{SUBSET_BAND_TEXT}")


def render_report(
    title: str,
    config: ExperimentConfig | Mapping,
    summary: pd.DataFrame | None,
    performance: pd.DataFrame | None,
    atoms: pd.DataFrame | None = None,
    stats: pd.DataFrame | None = None,
    figures: Mapping[str, Figure | Path] | None = None,
    *,
    band: str = DEFAULT_BAND,
    captions: Mapping[str, str] | None = None,
    classes: pd.DataFrame | None = None,
    performance_loss: str = "training",
    subsets: pd.DataFrame | None = None,
    subset_band: str = DEFAULT_SUBSET_BAND,
) -> str:
    """One self-contained HTML page: config, final-epoch tables, the estimation bias and
    embedded figures.

    ``figures=None`` draws :func:`nninfo.presentation.figures.standard_figures`; pass ``{}`` for
    none. A figure may also be the path of a PNG already written (it is embedded as is).
    ``band`` (``"quantile"`` or ``"t"``) is the spread over seeds that the tables show and that
    figures drawn here shade; ``captions`` (name -> text) say what each figure's lines and bands
    show (by default :func:`nninfo.presentation.figures.figure_caption` of each Figure).
    ``classes`` is the per-class frame (target-pointwise PID: a ``class`` column). The
    performance frame may lack accuracy (loss only); ``performance_loss`` is the
    ``performance.loss`` its losses were logged with (``published``: named so in the
    performance table and figure). Sections for per-class C, the entropy-only invariants,
    BROJA and activation statistics appear only with their data. ``subsets``: random-subset
    groupings' per-subset values (:func:`nninfo.results.load_subset_summary`); with
    ``subset_band="values"`` (the published Fig. 5B) their lines, bands and table spreads are
    over all (seed, subset) values, with ``"seed_means"`` over the per-seed means of
    ``summary`` (:func:`~nninfo.presentation.bands.subset_values`).
    """
    check_band(band)
    check_performance_loss(performance_loss)
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    fraction = None
    if isinstance(config, ExperimentConfig):
        fraction = config.analysis.surrogates.bias_fraction
        config = config.to_dict()
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be an ExperimentConfig or a mapping (dict), got "
                        f"{type(config).__name__}")
    check_frame(summary, "summary", ["seed", "epoch", "layer"])
    check_frame(performance, "performance", ["seed", "epoch", "dataset", "loss"])
    check_frame(atoms, "atoms", ["seed", "epoch", "layer", "antichain", "degree", "average"])
    check_frame(stats, "stats", ["seed", "epoch", "layer"])
    check_frame(classes, "classes", ["seed", "epoch", "layer", "class"])
    summary = subset_values(summary, subsets, band, subset_band)
    if figures is None:
        figures = standard_figures(summary, performance, stats, band=band, classes=classes,
                                   performance_loss=performance_loss)
    bodies = {"config": _config_section(config),
              **section_bodies(summary, performance, atoms, stats, classes, band, fraction,
                               performance_loss),
              "figures": figures_section(figures, captions or {})}
    titles = section_titles()
    bodies = {k: bodies[k] for k in titles if k in bodies}
    warning = bias_warning(summary, fraction)
    banner = (f'<p class="warning">{html.escape(warning)} See '
              '<a href="#bias">Estimation bias</a>.</p>'
              if warning.startswith("Warning") else "")
    return html_page(title, _meta(summary, performance, band, _target_text(config), subset_band),
                     {k: (titles[k], b) for k, b in bodies.items()}, banner)


def write_report(path: str | Path, title: str, config: ExperimentConfig | Mapping,
                 summary: pd.DataFrame | None,
                 performance: pd.DataFrame | None, **kwargs: object) -> Path:
    """Render the report (see :func:`render_report`, also for ``classes=``) and write it to
    ``path`` (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(title, config, summary, performance, **kwargs),
                    encoding="utf-8")
    return path

"""Compare experiments: overlay figures (a colour per experiment, a panel per layer) and a
self-contained HTML report (:func:`nninfo.report.write_comparison_report`), logged to a new
run of the comparison experiment ``compare/<exp1>+<exp2>+...``.

Each experiment contributes its newest complete training run (its seeds). The run is tagged
with the compared experiments and their training runs (:data:`EXPERIMENTS_TAG`,
:data:`TRAIN_RUNS_TAG`, JSON lists in the order given) and gets the figures (PNG + PDF),
``report.html`` and ``config_differences.csv`` (the config parameters that differ). Files go
to ``<out_dir>/compare/<exp1>+<exp2>/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nninfo.plot_core import _symlog_epochs
from nninfo.plotting import (
    COMPLEXITY,
    DEFAULT_BAND,
    MUTUAL_INFORMATION,
    add_caption_note,
    aggregate_over_seeds,
    band_caption,
    check_band,
    deg_syn_columns,
    natural_key,
    save_figure,
)
from nninfo.tracking import results, runs
from nninfo.tracking.results_frames import parents

if TYPE_CHECKING:
    from nninfo.tracking.pipeline import Settings

__all__ = ["COMPARE_PREFIX", "EXPERIMENTS_TAG", "TRAIN_RUNS_TAG", "compare",
           "comparison_figures", "comparison_name", "config_differences"]

COMPARE_PREFIX = "compare/"
EXPERIMENTS_TAG = "nninfo.compare.experiments"
TRAIN_RUNS_TAG = "nninfo.compare.train_runs"
_LINESTYLES = ("-", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))  # per grouping; "--" is for surrogates
_MAX_NAME = 500  # MLflow's limit on experiment names


def comparison_name(experiments: Sequence[str]) -> str:
    """``compare/<exp1>+<exp2>...`` (MLflow's 500-character limit: cut, with a count)."""
    name = COMPARE_PREFIX + "+".join(experiments)
    if len(name) <= _MAX_NAME:
        return name
    return name[:_MAX_NAME - 20] + f"...({len(experiments)} experiments)"


def compare(experiments: Sequence[str], settings: Settings | None = None, *,
            band: str | None = None) -> Path:
    """Overlay figures and an HTML report of ``experiments`` (at least two names), logged to
    a new run of experiment :func:`comparison_name`; returns the report's path. ``band``
    (``"quantile"`` or ``"t"``): by default the experiments' ``report.band`` when they
    agree, else ``"quantile"``."""
    from nninfo import report
    from nninfo.tracking.pipeline import Settings

    names = list(dict.fromkeys([experiments] if isinstance(experiments, str) else experiments))
    if len(names) < 2:
        raise ValueError(f"experiments: {experiments!r}; compare needs at least two different "
                         "experiment names")
    settings = settings or Settings()
    pairs = parents(names, None)  # raises for an unknown experiment or incomplete training
    train_runs = [p for _, p in pairs]
    params = {name: _params(parent) for name, parent in pairs}
    band = check_band(band or _band(params))
    summary = results.load_summary(train_run=train_runs)
    perf = results.load_performance(train_run=train_runs)
    title = comparison_name(names)
    out = Path(settings.out_dir) / "compare" / re.sub(
        r"[^\w.+=-]", "_", title.removeprefix(COMPARE_PREFIX))[:200]
    c = runs.client()
    tags = {**runs.base_tags(), runs.ROLE: "entry", runs.ENTRY: "compare",
            EXPERIMENTS_TAG: json.dumps(names), TRAIN_RUNS_TAG: json.dumps(train_runs),
            runs.NOTE: "Comparison of " + ", ".join(f"{n} (training run {p})" for n, p in pairs)}
    run_id = c.create_run(runs.experiment_id(title), run_name="compare", tags=tags).info.run_id
    with runs.status_guard(run_id):
        figures = comparison_figures(summary, perf, names, band)
        for name, fig in figures.items():
            for path in save_figure(fig, out / "figures" / name):
                c.log_artifact(run_id, str(path), "figures")
        page = report.write_comparison_report(out / "report.html", title, summary, perf,
                                              figures=figures, band=band)
        c.log_artifact(run_id, str(page))
        differences = config_differences(params)
        differences.to_csv(out / "config_differences.csv", index=False)
        c.log_artifact(run_id, str(out / "config_differences.csv"))
    return page


def _params(parent: str) -> dict[str, str]:
    """The config params of the first seed run of ``parent`` (without seed and name)."""
    seeds = runs.seed_runs(parent)
    return {k: v for k, v in (seeds[0].data.params if seeds else {}).items()
            if k not in ("seed", "name")}


def _band(params: dict[str, dict[str, str]]) -> str:
    bands = {p.get("report.band", DEFAULT_BAND) for p in params.values()}
    return bands.pop() if len(bands) == 1 else DEFAULT_BAND


def config_differences(params: dict[str, dict[str, str]]) -> pd.DataFrame:
    """The parameters whose values differ between experiments (experiment -> params): a
    ``parameter`` column, then one per experiment (``""`` where it has none)."""
    keys = sorted({k for p in params.values() for k in p}, key=natural_key)
    rows = [{"parameter": k, **{n: p.get(k, "") for n, p in params.items()}} for k in keys
            if len({p.get(k) for p in params.values()}) > 1]
    return pd.DataFrame(rows, columns=["parameter", *params])


# ---------------------------------------------------------------- figures
def comparison_figures(summary: pd.DataFrame, performance: pd.DataFrame,
                       experiments: Sequence[str], band: str = DEFAULT_BAND
                       ) -> dict[str, Figure]:
    """Overlays that have data, by name: ``complexity`` (C),
    ``degree_of_synergy`` (Π_m, a panel per layer and m), ``mutual_information``
    (I(Y; L)), each a panel per layer, and ``performance`` (a panel per dataset and
    loss/accuracy); a colour per experiment, a line style per grouping; each figure's
    caption (:func:`nninfo.plotting.figure_caption`) says so and what the band is."""
    colours = {e: f"C{i % 10}" for i, e in enumerate(experiments)}
    out = {}
    if _has(summary, COMPLEXITY):
        out["complexity"] = _overlay(summary, COMPLEXITY, ["layer"], band, colours,
                                     "representational complexity $C$")
    cols = deg_syn_columns(summary) if not summary.empty else []
    if cols:
        long = _melt(summary, cols, "m", "Pi_m")
        long["m"] = "$\\Pi_{" + long["m"].str.rsplit("_", n=1).str[1] + "}$"
        out["degree_of_synergy"] = _overlay(long, "Pi_m", ["layer", "m"], band, colours,
                                            r"$\Pi_m$ [bits]")
    if _has(summary, MUTUAL_INFORMATION):
        out["mutual_information"] = _overlay(summary, MUTUAL_INFORMATION, ["layer"], band,
                                             colours, "$I(Y;L)$ [bits]")
    quantities = [q for q in ("loss", "accuracy") if _has(performance, q)]
    if quantities:
        long = _melt(performance, quantities, "quantity", "value")
        out["performance"] = _overlay(long, "value", ["quantity", "dataset"], band, colours,
                                      None)
    return out


def _has(df: pd.DataFrame, column: str) -> bool:
    return column in df.columns and bool(df[column].notna().any())


def _melt(df: pd.DataFrame, columns: list[str], var: str, value: str) -> pd.DataFrame:
    ids = [c for c in ("experiment", "seed", "epoch", "layer", "grouping", "dataset")
           if c in df.columns]
    return df[ids + columns].melt(id_vars=ids, var_name=var, value_name=value).dropna(
        subset=[value])


def _overlay(df: pd.DataFrame, value: str, panel_by: list[str], band: str,
             colours: dict[str, str], ylabel: str | None) -> Figure:
    """A panel per value of ``panel_by`` (two keys: rows and columns), in each the mean of
    ``value`` over seeds vs epoch with its band per (experiment, grouping)."""
    data = df.dropna(subset=[value])
    rows = sorted(data[panel_by[0]].unique(), key=natural_key)
    cols = sorted(data[panel_by[1]].unique(), key=natural_key) if len(panel_by) > 1 else [None]
    cells = [(r, col) for r in rows for col in cols]
    wrap = len(cols) == 1  # one panel key: rows of up to three panels
    shape = ((int(np.ceil(len(rows) / 3)), min(len(rows), 3)) if wrap
             else (len(rows), len(cols)))
    fig = Figure(figsize=(4.8 * shape[1], 3.6 * shape[0] + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(*shape, squeeze=False).ravel()
    groupings = sorted(data["grouping"].unique(), key=natural_key) if "grouping" in data else []
    styles = {g: _LINESTYLES[i % len(_LINESTYLES)] for i, g in enumerate(groupings)}
    counts, handles = [], {}
    for ax, (row, col) in zip(grid, cells, strict=False):
        part = data[data[panel_by[0]] == row]
        if col is not None:
            part = part[part[panel_by[1]] == col]
        if part.empty:
            fig.delaxes(ax)
            continue
        keys = ["experiment", "grouping"] if groupings else ["experiment"]
        agg = aggregate_over_seeds(part, value, keys, band)
        counts.append(agg["n"].to_numpy())
        for exp in (e for e in colours if e in set(agg["experiment"])):
            for grouping in groupings or [None]:
                curve = agg[agg["experiment"] == exp]
                if grouping is not None:
                    curve = curve[curve["grouping"] == grouping]
                if curve.empty:
                    continue
                x = curve["epoch"].to_numpy(dtype=float)
                label = exp if len(groupings) < 2 else f"{exp} ({grouping})"
                ax.plot(x, curve["mean"], color=colours[exp], label=label,
                        linestyle=styles.get(grouping, "-"), marker="." if len(x) < 30 else None)
                if curve["lo"].notna().any():
                    ax.fill_between(x, curve["lo"], curve["hi"], color=colours[exp],
                                    alpha=0.2, linewidth=0)
        _symlog_epochs(ax, agg["epoch"].to_numpy(dtype=float))
        ax.set_ylabel(ylabel or str(row))
        ax.set_title(str(row) if col is None else f"{row}: {col}")
        ax.grid(True, alpha=0.3)
        handles.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    for ax in grid[len(cells):]:
        fig.delaxes(ax)
    fig.legend(handles.values(), handles.keys(), loc="outside upper center",
               ncols=min(len(handles), 4), fontsize="small", title="experiment")
    n = np.concatenate(counts) if counts else np.array([0])
    caption = f"colour: experiment; {band_caption(band, int(n.min()), int(n.max()))}"
    if len(groupings) > 1:
        caption += "; line style: grouping"
    add_caption_note(fig, caption)
    return fig

"""Figures of the information measures over training, from the results API's frames.

Quantity columns are named as in :func:`nninfo.results.load_summary`:
``mutual_information`` (I(Y; L) of the label Y and a layer L, with
``mutual_information_surrogate_mean``, the mean over shuffled-label surrogates: its
estimation bias), the I^sx PID's
``pid.representational_complexity`` (``..._surrogate_mean`` at the few checkpoints with PID
surrogates) and ``pid.deg_syn_<m>``, the Shannon invariants ``shannon.avg_degree_*``, the
target-free ``shannon_entropy.avg_degree_*`` (autoencoders), Reing's ``reing.C_R_*`` and the
BROJA PID's ``broja.*`` (2-source groupings). The per-class frame (target-pointwise PID)
has a ``class`` column and ``pid.representational_complexity`` per class.

Solid lines and bands are the mean and spread over seeds (:mod:`nninfo.presentation.canvas`);
dashed lines, in the colour of their curve, are always shuffled-label surrogate means.
Labels and titles are matplotlib mathtext (``$\\Pi_2$``, ``$C_R$``); each figure's caption
(:func:`nninfo.presentation.canvas.figure_caption`) first defines its symbols. A frame with several
experiments (``experiment`` column) is drawn as an overlay (:mod:`nninfo.presentation.style`).
"""

from __future__ import annotations

import re

import pandas as pd
from matplotlib.figure import Figure

from nninfo.info.catalog import PID, MeasureEntry
from nninfo.presentation.bands import DEFAULT_BAND, SUBSET, has_values, require_columns
from nninfo.presentation.canvas import (
    add_caption_note,
    panel_grid,
    panel_per_column,
    plot_metric_over_epochs,
    split_panels,
)
from nninfo.presentation.style import EXPERIMENT, experiment_names, several_experiments

__all__ = [
    "deg_syn_columns",
    "plot_class_complexity",
    "plot_complexity",
    "plot_degree_of_synergy",
    "plot_mutual_information",
    "plot_measure",
    "pi_label",
]

MUTUAL_INFORMATION = "mutual_information"
SURROGATE_MEAN = "_surrogate_mean"
MI_SURROGATE = MUTUAL_INFORMATION + SURROGATE_MEAN
COMPLEXITY = PID.key("representational_complexity")
COMPLEXITY_SURROGATE = COMPLEXITY + SURROGATE_MEAN
DEG_SYN_PREFIX = PID.key("deg_syn_")
MI_LABEL = r"$I(Y;L)$ [bits]"
PI_LABEL = r"$\Pi_m$ [bits]"
# caption notes: mathtext without spaces (the footer wraps at spaces)
MI_NOTE = (r"$I(Y;L)$: plug-in mutual information between the label Y and the quantised "
           "layer L")
MI_DASHED_NOTE = (r"dashed: shuffled-label surrogate mean of $I(Y;L)$, the estimation bias "
                  "(mean over seeds), in its curve's colour")
_ISX = r"$I^{\mathrm{sx}}$"
C_NOTE = PID.note
C_DASHED_NOTE = (r"dashed with crosses: shuffled-label surrogate mean of $C$ (mean over "
                 "seeds), only at the checkpoints with PID surrogates, in its curve's colour")
PI_NOTE = (rf"$\Pi_m$: sum of the {_ISX} PID atoms of degree of synergy $m$ (the size of the "
           r"smallest source set in the atom's antichain), in bits; $\Sigma_m\Pi_m=I(Y;L)$")
PI_DASHED_NOTE = (r"dashed with crosses: shuffled-label surrogate mean of $\Pi_m$ (mean over "
                  "seeds), only at the checkpoints with PID surrogates, in its line's colour")
CLASS_NOTE = (r"$C$ of class y: representational complexity of the target-pointwise "
              rf"{_ISX} PID at $Y=y$")
_DEG_SYN = re.compile("^" + re.escape(DEG_SYN_PREFIX) + r"(\d+)$")


def deg_syn_columns(df: pd.DataFrame) -> list[str]:
    """The ``pid.deg_syn_<m>`` columns of ``df`` that hold data, ordered by m."""
    cols = [c for c in df.columns if _DEG_SYN.match(str(c)) and df[c].notna().any()]
    return sorted(cols, key=lambda c: int(_DEG_SYN.match(c).group(1)))


def pi_label(m: int | str) -> str:
    """``$\\Pi_2$`` (``$\\Pi_{12}$``): mathtext name of the information at synergy degree m."""
    m = str(m)
    return rf"$\Pi_{m}$" if len(m) == 1 else rf"$\Pi_{{{m}}}$"


def plot_mutual_information(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """I(Y; L) per layer over epochs (mean over seeds, with the band) and, dashed in
    the same colour, the mean over seeds of its shuffled-label surrogate mean (the
    estimation bias) where ``mutual_information_surrogate_mean`` has values."""
    require_columns(summary, ["seed", "epoch", "layer", MUTUAL_INFORMATION], "summary")
    fig = plot_metric_over_epochs(summary, MUTUAL_INFORMATION, ylabel=MI_LABEL,
                                  band=band, dashed=MI_SURROGATE,
                                  dashed_label="surrogate mean (bias)")
    fig.axes[0].set_title(r"Information $I(Y;L)$ of each layer about the label over training")
    add_caption_note(fig, MI_NOTE, lead=True)
    if has_values(summary, MI_SURROGATE):
        add_caption_note(fig, MI_DASHED_NOTE)
    return fig


def plot_complexity(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Representational complexity C (I^sx PID) per layer over epochs; where
    ``pid.representational_complexity_surrogate_mean`` has values, its mean over seeds
    dashed with markers in the same colour (it exists at a few checkpoints only)."""
    fig = plot_metric_over_epochs(summary, COMPLEXITY, ylabel="representational complexity $C$",
                                  band=band, dashed=COMPLEXITY_SURROGATE,
                                  dashed_label="surrogate mean", dashed_markers=True)
    fig.axes[0].set_title("Representational complexity $C$ of each layer over training")
    add_caption_note(fig, C_NOTE, lead=True)
    if has_values(summary, COMPLEXITY_SURROGATE):
        add_caption_note(fig, C_DASHED_NOTE)
    return fig


def _panel_keys(df: pd.DataFrame) -> list[str]:
    """``layer``, and ``grouping`` when the frame has several."""
    several = "grouping" in df.columns and df["grouping"].nunique(dropna=False) > 1
    return ["layer", "grouping"] if several else ["layer"]


def _max_cols(panels: list[tuple[str, pd.DataFrame]]) -> int:
    """A row per experiment when an overlay has at most 4 panels each; else 3 columns."""
    n_exp = len(experiment_names(pd.concat([p for _, p in panels])))
    per = len(panels) // n_exp if n_exp > 1 and len(panels) % n_exp == 0 else 3
    return per if per <= 4 else 3


def plot_class_complexity(classes: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """C of each class (target-pointwise I^sx PID) over epochs: a panel per layer (and
    grouping, if several; and experiment, if several), a colour per class."""
    require_columns(classes, ["seed", "epoch", "layer", "class", COMPLEXITY], "classes")
    data = classes.dropna(subset=[COMPLEXITY])
    if data.empty:
        raise ValueError(f"classes: column {COMPLEXITY!r} has no non-NaN values to plot")
    panels = split_panels(data, _panel_keys(data))
    fig, axes = panel_grid(len(panels), sharey=True, width=4.0, max_cols=_max_cols(panels))
    class_sets = {frozenset(part["class"].unique()) for _, part in panels}
    for j, (ax, (title, part)) in enumerate(zip(axes, panels, strict=True)):
        plot_metric_over_epochs(part, COMPLEXITY, by="class", ax=ax,
                                ylabel="$C$ of the class", band=band)
        ax.set_title(title)
        if j and len(class_sets) == 1:  # the same colours in every panel: one legend
            ax.get_legend().remove()
    fig.suptitle("Representational complexity $C$ of each class over training")
    add_caption_note(fig, CLASS_NOTE, lead=True)
    _note_experiment_rows(fig, data)
    return fig


def _synergy_long(summary: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """One row per (seed, epoch, layer, grouping, m), per subset too for per-subset rows;
    ``m`` the mathtext ``$\\Pi_{m}$``."""
    ids = [c for c in (EXPERIMENT, "seed", "epoch", "layer", "grouping", SUBSET)
           if c in summary.columns]
    long = summary[ids + cols].melt(id_vars=ids, var_name="m", value_name="Pi_m")
    long["m"] = long["m"].str.removeprefix(DEG_SYN_PREFIX).astype(int)
    sur = [c + SURROGATE_MEAN for c in cols if has_values(summary, c + SURROGATE_MEAN)]
    if sur:
        extra = summary[ids + sur].melt(id_vars=ids, var_name="m", value_name="Pi_m_surrogate")
        extra["m"] = (extra["m"].str.removeprefix(DEG_SYN_PREFIX)
                      .str.removesuffix(SURROGATE_MEAN).astype(int))
        long = long.merge(extra.dropna(subset=["Pi_m_surrogate"]), on=[*ids, "m"], how="left")
    long = long.dropna(subset=["Pi_m"])
    return long.assign(m=long["m"].map(pi_label))


def _note_experiment_rows(fig: Figure, df: pd.DataFrame) -> None:
    """Say so when panels are split by experiment (their titles name it)."""
    if several_experiments(df):
        add_caption_note(fig, "experiments: a row of panels each, named in the panel titles")


def plot_degree_of_synergy(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Π_m (sum of atoms of synergy degree m) over epochs: a panel per layer (a row per
    experiment, if several), a line per m; dashed with markers, the surrogate means
    ``pid.deg_syn_<m>_surrogate_mean`` if any."""
    require_columns(summary, ["seed", "epoch", "layer"], "summary")
    cols = deg_syn_columns(summary)
    if not cols:
        raise ValueError(f"summary has no {DEG_SYN_PREFIX}<m> column with values; "
                         f"columns: {list(summary.columns)}")
    long = _synergy_long(summary, cols)
    panel_keys = [k for k in ("layer", "grouping") if k in long.columns]
    panels = split_panels(long, panel_keys)
    fig, axes = panel_grid(len(panels), sharey=True, width=4.0, max_cols=_max_cols(panels))
    for ax, (title, part) in zip(axes, panels, strict=True):
        plot_metric_over_epochs(part, "Pi_m", by="m", ax=ax, ylabel=PI_LABEL, band=band,
                                dashed="Pi_m_surrogate" if "Pi_m_surrogate" in part else None,
                                dashed_label="surrogate mean", dashed_markers=True,
                                legend_title="")
        ax.set_title(title)
    fig.suptitle(r"Information $\Pi_m$ at each degree of synergy $m$ over training")
    add_caption_note(fig, PI_NOTE, lead=True)
    _note_experiment_rows(fig, summary)
    if "Pi_m_surrogate" in long.columns:
        add_caption_note(fig, PI_DASHED_NOTE)
    return fig


def plot_measure(summary: pd.DataFrame, entry: MeasureEntry, band: str = DEFAULT_BAND
                 ) -> Figure:
    """A catalogue measure's figure (:mod:`nninfo.info.catalog`): a panel per plotted
    quantity that has values (e.g. Reing's two C_R, the Shannon invariants' degrees of
    redundancy and vulnerability), each layer's mean over seeds with its band; the caption
    first defines the measure's symbols."""
    panels = {k: v for k, v in entry.plotted().items() if has_values(summary, k)}
    if not panels:
        raise ValueError(f"summary has none of the columns {list(entry.plotted())} with "
                         "values")
    fig = panel_per_column(summary, panels, "summary", band)
    fig.suptitle(entry.title)
    notes = [entry.note, *(q.note for q in entry.quantities
                           if q.note and entry.key(q.name) in panels)]
    add_caption_note(fig, "; ".join(notes), lead=True)
    return fig

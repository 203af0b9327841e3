"""Figures of the information measures over training, from the results API's frames.

Quantity columns are named as in :func:`nninfo.results.load_summary`:
``mutual_information`` (I(T; layer), with ``mutual_information_surrogate_mean``, the mean
over shuffled-label surrogates: its estimation bias), the I^sx PID's
``pid.representational_complexity`` (``..._surrogate_mean`` at the few checkpoints with PID
surrogates) and ``pid.deg_syn_<m>``, the Shannon invariants ``shannon.avg_degree_*``, the
target-free ``shannon_entropy.avg_degree_*`` (autoencoders), Reing's ``reing.C_R_*`` and the
BROJA PID's ``broja.*`` (2-source groupings). The per-class frame (target-pointwise PID)
has a ``class`` column and ``pid.representational_complexity`` per class.

Solid lines and bands are the mean and spread over seeds (:mod:`nninfo.plot_core`);
dashed lines, in the colour of their curve, are always shuffled-label surrogate means.
"""

from __future__ import annotations

import re

import pandas as pd
from matplotlib.figure import Figure

from nninfo.plot_core import (
    DEFAULT_BAND,
    _panel_per_column,
    _panels,
    _require,
    _split_panels,
    add_caption_note,
    has_values,
    plot_metric_over_epochs,
)

__all__ = [
    "deg_syn_columns",
    "plot_broja_complexity",
    "plot_class_complexity",
    "plot_complexity",
    "plot_degree_of_synergy",
    "plot_entropy_invariants",
    "plot_mutual_information",
    "plot_reing",
    "plot_shannon_invariants",
]

MUTUAL_INFORMATION = "mutual_information"
SURROGATE_MEAN = "_surrogate_mean"
MI_SURROGATE = MUTUAL_INFORMATION + SURROGATE_MEAN
COMPLEXITY = "pid.representational_complexity"
COMPLEXITY_SURROGATE = COMPLEXITY + SURROGATE_MEAN
DEG_SYN_PREFIX = "pid.deg_syn_"
BROJA_COMPLEXITY = "broja.representational_complexity"
REING_C_R_PUBLISHED = "reing.C_R_published"
REING_C_R_MEAN_ORDER = "reing.C_R_mean_order"
REING_C_R = {
    REING_C_R_PUBLISHED: "C_R, published post-processing",
    REING_C_R_MEAN_ORDER: "C_R, D-weighted mean order",
}
INVARIANTS = {
    "shannon.avg_degree_redundancy": "average degree of redundancy",
    "shannon.avg_degree_vulnerability": "average degree of vulnerability",
}
ENTROPY_INVARIANTS = {
    "shannon_entropy.avg_degree_redundancy": "average degree of redundancy (entropy only)",
    "shannon_entropy.avg_degree_vulnerability": "average degree of vulnerability (entropy only)",
}
MI_DASHED_NOTE = ("dashed: shuffled-label surrogate mean of I(T; layer), the estimation bias "
                  "(mean over seeds), in its layer's colour")
C_DASHED_NOTE = ("dashed with crosses: shuffled-label surrogate mean of C (mean over seeds), "
                 "only at the checkpoints with PID surrogates, in its curve's colour")
PI_DASHED_NOTE = ("dashed with crosses: shuffled-label surrogate mean of Π_m (mean over "
                  "seeds), only at the checkpoints with PID surrogates, in its line's colour")
_DEG_SYN = re.compile("^" + re.escape(DEG_SYN_PREFIX) + r"(\d+)$")


def deg_syn_columns(df: pd.DataFrame) -> list[str]:
    """The ``pid.deg_syn_<m>`` columns of ``df`` that hold data, ordered by m."""
    cols = [c for c in df.columns if _DEG_SYN.match(str(c)) and df[c].notna().any()]
    return sorted(cols, key=lambda c: int(_DEG_SYN.match(c).group(1)))


def plot_mutual_information(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """I(T; layer) per layer over epochs (mean over seeds, with the band) and, dashed in
    the same colour, the mean over seeds of its shuffled-label surrogate mean (the
    estimation bias) where ``mutual_information_surrogate_mean`` has values."""
    _require(summary, ["seed", "epoch", "layer", MUTUAL_INFORMATION], "summary")
    fig = plot_metric_over_epochs(summary, MUTUAL_INFORMATION, ylabel="I(T; layer) [bits]",
                                  band=band, dashed=MI_SURROGATE,
                                  dashed_label="surrogate mean (bias)")
    fig.axes[0].set_title("mutual information I(T; layer)")
    if has_values(summary, MI_SURROGATE):
        add_caption_note(fig, MI_DASHED_NOTE)
    return fig


def plot_complexity(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Representational complexity C (I^sx PID) per layer over epochs; where
    ``pid.representational_complexity_surrogate_mean`` has values, its mean over seeds
    dashed with markers in the same colour (it exists at a few checkpoints only)."""
    fig = plot_metric_over_epochs(summary, COMPLEXITY, ylabel="representational complexity C",
                                  band=band, dashed=COMPLEXITY_SURROGATE,
                                  dashed_label="surrogate mean", dashed_markers=True)
    fig.axes[0].set_title("representational complexity C (I^sx PID)")
    if has_values(summary, COMPLEXITY_SURROGATE):
        add_caption_note(fig, C_DASHED_NOTE)
    return fig


def plot_broja_complexity(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Representational complexity C of the BROJA PID (2-source groupings) over epochs."""
    fig = plot_metric_over_epochs(summary, BROJA_COMPLEXITY,
                                  ylabel="representational complexity C (BROJA)", band=band)
    fig.axes[0].set_title("representational complexity C (BROJA PID)")
    return fig


def _panel_keys(df: pd.DataFrame) -> list[str]:
    """``layer``, and ``grouping`` when the frame has several."""
    several = "grouping" in df.columns and df["grouping"].nunique(dropna=False) > 1
    return ["layer", "grouping"] if several else ["layer"]


def plot_class_complexity(classes: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """C of each class (target-pointwise I^sx PID) over epochs: a panel per layer (and
    grouping, if several), a colour per class."""
    _require(classes, ["seed", "epoch", "layer", "class", COMPLEXITY], "classes")
    data = classes.dropna(subset=[COMPLEXITY])
    if data.empty:
        raise ValueError(f"classes: column {COMPLEXITY!r} has no non-NaN values to plot")
    panels = _split_panels(data, _panel_keys(data))
    fig, axes = _panels(len(panels), sharey=True, width=4.0)
    class_sets = {frozenset(part["class"].unique()) for _, part in panels}
    for j, (ax, (title, part)) in enumerate(zip(axes, panels, strict=True)):
        plot_metric_over_epochs(part, COMPLEXITY, by="class", ax=ax,
                                ylabel="C of the class", band=band)
        ax.set_title(title)
        if j and len(class_sets) == 1:  # the same colours in every panel: one legend
            ax.get_legend().remove()
    fig.suptitle("representational complexity per class (target-pointwise I^sx PID)")
    return fig


def _synergy_long(summary: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    ids = [c for c in ("seed", "epoch", "layer", "grouping") if c in summary.columns]
    long = summary[ids + cols].melt(id_vars=ids, var_name="m", value_name="Pi_m")
    long["m"] = long["m"].str.removeprefix(DEG_SYN_PREFIX).astype(int)
    sur = [c + SURROGATE_MEAN for c in cols if has_values(summary, c + SURROGATE_MEAN)]
    if sur:
        extra = summary[ids + sur].melt(id_vars=ids, var_name="m", value_name="Pi_m_surrogate")
        extra["m"] = (extra["m"].str.removeprefix(DEG_SYN_PREFIX)
                      .str.removesuffix(SURROGATE_MEAN).astype(int))
        long = long.merge(extra.dropna(subset=["Pi_m_surrogate"]), on=[*ids, "m"], how="left")
    return long.dropna(subset=["Pi_m"])


def plot_degree_of_synergy(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Pi_m (sum of atoms of synergy degree m) over epochs: a panel per layer, a line per m;
    dashed with markers, the surrogate means ``pid.deg_syn_<m>_surrogate_mean`` if any."""
    _require(summary, ["seed", "epoch", "layer"], "summary")
    cols = deg_syn_columns(summary)
    if not cols:
        raise ValueError(f"summary has no {DEG_SYN_PREFIX}<m> column with values; "
                         f"columns: {list(summary.columns)}")
    long = _synergy_long(summary, cols)
    panel_keys = [k for k in ("layer", "grouping") if k in long.columns]
    panels = _split_panels(long, panel_keys)
    fig, axes = _panels(len(panels), sharey=True, width=4.0)
    for ax, (title, part) in zip(axes, panels, strict=True):
        plot_metric_over_epochs(part, "Pi_m", by="m", ax=ax, ylabel="Π_m [bits]", band=band,
                                dashed="Pi_m_surrogate" if "Pi_m_surrogate" in part else None,
                                dashed_label="surrogate mean", dashed_markers=True)
        ax.set_title(title)
    if "Pi_m_surrogate" in long.columns:
        add_caption_note(fig, PI_DASHED_NOTE)
    return fig


def plot_reing(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Reing et al.'s complexity per layer over epochs: a panel for the published
    post-processing's C_R (``reing.C_R_published``, the one of the paper's figures), then
    one for the D-weighted mean order (``reing.C_R_mean_order``), each where it has values.
    """
    present = [c for c in REING_C_R if has_values(summary, c)]
    if not present:
        raise ValueError(f"summary has none of the columns {list(REING_C_R)} with values")
    fig, axes = _panels(len(present))
    for ax, col in zip(axes, present, strict=True):
        plot_metric_over_epochs(summary, col, ax=ax, ylabel=f"Reing {REING_C_R[col]}",
                                band=band)
        ax.set_title(f"Reing {REING_C_R[col]}")
    return fig


def plot_shannon_invariants(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """The average degrees of redundancy and vulnerability about the label, a panel each
    (I(T; layer) itself, with its bias, is :func:`plot_mutual_information`)."""
    return _panel_per_column(summary, INVARIANTS, "summary", band)


def plot_entropy_invariants(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """The target-free (entropy-only) average degrees of redundancy and vulnerability per
    layer, a panel each (a layer about itself, e.g. in autoencoders)."""
    fig = _panel_per_column(summary, ENTROPY_INVARIANTS, "summary", band)
    for ax in fig.axes:
        ax.set_ylabel(ax.get_ylabel().removesuffix(" (entropy only)"))
    fig.suptitle("Shannon invariants of a layer about itself (no label)")
    return fig

"""Figures of training runs: metrics over epochs, the mean over seeds with a band.

The band (``band=``, the config's ``report.band``) is either ``"quantile"``, the 2.5-97.5 %
quantiles of the per-seed values at each epoch, as in the published figures (Ehrlich et al.
2023, ``nninfo/plot.py``, ``plot_mean_and_interval``: mean line, ``quantile_level=0.95``),
or ``"t"``, the 95 % Student-t interval of the seed mean (about half as wide for 10 seeds).
Every figure says which, and over how many seeds, in its footer (:func:`figure_caption`);
dashed lines are shuffled-label surrogate means (the estimation bias), and the footer says
so where a figure has them.

Works on the tidy pandas frames of the results API (no MLflow import). Figures are
built with :class:`matplotlib.figure.Figure` on the Agg canvas, never through pyplot,
so nothing is shown and no global figure registry grows.

This module is the public face: the machinery lives in :mod:`nninfo.presentation.canvas`, styles and
legend names in :mod:`nninfo.presentation.style`, the information-measure figures in
:mod:`nninfo.presentation.measure_figures`; here are performance and activation figures and
:func:`standard_figures`. Naming follows the package: X the input, ``L1`` .. ``Lk`` the
layers in network order, Y the label; legends say ``L3`` and ``L3 (pairs)`` (the default
grouping, every neuron a source, is not named) and ``8 levels: L3`` in an overlay of
several experiments (an ``experiment`` column).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from nninfo.config.spec import PERFORMANCE_LOSSES
from nninfo.info.catalog import entries
from nninfo.presentation.bands import (
    BANDS,
    DEFAULT_BAND,
    DEFAULT_SUBSET_BAND,
    SUBSET_BANDS,
    aggregate_over_seeds,
    band_caption,
    check_band,
    has_values,
    require_columns,
    seed_interval,
    subset_values,
)
from nninfo.presentation.canvas import (
    add_caption_note,
    figure_caption,
    panel_grid,
    panel_per_column,
    plot_metric_over_epochs,
    save_figure,
    save_figures,
)
from nninfo.presentation.measure_figures import (
    COMPLEXITY,
    MUTUAL_INFORMATION,
    deg_syn_columns,
    plot_class_complexity,
    plot_complexity,
    plot_degree_of_synergy,
    plot_measure,
    plot_mutual_information,
)

__all__ = [
    "BANDS",
    "DEFAULT_BAND",
    "DEFAULT_SUBSET_BAND",
    "SUBSET_BANDS",
    "aggregate_over_seeds",
    "band_caption",
    "check_performance_loss",
    "figure_caption",
    "plot_activation_statistics",
    "plot_class_complexity",
    "plot_complexity",
    "plot_degree_of_synergy",
    "plot_measure",
    "plot_metric_over_epochs",
    "plot_mutual_information",
    "plot_performance",
    "save_figure",
    "save_figures",
    "seed_interval",
    "standard_figures",
    "subset_values",
]

PERFORMANCE = {"loss": "Loss over training", "accuracy": "Accuracy over training"}
#: How figures and tables name the logged loss of each ``performance.loss``.
LOSS_NAMES = {"training": "loss", "published": "published (double-softmax) loss"}
PUBLISHED_LOSS_NOTE = (
    "published (double-softmax) loss (performance.loss = published): the published tester's "
    "loss, which on a softmax head is the cross-entropy of its probabilities, a second "
    "softmax, so no lower than ln(e+K-1)-1 for K classes (1.461 nats for 10) even for a "
    "perfect network; not the training loss. Accuracy does not depend on it")
_ACTIVATIONS = {  # column -> (panel title, y label)
    "entropy": ("Mean entropy of a neuron", "entropy [bits]"),
    "saturation": ("Mean saturation of a neuron", "saturation"),
    "distinct_patterns": ("Distinct activation patterns", "patterns"),
}
ACTIVATIONS_NOTE = ("entropy: plug-in entropy of a neuron's quantisation levels; saturation: "
                    "the fraction of samples at its lowest or highest level; both averaged "
                    "over the layer's neurons")


def plot_performance(performance: pd.DataFrame, band: str = DEFAULT_BAND,
                     loss: str = "training") -> Figure:
    """Loss and accuracy vs epoch, one line per dataset (and experiment, if several): a panel
    for each that has values (loss only for models without an accuracy, e.g.
    autoencoders). ``loss``: the ``performance.loss`` the losses were logged with; the
    published tester's is named so in the panel and the footer (:data:`LOSS_NAMES`)."""
    require_columns(performance, ["seed", "epoch", "dataset"], "performance")
    check_performance_loss(loss)
    present = [c for c in PERFORMANCE if has_values(performance, c)]
    if not present:
        raise ValueError(f"performance has none of the columns {list(PERFORMANCE)} with "
                         f"values; columns: {list(performance.columns)}")
    fig, axes = panel_grid(len(present))
    names = {**PERFORMANCE, "loss": f"{LOSS_NAMES[loss].capitalize()} over training"}
    for ax, col in zip(axes, present, strict=True):
        ylabel = LOSS_NAMES[loss] if col == "loss" else col
        plot_metric_over_epochs(performance, col, by="dataset", ax=ax, ylabel=ylabel, band=band)
        ax.set_title(names[col])
    if loss == "published" and "loss" in present:
        add_caption_note(fig, PUBLISHED_LOSS_NOTE, lead=True)
    return fig


def check_performance_loss(loss: str) -> None:
    """A ValueError unless ``loss`` is one of the config's ``performance.loss`` values."""
    if loss not in PERFORMANCE_LOSSES:
        raise ValueError(f"loss: {loss!r} is not one of {list(PERFORMANCE_LOSSES)} "
                         "(the config's performance.loss)")


def plot_activation_statistics(stats: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Mean (over neurons, then seeds) entropy and saturation per layer over epochs."""
    require_columns(stats, ["seed", "epoch", "layer"], "stats")
    fig = panel_per_column(stats, _ACTIVATIONS, "stats", band)
    fig.suptitle("Quantised activations of each layer over training")
    if any(has_values(stats, c) for c in ("entropy", "saturation")):
        add_caption_note(fig, ACTIVATIONS_NOTE, lead=True)
    return fig


def standard_figures(
    summary: pd.DataFrame | None,
    performance: pd.DataFrame | None,
    stats: pd.DataFrame | None = None,
    *,
    band: str = DEFAULT_BAND,
    classes: pd.DataFrame | None = None,
    performance_loss: str = "training",
    subsets: pd.DataFrame | None = None,
    subset_band: str = DEFAULT_SUBSET_BAND,
) -> dict[str, Figure]:
    """All standard figures whose data exist (columns present and not all NaN), each with
    the ``band`` over seeds (``"quantile"``: 2.5-97.5 % quantiles, the published figures;
    ``"t"``: 95 % t-interval of the mean) and a footer defining its symbols, saying what
    line and band are over how many seeds, and what any dashed (surrogate) lines are
    (:func:`figure_caption`). Frames with several experiments in an ``experiment`` column
    give overlays: a colour per experiment (:mod:`nninfo.presentation.style`).

    Names, in order: ``performance``, ``mutual_information``, ``complexity``,
    ``degree_of_synergy``, ``class_complexity`` (from ``classes``, the per-class frame),
    then the figure of each catalogue measure that has one (:mod:`nninfo.info.catalog`, in
    its order: ``shannon_invariants``, ``reing``, ``entropy_invariants``,
    ``broja_complexity``), then ``activation_statistics``. ``performance_loss``: the
    ``performance.loss`` the performance frame's losses were logged with.

    ``subsets``: random-subset groupings' per-subset values
    (:func:`nninfo.results.load_subset_summary`); with ``subset_band="values"`` (the
    published Fig. 5B) those groupings' lines and quantile bands are over all (seed, subset)
    values, with ``"seed_means"`` over the per-seed means of ``summary``
    (:func:`~nninfo.presentation.bands.subset_values`)."""
    check_band(band)
    summary = subset_values(summary, subsets, band, subset_band)
    check_performance_loss(performance_loss)
    figures: dict[str, Figure] = {}
    if any(has_values(performance, c) for c in PERFORMANCE):
        figures["performance"] = plot_performance(performance, band, performance_loss)
    if summary is not None:
        if has_values(summary, MUTUAL_INFORMATION):
            figures["mutual_information"] = plot_mutual_information(summary, band)
        if has_values(summary, COMPLEXITY):
            figures["complexity"] = plot_complexity(summary, band)
        if deg_syn_columns(summary):
            figures["degree_of_synergy"] = plot_degree_of_synergy(summary, band)
    if has_values(classes, COMPLEXITY):
        figures["class_complexity"] = plot_class_complexity(classes, band)
    for entry in (e for e in entries() if e.figure and summary is not None):
        if any(has_values(summary, key) for key in entry.plotted()):
            figures[entry.figure] = plot_measure(summary, entry, band)
    if stats is not None and any(has_values(stats, c) for c in _ACTIVATIONS):
        figures["activation_statistics"] = plot_activation_statistics(stats, band)
    return figures

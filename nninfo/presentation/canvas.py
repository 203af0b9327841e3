"""The one renderer under every figure: a metric over epochs, the mean over seeds as a line
per curve with its band (:mod:`nninfo.presentation.bands`), the captions that say what the
line and the band are, the epoch axis, panels and saving.

Dashed lines are reserved for shuffled-label surrogate means (the estimation bias): the
linestyles that tell groupings apart never include ``"--"``. A frame whose ``experiment``
column holds several experiments is drawn as an overlay, a colour per experiment
(:mod:`nninfo.presentation.style`); with one experiment the column is ignored. The
per-experiment figures and ``report --compare`` both draw through it.

Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas, never through
pyplot, so nothing is shown and no global figure registry grows.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import cbook
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter

from nninfo.presentation import style as plot_style
from nninfo.presentation.bands import (
    DEFAULT_BAND,
    aggregate_over_seeds,
    band_caption,
    has_values,
    require_columns,
    subset_caption,
    subset_groupings,
)
from nninfo.presentation.style import (
    DASHED,
    EXPERIMENT,
    curve_keys,
    curve_label,
    curve_order,
    curve_styles,
    experiment_names,
    several_experiments,
)

__all__ = [
    "add_caption_note",
    "figure_caption",
    "plot_metric_over_epochs",
    "require_columns",
    "save_figure",
    "save_figures",
]



# ---------------------------------------------------------------- captions
_SEEDS_SHOWN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NOTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FOOTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # figure -> its footer Text
_SUBSETS = "subsets"  # the key of random-subset curves in _SEEDS_SHOWN (not a band name)


def _write_footer(fig: Figure) -> None:
    _FOOTERS[fig] = fig.supxlabel(figure_caption(fig), fontsize="small", wrap=True)


def _note_seeds(fig: Figure, band: str, counts: np.ndarray) -> None:
    """Record what a curve on ``fig`` shows and write the figure's footer caption."""
    shown = _SEEDS_SHOWN.setdefault(fig, {})
    lo, hi = int(counts.min()), int(counts.max())
    if band in shown:
        lo, hi = min(lo, shown[band][0]), max(hi, shown[band][1])
    shown[band] = (lo, hi)
    _write_footer(fig)


def _note_subsets(fig: Figure, counts: np.ndarray, seeds: np.ndarray,
                  names: Sequence[str]) -> None:
    """Record a curve of random-subset values on ``fig`` (:func:`subset_caption`)."""
    shown = _SEEDS_SHOWN.setdefault(fig, {})
    lo, hi, s_lo, s_hi = int(counts.min()), int(counts.max()), int(seeds.min()), int(seeds.max())
    if _SUBSETS in shown:
        was = shown[_SUBSETS]
        lo, hi, s_lo, s_hi = min(lo, was[0]), max(hi, was[1]), min(s_lo, was[2]), max(s_hi, was[3])
        names = sorted({*was[4], *names})
    shown[_SUBSETS] = (lo, hi, s_lo, s_hi, list(names))
    _write_footer(fig)


def add_caption_note(fig: Figure, note: str, *, lead: bool = False) -> None:
    """Add ``note`` to the figure's footer caption: after the line/band part (e.g. what the
    dashed lines are), or before it with ``lead`` (what the plotted symbols mean). A note
    already there is not repeated. Mathtext (``$\\Pi_m$``) must hold no spaces: the footer
    wraps at spaces."""
    notes = _NOTES.setdefault(fig, [])
    if (lead, note) not in notes:
        notes.append((lead, note))
    _write_footer(fig)


def figure_caption(fig: Figure) -> str:
    """The footer of a figure drawn here: the leading notes (symbols), what its lines and
    bands show and over how many seeds, then the other notes (:func:`add_caption_note`);
    ``""`` for a figure without such curves or notes."""
    shown = _SEEDS_SHOWN.get(fig, {})
    notes = _NOTES.get(fig, [])
    parts = [n for lead, n in notes if lead] + [
        subset_caption(*r) if b == _SUBSETS else band_caption(b, *r) for b, r in shown.items()]
    return "; ".join(parts + [n for lead, n in notes if not lead])


# ---------------------------------------------------------------- axes and styles
def _symlog_epochs(ax: Axes, epochs: np.ndarray) -> None:
    """Symlog x axis whose linear part ends at the smallest positive epoch; 0 visible."""
    positive = epochs[epochs > 0]
    linthresh = float(positive.min()) if positive.size else 1.0
    ax.set_xscale("symlog", linthresh=linthresh, linscale=0.5)
    ax.xaxis.set_major_locator(FixedLocator(_epoch_ticks(linthresh, float(epochs.max()))))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    lo, hi = ax.get_xlim()
    if lo > 0:
        ax.set_xlim(0, hi)
    ax.set_xlabel("epoch")


def _epoch_ticks(linthresh: float, top: float) -> list[float]:
    """0, then the powers of ten from ``linthresh`` to ``top`` (so labels never collide)."""
    lo, hi = math.ceil(math.log10(linthresh)), math.floor(math.log10(max(top, linthresh)))
    decades = [10.0**k for k in range(lo, hi + 1)]
    if len(decades) < 2:
        decades = sorted({linthresh, *decades, max(top, linthresh)})
    return [0.0, *decades]


def _new_axes(ax: Axes | None, width: float = 6.0, height: float = 4.0) -> Axes:
    if ax is not None:
        return ax
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def _curves(agg: pd.DataFrame, keys: list[str]) -> Iterator[tuple[tuple, pd.DataFrame]]:
    for ident, curve in agg.groupby(keys, sort=False):
        yield (ident if isinstance(ident, tuple) else (ident,)), curve


# ---------------------------------------------------------------- core plot
def plot_metric_over_epochs(
    df: pd.DataFrame,
    value: str,
    *,
    by: str | Sequence[str] = "layer",
    ax: Axes | None = None,
    ylabel: str | None = None,
    band: str = DEFAULT_BAND,
    dashed: str | None = None,
    dashed_label: str = "surrogate mean",
    dashed_markers: bool = False,
    legend_title: str | None = None,
) -> Figure:
    """One line per curve: mean of ``value`` over seeds vs epoch, with a band.

    The band (absent with one seed) is the 2.5-97.5 % quantiles of the per-seed values
    (``band="quantile"``, the published figures) or the 95 % Student-t interval of the
    seed mean (``band="t"``); the figure's footer (its ``supxlabel``, also
    :func:`figure_caption`) says which and over how many seeds. Per-subset rows (a
    ``subset`` column, :func:`nninfo.presentation.bands.subset_values`) make the line and
    the quantile band those over all (seed, subset) values, and the footer says so. The
    epoch axis is symlog with its linear range up to the smallest positive epoch, so epoch 0
    is shown.

    A curve is a value of ``by``, with ``grouping`` after ``layer`` and, for a frame with
    several values in ``experiment``, the experiment first: then colours tell experiments
    apart and line styles and markers the rest (:mod:`nninfo.presentation.style`). ``legend_title``
    replaces the automatic one (``""``: none).

    ``dashed`` names a second column (e.g. a surrogate mean) drawn per curve as a dashed
    line in the curve's colour: its mean over seeds, no band, markers with
    ``dashed_markers``; one legend entry ``dashed_label`` explains it. Skipped when that
    column has no values. The caller says in the caption what it is
    (:func:`add_caption_note`).
    """
    keys = curve_keys(df, by)
    agg = aggregate_over_seeds(df, value, keys, band)
    if agg.empty:
        raise ValueError(f"column {value!r} has no non-NaN values to plot")
    extra = (aggregate_over_seeds(df, dashed, keys, band)
             if dashed is not None and has_values(df, dashed) else None)
    ax = _new_axes(ax)
    idents = [i for i, _ in _curves(agg, keys)]
    if extra is not None:
        idents += [i for i, _ in _curves(extra, keys) if i not in idents]
    styles = curve_styles(keys, idents, experiment_names(df))
    overlay = keys[0] == EXPERIMENT
    for ident, curve in _curves(agg, keys):
        x = curve["epoch"].to_numpy(dtype=float)
        style = dict(styles[ident])
        if "marker" not in style:
            style["marker"] = "." if len(x) < 30 else None
        else:
            style.update(markersize=4, markevery=max(1, len(x) // 12))
        ax.plot(x, curve["mean"].to_numpy(), label=curve_label(keys, ident), **style)
        if curve["lo"].notna().any():
            ax.fill_between(x, curve["lo"].to_numpy(), curve["hi"].to_numpy(),
                            color=style["color"], alpha=0.12 if overlay else 0.2,
                            linewidth=0)
    handles, _ = ax.get_legend_handles_labels()
    epochs = agg["epoch"].to_numpy(dtype=float)
    if extra is not None:
        marker = "x" if dashed_markers else None
        for ident, curve in _curves(extra, keys):
            ax.plot(curve["epoch"].to_numpy(dtype=float), curve["mean"].to_numpy(),
                    color=styles[ident]["color"], linestyle=DASHED, linewidth=1.2,
                    marker=styles[ident].get("marker", marker), markersize=4 if overlay else None,
                    markevery=max(1, len(curve) // 12),
                    label=f"_{dashed_label}: {curve_label(keys, ident)}", gid=dashed)
        handles.append(Line2D([], [], color="0.35", linestyle=DASHED,
                              marker=None if overlay else marker, label=dashed_label))
        epochs = np.concatenate([epochs, extra["epoch"].to_numpy(dtype=float)])
    _symlog_epochs(ax, epochs)
    ax.set_ylabel(ylabel or value)
    ax.grid(True, alpha=0.3)
    title = plot_style.legend_title(keys, idents) if legend_title is None else legend_title
    place = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if overlay else {}
    ax.legend(handles=handles, fontsize="small", title=title or None, **place)
    by_subset = agg["subsets"].to_numpy(dtype=bool)
    if (~by_subset).any():
        _note_seeds(ax.figure, band, agg.loc[~by_subset, "n"].to_numpy())
    if by_subset.any():
        _note_subsets(ax.figure, agg.loc[by_subset, "n"].to_numpy(),
                      agg.loc[by_subset, "seeds"].to_numpy(), subset_groupings(df, band))
    if overlay:
        rest = plot_style.legend_title(keys[1:], [i[1:] for i in idents]) or "curve"
        add_caption_note(ax.figure, f"colours: experiments; line styles and markers: {rest}")
    return ax.figure


def panel_grid(n: int, *, sharey: bool = False, width: float = 4.5,
            max_cols: int = 3) -> tuple[Figure, list[Axes]]:
    """``n`` panels in rows of at most ``max_cols``; unused grid cells are removed."""
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, 3.8 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(rows, cols, sharey=sharey, squeeze=False).ravel()
    for ax in grid[n:]:
        fig.delaxes(ax)
    return fig, list(grid[:n])


def split_panels(df: pd.DataFrame, keys: list[str]
                  ) -> list[tuple[str, pd.DataFrame]]:
    """``df`` split by the values of ``keys`` (NaN as ``""``; ``experiment`` first when
    the frame holds several), in order, each with its panel title (``L2``, ``L2 (pairs)``,
    ``8 levels: L2``)."""
    if several_experiments(df) and EXPERIMENT not in keys:
        keys = [EXPERIMENT, *keys]
    data = df.fillna({k: "" for k in keys})
    idents = sorted({tuple(r) for r in data[keys].itertuples(index=False)},
                    key=curve_order(keys, experiment_names(df)))
    out = []
    for ident in idents:
        mask = np.logical_and.reduce([data[k] == v for k, v in zip(keys, ident, strict=True)])
        out.append((curve_label(keys, ident), data[mask]))
    return out


def panel_per_column(df: pd.DataFrame, labels: dict[str, tuple[str, str]], name: str,
                      band: str) -> Figure:
    """One panel per column of ``labels`` (column -> (title, y label)) that has values,
    each over epochs per layer."""
    present = [c for c in labels if has_values(df, c)]
    if not present:
        raise ValueError(f"{name} has none of the columns {list(labels)} with values")
    fig, axes = panel_grid(len(present), width=5.0 if several_experiments(df) else 4.5)
    for ax, col in zip(axes, present, strict=True):
        title, ylabel = labels[col]
        plot_metric_over_epochs(df, col, ax=ax, ylabel=ylabel, band=band)
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------- output
SAVE_DPI = 150
"""The resolution of saved PNGs; footers are broken into lines at this width."""


def wrap_words(text: str, width: Callable[[str], float], limit: float) -> str:
    """``text`` broken at spaces into lines as matplotlib's ``wrap=True`` breaks it: each
    line the longest run of the next words (at least one) whose rendered ``width`` is at
    most ``limit``; newlines in ``text`` are kept. Each word is measured once and a line's
    length is estimated from them, so only a line or two per line is measured whole
    (matplotlib measures every prefix of every line, at every layout pass)."""
    out = []
    for paragraph in text.split("\n"):
        words = paragraph.split(" ")
        space = width("a a") - width("aa")
        while len(words) > 1:
            k, run = 1, width(words[0])
            while k < len(words) and run + space + width(words[k]) <= limit:
                run += space + width(words[k])
                k += 1
            while k > 1 and width(" ".join(words[:k])) > limit:
                k -= 1
            while k < len(words) and width(" ".join(words[:k + 1])) <= limit:
                k += 1
            out.append(" ".join(words[:k]))
            words = words[k:]
        out += words
    return "\n".join(out)


@contextlib.contextmanager
def _footer_broken(fig: Figure, dpi: float) -> Iterator[None]:
    """While the figure is saved, its wrapped footer (:func:`_write_footer`) holds its
    lines, broken once at the figure's width at ``dpi`` (:func:`wrap_words`), instead of
    wrapping itself at each layout pass of each format: a caption with mathtext is parsed
    whole for every prefix of every line, most of the time of saving a figure before. The
    PNG and the PDF then break alike."""
    label = _FOOTERS.get(fig)
    if label is None or not label.get_wrap() or not label.get_text():
        yield
        return
    text, renderer, prop = label.get_text(), RendererAgg(1, 1, dpi), label.get_fontproperties()
    measured: dict[str, float] = {}

    def width(line: str) -> float:
        if line not in measured:
            measured[line] = renderer.get_text_width_height_descent(
                line, prop, cbook.is_math_text(line))[0]
        return measured[line]

    label.set_text(wrap_words(text, width, fig.get_figwidth() * dpi))
    label.set_wrap(False)
    try:
        yield
    finally:
        label.set_text(text)
        label.set_wrap(True)


def save_figure(fig: Figure, path_stem: str | Path) -> list[Path]:
    """Write ``<path_stem>.png`` (150 dpi) and ``<path_stem>.pdf``; return both paths."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")]
    with _footer_broken(fig, SAVE_DPI):
        for path in paths:
            fig.savefig(path, dpi=SAVE_DPI, bbox_inches="tight")
    return paths


def save_figures(figures: Mapping[str, Figure], folder: str | Path) -> dict[str, list[Path]]:
    """:func:`save_figure` of each named figure as ``<folder>/<name>.png`` and ``.pdf``."""
    return {name: save_figure(fig, Path(folder) / name) for name, fig in figures.items()}

"""Figures of training runs: metrics over epochs, the mean over seeds with a band.

The band (``band=``, the config's ``report.band``) is either ``"quantile"``, the 2.5-97.5 %
quantiles of the per-seed values at each epoch, as in the published figures (Ehrlich et al.
2023, ``nninfo/plot.py``, ``plot_mean_and_interval``: mean line, ``quantile_level=0.95``),
or ``"t"``, the 95 % Student-t interval of the seed mean (about half as wide for 10 seeds).
Every figure says which, and over how many seeds, in its footer (:func:`figure_caption`).

Works on the tidy pandas frames of the results API (no MLflow import). Figures are
built with :class:`matplotlib.figure.Figure` on the Agg canvas, never through pyplot,
so nothing is shown and no global figure registry grows.

Layer naming follows the package: ``L1`` .. ``Lk`` in network order. Quantity columns are
named as in :func:`nninfo.results.load_summary`: ``mutual_information`` (I(T; layer)) and the
measures' ``pid.representational_complexity``, ``pid.deg_syn_<m>``,
``shannon.avg_degree_redundancy``, ``shannon.avg_degree_vulnerability``,
``reing.C_R_published`` and ``reing.C_R_mean_order``.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter
from scipy import stats as _stats

__all__ = [
    "BANDS",
    "aggregate_over_seeds",
    "band_caption",
    "check_band",
    "deg_syn_columns",
    "figure_caption",
    "plot_activation_statistics",
    "plot_complexity",
    "plot_degree_of_synergy",
    "plot_metric_over_epochs",
    "plot_performance",
    "plot_reing",
    "plot_shannon_invariants",
    "save_figure",
    "seed_interval",
    "standard_figures",
]

BANDS = ("quantile", "t")  # the same choices as the config's report.band
DEFAULT_BAND = "quantile"  # the published figures' band
QUANTILES = (0.025, 0.975)
CONFIDENCE = 0.95
BAND_TEXT = {
    "quantile": "2.5–97.5 % quantiles over seeds",
    "t": "95 % t-interval of the mean over seeds",
}
COMPLEXITY = "pid.representational_complexity"
DEG_SYN_PREFIX = "pid.deg_syn_"
REING_C_R_PUBLISHED = "reing.C_R_published"
REING_C_R_MEAN_ORDER = "reing.C_R_mean_order"
REING_C_R = {
    REING_C_R_PUBLISHED: "C_R, published post-processing",
    REING_C_R_MEAN_ORDER: "C_R, D-weighted mean order",
}
_DEG_SYN = re.compile("^" + re.escape(DEG_SYN_PREFIX) + r"(\d+)$")
_LINESTYLES = ("-", "--", ":", "-.")


# ---------------------------------------------------------------- helpers
_FIRST = {"train": 0, "validation": 1, "val": 1, "test": 2}


def natural_key(value: object) -> tuple:
    """Sort key: train/validation/test first, then ``L2`` before ``L10`` (digits as numbers)."""
    parts = re.split(r"(\d+)", str(value))
    return (_FIRST.get(str(value), 9), *(int(p) if p.isdigit() else p for p in parts))


def has_values(df: pd.DataFrame | None, column: str) -> bool:
    """True when ``df`` has ``column`` with at least one non-NaN value."""
    return df is not None and column in df.columns and bool(df[column].notna().any())


def deg_syn_columns(df: pd.DataFrame) -> list[str]:
    """The ``pid.deg_syn_<m>`` columns of ``df`` that hold data, ordered by m."""
    cols = [c for c in df.columns if _DEG_SYN.match(str(c)) and df[c].notna().any()]
    return sorted(cols, key=lambda c: int(_DEG_SYN.match(c).group(1)))


def _require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; present columns: {list(df.columns)}"
        )


def _curve_keys(df: pd.DataFrame, by: str | Sequence[str]) -> list[str]:
    """Columns identifying one curve; a ``grouping`` column joins ``layer``."""
    keys = [by] if isinstance(by, str) else list(by)
    if "layer" in keys and "grouping" in df.columns and "grouping" not in keys:
        keys.append("grouping")
    return keys


def check_band(band: object) -> str:
    """``band`` if it is one of :data:`BANDS`; ValueError naming the choices otherwise."""
    if not isinstance(band, str) or band not in BANDS:
        raise ValueError(f"band: {band!r} is not valid; allowed: {' or '.join(BANDS)}")
    return band


def seed_interval(values: Sequence[float] | np.ndarray, band: str) -> tuple[float, float]:
    """``(lo, hi)`` of one point's per-seed values (NaN ignored): the 2.5 % and 97.5 %
    quantiles (numpy's linear interpolation, as pandas in the published code) for
    ``band="quantile"``, mean ∓ t_{0.975, n-1}·sd/√n for ``band="t"``; NaN for < 2 seeds."""
    check_band(band)
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size < 2:
        return math.nan, math.nan
    if band == "quantile":
        lo, hi = np.quantile(v, QUANTILES)
        return float(lo), float(hi)
    half = _stats.t.ppf(0.5 + CONFIDENCE / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return float(v.mean() - half), float(v.mean() + half)


def aggregate_over_seeds(
    df: pd.DataFrame, value: str, keys: Sequence[str], band: str = DEFAULT_BAND
) -> pd.DataFrame:
    """Mean, std, count and the ``band`` limits of ``value`` over seeds.

    Rows are first averaged within (keys, epoch, seed) (e.g. over neurons), then
    across seeds. Returns columns ``keys + [epoch, mean, std, n, lo, hi]`` sorted by
    curve and epoch; ``lo``/``hi`` are the 2.5 % and 97.5 % quantiles of the per-seed
    values (``band="quantile"``) or the 95 % t-interval of their mean (``band="t"``),
    NaN where only one seed contributed.
    """
    check_band(band)
    _require(df, [*keys, "epoch", "seed", value], "frame")
    if not pd.api.types.is_numeric_dtype(df[value]):
        raise TypeError(f"column {value!r} must be numeric, got dtype {df[value].dtype}")
    data = df[[*keys, "epoch", "seed", value]].dropna(subset=[value, "epoch"])
    data = data.fillna({k: "" for k in keys})
    per_seed = data.groupby([*keys, "epoch", "seed"], sort=False)[value].mean()
    grouped = per_seed.groupby(level=[*keys, "epoch"], sort=False)
    out = grouped.agg(["mean", "std", "count"])
    if band == "quantile":  # aligned on the (keys, epoch) index; linear, as numpy's default
        out["q_lo"] = grouped.quantile(QUANTILES[0])
        out["q_hi"] = grouped.quantile(QUANTILES[1])
    out = out.reset_index().rename(columns={"count": "n"})
    n = out["n"].to_numpy(dtype=float)
    if band == "quantile":
        out["lo"] = np.where(n > 1, out.pop("q_lo"), np.nan)
        out["hi"] = np.where(n > 1, out.pop("q_hi"), np.nan)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            tcrit = _stats.t.ppf(0.5 + CONFIDENCE / 2, np.where(n > 1, n - 1, np.nan))
            half = tcrit * out["std"].to_numpy() / np.sqrt(n)
        out["lo"] = out["mean"] - half
        out["hi"] = out["mean"] + half
    order = sorted(range(len(out)), key=lambda i: (
        tuple(natural_key(out.at[i, k]) for k in keys), out.at[i, "epoch"]))
    return out.iloc[order].reset_index(drop=True)


# ---------------------------------------------------------------- captions
_SEEDS_SHOWN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def band_caption(band: str, n_min: int, n_max: int | None = None) -> str:
    """What a line and its band show: ``"line: mean over 10 seeds; band: 2.5–97.5 %
    quantiles over seeds"`` (a range ``2–3 seeds`` where points differ)."""
    check_band(band)
    n_max = n_min if n_max is None else n_max
    if n_max < 2:
        return "line: one seed (no band)"
    seeds = f"{n_min}" if n_min == n_max else f"{n_min}–{n_max}"
    text = f"line: mean over {seeds} seeds; band: {BAND_TEXT[band]}"
    return text + (" (none at points with one seed)" if n_min < 2 else "")


def _note_seeds(fig: Figure, band: str, counts: np.ndarray) -> None:
    """Record what a curve on ``fig`` shows and write the figure's footer caption."""
    shown = _SEEDS_SHOWN.setdefault(fig, {})
    lo, hi = int(counts.min()), int(counts.max())
    if band in shown:
        lo, hi = min(lo, shown[band][0]), max(hi, shown[band][1])
    shown[band] = (lo, hi)
    fig.supxlabel("; ".join(band_caption(b, *r) for b, r in shown.items()), fontsize="small")


def figure_caption(fig: Figure) -> str:
    """The footer of a figure drawn here: what its lines and bands show, over how many
    seeds (``""`` for a figure without such curves)."""
    shown = _SEEDS_SHOWN.get(fig, {})
    return "; ".join(band_caption(b, *r) for b, r in shown.items())


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


def _curve_label(keys: Sequence[str], ident: tuple) -> str:
    parts = [str(v) for v in ident if str(v) != ""]
    if len(keys) > 1 and keys[-1] == "grouping" and len(parts) > 1:
        return f"{parts[0]} ({', '.join(parts[1:])})"
    return ", ".join(parts) if parts else "all"


def _new_axes(ax: Axes | None, width: float = 6.0, height: float = 4.0) -> Axes:
    if ax is not None:
        return ax
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def _styles(keys: Sequence[str], idents: list[tuple]) -> dict[tuple, dict]:
    """Colour per first key; linestyle per ``grouping`` when that is the last key."""
    firsts = sorted({i[0] for i in idents}, key=natural_key)
    colour = {v: f"C{j % 10}" for j, v in enumerate(firsts)}
    styles = {}
    if keys[-1] == "grouping" and len(keys) > 1:
        groups = sorted({i[-1] for i in idents}, key=natural_key)
        dash = {g: _LINESTYLES[j % len(_LINESTYLES)] for j, g in enumerate(groups)}
    for ident in idents:
        style = {"color": colour[ident[0]], "linestyle": "-"}
        if keys[-1] == "grouping" and len(keys) > 1:
            style["linestyle"] = dash[ident[-1]]
        styles[ident] = style
    return styles


# ---------------------------------------------------------------- core plot
def plot_metric_over_epochs(
    df: pd.DataFrame,
    value: str,
    *,
    by: str | Sequence[str] = "layer",
    ax: Axes | None = None,
    ylabel: str | None = None,
    band: str = DEFAULT_BAND,
) -> Figure:
    """One line per group: mean of ``value`` over seeds vs epoch, with a band.

    The band (absent with one seed) is the 2.5-97.5 % quantiles of the per-seed values
    (``band="quantile"``, the published figures) or the 95 % Student-t interval of the
    seed mean (``band="t"``); the figure's footer (its ``supxlabel``, also
    :func:`figure_caption`) says which and over how many seeds. The
    epoch axis is symlog with its linear range up to the smallest positive epoch, so
    epoch 0 is shown. With a ``grouping`` column, (layer, grouping) identifies a curve.
    """
    keys = _curve_keys(df, by)
    agg = aggregate_over_seeds(df, value, keys, band)
    if agg.empty:
        raise ValueError(f"column {value!r} has no non-NaN values to plot")
    ax = _new_axes(ax)
    idents = list(dict.fromkeys(tuple(r) for r in agg[keys].itertuples(index=False)))
    styles = _styles(keys, idents)
    for ident, curve in agg.groupby(keys, sort=False):
        ident = ident if isinstance(ident, tuple) else (ident,)
        x = curve["epoch"].to_numpy(dtype=float)
        ax.plot(x, curve["mean"].to_numpy(), label=_curve_label(keys, ident),
                marker="." if len(x) < 30 else None, **styles[ident])
        if curve["lo"].notna().any():
            ax.fill_between(x, curve["lo"].to_numpy(), curve["hi"].to_numpy(),
                            color=styles[ident]["color"], alpha=0.2, linewidth=0)
    _symlog_epochs(ax, agg["epoch"].to_numpy(dtype=float))
    ax.set_ylabel(ylabel or value)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", title=" / ".join(keys))
    _note_seeds(ax.figure, band, agg["n"].to_numpy())
    return ax.figure


def _panels(n: int, *, sharey: bool = False, width: float = 4.5,
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


# ---------------------------------------------------------------- figures
def plot_performance(performance: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Loss and accuracy vs epoch, one line per dataset (two panels)."""
    _require(performance, ["seed", "epoch", "dataset", "loss", "accuracy"], "performance")
    fig, (ax_loss, ax_acc) = _panels(2)
    plot_metric_over_epochs(performance, "loss", by="dataset", ax=ax_loss, ylabel="loss",
                            band=band)
    plot_metric_over_epochs(performance, "accuracy", by="dataset", ax=ax_acc,
                            ylabel="accuracy", band=band)
    ax_loss.set_title("loss")
    ax_acc.set_title("accuracy")
    return fig


def plot_complexity(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Representational complexity C per layer over epochs."""
    fig = plot_metric_over_epochs(summary, COMPLEXITY, ylabel="representational complexity C",
                                  band=band)
    fig.axes[0].set_title("representational complexity")
    return fig


def _synergy_long(summary: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    ids = [c for c in ("seed", "epoch", "layer", "grouping") if c in summary.columns]
    long = summary[ids + cols].melt(id_vars=ids, var_name="m", value_name="Pi_m")
    long["m"] = long["m"].str.removeprefix(DEG_SYN_PREFIX).astype(int)
    return long.dropna(subset=["Pi_m"])


def plot_degree_of_synergy(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Pi_m (sum of atoms of synergy degree m) over epochs: a panel per layer, a line per m."""
    _require(summary, ["seed", "epoch", "layer"], "summary")
    cols = deg_syn_columns(summary)
    if not cols:
        raise ValueError(f"summary has no {DEG_SYN_PREFIX}<m> column with values; "
                         f"columns: {list(summary.columns)}")
    long = _synergy_long(summary, cols)
    panel_keys = [k for k in ("layer", "grouping") if k in long.columns]
    long = long.fillna({k: "" for k in panel_keys})
    panels = sorted({tuple(r) for r in long[panel_keys].itertuples(index=False)},
                    key=lambda t: tuple(natural_key(v) for v in t))
    fig, axes = _panels(len(panels), sharey=True, width=4.0)
    for ax, ident in zip(axes, panels, strict=True):
        mask = np.logical_and.reduce([long[k] == v for k, v in zip(panel_keys, ident,
                                                                    strict=True)])
        plot_metric_over_epochs(long[mask], "Pi_m", by="m", ax=ax, ylabel="Π_m [bits]",
                                band=band)
        ax.set_title(_curve_label(panel_keys, ident))
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


_INVARIANTS = {
    "mutual_information": "I(T; layer) [bits]",
    "shannon.avg_degree_redundancy": "average degree of redundancy",
    "shannon.avg_degree_vulnerability": "average degree of vulnerability",
}


def plot_shannon_invariants(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """I(T; layer) and the average degrees of redundancy and vulnerability, a panel each."""
    return _panel_per_column(summary, _INVARIANTS, "summary", band)


_ACTIVATIONS = {
    "entropy": "mean neuron entropy [bits]",
    "saturation": "mean saturation",
    "distinct_patterns": "distinct activation patterns",
}


def plot_activation_statistics(stats: pd.DataFrame, band: str = DEFAULT_BAND) -> Figure:
    """Mean (over neurons, then seeds) entropy and saturation per layer over epochs."""
    _require(stats, ["seed", "epoch", "layer"], "stats")
    return _panel_per_column(stats, _ACTIVATIONS, "stats", band)


def _panel_per_column(df: pd.DataFrame, labels: dict[str, str], name: str,
                      band: str) -> Figure:
    """One panel per column of ``labels`` that has values, each over epochs per layer."""
    present = [c for c in labels if has_values(df, c)]
    if not present:
        raise ValueError(f"{name} has none of the columns {list(labels)} with values")
    fig, axes = _panels(len(present))
    for ax, col in zip(axes, present, strict=True):
        plot_metric_over_epochs(df, col, ax=ax, ylabel=labels[col], band=band)
        ax.set_title(labels[col])
    return fig


# ---------------------------------------------------------------- output
def save_figure(fig: Figure, path_stem: str | Path) -> list[Path]:
    """Write ``<path_stem>.png`` (150 dpi) and ``<path_stem>.pdf``; return both paths."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return paths


def standard_figures(
    summary: pd.DataFrame | None,
    performance: pd.DataFrame | None,
    stats: pd.DataFrame | None = None,
    *,
    band: str = DEFAULT_BAND,
) -> dict[str, Figure]:
    """All standard figures whose data exist (columns present and not all NaN), each with
    the ``band`` over seeds (``"quantile"``: 2.5-97.5 % quantiles, the published figures;
    ``"t"``: 95 % t-interval of the mean) and a footer saying so (:func:`figure_caption`)."""
    check_band(band)
    figures: dict[str, Figure] = {}
    if has_values(performance, "loss") and has_values(performance, "accuracy"):
        figures["performance"] = plot_performance(performance, band)
    if summary is not None:
        if has_values(summary, COMPLEXITY):
            figures["complexity"] = plot_complexity(summary, band)
        if deg_syn_columns(summary):
            figures["degree_of_synergy"] = plot_degree_of_synergy(summary, band)
        if any(has_values(summary, c) for c in REING_C_R):
            figures["reing"] = plot_reing(summary, band)
        if any(has_values(summary, c) for c in _INVARIANTS):
            figures["shannon_invariants"] = plot_shannon_invariants(summary, band)
    if stats is not None and any(has_values(stats, c) for c in _ACTIVATIONS):
        figures["activation_statistics"] = plot_activation_statistics(stats, band)
    return figures

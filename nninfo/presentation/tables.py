"""The tables of the HTML report (:mod:`nninfo.presentation.report`): formatting, the
final-epoch table with the spread over seeds, the top PID atoms and the estimation-bias counts.

A cell shows ``mean ± h`` over seeds, h from the same band as the figures' (``band=``):
half the distance between the 2.5 % and 97.5 % quantiles of the per-seed values
(``"quantile"``) or the half-width of the 95 % t-interval of the seed mean (``"t"``); h has
2 significant digits and the mean the same decimal places (:mod:`nninfo.presentation.numbers`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from nninfo.info.catalog import COUNT_QUANTITIES, PID
from nninfo.presentation.bands import (
    DEFAULT_BAND,
    band_units,
    check_band,
    has_values,
    seed_interval,
)
from nninfo.presentation.measure_figures import (
    COMPLEXITY,
    COMPLEXITY_SURROGATE,
    MI_SURROGATE,
    MUTUAL_INFORMATION,
)
from nninfo.presentation.numbers import format_mean_spread, format_number, mathtext_html
from nninfo.presentation.style import EXPERIMENT, curve_order, experiment_names, natural_key

__all__ = ["P_LEVEL", "bias_table", "final_epoch_table", "is_integer_quantity",
           "pid_surrogate_table", "top_atoms"]

TOP_ATOMS = 10
P_LEVEL = 0.05  # the permutation test's level in the bias table
BIAS_FLAG = "bias_dominated"
P_VALUE = "mutual_information_p_value"
PID_MI = PID.key("mutual_information")
PID_MI_SURROGATE = PID_MI + "_surrogate_mean"


# ---------------------------------------------------------------- formatting
def _fmt(x: object) -> str:
    return format_number(x)




def mean_spread_cell(values: Sequence[float] | np.ndarray | pd.Series, band: str,
            integer: bool = False) -> str:
    """One cell: ``mean ± h`` of the per-seed values (NaN ignored; :func:`spread_text`),
    h to 2 significant digits (:func:`~nninfo.presentation.numbers.format_mean_spread`); just the
    mean for one seed, ``—`` for none."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float,
                                                                   na_value=np.nan)
    v = v[~np.isnan(v)]
    if not v.size:
        return "—"
    mean = float(v.mean())
    if v.size < 2:
        return format_mean_spread(mean, math.nan, integer=integer)
    lo, hi = seed_interval(v, band)
    half = (hi - lo) / 2 if band == "quantile" else hi - mean
    return format_mean_spread(mean, half, integer=integer)


def is_integer_quantity(df: pd.DataFrame, column: str) -> bool:
    """True for integer columns (int dtype) and counts such as ``distinct_patterns``."""
    return column in COUNT_QUANTITIES or pd.api.types.is_integer_dtype(df[column])


def seed_count(df: pd.DataFrame) -> int | tuple[int, int]:
    """Seeds in ``df``: a count, or the (fewest, most) of its experiments."""
    if EXPERIMENT not in df.columns or df[EXPERIMENT].nunique() < 2:
        return int(df["seed"].nunique())
    counts = df.groupby(EXPERIMENT)["seed"].nunique()
    return int(counts.min()), int(counts.max())


def html_table(df: pd.DataFrame, text_cols: Sequence[str] = (), caption: str | None = None) -> str:
    """An escaped HTML table of ``df`` (cells rendered with
    :func:`~nninfo.presentation.numbers.format_number`, headers as mathtext), with an optional
    ``<caption>``."""
    if df.empty:
        return '<p class="empty">no data</p>'

    def cell(tag: str, col: str, value: object) -> str:
        cls = ' class="text"' if col in text_cols else ""
        return f"<{tag}{cls}>{html.escape(_fmt(value))}</{tag}>"

    def header(col: str) -> str:
        cls = ' class="text"' if col in text_cols else ""
        return f"<th{cls}>{mathtext_html(col)}</th>"

    head = "".join(header(c) for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(cell("td", c, v) for c, v in zip(df.columns, r, strict=True)) + "</tr>"
        for r in df.itertuples(index=False)
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def empty_note(message: str) -> str:
    return f'<p class="empty">{html.escape(message)}</p>'


# ---------------------------------------------------------------- tables
def _final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows at each seed's last epoch (a seed of each experiment, if there are several)."""
    seed = [EXPERIMENT, "seed"] if EXPERIMENT in df.columns else ["seed"]
    last = df.fillna({EXPERIMENT: ""} if len(seed) > 1 else {}).groupby(seed)[
        "epoch"].transform("max")
    return df[df["epoch"] == last]


def final_epoch_table(
    df: pd.DataFrame, keys: Sequence[str], values: Sequence[str], band: str = DEFAULT_BAND
) -> pd.DataFrame:
    """Mean over seeds with the ``band``'s spread (:func:`spread_text`), at each seed's final
    epoch, of ``values`` per ``keys``.

    Rows are first averaged within (keys, seed), within (keys, seed, subset) for the
    per-subset rows of random-subset groupings with ``band="quantile"``
    (:func:`~nninfo.presentation.bands.band_units`: mean and spread over all (seed, subset)
    values). Columns: keys, ``epoch`` (the final epoch, a range if seeds differ), ``seeds``
    and one formatted column per value; integer quantities (:func:`is_integer_quantity`)
    without decimals. Put ``experiment`` in ``keys`` for a frame of several experiments.
    """
    check_band(band)
    values = [v for v in values if has_values(df, v)]
    integer = {v: is_integer_quantity(df, v) for v in values}
    final, units = band_units(_final_rows(df).fillna({k: "" for k in keys}), band)
    per_seed = final.groupby([*keys, *units])[[*values, "epoch"]].mean().reset_index()
    rows = []
    for ident, grp in per_seed.groupby(list(keys), sort=False):
        ident = ident if isinstance(ident, tuple) else (ident,)
        lo, hi = grp["epoch"].min(), grp["epoch"].max()
        row = dict(zip(keys, ident, strict=True))
        row["epoch"] = _fmt(float(lo)) if lo == hi else f"{_fmt(float(lo))}–{_fmt(float(hi))}"
        row["seeds"] = int(grp["seed"].nunique())
        for v in values:
            row[v] = mean_spread_cell(grp[v], band, integer[v])
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*keys, "epoch", "seeds", *values])
    return sorted_rows(out, keys, experiment_names(df))


def sorted_rows(df: pd.DataFrame, keys: Sequence[str], experiments: Sequence[str] = ()
          ) -> pd.DataFrame:
    """Rows in natural order of ``keys`` (experiments in the order given)."""
    ident = curve_order(keys, experiments)
    order = sorted(range(len(df)), key=lambda i: ident(tuple(df.iloc[i][k] for k in keys)))
    return df.iloc[order].reset_index(drop=True)


def layer_keys(df: pd.DataFrame) -> list[str]:
    return ["layer", "grouping"] if "grouping" in df.columns else ["layer"]


def top_atoms(atoms: pd.DataFrame, k: int = TOP_ATOMS, band: str = DEFAULT_BAND
              ) -> pd.DataFrame:
    """The ``k`` atoms of largest |mean average| per layer at each seed's final epoch, each
    value as the mean over seeds with the ``band``'s spread (:func:`spread_text`)."""
    check_band(band)
    keys = layer_keys(atoms)
    final = _final_rows(atoms).fillna({c: "" for c in keys})
    values = [v for v in ("average", "informative", "misinformative") if v in final.columns]
    grp = final.groupby([*keys, "antichain", "degree"])
    # the k largest first, then their cells: a 5-source layer has 7,579 atoms, 10 shown
    size = grp["average"].mean().abs().rename("_abs").reset_index()
    top = size.sort_values("_abs", ascending=False, kind="stable").groupby(keys, sort=False).head(k)
    chosen = list(top[[*keys, "antichain", "degree"]].itertuples(index=False, name=None))
    out = top.copy()
    for v in values:
        out[v] = [mean_spread_cell(grp.get_group(key)[v], band) for key in chosen]
    out = out[[*keys, "antichain", "degree", *values, "_abs"]]
    return sorted_rows(out, keys).drop(columns="_abs")



# ---------------------------------------------------------------- estimation bias
def rows_with(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of ``df`` with a value in any of ``columns`` (those present)."""
    cols = [c for c in columns if c in df.columns]
    return df[df[cols].notna().any(axis=1)] if cols else df.iloc[:0]


def value_keys(df: pd.DataFrame) -> list[str]:
    """``layer``, and ``grouping`` when ``df`` (e.g. the rows with a value) has several."""
    several = "grouping" in df.columns and df["grouping"].nunique(dropna=False) > 1
    return ["layer", "grouping"] if several else ["layer"]


def bias_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per layer, over all (seed, checkpoint) pairs with a shuffled-label surrogate of I:
    ``pairs`` (how many), ``bias-dominated`` (how many have ``bias_dominated`` = 1),
    ``max surrogate mean / I`` (the largest ratio; ∞ where I = 0 < surrogate mean),
    ``tested`` (pairs with a permutation p-value) and ``p < 0.05`` (how many of those).

    The flag is the one the analysis logged (the rule lives there, with the run's
    ``analysis.surrogates.bias_fraction``); without logged flags the count is NaN. A layer
    with several groupings measured gets a row each."""
    data = rows_with(summary, [MI_SURROGATE, BIAS_FLAG, P_VALUE])
    cols = ["pairs", "bias-dominated", "max surrogate mean / I", "tested", f"p < {P_LEVEL:g}"]
    keys = value_keys(data)
    if data.empty:
        return pd.DataFrame(columns=[*keys, *cols])
    data = data.fillna({k: "" for k in keys})
    mi = _column(data, MUTUAL_INFORMATION)
    sur = _column(data, MI_SURROGATE)
    p = _column(data, P_VALUE)
    flag = _column(data, BIAS_FLAG)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mi > 0, sur / mi, np.where(sur > 0, np.inf, np.nan))
    frame = data[keys].assign(_sur=sur, _flag=flag, _ratio=ratio, _p=p)
    rows = []
    for ident, grp in frame.groupby(keys, sort=False):
        ident = ident if isinstance(ident, tuple) else (ident,)
        flags, ratios, ps = (grp[c].to_numpy(dtype=float) for c in ("_flag", "_ratio", "_p"))
        known = ~np.isnan(flags)
        rows.append({
            **dict(zip(keys, ident, strict=True)),
            "pairs": int(max(known.sum(), (~np.isnan(grp["_sur"].to_numpy())).sum())),
            "bias-dominated": int((flags[known] > 0.5).sum()) if known.any() else np.nan,
            "max surrogate mean / I": (float(np.nanmax(ratios)) if (~np.isnan(ratios)).any()
                                       else np.nan),
            "tested": int((~np.isnan(ps)).sum()),
            f"p < {P_LEVEL:g}": int((ps[~np.isnan(ps)] < P_LEVEL).sum()),
        })
    return sorted_rows(pd.DataFrame(rows, columns=[*keys, *cols]), keys)


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    """``df[name]`` as floats, all NaN when the column is absent."""
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)


PID_SURROGATE_VALUES = [PID_MI, PID_MI_SURROGATE, COMPLEXITY, COMPLEXITY_SURROGATE]


def pid_surrogate_table(summary: pd.DataFrame, band: str = DEFAULT_BAND) -> pd.DataFrame:
    """At each checkpoint with PID surrogates, per layer (and grouping): I and C of the
    I^sx PID next to their shuffled-label surrogate means, as the mean over the seeds there
    with the ``band``'s spread. Columns: keys, ``epoch``, ``seeds``, then those values."""
    check_band(band)
    data = rows_with(summary, [COMPLEXITY_SURROGATE, PID_MI_SURROGATE])
    keys = value_keys(data)
    values = [v for v in PID_SURROGATE_VALUES if has_values(data, v)]
    if data.empty:
        return pd.DataFrame(columns=[*keys, "epoch", "seeds", *values])
    data, units = band_units(data.fillna({k: "" for k in keys}), band)
    per_seed = data.groupby([*keys, "epoch", *units])[values].mean().reset_index()
    rows = []
    for ident, grp in per_seed.groupby([*keys, "epoch"], sort=False):
        row = dict(zip([*keys, "epoch"], ident, strict=True))
        row["seeds"] = int(grp["seed"].nunique())
        row.update({v: mean_spread_cell(grp[v], band) for v in values})
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*keys, "epoch", "seeds", *values])
    order = sorted(range(len(out)), key=lambda i: (
        tuple(natural_key(out.iloc[i][k]) for k in keys), float(out.iloc[i]["epoch"])))
    return out.iloc[order].reset_index(drop=True)

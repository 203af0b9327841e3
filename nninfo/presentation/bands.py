"""Seed statistics: the mean over seeds and the band around it, and the words that say which.

The band (the config's ``report.band``) is either ``"quantile"``, the 2.5-97.5 % quantiles of
the per-seed values at each point, as in the published figures (Ehrlich et al. 2023,
``nninfo/plot.py``, ``plot_mean_and_interval``: mean line, ``quantile_level=0.95``), or
``"t"``, the 95 % Student-t interval of the seed mean (about half as wide for 10 seeds).
Figures, report tables, the config and the parent-run aggregates all read it here; this
module needs no matplotlib.

Groupings of random subsets (``kind: random_subsets``; Fig. 5B of the paper) have a value per
(seed, subset) at each point. The published figure concatenates every subset's summary of
every run and draws ``plot_mean_and_interval`` over all of them (notebook
``tmlr_scripts/3_tmlr_mnist_4levels_onehot.ipynb``, cell 20; ``nninfo/plot.py`` lines
133-144): the line is the mean and the band the 2.5-97.5 % quantiles over all (seed, subset)
values, 520 for 20 seeds and 26 subsets. That is the default here (the config's
``report.subset_band: values``, :func:`subset_values`); ``seed_means`` draws the band over
the per-seed means over subsets instead, much narrower. The line is the same either way
wherever every seed has every subset's value (equal weights); where some are NaN (C where a
subset's I = 0) the mean over all values skips them, as the published pandas mean does. The
``t`` band is always that of the mean of the per-seed means: a seed's subsets are not
independent samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _stats

from nninfo.presentation.style import curve_order, experiment_names

BANDS = ("quantile", "t")  # the choices of the config's report.band
DEFAULT_BAND = "quantile"  # the published figures' band
QUANTILES = (0.025, 0.975)
CONFIDENCE = 0.95
BAND_TEXT = {
    "quantile": "2.5–97.5 % quantiles over seeds",
    "t": "95 % t-interval of the mean over seeds",
}
SUBSET_BANDS = ("values", "seed_means")  # the choices of the config's report.subset_band
DEFAULT_SUBSET_BAND = "values"  # the published Fig. 5B: over every (seed, subset) value
SUBSET = "subset"  # the column of a random-subset grouping's per-subset rows
SUBSET_BAND_TEXT = "2.5–97.5 % quantiles over all (seed, subset) values"


def check_subset_band(subset_band: object) -> str:
    """``subset_band`` if it is one of :data:`SUBSET_BANDS`; ValueError naming the choices."""
    if not isinstance(subset_band, str) or subset_band not in SUBSET_BANDS:
        raise ValueError(f"subset_band: {subset_band!r} is not valid; allowed: "
                         f"{' or '.join(SUBSET_BANDS)}")
    return subset_band


def subset_values(summary: pd.DataFrame | None, subsets: pd.DataFrame | None,
                  band: str = DEFAULT_BAND, subset_band: str = DEFAULT_SUBSET_BAND
                  ) -> pd.DataFrame | None:
    """The frame the figures and tables draw: ``summary`` (one row per seed, checkpoint,
    layer and grouping; a random-subset grouping's row holds means over its subsets) with
    those rows replaced by ``subsets``' rows (the same columns and a ``subset`` column, e.g.
    :func:`nninfo.results.load_subset_summary`) for ``band="quantile"`` and
    ``subset_band="values"``: then :func:`aggregate_over_seeds` and the tables take each
    (seed, subset) value as one value of the band. ``summary`` unchanged otherwise, or
    without per-subset rows. A (seed, checkpoint, layer, grouping) without per-subset rows
    keeps its row."""
    check_band(band)
    check_subset_band(subset_band)
    if (summary is None or subsets is None or subsets.empty or band != "quantile"
            or subset_band != "values"):
        return summary
    require_columns(subsets, ["seed", "epoch", "layer", "grouping", SUBSET], "subsets")
    match = [c for c in ("experiment", "run_id", "seed", "step", "epoch", "layer", "grouping")
             if c in summary.columns and c in subsets.columns]
    have = pd.MultiIndex.from_frame(subsets[match].drop_duplicates())
    replaced = pd.MultiIndex.from_frame(summary[match]).isin(have)
    rows = subsets[[c for c in subsets.columns if c in summary.columns or c == SUBSET]]
    out = pd.concat([summary[~replaced], rows], ignore_index=True)
    out[SUBSET] = pd.to_numeric(out[SUBSET]).astype("Int64")
    return out


def band_units(df: pd.DataFrame, band: str = DEFAULT_BAND) -> tuple[pd.DataFrame, list[str]]:
    """``df`` and the columns whose values make one value of the band: ``seed``, and
    ``subset`` for ``band="quantile"`` when ``df`` has per-subset rows (other rows get
    subset -1, one value per seed)."""
    if band != "quantile" or SUBSET not in df.columns or not df[SUBSET].notna().any():
        return df, ["seed"]
    return df.assign(**{SUBSET: pd.to_numeric(df[SUBSET]).fillna(-1)}), ["seed", SUBSET]


def subset_groupings(df: pd.DataFrame | None, band: str = DEFAULT_BAND) -> list[str]:
    """The groupings whose rows in ``df`` are per-subset values drawn as such (the band's
    values are (seed, subset) pairs): none for ``band="t"``."""
    if df is None or band != "quantile" or SUBSET not in df.columns:
        return []
    rows = df[df[SUBSET].notna()]
    if rows.empty:
        return []
    names = rows["grouping"].dropna().astype(str) if "grouping" in rows.columns else []
    return sorted(set(names)) or ["random subsets"]


def subset_text(df: pd.DataFrame | None, band: str = DEFAULT_BAND) -> str:
    """What a table's cells of random-subset groupings are, e.g. ``"; random5 (random
    subsets): mean and quantiles over all (seed, subset) values, 26 subsets per seed"``;
    ``""`` when ``df`` has no per-subset rows drawn as such."""
    names = subset_groupings(df, band)
    if not names:
        return ""
    rows = df[df[SUBSET].notna()]
    keys = [c for c in ("experiment", "seed", "step", "layer", "grouping") if c in rows.columns]
    per = rows.groupby(keys)[SUBSET].nunique() if keys else rows[SUBSET].nunique()
    lo, hi = (int(per.min()), int(per.max())) if keys else (int(per), int(per))
    count = f"{lo}" if lo == hi else f"{lo}–{hi}"
    return (f"; {', '.join(names)} (random subsets): mean and quantiles over all (seed, "
            f"subset) values, {count} subset{'s' * (hi != 1)} per seed")
def has_values(df: pd.DataFrame | None, column: str) -> bool:
    """True when ``df`` has ``column`` with at least one non-NaN value."""
    return df is not None and column in df.columns and bool(df[column].notna().any())


def require_columns(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; present columns: {list(df.columns)}"
        )


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
    across seeds (``experiment`` belongs in ``keys`` when the frame holds several).
    Returns columns ``keys + [epoch, mean, std, n, lo, hi, seeds, subsets]`` sorted by
    curve and epoch; ``lo``/``hi`` are the 2.5 % and 97.5 % quantiles of the per-seed
    values (``band="quantile"``) or the 95 % t-interval of their mean (``band="t"``), NaN
    where only one value contributed.

    Per-subset rows (a ``subset`` column, :func:`subset_values`) are, for
    ``band="quantile"``, each one value: the line is their mean and the band their quantiles
    over all (seed, subset) pairs, as in the published Fig. 5B; ``n`` counts values,
    ``seeds`` seeds, ``subsets`` is True at such points. For ``band="t"`` they are averaged
    within each seed first.
    """
    check_band(band)
    require_columns(df, [*keys, "epoch", "seed", value], "frame")
    if not pd.api.types.is_numeric_dtype(df[value]):
        raise TypeError(f"column {value!r} must be numeric, got dtype {df[value].dtype}")
    df, units = band_units(df, band)
    data = df[[*keys, "epoch", *units, value]].dropna(subset=[value, "epoch"])
    data = data.fillna({k: "" for k in keys})
    per_seed = data.groupby([*keys, "epoch", *units], sort=False)[value].mean()
    grouped = per_seed.groupby(level=[*keys, "epoch"], sort=False)
    out = grouped.agg(["mean", "std", "count"])
    seeds = per_seed.index.get_level_values("seed")
    out["seeds"] = pd.Series(seeds, index=per_seed.index).groupby(
        level=[*keys, "epoch"], sort=False).nunique()
    if SUBSET in units:
        is_subset = np.asarray(per_seed.index.get_level_values(SUBSET) >= 0, dtype=bool)
        out["subsets"] = pd.Series(is_subset, index=per_seed.index).groupby(
            level=[*keys, "epoch"], sort=False).any().astype(bool)
    else:
        out["subsets"] = False
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
    ident = curve_order(keys, experiment_names(df))
    order = sorted(range(len(out)), key=lambda i: (
        ident(tuple(out.at[i, k] for k in keys)), out.at[i, "epoch"]))
    out = out[[c for c in out.columns if c not in ("seeds", "subsets")] + ["seeds", "subsets"]]
    return out.iloc[order].reset_index(drop=True)


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


def subset_caption(n_min: int, n_max: int, seeds_min: int, seeds_max: int,
                   names: Sequence[str]) -> str:
    """What a random-subset grouping's line and band show: ``"random5 (random subsets):
    line: mean over 520 (seed, subset) values of 20 seeds; band: 2.5–97.5 % quantiles over
    all (seed, subset) values"``."""
    lead = f"{', '.join(names)} (random subsets): "
    if n_max < 2:
        return lead + "line: one value (no band)"
    values = f"{n_min}" if n_min == n_max else f"{n_min}–{n_max}"
    seeds = f"{seeds_min}" if seeds_min == seeds_max else f"{seeds_min}–{seeds_max}"
    return (f"{lead}line: mean over {values} (seed, subset) values of {seeds} "
            f"seed{'s' * (seeds_max != 1)}; band: {SUBSET_BAND_TEXT}")


SPREAD_TEXT = {
    "quantile": "mean ± h over seeds: h is half the distance between the 2.5 % and 97.5 % "
                "quantiles of the per-seed values",
    "t": "mean ± h over seeds: h is the half-width of the 95 % t-interval of the mean of "
         "the per-seed values",
}


def spread_text(band: str, n_seeds: int | tuple[int, int] | None = None) -> str:
    """What a table cell shows, e.g. ``"mean ± h over seeds: h is half the distance between
    the 2.5 % and 97.5 % quantiles of the per-seed values (10 seeds)"``; ``n_seeds`` a
    count or a ``(fewest, most)`` range."""
    text = SPREAD_TEXT[check_band(band)]
    if n_seeds is None:
        return text
    lo, hi = n_seeds if isinstance(n_seeds, tuple) else (n_seeds, n_seeds)
    count = f"{lo}" if lo == hi else f"{lo}–{hi}"
    return f"{text} ({count} seed{'s' * (hi != 1)})"

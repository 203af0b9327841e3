"""Seed statistics: the mean over seeds and the band around it, and the words that say which.

The band (the config's ``report.band``) is either ``"quantile"``, the 2.5-97.5 % quantiles of
the per-seed values at each point, as in the published figures (Ehrlich et al. 2023,
``nninfo/plot.py``, ``plot_mean_and_interval``: mean line, ``quantile_level=0.95``), or
``"t"``, the 95 % Student-t interval of the seed mean (about half as wide for 10 seeds).
Figures, report tables, the config and the parent-run aggregates all read it here; this
module needs no matplotlib.
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
    Returns columns ``keys + [epoch, mean, std, n, lo, hi]`` sorted by curve and epoch;
    ``lo``/``hi`` are the 2.5 % and 97.5 % quantiles of the per-seed values
    (``band="quantile"``) or the 95 % t-interval of their mean (``band="t"``), NaN where
    only one seed contributed.
    """
    check_band(band)
    require_columns(df, [*keys, "epoch", "seed", value], "frame")
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
    ident = curve_order(keys, experiment_names(df))
    order = sorted(range(len(out)), key=lambda i: (
        ident(tuple(out.at[i, k] for k in keys)), out.at[i, "epoch"]))
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

"""A self-contained HTML report of one experiment (all seeds).

One page, inline CSS, figures embedded as base64 PNG, no external resources: it opens
offline and can be logged as a single MLflow artifact. Tables show, at each seed's final
epoch, the mean over seeds with the same spread as the figures' band (``band=``, the config's
``report.band``): ``mean [2.5 %, 97.5 %]`` quantiles of the per-seed values
(``"quantile"``, the published figures' band) or ``mean ± h``, h the half-width of the 95 %
t-interval of the seed mean (``"t"``); every table's caption and every figure's caption say
which, and over how many seeds. Built from the tidy frames of the results API.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from nninfo import __version__
from nninfo.plotting import (
    BAND_TEXT,
    COMPLEXITY,
    DEFAULT_BAND,
    DEG_SYN_PREFIX,
    REING_C_R,
    check_band,
    deg_syn_columns,
    figure_caption,
    has_values,
    natural_key,
    seed_interval,
    standard_figures,
)

__all__ = ["render_report", "write_report", "final_epoch_table", "spread_text", "top_atoms"]

TOP_ATOMS = 10
SECTIONS = {
    "config": "Configuration",
    "performance": "Performance",
    "complexity": "Representational complexity",
    "atoms": "PID atoms",
    "invariants": "Shannon invariants",
    "activations": "Activation statistics",
    "figures": "Figures",
}
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 color:#1d2330;background:#f6f7f9;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 3rem;background:#fff;
 box-shadow:0 0 12px rgba(0,0,0,.06)}
h1{margin:.2rem 0 .3rem;font-size:1.7rem}
h2{margin-top:2.2rem;padding-bottom:.25rem;border-bottom:2px solid #dfe3ea;font-size:1.3rem}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
nav a{margin-right:1rem;color:#2457a6;text-decoration:none;font-size:.92rem}
.meta{color:#5b6578;font-size:.9rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #dfe3ea;padding:.28rem .6rem;text-align:right}
th{background:#eef1f6}
td.text,th.text{text-align:left}
tbody tr:nth-child(even){background:#fafbfc}
pre{background:#f2f4f7;padding:.8rem;overflow:auto;font-size:.85rem}
figure{margin:1.2rem 0}
figure img{max-width:100%;border:1px solid #eceff3}
figcaption{color:#5b6578;font-size:.9rem}
caption{caption-side:top;text-align:left;color:#5b6578;font-size:.85rem;padding:.2rem 0}
.empty{color:#8a93a3;font-style:italic}
"""


# ---------------------------------------------------------------- formatting
def _fmt(x: object) -> str:
    if isinstance(x, float | np.floating):
        return "—" if math.isnan(x) else f"{x:.4g}"
    return str(x)


_SPREAD = {
    "quantile": "mean [2.5 %, 97.5 %] over seeds: the mean and the 2.5–97.5 % quantiles "
                "of the per-seed values",
    "t": "mean ± h over seeds: h is the half-width of the 95 % t-interval of the mean",
}


def spread_text(band: str, n_seeds: int | None = None) -> str:
    """What a table cell shows, e.g. ``"mean [2.5 %, 97.5 %] over seeds: ... (3 seeds)"``."""
    text = _SPREAD[check_band(band)]
    return text if n_seeds is None else f"{text} ({n_seeds} seed{'s' * (n_seeds != 1)})"


def _spread(values: Sequence[float] | np.ndarray | pd.Series, band: str) -> str:
    """One cell: ``mean [q2.5, q97.5]`` or ``mean ± h`` of the per-seed values (NaN
    ignored); just the mean for one seed, ``—`` for none."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if not v.size:
        return "—"
    mean = float(v.mean())
    if v.size < 2:
        return _fmt(mean)
    lo, hi = seed_interval(v, band)
    if band == "quantile":
        return f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]"
    return f"{_fmt(mean)} ± {_fmt(hi - mean)}"


def _n_seeds(df: pd.DataFrame) -> int:
    return int(df["seed"].nunique())


def _table(df: pd.DataFrame, text_cols: Sequence[str] = (), caption: str | None = None) -> str:
    """An escaped HTML table of ``df`` (all cells rendered with :func:`_fmt`), with an
    optional ``<caption>``."""
    if df.empty:
        return '<p class="empty">no data</p>'

    def cell(tag: str, col: str, value: object) -> str:
        cls = ' class="text"' if col in text_cols else ""
        return f"<{tag}{cls}>{html.escape(_fmt(value))}</{tag}>"

    head = "".join(cell("th", c, c) for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(cell("td", c, v) for c, v in zip(df.columns, r, strict=True)) + "</tr>"
        for r in df.itertuples(index=False)
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _empty(message: str) -> str:
    return f'<p class="empty">{html.escape(message)}</p>'


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
        return _empty("no configuration given")
    table = pd.DataFrame(_flatten(plain), columns=["parameter", "value"])
    dump = yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)
    return (_table(table, text_cols=["parameter", "value"])
            + "<details><summary>YAML</summary><pre>"
            + html.escape(dump) + "</pre></details>")


# ---------------------------------------------------------------- tables
def _final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows at each seed's last epoch."""
    last = df.groupby("seed")["epoch"].transform("max")
    return df[df["epoch"] == last]


def final_epoch_table(
    df: pd.DataFrame, keys: Sequence[str], values: Sequence[str], band: str = DEFAULT_BAND
) -> pd.DataFrame:
    """Mean over seeds with the ``band``'s spread (:func:`spread_text`), at each seed's final
    epoch, of ``values`` per ``keys``.

    Rows are first averaged within (keys, seed). Columns: keys, ``epoch`` (the final
    epoch, a range if seeds differ), ``seeds`` and one formatted column per value.
    """
    check_band(band)
    values = [v for v in values if has_values(df, v)]
    final = _final_rows(df).fillna({k: "" for k in keys})
    per_seed = final.groupby([*keys, "seed"])[[*values, "epoch"]].mean().reset_index()
    rows = []
    for ident, grp in per_seed.groupby(list(keys), sort=False):
        ident = ident if isinstance(ident, tuple) else (ident,)
        lo, hi = grp["epoch"].min(), grp["epoch"].max()
        row = dict(zip(keys, ident, strict=True))
        row["epoch"] = _fmt(float(lo)) if lo == hi else f"{_fmt(float(lo))}–{_fmt(float(hi))}"
        row["seeds"] = int(grp["seed"].nunique())
        for v in values:
            row[v] = _spread(grp[v], band)
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*keys, "epoch", "seeds", *values])
    return _sort(out, keys)


def _sort(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    order = sorted(range(len(df)), key=lambda i: tuple(natural_key(df.iloc[i][k]) for k in keys))
    return df.iloc[order].reset_index(drop=True)


def _max_complexity(summary: pd.DataFrame, keys: list[str], band: str) -> pd.DataFrame:
    """Per curve: max over epochs of C, mean and spread over seeds."""
    data = summary.dropna(subset=[COMPLEXITY]).fillna({k: "" for k in keys})
    per_seed = data.groupby([*keys, "seed"])[COMPLEXITY].max()
    stats = per_seed.groupby(level=keys).agg(lambda x: _spread(x, band)).rename("max C")
    return stats.reset_index()


def _layer_keys(df: pd.DataFrame) -> list[str]:
    return ["layer", "grouping"] if "grouping" in df.columns else ["layer"]


def _complexity_section(summary: pd.DataFrame | None, band: str) -> str:
    if not has_values(summary, COMPLEXITY):
        return _empty("representational complexity was not computed")
    keys = _layer_keys(summary)
    final = final_epoch_table(summary, keys, [COMPLEXITY], band)
    final = final.rename(columns={COMPLEXITY: "final C"})
    table = final.merge(_max_complexity(summary, keys, band), on=keys, how="left")
    caption = spread_text(band, _n_seeds(summary))
    body = ("<p>final C: at each seed's last epoch; max C: each seed's maximum over "
            "epochs.</p>" + _table(_sort(table, keys), text_cols=keys, caption=caption))
    syn = deg_syn_columns(summary)
    if syn:
        pi = final_epoch_table(summary, keys, syn, band)
        pi = pi.rename(columns={c: "Π_" + c.removeprefix(DEG_SYN_PREFIX) for c in syn})
        body += "<h3>Degree of synergy Π_m [bits] at the final epoch</h3>"
        body += _table(pi, text_cols=keys, caption=caption)
    return body


def top_atoms(atoms: pd.DataFrame, k: int = TOP_ATOMS, band: str = DEFAULT_BAND
              ) -> pd.DataFrame:
    """The ``k`` atoms of largest |mean average| per layer at each seed's final epoch, each
    value as the mean over seeds with the ``band``'s spread (:func:`spread_text`)."""
    check_band(band)
    keys = _layer_keys(atoms)
    final = _final_rows(atoms).fillna({c: "" for c in keys})
    values = [v for v in ("average", "informative", "misinformative") if v in final.columns]
    grp = final.groupby([*keys, "antichain", "degree"])
    mean = grp[values].mean()
    out = pd.DataFrame(index=mean.index)
    for v in values:
        out[v] = grp[v].agg(lambda x: _spread(x, band))
    out["_abs"] = mean["average"].abs()
    out = out.reset_index().sort_values("_abs", ascending=False, kind="stable")
    out = out.groupby(keys, sort=False).head(k)
    out = _sort(out, keys).drop(columns="_abs")
    return out


def _atoms_section(atoms: pd.DataFrame | None, band: str) -> str:
    if atoms is None or not has_values(atoms, "average"):
        return _empty("no PID atoms were logged")
    table = top_atoms(atoms, band=band)
    intro = (f"<p>The {TOP_ATOMS} atoms of largest |mean average| per layer at the final "
             "epoch, in bits.</p>")
    return intro + _table(table, text_cols=[*_layer_keys(atoms), "antichain"],
                          caption=spread_text(band, _n_seeds(atoms)))


_INVARIANT_COLS = ["mutual_information", "shannon.avg_degree_redundancy",
                   "shannon.avg_degree_vulnerability", *REING_C_R]


def _invariants_section(summary: pd.DataFrame | None, band: str) -> str:
    cols = [c for c in _INVARIANT_COLS if has_values(summary, c)]
    if not cols:
        return _empty("no Shannon invariants were computed")
    keys = _layer_keys(summary)
    body = ""
    if any(c in REING_C_R for c in cols):
        body = ("<p>reing.C_R_published: the published post-processing's "
                "Σ_{k=1}^{n-1} k·C(k‖k+1) / Σ_{k=1}^{n-1} C(k‖k+1), C(k‖k+1) = C_k − C_(k+1); "
                "reing.C_R_mean_order: Σ_{k=1}^{n} k·(C_(k−1) − C_k) / I(T; S).</p>")
    return body + _table(final_epoch_table(summary, keys, cols, band), text_cols=keys,
                         caption=spread_text(band, _n_seeds(summary)))


def _activations_section(stats: pd.DataFrame | None, band: str) -> str:
    cols = [c for c in ("entropy", "saturation", "distinct_patterns") if has_values(stats, c)]
    if not cols:
        return _empty("no activation statistics were logged")
    intro = "<p>Averaged over the neurons of a layer, then over seeds.</p>"
    return intro + _table(final_epoch_table(stats, ["layer"], cols, band), text_cols=["layer"],
                          caption=spread_text(band, _n_seeds(stats)))


def _performance_section(performance: pd.DataFrame | None, band: str) -> str:
    if performance is None or performance.empty:
        return _empty("no performance metrics were logged")
    table = final_epoch_table(performance, ["dataset"], ["loss", "accuracy"], band)
    return _table(table, text_cols=["dataset"],
                  caption=spread_text(band, _n_seeds(performance)))


# ---------------------------------------------------------------- figures
def _figure_png(fig: Figure | Path) -> str:
    """Base64 PNG of a figure, or of a PNG file already rendered (no second rendering)."""
    if isinstance(fig, Path):
        return base64.b64encode(fig.read_bytes()).decode("ascii")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figures_section(figures: Mapping[str, Figure | Path],
                     captions: Mapping[str, str]) -> str:
    if not figures:
        return _empty("no figures")
    parts = []
    for name, fig in figures.items():
        if isinstance(fig, Path) and fig.suffix != ".png":
            raise ValueError(f"figures[{name!r}]: {str(fig)!r} is not a .png file")
        if not isinstance(fig, Figure | Path):
            raise TypeError(f"figures[{name!r}] must be a matplotlib Figure or a PNG path, "
                            f"got {type(fig).__name__}")
        title = html.escape(str(name).replace("_", " "))
        note = captions.get(name) or (figure_caption(fig) if isinstance(fig, Figure) else "")
        caption = f"{title}. {html.escape(note)}" if note else title
        parts.append(f'<figure id="fig-{html.escape(str(name), quote=True)}">'
                     f'<img alt="{title}" src="data:image/png;base64,{_figure_png(fig)}">'
                     f"<figcaption>{caption}</figcaption></figure>")
    return "".join(parts)


# ---------------------------------------------------------------- page
def _check_frame(df: object, name: str, required: Sequence[str]) -> None:
    if df is None:
        return
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame or None, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; present: {list(df.columns)}")


def _meta(summary: pd.DataFrame | None, performance: pd.DataFrame | None, band: str) -> str:
    frames = [f for f in (summary, performance) if f is not None and not f.empty]
    seeds = sorted({s for f in frames for s in f["seed"].dropna().unique()}, key=natural_key)
    text = (f"{len(seeds)} seed(s): {', '.join(map(str, seeds)) or '—'} · spread over seeds "
            f"(report.band = {band}): {BAND_TEXT[band]} · nninfo {__version__}")
    return f'<p class="meta">{html.escape(text)}</p>'


def render_report(
    title: str,
    config: Mapping,
    summary: pd.DataFrame | None,
    performance: pd.DataFrame | None,
    atoms: pd.DataFrame | None = None,
    stats: pd.DataFrame | None = None,
    figures: Mapping[str, Figure | Path] | None = None,
    *,
    band: str = DEFAULT_BAND,
    captions: Mapping[str, str] | None = None,
) -> str:
    """One self-contained HTML page: config, final-epoch tables and embedded figures.

    ``figures=None`` draws :func:`nninfo.plotting.standard_figures`; pass ``{}`` for none.
    A figure may also be the path of a PNG already written (it is embedded as is).
    ``band`` (``"quantile"`` or ``"t"``) is the spread over seeds that the tables show and
    that figures drawn here shade; ``captions`` (name -> text) say what each figure's lines
    and bands show (by default :func:`nninfo.plotting.figure_caption` of each Figure).
    """
    check_band(band)
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping (dict), got {type(config).__name__}")
    _check_frame(summary, "summary", ["seed", "epoch", "layer"])
    _check_frame(performance, "performance", ["seed", "epoch", "dataset", "loss", "accuracy"])
    _check_frame(atoms, "atoms", ["seed", "epoch", "layer", "antichain", "degree", "average"])
    _check_frame(stats, "stats", ["seed", "epoch", "layer"])
    if figures is None:
        figures = standard_figures(summary, performance, stats, band=band)
    bodies = {
        "config": _config_section(config),
        "performance": _performance_section(performance, band),
        "complexity": _complexity_section(summary, band),
        "atoms": _atoms_section(atoms, band),
        "invariants": _invariants_section(summary, band),
        "activations": _activations_section(stats, band),
        "figures": _figures_section(figures, captions or {}),
    }
    if stats is None:
        del bodies["activations"]
    nav = "".join(f'<a href="#{k}">{SECTIONS[k]}</a>' for k in bodies)
    sections = "".join(f'<section id="{k}"><h2>{SECTIONS[k]}</h2>{b}</section>'
                       for k, b in bodies.items())
    esc = html.escape(title)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc}</title><style>{_CSS}</style></head><body><main>"
            f"<h1>{esc}</h1>{_meta(summary, performance, band)}<nav>{nav}</nav>{sections}"
            "</main></body></html>\n")


def write_report(path: str | Path, title: str, config: Mapping, summary: pd.DataFrame | None,
                 performance: pd.DataFrame | None, **kwargs: object) -> Path:
    """Render the report (see :func:`render_report`) and write it to ``path`` (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(title, config, summary, performance, **kwargs),
                    encoding="utf-8")
    return path

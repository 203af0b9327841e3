"""A self-contained HTML report of one experiment (all seeds).

One page, inline CSS, figures embedded as base64 PNG, no external resources: it opens
offline and can be logged as a single MLflow artifact. Tables show mean ± std over
seeds at each seed's final epoch. Built from the tidy frames of the results API.
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
    COMPLEXITY,
    DEG_SYN_PREFIX,
    REING_C_R,
    deg_syn_columns,
    has_values,
    natural_key,
    standard_figures,
)

__all__ = ["render_report", "write_report", "final_epoch_table", "top_atoms"]

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
.empty{color:#8a93a3;font-style:italic}
"""


# ---------------------------------------------------------------- formatting
def _fmt(x: object) -> str:
    if isinstance(x, float | np.floating):
        return "—" if math.isnan(x) else f"{x:.4g}"
    return str(x)


def _pm(mean: float, std: float, n: int) -> str:
    """``mean ± std`` (sample std over seeds); just the mean for one seed."""
    if math.isnan(mean):
        return "—"
    return _fmt(mean) if n < 2 or math.isnan(std) else f"{_fmt(mean)} ± {_fmt(std)}"


def _table(df: pd.DataFrame, text_cols: Sequence[str] = ()) -> str:
    """An escaped HTML table of ``df`` (all cells rendered with :func:`_fmt`)."""
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
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


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
    df: pd.DataFrame, keys: Sequence[str], values: Sequence[str]
) -> pd.DataFrame:
    """Mean ± std over seeds, at each seed's final epoch, of ``values`` per ``keys``.

    Rows are first averaged within (keys, seed). Columns: keys, ``epoch`` (the final
    epoch, a range if seeds differ), ``seeds`` and one formatted column per value.
    """
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
            col = grp[v].dropna()
            row[v] = _pm(col.mean(), col.std(), len(col)) if len(col) else "—"
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*keys, "epoch", "seeds", *values])
    return _sort(out, keys)


def _sort(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    order = sorted(range(len(df)), key=lambda i: tuple(natural_key(df.iloc[i][k]) for k in keys))
    return df.iloc[order].reset_index(drop=True)


def _max_complexity(summary: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per curve: max over epochs of C, mean ± std over seeds."""
    data = summary.dropna(subset=[COMPLEXITY]).fillna({k: "" for k in keys})
    per_seed = data.groupby([*keys, "seed"])[COMPLEXITY].max()
    stats = per_seed.groupby(level=keys).agg(["mean", "std", "count"]).reset_index()
    stats["max C"] = [_pm(m, s, n) for m, s, n in stats[["mean", "std", "count"]].to_numpy()]
    return stats[[*keys, "max C"]]


def _layer_keys(df: pd.DataFrame) -> list[str]:
    return ["layer", "grouping"] if "grouping" in df.columns else ["layer"]


def _complexity_section(summary: pd.DataFrame | None) -> str:
    if not has_values(summary, COMPLEXITY):
        return _empty("representational complexity was not computed")
    keys = _layer_keys(summary)
    final = final_epoch_table(summary, keys, [COMPLEXITY])
    final = final.rename(columns={COMPLEXITY: "final C"})
    table = final.merge(_max_complexity(summary, keys), on=keys, how="left")
    body = ("<p>final C: at each seed's last epoch; max C: each seed's maximum over epochs; "
            "mean ± std over seeds.</p>" + _table(_sort(table, keys), text_cols=keys))
    syn = deg_syn_columns(summary)
    if syn:
        pi = final_epoch_table(summary, keys, syn)
        pi = pi.rename(columns={c: "Π_" + c.removeprefix(DEG_SYN_PREFIX) for c in syn})
        body += "<h3>Degree of synergy Π_m [bits] at the final epoch</h3>"
        body += _table(pi, text_cols=keys)
    return body


def top_atoms(atoms: pd.DataFrame, k: int = TOP_ATOMS) -> pd.DataFrame:
    """The ``k`` atoms of largest |mean average| per layer at each seed's final epoch."""
    keys = _layer_keys(atoms)
    final = _final_rows(atoms).fillna({c: "" for c in keys})
    values = [v for v in ("average", "informative", "misinformative") if v in final.columns]
    grp = final.groupby([*keys, "antichain", "degree"])[values]
    mean, std, n = grp.mean(), grp.std(), grp.count()
    out = pd.DataFrame(index=mean.index)
    for v in values:
        out[v] = [_pm(m, s, c) for m, s, c in zip(mean[v], std[v], n[v], strict=True)]
    out["_abs"] = mean["average"].abs()
    out = out.reset_index().sort_values("_abs", ascending=False, kind="stable")
    out = out.groupby(keys, sort=False).head(k)
    out = _sort(out, keys).drop(columns="_abs")
    return out


def _atoms_section(atoms: pd.DataFrame | None) -> str:
    if atoms is None or not has_values(atoms, "average"):
        return _empty("no PID atoms were logged")
    table = top_atoms(atoms)
    intro = (f"<p>The {TOP_ATOMS} atoms of largest |average| per layer at the final epoch; "
             "mean ± std over seeds, in bits.</p>")
    return intro + _table(table, text_cols=[*_layer_keys(atoms), "antichain"])


_INVARIANT_COLS = ["mutual_information", "shannon.avg_degree_redundancy",
                   "shannon.avg_degree_vulnerability", REING_C_R]


def _invariants_section(summary: pd.DataFrame | None) -> str:
    cols = [c for c in _INVARIANT_COLS if has_values(summary, c)]
    if not cols:
        return _empty("no Shannon invariants were computed")
    keys = _layer_keys(summary)
    return _table(final_epoch_table(summary, keys, cols), text_cols=keys)


def _activations_section(stats: pd.DataFrame | None) -> str:
    cols = [c for c in ("entropy", "saturation", "distinct_patterns") if has_values(stats, c)]
    if not cols:
        return _empty("no activation statistics were logged")
    intro = "<p>Averaged over the neurons of a layer, then mean ± std over seeds.</p>"
    return intro + _table(final_epoch_table(stats, ["layer"], cols), text_cols=["layer"])


def _performance_section(performance: pd.DataFrame | None) -> str:
    if performance is None or performance.empty:
        return _empty("no performance metrics were logged")
    table = final_epoch_table(performance, ["dataset"], ["loss", "accuracy"])
    return _table(table, text_cols=["dataset"])


# ---------------------------------------------------------------- figures
def _figure_png(fig: Figure | Path) -> str:
    """Base64 PNG of a figure, or of a PNG file already rendered (no second rendering)."""
    if isinstance(fig, Path):
        return base64.b64encode(fig.read_bytes()).decode("ascii")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figures_section(figures: Mapping[str, Figure | Path]) -> str:
    if not figures:
        return _empty("no figures")
    parts = []
    for name, fig in figures.items():
        if isinstance(fig, Path) and fig.suffix != ".png":
            raise ValueError(f"figures[{name!r}]: {str(fig)!r} is not a .png file")
        if not isinstance(fig, Figure | Path):
            raise TypeError(f"figures[{name!r}] must be a matplotlib Figure or a PNG path, "
                            f"got {type(fig).__name__}")
        caption = html.escape(str(name).replace("_", " "))
        parts.append(f'<figure id="fig-{html.escape(str(name), quote=True)}">'
                     f'<img alt="{caption}" src="data:image/png;base64,{_figure_png(fig)}">'
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


def _meta(summary: pd.DataFrame | None, performance: pd.DataFrame | None) -> str:
    frames = [f for f in (summary, performance) if f is not None and not f.empty]
    seeds = sorted({s for f in frames for s in f["seed"].dropna().unique()}, key=natural_key)
    text = f"{len(seeds)} seed(s): {', '.join(map(str, seeds)) or '—'} · nninfo {__version__}"
    return f'<p class="meta">{html.escape(text)}</p>'


def render_report(
    title: str,
    config: Mapping,
    summary: pd.DataFrame | None,
    performance: pd.DataFrame | None,
    atoms: pd.DataFrame | None = None,
    stats: pd.DataFrame | None = None,
    figures: Mapping[str, Figure | Path] | None = None,
) -> str:
    """One self-contained HTML page: config, final-epoch tables and embedded figures.

    ``figures=None`` draws :func:`nninfo.plotting.standard_figures`; pass ``{}`` for none.
    A figure may also be the path of a PNG already written (it is embedded as is).
    """
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
        figures = standard_figures(summary, performance, stats)
    bodies = {
        "config": _config_section(config),
        "performance": _performance_section(performance),
        "complexity": _complexity_section(summary),
        "atoms": _atoms_section(atoms),
        "invariants": _invariants_section(summary),
        "activations": _activations_section(stats),
        "figures": _figures_section(figures),
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
            f"<h1>{esc}</h1>{_meta(summary, performance)}<nav>{nav}</nav>{sections}"
            "</main></body></html>\n")


def write_report(path: str | Path, title: str, config: Mapping, summary: pd.DataFrame | None,
                 performance: pd.DataFrame | None, **kwargs: object) -> Path:
    """Render the report (see :func:`render_report`) and write it to ``path`` (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(title, config, summary, performance, **kwargs),
                    encoding="utf-8")
    return path

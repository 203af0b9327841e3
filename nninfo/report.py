"""A self-contained HTML report of one experiment (all seeds).

One page, inline CSS, figures embedded as base64 PNG, no external resources: it opens
offline and can be logged as a single MLflow artifact. Tables show, at each seed's final
epoch, the mean over seeds with the same spread as the figures' band (``band=``, the config's
``report.band``): ``mean [2.5 %, 97.5 %]`` quantiles of the per-seed values
(``"quantile"``, the published figures' band) or ``mean ± h``, h the half-width of the 95 %
t-interval of the seed mean (``"t"``); every table's caption and every figure's caption say
which, and over how many seeds. The "Estimation bias" section counts, per layer, the
(seed, checkpoint) pairs whose plug-in I is dominated by its shuffled-label surrogate mean,
and a warning at the top of the page names those layers. Built from the tidy frames of the
results API; the tables are built in :mod:`nninfo.report_tables`.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from nninfo import __version__
from nninfo.plotting import (
    BAND_TEXT,
    DEFAULT_BAND,
    check_band,
    figure_caption,
    natural_key,
    standard_figures,
)
from nninfo.report_sections import bias_warning, config_bias_fraction, section_bodies
from nninfo.report_tables import (
    _empty,
    _table,
    bias_table,
    final_epoch_table,
    pid_surrogate_table,
    spread_text,
    top_atoms,
)

__all__ = ["bias_table", "final_epoch_table", "pid_surrogate_table", "render_report",
           "spread_text", "top_atoms", "write_report"]

SECTIONS = {
    "config": "Configuration",
    "performance": "Performance",
    "bias": "Estimation bias",
    "complexity": "Representational complexity",
    "classes": "Per-class complexity",
    "atoms": "PID atoms",
    "invariants": "Shannon invariants",
    "entropy": "Entropy-only Shannon invariants",
    "broja": "BROJA PID",
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
section{overflow-x:auto}
.warning{background:#fff4e5;border-left:5px solid #d9480f;padding:.55rem .9rem;
 color:#7a2800;font-weight:600}
"""

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
    classes: pd.DataFrame | None = None,
) -> str:
    """One self-contained HTML page: config, final-epoch tables, the estimation bias and
    embedded figures.

    ``figures=None`` draws :func:`nninfo.plotting.standard_figures`; pass ``{}`` for none.
    A figure may also be the path of a PNG already written (it is embedded as is).
    ``band`` (``"quantile"`` or ``"t"``) is the spread over seeds that the tables show and
    that figures drawn here shade; ``captions`` (name -> text) say what each figure's lines
    and bands show (by default :func:`nninfo.plotting.figure_caption` of each Figure).
    ``classes`` is the per-class frame (target-pointwise PID: a ``class`` column). The
    performance frame may lack accuracy (loss only). Sections for per-class C, the
    entropy-only invariants, BROJA and activation statistics appear only with their data.
    """
    check_band(band)
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping (dict), got {type(config).__name__}")
    _check_frame(summary, "summary", ["seed", "epoch", "layer"])
    _check_frame(performance, "performance", ["seed", "epoch", "dataset", "loss"])
    _check_frame(atoms, "atoms", ["seed", "epoch", "layer", "antichain", "degree", "average"])
    _check_frame(stats, "stats", ["seed", "epoch", "layer"])
    _check_frame(classes, "classes", ["seed", "epoch", "layer", "class"])
    if figures is None:
        figures = standard_figures(summary, performance, stats, band=band, classes=classes)
    fraction = config_bias_fraction(config)
    bodies = {"config": _config_section(config),
              **section_bodies(summary, performance, atoms, stats, classes, band, fraction),
              "figures": _figures_section(figures, captions or {})}
    bodies = {k: bodies[k] for k in SECTIONS if k in bodies}
    warning = bias_warning(summary, fraction)
    banner = (f'<p class="warning">{html.escape(warning)} See '
              '<a href="#bias">Estimation bias</a>.</p>'
              if warning.startswith("Warning") else "")
    nav = "".join(f'<a href="#{k}">{SECTIONS[k]}</a>' for k in bodies)
    sections = "".join(f'<section id="{k}"><h2>{SECTIONS[k]}</h2>{b}</section>'
                       for k, b in bodies.items())
    esc = html.escape(title)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc}</title><style>{_CSS}</style></head><body><main>"
            f"<h1>{esc}</h1>{_meta(summary, performance, band)}<nav>{nav}</nav>{banner}"
            f"{sections}</main></body></html>\n")


def write_report(path: str | Path, title: str, config: Mapping, summary: pd.DataFrame | None,
                 performance: pd.DataFrame | None, **kwargs: object) -> Path:
    """Render the report (see :func:`render_report`, also for ``classes=``) and write it to
    ``path`` (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(title, config, summary, performance, **kwargs),
                    encoding="utf-8")
    return path

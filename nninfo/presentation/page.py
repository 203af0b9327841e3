"""The shell shared by the HTML reports (:mod:`nninfo.presentation.report`): inline CSS, embedded
figures with their captions (mathtext turned into HTML), input checks and the page itself.
Self-contained: no external resources, so a page opens offline."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from nninfo.presentation.canvas import figure_caption
from nninfo.presentation.numbers import mathtext_html
from nninfo.presentation.tables import empty_note

__all__ = ["check_frame", "figures_section", "html_page"]

CSS = """
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
td{white-space:nowrap}
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


# ---------------------------------------------------------------- figures
def figure_png(fig: Figure | Path) -> str:
    """Base64 PNG of a figure, or of a PNG file already rendered (no second rendering)."""
    if isinstance(fig, Path):
        return base64.b64encode(fig.read_bytes()).decode("ascii")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figures_section(figures: Mapping[str, Figure | Path],
                    captions: Mapping[str, str]) -> str:
    """The figures as ``<figure>`` elements with embedded PNGs; each caption is
    ``captions[name]`` or the figure's own (:func:`nninfo.presentation.canvas.figure_caption`)."""
    if not figures:
        return empty_note("no figures")
    parts = []
    for name, fig in figures.items():
        if isinstance(fig, Path) and fig.suffix != ".png":
            raise ValueError(f"figures[{name!r}]: {str(fig)!r} is not a .png file")
        if not isinstance(fig, Figure | Path):
            raise TypeError(f"figures[{name!r}] must be a matplotlib Figure or a PNG path, "
                            f"got {type(fig).__name__}")
        title = html.escape(str(name).replace("_", " "))
        note = captions.get(name) or (figure_caption(fig) if isinstance(fig, Figure) else "")
        caption = f"{title}. {mathtext_html(note)}" if note else title
        parts.append(f'<figure id="fig-{html.escape(str(name), quote=True)}">'
                     f'<img alt="{title}" src="data:image/png;base64,{figure_png(fig)}">'
                     f"<figcaption>{caption}</figcaption></figure>")
    return "".join(parts)


def check_frame(df: object, name: str, required: Sequence[str]) -> None:
    """Nothing for ``None``; TypeError unless a DataFrame; ValueError naming missing columns."""
    if df is None:
        return
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame or None, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; present: {list(df.columns)}")


def html_page(title: str, meta: str, sections: Mapping[str, tuple[str, str]],
              banner: str = "") -> str:
    """The whole page: ``title`` (escaped here), the ``meta`` HTML under it, a navigation
    bar, ``banner`` HTML and ``sections`` (id -> (heading, body HTML))."""
    nav = "".join(f'<a href="#{k}">{html.escape(h)}</a>' for k, (h, _) in sections.items())
    body = "".join(f'<section id="{k}"><h2>{html.escape(h)}</h2>{b}</section>'
                   for k, (h, b) in sections.items())
    esc = html.escape(title)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc}</title><style>{CSS}</style></head><body><main>"
            f"<h1>{esc}</h1>{meta}<nav>{nav}</nav>{banner}{body}</main></body></html>\n")

"""How the curves of :mod:`nninfo.presentation.figures` are told apart and named.

One experiment (no ``experiment`` column, or one value in it): a colour per layer (or
dataset, class, m), a line style per grouping, legend entries ``L3`` and ``L3 (pairs)``;
the default grouping ``neurons`` (every neuron one source) is never named. Several
experiments: a colour per experiment (in the order they first appear in the frame), a line
style and a marker per layer (and grouping), legend entries ``8 levels: L3``.

Dashed lines are reserved for shuffled-label surrogate means: no style here is ``"--"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pandas as pd

__all__ = [
    "DASHED",
    "DEFAULT_GROUPING",
    "EXPERIMENT",
    "LINESTYLES",
    "MARKERS",
    "curve_keys",
    "curve_label",
    "curve_order",
    "curve_styles",
    "experiment_names",
    "legend_title",
    "natural_key",
    "several_experiments",
]

EXPERIMENT = "experiment"
DEFAULT_GROUPING = "neurons"  # each neuron one source: the grouping legends do not name
DASHED = "--"  # surrogate means only
LINESTYLES = ("-", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2, 1, 2)))  # never DASHED
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_FIRST = {"train": 0, "validation": 1, "val": 1, "test": 2}


def natural_key(value: object) -> tuple:
    """Sort key: train/validation/test first, then ``L2`` before ``L10`` (digits as numbers)."""
    parts = re.split(r"(\d+)", str(value))
    return (_FIRST.get(str(value), 9), *(int(p) if p.isdigit() else p for p in parts))


def experiment_names(df: pd.DataFrame | None) -> list[str]:
    """The experiments of ``df`` in the order they first appear; ``[]`` without the column."""
    if df is None or EXPERIMENT not in df.columns:
        return []
    return [str(e) for e in pd.unique(df[EXPERIMENT].dropna())]


def several_experiments(df: pd.DataFrame | None) -> bool:
    """True when ``df`` holds more than one experiment (an overlay)."""
    return len(experiment_names(df)) > 1


def curve_keys(df: pd.DataFrame, by: str | Sequence[str]) -> list[str]:
    """Columns identifying one curve: ``by``, with ``grouping`` after ``layer`` when the
    frame has it, after ``experiment`` when the frame holds several experiments."""
    keys = [by] if isinstance(by, str) else list(by)
    if "layer" in keys and "grouping" in df.columns and "grouping" not in keys:
        keys.append("grouping")
    if several_experiments(df) and EXPERIMENT not in keys:
        keys.insert(0, EXPERIMENT)
    return keys


def curve_order(keys: Sequence[str], experiments: Sequence[str] = ()
                ) -> Callable[[tuple], tuple]:
    """Sort key of a curve's identity: experiments in ``experiments`` order, the rest
    natural (:func:`natural_key`)."""
    rank = {e: j for j, e in enumerate(experiments)}

    def key(ident: tuple) -> tuple:
        return tuple((rank.get(str(v), len(rank)), natural_key(v)) if k == EXPERIMENT
                     else (0, natural_key(v)) for k, v in zip(keys, ident, strict=True))
    return key


def curve_label(keys: Sequence[str], ident: tuple) -> str:
    """``L3``, ``L3 (pairs)``, ``8 levels: L3``: empty parts and the default grouping left
    out; ``all`` when nothing is left."""
    values = dict(zip(keys, ident, strict=True))
    text = ", ".join(str(v) for k, v in values.items()
                     if k not in (EXPERIMENT, "grouping") and str(v) != "")
    grouping = str(values.get("grouping", ""))
    if grouping not in ("", DEFAULT_GROUPING):
        text = f"{text} ({grouping})" if text else grouping
    experiment = str(values.get(EXPERIMENT, ""))
    if experiment:
        text = f"{experiment}: {text}" if text else experiment
    return text or "all"


def legend_title(keys: Sequence[str], idents: Sequence[tuple]) -> str:
    """``layer``, ``layer (grouping)`` only when a grouping other than the default is shown,
    ``experiment: layer`` for an overlay."""
    title = " / ".join(k for k in keys if k not in (EXPERIMENT, "grouping"))
    if "grouping" in keys:
        j = list(keys).index("grouping")
        if any(str(i[j]) not in ("", DEFAULT_GROUPING) for i in idents):
            title = f"{title} (grouping)" if title else "grouping"
    if keys and keys[0] == EXPERIMENT:
        title = f"experiment: {title}" if title else "experiment"
    return title


def curve_styles(keys: Sequence[str], idents: Sequence[tuple],
                 experiments: Sequence[str] = ()) -> dict[tuple, dict]:
    """Matplotlib style of each curve: see the module docstring."""
    if keys and keys[0] == EXPERIMENT:  # overlay: colour per experiment
        order = curve_order(keys[:1], experiments)
        exps = sorted({i[0] for i in idents}, key=lambda e: order((e,)))
        rests = sorted({i[1:] for i in idents}, key=lambda r: tuple(natural_key(v) for v in r))
        colour = {e: f"C{j % 10}" for j, e in enumerate(exps)}
        look = {r: (LINESTYLES[j % len(LINESTYLES)], MARKERS[j % len(MARKERS)])
                for j, r in enumerate(rests)}
        return {i: {"color": colour[i[0]], "linestyle": look[i[1:]][0],
                    "marker": look[i[1:]][1]} for i in idents}
    firsts = sorted({i[0] for i in idents}, key=natural_key)
    colour = {v: f"C{j % 10}" for j, v in enumerate(firsts)}
    by_grouping = len(keys) > 1 and keys[-1] == "grouping"
    groups = sorted({i[-1] for i in idents}, key=natural_key) if by_grouping else []
    dash = {g: LINESTYLES[j % len(LINESTYLES)] for j, g in enumerate(groups)}
    return {i: {"color": colour[i[0]], "linestyle": dash[i[-1]] if by_grouping else "-"}
            for i in idents}

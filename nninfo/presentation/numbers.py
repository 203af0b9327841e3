r"""How the HTML report writes numbers and symbols.

A table cell with a spread over seeds reads ``mean ± h``: h to 2 significant digits, the
mean rounded to the same decimal place (``0.00067 ± 0.00053``, ``1.83 ± 0.12``); integer
quantities (counts, distinct patterns) never get decimals (``12 ± 3``). A single number
gets at most 3 significant digits (``0.953``, ``0.5``), an integer-valued one none (epoch
``1000``, not ``1e+03``).

Figure captions and some table headers are written in matplotlib mathtext
(``$\Pi_2$``, ``$\Sigma_iI(Y;S_i)/I(Y;S)$``); :func:`mathtext_html` turns them into escaped
HTML with ``<sub>``/``<sup>``.
"""

from __future__ import annotations

import html
import math
import re

import numpy as np
import pandas as pd

__all__ = ["format_mean_spread", "format_number", "mathtext_html"]

SPREAD_DIGITS = 2  # significant digits of the spread
NUMBER_DIGITS = 3  # significant digits of a number shown alone
_SCI_BELOW, _SCI_ABOVE = 1e-4, 1e6  # outside: scientific notation


def _is_missing(x: object) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float | np.floating) and math.isnan(x))


def _fixed(x: float, decimals: int) -> str:
    """``x`` rounded to ``decimals`` places (negative: tens, hundreds ...), never ``-0``."""
    if decimals < 0:
        q = 10 ** (-decimals)
        text = str(int(round(x / q)) * q)
    else:
        text = f"{x:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_number(x: object, digits: int = NUMBER_DIGITS) -> str:
    """One number: ``—`` if missing, ``∞``, integers as integers, else ``digits``
    significant digits (scientific outside 1e-4 .. 1e6); anything else as ``str``."""
    if _is_missing(x):
        return "—"
    if isinstance(x, bool | np.bool_) or not isinstance(x, int | float | np.number):
        return str(x)
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    if not _SCI_BELOW <= abs(x) < _SCI_ABOVE:
        return f"{x:.{digits}g}"
    text = _fixed(x, max(0, digits - 1 - math.floor(math.log10(abs(x)))))
    return text.rstrip("0").rstrip(".") if "." in text else text


def _spread_decimals(spread: float) -> int:
    """Decimal places that leave :data:`SPREAD_DIGITS` significant digits of ``spread``
    (after its own rounding: 0.0996 -> 0.10, two places)."""
    decimals = SPREAD_DIGITS - 1 - math.floor(math.log10(spread))
    if round(spread, decimals) >= 10 ** (SPREAD_DIGITS - decimals):
        decimals -= 1
    return decimals


_MAX_DECIMALS = 12


def format_mean_spread(mean: float, spread: float, *, integer: bool = False) -> str:
    """``mean ± spread``: the spread to 2 significant digits, the mean to the same decimal
    place; no decimals with ``integer``. A missing or zero spread leaves the mean alone
    (:func:`format_number`), with ``± 0`` for zero."""
    if _is_missing(mean):
        return "—"
    if _is_missing(spread) or not math.isfinite(float(mean)):
        return format_number(round(float(mean)) if integer else mean)
    mean, spread = float(mean), abs(float(spread))
    if spread == 0 or not math.isfinite(spread):
        m = format_number(round(mean) if integer else mean)
        return f"{m} ± {'0' if spread == 0 else '∞'}"
    decimals = _spread_decimals(spread)
    if integer:
        decimals = min(decimals, 0)
    elif decimals > 8 or max(abs(mean), spread) >= _SCI_ABOVE:  # shared power of ten
        k = math.floor(math.log10(max(abs(mean), spread)))
        m, s = mean / 10**k, spread / 10**k
        d = min(_spread_decimals(s), _MAX_DECIMALS)  # a spread far below the mean: capped
        return f"({_fixed(m, d)} ± {_fixed(s, d)})e{k:+03d}"
    return f"{_fixed(mean, decimals)} ± {_fixed(spread, decimals)}"


# ---------------------------------------------------------------- mathtext
_SYMBOLS = {"Pi": "Π", "Sigma": "Σ", "sum": "Σ", "cdot": "·", "mid": "|", "times": "×",
            "pm": "±", "leq": "≤", "geq": "≥", "to": "→", "ldots": "…", "sigma": "σ",
            "alpha": "α", "mu": "μ", "infty": "∞", ",": "\u2009", ";": " ", " ": " "}
_SCRIPT = re.compile(r"([_^])(?:\{([^{}]*)\}|(.))")


def _math_html(tex: str) -> str:
    text = re.sub(r"\\(?:mathrm|mathit|text)\{([^{}]*)\}", r"\1", tex)
    text = re.sub(r"\\([A-Za-z]+|[,; ])",
                  lambda m: _SYMBOLS.get(m.group(1), m.group(1)), text)
    text = html.escape(text.replace("-", "−"), quote=False)
    for _ in range(3):  # nested scripts, innermost first
        text = _SCRIPT.sub(lambda m: "<{0}>{1}</{0}>".format(
            "sub" if m.group(1) == "_" else "sup", m.group(2) or m.group(3)), text)
    return text.replace("{", "").replace("}", "")


def mathtext_html(text: str) -> str:
    """Escaped HTML of ``text`` whose ``$...$`` parts are mathtext: ``$\\Pi_2$`` ->
    ``Π<sub>2</sub>``; commands it does not know lose their backslash."""
    parts = re.split(r"(?<!\\)\$", str(text))
    if len(parts) % 2 == 0:  # an unpaired $: no math
        return html.escape(str(text), quote=False)
    return "".join(_math_html(p) if j % 2 else html.escape(p, quote=False)
                   for j, p in enumerate(parts))

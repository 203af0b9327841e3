"""The sections of the HTML report (:mod:`nninfo.presentation.report`): each returns the escaped
HTML body of one section, built from the tables of :mod:`nninfo.presentation.tables`.

The "Estimation bias" section counts, per layer, the (seed, checkpoint) pairs whose
plug-in I(Y; L) is dominated by its shuffled-label surrogate mean (the small-sample
bias), with the largest surrogate-mean / I ratio and the share of significant permutation
tests; :func:`bias_warning` is its verdict in one sentence.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import pandas as pd

from nninfo.info.catalog import entries
from nninfo.presentation.bands import band_units, has_values, spread_text, subset_text
from nninfo.presentation.figures import LOSS_NAMES, PUBLISHED_LOSS_NOTE
from nninfo.presentation.measure_figures import (
    C_NOTE,
    COMPLEXITY,
    DEG_SYN_PREFIX,
    MI_SURROGATE,
    PI_NOTE,
    deg_syn_columns,
    pi_label,
)
from nninfo.presentation.numbers import mathtext_html
from nninfo.presentation.tables import (
    BIAS_FLAG,
    P_LEVEL,
    P_VALUE,
    PID_MI,
    PID_MI_SURROGATE,
    TOP_ATOMS,
    bias_table,
    empty_note,
    final_epoch_table,
    html_table,
    layer_keys,
    mean_spread_cell,
    pid_surrogate_table,
    rows_with,
    seed_count,
    sorted_rows,
    top_atoms,
    value_keys,
)

__all__ = ["bias_warning", "measure_sections", "section_bodies", "section_titles"]

# ---------------------------------------------------------------- sections
def _max_complexity(summary: pd.DataFrame, keys: list[str], band: str) -> pd.DataFrame:
    """Per curve: max over epochs of C, mean and spread over seeds."""
    data, units = band_units(summary.dropna(subset=[COMPLEXITY]).fillna({k: "" for k in keys}),
                             band)
    per_seed = data.groupby([*keys, *units])[COMPLEXITY].max()
    stats = per_seed.groupby(level=keys).agg(lambda x: mean_spread_cell(x, band)).rename("max C")
    return stats.reset_index()


def _complexity_section(summary: pd.DataFrame | None, band: str) -> str:
    if not has_values(summary, COMPLEXITY):
        return empty_note("representational complexity was not computed")
    keys = layer_keys(summary)
    final = final_epoch_table(summary, keys, [COMPLEXITY], band)
    final = final.rename(columns={COMPLEXITY: "final C"})
    table = final.merge(_max_complexity(summary, keys, band), on=keys, how="left")
    caption = spread_text(band, seed_count(summary)) + subset_text(summary, band)
    body = ("<p>" + mathtext_html(C_NOTE) + ". final C: at each seed's last epoch; "
            "max C: each seed's maximum over epochs.</p>"
            + html_table(sorted_rows(table, keys), text_cols=keys, caption=caption))
    syn = deg_syn_columns(summary)
    if syn:
        pi = final_epoch_table(summary, keys, syn, band)
        pi = pi.rename(columns={c: pi_label(c.removeprefix(DEG_SYN_PREFIX)) for c in syn})
        body += ("<h3>Information Π<sub>m</sub> [bits] at each degree of synergy m, at the "
                 "final epoch</h3><p>" + mathtext_html(PI_NOTE) + ".</p>")
        body += html_table(pi, text_cols=keys, caption=caption)
    return body


def _label(keys: Sequence[str], row: pd.Series) -> str:
    parts = [str(row[k]) for k in keys if str(row[k]) != ""]
    return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else "".join(parts)


def bias_warning(summary: pd.DataFrame | None, bias_fraction: float | None = None) -> str:
    """The bias verdict as one sentence: which layers have a bias-dominated (seed,
    checkpoint) pair, or that none has; ``""`` without surrogates or flags."""
    if summary is None:
        return ""
    table = bias_table(summary)
    flagged = table[table["bias-dominated"].fillna(0) > 0]
    if table.empty or table["bias-dominated"].isna().all():
        return ""
    limit = _fraction_text(bias_fraction)
    if flagged.empty:
        return (f"No layer is bias-dominated: at every (seed, checkpoint) pair the "
                f"shuffled-label surrogate mean of I is at most {limit} of I.")
    keys = [k for k in ("layer", "grouping") if k in table.columns]
    names = ", ".join(_label(keys, r) for _, r in flagged.iterrows())
    n, total = int(flagged["bias-dominated"].sum()), int(table["pairs"].sum())
    return (f"Warning: bias-dominated estimates in {names} ({n} of {total} (seed, checkpoint) "
            f"pairs): there the shuffled-label surrogate mean of I exceeds {limit} of I, so "
            "I and the PID measures at those checkpoints mostly reflect the small-sample "
            "bias of the plug-in estimator.")


def _fraction_text(bias_fraction: float | None) -> str:
    if bias_fraction is None:
        return "the configured fraction (analysis.surrogates.bias_fraction, default 10 %)"
    return f"{100 * bias_fraction:g} %"


def _verdict(text: str) -> str:
    cls = "warning" if text.startswith("Warning") else "verdict"
    return f'<p class="{cls}">{html.escape(text)}</p>' if text else ""


def _count(k: object, n: object, share: bool = False) -> str:
    if pd.isna(k):
        return "—"
    text = f"{int(k)} of {int(n)}"
    return text + (f" ({100 * int(k) / int(n):.0f} %)" if share and int(n) else "")


_MI_COLUMNS = {
    "mutual_information": "I [bits]",
    MI_SURROGATE: "surrogate mean [bits]",
    "mutual_information_surrogate_std": "surrogate std [bits]",
    "mutual_information_bias_corrected": "I − surrogate mean [bits]",
}
_PID_SURROGATE_COLUMNS = {
    PID_MI: "I (PID) [bits]",
    PID_MI_SURROGATE: "surrogate mean of I [bits]",
    COMPLEXITY: "C",
    COMPLEXITY + "_surrogate_mean": "surrogate mean of C",
}


def _bias_section(summary: pd.DataFrame | None, band: str,
                  bias_fraction: float | None) -> str:
    """I's bias counts, verdict and final-epoch table; then the PID's surrogate table."""
    has_mi = summary is not None and any(has_values(summary, c)
                                         for c in (MI_SURROGATE, BIAS_FLAG, P_VALUE))
    pid = (pid_surrogate_table(summary, band) if summary is not None
           else pd.DataFrame())
    if not has_mi and pid.empty:
        return empty_note("no shuffled-label surrogates were computed, so the estimation bias "
                      "of these plug-in estimates is unknown")
    body = _mi_bias(summary, band, bias_fraction) if has_mi else empty_note(
        "no shuffled-label surrogates of I(Y; L) were computed")
    if not pid.empty:
        pid_keys = [k for k in ("layer", "grouping") if k in pid.columns]
        body += ("<h3>I<sup>sx</sup> PID next to its surrogate means, at the checkpoints with PID "
                 "surrogates</h3>"
                 + html_table(pid.rename(columns=_PID_SURROGATE_COLUMNS), text_cols=pid_keys,
                          caption=spread_text(band) + ", at each checkpoint"
                          + subset_text(rows_with(summary, list(_PID_SURROGATE_COLUMNS)),
                                        band)))
    return body


def _mi_bias(summary: pd.DataFrame, band: str, bias_fraction: float | None) -> str:
    table = bias_table(summary)
    keys = [k for k in ("layer", "grouping") if k in table.columns]
    p_col = f"p < {P_LEVEL:g}"
    shown = table[keys].copy()
    shown["bias-dominated (seed, checkpoint) pairs"] = [
        _count(k, n) for k, n in zip(table["bias-dominated"], table["pairs"], strict=True)]
    shown["max surrogate mean / I"] = table["max surrogate mean / I"]
    shown[f"pairs with {p_col}"] = [
        _count(k, n, share=True) if n else "—"
        for k, n in zip(table[p_col], table["tested"], strict=True)]
    intro = ("<p>Plug-in estimates of I(Y; L) are biased upward for small samples. "
             "The labels were shuffled at every checkpoint: the mean I over these surrogates "
             "is the bias, their distribution the null of a permutation test of I &gt; 0. A "
             "(seed, checkpoint) pair is bias-dominated when the surrogate mean exceeds "
             f"{html.escape(_fraction_text(bias_fraction))} of I. Dashed lines in the "
             "figures are the surrogate means.</p>")
    body = (intro + _verdict(bias_warning(summary, bias_fraction))
            + html_table(shown, text_cols=keys,
                     caption="counts over all seeds and checkpoints of each layer"))
    data = rows_with(summary, [MI_SURROGATE])
    mi_cols = [c for c in _MI_COLUMNS if has_values(data, c)]
    if mi_cols:
        mi_keys = value_keys(data)
        final = final_epoch_table(data, mi_keys, mi_cols, band).rename(columns=_MI_COLUMNS)
        body += ("<h3>I(Y; L) and its bias at the final epoch</h3>"
                 + html_table(final, text_cols=mi_keys,
                              caption=spread_text(band, seed_count(data))))
    return body


def _classes_section(classes: pd.DataFrame, band: str) -> str:
    data = rows_with(classes, [COMPLEXITY, PID_MI])
    keys = [*value_keys(data), "class"]
    cols = {PID_MI: "specific information [bits]", COMPLEXITY: "C of the class"}
    table = final_epoch_table(data, keys, list(cols), band).rename(columns=cols)
    intro = ("<p>Target-pointwise I<sup>sx</sup> PID: per class (label value), its specific "
             "information and representational complexity C, at each seed's final epoch.</p>")
    return intro + html_table(table, text_cols=keys[:-1],
                          caption=spread_text(band, seed_count(data)))


def _atoms_section(atoms: pd.DataFrame | None, band: str) -> str:
    """The PID atoms section's body (the top atoms table, or a note without atoms)."""
    if atoms is None or not has_values(atoms, "average"):
        return empty_note("no PID atoms were logged")
    table = top_atoms(atoms, band=band)
    intro = (f"<p>The {TOP_ATOMS} atoms of largest |mean average| per layer at the final "
             "epoch, in bits.</p>")
    return intro + html_table(table, text_cols=[*layer_keys(atoms), "antichain"],
                          caption=spread_text(band, seed_count(atoms)))


#: Report sections the presentation builds itself (the I^sx PID's C, Pi_m, atoms, classes).
OWN_SECTIONS = ("complexity",)


def measure_sections(summary: pd.DataFrame | None) -> dict[str, tuple[str, dict[str, str], str]]:
    """The report sections of the catalogue measures (:mod:`nninfo.info.catalog`) that have
    values in ``summary``, in catalogue order: section id -> (title, columns (result key ->
    header, mathtext), intro as HTML defining the symbols). Measures that share a section id
    (the Shannon invariants and Reing's C_R) share one table."""
    out: dict[str, tuple[str, dict[str, str], str]] = {}
    for entry in entries():
        cols = {k: h for k, h in entry.headers().items() if has_values(summary, k)}
        if entry.section in OWN_SECTIONS or not cols:
            continue
        notes = [entry.note, *(q.note for q in entry.quantities
                               if q.note and entry.key(q.name) in cols)]
        title, before, intro = out.get(entry.section, (entry.section_title, {}, ""))
        out[entry.section] = (title, {**before, **cols},
                              intro + f"<p>{mathtext_html('; '.join(notes))}.</p>")
    return out


def _values_section(summary: pd.DataFrame, cols: Mapping[str, str], intro: str,
                    band: str) -> str:
    """A final-epoch table of ``cols`` (column -> header) over the rows that have them,
    with an intro."""
    data = rows_with(summary, list(cols))
    keys = value_keys(data)
    table = final_epoch_table(data, keys, [c for c in cols if has_values(data, c)], band)
    table = table.rename(columns=dict(cols))
    return intro + html_table(table, text_cols=keys, caption=spread_text(
        band, seed_count(data)) + subset_text(data, band))


def _activations_section(stats: pd.DataFrame | None, band: str) -> str:
    cols = [c for c in ("entropy", "saturation", "distinct_patterns") if has_values(stats, c)]
    if not cols:
        return empty_note("no activation statistics were logged")
    intro = "<p>Averaged over the neurons of a layer, then over seeds.</p>"
    return intro + html_table(final_epoch_table(stats, ["layer"], cols, band), text_cols=["layer"],
                          caption=spread_text(band, seed_count(stats)))


def _performance_section(performance: pd.DataFrame | None, band: str,
                         loss: str = "training") -> str:
    if performance is None or performance.empty:
        return empty_note("no performance metrics were logged")
    table = final_epoch_table(performance, ["dataset"], ["loss", "accuracy"], band)
    table = table.rename(columns={"loss": LOSS_NAMES[loss]})
    note = ("" if has_values(performance, "accuracy")
            else "<p>No accuracy was logged (e.g. an autoencoder): loss only.</p>")
    if loss == "published":
        note += f"<p>{html.escape(PUBLISHED_LOSS_NOTE)}.</p>"
    return note + html_table(table, text_cols=["dataset"],
                         caption=spread_text(band, seed_count(performance)))


def section_titles() -> dict[str, str]:
    """Section id -> title, in page order (the catalogue measures' sections after the PID's)."""
    measures = {e.section: e.section_title for e in entries() if e.section not in OWN_SECTIONS}
    return {"config": "Configuration", "performance": "Performance", "bias": "Estimation bias",
            "complexity": "Representational complexity", "classes": "Per-class complexity",
            "atoms": "PID atoms", **measures, "activations": "Activation statistics",
            "figures": "Figures"}


def section_bodies(summary: pd.DataFrame | None, performance: pd.DataFrame | None,
                   atoms: pd.DataFrame | None, stats: pd.DataFrame | None,
                   classes: pd.DataFrame | None, band: str,
                   bias_fraction: float | None = None,
                   performance_loss: str = "training") -> dict[str, str]:
    """Section id -> HTML body of every section but the configuration and the figures;
    ``classes``, ``activations`` and the catalogue measures' sections
    (:func:`measure_sections`) only where their data exist. ``performance_loss``: the
    ``performance.loss`` the performance frame's losses were logged with."""
    bodies = {
        "performance": _performance_section(performance, band, performance_loss),
        "bias": _bias_section(summary, band, bias_fraction),
        "complexity": _complexity_section(summary, band),
        "atoms": _atoms_section(atoms, band),
        "activations": _activations_section(stats, band),
    }
    if has_values(classes, COMPLEXITY) or has_values(classes, PID_MI):
        bodies["classes"] = _classes_section(classes, band)
    for section, (_, cols, intro) in measure_sections(summary).items():
        bodies[section] = _values_section(summary, cols, intro, band)
    if stats is None:
        del bodies["activations"]
    return bodies

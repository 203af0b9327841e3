"""The band of random-subset groupings (Fig. 5B of Ehrlich et al. 2023): by default the line
is the mean and the band the 2.5-97.5 % quantiles over all (seed, subset) values, as the
published notebook draws them (every subset's summary of every run concatenated, then
``plot_mean_and_interval``: ``groupby(epoch).mean()`` and ``.quantile(0.5 ∓ 0.95 / 2)``);
``report.subset_band: seed_means`` draws the band over the per-seed means instead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from nninfo import results
from nninfo.config import ConfigError, build_config
from nninfo.presentation.bands import (
    aggregate_over_seeds,
    check_subset_band,
    subset_values,
)
from nninfo.presentation.figures import figure_caption, standard_figures
from nninfo.presentation.numbers import format_mean_spread
from nninfo.presentation.tables import final_epoch_table
from nninfo.tracking import runs
from nninfo.tracking.aggregate import SUBSET_BAND_TAG, _long, aggregate_rows, band_keys
from tests.helpers import tishby_layers

C = "pid.representational_complexity"
KEYS = ["layer", "grouping"]
SEEDS, SUBSETS, EPOCHS = 4, 6, (0.0, 1.0, 10.0)


def _published(values: pd.DataFrame) -> pd.DataFrame:
    """The published rule on the concatenated per-(seed, subset) rows: mean and the
    0.025 / 0.975 quantiles (pandas, linear) of all values at each epoch."""
    by = values.groupby("epoch")[C]
    return pd.DataFrame({"mean": by.mean(), "lo": by.quantile(0.5 - 0.95 / 2),
                         "hi": by.quantile(0.5 + 0.95 / 2)})


def _frames(nan: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A summary (L2 random5 rows: nanmean over subsets, as logged; L3 neurons rows) and the
    per-subset frame; each seed has its own offset, so subsets vary more than seed means."""
    rng = np.random.default_rng(5)
    rows = [{"seed": s, "step": int(e * 100), "epoch": e, "layer": "L2", "grouping": "random5",
             "subset": k, C: 2.0 + 0.1 * s + rng.normal(0, 0.4)}
            for s in range(SEEDS) for e in EPOCHS for k in range(SUBSETS)]
    subsets = pd.DataFrame(rows)
    if nan:  # C is undefined where a subset carries no information
        subsets.loc[(subsets.seed == 0) & (subsets.subset < 3), C] = np.nan
    means = (subsets.groupby(["seed", "step", "epoch", "layer", "grouping"], as_index=False)[C]
             .agg(lambda v: np.nanmean(v)))
    neurons = pd.DataFrame([{"seed": s, "step": int(e * 100), "epoch": e, "layer": "L3",
                             "grouping": "neurons", C: 1.5 + rng.normal(0, 0.2)}
                            for s in range(SEEDS) for e in EPOCHS])
    return pd.concat([means, neurons], ignore_index=True), subsets


def _curve(agg: pd.DataFrame, layer: str) -> pd.DataFrame:
    return agg[agg.layer == layer].set_index("epoch")


def test_the_default_band_is_the_published_one_over_all_seed_subset_values():
    summary, subsets = _frames()
    agg = aggregate_over_seeds(subset_values(summary, subsets), C, KEYS)
    got, want = _curve(agg, "L2"), _published(subsets)
    for col in ("mean", "lo", "hi"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-12)
    assert (got["n"] == SEEDS * SUBSETS).all() and (got["seeds"] == SEEDS).all()
    assert got["subsets"].all()
    # the per-seed-mean band is much narrower: the option, and what the summary alone gives
    seed_means = summary[summary.layer == "L2"].groupby("epoch")[C]
    for agg_means in (aggregate_over_seeds(summary, C, KEYS),
                      aggregate_over_seeds(subset_values(summary, subsets,
                                                         subset_band="seed_means"), C, KEYS)):
        narrow = _curve(agg_means, "L2")
        np.testing.assert_allclose(narrow["lo"], seed_means.quantile(0.025), rtol=1e-12)
        np.testing.assert_allclose(narrow["hi"], seed_means.quantile(0.975), rtol=1e-12)
        assert ((narrow["hi"] - narrow["lo"]) < 0.8 * (got["hi"] - got["lo"])).all()
        # every seed has every subset: the line is the same either way
        np.testing.assert_allclose(narrow["mean"], got["mean"], rtol=1e-12)
    # groupings that are not random subsets keep exactly the same numbers
    plain = aggregate_over_seeds(summary, C, KEYS)
    pd.testing.assert_frame_equal(_curve(agg, "L3"), _curve(plain, "L3"))


def test_nan_subset_values_are_skipped_over_all_values_as_the_published_mean():
    summary, subsets = _frames(nan=True)
    got = _curve(aggregate_over_seeds(subset_values(summary, subsets), C, KEYS), "L2")
    want = _published(subsets)
    for col in ("mean", "lo", "hi"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-12)
    assert (got["n"] == SEEDS * SUBSETS - 3).all()
    # the mean of per-seed means weights seed 0's three remaining subsets more
    seed_means = _curve(aggregate_over_seeds(summary, C, KEYS), "L2")["mean"]
    assert not np.allclose(seed_means, got["mean"], rtol=1e-9)


def test_the_t_band_and_the_option_leave_the_summary_as_it_is():
    summary, subsets = _frames()
    assert subset_values(summary, subsets, band="t") is summary
    assert subset_values(summary, subsets, subset_band="seed_means") is summary
    assert subset_values(summary, None) is summary
    with pytest.raises(ValueError, match="subset_band: 'all' is not valid; allowed: values or "
                                         "seed_means"):
        check_subset_band("all")


def test_figures_and_tables_say_which_band_and_tables_use_it():
    summary, subsets = _frames()
    figs = standard_figures(summary, None, subsets=subsets)
    caption = figure_caption(figs["complexity"])
    assert ("line: mean over 4 seeds; band: 2.5–97.5 % quantiles over seeds; random5 (random "
            "subsets): line: mean over 24 (seed, subset) values of 4 seeds; band: 2.5–97.5 % "
            "quantiles over all (seed, subset) values") in caption
    option = figure_caption(standard_figures(summary, None, subsets=subsets,
                                             subset_band="seed_means")["complexity"])
    assert "random subsets" not in option and "quantiles over seeds" in option
    table = final_epoch_table(subset_values(summary, subsets), KEYS, [C]).set_index("layer")
    final = subsets[subsets.epoch == max(EPOCHS)][C]
    lo, hi = final.quantile(0.025), final.quantile(0.975)
    assert table.at["L2", C] == format_mean_spread(final.mean(), (hi - lo) / 2)
    assert table.at["L3", C] == final_epoch_table(summary, KEYS, [C]).set_index("layer").at[
        "L3", C]


def test_parent_aggregates_use_all_values_for_random_subsets_only():
    summary, subsets = _frames()
    empty = pd.DataFrame(columns=["seed", "step", "epoch", "dataset"])
    rows = {(k, s): v for k, v, s in aggregate_rows(_long(subset_values(summary, subsets),
                                                          empty), "quantile")}
    plain = {(k, s): v for k, v, s in aggregate_rows(_long(summary, empty), "quantile")}
    want = _published(subsets)
    key = f"L2/random5/{C}"
    for epoch, row in want.iterrows():
        step = int(epoch * 100)
        assert rows[(key, step)] == pytest.approx(row["mean"], rel=1e-12)
        assert rows[(band_keys(key)[0], step)] == pytest.approx(row["lo"], rel=1e-12)
        assert rows[(band_keys(key)[1], step)] == pytest.approx(row["hi"], rel=1e-12)
    assert {k: v for k, v in rows.items() if k[0].startswith("L3/")} == \
        {k: v for k, v in plain.items() if k[0].startswith("L3/")}


def test_report_subset_band_is_validated():
    raw = {"name": "subset-band", "task": {"name": "tishby"},
           "network": {"layers": tishby_layers(3)},
           "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "epochs": 1}}
    assert build_config(raw).report.subset_band == "values"  # the published band
    cfg = build_config({**raw, "report": {"subset_band": "seed_means"}})
    assert cfg.report.subset_band == "seed_means" and build_config(cfg.to_dict()) == cfg
    for bad in ("means", 1):
        with pytest.raises(ConfigError, match=rf"report.subset_band: {bad!r} is not valid; "
                                              "allowed: values or seed_means"):
            build_config({**raw, "report": {"subset_band": bad}})


def test_per_subset_values_are_logged_and_loaded_back():
    from nninfo.probe import Layer, Probe

    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(2))
    labels = (x[:, 0] + x[:, 1] > 0).long()
    analysis = {"measures": ["pid"], "surrogates": {"mi": 0, "pid": 0},
                "groupings": [{"name": "threes", "kind": "random_subsets", "size": 3,
                               "count": 4, "seed": 3}]}
    with Probe(model, (x, labels), {"h": Layer("1", levels=3)}, analysis=analysis,
               experiment="subset-band") as probe:
        probe.log(0)
        probe.log(5)
    parent = probe.runs.parent
    sub = results.load_subset_summary(train_run=parent)
    lead = ["experiment", "run_id", "seed", "chapter", "step", "epoch", "layer", "grouping",
            "subset"]
    assert list(sub.columns[:len(lead)]) == lead and str(sub["subset"].dtype) == "int64"
    assert len(sub) == 2 * 4 and sorted(sub.subset.unique()) == [0, 1, 2, 3]
    assert set(sub.grouping) == {"threes"} and set(sub.layer) == {"h"}
    # each subset's C is the published summary of that subset's atoms: Σ m Π_m / Σ Π_m
    atoms = results.load_pid(train_run=parent)
    atoms = atoms.assign(weighted=atoms["degree"] * atoms["average"])
    per = atoms.groupby(["step", "subset"])[["weighted", "average"]].sum()
    published = (per["weighted"] / per["average"]).rename("C")
    got = sub.set_index(["step", "subset"])[C]
    np.testing.assert_allclose(got.sort_index(), published.sort_index(), rtol=1e-9)
    # the summary's row is their mean; load_measures is unchanged (no subset column)
    summary = results.load_summary(train_run=parent)
    summary = summary[summary.grouping == "threes"].set_index("step")
    np.testing.assert_allclose(summary[C], sub.groupby("step")[C].mean(), rtol=1e-12)
    assert "subset" not in results.load_measures(train_run=parent).columns
    # the parent's band: quantiles over the 4 subsets' values of the one seed
    c = runs.client()
    assert c.get_run(parent).data.tags[SUBSET_BAND_TAG] == "values"
    lo_key, hi_key = band_keys(f"h/threes/{C}")
    lo = {m.step: m.value for m in c.get_metric_history(parent, lo_key)}
    hi = {m.step: m.value for m in c.get_metric_history(parent, hi_key)}
    for step, values in sub.groupby("step")[C]:
        assert lo[step] == pytest.approx(np.quantile(values, 0.025), rel=1e-12)
        assert hi[step] == pytest.approx(np.quantile(values, 0.975), rel=1e-12)

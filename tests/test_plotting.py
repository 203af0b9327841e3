"""Figures from small synthetic tidy frames (several seeds, epochs including 0)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.mathtext import MathTextParser
from scipy import stats as sps

from nninfo.info.catalog import BROJA, ENTROPY, REING, SHANNON
from nninfo.presentation import figures as plotting

EPOCHS = [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]
LAYERS = ["L1", "L2", "L10"]


def make_summary(seeds=(0, 1, 2), groupings=None, rng_seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = []
    for seed in seeds:
        for epoch in EPOCHS:
            for li, layer in enumerate(LAYERS):
                for grouping in groupings or [None]:
                    n = 3 if layer != "L10" else 2  # L10 has no pid.deg_syn_3
                    pis = rng.uniform(0.05, 0.5, size=n)
                    row = {
                        "run_id": f"r{seed}", "seed": seed, "chapter": int(epoch), "epoch": epoch,
                        "layer": layer, "mutual_information": pis.sum(),
                        "pid.representational_complexity": 1 + li + rng.normal(0, 0.1),
                        "pid.deg_syn_1": pis[0], "pid.deg_syn_2": pis[1],
                        "pid.deg_syn_3": pis[2] if n == 3 else np.nan,
                        "shannon.avg_degree_redundancy": rng.uniform(1, 2),
                        "shannon.avg_degree_vulnerability": rng.uniform(0, 1),
                        "reing.C_R_published": np.nan,
                        "reing.C_R_mean_order": np.nan,
                    }
                    if grouping is not None:
                        row["grouping"] = grouping
                    rows.append(row)
    return pd.DataFrame(rows)


def make_performance(seeds=(0, 1, 2), rng_seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = [
        {"run_id": f"r{s}", "seed": s, "chapter": int(e), "epoch": e, "dataset": d,
         "loss": 1 / (1 + e) + rng.uniform(0, 0.1), "accuracy": rng.uniform(0.5, 1)}
        for s in seeds for e in EPOCHS for d in ("train", "test")
    ]
    return pd.DataFrame(rows)


def make_stats(seeds=(0, 1), rng_seed=2) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = [
        {"run_id": f"r{s}", "seed": s, "chapter": 0, "epoch": e, "layer": layer, "neuron": j,
         "entropy": rng.uniform(0, 3), "saturation": rng.uniform(0, 1)}
        for s in seeds for e in EPOCHS for layer in ("L1", "L2") for j in range(4)
    ]
    return pd.DataFrame(rows)


def lines(ax):
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def assert_symlog_shows_zero(ax):
    assert ax.get_xscale() == "symlog"
    lo, hi = ax.get_xlim()
    assert lo <= 0 <= hi
    assert hi >= max(EPOCHS)


def test_mean_line_equals_groupby_mean_and_band_is_t_interval():
    df = make_summary()
    fig = plotting.plot_metric_over_epochs(df, "pid.representational_complexity", band="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert_symlog_shows_zero(ax)
    assert ax.xaxis.get_transform().linthresh == pytest.approx(0.5)  # smallest positive epoch
    got = {ln.get_label(): ln for ln in lines(ax)}
    assert sorted(got) == sorted(LAYERS)
    expected = df.groupby(["layer", "epoch"])["pid.representational_complexity"]
    for layer in LAYERS:
        x, y = got[layer].get_data()
        ref = expected.mean().loc[layer]
        np.testing.assert_allclose(x, ref.index.to_numpy())
        np.testing.assert_allclose(y, ref.to_numpy())
    assert len(bands(ax)) == len(LAYERS)
    # band half-width at epoch 0 of L1 is t_{0.975,2} * sd / sqrt(3)
    vals = df[(df.layer == "L1") & (df.epoch == 0)]["pid.representational_complexity"]
    half = sps.t.ppf(0.975, 2) * vals.std(ddof=1) / np.sqrt(3)
    agg = plotting.aggregate_over_seeds(df, "pid.representational_complexity", ["layer"],
                                        band="t")
    row = agg[(agg.layer == "L1") & (agg.epoch == 0)].iloc[0]
    assert row["hi"] - row["mean"] == pytest.approx(half)
    band_y = bands(ax)[0].get_paths()[0].vertices[:, 1]
    assert band_y.max() == pytest.approx(agg[agg.layer == "L1"]["hi"].max())
    assert plotting.figure_caption(fig) == (
        "line: mean over 3 seeds; band: 95 % t-interval of the mean over seeds")
    assert plotting.seed_interval(vals, "t") == pytest.approx((row["lo"], row["hi"]))


def test_default_band_is_the_published_quantile_band():
    """The published figures shade the 2.5 % and 97.5 % quantiles of the per-seed values
    (pandas' linear interpolation, as numpy's default); the line is the mean."""
    df = make_summary(seeds=(0, 1, 2, 3, 4, 5, 6), rng_seed=4)
    value = "pid.representational_complexity"
    fig = plotting.plot_metric_over_epochs(df, value)
    agg = plotting.aggregate_over_seeds(df, value, ["layer"])
    for (layer, epoch), grp in df.groupby(["layer", "epoch"]):
        per_seed = grp.sort_values("seed")[value].to_numpy()
        row = agg[(agg.layer == layer) & (agg.epoch == epoch)].iloc[0]
        assert row["mean"] == pytest.approx(per_seed.mean())
        assert row["lo"] == pytest.approx(np.quantile(per_seed, 0.025))
        assert row["hi"] == pytest.approx(np.quantile(per_seed, 0.975))
        assert plotting.seed_interval(per_seed, "quantile") == pytest.approx(
            (np.quantile(per_seed, 0.025), np.quantile(per_seed, 0.975)))
    ax = fig.axes[0]
    # the band polygon of L1 runs along the quantiles
    verts = bands(ax)[0].get_paths()[0].vertices
    l1 = df[df.layer == "L1"].groupby("epoch")[value]
    assert verts[:, 1].max() == pytest.approx(l1.quantile(0.975).max())
    assert verts[:, 1].min() == pytest.approx(l1.quantile(0.025).min())
    assert plotting.figure_caption(fig) == (
        "line: mean over 7 seeds; band: 2.5–97.5 % quantiles over seeds")
    # the t-interval of the mean is narrower than the spread of the seeds themselves
    t_agg = plotting.aggregate_over_seeds(df, value, ["layer"], band="t")
    assert ((t_agg["hi"] - t_agg["lo"]) < (agg["hi"] - agg["lo"])).mean() > 0.5


def test_quantile_band_uses_per_seed_means_of_neurons():
    """Several rows per seed (neurons) are averaged within the seed first."""
    st = make_stats(seeds=(0, 1, 2, 3))
    agg = plotting.aggregate_over_seeds(st, "entropy", ["layer"])
    grp = st[(st.layer == "L2") & (st.epoch == 10.0)]
    per_seed = grp.groupby("seed")["entropy"].mean().to_numpy()
    row = agg[(agg.layer == "L2") & (agg.epoch == 10.0)].iloc[0]
    assert row["n"] == 4
    assert (row["lo"], row["hi"]) == pytest.approx(tuple(np.quantile(per_seed, [0.025, 0.975])))


@pytest.mark.parametrize("band", ["quantile", "t"])
def test_every_standard_figure_says_which_band_over_how_many_seeds(band):
    words = {"quantile": "band: 2.5–97.5 % quantiles over seeds",
             "t": "band: 95 % t-interval of the mean over seeds"}[band]
    df = make_summary()
    df["reing.C_R_published"] = 1.2 + 0.01 * df["seed"]
    figs = plotting.standard_figures(df, make_performance(seeds=(0, 1, 2, 3)),
                                     make_stats(seeds=(0, 1)), band=band)
    assert set(figs) == {"performance", "mutual_information", "complexity", "degree_of_synergy",
                         "reing", "shannon_invariants", "activation_statistics"}
    seeds = {"performance": 4, "activation_statistics": 2}
    for name, fig in figs.items():
        caption = plotting.figure_caption(fig)
        assert f"line: mean over {seeds.get(name, 3)} seeds; {words}" in caption, name
        assert caption.count("line: ") == 1, name
        assert any(getattr(t, "get_text", lambda: "")() == caption
                   for t in fig.get_children()), name  # the footer shows it


def test_captions_for_one_seed_and_uneven_seeds():
    assert plotting.band_caption("quantile", 1) == "line: one seed (no band)"
    assert plotting.band_caption("t", 2, 3) == (
        "line: mean over 2–3 seeds; band: 95 % t-interval of the mean over seeds")
    fig = plotting.plot_metric_over_epochs(make_summary(seeds=(7,)), "mutual_information")
    assert plotting.figure_caption(fig) == "line: one seed (no band)"
    with pytest.raises(ValueError, match="band: 'sd' is not valid; allowed: quantile or t"):
        plotting.plot_metric_over_epochs(make_summary(), "mutual_information", band="sd")


def test_bands_are_the_config_choices():
    from nninfo.config import build_config
    from nninfo.config.spec import REPORT_BANDS, ReportSpec
    from tests.helpers import tishby_layers

    assert plotting.BANDS == REPORT_BANDS
    assert plotting.DEFAULT_BAND == ReportSpec().band == "quantile"
    raw = {"name": "bands", "task": {"name": "tishby"}, "network": {"layers": tishby_layers(3)},
           "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "epochs": 1}}
    assert build_config(raw).report.band == "quantile"  # the published band by default
    cfg = build_config({**raw, "report": {"band": "t"}})
    assert cfg.report.band == "t" and cfg.to_dict()["report"] == {"band": "t",
                                                                   "subset_band": "values"}
    assert build_config(cfg.to_dict()) == cfg


def test_single_seed_has_line_but_no_band():
    df = make_summary(seeds=(7,))
    ax = plotting.plot_metric_over_epochs(df, "mutual_information").axes[0]
    assert len(lines(ax)) == len(LAYERS)
    assert bands(ax) == []
    assert_symlog_shows_zero(ax)


def test_layers_in_natural_order_and_grouping_splits_curves():
    df = make_summary(groupings=["neurons", "pairs"])
    ax = plotting.plot_metric_over_epochs(df, "mutual_information").axes[0]
    labels = [ln.get_label() for ln in lines(ax)]
    assert labels == [la if g == "neurons" else f"{la} ({g})"  # the default is not named
                      for la in LAYERS for g in ("neurons", "pairs")]
    assert ax.get_legend().get_title().get_text() == "layer (grouping)"
    by_label = {ln.get_label(): ln for ln in lines(ax)}
    ref = df[(df.layer == "L2") & (df.grouping == "pairs")].groupby("epoch")[
        "mutual_information"].mean()
    np.testing.assert_allclose(by_label["L2 (pairs)"].get_ydata(), ref.to_numpy())


def test_no_positive_epoch_uses_linthresh_one():
    df = make_summary()
    df = df[df.epoch == 0]
    ax = plotting.plot_metric_over_epochs(df, "mutual_information").axes[0]
    assert ax.xaxis.get_transform().linthresh == 1.0


def test_draws_into_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    out = plotting.plot_metric_over_epochs(make_summary(), "mutual_information", ax=ax,
                                           ylabel="I [bits]")
    assert out is fig and ax.get_ylabel() == "I [bits]"


def test_performance_has_two_panels_one_line_per_dataset():
    perf = make_performance()
    fig = plotting.plot_performance(perf)
    assert len(fig.axes) == 2
    for ax, col in zip(fig.axes, ("loss", "accuracy"), strict=True):
        assert_symlog_shows_zero(ax)
        got = {ln.get_label(): ln.get_ydata() for ln in lines(ax)}
        assert sorted(got) == ["test", "train"]
        ref = perf[perf.dataset == "test"].groupby("epoch")[col].mean()
        np.testing.assert_allclose(got["test"], ref.to_numpy())
        assert len(bands(ax)) == 2


def test_degree_of_synergy_panel_per_layer_line_per_m():
    df = make_summary()
    fig = plotting.plot_degree_of_synergy(df)
    assert [ax.get_title() for ax in fig.axes] == LAYERS
    assert [ln.get_label() for ln in lines(fig.axes[0])] == [r"$\Pi_1$", r"$\Pi_2$",
                                                              r"$\Pi_3$"]
    assert [ln.get_label() for ln in lines(fig.axes[2])] == [r"$\Pi_1$", r"$\Pi_2$"]
    assert fig.axes[0].get_ylabel() == r"$\Pi_m$ [bits]"
    ref = df[df.layer == "L2"].groupby("epoch")["pid.deg_syn_2"].mean()
    np.testing.assert_allclose(lines(fig.axes[1])[1].get_ydata(), ref.to_numpy())


def test_complexity_invariants_activation_figures():
    df = make_summary()
    assert len(lines(plotting.plot_complexity(df).axes[0])) == len(LAYERS)
    inv = plotting.plot_measure(df, SHANNON)
    assert [ax.get_title() for ax in inv.axes] == [  # I(Y; L): plot_mutual_information
        "Average degree of redundancy", "Average degree of vulnerability"]
    assert [ax.get_ylabel() for ax in inv.axes] == [
        r"$\Sigma_i I(Y;S_i)\,/\,I(Y;S)$", r"$\Sigma_i [I(Y;S)-I(Y;S_{-i})]\,/\,I(Y;S)$"]
    st = make_stats()
    act = plotting.plot_activation_statistics(st)
    assert len(act.axes) == 2
    # mean over neurons then seeds == plain mean (equal neuron counts)
    ref = st[st.layer == "L2"].groupby("epoch")["saturation"].mean()
    got = {ln.get_label(): ln.get_ydata() for ln in lines(act.axes[1])}
    np.testing.assert_allclose(got["L2"], ref.to_numpy())


def test_reing_raises_when_all_nan_and_standard_figures_skip_it():
    df = make_summary()
    with pytest.raises(ValueError, match=r"reing\.C_R_published.*reing\.C_R_mean_order"):
        plotting.plot_measure(df, REING)
    figs = plotting.standard_figures(df, make_performance(), make_stats())
    assert set(figs) == {"performance", "mutual_information", "complexity",
                         "degree_of_synergy", "shannon_invariants", "activation_statistics"}
    df["reing.C_R_published"] = 1.5
    assert "reing" in plotting.standard_figures(df, None)
    assert "performance" not in plotting.standard_figures(df, None)


def test_reing_figure_shows_the_published_form_first():
    df = make_summary()
    df["reing.C_R_published"] = 1.0 + 0.1 * df["seed"]
    fig = plotting.plot_measure(df, REING)
    assert [ax.get_title() for ax in fig.axes] == [r"Reing's $C_R$, published post-processing"]
    assert fig.axes[0].get_ylabel() == r"$C_R$ (published)"
    ref = df[df.layer == "L2"].groupby("epoch")["reing.C_R_published"].mean()
    got = {ln.get_label(): ln.get_ydata() for ln in lines(fig.axes[0])}
    np.testing.assert_allclose(got["L2"], ref.to_numpy())
    df["reing.C_R_mean_order"] = 2.0
    fig = plotting.plot_measure(df, REING)
    assert [ax.get_title() for ax in fig.axes] == [
        r"Reing's $C_R$, published post-processing", r"Reing's $C_R$, D-weighted mean order"]
    caption = plotting.figure_caption(fig)
    assert r"$C_R=\Sigma_{k=1}^{n-1}k\,(C_k-C_{k+1})/(C_1-C_n)$" in caption
    assert r"$C_R=\Sigma_{k=1}^{n}k\,(C_{k-1}-C_k)/I(Y;S)$" in caption


def test_bad_input_messages_name_the_field():
    df = make_summary()
    with pytest.raises(ValueError, match="nonexistent"):
        plotting.plot_metric_over_epochs(df, "nonexistent")
    with pytest.raises(TypeError, match="numeric"):
        plotting.plot_metric_over_epochs(df.assign(x="a"), "x")
    with pytest.raises(TypeError, match="DataFrame"):
        plotting.plot_performance({"loss": [1]})
    with pytest.raises(ValueError, match="no non-NaN"):
        plotting.plot_metric_over_epochs(df.assign(x=np.nan), "x")
    with pytest.raises(TypeError, match="Figure"):
        plotting.save_figure("not a figure", "x")


def test_save_figure_writes_png_and_pdf(tmp_path):
    fig = plotting.plot_complexity(make_summary())
    paths = plotting.save_figure(fig, tmp_path / "sub" / "complexity.v1")
    assert [p.name for p in paths] == ["complexity.v1.png", "complexity.v1.pdf"]
    png, pdf = (p.read_bytes() for p in paths)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000


# ---------------------------------------------------------------- bias and new analyses
PID_SURROGATE_EPOCHS = [0.0, 2.0, 30.0]  # first, middle, last of EPOCHS
MI_SUR = "mutual_information_surrogate_mean"
C_SUR = "pid.representational_complexity_surrogate_mean"


def with_surrogates(df: pd.DataFrame, rng_seed: int = 5) -> pd.DataFrame:
    """The analysis' bias columns: I's surrogates everywhere, the PID's at three epochs."""
    rng = np.random.default_rng(rng_seed)
    df = df.copy()
    df[MI_SUR] = rng.uniform(0.01, 0.1, len(df))
    df["mutual_information_surrogate_std"] = rng.uniform(0, 0.01, len(df))
    df["mutual_information_bias_corrected"] = df["mutual_information"] - df[MI_SUR]
    df["mutual_information_p_value"] = rng.uniform(0, 0.1, len(df))
    df["bias_dominated"] = (df[MI_SUR] > 0.1 * df["mutual_information"]) * 1.0
    at = df["epoch"].isin(PID_SURROGATE_EPOCHS)
    df[C_SUR] = np.where(at, rng.uniform(1.0, 1.5, len(df)), np.nan)
    for m in (1, 2):
        df[f"pid.deg_syn_{m}_surrogate_mean"] = np.where(at, rng.uniform(0, 0.05, len(df)),
                                                         np.nan)
    return df


def make_classes(seeds=(0, 1, 2), groupings=("neurons",), rng_seed=6) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = [
        {"run_id": f"r{s}", "seed": s, "chapter": 0, "step": int(10 * e), "epoch": e,
         "layer": layer, "grouping": g, "class": c,
         "pid.mutual_information": rng.uniform(0, 1),
         "pid.representational_complexity": 1 + 0.2 * c + rng.normal(0, 0.05),
         "pid.deg_syn_1": rng.uniform(0, 1)}
        for s in seeds for e in EPOCHS for layer in ("L1", "L2") for g in groupings
        for c in (0, 1, 2)
    ]
    return pd.DataFrame(rows)


def dashed(ax):
    """The surrogate lines (tagged with their column as gid), checked to be dashed."""
    got = [ln for ln in ax.get_lines() if ln.get_gid() is not None]
    assert all(ln.get_linestyle() == "--" for ln in got)
    return got


def curve_of(line) -> str:
    """The curve a dashed line belongs to, from its hidden label ``_<what>: <curve>``."""
    return line.get_label().rsplit(": ", 1)[-1]


def test_mutual_information_dashed_surrogate_mean_per_layer_in_its_colour():
    df = with_surrogates(make_summary())
    fig = plotting.plot_mutual_information(df)
    ax = fig.axes[0]
    solid = {ln.get_label(): ln for ln in lines(ax)}
    assert sorted(solid) == sorted(LAYERS) and len(bands(ax)) == len(LAYERS)
    assert all(ln.get_linestyle() == "-" for ln in solid.values())
    got = dashed(ax)
    assert sorted(curve_of(ln) for ln in got) == sorted(LAYERS)
    sur = df.groupby(["layer", "epoch"])[MI_SUR].mean()
    for ln in got:
        layer = curve_of(ln)
        np.testing.assert_allclose(ln.get_xdata(), sur.loc[layer].index.to_numpy())
        np.testing.assert_allclose(ln.get_ydata(), sur.loc[layer].to_numpy())
        assert ln.get_color() == solid[layer].get_color()
    ref = df.groupby(["layer", "epoch"])["mutual_information"].mean()
    np.testing.assert_allclose(solid["L2"].get_ydata(), ref.loc["L2"].to_numpy())
    caption = plotting.figure_caption(fig)
    assert caption.startswith(r"$I(Y;L)$: plug-in mutual information between the label Y")
    assert "; line: mean over 3 seeds; band: 2.5–97.5 % quantiles over seeds; " in caption
    assert "dashed: shuffled-label surrogate mean of $I(Y;L)$" in caption
    assert "estimation bias" in caption
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [*LAYERS, "surrogate mean (bias)"]
    assert ax.get_ylabel() == "$I(Y;L)$ [bits]"
    assert ax.get_legend().get_title().get_text() == "layer"


def test_mutual_information_without_surrogates_has_no_dashed_line():
    df = make_summary()
    fig = plotting.plot_mutual_information(df.assign(**{MI_SUR: np.nan}))
    assert dashed(fig.axes[0]) == []
    assert "dashed" not in plotting.figure_caption(fig)
    with pytest.raises(ValueError, match="mutual_information"):
        plotting.plot_mutual_information(df.drop(columns="mutual_information"))


def test_complexity_surrogate_dashed_with_markers_at_few_checkpoints():
    df = with_surrogates(make_summary())
    fig = plotting.plot_complexity(df)
    ax = fig.axes[0]
    assert ax.get_title() == "Representational complexity $C$ of each layer over training"
    assert ax.get_ylabel() == "representational complexity $C$"
    caption = plotting.figure_caption(fig)
    assert r"the mean degree of synergy of the $I^{\mathrm{sx}}$ PID" in caption
    solid = {ln.get_label(): ln for ln in lines(ax)}
    got = dashed(ax)
    assert sorted(curve_of(ln) for ln in got) == sorted(LAYERS)
    sur = df.dropna(subset=[C_SUR]).groupby(["layer", "epoch"])[C_SUR].mean()
    for ln in got:
        layer = curve_of(ln)
        assert ln.get_marker() == "x"
        np.testing.assert_allclose(ln.get_xdata(), PID_SURROGATE_EPOCHS)
        np.testing.assert_allclose(ln.get_ydata(), sur.loc[layer].to_numpy())
        assert ln.get_color() == solid[layer].get_color()
    caption = plotting.figure_caption(fig)
    assert "dashed with crosses: shuffled-label surrogate mean of $C$" in caption
    # without the column: no dashed line, no note
    plain = plotting.plot_complexity(make_summary())
    assert dashed(plain.axes[0]) == [] and "dashed" not in plotting.figure_caption(plain)


def test_groupings_never_use_the_dashed_style_of_surrogates():
    from nninfo.presentation.style import LINESTYLES

    assert "--" not in LINESTYLES
    df = with_surrogates(make_summary(groupings=["neurons", "pairs", "triples"]))
    ax = plotting.plot_complexity(df).axes[0]
    assert all(ln.get_linestyle() != "--" for ln in lines(ax))
    assert len({ln.get_linestyle() for ln in lines(ax)}) == 3
    assert len(dashed(ax)) == len(LAYERS) * 3


def test_degree_of_synergy_shows_surrogate_means_dashed():
    df = with_surrogates(make_summary())
    fig = plotting.plot_degree_of_synergy(df)
    ax = fig.axes[1]  # L2
    assert sorted(curve_of(ln) for ln in dashed(ax)) == [r"$\Pi_1$", r"$\Pi_2$"]
    ref = df[df.layer == "L2"].dropna(subset=["pid.deg_syn_2_surrogate_mean"]).groupby(
        "epoch")["pid.deg_syn_2_surrogate_mean"].mean()
    by_m = {curve_of(ln): ln for ln in dashed(ax)}
    pi2 = r"$\Pi_2$"
    np.testing.assert_allclose(by_m[pi2].get_ydata(), ref.to_numpy())
    assert by_m[pi2].get_color() == {ln.get_label(): ln for ln in lines(ax)}[pi2].get_color()
    assert r"surrogate mean of $\Pi_m$" in plotting.figure_caption(fig)


def test_class_complexity_panel_per_layer_colour_per_class():
    cl = make_classes()
    fig = plotting.plot_class_complexity(cl, band="t")
    assert [ax.get_title() for ax in fig.axes] == ["L1", "L2"]
    for ax, layer in zip(fig.axes, ("L1", "L2"), strict=True):
        got = {ln.get_label(): ln for ln in lines(ax)}
        assert sorted(got) == ["0", "1", "2"]
        ref = cl[cl.layer == layer].groupby(["class", "epoch"])[
            "pid.representational_complexity"].mean()
        for c in (0, 1, 2):
            np.testing.assert_allclose(got[str(c)].get_ydata(), ref.loc[c].to_numpy())
        assert len(bands(ax)) == 3
    colours = [{ln.get_label(): ln.get_color() for ln in lines(ax)} for ax in fig.axes]
    assert colours[0] == colours[1] and len(set(colours[0].values())) == 3
    assert fig.axes[0].get_legend() is not None and fig.axes[1].get_legend() is None
    assert plotting.figure_caption(fig).endswith(
        "; line: mean over 3 seeds; band: 95 % t-interval of the mean over seeds")
    two = plotting.plot_class_complexity(make_classes(groupings=("neurons", "pairs")))
    assert [ax.get_title() for ax in two.axes] == ["L1", "L1 (pairs)", "L2", "L2 (pairs)"]
    with pytest.raises(ValueError, match="class"):
        plotting.plot_class_complexity(cl.drop(columns="class"))
    with pytest.raises(ValueError, match="no non-NaN"):
        plotting.plot_class_complexity(cl.assign(**{"pid.representational_complexity": np.nan}))


def test_entropy_invariants_two_panels_per_layer():
    df = make_summary()
    df["shannon_entropy.avg_degree_redundancy"] = 1.5 + 0.1 * df["seed"]
    df["shannon_entropy.avg_degree_vulnerability"] = 0.2 * df["seed"]
    df["shannon_entropy.joint_entropy"] = 3.0
    fig = plotting.plot_measure(df, ENTROPY)
    assert [ax.get_title() for ax in fig.axes] == [
        "Average degree of redundancy", "Average degree of vulnerability"]
    assert [ax.get_ylabel() for ax in fig.axes] == [
        r"$\Sigma_i H(S_i)\,/\,H(S)$", r"$\Sigma_i [H(S)-H(S_{-i})]\,/\,H(S)$"]
    assert "about itself (no label)" in fig.get_suptitle()
    assert r"$\Sigma_iH(S_i)/H(S)$" in plotting.figure_caption(fig)
    for ax in fig.axes:
        assert sorted(ln.get_label() for ln in lines(ax)) == sorted(LAYERS)
    got = {ln.get_label(): ln.get_ydata() for ln in lines(fig.axes[0])}
    np.testing.assert_allclose(got["L1"], np.full(len(EPOCHS), 1.6))
    with pytest.raises(ValueError, match="shannon_entropy"):
        plotting.plot_measure(make_summary(), ENTROPY)


def test_broja_complexity_names_its_measure():
    df = make_summary(groupings=["neurons", "pairs"])
    df["broja.representational_complexity"] = np.where(df.grouping == "pairs",
                                                       1.2 + 0.1 * df["seed"], np.nan)
    fig = plotting.plot_measure(df, BROJA)
    ax = fig.axes[0]
    assert "BROJA" in ax.get_title() and "BROJA" in ax.get_ylabel()
    got = {ln.get_label(): ln.get_ydata() for ln in lines(ax)}
    assert sorted(got) == sorted(f"{la} (pairs)" for la in LAYERS)
    np.testing.assert_allclose(got["L2 (pairs)"], np.full(len(EPOCHS), 1.3))


def full_summary() -> pd.DataFrame:
    df = with_surrogates(make_summary())
    df["reing.C_R_published"] = 1.2
    df["shannon_entropy.avg_degree_redundancy"] = 1.5
    df["shannon_entropy.avg_degree_vulnerability"] = 0.5
    df["broja.representational_complexity"] = 1.3
    return df


def test_standard_figures_add_the_new_figures_when_their_data_exist():
    figs = plotting.standard_figures(full_summary(), make_performance(), make_stats(),
                                     classes=make_classes())
    assert list(figs) == ["performance", "mutual_information", "complexity",
                          "degree_of_synergy", "class_complexity", "shannon_invariants",
                          "reing", "entropy_invariants", "broja_complexity",
                          "activation_statistics"]
    dashed_words = {"mutual_information": "dashed: shuffled-label surrogate mean of $I(Y;L)$",
                    "complexity": "dashed with crosses: shuffled-label surrogate mean of $C$",
                    "degree_of_synergy": "dashed with crosses: shuffled-label surrogate mean"}
    for name, fig in figs.items():
        caption = plotting.figure_caption(fig)
        assert ("dashed" in caption) == (name in dashed_words), name
        if name in dashed_words:
            assert dashed_words[name] in caption
            texts = [getattr(t, "get_text", lambda: "")() for t in fig.get_children()]
            assert caption in texts, name  # the footer shows it too


def test_standard_figures_skip_new_figures_without_their_columns():
    df = make_summary().drop(columns="mutual_information")
    figs = plotting.standard_figures(df, None)
    assert not {"mutual_information", "class_complexity", "entropy_invariants",
                "broja_complexity"} & set(figs)
    nan = full_summary()
    for col in ("shannon_entropy.avg_degree_redundancy",
                "shannon_entropy.avg_degree_vulnerability",
                "broja.representational_complexity", "mutual_information"):
        nan[col] = np.nan
    classes = make_classes().assign(**{"pid.representational_complexity": np.nan})
    figs = plotting.standard_figures(nan, None, classes=classes)
    assert not {"mutual_information", "class_complexity", "entropy_invariants",
                "broja_complexity"} & set(figs)
    assert plotting.standard_figures(None, None, classes=None) == {}


@pytest.mark.parametrize("drop", [False, True])
def test_performance_without_accuracy_shows_loss_only(drop):
    perf = make_performance().assign(accuracy=np.nan)
    if drop:
        perf = perf.drop(columns="accuracy")
    fig = plotting.plot_performance(perf)
    assert [ax.get_title() for ax in fig.axes] == ["Loss over training"]
    assert sorted(ln.get_label() for ln in lines(fig.axes[0])) == ["test", "train"]
    assert "performance" in plotting.standard_figures(None, perf)
    with pytest.raises(ValueError, match="loss"):
        plotting.plot_performance(perf.assign(loss=np.nan))


# ---------------------------------------------------------------- legible labels
def label_texts(fig) -> list[str]:
    """Every title, axis label and legend text (and legend title) of a figure."""
    out = [fig.get_suptitle()] if fig.get_suptitle() else []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
            out.append(legend.get_title().get_text())
    return [t for t in out if t]


MATH = MathTextParser("path")


def outside_math(text: str) -> str:
    return "".join(text.split("$")[0::2])


def math_parts(text: str) -> list[str]:
    return text.split("$")[1::2]


def grouped_summary() -> pd.DataFrame:
    df = full_summary()
    pairs = df.assign(grouping="pairs")
    return pd.concat([df.assign(grouping="neurons"), pairs], ignore_index=True)


@pytest.mark.parametrize("overlay", [False, True])
def test_labels_are_mathtext_without_literal_underscores(overlay):
    frames = (grouped_summary(), make_performance(), make_stats(), make_classes())
    if overlay:
        frames = tuple(two_experiments(f) for f in frames)
    summary, perf, stats, classes = frames
    figs = plotting.standard_figures(summary, perf, stats, classes=classes)
    assert len(figs) == 10
    for name, fig in figs.items():
        texts = label_texts(fig)
        for text in texts:
            assert "_" not in outside_math(text), (name, text)
            assert "I(T" not in text and "layer /" not in text, (name, text)
            assert not text.endswith("(neurons)"), (name, text)
        caption = plotting.figure_caption(fig)
        assert "_" not in outside_math(caption), (name, caption)
        assert all(" " not in m for m in math_parts(caption)), name  # the footer wraps at spaces
        for math in [m for t in [*texts, caption] for m in math_parts(t)]:
            MATH.parse(f"${math}$")  # every mathtext parses (raises ValueError otherwise)
    assert r"$\Pi_2$" in label_texts(figs["degree_of_synergy"])
    assert "$I(Y;L)$ [bits]" in label_texts(figs["mutual_information"])
    assert "representational complexity $C$" in label_texts(figs["complexity"])
    assert "$C_R$ (published)" in label_texts(figs["reing"])


def test_legends_name_no_default_grouping_and_titles_say_what_is_shown():
    df = make_summary()  # no grouping column
    one = make_summary(groupings=["neurons"])
    for frame in (df, one):
        ax = plotting.plot_complexity(frame).axes[0]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == LAYERS
        assert ax.get_legend().get_title().get_text() == "layer"
    two = plotting.plot_mutual_information(make_summary(groupings=["neurons", "pairs"]))
    legend = [t.get_text() for t in two.axes[0].get_legend().get_texts()]
    assert legend == ["L1", "L1 (pairs)", "L2", "L2 (pairs)", "L10", "L10 (pairs)"]
    assert not any(t.endswith("(neurons)") for t in legend)
    syn = plotting.plot_degree_of_synergy(make_summary(groupings=["neurons"]))
    assert [ax.get_title() for ax in syn.axes] == LAYERS
    assert syn.get_suptitle() == r"Information $\Pi_m$ at each degree of synergy $m$ over training"


def test_captions_define_the_symbols():
    df = full_summary()
    inv = plotting.figure_caption(plotting.plot_measure(df, SHANNON))
    assert r"degree of redundancy $\Sigma_iI(Y;S_i)/I(Y;S)$" in inv
    assert r"degree of vulnerability $\Sigma_i[I(Y;S)-I(Y;S_{-i})]/I(Y;S)$" in inv
    assert r"$S_i$ one source, $S_{-i}$ all but $S_i$" in inv
    assert inv.index("degree of redundancy") < inv.index("line: mean over 3 seeds")
    ent = plotting.figure_caption(plotting.plot_measure(df, ENTROPY))
    assert r"degree of redundancy $\Sigma_iH(S_i)/H(S)$" in ent
    c = plotting.figure_caption(plotting.plot_complexity(df))
    assert c.startswith(r"$C=\Sigma_m\,m\,\Pi_m/I(Y;L)$: representational complexity")
    pi = plotting.figure_caption(plotting.plot_degree_of_synergy(df))
    assert pi.startswith(r"$\Pi_m$: sum of the $I^{\mathrm{sx}}$ PID atoms of degree of synergy")
    broja = plotting.figure_caption(plotting.plot_measure(df, BROJA))
    assert r"$C=1+\mathrm{synergy}/I(Y;S)$" in broja


# ---------------------------------------------------------------- overlays
NAMES = ("8 levels", "4 levels")


def two_experiments(df: pd.DataFrame, shift: float = 1.0) -> pd.DataFrame:
    """The frame as experiment "8 levels" and, with the same seeds and every value column
    raised by ``shift``, as "4 levels"."""
    second = df.copy()
    skip = {"seed", "epoch", "chapter", "step", "neuron", "class", "run_id"}
    for col in second.columns:
        if col not in skip and pd.api.types.is_float_dtype(second[col]):
            second[col] = second[col] + shift
    return pd.concat([df.assign(experiment=NAMES[0]), second.assign(experiment=NAMES[1])],
                     ignore_index=True)


def test_overlay_has_a_line_per_experiment_and_layer_coloured_by_experiment():
    df = make_summary()
    both = two_experiments(df)
    fig = plotting.plot_complexity(both)
    ax = fig.axes[0]
    got = {ln.get_label(): ln for ln in lines(ax)}
    assert list(got) == [f"{e}: {la}" for e in NAMES for la in LAYERS]
    colour = {e: {got[f"{e}: {la}"].get_color() for la in LAYERS} for e in NAMES}
    assert all(len(c) == 1 for c in colour.values())  # one colour per experiment
    assert colour[NAMES[0]] != colour[NAMES[1]]
    for la in LAYERS:  # one line style (and marker) per layer, the same in each experiment
        looks = {(got[f"{e}: {la}"].get_linestyle(), got[f"{e}: {la}"].get_marker())
                 for e in NAMES}
        assert len(looks) == 1
    assert len({got[f"{NAMES[0]}: {la}"].get_linestyle() for la in LAYERS}) == len(LAYERS)
    # the same seed numbers in both experiments are not mixed
    value = "pid.representational_complexity"
    ref = df[df.layer == "L2"].groupby("epoch")[value].mean().to_numpy()
    np.testing.assert_allclose(got["8 levels: L2"].get_ydata(), ref)
    np.testing.assert_allclose(got["4 levels: L2"].get_ydata(), ref + 1.0)
    assert ax.get_legend().get_title().get_text() == "experiment: layer"
    assert "colours: experiments; line styles and markers: layer" in plotting.figure_caption(fig)


def test_single_experiment_column_looks_as_without_it():
    df = with_surrogates(make_summary(groupings=["neurons", "pairs"]))
    plain = plotting.standard_figures(df, make_performance())
    tagged = plotting.standard_figures(df.assign(experiment="only"),
                                       make_performance().assign(experiment="only"))
    assert list(plain) == list(tagged)
    for name in plain:
        assert plotting.figure_caption(plain[name]) == plotting.figure_caption(tagged[name])
        assert label_texts(plain[name]) == label_texts(tagged[name]), name
        for a, b in zip(plain[name].axes, tagged[name].axes, strict=True):
            assert [(ln.get_label(), ln.get_color(), ln.get_linestyle()) for ln in a.get_lines()] \
                == [(ln.get_label(), ln.get_color(), ln.get_linestyle()) for ln in b.get_lines()]
            for la, lb in zip(a.get_lines(), b.get_lines(), strict=True):
                np.testing.assert_allclose(la.get_ydata(), lb.get_ydata())


def test_overlay_of_panels_performance_and_groupings():
    summary = two_experiments(make_summary(groupings=["neurons", "pairs"]))
    fig = plotting.plot_mutual_information(summary)
    labels = [ln.get_label() for ln in lines(fig.axes[0])]
    assert labels[:2] == ["8 levels: L1", "8 levels: L1 (pairs)"] and len(labels) == 12
    syn = plotting.plot_degree_of_synergy(two_experiments(make_summary()))
    assert [ax.get_title() for ax in syn.axes] == [f"{e}: {la}" for e in NAMES for la in LAYERS]
    perf = plotting.plot_performance(two_experiments(make_performance()))
    assert sorted(ln.get_label() for ln in lines(perf.axes[0])) == sorted(
        f"{e}: {d}" for e in NAMES for d in ("train", "test"))
    cls = plotting.plot_class_complexity(two_experiments(make_classes()))
    assert [ax.get_title() for ax in cls.axes] == [f"{e}: {la}" for e in NAMES
                                                   for la in ("L1", "L2")]
    order = plotting.plot_complexity(two_experiments(make_summary()).iloc[::-1])
    assert lines(order.axes[0])[0].get_label() == "4 levels: L1"  # order of appearance

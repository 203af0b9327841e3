"""The probe on networks nninfo did not build: the pipeline's numbers for the same network,
a torchvision architecture used as it is, and clear errors before any run exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nninfo import results
from nninfo.config import load_config
from nninfo.nn.quantizers import Quantizer
from nninfo.probe import Layer, Probe, metric_names
from nninfo.testing import write_mnist, write_qmnist_test
from nninfo.tracking import runs
from nninfo.tracking.aggregate import band_keys
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings

REPO = Path(__file__).resolve().parents[1]


def _plain_copy(net) -> nn.Sequential:
    """The nninfo network as plain PyTorch blocks (Linear, Tanh, a quantizer module), with
    its weights: what a researcher would write by hand."""
    blocks = []
    for layer in net.layers.values():
        linear = nn.Linear(layer.op.in_features, layer.op.out_features)
        linear.load_state_dict(layer.op.state_dict())
        parts = [linear]
        if layer.activation == "tanh":
            parts.append(nn.Tanh())
        if layer.quantizer is not None:
            q = layer.quantizer
            parts.append(Quantizer(q.levels, q.mode, (q.lo, q.hi)))
        blocks.append(nn.Sequential(*parts))
    return nn.Sequential(*blocks)


def _metrics(run_id: str, prefixes: tuple[str, ...]) -> dict[tuple[str, int], float]:
    c = runs.client()
    keys = [k for k in c.get_run(run_id).data.metrics if k.startswith(prefixes)]
    return {(k, m.step): m.value for k in keys for m in c.get_metric_history(run_id, k)}


@pytest.mark.slow
def test_probe_logs_the_pipeline_s_metrics_for_the_published_mnist_network(tmp_path):
    """mnist_8levels_onehot (quick, one seed) analysed by the pipeline, and the same weights
    at every checkpoint, written as plain PyTorch blocks, probed at its three 5-unit layers:
    every logged metric of L3-L5 (PID, C, Pi_m, Reing's C_R, I and its surrogates, PID
    surrogates at the same checkpoints) is identical, at every step."""
    data = tmp_path / "data"
    write_mnist(data, n_train=192, n_test=64, seed=0)
    write_qmnist_test(data, n_extra=64, seed=0)
    # 2 PID surrogates instead of the project's 20: each is a 7579-atom PID of a 5-unit layer,
    # computed by both sides at 3 checkpoints x 3 layers; their equality needs no more
    cfg = load_config(REPO / "projects" / "mnist_8levels_onehot" / "config.yaml", quick=True,
                      overrides={"seeds": [0], "analysis.surrogates.pid": 2})
    settings = Settings(data_dir=str(data), workers=1, progress=False)
    parent = run_entry("main", ("train", "analyze"), cfg, settings, cfg.name)
    seed_run = runs.seed_runs(parent)[0].info.run_id
    layers = list(cfg.analysis.layers)
    expected = _metrics(seed_run, tuple(f"{x}/" for x in layers))
    assert len(expected) > 100

    from nninfo.jobs import load_experiment_task, split
    from nninfo.tracking.checkpoints import checkpoint_index

    train = split(load_experiment_task(cfg, str(data)), cfg.analysis.dataset)
    index = sorted(checkpoint_index(seed_run), key=lambda ck: ck["step"])
    analysis = {k: v for k, v in cfg.to_dict()["analysis"].items()
                if k not in ("layers", "dataset")}
    model = _plain_copy(results.load_model(seed_run, step=0))
    probe = Probe(model, (train.x, train.labels),
                  {name: str(int(name[1:]) - 1) for name in layers}, analysis=analysis,
                  schedule=[ck["step"] for ck in index], experiment="probed", seed=0)
    with probe:
        for ck in index:
            net = results.load_model(seed_run, step=ck["step"])
            model.load_state_dict(_plain_copy(net).state_dict())
            probe.log(ck["step"], epoch=ck["epoch"])
    got = _metrics(probe.runs.seed_run, tuple(f"{x}/" for x in layers))
    assert got == expected
    probed = results.load_summary(train_run=probe.runs.parent)
    assert sorted(probed.epoch.unique()) == sorted(ck["epoch"] for ck in index)
    assert set(probed.layer) == set(layers)


def _images(n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    x = torch.rand(n, 3, 32, 32, generator=g) + labels[:, None, None, None] / 10
    return x, labels


def test_a_torchvision_resnet18_is_probed_at_two_layers_as_it_is():
    from torchvision.models import resnet18

    torch.manual_seed(0)
    model = resnet18(num_classes=10)
    x, labels = _images()
    model.eval()
    with torch.no_grad():
        before = model(x)
    model.train()
    layers = {"layer3": Layer("layer3", n_bins=4, limits="quantiles", units="channels"),
              "pooled": Layer("avgpool", n_bins=3, limits="quantiles")}
    analysis = {"measures": ["pid", "shannon_entropy"],
                "groupings": [{"name": "all", "kind": "groups",
                               "groups": [list(range(256))], "layers": ["layer3"]},
                              {"name": "subsets", "kind": "random_subsets", "size": 5,
                               "count": 3, "layers": ["pooled"]}],
                "surrogates": {"mi": 4, "pid": 0}}
    with Probe(model, (x, labels), layers, analysis=analysis, batch_size=16,
               experiment="resnet") as probe:
        probe.log(0)
        probe.log(10, epoch=1.0)
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks for m in model.modules())
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), before)
    summary = results.load_summary(train_run=probe.runs.parent)
    assert set(summary.layer) == {"layer3", "pooled"}
    assert sorted(summary.step.unique()) == [0, 10]
    pooled = summary[(summary.layer == "pooled") & (summary.grouping == "subsets")]
    assert pooled["pid.representational_complexity"].between(1, 5).all()
    whole = summary[(summary.layer == "layer3") & (summary.grouping == "all")]
    # one source holding the whole layer: its entropy-only invariants are its entropy
    assert (whole["shannon_entropy.avg_degree_redundancy"].notna()).all()
    edges = runs.client().list_artifacts(probe.runs.seed_run, "analysis/edges/layer3")
    assert [Path(e.path).name for e in edges] == ["step_00000000.csv", "step_00000010.csv"]
    for run_id in (probe.runs.parent, probe.runs.seed_run):
        assert runs.client().get_run(run_id).info.status == "FINISHED"
    # the parent run carries the curves, as a training run's parent does: a random-subset
    # grouping's line is the mean over its (seed, subset) values (here the seed's mean over
    # its 3 subsets, up to rounding), its band the quantiles over them (as the published Fig. 5B)
    parent = runs.client().get_run(probe.runs.parent).data.metrics
    key = "pooled/subsets/pid.representational_complexity"
    assert parent[key] == pytest.approx(
        runs.client().get_run(probe.runs.seed_run).data.metrics[key], rel=1e-12)
    lo, hi = band_keys(key)
    assert parent[lo] <= parent[key] <= parent[hi]


def test_codes_are_the_quantizer_s_levels_and_bins_between_limits():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.ReLU())
    x = torch.randn(200, 3, generator=torch.Generator().manual_seed(1))
    labels = (x[:, 0] > 0).long()
    probe = Probe(model, (x, labels), {"t": Layer("1", levels=5),
                                       "r": Layer("3", n_bins=4, limits=(0.0, 2.0)),
                                       "q": Layer("3", n_bins=4, limits="quantiles")},
                  analysis={"measures": ["pid"]})
    cap, _, edges = probe.capture()
    with torch.no_grad():
        t = model[1](model[0](x))
        r = model(x)
    assert np.array_equal(cap["t"], np.rint((t.numpy() + 1) / 0.5).astype(int))
    assert np.array_equal(cap["r"], np.clip(np.floor(r.numpy() / 0.5), 0, 3).astype(int))
    grid = np.unique(np.quantile(r.numpy(), np.linspace(0, 1, 5)))
    assert np.allclose(edges["q"], grid)
    assert cap.levels == {"t": 5, "r": 4, "q": 4}


def test_layer_names_that_mlflow_cannot_take_are_mapped_once_and_logged():
    assert metric_names(["conv/1", "a:b", "ok.1", "a_b"]) == {
        "conv/1": "conv_1", "a:b": "a_b", "ok.1": "ok.1", "a_b": "a_b_2"}
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    x = torch.randn(50, 3)
    with Probe(model, (x, (x[:, 0] > 0).long()), {"tanh/out": Layer("1", levels=3)},
               analysis={"surrogates": {"mi": 0, "pid": 0}}) as probe:
        probe.log(0)
    parent = runs.client().get_run(probe.runs.parent)
    assert "tanh/out" in parent.data.tags["nninfo.renamed_layers"]
    assert "tanh_out/pid.representational_complexity" in \
        runs.client().get_run(probe.runs.seed_run).data.metrics


class _TwoOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, 4, batch_first=True)
        self.act = nn.Tanh()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(self.act(self.act(out[:, -1])))


def _bad(model, layers, match: str, **kwargs) -> None:
    x = kwargs.pop("x", torch.randn(20, 5, 3))
    labels = kwargs.pop("labels", torch.zeros(20, dtype=torch.long))
    with pytest.raises(ValueError, match=match):
        Probe(model, (x, labels), layers, **kwargs)


@pytest.mark.parametrize("layers, match, kwargs", [
    ({"x": "rnnn"}, r"'rnnn' is not a module path of the model \(nearest: rnn", {}),
    ({"x": Layer("rnn", levels=3, limits=(-1, 1))}, r"returns a tuple of 2 .*output=i", {}),
    ({"x": Layer("rnn", output=0)}, r"say how its values become symbols", {}),
    ({"x": Layer("head", levels=4)}, r"has no bounded range .*limits=\(lo, hi\)", {}),
    ({"x": Layer("act", levels=4)}, r"called 2 times in one forward pass", {}),
    ({"x": Layer("rnn", output=0, levels=3, limits=(-1, 1))}, r"at most 5 neurons for measure "
     r"'pid'.*random_subsets", {"analysis": {"measures": ["pid"]}}),
    ({"x": Layer("rnn", output=0, levels=3, limits=(-1, 1))}, r"labels: shape \(19,\)",
     {"labels": torch.zeros(19, dtype=torch.long)}),
    ({"x": Layer("rnn", output=0, levels=3, limits=(-1, 1))}, r"labels: torch.float32",
     {"labels": torch.zeros(20)}),
    ({"x": Layer("rnn", output=0, levels=3, limits=(-1, 1))}, r"analysis.rounding",
     {"analysis": {"rounding": "stochastic"}}),
    ({"x": Layer("rnn", output=0, levels=3, limits=(-1, 1))}, r"analysis.measures",
     {"analysis": {"measures": ["nonsense"]}}),
])
def test_bad_input_is_a_clear_error_before_any_run(layers, match, kwargs):
    _bad(_TwoOutputs(), layers, match, **kwargs)
    assert runs.client().search_runs([e.experiment_id for e in
                                      runs.client().search_experiments()]) == []


def test_a_module_the_forward_never_calls_is_named():
    class Skips(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = nn.Linear(3, 2), nn.Tanh()

        def forward(self, x):
            return torch.tanh(self.used(x))

    with pytest.raises(ValueError, match="'unused' was not called by the model's forward"):
        Probe(Skips(), (torch.randn(4, 3), torch.zeros(4, dtype=torch.long)),
              {"u": Layer("unused", levels=3)})


def test_a_failure_while_measuring_ends_the_runs_failed(monkeypatch):
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    x = torch.randn(30, 3)
    probe = Probe(model, (x, (x[:, 0] > 0).long()), ["1"], analysis={"n_bins": 3})
    probe.log(0)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(probe, "capture", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        probe.log(1)
    for run_id in (probe.runs.parent, probe.runs.seed_run):
        assert runs.client().get_run(run_id).info.status == "FAILED"
    with pytest.raises(ValueError, match="ended"):
        probe.log(2)


def test_the_schedule_skips_other_steps_and_places_pid_surrogates_by_position():
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    x = torch.randn(60, 3)
    probe = Probe(model, (x, (x[:, 0] > 0).long()), {"h": Layer("1", levels=3)},
                  analysis={"surrogates": {"mi": 2, "pid": 2,
                                           "pid_checkpoints": ["first", "last"]}},
                  schedule=[0, 4, 9])
    with probe:
        logged = [step for step in range(10) if probe.log(step) is not None]
    assert logged == [0, 4, 9]
    key = "h/pid.representational_complexity_surrogate_mean"
    history = runs.client().get_metric_history(probe.runs.seed_run, key)
    assert sorted(m.step for m in history) == [0, 9]


def test_probe_runs_nest_under_the_active_run_and_link_it_as_the_model_s_run():
    import mlflow

    model = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid())
    x = torch.randn(30, 3)
    mlflow.set_experiment("outer")  # the fluent API remembers earlier tests' experiments
    with mlflow.start_run() as outer:
        with Probe(model, (x, (x[:, 0] > 0).long()), ["1"],
                   analysis={"n_bins": 2, "surrogates": {"mi": 0, "pid": 0}}) as probe:
            probe.log(0)
    parent = runs.client().get_run(probe.runs.parent)
    assert parent.data.tags[runs.PARENT] == outer.info.run_id
    assert parent.data.tags["nninfo.model_run"] == outer.info.run_id
    assert parent.info.experiment_id == outer.info.experiment_id


def test_a_grouping_s_own_measures_let_one_layer_have_invariants_of_all_units_and_subset_pids():
    model = nn.Sequential(nn.Linear(4, 12), nn.Tanh())
    x = torch.randn(120, 4, generator=torch.Generator().manual_seed(2))
    labels = (x[:, 0] > 0).long()
    analysis = {"measures": ["pid", "shannon"], "surrogates": {"mi": 0, "pid": 0},
                "groupings": [{"name": "neurons", "measures": ["shannon"]},
                              {"name": "fives", "kind": "random_subsets", "size": 5,
                               "count": 2}]}
    with Probe(model, (x, labels), {"h": Layer("1", levels=3)}, analysis=analysis) as probe:
        result = probe.log(0)
    assert "h/shannon.avg_degree_redundancy" in result.measures
    assert not any(k.startswith("h/pid.") for k in result.measures)
    assert "h/fives/pid.representational_complexity" in result.measures
    assert "h/fives/shannon.avg_degree_redundancy" in result.measures
    with pytest.raises(ValueError, match=r"groupings\[neurons\].measures"):
        Probe(model, (x, labels), {"h": Layer("1", levels=3)},
              analysis={"measures": ["shannon"],
                        "groupings": [{"name": "neurons", "measures": ["pid"]}]})
    with pytest.raises(ValueError, match="give grouping 'neurons' measures without 'pid'"):
        Probe(model, (x, labels), {"h": Layer("1", levels=3)},
              analysis={"measures": ["pid", "shannon"]})


def _two_layer_probe(experiment: str, levels: int) -> Probe:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 3), nn.Tanh())
    x = torch.randn(150, 4, generator=torch.Generator().manual_seed(4))
    return Probe(model, (x, (x[:, 0] + x[:, 1] > 0).long()),
                 {"h1": Layer("1", levels=levels), "h2": Layer("3", levels=levels)},
                 analysis={"surrogates": {"mi": 3, "pid": 0}}, experiment=experiment)


def test_probe_experiments_get_the_report_and_report_compare_like_training_runs():
    from nninfo.tracking.compare import compare
    from nninfo.tracking.pipeline import Settings

    for name, levels in (("coarse", 3), ("fine", 6)):
        with _two_layer_probe(name, levels) as probe:
            probe.log(0, epoch=0.0)
            probe.log(5, epoch=1.0)
            page = probe.report()
        html = page.read_text()
        assert page.parent == Path("outputs", name,
                                   f"probe_Sequential-{probe.runs.parent[:8]}").resolve()
        assert f"nninfo: {name} · probe Sequential" in html
        assert "h1" in html and "h2" in html
        logged = {a.path for a in runs.client().list_artifacts(probe.runs.parent)}
        assert "report.html" in logged and "figures" in logged
    page = compare(["coarse", "fine"], Settings(out_dir="outputs"))
    assert page.is_file()
    differences = (page.parent / "config_differences.csv").read_text()
    assert "probe.layers.h1" in differences


def test_smoothed_binning_with_tiny_noise_is_hard_binning():
    """Gaussian mass per bin with sigma far below the bin width puts each value in its own
    bin: the same I and PID as equal-width bins."""
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    x = torch.randn(80, 3, generator=torch.Generator().manual_seed(5))
    labels = (x[:, 0] > 0).long()
    layer = {"h": Layer("1", n_bins=4)}
    hard = Probe(model, (x, labels), layer, analysis={"surrogates": {"mi": 0, "pid": 0}})
    smooth = Probe(model, (x, labels), layer, analysis={
        "binning": "smoothed", "noise_sigma": 1e-9, "n_bins": 4,
        "surrogates": {"mi": 0, "pid": 0}})
    a, b = hard.analyze().measures, smooth.analyze().measures
    for key in ("h/mutual_information", "h/pid.representational_complexity"):
        assert b[key] == pytest.approx(a[key], abs=1e-9)
    with pytest.raises(ValueError, match="binning 'smoothed' smooths values"):
        Probe(model, (x, labels), {"h": Layer("1", levels=4)}, analysis={
            "binning": "smoothed", "noise_sigma": 0.1, "n_bins": 4})


def test_an_experiment_s_training_run_is_still_found_beside_newer_probe_runs():
    c = runs.client()
    exp = runs.experiment_id("trained")
    main = c.create_run(exp, tags={runs.ROLE: "entry", runs.ENTRY: "main",
                                   runs.N_SEEDS: "1"}).info.run_id
    seed = runs.child_run(main, "seed 0", {runs.ROLE: runs.SEED_ROLE, "seed": "0"})
    c.set_terminated(seed, "FINISHED")
    c.set_terminated(main, "FINISHED")
    with _two_layer_probe("trained", 3) as probe:
        probe.log(0)
    assert runs.find_parent("trained") == main
    with _two_layer_probe("only_probed", 3) as alone:
        alone.log(0)
    assert runs.find_parent("only_probed") == alone.runs.parent


def test_a_store_refusing_the_probe_s_description_leaves_no_run_running(monkeypatch):
    from nninfo.tracking import probe_runs

    def refused(*args, **kwargs):
        raise OSError("read-only artifact store")

    monkeypatch.setattr(probe_runs, "_describe", refused)
    probe = _two_layer_probe("refused", 3)
    with pytest.raises(OSError, match="read-only"):
        probe.log(0)
    found = runs.client().search_runs([runs.experiment_id("refused")])
    assert len(found) == 2 and {r.info.status for r in found} == {"FAILED"}


def test_a_torch_export_graph_is_refused_with_the_way_out():
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    graph = torch.export.export(model, (torch.randn(2, 3),)).module()
    with pytest.raises(ValueError, match="serialization_format='pickle'"):
        Probe(graph, (torch.randn(8, 3), torch.zeros(8, dtype=torch.long)), ["0"],
              analysis={"n_bins": 2})

"""The catalogue of measures: a measure added by one catalogue entry alone is computed,
logged to MLflow, loaded by ``nninfo.results``, plotted and reported."""

from __future__ import annotations

import html
from typing import ClassVar

import numpy as np
import pytest

from nninfo import results
from nninfo.config import ConfigError, build_config
from nninfo.info import catalog
from nninfo.info.catalog import ENTROPY, MeasureEntry, Quantity, register_measure
from nninfo.info.entropy import joint_entropy
from nninfo.info.measure import Measure
from nninfo.tracking import runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from tests.helpers import local_report, tishby_layers


class SourceEntropy(Measure):
    """A toy measure: the joint entropy of the sources, and how many there are."""

    labels: ClassVar[tuple[str, ...]] = ()

    def __init__(self, h: float, n: int):
        self.h, self.n = h, n

    def _scalars(self) -> dict[str, float]:
        return {"entropy": self.h, "sources": self.n}


def _source_entropy(sources, labels, weights):
    return SourceEntropy(joint_entropy(sources, weights=weights), sources.shape[1])


TOY = MeasureEntry(
    name="toy", result=SourceEntropy, compute=_source_entropy,
    title="Toy: the joint entropy of each layer's sources", note="H(S): joint entropy",
    quantities=(Quantity("entropy", "toy H(S) [bits]", ("Joint entropy", "$H(S)$ [bits]")),
                Quantity("sources", "sources", metric=False)),
    section="toy", section_title="Toy measure", figure="toy_entropy", needs_target=False,
    max_sources=3)


@pytest.fixture
def toy():
    entry = register_measure(TOY)
    yield entry
    catalog.unregister_measure(TOY.name)


def config(measures: list[str]) -> dict:
    return {
        "name": "toy_run", "seeds": 2, "task": {"name": "tishby"},
        "network": {"layers": tishby_layers(3, 3, levels=4)},
        "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64,
                     "epochs": 1, "checkpoint_count": 2},
        "analysis": {"layers": ["L1", "L2"], "measures": measures,
                     "surrogates": {"mi": 0, "pid": 0}},
    }


def test_a_measure_added_to_the_catalogue_alone_is_logged_loaded_plotted_and_reported(
        toy, tmp_path):
    cfg = build_config(config(["toy", ENTROPY.name]))
    settings = Settings(workers=1, progress=False, out_dir=str(tmp_path / "out"))
    run_entry("main", ("train", "analyze", "performance", "report"), cfg, settings, cfg.name)
    parent = runs.find_parent(cfg.name)
    seed_run = runs.seed_runs(parent)[0]
    # logged: a curve in MLflow for the metric quantity, none for the other
    assert "L1/toy.entropy" in seed_run.data.metrics
    assert "L1/toy.sources" not in seed_run.data.metrics
    # loaded, and equal to the joint entropy that the entropy-only invariants computed
    summary = results.load_summary(train_run=parent)
    np.testing.assert_allclose(summary["toy.entropy"],
                               summary[ENTROPY.key("joint_entropy")], rtol=1e-12)
    assert summary["toy.entropy"].notna().all() and (summary["toy.entropy"] > 0).all()
    measures = results.load_measures(train_run=parent)
    assert set(measures.loc[measures["quantity"] == "toy.sources", "value"]) == {3.0}
    # plotted and reported
    out = local_report(tmp_path / "out", cfg.name, parent).parent
    assert (out / "figures" / "toy_entropy.png").is_file()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="fig-toy_entropy"' in page
    assert 'id="toy"' in page and html.escape(TOY.section_title) in page
    assert "toy H(S) [bits]" in page


def test_the_catalogue_rules_reach_the_config(toy):
    with pytest.raises(ConfigError, match=r"analysis.measures: 'nope'.*toy"):
        build_config(config(["nope"]))
    raw = config(["toy"])
    raw["analysis"]["groupings"] = [{"name": "quads", "kind": "groups",
                                     "groups": [[0], [1], [2], [3]]}]
    raw["network"]["layers"] = tishby_layers(4, 3, levels=4)
    with pytest.raises(ConfigError, match=r"at most 3 sources for measure 'toy'"):
        build_config(raw)
    raw = config(["pid"])
    raw["analysis"]["groupings"] = [{"name": "toy", "kind": "groups", "groups": [[0], [1]]}]
    with pytest.raises(ConfigError, match=r"not a measure name"):
        build_config(raw)


def test_the_old_spelling_of_the_entropy_only_measure_still_works():
    with pytest.warns(FutureWarning, match="shannon_entropy_only.*shannon_entropy"):
        cfg = build_config(config(["shannon_entropy_only"]))
    assert cfg.analysis.measures == (ENTROPY.name,)
    with pytest.raises(ConfigError, match="distinct"), pytest.warns(FutureWarning):
        build_config(config(["shannon_entropy_only", "shannon_entropy"]))


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="in the catalogue already"):
        register_measure(ENTROPY)


def test_the_count_quantities_are_the_integers_of_a_layer_summary():
    from nninfo.capture import layer_summary

    codes = np.random.default_rng(0).integers(0, 3, size=(50, 4))
    summary = layer_summary(codes, 3)
    assert {k for k, v in summary.items() if isinstance(v, int)} == catalog.COUNT_QUANTITIES
    assert summary["n_samples"] == 50 and summary["n_neurons"] == 4
    assert summary["distinct_patterns"] == len(np.unique(codes, axis=0))

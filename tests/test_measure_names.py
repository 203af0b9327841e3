"""Metric names cannot collide: measures namespace their keys, merging refuses duplicates."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import numpy as np
import pytest

from nninfo.capture import Capture
from nninfo.config import build_config
from nninfo.info import (
    EntropyInvariants,
    Measure,
    ReingComplexity,
    ShannonInvariants,
    SxPID,
    catalog,
    entropy_invariants,
    reing_complexity,
    shannon_invariants,
    sx_pid,
)
from nninfo.jobs import analyze
from nninfo.jobs.measures import measure_sources
from nninfo.jobs.tables import hard_table
from nninfo.tracking.metrics import curated, is_metric
from nninfo.tracking.results import LAYER_KEY, PERF_KEY, RUNNING
from tests.helpers import tishby_layers

MEASURES = ("pid", "shannon", "reing")
CONFIG = {
    "name": "names",
    "seeds": 1,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4, levels=3)},
    "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64, "epochs": 1},
    "analysis": {"layers": ["L1"], "measures": list(MEASURES), "surrogates": {"mi": 20, "pid": 2},
                 "groupings": [{"name": "neurons"},
                               {"name": "pairs", "kind": "groups", "groups": [[0, 1], [2, 3]]}]},
}


def _capture(n: int = 400, width: int = 4, seed: int = 0) -> Capture:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 3, size=(n, width))
    labels = (codes[:, 0] + codes[:, 1] > 2).astype(np.int64) ^ (codes[:, 2] == 0)
    return Capture(codes={"L1": codes}, labels=labels, levels={"L1": 3})


def _samples(seed: int = 1):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, size=(300, 3))
    return s, s[:, 0] ^ s[:, 1]


def test_every_result_class_is_a_named_measure():
    s, t = _samples()
    results = {SxPID: sx_pid(np.column_stack([s, t])), ShannonInvariants: shannon_invariants(s, t),
               EntropyInvariants: entropy_invariants(s), ReingComplexity: reing_complexity(s, t)}
    names = set()
    for cls, res in results.items():
        assert isinstance(res, cls) and isinstance(res, Measure)
        d = res.to_dict()
        assert d and all(k.startswith(f"{cls.name}.") for k in d), (cls.name, sorted(d))
        assert all(isinstance(v, float) for v in d.values())
        names.add(cls.name)
    assert names == {"pid", "shannon", "shannon_entropy", "reing"}


def test_example_keys_and_unchanged_attributes():
    s, t = _samples()
    pid, sh, re = sx_pid(np.column_stack([s, t])), shannon_invariants(s, t), reing_complexity(s, t)
    merged = {**pid.to_dict(), **sh.to_dict(), **re.to_dict()}
    assert len(merged) == len(pid.to_dict()) + len(sh.to_dict()) + len(re.to_dict())
    assert merged["pid.mutual_information"] == pid.mutual_information
    assert merged["shannon.mutual_information"] == sh.mutual_information
    assert merged["pid.representational_complexity"] == pid.representational_complexity
    assert merged["pid.deg_syn_1"] == pytest.approx(pid.degree_of_synergy_atoms[1])
    assert merged["shannon.avg_degree_redundancy"] == sh.avg_degree_redundancy
    assert merged["reing.C_R_published"] == re.C_R_published
    assert merged["reing.C_R_mean_order"] == re.C_R_mean_order
    assert "reing.C_R" not in merged  # no bare C_R: the two forms differ
    assert merged["reing.C_1"] == re.C[1] and merged["reing.D_1"] == re.D[0]
    assert not any(k.startswith("reing.reing") for k in merged)


def _measured(cap: Capture, pid_seed: int | None = 0):
    spec = build_config(CONFIG).analysis
    tables = hard_table(cap.codes["L1"], cap.labels)
    out = measure_sources(tables.table(), tables, [[i] for i in range(4)], spec, pid_seed)
    return out.values, out.atoms


def test_measure_grouping_keeps_pid_and_shannon_mutual_information():
    cap = _capture()
    m, atoms = _measured(cap)
    assert {"pid.mutual_information", "shannon.mutual_information", "reing.mutual_information",
            "pid.representational_complexity", "pid.deg_syn_4", "shannon.avg_degree_redundancy",
            "reing.C_R_published", "reing.C_R_mean_order", "reing.C_4",
            "pid.mutual_information_surrogate_mean",
            "pid.representational_complexity_surrogate_std"} <= set(m)
    direct = cap.samples("L1")
    assert m["pid.mutual_information"] == pytest.approx(sx_pid(direct).mutual_information)
    assert m["shannon.mutual_information"] == pytest.approx(
        shannon_invariants(direct[:, :-1], direct[:, -1]).mutual_information)
    assert all("." in k for k in m), "every grouping quantity belongs to a measure"
    assert not atoms.empty


def test_merging_a_key_twice_raises(monkeypatch):
    cap = _capture()
    real = catalog.REING.compute

    class Impostor:
        def __init__(self, res):
            self.res = res

        def to_dict(self):  # a measure that forgot to namespace, or borrowed a name
            return {**self.res.to_dict(), "shannon.mutual_information": 0.0}

    impostor = dataclasses.replace(catalog.REING, compute=lambda s, t, w: Impostor(real(s, t, w)))
    monkeypatch.setitem(catalog._CATALOG, "reing", impostor)
    with pytest.raises(ValueError, match=r"shannon\.mutual_information.*produced twice"):
        _measured(cap, pid_seed=None)


def test_analyze_checkpoint_keys_are_unique_and_namespaced(monkeypatch):
    cfg = build_config(CONFIG)
    cap = _capture()
    captured = analyze._Captured(cap, {"L1": hard_table(cap.codes["L1"], cap.labels)}, 0, 0)
    monkeypatch.setattr(analyze, "_capture", lambda *a, **kw: captured)
    out = analyze.analyze_checkpoint(cfg, "unused.pt", ["L1"], pid_surrogates=True)
    keys = list(out.measures)
    assert not [k for k, n in Counter(keys).items() if n > 1]
    # measure-independent layer quantities keep plain names, measures are namespaced
    for key in ("L1/mutual_information", "L1/distinct_patterns", "L1/mean_entropy",
                "L1/pid.mutual_information", "L1/shannon.mutual_information",
                "L1/pid.representational_complexity", "L1/pid.deg_syn_2",
                "L1/shannon.avg_degree_redundancy", "L1/reing.C_R_published",
                "L1/reing.C_R_mean_order", "L1/reing.C_1",
                "L1/pid.mutual_information_surrogate_mean",
                "L1/pairs/pid.deg_syn_2", "L1/pairs/pid.mutual_information",
                "L1/pairs/shannon.mutual_information", "L1/pairs/reing.C_R_published"):
        assert key in out.measures, key
        assert LAYER_KEY.match(key), key
    assert out.measures["L1/mutual_information"] == pytest.approx(
        out.measures["L1/pid.mutual_information"], abs=1e-9)  # same sources, no overwrite
    quantities = {LAYER_KEY.match(k).group("quantity") for k in keys}
    plain = {q for q in quantities if "." not in q}
    assert plain == {"mutual_information", "n_samples", "n_neurons", "distinct_patterns",
                     "pattern_entropy", "mean_entropy", "mean_saturation", "bias_dominated",
                     "mutual_information_surrogate_mean", "mutual_information_surrogate_std",
                     "mutual_information_bias_corrected", "mutual_information_p_value"}
    assert {q.split(".", 1)[0] for q in quantities - plain} == set(MEASURES)
    assert all(not math.isnan(v) for k, v in out.measures.items()
               if k.endswith("mutual_information"))


def test_curated_metrics_use_the_new_names():
    for q in ("mutual_information", "pid.representational_complexity", "pid.deg_syn_3",
              "shannon.avg_degree_redundancy", "shannon.avg_degree_vulnerability",
              "reing.C_R_published", "reing.C_R_mean_order",
              "pid.mutual_information_surrogate_mean", "distinct_patterns"):
        assert is_metric(q), q
    for q in ("reing.C_2", "reing.D_1", "shannon.sum_source_mi", "n_samples",
              "representational_complexity", "reing_C_R", "reing.C_R", "deg_syn_1"):
        assert not is_metric(q), q
    assert set(curated({"L1/reing.C_R_published": 1.0, "L1/pairs/reing.C_1": 2.0})) == {
        "L1/reing.C_R_published"}


def test_running_training_metrics_are_not_an_evaluated_dataset():
    assert RUNNING == "train_running"
    assert PERF_KEY.match("train/loss").group("dataset") == "train"
    assert PERF_KEY.match(f"{RUNNING}/loss").group("dataset") == RUNNING

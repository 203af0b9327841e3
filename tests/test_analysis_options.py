"""The analysis options through the pipeline: surrogates of I (bias, p-value, flag), the
Gaussian-noise binnings, BROJA, entropy-only invariants and the per-class PID, each logged
value equal to an independent computation on the same checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from nninfo import results
from nninfo.capture import Capture, capture_values, derive_seed
from nninfo.config import build_config
from nninfo.info import (
    broja_pid,
    entropy_invariants,
    goldfeld_outcomes,
    mi_surrogates,
    shannon_invariants,
    smoothed_outcomes,
    sx_pid,
)
from nninfo.info.classwise import class_summaries
from nninfo.jobs import analyze, load_experiment_task, split
from nninfo.jobs.tables import hard_table
from nninfo.tracking import runs
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from tests.helpers import tishby_layers

BASE = {
    "name": "options",
    "seeds": 1,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4, 2, levels=4)},
    "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64, "epochs": 1},
    "analysis": {"layers": ["L1"], "measures": ["shannon"]},
}


def _analyse(labels: np.ndarray, codes: np.ndarray, monkeypatch, **surrogates) -> dict:
    cfg = build_config({**BASE, "analysis": {**BASE["analysis"], "surrogates": surrogates}})
    cap = Capture({"L1": codes}, labels, {"L1": 4})
    captured = analyze._Captured(cap, {"L1": hard_table(codes, labels)}, 0, 0)
    monkeypatch.setattr(analyze, "_capture", lambda *a, **kw: captured)
    return analyze.analyze_checkpoint(cfg, "unused.pt", ["L1"]).measures


def test_surrogates_of_i_expose_bias_and_test_dependence(monkeypatch):
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, size=(400, 4))  # 256 patterns on 400 samples: much bias
    labels = rng.integers(0, 2, 400)  # unrelated to the codes: the true I is 0
    unrelated = _analyse(labels, codes, monkeypatch, mi=100)
    assert unrelated["L1/mutual_information"] > 0.2  # the plug-in estimate of a true zero
    assert abs(unrelated["L1/mutual_information_bias_corrected"]) < 4 * unrelated[
        "L1/mutual_information_surrogate_std"]
    assert unrelated["L1/mutual_information_p_value"] > 0.01
    assert unrelated["L1/bias_dominated"] == 1.0
    # the documented seed: analysis.surrogates.seed, the checkpoint's seed and step, the layer
    again = mi_surrogates(codes, labels, 100, derive_seed(0, 0, 0, "L1"))
    assert unrelated["L1/mutual_information_surrogate_mean"] == again["surrogate_mean"]

    deterministic = _analyse((codes[:, 0] > 1).astype(int), codes, monkeypatch, mi=100)
    assert deterministic["L1/mutual_information_p_value"] == pytest.approx(1 / 101)
    assert deterministic["L1/mutual_information"] == pytest.approx(1.0, abs=0.01)
    assert deterministic["L1/bias_dominated"] == 1.0  # surrogate mean ~0.3 > 10 % of 1 bit
    strict = _analyse((codes[:, 0] > 1).astype(int), codes, monkeypatch, mi=100,
                      bias_fraction=0.5)
    assert strict["L1/bias_dominated"] == 0.0

    off = _analyse(labels, codes, monkeypatch, mi=0)
    assert not any("surrogate" in k or "bias" in k or "p_value" in k for k in off)


NOISY = {
    "name": "noisy",
    "seeds": 1,
    "task": {"name": "tishby"},
    "network": {"layers": [
        {"type": "linear", "in_features": 12, "out_features": 3, "activation": "tanh"},
        {"type": "linear", "in_features": 3, "out_features": 2, "activation": "tanh"},
        {"type": "linear", "in_features": 2, "out_features": 1, "activation": "sigmoid"}]},
    "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64, "epochs": 1,
                 "checkpoint_schedule": "log_steps", "checkpoint_count": 3},
    "analysis": {"dataset": "all", "layers": ["L2"], "n_bins": 6, "binning": "goldfeld",
                 "noise_sigma": 0.2, "per_class": True,
                 "measures": ["pid", "shannon", "shannon_entropy", "broja"],
                 "surrogates": {"mi": 5, "pid": 2, "pid_checkpoints": ["last"]}},
}


@pytest.mark.parametrize("binning", ["goldfeld", "smoothed"])
def test_noisy_binning_broja_entropy_only_and_classes_through_the_pipeline(mlflow_store,
                                                                           binning):
    raw = {**NOISY, "analysis": {**NOISY["analysis"], "binning": binning}}
    cfg = build_config(raw)
    run_entry("main", ("train", "analyze"), cfg, Settings(workers=1, progress=False), "noisy")
    summary = results.load_summary("noisy")
    row = summary.sort_values("step").iloc[-1]

    # the same numbers from the checkpoint, computed here without the pipeline
    model = results.load_model(row.run_id, row.epoch)
    data = split(load_experiment_task(cfg), "all")
    values = capture_values(model, data.x, ["L2"])["L2"]
    labels = data.labels.numpy()
    outcomes = goldfeld_outcomes if binning == "goldfeld" else smoothed_outcomes
    rows, probs = outcomes(values, labels, (-1.0, 1.0), 6, 0.2)
    pid = sx_pid(rows, probs)
    src, tgt = rows[:, :-1], rows[:, -1]
    assert row.mutual_information == pytest.approx(pid.mutual_information, abs=1e-10)
    assert row["pid.representational_complexity"] == pytest.approx(
        pid.representational_complexity, abs=1e-10)
    assert row["shannon.mutual_information"] == pytest.approx(
        shannon_invariants(src, tgt, weights=probs).mutual_information, abs=1e-10)
    assert row["shannon_entropy.avg_degree_redundancy"] == pytest.approx(
        entropy_invariants(src, weights=probs).avg_degree_redundancy, abs=1e-10)
    broja = broja_pid(src, tgt, weights=probs)
    assert row["broja.synergy"] == pytest.approx(broja.synergy, abs=1e-6)
    assert row["broja.mutual_information"] == pytest.approx(pid.mutual_information, abs=1e-9)
    # surrogates of I at every checkpoint, of the PID at the last one only
    assert summary["mutual_information_p_value"].notna().all()
    assert summary["pid.representational_complexity_surrogate_mean"].notna().sum() == 1
    assert np.isfinite(row["pid.representational_complexity_surrogate_mean"])

    classes = results.load_class_summary("noisy")
    last = classes[classes.step == row.step].set_index("class")
    expected = class_summaries(pid).set_index("t")
    for t in expected.index:
        assert last.at[t, "pid.mutual_information"] == pytest.approx(
            expected.at[t, "mutual_information"], abs=1e-10)
    assert runs.client().get_run(row.run_id).data.tags["nninfo.bias_dominated"]

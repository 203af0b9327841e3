"""Bounds on sizes (issue 22, item 3): seeds, checkpoints, bins, subsets, noise and the
noise binnings' grids are refused at config time, naming the bound and why; seed lists are
logged as one compact param."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from nninfo.config import ConfigError, build_config, parse_seeds
from nninfo.info import binning
from nninfo.info.binning import GRID_MAX, grid_cells, smoothed_outcomes

TANH = {"type": "linear", "in_features": 12, "out_features": 12, "activation": "tanh"}
RAW = {
    "name": "limits",
    "task": {"name": "tishby"},
    "network": {"layers": [TANH, {"type": "linear", "in_features": 12, "out_features": 1,
                                  "activation": "sigmoid"}]},
    "training": {"lr": 0.1, "loss": "bce", "epochs": 1, "checkpoint_count": 2},
    "analysis": {"dataset": "all", "layers": ["L1"], "measures": ["shannon_entropy"], "n_bins": 4,
                 "surrogates": {"mi": 0, "pid": 0}},
}


def _refused(overrides: dict, match: str) -> str:
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=match) as err:
        build_config(RAW, overrides=overrides)
    assert time.perf_counter() - start < 10  # refused before any work
    return str(err.value)


@pytest.mark.parametrize("seeds", [100_000, "100000", 10**12, "1000000000000",
                                   list(range(10_001)), ",".join(map(str, range(10_001)))])
def test_too_many_seeds_are_refused_before_any_list_is_made(seeds):
    message = _refused({"seeds": seeds}, r"^seeds: .* at most 10000 seeds")
    assert "MLflow run" in message


def test_seed_bounds_accept_the_limit():
    assert len(parse_seeds(10_000)) == 10_000
    assert parse_seeds("0,3,7") == (0, 3, 7)


def test_cli_seeds_beyond_the_bound_exit_2_with_one_line(tmp_path):
    from click.testing import CliRunner

    from nninfo.cli import main

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(RAW))
    for seeds in ("100000", "1000000000000"):
        result = CliRunner().invoke(main, ["train", "--config", str(config), "--seeds", seeds])
        assert result.exit_code == 2, result.output
        assert "seeds:" in result.output and "at most 10000 seeds" in result.output
        assert "Traceback" not in result.output


def test_checkpoint_count_bins_and_subsets_are_bounded():
    _refused({"training.checkpoint_count": 100_000},
             r"training.checkpoint_count: 100000 .* 2..10000: every checkpoint")
    _refused({"analysis.n_bins": 100_000}, r"analysis.n_bins: 100000 .* 2..10000")
    _refused({"analysis.groupings": [{"name": "sub", "kind": "random_subsets", "size": 3,
                                      "count": 20_000}]},
             r"count: 20000 .* 1..10000: every subset")
    build_config(RAW, overrides={"training.checkpoint_count": 10_000, "analysis.n_bins": 10_000})


def test_noise_sigma_is_bounded_by_the_activation_range():
    base = {"analysis.binning": "goldfeld", "analysis.n_bins": 4,
            "network.layers": [dict(TANH, out_features=2),
                               {"type": "linear", "in_features": 2, "out_features": 1,
                                "activation": "sigmoid"}]}
    message = _refused({**base, "analysis.noise_sigma": 100_000},
                       r"analysis.noise_sigma: 100000.0 .* \(0, 2\] for L1")
    assert "range [-1, 1]" in message
    build_config(RAW, overrides={**base, "analysis.noise_sigma": 2})


@pytest.mark.parametrize("kind", ["smoothed", "goldfeld"])
def test_noise_grids_beyond_grid_max_are_refused_at_config_time(kind):
    # 12 units x 30 bins x sigma 0.5: smoothed did not finish in 6 minutes
    message = _refused({"analysis.binning": kind, "analysis.n_bins": 30,
                        "analysis.noise_sigma": 0.5}, r"analysis.binning: .* GRID_MAX=16777216")
    assert "L1: 12 neurons" in message and "n_bins" in message
    build_config(RAW, overrides={"analysis.binning": "smoothed", "analysis.n_bins": 30,
                                 "analysis.noise_sigma": 0.01})  # 3**12 joint bins


def test_smoothed_outcomes_has_the_grid_guard():
    values = np.random.default_rng(0).uniform(-1, 1, size=(4, 12))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"12 neurons x 59 bins .* GRID_MAX=16777216"):
        smoothed_outcomes(values, np.array([0, 1, 0, 1]), (-1.0, 1.0), 30, 0.5)
    assert time.perf_counter() - start < 5


def test_one_cell_count_for_config_and_binning(monkeypatch):
    cells, _ = grid_cells("smoothed", 3, 8, 0.125, 0.25)  # reach 4 * 0.125 / 0.25 = 2
    assert cells == 5**3
    assert grid_cells("smoothed", 2, 3, 10.0, 0.5)[0] == 5**2  # reach capped at n_bins - 1
    assert grid_cells("goldfeld", 2, 4, 0.5, 0.5, 3)[0] == (4 + 2 * 4) ** 2 * 3
    values = np.random.default_rng(1).uniform(-1, 1, size=(20, 3))
    labels = np.arange(20) % 2
    monkeypatch.setattr(binning, "GRID_MAX", 5**3 - 1)
    with pytest.raises(ValueError, match="= 125 grid cells"):
        smoothed_outcomes(values, labels, (-1.0, 1.0), 8, 0.125)
    monkeypatch.setattr(binning, "GRID_MAX", 5**3)
    outcomes, probs = smoothed_outcomes(values, labels, (-1.0, 1.0), 8, 0.125)
    assert np.isclose(probs.sum(), 1.0)
    assert GRID_MAX == 2**24


def test_capped_reach_gives_the_same_table():
    values = np.random.default_rng(2).uniform(-1, 1, size=(30, 2))
    labels = np.arange(30) % 3
    capped = smoothed_outcomes(values, labels, (-1.0, 1.0), 3, 1.5)  # reach 9 -> 2
    monkeypatch_free = binning._reach(1.5, 2 / 3, 4.0, 3)
    assert monkeypatch_free == 2
    # the mass of every bin, computed directly: end bins open-ended
    from scipy.stats import norm
    edges = np.linspace(-1, 1, 4)
    inner = [(-np.inf, edges[1]), (edges[1], edges[2]), (edges[2], np.inf)]
    expected = {}
    for v, y in zip(values, labels, strict=True):
        mass = [[norm.cdf(hi, x, 1.5) - norm.cdf(lo, x, 1.5) for lo, hi in inner] for x in v]
        for a in range(3):
            for b in range(3):
                key = (a, b, int(y))
                expected[key] = expected.get(key, 0) + mass[0][a] * mass[1][b] / len(values)
    got = {tuple(int(c) for c in row): p for row, p in zip(*capped, strict=True)}
    assert set(got) == set(expected)
    assert np.allclose([got[k] for k in expected], list(expected.values()), atol=1e-9)


def test_seed_lists_are_logged_as_one_compact_param(tmp_path):
    from nninfo.tracking import runs
    from nninfo.tracking.entry import run_entry
    from nninfo.tracking.pipeline import Settings
    from nninfo.tracking.train import seeds_text

    assert seeds_text(range(100)) == "0-99"
    assert seeds_text([0, 3, 7]) == "0,3,7"
    assert seeds_text([0, 1, 5, 6, 7, 9]) == "0,1,5-7,9"
    long = seeds_text(range(0, 40_000, 4))
    assert len(long) <= 6000 and long.endswith(",...,39996 (10000 seeds; all in config.yaml)")
    cfg = build_config({**RAW, "seeds": [0, 1, 2, 5]})
    parent = run_entry("train", ("train",), cfg, Settings(workers=1, progress=False), "limits")
    params = runs.client().get_run(parent).data.params
    assert params["seeds"] == "0-2,5"
    assert not [k for k in params if k.startswith("seeds.")]
    for seed_run in runs.seed_runs(parent):  # the params compare reads: no seeds
        assert "seeds" not in seed_run.data.params and "seed" in seed_run.data.params
    assert Path(tmp_path).is_dir()

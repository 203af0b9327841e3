"""Noise-smoothed binning (goldfeld and smoothed) against the Gaussian formula written out here,
the published loop, hard binning and the PID identities."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from nninfo.capture import bin_values
from nninfo.info import binning, mutual_information, shannon_invariants, sx_pid
from nninfo.info.binning import goldfeld_outcomes, hard_bins, smoothed_outcomes


def table(outcomes, probs):
    return {tuple(r): p for r, p in zip(outcomes.tolist(), probs.tolist(), strict=True)}


def phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def extended_centres(lo, hi, n_bins, sigma, factor):
    """The goldfeld grid, written from its definition: n_extra bins of the same size added on
    each side of ``n_bins`` bins between lo and hi; the centre of each bin."""
    size = (hi - lo) / n_bins
    n_extra = math.ceil(factor * sigma / size)
    return lo - n_extra * size + (np.arange(n_bins + 2 * n_extra) + 0.5) * size, n_extra


def published_goldfeld(values, labels, limits, n_bins, sigma, factor, threshold):
    """The published GoldfeldBinning.apply/get_pdf, one sample at a time (scipy's pdf)."""
    centres, _ = extended_centres(*limits, n_bins, sigma, factor)
    pdf, per_target = norm(loc=0, scale=sigma).pdf, {}
    for sample, label in zip(values, labels, strict=True):
        contribution = np.ones(())
        for v in sample:
            contribution = np.multiply.outer(contribution, pdf(centres - v))
        per_target[label] = per_target.get(label, 0) + contribution
    out = {}
    total = sum(t.sum() for t in per_target.values())
    for label, t in per_target.items():
        for idx in zip(*np.nonzero(t / total >= threshold), strict=True):
            out[(*map(int, idx), int(label))] = t[idx] / total
    kept = sum(out.values())
    return {k: p / kept for k, p in out.items()}


def hard_table(values, labels, limits, n_bins, shift=0):
    codes = hard_bins(values, np.linspace(*limits, n_bins + 1)) + shift
    rows, counts = np.unique(np.column_stack([codes, labels]), axis=0, return_counts=True)
    return table(rows, counts / len(labels))


# ---- hard binning rule --------------------------------------------------------------------

def test_hard_bins_match_capture_bin_values_on_edges_and_outside():
    edges = np.linspace(-1, 1, 5)
    v = np.array([-3, -1, -0.5 - 1e-12, -0.5, 0, 0.49, 0.5, 1 - 1e-15, 1, 1.5, 7])
    want = bin_values(torch.tensor(v), (-1, 1), 4).numpy()
    assert hard_bins(v, edges).tolist() == want.tolist() == [0, 0, 0, 1, 2, 2, 3, 3, 3, 3, 3]


# ---- goldfeld: the published density-at-centres estimator ---------------------------------

def test_goldfeld_one_sample_is_the_density_at_the_extended_centres():
    sigma, v = 0.3, 0.2
    outcomes, probs = goldfeld_outcomes(np.array([[v]]), np.array([3]), (-1, 1), 4, sigma,
                                        extra_bin_factor=2.0, prob_threshold=0.0)
    centres, n_extra = extended_centres(-1, 1, 4, sigma, 2.0)
    assert n_extra == 2 and len(centres) == 8  # ceil(2 * 0.3 / 0.5)
    pdf = norm.pdf(centres, loc=v, scale=sigma)
    assert table(outcomes, probs) == pytest.approx(
        {(k, 3): p for k, p in enumerate(pdf / pdf.sum())}, rel=1e-12)


def test_goldfeld_two_neurons_are_an_outer_product_summed_over_samples():
    sigma, values = 0.4, np.array([[0.1, -0.7], [0.9, 0.3]])
    got = table(*goldfeld_outcomes(values, np.array([0, 0]), (-1, 1), 4, sigma,
                                   extra_bin_factor=1.0, prob_threshold=0.0))
    centres, _ = extended_centres(-1, 1, 4, sigma, 1.0)
    raw = sum(np.outer(norm.pdf(centres, a, sigma), norm.pdf(centres, b, sigma)) for a, b in values)
    want = {(i, j, 0): raw[i, j] / raw.sum() for i in range(6) for j in range(6)}
    assert got == pytest.approx(want, rel=1e-12)


def test_goldfeld_labels_keep_their_samples_and_values():
    sigma, values, labels = 0.5, np.array([[0.0], [0.6]]), np.array([7, 2])
    outcomes, probs = goldfeld_outcomes(values, labels, (-1, 1), 4, sigma, prob_threshold=0.0)
    centres, _ = extended_centres(-1, 1, 4, sigma, 4.0)  # the default extra_bin_factor
    dens = [norm.pdf(centres, v, sigma) for v in values[:, 0]]
    total = dens[0].sum() + dens[1].sum()  # one normalisation for the whole table
    assert set(outcomes[:, 1].tolist()) == {2, 7}
    for label, d in zip(labels, dens, strict=True):
        mine = outcomes[:, 1] == label
        assert probs[mine] == pytest.approx(d[outcomes[mine, 0]] / total, rel=1e-12)


def test_goldfeld_threshold_drops_small_cells_and_renormalises():
    rng = np.random.default_rng(4)
    values, labels = rng.uniform(-1, 1, size=(50, 2)), rng.integers(0, 2, size=50)
    full = table(*goldfeld_outcomes(values, labels, (-1, 1), 4, 0.3, prob_threshold=0.0))
    thr = 1e-3
    got = table(*goldfeld_outcomes(values, labels, (-1, 1), 4, 0.3, prob_threshold=thr))
    kept = {k: p for k, p in full.items() if p >= thr}
    assert 0 < len(kept) < len(full)
    assert got == pytest.approx({k: p / sum(kept.values()) for k, p in kept.items()}, rel=1e-9)


@pytest.mark.parametrize("threshold", [0.0, 1e-6])
def test_goldfeld_matches_the_published_loop(threshold):
    rng = np.random.default_rng(5)
    values, labels = rng.uniform(-1.1, 1.1, size=(40, 3)), rng.integers(0, 3, size=40)
    got = table(*goldfeld_outcomes(values, labels, (-1, 1), 3, 0.35, extra_bin_factor=1.5,
                                   prob_threshold=threshold))
    want = published_goldfeld(values, labels, (-1, 1), 3, 0.35, 1.5, threshold)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-15)


def test_goldfeld_small_sigma_at_bin_centres_is_hard_binning():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 3, size=300)
    bins = (labels[:, None] + rng.integers(0, 2, size=(300, 2))) % 4
    values = -1 + (bins + 0.5) * 0.5  # bin centres of 4 bins on [-1, 1]
    sigma = 0.5 / 20
    outcomes, probs = goldfeld_outcomes(values, labels, (-1, 1), 4, sigma)
    _, n_extra = extended_centres(-1, 1, 4, sigma, 4.0)
    assert table(outcomes, probs) == pytest.approx(
        hard_table(values, labels, (-1, 1), 4, shift=n_extra), rel=1e-12)


def test_goldfeld_samples_off_centre_weigh_less_when_sigma_is_small():
    # the published estimator does not normalise each sample: documented, and kept
    sigma, values = 0.05, np.array([[-0.75], [0.1]])  # a bin centre; 0.15 off centre 0.25
    outcomes, probs = goldfeld_outcomes(values, np.array([0, 1]), (-1, 1), 4, sigma)
    mass = {label: probs[outcomes[:, 1] == label].sum() for label in (0, 1)}
    assert mass[1] / mass[0] == pytest.approx(math.exp(-0.5 * (0.15 / sigma) ** 2), rel=1e-6)


def test_goldfeld_chunking_gives_the_same_table(monkeypatch):
    rng = np.random.default_rng(7)
    values, labels = rng.uniform(-1, 1, size=(120, 3)), rng.integers(0, 3, size=120)
    want = table(*goldfeld_outcomes(values, labels, (-1, 1), 4, 0.3))
    monkeypatch.setattr(binning, "CHUNK_ROWS", 50)  # one sample per chunk
    assert table(*goldfeld_outcomes(values, labels, (-1, 1), 4, 0.3)) == pytest.approx(want)


def test_goldfeld_warns_for_samples_whose_density_underflows():
    values = np.array([[-0.75], [0.0]])  # the second sits on an edge, 0.25 = 250 sigma off
    with pytest.warns(RuntimeWarning, match="1 of 2 samples have density 0"):
        outcomes, probs = goldfeld_outcomes(values, np.array([0, 1]), (-1, 1), 4, 1e-3)
    assert table(outcomes, probs) == {(0 + 1, 0): 1.0}  # bin 0 after 1 extra bin
    with pytest.raises(ValueError, match="every density underflows"), \
            pytest.warns(RuntimeWarning):
        goldfeld_outcomes(values[1:], np.array([1]), (-1, 1), 4, 1e-3)


# ---- smoothed: Gaussian mass per bin, open end bins ---------------------------------------

def test_zero_noise_is_hard_binning():
    rng = np.random.default_rng(0)
    values = rng.uniform(-1.2, 1.2, size=(500, 3))  # some outside the limits: end bins
    labels = rng.integers(0, 4, size=500)
    outcomes, probs = smoothed_outcomes(values, labels, (-1, 1), 6, 0.0)
    codes = bin_values(torch.tensor(values), (-1, 1), 6).numpy()
    rows, counts = np.unique(np.column_stack([codes, labels]), axis=0, return_counts=True)
    assert table(outcomes, probs) == pytest.approx(table(rows, counts / 500))


def test_small_sigma_tends_to_hard_binning():
    rng = np.random.default_rng(8)
    values = rng.uniform(-1, 1, size=(400, 2))
    labels = rng.integers(0, 2, size=400)
    hard = hard_table(values, labels, (-1, 1), 5)
    gaps = [max(abs(table(*smoothed_outcomes(values, labels, (-1, 1), 5, s)).get(k, 0) - p)
                for k, p in hard.items()) for s in (0.1, 0.01, 1e-5)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-2


def test_one_unit_follows_the_gaussian_mass_per_bin():
    # bins [-1, 0) and [0, 1]; a value at -0.5 with sigma 0.5 crosses 0 with P = 1 - phi(1)
    outcomes, probs = smoothed_outcomes(
        np.array([[-0.5]]), np.array([2]), (-1, 1), 2, 0.5, cutoff=12
    )
    assert table(outcomes, probs) == pytest.approx({(0, 2): phi(1), (1, 2): 1 - phi(1)})


def test_one_unit_is_the_cdf_difference_with_open_end_bins():
    sigma, v = 0.4, 0.3
    got = table(*smoothed_outcomes(np.array([[v]]), np.array([0]), (-1, 1), 4, sigma, cutoff=40))
    edges = np.array([-np.inf, -0.5, 0.0, 0.5, np.inf])
    mass = norm.cdf(edges[1:], v, sigma) - norm.cdf(edges[:-1], v, sigma)
    assert got == pytest.approx({(k, 0): m for k, m in enumerate(mass)}, rel=1e-12)


def test_units_are_independent_and_end_bins_take_the_tails():
    sigma = 0.3
    v = np.array([[0.1, 0.95]])
    got = table(*smoothed_outcomes(v, np.array([0]), (-1, 1), 4, sigma, cutoff=12))
    edges = [-np.inf, -0.5, 0.0, 0.5, np.inf]

    def mass(x, k):
        return phi((edges[k + 1] - x) / sigma) - phi((edges[k] - x) / sigma)

    want = {(a, b, 0): mass(0.1, a) * mass(0.95, b) for a in range(4) for b in range(4)}
    assert got == pytest.approx(want, abs=1e-12)


def test_a_distribution_over_the_grid_with_the_labels_kept():
    rng = np.random.default_rng(1)
    values, labels = rng.uniform(-1, 1, size=(300, 4)), rng.integers(0, 3, size=300)
    outcomes, probs = smoothed_outcomes(values, labels, (-1, 1), 8, 0.2)
    assert probs.sum() == pytest.approx(1.0) and (probs > 0).all()
    assert outcomes[:, :4].min() >= 0 and outcomes[:, :4].max() <= 7
    for label in range(3):  # noise moves bins, never samples between labels
        assert probs[outcomes[:, 4] == label].sum() == pytest.approx(np.mean(labels == label))


def test_pid_of_the_smoothed_table_and_its_limits():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, size=400)
    values = np.column_stack([labels * 1.2 - 0.6, (1 - labels) * 1.2 - 0.6])
    values += rng.normal(0, 0.05, size=values.shape)
    sharp = sx_pid(*smoothed_outcomes(values, labels, (-1, 1), 4, 0.05))
    noisy = sx_pid(*smoothed_outcomes(values, labels, (-1, 1), 4, 0.5))
    drowned = sx_pid(*smoothed_outcomes(values, labels, (-1, 1), 4, 50.0))
    for res in (sharp, noisy, drowned):
        assert res.atoms["average"].sum() == pytest.approx(res.mutual_information, abs=1e-9)
    assert sharp.mutual_information == pytest.approx(1.0, abs=0.01)  # one bit, read off
    assert drowned.mutual_information < 1e-3 < noisy.mutual_information < 0.99


def test_chunked_and_sparse_accumulation_give_the_same_table(monkeypatch):
    rng = np.random.default_rng(3)
    values, labels = rng.uniform(-1, 1, size=(200, 3)), rng.integers(0, 2, size=200)
    want = table(*smoothed_outcomes(values, labels, (-1, 1), 5, 0.3))
    monkeypatch.setattr(binning, "CHUNK_ROWS", 64)  # many chunks
    monkeypatch.setattr(binning, "DENSE_MAX", 0)  # the unique-based path
    assert table(*smoothed_outcomes(values, labels, (-1, 1), 5, 0.3)) == pytest.approx(want)


# ---- both: I(T;S) in the sigma -> 0 limit, and the tables feed every measure --------------

def table_mi(outcomes, probs):
    return mutual_information(outcomes[:, :-1], outcomes[:, -1], weights=probs)


def test_mutual_information_of_both_tends_to_the_hard_binned_one():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 4, size=600)
    bins = np.column_stack([labels, rng.integers(0, 4, size=600)])
    bins[:, 0] = np.where(rng.random(600) < 0.3, rng.integers(0, 4, size=600), bins[:, 0])
    centred = -1 + (bins + 0.5) * 0.5  # goldfeld's limit needs values at bin centres
    jittered = centred + rng.uniform(-0.2, 0.2, size=centred.shape)  # smoothed's does not
    want = mutual_information(bins, labels)
    assert want > 0.3
    for values, outcomes_of, sigmas in ((centred, goldfeld_outcomes, (0.3, 0.1, 0.02)),
                                        (jittered, smoothed_outcomes, (0.1, 0.03, 0.005))):
        gaps = [abs(table_mi(*outcomes_of(values, labels, (-1, 1), 4, s)) - want)
                for s in sigmas]
        assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-6, (outcomes_of, gaps)


@pytest.mark.parametrize("outcomes_of", [goldfeld_outcomes, smoothed_outcomes])
def test_the_weighted_table_gives_the_pid_engine_s_mutual_information(outcomes_of):
    rng = np.random.default_rng(10)
    values, labels = rng.uniform(-1, 1, size=(200, 3)), rng.integers(0, 2, size=200)
    values[:, 0] += 0.8 * labels - 0.4
    outcomes, probs = outcomes_of(values, labels, (-1, 1), 3, 0.3)
    r = shannon_invariants(outcomes[:, :-1], outcomes[:, -1], weights=probs)
    assert r.mutual_information == pytest.approx(sx_pid(outcomes, probs).mutual_information,
                                                 abs=1e-10)


# ---- errors name the field ----------------------------------------------------------------

BASE = {"values": np.zeros((2, 3)), "labels": np.array([0, 1]), "limits": (-1, 1), "n_bins": 4,
        "sigma": 0.1}


@pytest.mark.parametrize("outcomes_of", [goldfeld_outcomes, smoothed_outcomes])
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sigma": -1.0}, "sigma: -1.0"),
        ({"sigma": float("nan")}, "sigma: nan"),
        ({"sigma": True}, "sigma: True"),
        ({"labels": np.array([0.5, 1.0])}, "labels: need non-negative integers"),
        ({"labels": np.array([0, -1])}, "labels: need non-negative integers.*min -1"),
        ({"values": np.zeros(2)}, r"values: shape \(2,\)"),
        ({"values": np.zeros((0, 3)), "labels": np.zeros(0, int)}, r"values: shape \(0, 3\)"),
        ({"values": np.array([[0.0, np.nan, 0], [0, 0, 0]])}, "values: contains NaN or inf"),
        ({"values": np.full((2, 3), "a")}, "values: dtype <U1; need real numbers"),
        ({"n_bins": 0}, "n_bins=0"),
        ({"n_bins": 2.5}, "n_bins=2.5"),
        ({"limits": (1, -1)}, r"limits=\(1, -1\): need finite numbers with lo < hi"),
        ({"limits": "ab"}, "limits='ab': need a pair of numbers"),
    ],
)
def test_errors_name_the_field(outcomes_of, kwargs, match):
    with pytest.raises(ValueError, match=match):
        outcomes_of(**{**BASE, **kwargs})


@pytest.mark.parametrize(
    "outcomes_of, kwargs, match",
    [
        (smoothed_outcomes, {"values": np.zeros((2, 40)), "n_bins": 8}, "overflow"),
        (smoothed_outcomes, {"cutoff": -1}, "cutoff: -1; need a number finite and >= 0"),
        (goldfeld_outcomes, {"sigma": 0.0}, r"sigma: 0.0 is not a finite number > 0"),
        (goldfeld_outcomes, {"extra_bin_factor": -0.5}, "extra_bin_factor: -0.5; need"),
        (goldfeld_outcomes, {"prob_threshold": 1.0}, r"prob_threshold: 1.0; need .*\[0, 1\)"),
        (goldfeld_outcomes, {"prob_threshold": 0.9}, "prob_threshold: 0.9 drops every cell"),
        # (4 + 2 x 1 extra)^10 bins x 2 labels, over 2**24
        (goldfeld_outcomes, {"values": np.zeros((2, 10))},
         r"values: 10 neurons x 6 bins .* x 2 labels = 120932352 grid cells; the limit is "
         r"GRID_MAX=16777216"),
    ],
)
def test_errors_of_each_estimator(outcomes_of, kwargs, match):
    with pytest.raises(ValueError, match=match):
        outcomes_of(**{**BASE, **kwargs})


def test_the_grid_is_refused_before_anything_is_allocated(monkeypatch):
    monkeypatch.setattr(binning, "GRID_MAX", 6**3 * 2 - 1)
    with pytest.raises(ValueError, match="= 432 grid cells"):
        goldfeld_outcomes(**BASE, extra_bin_factor=1.0)
    monkeypatch.setattr(binning, "GRID_MAX", 6**3 * 2)
    assert goldfeld_outcomes(**BASE, extra_bin_factor=1.0)[1].sum() == pytest.approx(1)

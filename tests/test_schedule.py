"""Checkpoint schedules, pinned to the published nninfo (Ehrlich et al., TMLR 2023).

The expected checkpoints are computed here from the published rule, not from our output:
``Schedule.create_log_spaced_chapters`` (nninfo/schedule.py) gives the chapter-end epochs
``logspace(start_exp, log10(E), n_chapters + 1)``, rounded to whole epochs and made unique
unless ``fractional``, with epoch 0 in front; ``Trainer.train_chapter`` (nninfo/trainer.py)
saves a checkpoint at the start and after the first step whose fractional epoch
``n_epochs_trained + (batch_num + 1) / len(feeder)`` reaches a chapter end.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nninfo.config import build_config, load_config
from nninfo.training import TrainConfig, checkpoint_steps
from nninfo.training.schedule import SCHEDULES

PROJECTS = Path(__file__).resolve().parents[1] / "projects"


def published_chapter_ends(n_epochs, n_chapters, start_exp=0, fractional=False):
    """The epochs of ``create_log_spaced_chapters(n_epochs, n_chapters, start_exp,
    fractional)``: log-spaced, rounded and made unique unless fractional, 0 in front."""
    epochs = np.logspace(start_exp, np.log10(n_epochs), n_chapters + 1, endpoint=True)
    if not fractional:
        epochs = np.unique(np.round(epochs).astype(int))
    return np.insert(epochs, 0, 0)


def published_step(end, steps_per_epoch):
    """The step after which the published training loop ends the chapter ending at epoch
    ``end``: the first step k (1-based) whose fractional epoch, computed as the loop does,
    reaches ``end``. Only steps near ``end * steps_per_epoch`` can be it, so only those are
    evaluated (a 10^5-epoch MNIST run has 10^8 steps)."""
    spe = steps_per_epoch
    lo = max(1, math.floor(end * spe) - 2)
    k = np.arange(lo, math.ceil(end * spe) + 3)
    epochs_trained, batch_num = (k - 1) // spe, (k - 1) % spe
    frac_epoch = epochs_trained + (batch_num + 1) / spe
    reached = frac_epoch >= end
    assert reached.any() and (lo == 1 or not reached[0]), "window holds the first step"
    return int(k[np.argmax(reached)])


def published_steps(n_epochs, n_chapters, steps_per_epoch, start_exp=0, fractional=False):
    """Distinct checkpoint steps of a published run: step 0 (saved before training), then
    each chapter end's step (several chapter ends in one step save the same weights)."""
    ends = published_chapter_ends(n_epochs, n_chapters, start_exp, fractional)
    return sorted({0} | {published_step(e, steps_per_epoch) for e in ends[1:]})


# (epochs E, published n_chapters, steps per epoch): the notebooks' settings and others
PUBLISHED_LOG = [
    pytest.param(1000, 30, 44, id="tishby-demo"),  # 2,796 train / 64 -> 44 steps
    pytest.param(100_000, 50, 938, id="mnist"),  # 60,000 / 64; the three MNIST notebooks
    pytest.param(1000, 30, 782, id="cifar10"),  # 50,000 / 64
    pytest.param(10_000, 40, 938, id="shannon-mnist-10^4"),
    pytest.param(100, 8, 44, id="tishby-quick"),
    pytest.param(20, 2, 5, id="short"),
    pytest.param(5, 20, 3, id="more-chapters-than-epochs"),
    pytest.param(37, 12, 1, id="one-step-per-epoch"),
    pytest.param(999, 17, 13, id="odd"),
]


@pytest.mark.parametrize("epochs, n_chapters, spe", PUBLISHED_LOG)
def test_log_is_the_published_rule(epochs, n_chapters, spe):
    """``log`` with count n is ``create_log_spaced_chapters(E, n - 2)``: the same
    checkpoints at the same steps (a whole epoch e ends at step e * steps_per_epoch)."""
    want = published_steps(epochs, n_chapters, spe)
    got = checkpoint_steps("log", n_chapters + 2, epochs, spe)
    assert got == want
    assert got == [int(e) * spe for e in published_chapter_ends(epochs, n_chapters)]
    assert got[-1] == epochs * spe, "the published rule ends on the last epoch"


def test_published_counts_of_the_paper_projects():
    """What the README and the project configs say: the Tishby demo and CIFAR-10 (1,000
    epochs, 30 chapters) log 29 checkpoints, the MNIST projects (10^5 epochs, 50 chapters)
    49, with 11 in the last decade and none inside the first epoch."""
    assert len(published_chapter_ends(1000, 30)) == 29
    assert len(checkpoint_steps("log", 32, 1000, 44)) == 29
    mnist = np.array(checkpoint_steps("log", 52, 100_000, 938)) / 938
    assert len(mnist) == len(published_chapter_ends(100_000, 50)) == 49
    assert ((mnist > 0) & (mnist < 1)).sum() == 0
    assert (mnist >= 10_000).sum() == 11
    # the step-based rule this replaced: 17 checkpoints inside epoch 1, 7 in the last decade
    old = np.array(checkpoint_steps("log_steps", 50, 100_000, 938)) / 938
    assert ((old > 0) & (old < 1)).sum() == 17 and (old >= 10_000).sum() == 7


# (epochs, published n_chapters, start_exp, steps per epoch)
PUBLISHED_FRACTIONAL = [
    # shannon_invariants_scripts/2: create_log_spaced_chapters(1_000, 50, start_exp=-2,
    # fractional=True), 100,000 training samples in batches of 32
    pytest.param(1000, 50, -2, 3125, id="autoencoder"),
    pytest.param(1000, 30, -2, 44, id="tishby"),
    pytest.param(10, 5, -1, 7, id="short"),
    pytest.param(100, 40, -3, 2, id="many-per-step"),  # several chapter ends in one step
    pytest.param(50, 9, 0.5, 11, id="positive-start"),
]


@pytest.mark.parametrize("epochs, n_chapters, start_exp, spe", PUBLISHED_FRACTIONAL)
def test_log_fractional_is_the_published_fractional_rule(epochs, n_chapters, start_exp, spe):
    want = published_steps(epochs, n_chapters, spe, start_exp, fractional=True)
    got = checkpoint_steps("log_fractional", n_chapters + 2, epochs, spe,
                           start_exponent=start_exp)
    assert got == want
    assert got[-1] == epochs * spe


def test_log_fractional_checkpoints_fall_inside_the_first_epoch():
    steps = checkpoint_steps("log_fractional", 52, 1000, 3125)  # default start exponent -2
    assert steps[:3] == [0, 32, 40]  # epochs 0.01 (step 31.25) and 0.0126 (39.3)
    assert sum(0 < s < 3125 for s in steps) == 20  # two decades of ten: 10^-2 .. 10^0


def test_count_is_the_most_checkpoints_with_epoch_0_and_the_last_step():
    """``checkpoint_count`` n: at most n checkpoints, step 0 and the last step included;
    ``--checkpoints 2`` gives exactly those two, for every schedule."""
    for kind in SCHEDULES:
        for n in range(2, 14):
            for epochs, spe in ((1, 1), (0.5, 3), (2, 10), (2.5, 10), (100, 100), (1000, 44)):
                steps = checkpoint_steps(kind, n, epochs, spe)
                last = max(1, round(epochs * spe))
                assert steps[0] == 0 and steps[-1] == last, (kind, n, epochs, spe, steps)
                assert steps == sorted(set(steps)) and len(steps) <= n, (kind, n, epochs, spe)
                if n == 2:
                    assert steps == [0, last]
    # enough room: exactly n
    assert len(checkpoint_steps("log", 12, 10**6, 1)) == 12
    assert len(checkpoint_steps("log_fractional", 12, 1000, 100)) == 12
    assert len(checkpoint_steps("log_steps", 12, 10**6, 1)) == 12
    assert len(checkpoint_steps("lin", 12, 1, 11)) == 12


def test_log_keeps_whole_epochs_on_runs_of_fractional_length():
    """The published rule is for whole numbers of epochs; a fractional run keeps the whole
    epochs before its end and ends with its last step."""
    assert checkpoint_steps("log", 6, 2.5, 10) == [0, 10, 20, 25]
    assert checkpoint_steps("log", 6, 0.5, 10) == [0, 5]  # under one epoch: 0 and the end
    assert checkpoint_steps("log", 3, 1, 10) == [0, 10]  # E = 1: epochs 0 and 1 only
    assert checkpoint_steps("log", 4, 2, 10) == [0, 10, 20]  # logspace 1, 1.41, 2 -> 1, 1, 2


def test_log_steps_is_the_step_based_rule():
    """``log_steps``: step 0 and n - 1 steps log-spaced from step 1 to the last step."""
    steps = checkpoint_steps("log_steps", 30, 1, 10)
    assert steps[:2] == [0, 1] and steps[-1] == 10
    assert steps == sorted(set(steps)) and len(steps) <= 11  # fewer than 30 after rounding
    assert checkpoint_steps("log_steps", 6, 100, 100) == [0, 1, 10, 100, 1000, 10000]
    assert checkpoint_steps("log_steps", 4, 0.5, 10) == [0, 1, 2, 5]
    assert checkpoint_steps("log_steps", 3, 1, 10) == [0, 1, 10]


def test_lin_schedule_is_rounded_linspace():
    assert checkpoint_steps("lin", 5, 2, 10) == [0, 5, 10, 15, 20]
    assert checkpoint_steps("lin", 3, 1.5, 4) == [0, 3, 6]


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("exp", 5, 1, 10), {}, r"training.checkpoint_schedule: 'exp' is not one of \['log', "
                                r"'log_fractional', 'log_steps', 'lin'\]"),
        (("log", 1, 1, 10), {}, r"training.checkpoint_count >= 2 \(got 1\)"),
        (("lin", 5, 0, 10), {}, r"training.epochs > 0 \(got 0\)"),
        (("lin", 5, 1, 0), {}, r"steps_per_epoch >= 1 \(got 0\)"),
        (("log_fractional", 5, 100, 10), {"start_exponent": 2},
         r"training.checkpoint_start_exponent: 2 .* epoch 10\*\*2 = 100.*"
         r"training.epochs: 100"),
        (("log_fractional", 5, 100, 10), {"start_exponent": float("nan")},
         "training.checkpoint_start_exponent: nan is not a finite number"),
    ],
)
def test_schedule_errors_name_the_keys(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        checkpoint_steps(*args, **kwargs)


def test_start_exponent_is_validated_by_the_config():
    assert TrainConfig().checkpoint_start_exponent == -2
    assert TrainConfig(checkpoint_start_exponent=3, epochs=10).checkpoint_schedule == "log_steps"
    for bad in ("-2", True, float("inf"), None):
        with pytest.raises(ValueError, match=f"checkpoint_start_exponent: {bad!r} is not a "
                                             "finite number"):
            TrainConfig(checkpoint_start_exponent=bad)
    with pytest.raises(ValueError, match="checkpoint_start_exponent: 1 .*training.epochs: 10"):
        TrainConfig(checkpoint_schedule="log_fractional", checkpoint_start_exponent=1, epochs=10)
    raw = {"name": "sched", "task": {"name": "tishby"},
           "network": {"layers": [{"type": "linear", "in_features": 12, "out_features": 1,
                                   "activation": "sigmoid"}]},
           "training": {"loss": "bce", "epochs": 5, "checkpoint_schedule": "log_fractional",
                        "checkpoint_start_exponent": "x"}}
    with pytest.raises(ValueError, match="training.checkpoint_start_exponent: 'x'"):
        build_config(raw)
    with pytest.raises(ValueError, match="training.checkpoint_schedule: 'logx'"):
        build_config({**raw, "training": {"loss": "bce", "checkpoint_schedule": "logx"}})


# project -> (published create_log_spaced_chapters(E, n), train samples), from the notebooks
PAPER_PROJECTS = {
    "tishby_demo": ((1000, 30), 2796),  # tmlr_scripts/5_tmlr_demo
    "cifar10": ((1000, 30), 50_000),  # tmlr_scripts/4_tmlr_cifar
    "mnist_8levels_onehot": ((100_000, 50), 60_000),  # tmlr_scripts/1
    "mnist_8levels_binary": ((100_000, 50), 60_000),  # tmlr_scripts/2
    "mnist_4levels_onehot": ((100_000, 50), 60_000),  # tmlr_scripts/3
    "shannon_invariants_mnist": ((100_000, 50), 60_000),  # shannon_invariants_scripts/1
}


@pytest.mark.parametrize("name", PAPER_PROJECTS)
def test_paper_projects_checkpoint_at_the_published_epochs(name):
    """Each paper project checkpoints at its notebook's epochs (shannon_invariants_mnist
    trains 10^4 of the notebook's 10^5 epochs: the notebook's epochs up to 10^4)."""
    (pub_epochs, pub_chapters), n_train = PAPER_PROJECTS[name]
    t = load_config(PROJECTS / name / "config.yaml").training
    spe = math.ceil(n_train / t.batch_size)
    assert t.checkpoint_schedule == "log"
    got = checkpoint_steps(t.checkpoint_schedule, t.checkpoint_count, t.epochs, spe)
    want = [s for s in published_steps(pub_epochs, pub_chapters, spe) if s <= t.epochs * spe]
    assert got == want

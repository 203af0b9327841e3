"""Seed groups with the compiled step: counter-based quantizer noise, torch.compile'd pass.

The noise's tests run everywhere. The compiled step is a GPU path (``choose_step`` takes it
only when asked, and it becomes the GPU default only once measured there), so its tests run
on a CUDA device, as ``benchmarks/gpu_check.sh`` runs them: compiling it for a CPU would
cost the suite about 20 s for a path production does not take."""

import numpy as np
import pytest
import torch

from nninfo.training import TrainConfig, train_batched
from nninfo.training import seed_step as seed_step_module
from nninfo.training.counter_noise import CounterNoise, mix32, seed_key


def lowbias32(x: int) -> int:
    """The published lowbias32 (C. Wellons, "Hash function prospector"), in Python integers."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def test_mix32_is_lowbias32_on_tensors_without_overflow():
    rng = np.random.default_rng(0)
    xs = [0, 1, 0xFFFFFFFF, 0x80000000, *map(int, rng.integers(0, 2**32, 2000))]
    got = mix32(torch.tensor(xs, dtype=torch.long)).tolist()
    assert got == [lowbias32(x) for x in xs]
    assert len(set(got)) == len(xs)  # a bijection


def test_counter_noise_is_uniform_and_each_seeds_own():
    keys = [seed_key(s) for s in (11, 12, 13)]
    noise = CounterNoise(keys, [7, 0, 5], torch.device("cpu"))
    draws = [noise.draw(64) for _ in range(200)]
    u = torch.cat([torch.cat([d[0].flatten(1), d[2].flatten(1)], 1) for d in draws], 1)
    assert draws[0][1] is None and draws[0][0].shape == (3, 64, 7)
    assert u.min() >= 0 and u.max() < 1
    counts = np.histogram(u.numpy(), bins=20, range=(0, 1))[0]
    expected = u.numel() / 20
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 45  # 19 degrees of freedom: p ~ 1e-3
    assert abs(np.corrcoef(u[0], u[1])[0, 1]) < 0.01  # seeds independent
    assert abs(np.corrcoef(u[0, :-1], u[0, 1:])[0, 1]) < 0.01  # neighbours independent
    # seed 12 alone draws what it draws among three; a resumed counter redraws step 150
    alone = CounterNoise([keys[1]], [7, 0, 5], torch.device("cpu"))
    alone.set_step(150)
    assert torch.equal(alone.draw(64)[2][0], draws[150][2][1])
    assert int(noise.step) == 200


def data():
    x = torch.randn(630, 20, generator=torch.Generator().manual_seed(2))
    return x, (x[:, :4].sum(1) > 0).long() + 2 * (x[:, 4] > 0).long()


Q8 = {"levels": 8, "mode": "stochastic"}
LAYERS = [
    {"type": "linear", "in_features": 20, "out_features": 12, "activation": "tanh",
     "quantizer": Q8},
    {"type": "linear", "in_features": 12, "out_features": 5, "activation": "tanh",
     "quantizer": Q8},
    {"type": "linear", "in_features": 5, "out_features": 4, "activation": "softmax"},
]
CFG = TrainConfig(lr=0.05, momentum=0.9, batch_size=16, epochs=3, checkpoint_count=5,
                  checkpoint_schedule="lin")


CUDA = torch.cuda.is_available()
on_gpu = pytest.mark.skipif(not CUDA, reason="the compiled step is the GPU path: needs a CUDA "
                            "device (benchmarks/gpu_check.sh)")


def run(seeds, resume=None):
    x, y = data()
    got = {s: [] for s in seeds}
    metrics = {s: [] for s in seeds}
    train_batched(LAYERS, x, y, CFG, seeds=seeds, device="cuda" if CUDA else "cpu", compiled=True,
                  resume_from=resume, on_checkpoint=lambda i, c: got[seeds[i]].append(c),
                  on_metrics=lambda i, m, s: metrics[seeds[i]].append((s, m)))
    return got, metrics


@pytest.fixture(scope="module")
def pair():
    return run([3, 7])


@on_gpu
def test_compiled_groups_learn_and_resume_exactly(pair):
    full, full_m = pair
    losses = [m["train_loss"] for _, m in full_m[3]]
    assert losses[-1] < losses[0]
    mid = [full[3][1], full[7][1]]
    assert mid[0].step % 40  # mid-epoch
    resumed, resumed_m = run([3, 7], resume=mid)
    for s in (3, 7):
        for k, v in full[s][-1].model_state.items():
            assert torch.equal(resumed[s][-1].model_state[k], v), k
        assert resumed_m[s] == [(st, m) for st, m in full_m[s] if st > mid[0].step]


@on_gpu
def test_a_compiled_seed_does_not_depend_on_its_group(pair):
    full, _ = pair
    alone, _ = run([7])
    for k, v in alone[7][-1].model_state.items():
        np.testing.assert_allclose(full[7][-1].model_state[k], v, rtol=0, atol=1e-5, err_msg=k)


@on_gpu
def test_the_compiled_pass_computes_what_the_eager_one_does(pair, monkeypatch):
    full, _ = pair
    monkeypatch.setattr(seed_step_module.torch, "compile", lambda fn, **kw: fn)
    eager, _ = run([3, 7])
    for s in (3, 7):
        for k, v in eager[s][-1].model_state.items():
            np.testing.assert_allclose(full[s][-1].model_state[k], v, rtol=0, atol=1e-5,
                                       err_msg=k)

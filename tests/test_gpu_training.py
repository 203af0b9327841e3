"""Several seeds as one batched model on a GPU, the step as a captured CUDA graph.

Skipped without CUDA; ``benchmarks/gpu_check.sh`` runs them (and the training benchmark) on
a GPU machine in one go. The same batched code's CPU contract (equal to the single-seed CPU
path, bit for bit independent of the group) is tested in tests/test_training.py.
"""

import numpy as np
import pytest
import torch

from nninfo.nn import Network
from nninfo.training import TrainConfig, train_batched, train_network
from nninfo.training import batched as batched_module

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

Q8 = {"levels": 8, "mode": "stochastic"}


def lin(i, o, act="tanh", **kw):
    return {"type": "linear", "in_features": i, "out_features": o, "activation": act, **kw}


# the published MNIST network's shape in small: tanh + 8-level stochastic rounding, softmax
LAYERS = [lin(20, 12, quantizer=Q8), lin(12, 5, quantizer=Q8), lin(5, 5, quantizer=Q8),
          lin(5, 4, "softmax")]
# 630 samples, batch 16: 40 steps per epoch, the last one of 6 rows (a second graph)
CFG = TrainConfig(lr=0.05, momentum=0.9, batch_size=16, epochs=8, checkpoint_count=5,
                  checkpoint_schedule="lin")


def data():
    x = torch.randn(630, 20, generator=torch.Generator().manual_seed(2))
    return x, (x[:, :4].sum(1) > 0).long() + 2 * (x[:, 4] > 0).long()


def run(seeds, graph=True, resume=None, cfg=CFG, compiled=False):
    x, y = data()
    got = {s: [] for s in seeds}
    metrics = {s: [] for s in seeds}
    train_batched(LAYERS, x, y, cfg, seeds=seeds, device="cuda", graph=graph, resume_from=resume,
                  compiled=compiled, on_checkpoint=lambda i, c: got[seeds[i]].append(c),
                  on_metrics=lambda i, m, s: metrics[seeds[i]].append((s, m)))
    return got, metrics


def assert_same(a, b, atol=0.0):
    assert a.step == b.step
    for k, v in b.model_state.items():
        np.testing.assert_allclose(a.model_state[k], v, rtol=0, atol=atol, err_msg=k)
    assert torch.equal(a.generator_state, b.generator_state)
    assert all(torch.equal(p, q) for p, q in zip(a.cuda_rng_states, b.cuda_rng_states,
                                                  strict=True))


@pytest.mark.parametrize("compiled", [False, True])
def test_the_graph_replays_what_the_eager_step_computes(monkeypatch, compiled):
    made = []

    class Recorded(batched_module.GraphedStep):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(batched_module, "GraphedStep", Recorded)
    graphed, graphed_m = run([0, 1, 2], compiled=compiled)
    assert sorted(made[0].graphs) == [6, 16]  # full batches and each epoch's last one
    eager, eager_m = run([0, 1, 2], graph=False, compiled=compiled)
    for s in (0, 1, 2):
        assert len(graphed[s]) == 5
        for a, b in zip(graphed[s], eager[s], strict=True):
            assert_same(a, b)  # same kernels, same noise: the same numbers
        assert graphed_m[s] == eager_m[s]


@pytest.mark.parametrize("compiled", [False, True])
def test_a_graphed_run_resumes_exactly_from_a_mid_epoch_checkpoint(compiled):
    full, full_m = run([3, 7], compiled=compiled)
    mid = [full[3][2], full[7][2]]
    assert mid[0].step % 40  # mid-epoch
    resumed, resumed_m = run([3, 7], resume=mid, compiled=compiled)
    for s in (3, 7):
        assert_same(resumed[s][-1], full[s][-1])
        assert resumed_m[s] == [(st, m) for st, m in full_m[s] if st > mid[0].step]


@pytest.mark.parametrize("compiled", [False, True])
def test_a_seed_follows_its_own_streams_whatever_its_group(compiled):
    """Seed 5 alone, in a pair, and among six: the same permutations and noise (its own
    generators or counter), weights within 1e-5 after 320 steps (cuBLAS may round by the
    stack)."""
    alone, _ = run([5], compiled=compiled)
    for group in ([5, 2], [0, 1, 2, 3, 4, 5]):
        other, _ = run(group, compiled=compiled)
        assert_same(other[5][-1], alone[5][-1], atol=1e-5)


def test_a_batched_seed_follows_the_single_seed_cuda_run():
    x, y = data()
    got, _ = run([4, 9])
    ref = []
    train_network(Network(LAYERS, seed=9), x, y, CFG, seed=9, on_checkpoint=ref.append,
                  device="cuda")
    assert_same(got[9][-1], ref[-1], atol=1e-5)

import numpy as np
import pytest
import torch

from nninfo.nn import Network
from nninfo.training import (
    Checkpoint,
    NonFiniteLossError,
    TrainConfig,
    checkpoint_steps,
    train_batched,
    train_network,
)
from nninfo.training.fused import FusedStep


def lin(i, o, act="tanh", **kw):
    return {"type": "linear", "in_features": i, "out_features": o, "activation": act, **kw}


Q8 = {"levels": 8, "mode": "stochastic"}
LAYERS = [
    lin(6, 8, quantizer=Q8),
    {"type": "dropout", "p": 0.2},
    lin(8, 4, quantizer=Q8),
    lin(4, 2, "softmax"),
]
# odd widths and a batch size that does not divide the data: the awkward cases for exactness
QS = {"levels": 5, "mode": "stochastic", "limits": [-0.7, 1.3]}
NOISY = [lin(6, 5, quantizer=Q8), lin(5, 3, quantizer=QS), lin(3, 2, "softmax")]


def data(n=150, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


# --- schedule (the rules themselves: tests/test_schedule.py) -------------------------------


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="optimizer: 'rmsprop'"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="lr: -1"):
        TrainConfig(lr=-1)
    with pytest.raises(ValueError, match="unknown keys"):
        TrainConfig.from_dict({"learning_rate": 0.1})


# --- training and exact resume ------------------------------------------------------------


def run(cfg, resume=None, callback_noise=False, layers=LAYERS, seed=5):
    x, y = data()
    ckpts, metrics = [], []

    def on_ckpt(ck):
        ckpts.append(ck)
        if callback_noise:  # a callback that uses the global RNG must not change the run
            torch.rand(10)

    net = Network(layers)
    last = train_network(
        net,
        x,
        y,
        cfg,
        seed=seed,
        on_checkpoint=on_ckpt,
        on_metrics=lambda m, s: metrics.append((s, m)),
        device="cpu",
        resume_from=resume,
    )
    return net, ckpts, metrics, last


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("layers", [LAYERS, NOISY], ids=["autograd", "numpy_step"])
def test_resume_from_mid_epoch_checkpoint_is_bit_identical(tmp_path, optimizer, layers):
    cfg = TrainConfig(
        optimizer=optimizer,
        lr=0.05,
        momentum=0.9,
        batch_size=16,
        epochs=3,
        checkpoint_schedule="lin",
        checkpoint_count=8,
        l2=0.01,
    )
    net, ckpts, metrics, last = run(cfg, callback_noise=True, layers=layers)
    mid = next(c for c in ckpts if c.step % 10 not in (0,) and c.step > 5)  # 10 steps/epoch
    mid.save(tmp_path / "mid.pt")
    loaded = Checkpoint.load(tmp_path / "mid.pt")
    net2, ckpts2, metrics2, last2 = run(cfg, resume=loaded, layers=layers)
    for k, v in net.state_dict().items():
        assert torch.equal(v, net2.state_dict()[k]), k
    assert [c.step for c in ckpts2] == [c.step for c in ckpts if c.step > mid.step]
    assert metrics2 == [(s, m) for s, m in metrics if s > mid.step]
    assert last2.step == last.step == 30 and last.epoch == 3.0


def test_same_seed_same_run_different_seed_different_run():
    cfg = TrainConfig(lr=0.05, batch_size=16, epochs=1, checkpoint_count=3)
    a, b, c = run(cfg)[0], run(cfg)[0], run(cfg, seed=6)[0]
    w = "layers.L1.op.weight"
    assert torch.equal(a.state_dict()[w], b.state_dict()[w])
    assert not torch.equal(a.state_dict()[w], c.state_dict()[w])


def test_training_learns_a_separable_task():
    cfg = TrainConfig(optimizer="adam", lr=0.02, batch_size=16, epochs=15, checkpoint_count=3)
    _, _, metrics, _ = run(cfg, layers=[lin(6, 8), lin(8, 2, "softmax")])
    assert metrics[0][1]["train_loss"] > metrics[-1][1]["train_loss"]
    assert metrics[-1][1]["train_accuracy"] > 0.9


def test_bce_and_mse_losses_train():
    x, y = data()
    for loss, last in (("bce", lin(8, 1, "sigmoid")), ("mse", lin(8, 2, "softmax"))):
        cfg = TrainConfig(
            optimizer="adam", lr=0.02, loss=loss, batch_size=16, epochs=15, checkpoint_count=2
        )
        ms = []
        train_network(
            Network([lin(6, 8), last]),
            x,
            y,
            cfg,
            seed=0,
            on_checkpoint=lambda c: None,
            on_metrics=lambda m, s, ms=ms: ms.append(m),
            device="cpu",
        )
        assert ms[-1]["train_accuracy"] > 0.9, loss


def test_non_finite_loss_names_the_epoch():
    cfg = TrainConfig(lr=1e6, batch_size=16, epochs=4, loss="mse", checkpoint_count=2)
    with pytest.raises(NonFiniteLossError, match="epoch"):
        run(cfg, layers=[lin(6, 8, "relu"), lin(8, 2, "identity")])
    x, y = data()
    x[3, 2] = float("nan")
    with pytest.raises(NonFiniteLossError, match="in epoch 1 "):
        train_network(
            Network([lin(6, 2, "softmax")]),
            x,
            y,
            TrainConfig(epochs=2, checkpoint_count=2),
            seed=0,
            on_checkpoint=lambda c: None,
            device="cpu",
        )


@pytest.mark.parametrize(
    "kind, steps",
    [
        ("log", [0, 10, 20, 25]),  # whole epochs 1, 2, then the end of the run
        ("log_fractional", [0, 1, 3, 5, 12, 25]),  # epochs 10 ** linspace(-1, log10(2.5), 5)
        ("log_steps", [0, 1, 2, 5, 11, 25]),
        ("lin", [0, 5, 10, 15, 20, 25]),
    ],
)
def test_checkpoint_epochs_follow_the_schedule(kind, steps):
    """The training loop saves at the schedule's steps (10 steps per epoch here), with the
    config's ``checkpoint_start_exponent`` reaching ``log_fractional``."""
    cfg = TrainConfig(batch_size=16, epochs=2.5, checkpoint_schedule=kind, checkpoint_count=6,
                      checkpoint_start_exponent=-1)
    _, ckpts, metrics, _ = run(cfg)
    assert [c.step for c in ckpts] == steps
    assert steps == checkpoint_steps(kind, 6, 2.5, 10, start_exponent=-1)
    assert [c.epoch for c in ckpts] == [c.step / 10 for c in ckpts]
    assert [m["epoch"] for _, m in metrics] == [1.0, 2.0, 2.5]


# --- several seeds at once ------------------------------------------------------------------

SEEDS_CFG = TrainConfig(
    lr=0.1,
    momentum=0.9,
    batch_size=16,
    epochs=3,
    checkpoint_count=4,
    checkpoint_schedule="lin",
    l2=0.01,
)


def run_seeds(seeds, layers=NOISY, cfg=SEEDS_CFG, resume=None):
    x, y = data()
    got = {i: [] for i in range(len(seeds))}
    metrics = {i: [] for i in range(len(seeds))}
    train_batched(
        layers,
        x,
        y,
        cfg,
        seeds=seeds,
        on_checkpoint=lambda i, c: got[i].append(c),
        on_metrics=lambda i, m, s: metrics[i].append((s, m)),
        device="cpu",
        resume_from=resume,
    )
    return got, metrics


def assert_same_checkpoint(a, b):
    assert a.step == b.step and a.metrics == b.metrics and a.epoch_sums == b.epoch_sums
    for k, v in b.model_state.items():
        assert torch.equal(a.model_state[k], v), (a.step, k)
    for k, st in b.optimizer_state["state"].items():
        for key, v in st.items():
            assert torch.equal(a.optimizer_state["state"][k][key], v), (a.step, k, key)
    assert torch.equal(a.torch_rng_state, b.torch_rng_state)
    assert torch.equal(a.generator_state, b.generator_state)


def test_a_seed_does_not_depend_on_the_other_seeds_in_its_batch():
    (big, big_m), (alone, alone_m), (pair, pair_m) = (
        run_seeds(s) for s in ([0, 1, 2, 3], [3], [3, 7])
    )
    assert len(alone[0]) == 4
    for a, b, c in zip(big[3], alone[0], pair[0], strict=True):
        assert_same_checkpoint(a, b)
        assert_same_checkpoint(c, b)
    assert big_m[3] == alone_m[0] == pair_m[0]
    assert not torch.equal(
        big[2][-1].model_state["layers.L1.op.weight"], big[3][-1].model_state["layers.L1.op.weight"]
    )


def test_train_batched_follows_the_single_seed_run_and_its_rng_streams():
    x, y = data()
    got, metrics = run_seeds([3, 4])
    for i, seed in enumerate([3, 4]):
        ref, ref_m = [], []
        train_network(
            Network(NOISY, seed=seed),
            x,
            y,
            SEEDS_CFG,
            seed=seed,
            on_checkpoint=ref.append,
            on_metrics=lambda m, s, ref_m=ref_m: ref_m.append((s, m)),
            device="cpu",
        )
        for a, b in zip(got[i], ref, strict=True):
            assert a.step == b.step
            # same noise and shuffling streams, state for state
            assert torch.equal(a.torch_rng_state, b.torch_rng_state)
            assert torch.equal(a.generator_state, b.generator_state)
            for k in b.model_state:  # bmm vs mm: equal up to rounding
                np.testing.assert_allclose(a.model_state[k], b.model_state[k], atol=1e-5)
        for (sa, ma), (sb, mb) in zip(metrics[i], ref_m, strict=True):
            assert sa == sb and ma["train_loss"] == pytest.approx(mb["train_loss"], abs=1e-5)
        # a per-seed checkpoint resumes in the single-network loop
        resumed = Network(NOISY, seed=seed)
        train_network(
            resumed,
            x,
            y,
            SEEDS_CFG,
            seed=seed,
            on_checkpoint=lambda c: None,
            device="cpu",
            resume_from=got[i][1],
        )
        for k, v in ref[-1].model_state.items():
            np.testing.assert_allclose(resumed.state_dict()[k], v, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_train_batched_resumes_bit_identically_from_its_checkpoints(optimizer):
    cfg = TrainConfig(**{**SEEDS_CFG.__dict__, "optimizer": optimizer, "lr": 0.02})
    full, full_m = run_seeds([3, 7], cfg=cfg)
    mid = [full[0][1], full[1][1]]  # mid-epoch (13 of 30 steps... step 10*1/3 rounding)
    resumed, resumed_m = run_seeds([3, 7], cfg=cfg, resume=mid)
    for i in range(2):
        assert [c.step for c in resumed[i]] == [c.step for c in full[i] if c.step > mid[i].step]
        assert_same_checkpoint(resumed[i][-1], full[i][-1])
        assert resumed_m[i] == [(s, m) for s, m in full_m[i] if s > mid[i].step]


def test_train_batched_matches_single_seed_runs_without_noise():
    det = [lin(6, 8, quantizer={"levels": 8, "mode": "center_saturating"}), lin(8, 2, "softmax")]
    cfg = TrainConfig(lr=0.1, momentum=0.9, batch_size=16, epochs=2, checkpoint_count=2)
    x, y = data()
    got, _ = run_seeds([3, 4], layers=det, cfg=cfg)
    for i, seed in enumerate([3, 4]):
        ref = []
        train_network(Network(det, seed=seed), x, y, cfg, seed=seed, on_checkpoint=ref.append,
                      device="cpu")
        for k in ref[-1].model_state:
            np.testing.assert_allclose(got[i][-1].model_state[k], ref[-1].model_state[k], atol=1e-5)


def test_train_batched_errors_name_the_layer_the_seed_and_the_field():
    x, y = data()
    cfg = TrainConfig(epochs=1, checkpoint_count=2)
    with pytest.raises(ValueError, match=r"linear layers only.*L2 \(dropout\)"):
        train_batched(LAYERS, x, y, cfg, seeds=[0], on_checkpoint=lambda i, c: None, device="cpu")
    with pytest.raises(ValueError, match="seeds: "):
        train_batched(NOISY, x, y, cfg, seeds=[], on_checkpoint=lambda i, c: None)
    with pytest.raises(ValueError, match="resume_from: expected a list of 2"):
        train_batched(NOISY, x, y, cfg, seeds=[0, 1], on_checkpoint=lambda i, c: None,
                      resume_from=[])
    x[:, 1] = float("nan")  # every seed's loss turns NaN at its first step
    with pytest.raises(NonFiniteLossError, match=r"for seeds \[0, 1\] in epoch 1 "):
        train_batched(NOISY, x, y, cfg, seeds=[0, 1], on_checkpoint=lambda i, c: None, device="cpu")


@pytest.mark.parametrize("kind", ["sgd", "sgd_momentum", "adam"])
@pytest.mark.parametrize("split", [False, True])
def test_fused_step_equals_optimizer_step(kind, split):
    g = torch.Generator().manual_seed(1)
    shapes = [(3, 5, 7), (3, 5), (3, 1, 9)]
    params = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) for s in shapes] for _ in range(3)]

    def make(ps):
        if kind == "adam":
            return torch.optim.Adam(ps, lr=0.01, fused=True)
        return torch.optim.SGD(ps, lr=0.1, momentum=0.9 if kind != "sgd" else 0.0, fused=True)

    ref = [p.clone().requires_grad_() for p in params]
    ours = [p.clone().requires_grad_() for p in params]
    ref_opt, step = make(ref), FusedStep(make(ours), split=split)
    for gs in grads:
        for p, gr in zip(ref, gs, strict=True):
            p.grad = gr.clone()
        ref_opt.step()
        step([gr.transpose(-1, -2).contiguous().transpose(-1, -2) for gr in gs])  # odd strides
    for a, b in zip(ours, ref, strict=True):
        if split:  # per-slice kernels may round tails differently from one whole-tensor call
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        else:
            assert torch.equal(a, b)
    assert step.opt.state_dict()["state"].keys() == ref_opt.state_dict()["state"].keys()


# published-like network: tanh hidden layers with 8-level stochastic rounding, softmax output
MNIST_LIKE = [lin(20, 12, quantizer=Q8), lin(12, 5, quantizer=Q8), lin(5, 5, quantizer=Q8),
              lin(5, 4, "softmax")]


@pytest.mark.parametrize("group", [[5], [5, 2], [0, 1, 2, 3, 4, 5]])
def test_batched_seed_equals_the_single_seed_cpu_path_over_hundreds_of_steps(group):
    """Whatever group a seed trains in, it follows train_network() (the numpy step on the
    CPU): the same permutations and noise, weights and epoch losses within 1e-5 after 320
    steps."""
    x = torch.randn(630, 20, generator=torch.Generator().manual_seed(2))
    y = (x[:, :4].sum(1) > 0).long() + 2 * (x[:, 4] > 0).long()
    cfg = TrainConfig(lr=0.05, batch_size=16, epochs=8, checkpoint_count=3,
                      checkpoint_schedule="lin")
    got, metrics = {}, {}
    train_batched(MNIST_LIKE, x, y, cfg, seeds=group, device="cpu",
                  on_checkpoint=lambda i, c: got.__setitem__(group[i], c),
                  on_metrics=lambda i, m, s: metrics.setdefault(group[i], []).append(m))
    ref, ref_m = [], []
    train_network(Network(MNIST_LIKE, seed=5), x, y, cfg, seed=5, on_checkpoint=ref.append,
                  on_metrics=lambda m, s: ref_m.append(m), device="cpu")
    assert ref[-1].step == got[5].step == 320
    assert torch.equal(got[5].torch_rng_state, ref[-1].torch_rng_state)  # same noise drawn
    for k, v in ref[-1].model_state.items():
        np.testing.assert_allclose(got[5].model_state[k], v, atol=1e-5, err_msg=k)
    for a, b in zip(metrics[5], ref_m, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        assert a["train_accuracy"] == b["train_accuracy"]


def test_graphed_step_warms_up_then_captures_one_graph_per_batch_size(monkeypatch):
    """The bookkeeping of GraphedStep (CUDA's part is in tests/test_gpu_training.py): per batch
    size, WARMUP_STEPS eager steps, then one capture, then replays; generators registered."""
    from contextlib import nullcontext

    from nninfo.training import graphs

    log = []

    class FakeGraph:
        def register_generator_state(self, gen):
            log.append(("register", gen))

        def replay(self):
            log.append(("replay", self))

    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", lambda g: nullcontext())
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(graphs.GraphedStep, "_side_stream", lambda self, b: self.fn(b))
    step = graphs.GraphedStep(lambda b: log.append(("eager", b)), torch.device("cuda"),
                              ["g1", "g2"])
    for batch in [16] * 5 + [6] * 4:
        step(batch)
    eager = [e for e in log if e[0] == "eager"]
    w = graphs.WARMUP_STEPS
    assert eager == [("eager", 16)] * (w + 1) + [("eager", 6)] * (w + 1)  # warm-ups + captures
    assert [e[1] for e in log if e[0] == "register"] == ["g1", "g2"] * 2
    assert sum(e[0] == "replay" for e in log) == 5 + 4 - 2 * w
    assert sorted(step.graphs) == [6, 16]
    off = graphs.GraphedStep(lambda b: log.append(("off", b)), torch.device("cuda"), graph=False)
    off(16), off(16), off(16)
    assert log[-3:] == [("off", 16)] * 3 and not off.graphs


def test_choose_step_is_the_rule_the_jobs_follow():
    """One place picks the path: numpy step, autograd, batched or CUDA graph (compiled only
    when asked). CUDA needs no GPU here: the rule only reads the device's type."""
    from nninfo.training.step_choice import batchable_network, choose_step

    x, y = data()
    soft = torch.softmax(torch.randn(len(x), 2), 1)  # soft targets: not the numpy step's
    cfg = TrainConfig(batch_size=16, epochs=1)
    net = Network(NOISY, seed=0)

    def path(y, device="cpu", **kw):
        return choose_step(net, x, y, cfg, device, **kw).path

    assert path(y) == "numpy" and path(soft) == "autograd" and path(y, "cuda") == "autograd"
    group = {"group": True, "batchable": True}
    assert path(y, **group) == "numpy"  # one seed after another: faster on a CPU
    assert path(soft, **group) == "batched"
    assert path(soft, **group, resume_steps=[30, 30]) == "batched"
    assert path(soft, **group, resume_steps=[None, 30]) == "autograd"
    assert path(y, "cuda", **group) == "cuda_graph"
    assert path(y, "cuda", **group, resume_steps=[None, 30]) == "autograd"
    assert path(y, "cuda", group=True, batchable=False) == "autograd"
    assert path(y, group=True, batchable=False) == "numpy"
    choice = choose_step(net, x, soft, cfg, "cpu", **group)
    assert choice.batched and not choice.graph and not choice.compiled and choice.reason
    assert choose_step(net, x, soft, cfg, "cpu", **group, compiled=True).compiled
    assert not choose_step(net, x, y, cfg, "cpu", compiled=True).compiled  # one seed
    assert batchable_network(NOISY, None)
    assert not batchable_network(NOISY, 3)  # a fixed network seed: every seed the same
    assert not batchable_network([{"type": "flatten"}, *NOISY], None)


def test_train_network_follows_the_path_it_is_given():
    x, y = data()
    cfg = TrainConfig(batch_size=16, epochs=1, checkpoint_count=2)
    with pytest.raises(ValueError, match="path: 'batched' is not 'numpy' or 'autograd'"):
        train_network(Network(NOISY, seed=0), x, y, cfg, seed=0, on_checkpoint=lambda c: None,
                      device="cpu", path="batched")
    soft = torch.softmax(torch.randn(len(x), 2), 1)
    with pytest.raises(ValueError, match="numpy step does not cover"):
        train_network(Network(NOISY, seed=0), x, soft, cfg, seed=0,
                      on_checkpoint=lambda c: None, device="cpu", path="numpy")

import numpy as np
import pytest
import torch

from nninfo.nn import Network
from nninfo.training import (
    Checkpoint,
    NonFiniteLossError,
    TrainConfig,
    checkpoint_steps,
    train,
    train_seeds,
)


def lin(i, o, act="tanh", **kw):
    return {"type": "linear", "in_features": i, "out_features": o, "activation": act, **kw}


Q8 = {"levels": 8, "mode": "stochastic"}
LAYERS = [
    lin(6, 8, quantizer=Q8),
    {"type": "dropout", "p": 0.2},
    lin(8, 4, quantizer=Q8),
    lin(4, 2, "softmax"),
]


def data(n=150, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


# --- schedule -------------------------------------------------------------------------------


def test_lin_schedule_is_rounded_linspace():
    assert checkpoint_steps("lin", 5, 2, 10) == [0, 5, 10, 15, 20]
    assert checkpoint_steps("lin", 3, 1.5, 4) == [0, 3, 6]


def test_log_schedule_starts_at_one_step_and_drops_duplicates():
    steps = checkpoint_steps("log", 30, 1, 10)
    assert steps[:2] == [0, 1] and steps[-1] == 10
    assert steps == sorted(set(steps)) and len(steps) <= 11  # fewer than 30 after rounding
    big = checkpoint_steps("log", 6, 100, 100)
    assert big == [0, 1, 10, 100, 1000, 10000]  # 0, then 10 ** linspace(0, 4, 5)
    assert checkpoint_steps("log", 4, 0.5, 10) == [0, 1, 2, 5]


@pytest.mark.parametrize(
    "args, match",
    [
        (("exp", 5, 1, 10), "checkpoints.kind"),
        (("log", 1, 1, 10), "checkpoints.count"),
        (("lin", 5, 0, 10), "epochs"),
        (("lin", 5, 1, 0), "steps_per_epoch"),
    ],
)
def test_schedule_errors(args, match):
    with pytest.raises(ValueError, match=match):
        checkpoint_steps(*args)


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
    last = train(
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
def test_resume_from_mid_epoch_checkpoint_is_bit_identical(tmp_path, optimizer):
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
    net, ckpts, metrics, last = run(cfg, callback_noise=True)
    mid = next(c for c in ckpts if c.step % 10 not in (0,) and c.step > 5)  # 10 steps/epoch
    mid.save(tmp_path / "mid.pt")
    loaded = Checkpoint.load(tmp_path / "mid.pt")
    net2, ckpts2, metrics2, last2 = run(cfg, resume=loaded)
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
        train(
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
        train(
            Network([lin(6, 2, "softmax")]),
            x,
            y,
            TrainConfig(epochs=2, checkpoint_count=2),
            seed=0,
            on_checkpoint=lambda c: None,
            device="cpu",
        )


def test_checkpoint_epochs_follow_the_schedule():
    cfg = TrainConfig(batch_size=16, epochs=2.5, checkpoint_schedule="log", checkpoint_count=6)
    _, ckpts, metrics, _ = run(cfg)
    assert [c.step for c in ckpts] == checkpoint_steps("log", 6, 2.5, 10)
    assert [c.epoch for c in ckpts] == [c.step / 10 for c in ckpts]
    assert [m["epoch"] for _, m in metrics] == [1.0, 2.0, 2.5]


# --- several seeds at once ------------------------------------------------------------------


def test_train_seeds_matches_single_seed_runs_without_noise():
    det = [lin(6, 8, quantizer={"levels": 8, "mode": "center_saturating"}), lin(8, 2, "softmax")]
    cfg = TrainConfig(
        lr=0.1, momentum=0.9, batch_size=16, epochs=2, checkpoint_count=4, checkpoint_schedule="lin"
    )
    x, y = data()
    got: dict[int, list] = {0: [], 1: []}
    train_seeds(
        det, x, y, cfg, seeds=[3, 4], on_checkpoint=lambda i, c: got[i].append(c), device="cpu"
    )
    for i, seed in enumerate([3, 4]):
        net = Network(det, seed=seed)
        ref = []
        train(net, x, y, cfg, seed=seed, on_checkpoint=ref.append, device="cpu")
        for a, b in zip(got[i], ref, strict=True):
            assert a.step == b.step
            for k in b.model_state:
                np.testing.assert_allclose(a.model_state[k], b.model_state[k], atol=1e-5)
        # a per-seed checkpoint resumes in the single-network loop
        resumed = Network(det, seed=seed)
        train(
            resumed,
            x,
            y,
            cfg,
            seed=seed,
            on_checkpoint=lambda c: None,
            device="cpu",
            resume_from=got[i][1],
        )
        for k, v in net.state_dict().items():
            np.testing.assert_allclose(resumed.state_dict()[k], v, atol=1e-5)

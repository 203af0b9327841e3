"""Probing never changes training: a loop that calls Probe.log between optimizer steps ends
with exactly the weights, buffers and optimizer state of the same loop without the probe,
and every module keeps its own train/eval flag."""

from __future__ import annotations

import pytest
import torch
from mlflow.tracking import MlflowClient
from torch import nn

from nninfo.probe import Layer, Probe

STEPS = 30
PROBED = (0, 5, 13, 29)


class Net(nn.Module):
    """Dropout and batch norm in training mode, and a submodule the user keeps in eval mode
    (its dropout off, its batch norm on running statistics)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                  nn.Dropout(0.3), nn.Linear(16, 4), nn.Tanh())
        self.frozen = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5),
                                    nn.Tanh())
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.frozen(self.body(x)))


def samples() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 6, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] + x[:, 2] > 0).long()


def modes(model: nn.Module) -> dict[str, bool]:
    return {name: m.training for name, m in model.named_modules()}


def train(probed: str | None) -> tuple[Net, torch.optim.Optimizer, list[dict[str, bool]],
                                       Probe | None]:
    """STEPS optimizer steps over a shuffling loader; with ``probed`` (the probe's data:
    ``tensors`` or ``loader``), Probe.log after each step (measuring at PROBED) and the probe
    made (one forward pass) before the first."""
    torch.manual_seed(0)
    model = Net()
    model.train()
    model.frozen.eval()
    data = torch.utils.data.TensorDataset(*samples())
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-3)
    probe = None
    if probed:
        # a DataLoader draws on the global generator (its base seed, its shuffling)
        probe_data = data.tensors if probed == "tensors" else \
            torch.utils.data.DataLoader(data, batch_size=64, shuffle=True)
        probe = Probe(model, probe_data, {"h": Layer("body.5", n_bins=4),
                                          "frozen": Layer("frozen.3", levels=3)},
                      analysis={"measures": ["pid"], "surrogates": {"mi": 3, "pid": 0}},
                      schedule=PROBED, experiment="determinism")
        probe.log(0)
    seen, step = [], 0
    while step < STEPS:
        for xb, yb in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
            step += 1
            if probe is not None:
                probe.log(step)
                seen.append(modes(model))
            if step == STEPS:
                break
    if probe is not None:
        probe.close()
    return model, opt, seen, probe


@pytest.mark.parametrize("probe_data", [
    "tensors",
    "loader",
])
def test_probing_leaves_training_unchanged(mlflow_store, probe_data):
    plain, plain_opt, _, _ = train(probed=None)
    probed, probed_opt, seen, probe = train(probed=probe_data)

    state, reference = probed.state_dict(), plain.state_dict()
    assert state.keys() == reference.keys()
    for key, tensor in reference.items():
        assert torch.equal(state[key], tensor), key
    assert int(state["body.1.num_batches_tracked"]) == STEPS
    for group, ref in zip(probed_opt.state_dict()["state"].values(),
                          plain_opt.state_dict()["state"].values(), strict=True):
        for key in ref:
            assert torch.equal(group[key], ref[key]), key

    expected = {name: not (name == "frozen" or name.startswith("frozen."))
                for name, _ in plain.named_modules()}
    assert modes(plain) == expected
    assert modes(probed) == expected
    assert len(seen) == STEPS and all(m == expected for m in seen)

    history = MlflowClient(mlflow_store).get_metric_history(
        probe.runs.seed_run, "h/pid.representational_complexity")
    assert [m.step for m in history] == list(PROBED)

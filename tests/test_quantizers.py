import pytest
import torch

from nninfo.nn import Network, Quantizer


def levels_of(q: Quantizer) -> torch.Tensor:
    return torch.linspace(q.lo, q.hi, q.levels)


@pytest.mark.parametrize("mode", ["stochastic", "center_saturating"])
def test_straight_through_gradient_is_identity(mode):
    q = Quantizer(8, mode, (-1.0, 1.0)).train()
    x = torch.linspace(-1.5, 1.5, 101, requires_grad=True)
    w = torch.randn(101)
    (q(x) * w).sum().backward()
    assert torch.equal(x.grad, w)


def test_stochastic_rounding_is_unbiased_and_on_neighbouring_levels():
    torch.manual_seed(0)
    q = Quantizer(5, "stochastic", (0.0, 1.0)).train()
    x = torch.rand(50)
    draws = q(x.expand(20000, 50))
    lv = levels_of(q)
    on_level = (draws[..., None] - lv).abs().min(-1).values < 1e-6
    assert on_level.all()
    assert ((draws - x).abs() <= q.step + 1e-6).all()
    # each draw is Bernoulli between two levels: std <= step/2, so 5 sigma of the mean
    tol = 5 * (q.step / 2) / 20000**0.5
    assert (draws.mean(0) - x).abs().max() < tol


def test_eval_mode_rounds_to_nearest_level_and_saturates():
    q = Quantizer(8, "stochastic", (-1.0, 1.0)).eval()
    x = torch.linspace(-2, 2, 997)
    lv = levels_of(q)
    nearest = lv[(x.clamp(-1, 1)[:, None] - lv).abs().argmin(1)]
    assert torch.allclose(q(x), nearest, atol=1e-6)
    assert torch.equal(q(x), q(x))
    cs = Quantizer(8, "center_saturating", (-1.0, 1.0)).train()
    assert torch.allclose(cs(x), nearest, atol=1e-6)


def test_codes_values_round_trip():
    q = Quantizer(8, "center_saturating", (-1.0, 1.0))
    codes = torch.arange(8, dtype=torch.uint8)
    assert torch.equal(q.codes(q.values(codes)), codes)
    x = torch.linspace(-1.3, 1.3, 333)
    assert q.codes(x).dtype == torch.uint8
    assert int(q.codes(x).min()) == 0 and int(q.codes(x).max()) == 7
    assert torch.allclose(q.values(q.codes(x)), q.eval()(x), atol=1e-6)
    assert Quantizer(300, "stochastic", (0.0, 1.0)).codes(x).dtype == torch.int64


@pytest.mark.parametrize(
    "args, field",
    [
        ((1, "stochastic", (0, 1)), "levels"),
        ((8, "floor", (0, 1)), "mode"),
        ((8, "stochastic", (1, 0)), "limits"),
        ((8, "stochastic", (0,)), "limits"),
    ],
)
def test_bad_quantizer_arguments(args, field):
    with pytest.raises(ValueError, match=f"quantizer.{field}"):
        Quantizer(*args)


def test_unbounded_activation_needs_explicit_limits():
    layer = {"type": "linear", "in_features": 3, "out_features": 2, "activation": "relu"}
    with pytest.raises(ValueError, match=r"L1\).quantizer.limits.*relu"):
        Network([{**layer, "quantizer": {"levels": 4, "mode": "stochastic"}}])
    net = Network([{**layer, "quantizer": {"levels": 4, "limits": [0, 3]}}])
    assert net.layer_limits("L1") == (0.0, 3.0)

"""StochasticFractionalLayer (fraczoo.nn.memory): shapes, exact eval path, unbiased training path."""
from __future__ import annotations

import math

import pytest
import torch

from fraczoo.nn.memory import StochasticFractionalLayer
from fraczoo.ops.history import caputo

F64 = torch.float64


def layer(**kwargs) -> StochasticFractionalLayer:
    torch.manual_seed(0)
    return StochasticFractionalLayer(4, **kwargs).double()


def test_shapes_alpha_and_eval_is_exact():
    net = layer(num_samples=8, alpha_init=0.3)
    x = torch.randn(3, 50, 4, dtype=F64)
    assert net(x).shape == x.shape
    assert net.alpha.shape == (1, 4) and torch.allclose(net.alpha, torch.full((1, 4), 0.3, dtype=F64))
    assert layer(per_channel=False).alpha.shape == ()
    net.eval()
    u = torch.randn(3, 50, 4, dtype=F64)
    torch.testing.assert_close(net.memory(u), caputo(u, net.alpha, 1.0, dim=1), rtol=1e-12, atol=1e-12)
    # eval is deterministic; training is random
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))


def test_training_with_enough_samples_is_exact():
    net = layer(num_samples=60, dt=0.1).train()
    u = torch.randn(2, 40, 4, dtype=F64)
    torch.testing.assert_close(net.memory(u), caputo(u, net.alpha, 0.1, dim=1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sampler", ["by_parts", "control_variate"])
def test_training_memory_is_unbiased(sampler):
    net = layer(num_samples=6, sampler=sampler, alpha_init=0.6).train()
    with torch.no_grad():
        net.order.raw.copy_(torch.tensor([[-1.0, 0.0, 0.5, 2.0]]))
    u = torch.cumsum(torch.randn(1, 30, 4, dtype=F64, generator=torch.Generator().manual_seed(1)), 1)
    exact = caputo(u, net.alpha.detach(), 1.0, dim=1)[0]
    reps = 1500
    with torch.no_grad():
        draws = torch.stack([net.memory(u)[0] for _ in range(reps)])   # shared draws: one series per call
    mean, std = draws.mean(0), draws.std(0)
    z = (mean - exact)[7:] / (std[7:] / math.sqrt(reps))
    assert bool((std[7:] > 0).all()) and float(z.abs().max()) < 5.0


def test_gradients_reach_alpha_and_weights_in_both_modes():
    for mode in (True, False):
        net = layer(num_samples=8).train(mode)
        x = torch.randn(2, 30, 4, dtype=F64)
        net(x).square().sum().backward()
        assert net.order.raw.grad is not None and bool(torch.isfinite(net.order.raw.grad).all())
        assert float(net.order.raw.grad.abs().min()) > 0
        assert all(p.grad is not None for p in net.parameters())


def test_seeded_generator_and_float32():
    x = torch.randn(2, 40, 4)
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = StochasticFractionalLayer(4, num_samples=8, generator=torch.Generator().manual_seed(5)).train()
        outs.append(net(x))
    assert outs[0].dtype == torch.float32 and torch.equal(outs[0], outs[1])


def test_causal():
    """The output at step n depends on inputs up to n only (in both modes)."""
    for mode in (True, False):
        net = layer(num_samples=8, generator=torch.Generator().manual_seed(0)).train(mode)
        x = torch.randn(1, 30, 4, dtype=F64, requires_grad=True)
        (grad,) = torch.autograd.grad(net(x)[0, 12].sum(), x)
        assert float(grad[0, 13:].abs().max()) == 0 and float(grad[0, :13].abs().max()) > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="channels must be an int >= 1, got 0"):
        StochasticFractionalLayer(0)
    with pytest.raises(ValueError, match="num_samples must be an int >= 1"):
        StochasticFractionalLayer(4, num_samples=0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        StochasticFractionalLayer(4, sampler="uniform")
    with pytest.raises(ValueError, match="init must lie in the open interval"):
        StochasticFractionalLayer(4, alpha_init=1.0)
    with pytest.raises(ValueError, match="dt must be > 0"):
        StochasticFractionalLayer(4, dt=0.0)
    net = StochasticFractionalLayer(4)
    with pytest.raises(ValueError, match=r"input must have shape \(batch, time, 4\)"):
        net(torch.randn(2, 10, 3))
    with pytest.raises(ValueError, match="at least 2 time steps"):
        net(torch.randn(2, 1, 4))

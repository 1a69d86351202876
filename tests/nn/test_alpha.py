"""Probabilistic orders: distributions, reparameterised gradients, KL, layer behaviour, bad input."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats
from torch.distributions import Normal

from fraczoo.nn.alpha import BetaAlphaLayer, NormalAlphaLayer, ProbabilisticOrder
from fraczoo.nn.order import FractionalOrder
from fraczoo.ops.spectral import spectral_derivative


def scalar_loss(alpha):
    """A smooth, non-polynomial loss of the order (its expectation is not available by moments)."""
    return torch.sin(3 * alpha) + (alpha - 1) ** 2


def scalar_loss_np(alpha):
    return np.sin(3 * alpha) + (alpha - 1) ** 2


def mc_gradient(layer, params, loss_of_draws, *, chunks, per_chunk):
    """Mean and standard error of the reparameterised gradient of E[loss] over ``chunks`` batches."""
    grads = []
    for _ in range(chunks):
        loss = loss_of_draws(layer, per_chunk)
        grads.append(torch.stack(torch.autograd.grad(loss, params)).detach().double())
    grads = torch.stack(grads)
    return grads.mean(0), grads.std(0) / math.sqrt(chunks)


def central_difference(fn, x0, h=1e-5):
    return [(fn(*[x + (h if j == i else 0.0) for j, x in enumerate(x0)])
             - fn(*[x - (h if j == i else 0.0) for j, x in enumerate(x0)])) / (2 * h) for i in range(len(x0))]


def softplus(raw):
    return math.log1p(math.exp(raw))


# ------------------------------------------------------------------------------------------------
# reparameterised gradients against finite differences of the exact expected loss

def clipped_normal_expectation(fn, mu, sigma, low, high):
    """E fn(clamp(mu + sigma eps, low, high)), eps ~ N(0, 1), by adaptive quadrature (plus the two
    point masses the clipping puts at low and high)."""
    norm = 1.0 / (sigma * math.sqrt(2 * math.pi))
    inner, _ = integrate.quad(lambda a: fn(a) * norm * math.exp(-0.5 * ((a - mu) / sigma) ** 2), low, high,
                              epsabs=1e-13, epsrel=1e-12, limit=200)
    return (stats.norm.cdf(low, mu, sigma) * fn(low) + inner + stats.norm.sf(high, mu, sigma) * fn(high))


def test_normal_gradient_matches_expected_loss_with_clipping_active():
    torch.manual_seed(0)
    # mu near the lower bound: a quarter of the draws are clipped to 0, so the test covers the clamp.
    layer = NormalAlphaLayer(0.1, 0.15, low=0.0, high=2.0).double()
    assert stats.norm.cdf(0.0, 0.1, 0.15) > 0.2
    params = [layer.loc, layer.raw_scale]
    grad, stderr = mc_gradient(layer, params, lambda lay, m: scalar_loss(lay.sample((m,))).mean(),
                               chunks=10, per_chunk=20_000)
    exact = central_difference(
        lambda mu, raw: clipped_normal_expectation(scalar_loss_np, mu, softplus(raw), 0.0, 2.0),
        [layer.loc.item(), layer.raw_scale.item()])
    for g, s, e in zip(grad.tolist(), stderr.tolist(), exact):
        assert abs(g - e) < 5 * s + 1e-4, (g, e, s)
    assert all(abs(e) > 10 * s for e, s in zip(exact, stderr.tolist()))  # the check is sharp, not vacuous


def test_normal_gradient_through_the_spectral_forward():
    """d E[loss] / d(mu, raw_scale) through layer(x) (per-sample orders) vs the exact expected loss."""
    torch.manual_seed(1)
    n = 16
    grid = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    x = torch.sin(grid) + 0.5 * torch.cos(3 * grid)
    dx = 2 * math.pi / n
    target = spectral_derivative(x, 0.7, dx=dx) + 0.1

    grid_np = grid.numpy()
    target_np = target.numpy()

    def loss_at(alpha):  # D^a sin(m t) = m^a sin(m t + a pi / 2), exact on the grid
        shift = alpha * math.pi / 2
        deriv = np.sin(grid_np + shift) + 0.5 * 3.0 ** alpha * np.cos(3 * grid_np + shift)
        return float(((deriv - target_np) ** 2).mean())

    layer = NormalAlphaLayer(0.5, 0.2, per_sample=True, dx=dx).double()
    params = [layer.loc, layer.raw_scale]
    grad, stderr = mc_gradient(layer, params,
                               lambda lay, m: ((lay(x.expand(m, n)) - target) ** 2).mean(),
                               chunks=10, per_chunk=2000)
    exact = central_difference(
        lambda mu, raw: clipped_normal_expectation(loss_at, mu, softplus(raw), 0.0, 2.0),
        [layer.loc.item(), layer.raw_scale.item()])
    for g, s, e in zip(grad.tolist(), stderr.tolist(), exact):
        assert abs(g - e) < 5 * s + 1e-4, (g, e, s)
    assert all(abs(e) > 10 * s for e, s in zip(exact, stderr.tolist()))  # gradients are resolved


def test_beta_gradient_matches_expected_loss():
    torch.manual_seed(2)
    layer = BetaAlphaLayer(0.6, 0.25, low=0.0, high=2.0).double()
    params = [layer.raw_concentration1, layer.raw_concentration0]
    grad, stderr = mc_gradient(layer, params, lambda lay, m: scalar_loss(lay.sample((m,))).mean(),
                               chunks=10, per_chunk=20_000)

    def expected(raw1, raw0):
        a, b = softplus(raw1), softplus(raw0)
        log_norm = -special.betaln(a, b)
        value, _ = integrate.quad(
            lambda u: scalar_loss_np(2.0 * u) * math.exp(log_norm + (a - 1) * math.log(u) + (b - 1) * math.log1p(-u)),
            0.0, 1.0, epsabs=1e-13, epsrel=1e-12, limit=200)
        return value

    exact = central_difference(expected, [p.item() for p in params])
    for g, s, e in zip(grad.tolist(), stderr.tolist(), exact):
        assert abs(g - e) < 5 * s + 1e-4, (g, e, s)
    assert all(abs(e) > 10 * s for e, s in zip(exact, stderr.tolist()))


@pytest.mark.parametrize("cls", [NormalAlphaLayer, BetaAlphaLayer])
def test_gradient_reaches_parameters_in_every_mode(cls):
    x = torch.randn(4, 3, 16)
    for mode, kwargs in [("train", {}), ("train", dict(per_sample=True)), ("eval", dict(eval_mode="sample",
                                                                                         num_eval_samples=3))]:
        layer = cls(0.5, 0.1, shape=(3, 1), **kwargs)
        layer.train(mode == "train")
        layer(x).pow(2).sum().backward()
        for p in layer.parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, (mode, kwargs)


# ------------------------------------------------------------------------------------------------
# distributions, moments, KL

def test_normal_samples_are_the_clipped_normal():
    layer = NormalAlphaLayer(0.1, 0.15, low=0.0, high=1.0)
    draws = layer.sample((200_000,), generator=torch.Generator().manual_seed(0)).detach().double()
    assert float(draws.min()) == 0.0 and float(draws.max()) <= 1.0
    clipped = float((draws == 0.0).double().mean())
    assert abs(clipped - stats.norm.cdf(0.0, 0.1, 0.15)) < 4 * math.sqrt(0.25 / 200_000)
    inside = draws[draws > 0].numpy()
    ks = stats.kstest(inside, stats.truncnorm(-0.1 / 0.15, 0.9 / 0.15, loc=0.1, scale=0.15).cdf)
    assert ks.pvalue > 1e-3
    torch.testing.assert_close(layer.mean, torch.tensor(0.1))
    torch.testing.assert_close(layer.std, torch.tensor(0.15))
    assert isinstance(layer.posterior(), Normal)


def test_beta_samples_and_moments():
    layer = BetaAlphaLayer(1.4, 0.3, low=0.5, high=2.0).double()
    a, b = (c.item() for c in layer.concentrations)
    # closed-form moments of low + w Beta(a, b) reproduce the requested mean and std
    torch.testing.assert_close(layer.mean, torch.tensor(1.4, dtype=torch.float64))
    torch.testing.assert_close(layer.std, torch.tensor(0.3, dtype=torch.float64))
    draws = layer.sample((100_000,), generator=torch.Generator().manual_seed(0)).detach()
    assert 0.5 <= float(draws.min()) and float(draws.max()) <= 2.0
    ks = stats.kstest(((draws - 0.5) / 1.5).numpy(), stats.beta(a, b).cdf)
    assert ks.pvalue > 1e-3
    post = layer.posterior()
    value = torch.tensor([0.7, 1.9], dtype=torch.float64)
    torch.testing.assert_close(post.log_prob(value).detach(),
                               torch.tensor(stats.beta.logpdf((value.numpy() - 0.5) / 1.5, a, b) - math.log(1.5)))


def test_normal_kl_closed_form_and_gradient():
    layer = NormalAlphaLayer(0.5, 0.1, shape=(2, 1)).double()
    mu0, s0 = 0.8, 0.3
    kl = layer.kl(Normal(torch.tensor(mu0, dtype=torch.float64), torch.tensor(s0, dtype=torch.float64)))
    expected = math.log(s0 / 0.1) + (0.1 ** 2 + (0.5 - mu0) ** 2) / (2 * s0 ** 2) - 0.5
    assert kl.shape == (2, 1)
    torch.testing.assert_close(kl, torch.full((2, 1), expected, dtype=torch.float64))
    kl.sum().backward()
    # d KL / d mu = (mu - mu0) / s0^2 per element
    torch.testing.assert_close(layer.loc.grad, torch.full((2, 1), (0.5 - mu0) / s0 ** 2, dtype=torch.float64))
    # a layer as prior; KL to itself is 0
    torch.testing.assert_close(layer.kl(layer), torch.zeros(2, 1, dtype=torch.float64))


def test_beta_kl_closed_form():
    layer = BetaAlphaLayer(0.6, 0.2, low=0.0, high=2.0).double()
    a, b = (c.item() for c in layer.concentrations)
    a0, b0 = 2.0, 5.0
    expected = (special.betaln(a0, b0) - special.betaln(a, b) + (a - a0) * special.digamma(a)
                + (b - b0) * special.digamma(b) + (a0 - a + b0 - b) * special.digamma(a + b))
    kl = layer.kl(BetaAlphaLayer.distribution(torch.tensor(a0, dtype=torch.float64),
                                              torch.tensor(b0, dtype=torch.float64), 0.0, 2.0))
    torch.testing.assert_close(kl, torch.tensor(expected, dtype=torch.float64))
    kl.backward()
    assert layer.raw_concentration1.grad is not None and float(layer.raw_concentration1.grad) != 0
    other = BetaAlphaLayer(1.0, 0.3).double()
    assert layer.kl(other).item() > 0


def test_kl_with_a_prior_of_another_family_is_a_clear_error():
    with pytest.raises(TypeError, match="closed-form KL"):
        NormalAlphaLayer().kl(BetaAlphaLayer.distribution(2.0, 2.0))
    with pytest.raises(TypeError, match="closed-form KL"):  # same family, different support
        BetaAlphaLayer().kl(BetaAlphaLayer.distribution(2.0, 2.0, 0.0, 1.0))
    with pytest.raises(TypeError, match="prior must be"):
        NormalAlphaLayer().kl(0.5)


# ------------------------------------------------------------------------------------------------
# the layer

def test_seed_api_and_shapes():
    layer = NormalAlphaLayer(0.5, 0.1)
    assert layer(torch.randn(32, 16)).shape == (32, 16)
    assert layer(torch.randn(2, 3, 16)).shape == (2, 3, 16)
    assert layer.sample((5, 4)).shape == (5, 4)
    per_channel = BetaAlphaLayer(0.5, 0.1, shape=(3, 1), per_sample=True)
    assert per_channel.sample((7,)).shape == (7, 3, 1)
    assert per_channel(torch.randn(4, 3, 16)).shape == (4, 3, 16)
    assert per_channel(torch.randn(5, 4, 3, 16)).shape == (5, 4, 3, 16)
    assert isinstance(layer, ProbabilisticOrder) and not isinstance(layer, FractionalOrder)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cls", [NormalAlphaLayer, BetaAlphaLayer])
def test_forward_is_the_derivative_at_a_drawn_order(cls, dtype):
    layer = cls(0.6, 0.2, shape=(3, 1)).to(dtype)
    x = torch.randn(2, 3, 16, dtype=dtype)
    torch.manual_seed(5)
    alpha = layer.sample()
    torch.manual_seed(5)
    y = layer(x)
    assert y.dtype == dtype
    torch.testing.assert_close(y, spectral_derivative(x, alpha))
    # per-sample draws: one order per leading index
    layer.per_sample = True
    torch.manual_seed(6)
    alpha = layer.sample((2,))
    torch.manual_seed(6)
    torch.testing.assert_close(layer(x), spectral_derivative(x, alpha))


@pytest.mark.parametrize("cls", [NormalAlphaLayer, BetaAlphaLayer])
def test_eval_modes(cls):
    x = torch.randn(2, 3, 16, dtype=torch.float64)
    layer = cls(0.6, 0.2, shape=(3, 1)).double().eval()
    torch.testing.assert_close(layer(x), spectral_derivative(x, layer.mean))
    assert torch.equal(layer(x), layer(x))  # deterministic
    layer.eval_mode, layer.num_eval_samples = "sample", 4
    torch.manual_seed(3)
    draws = layer.sample((4,))
    torch.manual_seed(3)
    expected = torch.stack([spectral_derivative(x, a) for a in draws]).mean(0)
    torch.testing.assert_close(layer(x), expected)


def test_normal_eval_point_is_clipped():
    layer = NormalAlphaLayer(0.0, 0.1, low=0.0, high=1.0)
    with torch.no_grad():
        layer.loc.fill_(-0.3)
    assert layer.point().item() == 0.0


def test_seeding():
    layer = BetaAlphaLayer(0.5, 0.1)
    gen = torch.Generator().manual_seed(123)
    first = layer.sample((10,), generator=gen)
    gen.manual_seed(123)
    assert torch.equal(first, layer.sample((10,), generator=gen))
    assert not torch.equal(first, layer.sample((10,), generator=gen))
    x = torch.randn(3, 16)
    torch.manual_seed(9)
    y1 = NormalAlphaLayer()(x)
    torch.manual_seed(9)
    assert torch.equal(y1, NormalAlphaLayer()(x))


def test_riesz_kind_and_fixed_parameters():
    layer = NormalAlphaLayer(1.2, 0.1, kind="riesz", learnable=False).eval()
    assert not list(layer.parameters())
    assert set(layer.state_dict()) == {"loc", "raw_scale"}
    x = torch.randn(3, 16, dtype=torch.float64)
    torch.testing.assert_close(layer(x), spectral_derivative(x, 1.2, kind="riesz").to(x.dtype))


def test_state_dict_round_trip():
    src = BetaAlphaLayer(0.9, 0.3, shape=(2, 1))
    with torch.no_grad():
        src.raw_concentration1.add_(0.5)
    dst = BetaAlphaLayer(0.5, 0.1, shape=(2, 1))
    dst.load_state_dict(src.state_dict())
    torch.testing.assert_close(dst.mean, src.mean)
    torch.testing.assert_close(dst.std, src.std)


@pytest.mark.parametrize("cls, kwargs, exc, match", [
    (NormalAlphaLayer, dict(std=0.0), ValueError, "std"),
    (NormalAlphaLayer, dict(std=float("nan")), ValueError, "std"),
    (NormalAlphaLayer, dict(mean=2.5), ValueError, r"mean must lie in \[low, high\]"),
    (NormalAlphaLayer, dict(mean=float("inf")), ValueError, "mean"),
    (NormalAlphaLayer, dict(low=1.0, high=0.5, mean=0.7), ValueError, "low and high"),
    (NormalAlphaLayer, dict(low=-3.0), ValueError, r"-2 <= low < high <= 2"),
    (NormalAlphaLayer, dict(low=-0.5, kind="riesz"), ValueError, r"0 <= low < high <= 2 for kind='riesz'"),
    (NormalAlphaLayer, dict(kind="caputo"), ValueError, "kind must be one of"),
    (NormalAlphaLayer, dict(eval_mode="median"), ValueError, "eval_mode must be one of"),
    (NormalAlphaLayer, dict(num_eval_samples=0), ValueError, "num_eval_samples"),
    (NormalAlphaLayer, dict(shape=(3,)), ValueError, "shape must end in 1"),
    (NormalAlphaLayer, dict(shape=(0, 1)), ValueError, r"shape\[0\] must be an int >= 1, got 0"),
    (NormalAlphaLayer, dict(dx=-1.0), ValueError, "dx"),
    (BetaAlphaLayer, dict(mean=0.0), ValueError, "open interval"),
    (BetaAlphaLayer, dict(mean=1.0, std=1.0), ValueError, r"std must be < sqrt"),
    (BetaAlphaLayer, dict(std=-0.1), ValueError, "std"),
])
def test_bad_arguments(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


def test_bad_input():
    layer = NormalAlphaLayer(shape=(3, 1))
    with pytest.raises(ValueError, match="at least 2 dims"):
        layer(torch.randn(16))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        layer([1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        NormalAlphaLayer()(torch.tensor([1.0, float("nan"), 0.0]))
    with pytest.raises(TypeError, match="real"):
        NormalAlphaLayer()(torch.randn(4, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"at least 2 dims for an order of shape \(\) drawn per sample"):
        NormalAlphaLayer(per_sample=True)(torch.randn(16))

"""FractionalDifferenceMixture (fraczoo.nn.mixture): the forecasts it is built from, causality, the gate,
and streaming (step / forecast) against the full forward."""
from __future__ import annotations

import math

import pytest
import torch

from fraczoo.datamodules.long_memory import arfima
from fraczoo.nn.mixture import FractionalDifferenceMixture
from fraczoo.nn.order import FractionalOrder
from fraczoo.ops.history import grunwald_letnikov

F64 = torch.float64


def mixture(**kwargs) -> FractionalDifferenceMixture:
    torch.manual_seed(0)
    net = FractionalDifferenceMixture(**kwargs).double()
    with torch.no_grad():       # not the symmetric start: gate, prior and AR part all matter below
        net.prior.normal_(0, 0.5)
        net.ar.normal_(0, 0.2)
    return net


def test_one_order_is_the_arfima_forecast():
    """With one order d and no AR part, out(n) = -sum_{k>=1} g_k(d) x_{n+1-k} = x_{n+1} - (1 - B)^d x_{n+1}."""
    net = FractionalDifferenceMixture(1, ar_lags=0).double()
    x = torch.randn(2, 60, 3, dtype=F64)
    d = net.alpha.detach()
    expected = (x - grunwald_letnikov(x, d, 1.0, dim=1))[:, 1:]     # forecasts of x_1 .. x_{T-1}
    torch.testing.assert_close(net(x)[:, :-1], expected, rtol=1e-10, atol=1e-10)


def test_gate_is_the_posterior_over_orders():
    """beta = 1/2, flat prior: the weights are exp(-L_j / 2) normalised, L_j the running squared errors."""
    net = FractionalDifferenceMixture(3, order_range=(0.1, 0.45), ar_lags=0).double()
    with torch.no_grad():
        net.raw_temperature.fill_(math.log(math.expm1(0.5)))      # beta = 1/2 in float64, not float32's rounding
    x = arfima(torch.tensor([0.4]), 200, generator=torch.Generator().manual_seed(0))[..., None]
    d = net.alpha.detach()
    prev = torch.cat([x - grunwald_letnikov(x, float(a), 1.0, dim=1) for a in d], -1)   # (1, T, 3): forecasts of x_n
    loglik = -0.5 * torch.cumsum((x - prev) ** 2, 1)                        # log-likelihood of x_0..x_n
    expected = (torch.softmax(loglik[:, :-1], -1) * prev[:, 1:]).sum(-1)     # mixed forecasts of x_{n+1}
    torch.testing.assert_close(net(x)[:, :-1, 0], expected, rtol=1e-10, atol=1e-10)
    # and it concentrates on the order nearest the data's d = 0.4
    w = torch.softmax(loglik[0, -1], -1)
    assert int(w.argmax()) == int((d - 0.4).abs().argmin()) and float(w.max()) > 0.5


@pytest.mark.parametrize("gate", ["posterior", "static"])
def test_causal(gate):
    net = mixture(num_orders=4, gate=gate, ar_lags=2)
    x = torch.randn(2, 40, 1, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(net(x)[:, 20].sum(), x)
    assert float(grad[:, 21:].abs().max()) == 0 and float(grad[:, :21].abs().max()) > 0


def test_gradients_reach_every_parameter():
    net = mixture(num_orders=4, ar_lags=2)
    net(torch.randn(3, 50, 2, dtype=F64)).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()) and float(p.grad.abs().sum()) > 0, name
    assert any(isinstance(m, FractionalOrder) for m in net.modules())


@pytest.mark.parametrize("ar_lags", [0, 2])
def test_streaming_equals_forward(ar_lags):
    """step() over a stream reproduces forward() on the whole series (float64: to the SOE kernel's tolerance)."""
    net = mixture(num_orders=5, ar_lags=ar_lags)
    x = arfima(torch.tensor([0.1, 0.45]), 400, generator=torch.Generator().manual_seed(1))[..., None]
    full = net(x)
    net.reset_stream()
    with torch.no_grad():
        stream = torch.stack([net.step(x[:, n]) for n in range(x.shape[1])], 1)
    rel = (stream - full).abs().max() / full.abs().max()
    assert float(rel) < 1e-8
    # float32 model: float64 state, so the stream stays as close as float32 allows
    net32 = mixture(num_orders=5, ar_lags=ar_lags).float()
    full32 = net32(x.float())
    with torch.no_grad():
        stream32 = torch.stack([net32.step(x[:, n].float()) for n in range(x.shape[1])], 1)
    assert float((stream32 - full32).abs().max() / full32.abs().max()) < 1e-4


def test_stream_state_does_not_grow():
    net = mixture(num_orders=4, ar_lags=2)
    sizes = []
    with torch.no_grad():
        for n in range(300):
            net.step(torch.randn(2, 1, dtype=F64))
            if n in (10, 299):
                sizes.append({k: v.numel() for k, v in net._stream.items() if isinstance(v, torch.Tensor)})
    assert sizes[0] == sizes[1]
    # per channel: K ~ 120 exponential sums (10^7 steps at 1e-9), shared by the 4 orders, + 3 x 4 + 4 x 2 numbers
    assert sizes[1]["history"] // 2 < 130


def test_forecast_feeds_back_and_freezes_the_gate():
    net = mixture(num_orders=3, ar_lags=1)
    x = torch.randn(2, 80, 1, dtype=F64)
    with torch.no_grad():
        out = net.forecast(x, 4)
        assert out.shape == (2, 4, 1)
        torch.testing.assert_close(out[:, 0], net(x)[:, -1], rtol=1e-8, atol=1e-10)   # first: the one-step forecast
        # the second is the one-step forecast after appending the first, with the gate left after x
        errors_after_x = net._stream["errors"].clone()
        net.reset_stream()
        for n in range(80):
            net.step(x[:, n])
        second = net.step(out[:, 0], update_gate=False)
        torch.testing.assert_close(second, out[:, 1])
        assert torch.equal(net._stream["errors"], errors_after_x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_orders must be an int >= 1"):
        FractionalDifferenceMixture(0)
    with pytest.raises(ValueError, match="gate must be one of"):
        FractionalDifferenceMixture(gate="learned")
    with pytest.raises(ValueError, match=r"order_range must be \(low, high\)"):
        FractionalDifferenceMixture(order_range=(0.3, 0.2))
    with pytest.raises(ValueError, match="temperature must be"):
        FractionalDifferenceMixture(temperature=0.0)
    with pytest.raises(ValueError, match="ar_lags must be an int >= 0"):
        FractionalDifferenceMixture(ar_lags=-1)
    net = FractionalDifferenceMixture()
    with pytest.raises(ValueError, match=r"input must have shape \(batch, time, channels\)"):
        net(torch.randn(2, 10))
    with pytest.raises(ValueError, match="at least 2 time steps"):
        net(torch.randn(2, 1, 1))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, channels\)"):
        net.step(torch.randn(3))
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        net.forecast(torch.randn(1, 5, 1), 0)
    with pytest.raises(TypeError, match="dtype"):
        net(torch.randn(2, 10, 1, dtype=F64))

import math

import pytest
import torch
from torch.func import functional_call

from fraczoo.nn import FractionalHybridConv2d, SpectralFractionalConv2d
from fraczoo.ops import fractional_laplacian


def select(block: SpectralFractionalConv2d, feature: int) -> SpectralFractionalConv2d:
    """Make the block output one of its spectral features: mix picks it, no bias, no skip path."""
    with torch.no_grad():
        block.mix.weight.zero_()
        block.mix.weight[0, feature] = 1.0
        block.mix.bias.zero_()
        block.skip.weight.zero_()
    return block


@pytest.mark.parametrize("padding", ["periodic", "zero"])
@pytest.mark.parametrize("directional", [False, True])
def test_shapes(padding, directional):
    block = SpectralFractionalConv2d(3, 5, padding=padding, directional=directional)
    assert block(torch.randn(2, 3, 12, 10)).shape == (2, 5, 12, 10)


def test_features_are_the_closed_form_derivatives():
    """On sin(m x) (periodic): the Laplacian feature is m^a sin, the Weyl x-feature m^a sin(m x + a pi/2)."""
    n, m, a = 32, 3, 0.7
    k = 2 * math.pi * m / n
    cols = torch.arange(n, dtype=torch.float64)
    x = torch.sin(k * cols).expand(n, n).reshape(1, 1, n, n)
    block = SpectralFractionalConv2d(1, 1, alpha_init=a, directional=True).double()
    with torch.no_grad():  # exact orders (the float32 init of the raw parameter is off by ~1e-8)
        for order in (block.alpha, block.alpha_x, block.alpha_y):
            order.raw.fill_(math.log((a / 2) / (1 - a / 2)))
    lap, d_x, d_y = (select(block, f)(x).detach() for f in range(3))
    torch.testing.assert_close(lap, k ** a * x, atol=1e-10, rtol=0)
    torch.testing.assert_close(d_x, (k ** a * torch.sin(k * cols + a * math.pi / 2)).expand(1, 1, n, n),
                               atol=1e-10, rtol=0)
    torch.testing.assert_close(d_y, torch.zeros_like(x), atol=1e-10, rtol=0)  # constant along y


def test_zero_padding_matches_the_operator():
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    block = select(SpectralFractionalConv2d(2, 1, alpha_init=0.6, padding="zero").double(), 0)
    expected = fractional_laplacian(x[:, :1], block.alpha()[:1].detach(), dims=(-2, -1), padding="zero")
    torch.testing.assert_close(block(x).detach(), expected)


GRADCHECK_BLOCKS = {
    "spectral": (lambda padding: SpectralFractionalConv2d(2, 2, alpha_init=0.8, padding=padding, directional=True),
                 ("alpha.raw", "alpha_x.raw", "alpha_y.raw")),
    "hybrid": (lambda padding: FractionalHybridConv2d(2, 2, alpha_init=(0.6, 1.4), padding=padding),
               ("alpha.raw", "mix.weight", "local.weight")),
}


@pytest.mark.parametrize("padding", ["periodic", "zero"])
@pytest.mark.parametrize("kind", sorted(GRADCHECK_BLOCKS))
def test_gradcheck_input_and_orders(kind, padding):
    torch.manual_seed(0)
    build, names = GRADCHECK_BLOCKS[kind]
    block = build(padding).double()
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    params = [block.get_parameter(name).detach().clone().requires_grad_(True) for name in names]

    def f(x, *values):
        return functional_call(block, dict(zip(names, values)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params))

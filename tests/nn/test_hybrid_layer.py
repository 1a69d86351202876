"""fraczoo.nn.hybrid: closed forms, equivariance, bad input (the float64 gradcheck of FractionalHybridConv2d
runs beside SpectralFractionalConv2d's in test_spectral_layer.py)."""
import math

import pytest
import torch

from fraczoo.nn.hybrid import (FractionalHybridConv2d, FractionalHybridEncoder, LogEnergyPool2d,
                               RunningStandardization)
from fraczoo.ops import fractional_laplacian


@pytest.mark.parametrize("padding", ["periodic", "zero"])
@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_shapes(padding, kernel_size):
    block = FractionalHybridConv2d(3, 5, kernel_size=kernel_size, padding=padding)
    assert block(torch.randn(2, 3, 12, 10)).shape == (2, 5, 12, 10)
    assert block(torch.randn(3, 12, 10)).shape == (5, 12, 10)


def test_branches_are_the_fractional_laplacian_of_the_mix_plus_the_convolution():
    torch.manual_seed(0)
    block = FractionalHybridConv2d(2, 3, alpha_init=(0.4, 1.6)).double()
    x = torch.randn(2, 2, 8, 8, dtype=torch.float64)
    alpha = block.alpha().detach()
    torch.testing.assert_close(alpha.flatten(), torch.tensor([0.4, 1.0, 1.6], dtype=torch.float64))
    mixed = torch.einsum("oi,bihw->bohw", block.mix.weight[:, :, 0, 0], x)
    expected = fractional_laplacian(mixed, alpha) + block.local(x)
    torch.testing.assert_close(block(x), expected)


def test_closed_form_on_a_plane_wave():
    """Local branch off: a 1-channel sin(m x) becomes w_c (2 pi m / n)^alpha_c sin(m x) in channel c."""
    n, m = 16, 3
    k = 2 * math.pi * m / n
    wave = torch.sin(k * torch.arange(n, dtype=torch.float64)).expand(n, n).reshape(1, 1, n, n)
    block = FractionalHybridConv2d(1, 4, alpha_init=(0.3, 1.8)).double()
    with torch.no_grad():
        block.local.weight.zero_()
        block.local.bias.zero_()
    weights = block.mix.weight[:, 0, 0, 0].detach()
    alpha = block.alpha().detach().flatten()
    expected = (weights * k ** alpha).reshape(1, 4, 1, 1) * wave
    torch.testing.assert_close(block(wave).detach(), expected, atol=1e-12, rtol=0)


def test_periodic_block_commutes_with_translations():
    torch.manual_seed(0)
    block = FractionalHybridConv2d(2, 3, padding="periodic").double()
    x = torch.randn(1, 2, 9, 8, dtype=torch.float64)
    shifted = torch.roll(x, shifts=(2, -3), dims=(-2, -1))
    torch.testing.assert_close(block(shifted), torch.roll(block(x), shifts=(2, -3), dims=(-2, -1)))


def test_log_energy_pool_closed_form():
    n = 16
    wave = 3.0 * torch.sin(2 * math.pi * 2 * torch.arange(n, dtype=torch.float64) / n).expand(n, n)
    x = torch.stack([wave, torch.full((n, n), 2.0, dtype=torch.float64)]).unsqueeze(0)
    energy = LogEnergyPool2d(eps=1e-12)(x)
    torch.testing.assert_close(energy, torch.log(torch.tensor([[4.5, 4.0]], dtype=torch.float64)))


def test_running_standardization():
    """First batch: standardised by its own statistics; later batches by the moving averages of the
    batches before them, so a sample's output does not depend on the rest of its batch."""
    gen = torch.Generator().manual_seed(0)
    first = 3.0 + 2.0 * torch.randn(64, 3, generator=gen, dtype=torch.float64)
    norm = RunningStandardization(3, momentum=0.5).double()
    out = norm(first)
    torch.testing.assert_close(out.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(out.var(0, unbiased=False), torch.ones(3, dtype=torch.float64), atol=1e-4, rtol=0)
    state = {k: v.clone() for k, v in norm.state_dict().items()}
    sample = torch.randn(1, 3, generator=gen, dtype=torch.float64)
    outputs = []
    for others in (torch.zeros(7, 3, dtype=torch.float64), 100 * torch.randn(7, 3, generator=gen, dtype=torch.float64)):
        norm.load_state_dict(state)
        outputs.append(norm(torch.cat([sample, others]))[0])
    torch.testing.assert_close(outputs[0], outputs[1], atol=0, rtol=0)
    torch.testing.assert_close(outputs[0], (sample[0] - first.mean(0)) / torch.sqrt(first.var(0, unbiased=False) + 1e-5))
    # the update after use: m <- m + momentum (batch mean - m)
    torch.testing.assert_close(norm.running_mean, state["running_mean"].lerp(torch.cat([sample, others]).mean(0), 0.5))
    norm.eval()
    frozen = norm.running_mean.clone()
    norm(torch.randn(5, 3, dtype=torch.float64))
    assert torch.equal(norm.running_mean, frozen)


def test_encoder_features():
    encoder = FractionalHybridEncoder(1, [4, 6], alpha_init=(0.5, 1.5))
    assert encoder.out_features == 4 + 6 + 6
    assert encoder(torch.randn(3, 1, 16, 16)).shape == (3, 16)
    assert len(list(encoder.blocks)) == 2


@pytest.mark.parametrize("call, error, match", [
    (lambda: FractionalHybridConv2d(1, 2, kernel_size=2), ValueError, "kernel_size must be an odd"),
    (lambda: FractionalHybridConv2d(1, 2, kernel_size=0), ValueError, "kernel_size"),
    (lambda: FractionalHybridConv2d(0, 2), ValueError, "in_channels"),
    (lambda: FractionalHybridConv2d(1, 2, padding="reflect"), ValueError, "padding must be one of"),
    (lambda: FractionalHybridConv2d(1, 2, alpha_init=2.0), ValueError, "alpha_init"),
    (lambda: FractionalHybridConv2d(1, 2, alpha_init=(0.5, 2.5)), ValueError, "alpha_init"),
    (lambda: FractionalHybridConv2d(1, 2, alpha_init=(1.5, 0.5)), ValueError, "low <= high"),
    (lambda: FractionalHybridConv2d(1, 2, alpha_init=(0.1, 0.5, 1.0)), ValueError, "pair"),
    (lambda: FractionalHybridConv2d(2, 2)(torch.randn(1, 3, 8, 8)), ValueError, "in_channels=2"),
    (lambda: FractionalHybridConv2d(2, 2)(torch.randn(1, 2, 1, 8)), ValueError, "height, width >= 2"),
    (lambda: FractionalHybridConv2d(2, 2)(torch.randn(1, 2, 8, 8).double()), TypeError, "dtype"),
    (lambda: FractionalHybridConv2d(2, 2)(torch.full((1, 2, 8, 8), math.nan)), ValueError, "NaN"),
    (lambda: LogEnergyPool2d(eps=0.0), ValueError, "eps"),
    (lambda: RunningStandardization(3, momentum=0.0), ValueError, "momentum"),
    (lambda: RunningStandardization(3)(torch.randn(4, 2)), ValueError, "batch, 3"),
    (lambda: LogEnergyPool2d()(torch.randn(8, 8)), ValueError, "batch, channels"),
    (lambda: FractionalHybridEncoder(1, []), ValueError, "channels"),
    (lambda: FractionalHybridEncoder(1, [4])(torch.randn(1, 16, 16)), ValueError, "batch, channels"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()

"""fraczoo.nn.hybrid: closed forms, equivariance, bad input (the float64 gradcheck of FractionalHybridConv2d
runs beside SpectralFractionalConv2d's in test_spectral_layer.py)."""
import math

import pytest
import torch

from fraczoo.nn.hybrid import (FractionalHybridConv2d, FractionalHybridEncoder, LogEnergyPool2d, LogRadialSpectrum,
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


def _radial_spectrum_full_grid(x: torch.Tensor, bins: int, low: float) -> torch.Tensor:
    """LogRadialSpectrum by brute force: every mode of the full fft2 grid, one annulus at a time."""
    h, w = x.shape[-2:]
    power = torch.fft.fft2(x).abs().square()
    k = torch.sqrt(torch.fft.fftfreq(h, dtype=torch.float64)[:, None] ** 2
                   + torch.fft.fftfreq(w, dtype=torch.float64)[None, :] ** 2)
    edges = torch.exp(torch.linspace(math.log(low), 0.5 * math.log(0.5), bins + 1, dtype=torch.float64))
    columns, present = [], []
    for b in range(bins):
        upper = k <= edges[b + 1] * (1 + 1e-9) if b == bins - 1 else k < edges[b + 1]
        mask = (k >= edges[b] * (1 - 1e-9)) & upper & (k > 0)
        present.append(bool(mask.any()))
        columns.append(torch.log(power[..., mask].mean(-1)) if mask.any() else torch.zeros(x.shape[:-2],
                                                                                             dtype=x.dtype))
    logs, present = torch.stack(columns, -1), torch.tensor(present)
    centred = logs - logs[..., present].mean(-1, keepdim=True)
    return torch.where(present, centred, torch.zeros_like(centred)).flatten(1)


@pytest.mark.parametrize("shape", [(32, 32), (24, 21), (16, 16), (64, 40)])
def test_log_radial_spectrum_equals_the_full_grid_annulus_means(shape):
    x = torch.randn(3, 2, *shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    layer = LogRadialSpectrum(bins=12, low=1 / 64)
    torch.testing.assert_close(layer(x), _radial_spectrum_full_grid(x, 12, 1 / 64), rtol=0, atol=1e-10)


def test_log_radial_spectrum_is_scale_free_and_slopes_as_the_power_law():
    n, p = 64, 3.0
    k = torch.sqrt(torch.fft.fftfreq(n, dtype=torch.float64)[:, None] ** 2
                   + torch.fft.rfftfreq(n, dtype=torch.float64)[None, :] ** 2)
    spectrum = torch.where(k > 0, k, torch.ones_like(k)) ** (-p / 2)
    spectrum[0, 0] = 0.0
    x = torch.fft.irfft2(spectrum, s=(n, n))[None, None]  # periodogram exactly proportional to |k|^-p
    layer = LogRadialSpectrum(bins=8, low=1 / 64)
    features = layer(x)[0]
    torch.testing.assert_close(layer(7.0 * x)[0], features, rtol=0, atol=1e-10)
    # an annulus's mean of |k|^-p is about |k_b|^-p at its middle |k_b|: consecutive features differ by about
    # -p x the log bin width (not at the two ends: the first annulus holds one ring of modes, the last the
    # grid's corners only)
    step = (0.5 * math.log(0.5) - math.log(1 / 64)) / 8
    slopes = torch.diff(features)[1:-1] / step
    assert float((slopes + p).abs().max()) < 0.05 * p, slopes


def test_log_radial_spectrum_gradcheck():
    x = torch.randn(1, 1, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LogRadialSpectrum(bins=3, low=0.15), (x,))


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
    with_spectrum = FractionalHybridEncoder(2, [4, 6], spectrum_bins=5)
    assert with_spectrum.out_features == 4 + 6 + 6 + 2 * 5
    assert with_spectrum(torch.randn(3, 2, 16, 16)).shape == (3, 26)


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
    (lambda: FractionalHybridEncoder(1, [4], spectrum_bins=-1), ValueError, "spectrum_bins"),
    (lambda: LogRadialSpectrum(bins=0), ValueError, "bins"),
    (lambda: LogRadialSpectrum(bins=2.5), TypeError, "bins"),
    (lambda: LogRadialSpectrum(low=0.0), ValueError, "low"),
    (lambda: LogRadialSpectrum(low=0.8), ValueError, "low"),
    (lambda: LogRadialSpectrum()(torch.randn(8, 8)), ValueError, "batch, channels"),
    (lambda: LogRadialSpectrum()(torch.full((1, 1, 8, 8), math.nan)), ValueError, "finite|NaN"),
    (lambda: LogRadialSpectrum()(torch.ones(1, 1, 8, 8, dtype=torch.int64)), TypeError, "float"),
    (lambda: FractionalHybridEncoder(1, [4])(torch.randn(1, 16, 16)), ValueError, "batch, channels"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()

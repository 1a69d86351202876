"""Spectral fractional convolution blocks for images.

A block applies a per-channel fractional Laplacian (-Delta)^(alpha_c/2) with the FFT engine
(:func:`fraczoo.ops.fractional_laplacian`), mixes channels with a 1x1 convolution and adds a residual
path. Orders are learnable (:class:`~fraczoo.nn.order.FractionalOrder`, alpha in (0, 2)).
The Laplacian is isotropic, so it cannot tell a horizontal stroke from a vertical one; with
``directional=True`` the block also applies Weyl derivatives D_x^(a_c) and D_y^(b_c) along each axis
(symbol (i k)^a, :func:`fraczoo.ops.spectral_derivative`), each with its own learnable per-channel order.

Boundary handling: ``padding="periodic"`` treats the image as a torus (exact for periodic data such as
simulated fractional Gaussian fields, cheapest); ``padding="zero"`` zero-pads to twice the size before
the FFT so content does not wrap around the border (natural images), at about 4x the FFT cost.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fraczoo._checks import check_choice, check_image_input, check_int, check_open_interval
from fraczoo.nn.order import FractionalOrder
from fraczoo.ops.spectral import PADDINGS, fractional_laplacian, spectral_derivative


class SpectralFractionalConv2d(nn.Module):
    """y = W_1x1 [ (-Delta)^(alpha_c/2) x_c (, D_x^(a_c) x_c, D_y^(b_c) x_c) ]_c + W_skip x, learnable
    orders per input channel (the directional terms with ``directional=True``)."""

    def __init__(self, in_channels: int, out_channels: int, *, alpha_init: float = 0.5,
                 padding: str = "periodic", learn_alpha: bool = True, directional: bool = False):
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.padding = check_choice(padding, "padding", PADDINGS)
        check_open_interval(alpha_init, "alpha_init", 0.0, 2.0)
        self.alpha = FractionalOrder(alpha_init, low=0.0, high=2.0, shape=(in_channels, 1, 1),
                                     learnable=learn_alpha)
        self.directional = bool(directional)
        if self.directional:
            self.alpha_x = FractionalOrder(alpha_init, low=0.0, high=2.0, shape=(in_channels, 1, 1),
                                           learnable=learn_alpha)
            self.alpha_y = FractionalOrder(alpha_init, low=0.0, high=2.0, shape=(in_channels, 1, 1),
                                           learnable=learn_alpha)
        self.mix = nn.Conv2d(in_channels * (3 if self.directional else 1), out_channels, kernel_size=1)
        self.skip = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        check_image_input(x, self.in_channels, self.skip.weight)
        frac = fractional_laplacian(x, self.alpha(), dims=(-2, -1), padding=self.padding)
        if self.directional:
            height, width = x.shape[-2:]
            # zero padding to twice the size, as fractional_laplacian does, so nothing wraps around
            padded = x if self.padding == "periodic" else F.pad(x, (0, width, 0, height))
            d_x = spectral_derivative(padded, self.alpha_x(), dim=-1)[..., :height, :width]
            d_y = spectral_derivative(padded, self.alpha_y(), dim=-2)[..., :height, :width]
            frac = torch.cat([frac, d_x, d_y], dim=1)
        return self.mix(frac) + self.skip(x)

"""Spectral fractional convolution blocks for images.

A block applies a per-channel fractional Laplacian (-Delta)^(alpha_c/2) with the FFT engine
(:func:`fraczoo.ops.fractional_laplacian`), mixes channels with a 1x1 convolution and adds a residual
path. Orders are learnable (:class:`~fraczoo.nn.order.FractionalOrder`, alpha in (0, 2)).

Boundary handling: ``padding="periodic"`` treats the image as a torus (exact for periodic data such as
simulated fractional Gaussian fields, cheapest); ``padding="zero"`` zero-pads to twice the size before
the FFT so content does not wrap around the border (natural images), at about 4x the FFT cost.
"""
from __future__ import annotations

from torch import Tensor, nn

from fraczoo.nn.order import FractionalOrder
from fraczoo.ops.spectral import fractional_laplacian


class SpectralFractionalConv2d(nn.Module):
    """y = W_1x1 [ (-Delta)^(alpha_c/2) x_c ]_c + W_skip x, one learnable order per input channel."""

    def __init__(self, in_channels: int, out_channels: int, *, alpha_init: float = 0.5,
                 padding: str = "periodic", learn_alpha: bool = True):
        super().__init__()
        if padding not in ("periodic", "zero"):
            raise ValueError(f"padding must be 'periodic' or 'zero', got {padding!r}")
        self.padding = padding
        self.alpha = FractionalOrder(alpha_init, low=0.0, high=2.0, shape=(in_channels, 1, 1),
                                     learnable=learn_alpha)
        self.mix = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.skip = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        frac = fractional_laplacian(x, self.alpha(), dims=(-2, -1), padding=self.padding)
        return self.mix(frac) + self.skip(x)

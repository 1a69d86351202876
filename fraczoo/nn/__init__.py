"""Layers built on the operator core."""
from fraczoo.nn.order import FractionalOrder
from fraczoo.nn.spectral import SpectralFractionalConv2d

__all__ = ["FractionalOrder", "SpectralFractionalConv2d"]

"""Layers built on the operator core."""
from fraczoo.nn.alpha import BetaAlphaLayer, NormalAlphaLayer, ProbabilisticOrder
from fraczoo.nn.hybrid import (FractionalHybridConv2d, FractionalHybridEncoder, LogEnergyPool2d, LogRadialSpectrum,
                               RunningStandardization)
from fraczoo.nn.memory import StochasticFractionalLayer
from fraczoo.nn.mixture import FractionalDifferenceMixture
from fraczoo.nn.order import FractionalOrder
from fraczoo.nn.spectral import SpectralFractionalConv2d

__all__ = ["BetaAlphaLayer", "FractionalDifferenceMixture", "FractionalHybridConv2d", "FractionalHybridEncoder",
           "FractionalOrder", "LogEnergyPool2d", "LogRadialSpectrum", "NormalAlphaLayer", "ProbabilisticOrder",
           "RunningStandardization", "SpectralFractionalConv2d", "StochasticFractionalLayer"]

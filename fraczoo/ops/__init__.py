"""Operator core: fractional derivatives and integrals in pure torch (no Lightning).

Every operator takes float32/float64 input of any batch shape on CPU or CUDA and is differentiable
in its input and in the order ``alpha`` (a float or a tensor that may require grad).
"""
from fraczoo.ops.history import caputo, grunwald_letnikov, rl_integral
from fraczoo.ops.mellin import mellin_derivative
from fraczoo.ops.memory import stochastic_caputo
from fraczoo.ops.special import mittag_leffler
from fraczoo.ops.spectral import SpectralFractionalDerivative, fractional_laplacian, spectral_derivative

__all__ = ["SpectralFractionalDerivative", "caputo", "fractional_laplacian", "grunwald_letnikov",
           "mellin_derivative", "mittag_leffler", "rl_integral", "spectral_derivative", "stochastic_caputo"]

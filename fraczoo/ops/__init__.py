"""Operator core: fractional derivatives and integrals in pure torch (no Lightning).

Every operator takes float32/float64 input of any batch shape on CPU or CUDA and is differentiable
in its input and in the order ``alpha`` (a float or a tensor that may require grad).
"""
import importlib

_WHERE = {
    "spectral_derivative": "spectral", "fractional_laplacian": "spectral",
    "SpectralFractionalDerivative": "spectral",
    "mellin_derivative": "mellin",
    "caputo": "history", "rl_integral": "history", "grunwald_letnikov": "history",
    "mittag_leffler": "special",
}

__all__ = list(_WHERE)


def __getattr__(name):  # TEMPORARY while the submodules are written in parallel
    if name in _WHERE:
        return getattr(importlib.import_module(f"fraczoo.ops.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'fraczoo.ops' has no attribute {name!r}")

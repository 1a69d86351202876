"""Fractional ODE solvers: ``fodeint`` with direct, adjoint and deep-equilibrium gradients."""
from fraczoo.fode._api import fodeint

__all__ = ["fodeint"]

"""Fractional ODE solvers: ``fodeint`` with direct, adjoint and deep-equilibrium gradients.

``METHODS`` and ``GRADIENTS`` name the values ``fodeint`` accepts for ``method`` and ``gradient``.
"""
from fraczoo.fode._api import GRADIENTS as _GRADIENT_TABLE
from fraczoo.fode._api import fodeint
from fraczoo.fode._errors import SolverError
from fraczoo.fode._solvers import SOLVERS as _SOLVER_TABLE

METHODS = tuple(_SOLVER_TABLE)
GRADIENTS = tuple(_GRADIENT_TABLE)

__all__ = ["GRADIENTS", "METHODS", "SolverError", "fodeint"]

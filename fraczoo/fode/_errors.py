"""The error a solve raises when its corrector or fixed-point iteration does not converge."""


class SolverError(RuntimeError):
    """A ``fodeint`` solve that did not converge (sequential corrector, adjoint corrector or the
    parallel-in-time fixed point). A ``RuntimeError``; optimizers that probe trial parameters (an L-BFGS
    line search) catch it to step back instead of stopping the fit."""

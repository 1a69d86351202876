"""L-BFGS on the square root of a least-squares loss, for full-batch fits that go down to tiny losses."""
from __future__ import annotations

import torch

from fraczoo.fode import SolverError

# the loss reported for a line-search trial point where the ODE solve fails: far above any real loss and
# finite (torch's cubic interpolation needs finite values), with a zero gradient, so the strong-Wolfe
# search shrinks the step (to at most a tenth, by its insufficient-progress rule) instead of the fit stopping
_FAILED_TRIAL = 1e30


class RootLBFGS(torch.optim.LBFGS):
    """``torch.optim.LBFGS`` (strong-Wolfe line search) minimising sqrt(L) for the closure's loss L >= 0.

    The closure is the usual one (zero_grad, loss L, backward, return L; Lightning's automatic optimization
    builds it from ``training_step``); the gradients are rescaled to d sqrt(L) = dL / (2 sqrt(L)) and sqrt(L)
    is returned, so the model keeps logging and returning its mean loss.

    Why: torch's L-BFGS keeps a curvature pair (s, y) only if s.y > 1e-10, an absolute threshold. On a
    near-exact fit (noise-free data, MSE ~1e-7) s.y falls below it, the Hessian model stops updating and the
    iterates stall at a loss that is not a minimum. sqrt(L) has the same minimisers and pairs ~1 / sqrt(L)
    times larger; for a loss that is a mean of squares it is a norm of the residuals, convex along any line
    where the residuals are affine (log L, the fully scale-free choice, is concave there, and the line search
    then extrapolates by factors of 10 into parameters the ODE solver cannot integrate).
    The stopping tolerances on the gradient and on changes of the loss are absolute too, so they default to
    0 here: the caller's budget (epochs, ``max_iter`` per step) ends the fit, not a threshold that a fit to
    noise-free data crosses long before it converges.

    A trial point of the line search where the ODE solver does not converge (``fraczoo.fode.SolverError``)
    counts as a very large loss with zero gradient, so the search steps back; a failure at the step's
    starting parameters is raised, since there is nothing to step back to.
    """

    def __init__(self, params, *, max_iter: int = 20, history_size: int = 50, tolerance_grad: float = 0.0,
                 tolerance_change: float = 0.0, floor: float = 1e-30):
        super().__init__(params, lr=1.0, max_iter=max_iter, history_size=history_size, line_search_fn="strong_wolfe",
                         tolerance_grad=tolerance_grad, tolerance_change=tolerance_change)
        self.floor = floor

    def step(self, closure):
        if closure is None:
            raise ValueError("RootLBFGS needs a closure that evaluates the loss and its gradient")

        evaluations = 0

        def root_closure():
            nonlocal evaluations
            evaluations += 1
            try:
                loss = closure()
            except SolverError:
                if evaluations == 1:
                    raise
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.grad.zero_()
                return torch.tensor(_FAILED_TRIAL)
            root = loss.detach().clamp_min(self.floor).sqrt()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.div_(2 * root)
            return root

        return super().step(root_closure)

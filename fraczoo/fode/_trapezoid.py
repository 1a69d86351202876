"""Implicit time stepping of a Volterra scheme y_n = y_0 + sum_{j<=n} c_{n,j} f(t_j, y_j).

Used by method="trapezoid" (product trapezoid weights, Diethelm, Ford & Freed 2002, eq. (3.3))
and method="l1" (L1 weights, see ``_schemes.l1_scheme``). At step n the history R_n = y_0 + sum_{j<n} c_{n,j} f_j
comes from the blocked-FFT ``OnlineHistory`` and the corrector equation

    y_n = R_n + w_0 f(t_n, y_n)

is solved to ``tol`` (|y - R - w_0 f(y)|_inf <= tol (1 + |y|_inf), |y| taken at the first guess) by
fixed-point iteration (contraction factor w_0 Lip(f) ~ h^alpha Lip(f) / Gamma(alpha + 2)) or by Newton's method with a
dense Jacobian (small states; stiff problems). Under autograd the fixed-point iterations are
unrolled ("direct" backpropagation through the solver); Newton's iterations are not recorded, and one
final Newton step from the detached solution carries the exact implicit-function derivative.

A func may expose its last layer as ``func.linear_readout = (features, weight_t, bias)``, promising
func(t, y) = features(t, y) @ weight_t + bias for states of shape (B, D) (``NeuralFODE``'s MLP field does).
The fixed-point iteration then folds w_0 into that layer once per solve, y <- (R + w_0 bias) +
features(t_n, y) @ (weight_t w_0), and evaluates f itself once per step, at the solution: one tensor
operation and autograd node fewer per iteration, the same values to round-off. Small solves are
dominated by the per-node cost of autograd, so this is about a tenth of neural_fode's training step.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from fraczoo.fode._errors import SolverError
from fraczoo.fode._history import Trajectory
from fraczoo.fode._history import history as make_history
from fraczoo.fode._problem import Problem, dense_jacobian
from fraczoo.fode._schemes import Scheme


def _not_converged(what: str, n: int, max_iter: int, err: float) -> SolverError:
    return SolverError(f"{what} did not converge at step {n} within max_iter={max_iter} iterations "
                       f"(last update {err:.3g}); use a smaller step, a larger max_iter, or "
                       "implicit='newton' for stiff problems")


class Corrector:
    """The fixed-point map y -> R + w0 f(t_n, y) of one solve (w0 fixed), with w0 folded into func's
    ``linear_readout`` where func has one (see the module docstring)."""

    def __init__(self, prob: Problem, w0: Tensor):
        self.prob, self.w0 = prob, w0
        readout = getattr(prob.func, "linear_readout", None) if len(prob.state_shape) == 2 else None
        if readout is not None:
            self.features, self.weight_t, self.bias = readout
            self.scaled_weight_t = self.weight_t * w0  # w0: (DA,), one factor per output column
            self.scaled_bias = self.bias * w0
        self.folded = readout is not None

    def solve(self, n: int, R: Tensor, guess: Tensor, tol: float, max_iter: int) -> tuple[Tensor, Tensor, int]:
        """Solve y = R + w0 f(t_n, y) by fixed-point iteration; returns (y, f(t_n, y), iterations)."""
        t_n = self.prob.t[n]
        if self.folded:
            R = R + self.scaled_bias
        y, y_value = guess, guess.detach()
        err = math.nan
        bound = tol * (1.0 + float(torch.linalg.vector_norm(y_value, math.inf)))
        for it in range(1, max_iter + 1):
            if self.folded:
                h = self.features(t_n, y)
                y_new = torch.addmm(R, h, self.scaled_weight_t)
            else:
                f = self.prob.call(t_n, y)
                y_new = torch.addcmul(R, self.w0, f)
            new_value = y_new.detach()  # the test needs no graph: compare detached values
            err = float(torch.linalg.vector_norm(new_value - y_value, math.inf))
            if err <= bound:
                if self.folded:  # f at y itself, unscaled: exact where (y_new - R) / w0 would cancel
                    f = torch.addmm(self.bias, h, self.weight_t)
                return y, f, it  # y with its own f: f_n = f(t_n, y_n) exactly
            y, y_value = y_new, new_value
        raise _not_converged("the fixed-point corrector", n, max_iter, err)


def newton(prob: Problem, n: int, R: Tensor, w0: Tensor, guess: Tensor, tol: float,
           max_iter: int) -> tuple[Tensor, Tensor, int]:
    """Solve y = R + w0 f(t_n, y) by Newton's method; returns (y, f(t_n, y), iterations)."""
    t_n = prob.t[n]
    M = guess.numel()
    eye = torch.eye(M, dtype=guess.dtype, device=guess.device)
    w0_rows = w0.detach().expand(prob.state_shape).reshape(M, 1)
    R_d = R.detach()
    y = guess.detach()
    err = float("nan")
    with torch.no_grad():
        for it in range(1, max_iter + 1):
            f = prob.call(t_n, y)
            res = y - R_d - w0.detach() * f
            err = float(res.abs().max())
            if err <= tol * (1.0 + float(y.abs().max())):
                break
            A = eye - w0_rows * dense_jacobian(prob, t_n, y)
            y = y - torch.linalg.solve(A, res.reshape(M, 1)).reshape(y.shape)
        else:
            raise _not_converged("Newton's method", n, max_iter, err)
    if not torch.is_grad_enabled():
        return y, f, it
    # y = y* - A^{-1} (y* - R - w0 f(t, y*)) with A frozen: value y*, derivative (I - w0 J)^{-1} d(R + w0 f)
    A = eye - w0_rows * dense_jacobian(prob, t_n, y)
    res = y - R - w0 * prob.call(t_n, y)
    y_out = y - torch.linalg.solve(A, res.reshape(M, 1)).reshape(y.shape)
    return y_out, prob.call(t_n, y_out), it


def solve_implicit(prob: Problem, scheme: Scheme, y0: Tensor, *, tol: float, max_iter: int,
                   implicit: str = "fixed_point", stats: dict | None = None) -> Tensor:
    """March the implicit scheme; returns the trajectory (N, *S). Differentiable if grad is on."""
    N = prob.N
    kernel = scheme.kernel  # (N, DA)
    w0 = kernel[0]
    f0 = prob.call(prob.t[0], y0)
    base = (y0 + prob.rows(scheme.start) * f0).unsqueeze(0)  # y0 + sigma_n f0, (1, N, *S)
    history = make_history(prob.rows(kernel).unsqueeze(1), N, base=base)
    if implicit == "newton":
        def step(n: int, R: Tensor, guess: Tensor) -> tuple[Tensor, Tensor, int]:
            return newton(prob, n, R, w0, guess, tol, max_iter)
    else:
        step = functools.partial(Corrector(prob, w0).solve, tol=tol, max_iter=max_iter)
    ys = Trajectory(y0, N)
    f_prev, f_before, f_third = f0, None, None
    iters = evals = 0
    most = 0
    for n in range(1, N):
        (R,) = history.push_split(f_prev)
        # first guess y = R + w0 f_n, f_n extrapolated by the quadratic through the last three steps (linear
        # at step 2, constant at step 1, where f may behave like t^alpha). Corrector iterations per step
        # against the linear guess: neural_fode's fields (bench_fode --small-step) 24.7 -> 16.4 at init,
        # 5.9 -> 5.25 trained; relaxation in float64, N = 4001: 3.1 -> 1.5. The same solution to tol.
        if f_before is None:
            f_guess = f_prev
        elif f_third is None:
            f_guess = torch.add(f_prev, f_prev - f_before)
        else:
            f_guess = torch.add(f_third, f_prev - f_before, alpha=3)  # two autograd nodes, not three
        guess = torch.addcmul(R, w0, f_guess)
        f_third, f_before = f_before, f_prev
        y, f_prev, it = step(n, R, guess)
        ys[n] = y
        iters += it
        most = max(most, it)
    if stats is not None:
        evals = 1 + iters
        stats.update(steps=N - 1, iterations=iters, max_iterations_per_step=most, func_evals=evals)
    return ys.stack()

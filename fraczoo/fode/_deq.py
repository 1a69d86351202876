"""Deep-equilibrium solve (``gradient="deq"``): the whole discrete trajectory as one fixed point.

The implicit schemes ("trapezoid", "l1") define Y = (y_1, ..., y_{N-1}) as the solution of the
discretised Volterra equation (see ``_schemes.py``)

    Y = Phi(Y),   Phi(Y)_n = y_0 + sigma_n f_0 + sum_{j<=n} w_{n-j} f(t_j, y_j),

which the sequential solver meets step by step. Here it is solved parallel in time, in windows of
many steps each solved by (Anderson-accelerated) Picard sweeps, see ``_parallel.py``.

Backward (implicit function theorem): with g = dL/dY, the adjoint u solves the linear fixed point

    u = g + J^T W^T u,   J = blockdiag(df/dy(t_n, y_n)),

(the same multipliers as the discrete adjoint in ``_adjoint.py``), solved by the same windowed
iteration backwards in time (``_parallel.adjoint_windows``: J^T(.) is one vector-Jacobian product of a
batched func evaluation per sweep). One final vjp with mu = W^T u gives the gradients of func's
parameters and y_0; the weight gradients sum_n u_n f_{n-k} (one FFT correlation) give the gradient
in alpha.
"""
from __future__ import annotations

import torch
from torch import Tensor

from fraczoo.fode._implicit_grad import correlate, reduce_to_orders, solve_with_sweep
from fraczoo.fode._parallel import adjoint_windows, parallel_forward
from fraczoo.fode._problem import Problem
from fraczoo.fode._schemes import Scheme


def deq_forward(prob: Problem, opts, y0: Tensor, scheme: Scheme) -> tuple[Tensor, None]:
    """The trajectory (N, *S) as the windowed fixed point (nothing else kept for the sweep)."""
    return parallel_forward(prob, opts, y0, scheme)[0], None


def _deq_sweep(prob: Problem, opts, scheme: Scheme, Y: Tensor, g: Tensor, params: tuple[Tensor, ...],
               state: None, need_weights: bool):
    """Backward by the implicit function theorem: u = g + J^T W^T u, windowed like the forward."""
    U, mu = adjoint_windows(prob, opts, scheme, Y, g)
    # mu_0 = sum_{m>=1} c_{m,0} u_m: the start weights sigma act on f_0 only
    mu[0] = ((prob.rows(scheme.kernel)[1:] + prob.rows(scheme.start)[1:]) * U[1:]).sum(0)
    with torch.enable_grad():
        Yv = Y.detach().requires_grad_(True)
        F = prob.call_batch(prob.t.detach(), Yv, opts.time_batching)
        inputs = (Yv,) + params
        if F.requires_grad:
            grads = torch.autograd.grad(F, inputs, mu, allow_unused=True)
        else:
            grads = (None,) * len(inputs)
    grads = [torch.zeros_like(x) if gr is None else gr for gr, x in zip(grads, inputs)]
    jt_mu, g_params = grads[0], grads[1:]
    g_y0 = (g[0] + U[1:].sum(0) + jt_mu[0]).reshape(prob.y0.shape)
    weight_grads = None
    if need_weights:
        weight_grads = {"kernel": correlate(prob, U, F.detach()),
                        "start": reduce_to_orders(prob, U * F[0].detach())}
    return g_y0, g_params, weight_grads


def solve_deq(prob: Problem, opts) -> Tensor:
    """Trajectory (N, *S) as the fixed point of the discretised Volterra equation."""
    return solve_with_sweep(deq_forward, _deq_sweep, prob, opts)

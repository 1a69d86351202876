"""What the two hand-written gradient modes share ("adjoint", ``_adjoint.py``; "deq", ``_deq.py``):
one autograd Function that runs a forward solve without a graph and a backward sweep that returns the
gradients of y_0, of func's parameters and of the scheme's weights, plus the pull-back of the weight
gradients to alpha.

For the Volterra form y_n = y_0 + sigma_n f_0 + sum_{j<=n} w_{n-j} f_j (``_schemes.py``) with adjoint
multipliers lambda_n, the weight gradients are dL/dw_k = sum_m lambda_m f_{m-k} (one FFT correlation,
``correlate``) and dL/dsigma_m = lambda_m f_0; ``alpha_grad`` pulls them back through the
differentiable weight construction ``Problem.scheme``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from fraczoo.fode._problem import Problem
from fraczoo.fode._schemes import Scheme
from fraczoo.ops._toeplitz import causal_conv

# solve(prob, opts, y0, scheme) -> (trajectory (N, *S), state kept for the sweep)
Solve = Callable[[Problem, object, Tensor, Scheme], tuple[Tensor, object]]
# sweep(prob, opts, scheme, ys, grad_ys, params, state, need_weights) -> (g_y0, g_params, weight_grads),
# weight_grads: {Scheme field name: gradient (N, DA)}, may be None when not need_weights
Sweep = Callable[..., tuple[Tensor, list[Tensor], dict[str, Tensor] | None]]


def reduce_to_orders(prob: Problem, x: Tensor) -> Tensor:
    """(N, *S) -> (N, DA): sum over batch dims (and over components for a scalar order)."""
    x = x.reshape(x.shape[0], -1, prob.D).sum(1)
    return x.sum(-1, keepdim=True) if prob.alpha.shape[0] == 1 else x


def correlate(prob: Problem, a: Tensor, b: Tensor) -> Tensor:
    """c_k = sum_{m>=k} a_m b_{m-k} per component, reduced to (N, DA): one FFT convolution."""
    N = a.shape[0]
    conv = causal_conv(a.flip(0).movedim(0, -1), b.movedim(0, -1))  # [.., n] = sum_j a_{N-1-n+j} b_j
    return reduce_to_orders(prob, conv.movedim(-1, 0).flip(0)[:N])


def alpha_grad(prob: Problem, alpha: Tensor, grads: dict[str, Tensor]) -> Tensor:
    """Pull weight gradients back to alpha through the (differentiable) weight construction."""
    with torch.enable_grad():
        a = alpha.detach().requires_grad_(True)
        scheme = prob.scheme(a)
        outs = [getattr(scheme, name) for name in grads]
        (ga,) = torch.autograd.grad(outs, a, list(grads.values()), allow_unused=True)
    return torch.zeros_like(alpha) if ga is None else ga


class _SweepGradient(torch.autograd.Function):
    """Trajectory from ``solve``; its backward is ``sweep`` (the inputs after ``opts`` get gradients)."""

    @staticmethod
    def forward(ctx, solve: Solve, sweep: Sweep, prob: Problem, opts, y0, alpha, *params):
        scheme = prob.scheme(alpha.detach())
        ys, state = solve(prob, opts, y0.detach(), scheme)
        ctx.sweep, ctx.prob, ctx.opts, ctx.scheme, ctx.state = sweep, prob, opts, scheme, state
        ctx.save_for_backward(ys, alpha, *params)
        return ys

    @staticmethod
    def backward(ctx, grad_ys):
        ys, alpha, *params = ctx.saved_tensors
        need_alpha = ctx.needs_input_grad[5]
        g_y0, g_params, weight_grads = ctx.sweep(ctx.prob, ctx.opts, ctx.scheme, ys, grad_ys, tuple(params),
                                                 ctx.state, need_alpha)
        g_alpha = alpha_grad(ctx.prob, alpha, weight_grads) if need_alpha else None
        return (None, None, None, None, g_y0, g_alpha) + tuple(g_params)


def solve_with_sweep(solve: Solve, sweep: Sweep, prob: Problem, opts) -> Tensor:
    """Trajectory (N, *S) of ``solve`` whose gradients (to y0, alpha, ``opts.params``) come from ``sweep``."""
    return _SweepGradient.apply(solve, sweep, prob, opts, prob.y0, prob.alpha, *opts.params)

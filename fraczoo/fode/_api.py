"""``fodeint``: solve a Caputo fractional ODE on a uniform grid, torchdiffeq-style."""
from __future__ import annotations

from typing import Callable

from torch import Tensor

from fraczoo._checks import check_choice
from fraczoo.fode._adjoint import solve_adjoint
from fraczoo.fode._deq import solve_deq
from fraczoo.fode._options import parse_options
from fraczoo.fode._parallel import choose_parallel
from fraczoo.fode._problem import Problem
from fraczoo.fode._solvers import SOLVERS, solve_direct

# gradient mode -> (problem, options) -> trajectory (N, *S)
GRADIENTS = {"direct": solve_direct, "adjoint": solve_adjoint, "deq": solve_deq}


def fodeint(func: Callable, y0: Tensor, t: Tensor, alpha, *, method: str = "pece",
            gradient: str = "direct", **options) -> Tensor:
    """Solve the Caputo fractional initial value problem

        D^alpha y(t) = func(t, y),   y(t[0]) = y0,   0 < alpha <= 1,

    on the uniform grid ``t`` and return y at every grid point, shape (len(t), *y0.shape).

    ``alpha``: a float, a 0-d tensor, or one order per state component (shape y0.shape[-1:]); a
    tensor may require grad. ``func(t, y)`` gets a 0-d time tensor and a state of y0's shape and
    returns the same shape (``gradient="deq"`` calls it on many times at once, see below).

    method:
      "pece"      Adams-Bashforth-Moulton predictor-corrector (Diethelm, Ford & Freed 2002);
                  option ``corrector_steps`` (default 1). Order min(2, 1 + alpha) for smooth D^alpha y.
      "trapezoid" implicit product trapezoid rule, corrector solved to ``tol`` each step by
                  ``implicit="fixed_point"`` (default) or ``"newton"`` (dense Jacobian; stiff
                  problems, small states); ``max_iter``. Order 2 for smooth D^alpha y.
      "l1"        implicit L1 scheme (same options as "trapezoid"). Order 2 - alpha for smooth y.
    At alpha = 1 these are Heun-type PECE, the trapezoid rule and backward Euler.

    gradient:
      "direct"  backpropagate through the solver with autograd.
      "adjoint" exact discrete adjoint of the scheme (every method): only the trajectory is stored
                (PECE: also the corrector inputs, c per step) and func is re-evaluated one time point
                at a time in a backward sweep, so memory does not grow with N in network
                activations; gradients reach y0, alpha and ``adjoint_params`` (default:
                func.parameters() when func is an nn.Module; pass closure tensors here).
      "deq"     (trapezoid, l1) the whole trajectory as the fixed point Y = y0 + W F(t, Y), found by
                the parallel-in-time solve below (``parallel`` is True; its options apply); backward
                by the implicit function theorem, solved parallel in time as well. func is called on
                a batch of L times: ``time_batching="broadcast"`` (default: t of shape (L, 1, ..., 1),
                y of shape (L, *y0.shape)), "vmap" or "loop".
    parallel (implicit methods "trapezoid" and "l1"; any gradient mode):
      True      solve the scheme's equations for all steps together, parallel in time: windows of steps
                (powers of two, grown while they converge in few sweeps, halved on divergence, so stiff
                problems stay safe) solved by fixed-point sweeps that call func on all times of the window
                at once (``time_batching``), the memory of earlier windows from one blocked FFT history.
                The same solution as the sequential solve to ``tol``; gradients ("direct": autograd
                through one application of the scheme's map plus the implicit-function multipliers;
                "adjoint"; "deq") are exact for the discrete solution. Options ``window``,
                ``anderson_m`` (default 0: Picard), ``adaptive``, ``tol``, ``max_iter`` per window.
      False     the sequential solver (one corrector solve per step).
      None      (default) parallel for an implicit method with the fixed-point corrector on at least
                64 time points and a state of at most 32 numbers, when func batches over time (checked
                on two points) and, for an nn.Module func, its weights (parameters of 2+ dims) times
                the state's batch rows are at most 8192 (a cheap func: the per-step overhead the
                parallel solve saves outweighs its extra evaluations); sequential otherwise. Measured
                (``scripts/bench_fode.py``, one CPU thread): on the forced 2-D system at N = 16384 the
                parallel solve is 15x faster than the sequential trapezoid solve and 55x faster than
                FDEint's PECE; over N = 64..4096, batch 1..64 and MLP widths 32 and 256
                (``--parallel-grid``) see README "Benchmarks" for where the rule picks it and the
                speed-ups there.
    ``stats``: optional dict, filled with iteration and evaluation counts (sequential: steps,
    iterations, func_evals; deq: forward_/backward_ windows, sweeps, max_sweeps_per_window,
    window_splits; adjoint: adjoint_iterations, filled during backward).

    Time ``t`` is data: no gradient flows to it.
    """
    check_choice(method, "method", tuple(SOLVERS))
    check_choice(gradient, "gradient", tuple(GRADIENTS))
    prob = Problem(func, y0, t, alpha, SOLVERS[method].scheme)
    opts = parse_options(func, prob.dtype, method, gradient, options)
    if gradient == "deq" and not SOLVERS[method].fixed_point:
        raise ValueError("gradient='deq' needs an implicit scheme (a fixed point Y = y0 + W F(Y)); "
                         "use method='trapezoid' or 'l1' (PECE is explicit)")
    opts.parallel = choose_parallel(prob, opts, SOLVERS[method].fixed_point)
    opts.stats["parallel"] = opts.parallel
    out = GRADIENTS[gradient](prob, opts)
    return out.reshape((prob.N,) + prob.shape)

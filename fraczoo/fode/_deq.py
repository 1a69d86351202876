"""Deep-equilibrium solve (``gradient="deq"``): the whole discrete trajectory as one fixed point.

The implicit schemes ("trapezoid", "l1") define Y = (y_1, ..., y_{N-1}) as the solution of the
discretised Volterra equation (see ``_schemes.py``)

    Y = Phi(Y),   Phi(Y)_n = y_0 + sigma_n f_0 + sum_{j<=n} w_{n-j} f(t_j, y_j),

which the sequential solver meets step by step. Here it is solved parallel in time (Centeno's note,
``seeds/003``; Bai, Kolter & Koltun, "Deep Equilibrium Models", NeurIPS 2019): each sweep evaluates
func once on all time points of a window (a batched call, see ``Problem.call_batch``) and forms the
memory sum with one FFT causal convolution; Picard sweeps are accelerated by Anderson mixing
(type II, Walker & Ni, SIAM J. Numer. Anal. 49 (2011) 1715). Picard on a Volterra operator converges
in the end (the operator is quasi-nilpotent) but its error first grows like (Lip T^a)^k / Gamma(ka + 1),
so on stiff or long problems the interval is split into windows solved in turn, each with the
history of the earlier ones (one FFT convolution); with ``adaptive`` a window whose iteration diverges
or stalls is halved and retried. A window of one step is the sequential fixed-point corrector.

Backward (implicit function theorem): with g = dL/dY, the adjoint u solves the linear fixed point

    u = g + J^T W^T u,   J = blockdiag(df/dy(t_n, y_n)),

(the same multipliers as the discrete adjoint in ``_adjoint.py``), solved by the same windowed
Anderson iteration backwards in time: W^T u is an anti-causal convolution (a flipped FFT convolution)
and J^T(.) one vector-Jacobian product of a batched func evaluation. One final vjp with mu = W^T u
gives the gradients of func's parameters and y_0; the weight gradients sum_n u_n f_{n-k} (one FFT
correlation) give the gradient in alpha.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from fraczoo.fode._implicit_grad import correlate, reduce_to_orders, solve_with_sweep
from fraczoo.fode._problem import Problem
from fraczoo.fode._schemes import Scheme
from fraczoo.ops._toeplitz import causal_conv

# An iterate whose residual exceeds this multiple of the best residual so far is diverging.
_DIVERGED = 1e4


class _NotConverged(Exception):
    pass


def anderson(fixed_map, x0: Tensor, *, m: int, tol: float, max_iter: int) -> tuple[Tensor, int]:
    """Fixed point x = fixed_map(x) by Anderson acceleration (type II, depth m; m = 0: Picard).

    Stops when |fixed_map(x) - x|_inf <= tol (1 + |x|_inf) and returns fixed_map(x); raises
    ``_NotConverged`` on divergence, non-finite values or after ``max_iter`` maps.
    """
    x = x0
    xs: list[Tensor] = []
    gs: list[Tensor] = []
    best = math.inf
    for it in range(1, max_iter + 1):
        gx = fixed_map(x)
        r = gx - x
        res = float(r.abs().max())
        if not math.isfinite(res) or res > _DIVERGED * best:
            raise _NotConverged(f"diverged after {it} sweeps (residual {res:.3g})")
        best = min(best, res)
        if res <= tol * (1.0 + float(gx.abs().max())):
            return gx, it
        if m == 0:
            x = gx
            continue
        xs.append(x.reshape(-1))
        gs.append(gx.reshape(-1))
        if len(xs) > m + 1:
            xs.pop(0)
            gs.pop(0)
        if len(xs) == 1:
            x = gx
            continue
        G = torch.stack(gs)
        R = G - torch.stack(xs)
        dR, dG = R[1:] - R[:-1], G[1:] - G[:-1]  # (k, n)
        H = (dR @ dR.T).double()
        H += (1e-12 * float(H.diagonal().max()) + 1e-300) * torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
        gamma = torch.linalg.solve(H, (dR @ R[-1]).double()).to(x.dtype)
        x = (G[-1] - gamma @ dG).reshape(x.shape)
    raise _NotConverged(f"not converged within max_iter={max_iter} sweeps (residual {best:.3g})")


def _windowed(n_points: int, size: int, solve_window, *, adaptive: bool, reverse: bool, stats: dict,
              key: str) -> list[tuple[int, int]]:
    """Cover [1, n_points) by windows of ``size`` steps, solved in turn (backwards if ``reverse``).
    While ``adaptive``, a window that fails is halved, and so are all later windows. Returns the
    windows used."""
    done: list[tuple[int, int]] = []
    lo, hi = 1, n_points  # still to solve
    sweeps = most = splits = 0
    while lo < hi:
        a, b = (max(lo, hi - size), hi) if reverse else (lo, min(hi, lo + size))
        try:
            it = solve_window(a, b)
        except _NotConverged as err:
            if not adaptive or b - a == 1:
                raise RuntimeError(f"deq fixed-point iteration on steps [{a}, {b}) {err}; use a smaller "
                                   "window, a larger max_iter, adaptive=True, or a sequential gradient "
                                   "mode") from None
            size = (b - a + 1) // 2
            splits += 1
            continue
        done.append((a, b))
        lo, hi = (lo, a) if reverse else (b, hi)
        sweeps += it
        most = max(most, it)
    stats.update({f"{key}_windows": len(done), f"{key}_sweeps": sweeps,
                  f"{key}_max_sweeps_per_window": most, f"{key}_window_splits": splits})
    return done


def _conv_time(w: Tensor, x: Tensor) -> Tensor:
    """Causal convolution along dim 0: w (L, *wshape), x (L, *S) -> (L, *S)."""
    return causal_conv(w.movedim(0, -1), x.movedim(0, -1)).movedim(-1, 0)


def _conv_time_transposed(w: Tensor, x: Tensor) -> Tensor:
    """Anti-causal (transposed) convolution: out_j = sum_{n>=j} w_{n-j} x_n, along dim 0."""
    return _conv_time(w, x.flip(0)).flip(0)


def deq_forward(prob: Problem, opts, y0: Tensor, scheme: Scheme) -> tuple[Tensor, list[tuple[int, int]]]:
    """The trajectory (N, *S) as the windowed fixed point, and the windows used (for the backward)."""
    N, stats = prob.N, opts.stats
    kernel = prob.rows(scheme.kernel)
    times = prob.t.detach()
    f0 = prob.call(times[0], y0)
    base = y0 + prob.rows(scheme.start) * f0  # (N, *S)
    Y = torch.empty((N,) + prob.state_shape, dtype=prob.dtype, device=prob.device)
    F = torch.zeros_like(Y)
    Y[0], F[0] = y0, f0
    evals = [1]

    def solve_window(a: int, b: int) -> int:
        L = b - a
        # memory of the solved part [0, a): one FFT convolution
        past = _conv_time(kernel[:b], torch.cat([F[:a], F.new_zeros((L,) + F.shape[1:])]))[a:]
        hist = base[a:b] + past

        def fixed_map(X):
            return hist + _conv_time(kernel[:L], prob.call_batch(times[a:b], X, opts.time_batching))

        guess = Y[a - 1].expand((L,) + prob.state_shape)
        X, it = anderson(fixed_map, guess, m=opts.anderson_m, tol=opts.tol, max_iter=opts.max_iter)
        Y[a:b] = X
        F[a:b] = prob.call_batch(times[a:b], X, opts.time_batching)
        evals[0] += (it + 1) * L
        return it

    size = opts.window or N - 1
    windows = _windowed(N, size, solve_window, adaptive=opts.adaptive, reverse=False, stats=stats, key="forward")
    stats["func_evals"] = evals[0]  # counted per time point; batched calls: forward_sweeps + windows
    return Y, windows


def _deq_sweep(prob: Problem, opts, scheme: Scheme, Y: Tensor, g: Tensor, params: tuple[Tensor, ...],
               windows: list[tuple[int, int]], need_weights: bool):
    """Backward by the implicit function theorem: u = g + J^T W^T u, windowed like the forward."""
    N = prob.N
    kernel = prob.rows(scheme.kernel)
    times = prob.t.detach()
    U = torch.zeros_like(Y)  # adjoint multipliers, u_0 unused (y_0 is not an unknown)

    def solve_window(a: int, b: int) -> int:
        L = b - a
        future = torch.cat([Y.new_zeros((b,) + Y.shape[1:]), U[b:]])
        fut = _conv_time_transposed(kernel, future)[a:b]  # sum_{n>=b} w_{n-j} u_n
        with torch.enable_grad():
            Yv = Y[a:b].detach().requires_grad_(True)
            Fw = prob.call_batch(times[a:b], Yv, opts.time_batching)
        if not Fw.requires_grad:  # func does not depend on y: u = g
            U[a:b] = g[a:b]
            return 1

        def fixed_map(u):
            mu = fut + _conv_time_transposed(kernel[:L], u)
            (jt,) = torch.autograd.grad(Fw, Yv, mu, retain_graph=True)
            return g[a:b] + jt

        u, it = anderson(fixed_map, g[a:b], m=opts.anderson_m, tol=opts.tol, max_iter=opts.max_iter)
        U[a:b] = u
        return it

    size = max(b - a for a, b in windows)
    _windowed(N, size, solve_window, adaptive=opts.adaptive, reverse=True, stats=opts.stats, key="backward")
    # mu_j = sum_{n>=j, n>=1} c_{n,j} u_n: the start weights sigma act on f_0 only
    mu = _conv_time_transposed(kernel, U)
    mu[0] = mu[0] + (prob.rows(scheme.start) * U).sum(0)
    with torch.enable_grad():
        Yv = Y.detach().requires_grad_(True)
        F = prob.call_batch(times, Yv, opts.time_batching)
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

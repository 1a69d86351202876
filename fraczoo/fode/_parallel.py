"""Parallel-in-time solution of the implicit schemes: the whole trajectory as one fixed point.

The implicit schemes ("trapezoid", "l1") define the unknowns x_i = y_{i+1}, i = 0..M-1 (M = N - 1),
as the solution of the discretised Volterra equation (``_schemes.py``)

    x_i = c_i + sum_{j<=i} w_{i-j} h_j(x_j),   c_i = y_0 + (sigma_{i+1} + w_{i+1}) f_0,   h_j = f(t_{j+1}, .),

which the sequential solver meets one step at a time. Here it is solved in windows of L steps
(Centeno's note, ``seeds/003``; Bai, Kolter & Koltun, "Deep Equilibrium Models", NeurIPS 2019): within
a window every sweep evaluates func once on all its time points (``Problem.call_batch``) and forms the
window's own memory with one causal convolution; sweeps are plain Picard or Anderson-accelerated
(type II, Walker & Ni, SIAM J. Numer. Anal. 49 (2011) 1715). Picard on a Volterra operator converges
in the end (the operator is quasi-nilpotent) but its error first grows like (Lip T^a)^k / Gamma(ka + 1)
with the window length T, so long or stiff problems need short windows while short windows waste
time per sweep: the window size is controlled like a step size (``solve_windows``), doubled while a
window converges in few sweeps, halved when it needs many, and a window that diverges is halved and
solved again. A window of one step is the sequential fixed-point corrector.

Windows are dyadic (L a power of two dividing the start), so the memory of all earlier windows comes
from one blocked-FFT ``OnlineHistory`` (``push_block``): O(M log^2 M) for the whole solve, whatever
the window sizes, instead of one O(M log M) convolution per window.

The adjoint of the same equation, u = g + J^T W^T u (J = blockdiag df/dy(t_n, y_n)), is the same
kind of equation backwards in time for mu = W^T u: reversed, mu_r = sum_{r'<=r} w_{r-r'} (g + J^T mu)_{r'}
(``adjoint_windows``); it gives the implicit-function-theorem gradients of the parallel solve.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from fraczoo.fode._errors import SolverError
from fraczoo.fode._history import OnlineHistory
from fraczoo.fode._problem import Problem
from fraczoo.fode._schemes import Scheme
from fraczoo.ops._toeplitz import causal_conv

# An iterate whose residual exceeds this multiple of the best residual so far is diverging.
_DIVERGED = 1e4
# Window-size control (measured in scripts/bench_fode.py --parallel): the first window, and the
# sweep counts below/above which the next window is doubled/halved.
FIRST_WINDOW = 64
GROW_BELOW = 30
SHRINK_ABOVE = 70
# Windows up to this size convolve with a dense Toeplitz block, longer ones through the FFT.
_DENSE_MAX = 64
# parallel=None picks the parallel solve from this many time points, up to this many state numbers, and
# up to this many weights times batch rows (an nn.Module func's work per call: 2 flops per weight and
# row for an MLP). Measured on one CPU thread (README "Benchmarks", scripts/bench_fode.py
# --parallel-grid): parallel paid at batch 4 with a width-256 MLP (4 x 1024 weights) and lost at
# batch 16 (16 x 1024), where the sweeps' extra evaluations cost more than the per-step overhead saved.
AUTO_MIN_POINTS = 64
AUTO_MAX_STATE = 32
AUTO_MAX_WORK = 8192


class NotConverged(Exception):
    def __init__(self, message: str, sweeps: int):
        super().__init__(message)
        self.sweeps = sweeps


def anderson(fixed_map: Callable[[Tensor], tuple[Tensor, Tensor]], x0: Tensor, *, m: int, tol: float,
             max_iter: int) -> tuple[Tensor, Tensor, int]:
    """Fixed point x = G(x) by Anderson acceleration (type II, depth m; m = 0: Picard).

    ``fixed_map(x)`` returns (G(x), aux(x)). Stops at the first iterate with
    |G(x) - x|_inf <= tol (1 + |G(x)|_inf) and returns (x, aux(x), maps evaluated); raises
    ``NotConverged`` on divergence, non-finite values or after ``max_iter`` maps.

    With r_k = G(x_k) - x_k and the last m differences dR, dG of the residuals and maps, the next
    iterate is x_{k+1} = G(x_k) - dG^T gamma, gamma = argmin |r_k - dR^T gamma| (normal equations,
    Tikhonov-regularised at 1e-12 of the largest diagonal). The differences live in preallocated
    ring buffers and the Gram matrix dR dR^T is updated one row per sweep, so a sweep costs O(m n)
    and a handful of tensor operations (the m x m solve is done in numpy).
    """
    x = x0
    shape = x0.shape
    best = math.inf
    if m:
        n = x0.numel()
        dR, dG = x0.new_empty((m, n)), x0.new_empty((m, n))
        gram = np.zeros((m, m))
        stored = 0
        r_prev = g_prev = None
    for it in range(1, max_iter + 1):
        gx, aux = fixed_map(x)
        r = gx - x
        res = float(torch.linalg.vector_norm(r, math.inf))
        if not math.isfinite(res) or res > _DIVERGED * best:
            raise NotConverged(f"diverged after {it} sweeps (residual {res:.3g})", it)
        best = min(best, res)
        if res <= tol * (1.0 + float(torch.linalg.vector_norm(gx, math.inf))):
            return x, aux, it
        if m == 0:
            x = gx
            continue
        r, g = r.reshape(-1), gx.reshape(-1)
        x = gx
        if r_prev is not None:
            slot = stored % m
            torch.sub(r, r_prev, out=dR[slot])
            torch.sub(g, g_prev, out=dG[slot])
            stored += 1
            k = min(stored, m)
            inner = (dR[:k] @ torch.stack([dR[slot], r], 1)).double().cpu().numpy()  # (k, 2)
            gram[slot, :k] = gram[:k, slot] = inner[:, 0]
            H = gram[:k, :k] + (1e-12 * gram.diagonal()[:k].max() + 1e-300) * np.eye(k)
            try:
                gamma = np.linalg.solve(H, inner[:, 1])
            except np.linalg.LinAlgError:  # degenerate history: a plain Picard step
                gamma = None
            if gamma is not None and np.isfinite(gamma).all():
                x = (g - torch.as_tensor(gamma, dtype=g.dtype, device=g.device) @ dG[:k]).reshape(shape)
        r_prev, g_prev = r, g
    raise NotConverged(f"not converged within max_iter={max_iter} sweeps (residual {best:.3g})", max_iter)


class WindowConv:
    """Causal convolution of a window's rows with the kernel's first L weights, along dim 0:
    out_i = sum_{j<=i} w_{i-j} x_j. ``kernel``: (>= L, *wshape). Dense Toeplitz blocks and kernel
    spectra are cached per window length."""

    def __init__(self, kernel: Tensor):
        self.kernel = kernel
        self.DA = kernel.shape[-1]
        self.cache: dict[int, Tensor] = {}

    def _operator(self, L: int) -> Tensor:
        op = self.cache.get(L)
        if op is None:
            w = self.kernel[:L].reshape(L, self.DA)
            if L <= _DENSE_MAX:
                idx = torch.arange(L, device=w.device)
                diff = idx[:, None] - idx[None, :]
                op = w[diff.clamp(min=0)] * (diff >= 0).unsqueeze(-1).to(w.dtype)  # (L, L, DA)
                op = op[..., 0] if self.DA == 1 else op.permute(2, 0, 1)  # (L, L) or (DA, L, L)
            else:
                op = torch.fft.rfft(self.kernel[:L], n=2 * L, dim=0)  # (L + 1, *wshape)
            self.cache[L] = op
        return op

    def __call__(self, x: Tensor) -> Tensor:
        L = x.shape[0]
        op = self._operator(L)
        if L > _DENSE_MAX:
            return torch.fft.irfft(torch.fft.rfft(x, n=2 * L, dim=0) * op, n=2 * L, dim=0)[:L]
        if self.DA == 1:
            return torch.mm(op, x.reshape(L, -1)).view(x.shape)
        cols = x.reshape(L, -1, self.DA).permute(2, 0, 1)  # (DA, L, B)
        return torch.bmm(op, cols).permute(1, 2, 0).reshape(x.shape)


def _lowbit(a: int) -> int:
    return a & -a


def solve_windows(kernel: Tensor, base: Tensor, make_signal: Callable[[int, int], Callable[[Tensor], Tensor]],
                  first_guess: Tensor, *, opts, start: int | None, stats: dict,
                  key: str) -> tuple[Tensor, Tensor, int]:
    """Solve x_i = base_i + sum_{j<=i} w_{i-j} h_j(x_j), i in [0, M), in dyadic windows solved in turn.

    ``kernel`` (>= M, *wshape), ``base`` (M, *S). ``make_signal(a, b)`` returns the window's map
    x (L, *S) -> h (L, *S). Window guesses: the last solved row (``first_guess`` for the first window).
    Window sizes are powers of two (``opts.window`` is rounded down to one). The size starts at
    ``start`` (default: ``opts.window``, else FIRST_WINDOW) and with ``opts.adaptive`` a failed window
    is halved and solved again, as are all later ones; without an explicit ``opts.window`` the size is
    also controlled by the sweeps each window took (doubled below GROW_BELOW, halved above
    SHRINK_ABOVE). ``adaptive=False`` without ``window``: one window of all M steps. Returns (x, h) at
    the solution, each (M, *S), and the number of signal evaluations per time point; ``stats`` gets the ``{key}_windows``, ``_sweeps``,
    ``_max_sweeps_per_window``, ``_window_splits`` counts and ``{key}_largest_window``.
    """
    M = base.shape[0]
    history = OnlineHistory(kernel[:M].unsqueeze(1), M, base=base.unsqueeze(0), track_grad=False)
    conv = WindowConv(kernel)
    X, H = torch.empty_like(base), torch.empty_like(base)
    limit = M
    if opts.window is not None:
        limit = 1 << (min(opts.window, M).bit_length() - 1)  # round down to a power of two
    if start is None:
        start = limit if opts.window is not None or not opts.adaptive else min(FIRST_WINDOW, M)
    size = 1 << (max(1, min(start, limit)).bit_length() - 1)
    control = opts.adaptive and opts.window is None
    if not opts.adaptive and opts.window is None:
        size = M  # one window, as before windows existed
    a = 0
    windows = sweeps = most = splits = evals = largest = 0
    while a < M:
        L = min(size, M - a) if a == 0 else min(size, _lowbit(a), M - a)
        b = a + L
        past = history.rows(a, b)[:, 0]
        signal = make_signal(a, b)

        def fixed_map(x):
            h = signal(x)
            return past + conv(h), h

        guess = (first_guess if a == 0 else X[a - 1]).expand((L,) + tuple(base.shape[1:]))
        try:
            x, h, it = anderson(fixed_map, guess, m=opts.anderson_m, tol=opts.tol, max_iter=opts.max_iter)
        except NotConverged as err:
            evals += L * err.sweeps
            if not opts.adaptive or L == 1:
                fallback = "" if opts.gradient == "deq" else ", or parallel=False"
                raise SolverError(f"the parallel-in-time fixed-point iteration on steps [{a + 1}, {b + 1}) "
                                   f"{err}; use a smaller window, a larger max_iter, adaptive=True{fallback}"
                                   ) from None
            size = 1 << ((L - 1).bit_length() - 1)  # the largest power of two below L
            splits += 1
            continue
        X[a:b], H[a:b] = x, h
        history.push_block(h)
        a = b
        windows += 1
        sweeps += it
        evals += it * L
        most, largest = max(most, it), max(largest, L)
        if control:
            if it < GROW_BELOW and L == size:
                size = min(2 * size, limit)
            elif it > SHRINK_ABOVE:
                size = max(1, size // 2)
    stats.update({f"{key}_windows": windows, f"{key}_sweeps": sweeps,
                  f"{key}_max_sweeps_per_window": most, f"{key}_window_splits": splits,
                  f"{key}_largest_window": largest})
    return X, H, evals


def parallel_forward(prob: Problem, opts, y0: Tensor, scheme: Scheme) -> tuple[Tensor, Tensor]:
    """The trajectory Y (N, *S) and F = f(t, Y) (N, *S) of the implicit scheme, solved parallel in time
    (no graph)."""
    N, mode = prob.N, opts.time_batching
    times = prob.t.detach()
    kernel = prob.rows(scheme.kernel)
    with torch.no_grad():
        f0 = prob.call(times[0], y0)
        base = y0 + (prob.rows(scheme.start)[1:] + kernel[1:]) * f0  # c_i, (M, *S)

        def make_signal(a, b):
            t_win = times[a + 1:b + 1]
            return lambda x: prob.call_batch(t_win, x, mode)

        X, H, evals = solve_windows(kernel, base, make_signal, y0, opts=opts, start=None, stats=opts.stats,
                                    key="forward")
    opts.stats["func_evals"] = 1 + evals  # per time point (batched calls: forward_sweeps + 1)
    return torch.cat([y0.unsqueeze(0), X]), torch.cat([f0.unsqueeze(0), H])


def adjoint_windows(prob: Problem, opts, scheme: Scheme, Y: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
    """Multipliers of the implicit scheme at the solution Y for loss gradients g (both (N, *S)):
    u_n = g_n + J_n^T mu_n, mu_n = sum_{m>=n} w_{m-n} u_m, n = 1..N-1, solved parallel in time as the
    reversed Volterra equation for mu. Returns (u, mu), each (N, *S) with row 0 zero."""
    N, mode = prob.N, opts.time_batching
    times = prob.t.detach()
    kernel = prob.rows(scheme.kernel)
    rev_Y, rev_g, rev_t = Y[1:].flip(0), g[1:].flip(0), times[1:].flip(0)

    def make_signal(a, b):
        with torch.enable_grad():
            yv = rev_Y[a:b].detach().requires_grad_(True)
            fw = prob.call_batch(rev_t[a:b], yv, mode)
        ga = rev_g[a:b]
        if not fw.requires_grad:  # func does not depend on y: J = 0
            return lambda mu: ga

        def signal(mu):
            (jt,) = torch.autograd.grad(fw, yv, mu, retain_graph=True)
            return ga + jt
        return signal

    size = opts.stats.get("forward_largest_window")
    mu, u, _ = solve_windows(kernel, torch.zeros_like(rev_g), make_signal, torch.zeros_like(rev_g[0]), opts=opts,
                          start=size, stats=opts.stats, key="backward")
    zero = torch.zeros_like(Y[:1])
    return torch.cat([zero, u.flip(0)]), torch.cat([zero, mu.flip(0)])


def conv_time(w: Tensor, x: Tensor) -> Tensor:
    """Causal convolution along dim 0: w (L, *wshape), x (L, *S) -> (L, *S) (differentiable)."""
    return causal_conv(w.movedim(0, -1), x.movedim(0, -1)).movedim(-1, 0)


class _ImplicitRows(torch.autograd.Function):
    """Values: the solution rows; gradient: ``multipliers(grad)`` sent into the graph of ``phi``."""

    @staticmethod
    def forward(ctx, phi, solution, multipliers):
        ctx.multipliers = multipliers
        return solution.clone()

    @staticmethod
    def backward(ctx, grad):
        return ctx.multipliers(grad), None, None


def solve_parallel_direct(prob: Problem, opts) -> Tensor:
    """``gradient="direct"``, ``parallel=True``: the parallel solve Y, differentiated by autograd through
    one application of the scheme's map at the solution,

        Phi(Y)_n = y_0 + sigma_n f(t_0, y_0) + sum_{j<=n} w_{n-j} f(t_j, Y_j)    (n >= 1),

    recorded with its graph to y_0, alpha (through the weights) and every tensor func uses, but not to
    Y. Its rows carry Y's values, and their backward replaces the incoming gradient g by the multipliers
    u = g + J^T W^T u of the implicit function theorem (``adjoint_windows``), so autograd then returns
    the exact derivative of the discrete solution. Memory: func's activations at all N points, once.
    """
    scheme = prob.scheme(prob.alpha.detach())
    Y, _ = parallel_forward(prob, opts, prob.y0.detach(), scheme)
    if not torch.is_grad_enabled():
        return Y
    weights = prob.scheme()  # differentiable in alpha
    times = prob.t.detach()
    y0 = prob.y0
    f0 = prob.call(times[0], y0)
    F = torch.cat([f0.unsqueeze(0), prob.call_batch(times[1:], Y[1:], opts.time_batching)])
    phi = (y0 + prob.rows(weights.start) * f0 + conv_time(prob.rows(weights.kernel), F))[1:]
    if not phi.requires_grad:
        return Y

    def multipliers(grad_rows: Tensor) -> Tensor:
        u, _ = adjoint_windows(prob, opts, scheme, Y, torch.cat([torch.zeros_like(grad_rows[:1]), grad_rows]))
        return u[1:]

    return torch.cat([y0.unsqueeze(0), _ImplicitRows.apply(phi, Y[1:], multipliers)])


def batched_calls_agree(prob: Problem, mode: str) -> bool:
    """Whether func evaluated on two time points at once (``Problem.call_batch``) equals two single
    calls: a func that indexes the state as if it had no batch dims, draws random numbers or keeps
    state between calls fails this and is solved sequentially by the automatic choice."""
    t2 = prob.t[:2].detach()
    y0 = prob.y0.detach()
    ys = torch.stack([y0, 0.5 * y0 + 0.25])
    try:
        with torch.no_grad():
            both = prob.call_batch(t2, ys, mode)
            one = torch.stack([prob.call(t2[0], ys[0]), prob.call(t2[1], ys[1])])
    except Exception:  # noqa: BLE001 - any failure of the batched call means: do not batch
        return False
    tol = 1e-4 if prob.dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-10
    return bool(torch.allclose(both, one, rtol=tol, atol=tol * (1.0 + float(one.abs().max()))))


def func_work(prob: Problem) -> int:
    """Weights of func (the numbers in its parameters of two or more dims; 0 unless func is an
    nn.Module) times the batch rows of the state: proportional to an MLP's flops per call."""
    func = prob.func
    if not isinstance(func, torch.nn.Module):
        return 0
    return prob.B * sum(p.numel() for p in func.parameters() if p.ndim >= 2)


def choose_parallel(prob: Problem, opts, fixed_point: bool) -> bool:
    """``parallel=None``: the parallel solve for an implicit method with the fixed-point corrector on
    at least AUTO_MIN_POINTS time points, a state of at most AUTO_MAX_STATE numbers and a func whose
    work per call (``func_work``) is at most AUTO_MAX_WORK, when func batches over time
    (``batched_calls_agree``); else the sequential one."""
    if opts.parallel is not None:
        return opts.parallel
    return (fixed_point and opts.implicit == "fixed_point" and prob.N >= AUTO_MIN_POINTS
            and prob.B * prob.D <= AUTO_MAX_STATE and func_work(prob) <= AUTO_MAX_WORK
            and batched_calls_agree(prob, opts.time_batching))

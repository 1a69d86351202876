"""Discrete adjoint of the fractional schemes (``gradient="adjoint"``): the exact gradient of the
discrete solution, with memory O(N d) for the trajectory and none for network activations.

Implicit schemes ("trapezoid", "l1"). The solution solves, for n = 1..N-1,

    y_n = y_0 + sigma_n f_0 + sum_{j<=n} w_{n-j} f_j,   f_j = f(t_j, y_j; theta)

(products taken per component: one order per component makes w, sigma diagonal). For a loss with
gradients g_n = dL/dy_n at every time point, the Lagrange multipliers lambda_n (n >= 1) solve the
backward Volterra recursion with the transposed weights

    lambda_n = g_n + J_n^T mu_n,   mu_n = sum_{m>=n} w_{m-n} lambda_m = Q_n + w_0 lambda_n,

J_n = df/dy(t_n, y_n), Q_n = sum_{m>n} w_{m-n} lambda_m. At step n the unknown mu_n satisfies the
linear corrector mu = Q_n + w_0 (g_n + J_n^T mu), solved like the forward corrector (fixed point on
vector-Jacobian products, or Newton with a dense Jacobian). Q_n is the history sum of the reversed
sequence of lambdas, so it comes from the same blocked-FFT ``OnlineHistory``. Then

    dL/dtheta = sum_{n>=1} (df_n/dtheta)^T mu_n + (df_0/dtheta)^T mu_0,
    mu_0 = sum_{m>=1} (w_m + sigma_m) lambda_m,
    dL/dy_0 = g_0 + sum_{m>=1} lambda_m + J_0^T mu_0,
    dL/dw_k = sum_m lambda_m f_{m-k},   dL/dsigma_m = lambda_m f_0,

the weight gradients being one FFT correlation, pulled back to alpha through the differentiable
weight construction (``_implicit_grad.alpha_grad``). PECE (explicit) is differentiated the same way step by step:
its backward sweep needs, besides the trajectory, the corrector inputs z^0 = y^P_n, ..., z^{c-1}.

Each backward step re-evaluates func at one time point and releases its graph before the next, so
peak memory does not grow with N beyond the stored O(N d) sequences.
"""
from __future__ import annotations

import torch
from torch import Tensor

from fraczoo.fode._errors import SolverError
from fraczoo.fode._history import OnlineHistory
from fraczoo.fode._implicit_grad import correlate, reduce_to_orders, solve_with_sweep
from fraczoo.fode._parallel import parallel_forward
from fraczoo.fode._problem import Problem, dense_jacobian
from fraczoo.fode._schemes import Scheme
from fraczoo.fode._solvers import solve_forward


class _StepVJP:
    """func at one time point with its graph, for repeated vector-Jacobian products."""

    def __init__(self, prob: Problem, n: int, y: Tensor, params: tuple[Tensor, ...]):
        self.prob, self.n, self.y = prob, n, y
        self.params = params
        with torch.enable_grad():
            self.yv = y.detach().requires_grad_(True)
            self.out = prob.call(prob.t[n].detach(), self.yv)
        self.value = self.out.detach()

    def __call__(self, v: Tensor, *, with_params: bool = False, retain: bool = True):
        """J^T v (and the parameter vjps if ``with_params``)."""
        inputs = (self.yv,) + (self.params if with_params else ())
        if not self.out.requires_grad:
            grads = (None,) * len(inputs)
        else:
            grads = torch.autograd.grad(self.out, inputs, v, retain_graph=retain, allow_unused=True)
        grads = tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs))
        return grads if with_params else grads[0]


def _solve_adjoint_corrector(step: _StepVJP, rhs: Tensor, w0: Tensor, opts) -> tuple[Tensor, int]:
    """mu = rhs + w0 J^T mu, by fixed point (contraction as in the forward corrector) or Newton."""
    if opts.implicit == "newton":
        prob = step.prob
        M = rhs.numel()
        jac = dense_jacobian(prob, prob.t[step.n].detach(), step.y)
        w0_rows = w0.expand(prob.state_shape).reshape(M, 1)
        A = torch.eye(M, dtype=rhs.dtype, device=rhs.device) - w0_rows * jac.T
        return torch.linalg.solve(A, rhs.reshape(M, 1)).reshape(rhs.shape), 1
    mu = rhs
    bound = opts.tol * (1.0 + float(rhs.abs().max()))
    err = float("nan")
    for it in range(1, opts.max_iter + 1):
        new = torch.addcmul(rhs, w0, step(mu))
        err = float((new - mu).abs().max())
        mu = new
        if err <= bound:
            return mu, it
    raise SolverError(f"the adjoint corrector did not converge at step {step.n} within "
                       f"max_iter={opts.max_iter} iterations (last update {err:.3g}); use a smaller "
                       "step, a larger max_iter, or implicit='newton'")


def _solve(prob: Problem, opts, y0: Tensor, scheme: Scheme) -> tuple[Tensor, Tensor | None]:
    """The forward solve without a graph (sequential or parallel in time); PECE also records its
    corrector inputs for the sweep."""
    if opts.parallel:
        return parallel_forward(prob, opts, y0, scheme)[0], None
    record = None
    if scheme.predictor is not None:
        record = y0.new_empty((opts.corrector_steps, prob.N - 1) + prob.state_shape)
    return solve_forward(prob, opts, y0, scheme, record=record), record


@torch.no_grad()
def _sweep(prob: Problem, opts, scheme: Scheme, ys: Tensor, grad_ys: Tensor, params: tuple[Tensor, ...],
           corrector_inputs: Tensor | None, need_weights: bool):
    """The backward sweep of the scheme: predictor-corrector (PECE) or implicit."""
    if scheme.predictor is not None:
        return _backward_pece(prob, opts, scheme, ys, grad_ys, corrector_inputs, params, need_weights)
    return _backward_implicit(prob, opts, scheme, ys, grad_ys, params, need_weights)


def _backward_implicit(prob, opts, scheme, ys, g, params, need_weights):
    N = prob.N
    kernel = prob.rows(scheme.kernel)
    w0 = kernel[0]
    history = OnlineHistory(kernel.unsqueeze(1), N, track_grad=False)  # reversed time: Q_n
    lam = torch.zeros_like(ys)
    fs = torch.empty_like(ys)
    g_params = [torch.zeros_like(p) for p in params]
    Q = torch.zeros_like(ys[0])
    iters = 0
    for n in range(N - 1, 0, -1):
        if n < N - 1:
            (Q,) = history.push_split(lam[n + 1])
        step = _StepVJP(prob, n, ys[n], params)
        fs[n] = step.value
        mu, it = _solve_adjoint_corrector(step, torch.addcmul(Q, w0, g[n]), w0, opts)
        iters += it
        jt_mu, *gp = step(mu, with_params=True, retain=False)
        lam[n] = g[n] + jt_mu
        for acc, x in zip(g_params, gp):
            acc += x
    start = prob.rows(scheme.start)
    mu0 = (history.push(lam[1])[0] if N > 1 else 0) + (start * lam).sum(0)
    del history  # its two (N, *S) buffers, before the correlations below allocate theirs
    step = _StepVJP(prob, 0, ys[0], params)
    fs[0] = step.value
    jt_mu0, *gp = step(mu0, with_params=True, retain=False)
    for acc, x in zip(g_params, gp):
        acc += x
    g_y0 = g[0] + lam[1:].sum(0) + jt_mu0
    opts.stats["adjoint_iterations"] = iters
    weight_grads = None
    if need_weights:
        weight_grads = {"kernel": correlate(prob, lam, fs), "start": reduce_to_orders(prob, lam * fs[0])}
    return g_y0.reshape(prob.y0.shape), g_params, weight_grads


def _backward_pece(prob, opts, scheme, ys, g, Z, params, need_weights):
    """Backward sweep of P(EC)^c E: z^0 = P_n, z^{i+1} = R_n + w_0 f(t_n, z^i), y_n = z^c."""
    N, c = prob.N, opts.corrector_steps
    kernels = torch.stack([prob.rows(scheme.kernel), prob.rows(scheme.predictor)], dim=1)
    w0 = prob.rows(scheme.kernel)[0]
    history = OnlineHistory(kernels, N, track_grad=False)  # adjoint of f_n: w.rho + p.pi, reversed
    rho = torch.zeros_like(ys)  # adjoint of the corrector history R_n
    pi = torch.zeros_like(ys)   # adjoint of the predictor P_n
    fs = torch.empty_like(ys)
    g_params = [torch.zeros_like(p) for p in params]
    g_w0 = torch.zeros_like(scheme.kernel[0])
    for n in range(N - 1, 0, -1):
        phi = history.push(torch.stack([rho[n + 1], pi[n + 1]])).sum(0) if n < N - 1 else None
        step = _StepVJP(prob, n, ys[n], params)
        fs[n] = step.value
        if phi is None:
            ybar = g[n].clone()
        else:
            jt_phi, *gp = step(phi, with_params=True, retain=False)
            ybar = g[n] + jt_phi
            for acc, x in zip(g_params, gp):
                acc += x
        zbar = ybar
        for i in reversed(range(c)):
            rho[n] += zbar
            inner = _StepVJP(prob, n, Z[i][n - 1], params)
            g_w0 += reduce_to_orders(prob, (zbar * inner.value).unsqueeze(0))[0]
            zbar, *gp = inner(w0 * zbar, with_params=True, retain=False)
            for acc, x in zip(g_params, gp):
                acc += x
        pi[n] = zbar
    start = prob.rows(scheme.start)
    phi0 = (history.push(torch.stack([rho[1], pi[1]])).sum(0) if N > 1 else 0) + (start * rho).sum(0)
    del history  # its (N, 2, *S) buffers, before the correlations below allocate theirs
    step = _StepVJP(prob, 0, ys[0], params)
    fs[0] = step.value
    jt_phi0, *gp = step(phi0, with_params=True, retain=False)
    for acc, x in zip(g_params, gp):
        acc += x
    g_y0 = g[0] + rho[1:].sum(0) + pi[1:].sum(0) + jt_phi0
    weight_grads = None
    if need_weights:
        g_kernel = correlate(prob, rho, fs)
        g_kernel[0] = g_w0  # w_0 multiplies f(t_n, z^i), not f_n
        g_pred = correlate(prob, pi, fs)
        g_pred[0] = 0  # p_0 is unused
        weight_grads = {"kernel": g_kernel, "start": reduce_to_orders(prob, rho * fs[0]), "predictor": g_pred}
    return g_y0.reshape(prob.y0.shape), g_params, weight_grads


def solve_adjoint(prob: Problem, opts) -> Tensor:
    """Trajectory (N, *S) whose backward is the discrete adjoint sweep."""
    return solve_with_sweep(_solve, _sweep, prob, opts)

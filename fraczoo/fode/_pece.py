"""Fractional Adams-Bashforth-Moulton predictor-corrector (PECE) method.

K. Diethelm, N. J. Ford, A. D. Freed, Nonlinear Dyn. 29 (2002) 3-22, eqs. (3.2)-(3.5):

    predictor  y^P_n = y_0 + h^a/Gamma(a+1) sum_{j<n} b_{n-j} f_j,          b_d = d^a - (d-1)^a
    corrector  y_n   = y_0 + h^a/Gamma(a+2) [a_{0,n} f_0 + sum_{1<=j<n} a_{j,n} f_j + f(t_n, y^P_n)]

with f_j = f(t_j, y_j) evaluated at the corrected values. ``corrector_steps`` = c > 1 repeats the
corrector c times (P(EC)^c E). Both history sums come from one blocked-FFT ``OnlineHistory`` with
two kernels. Error O(h^min(2, 1+a)) when D^a y is C^2 (Diethelm, Ford & Freed, Numer. Algorithms 36
(2004) 31-52, Thm. 3.2); at a = 1 the corrector is the trapezoid rule.
"""
from __future__ import annotations

import torch
from torch import Tensor

from fraczoo.fode._history import Trajectory
from fraczoo.fode._history import history as make_history
from fraczoo.fode._problem import Problem
from fraczoo.fode._schemes import Scheme


def solve_pece(prob: Problem, scheme: Scheme, y0: Tensor, *, corrector_steps: int = 1,
               stats: dict | None = None, record: Tensor | None = None) -> Tensor:
    """March PECE; returns (N, *S). ``record`` (no-grad solves): a (c, N - 1, *S) buffer that receives
    the corrector inputs z^0 = y^P_n, z^1, ..., z^{c-1} of steps n = 1..N-1 (the discrete adjoint needs
    them)."""
    N = prob.N
    w0 = scheme.kernel[0]
    kernels = torch.stack([prob.rows(scheme.kernel), prob.rows(scheme.predictor)], dim=1)  # (N, 2, *wshape)
    f0 = prob.call(prob.t[0], y0)
    # constant parts: corrector y0 + sigma_n f0, predictor y0
    base = torch.stack(torch.broadcast_tensors(y0 + prob.rows(scheme.start) * f0, y0.expand(N, *y0.shape)))
    history = make_history(kernels, N, base=base)
    ys = Trajectory(y0, N)
    f_prev = f0
    for n in range(1, N):
        t_n = prob.t[n]
        R, z = history.push_split(f_prev)  # corrector history R_n, predictor y^P_n
        for i in range(corrector_steps):
            if record is not None:
                record[i, n - 1] = z
            z = torch.addcmul(R, w0, prob.call(t_n, z))
        f_prev = prob.call(t_n, z)
        ys[n] = z
    if stats is not None:
        stats.update(steps=N - 1, func_evals=1 + (N - 1) * (corrector_steps + 1))
    return ys.stack()

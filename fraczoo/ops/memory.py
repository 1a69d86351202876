"""Stochastic memory: unbiased sampled estimates of the L1 Caputo history sum, O(k) per grid point.

``caputo(y, alpha, dt, method="l1")`` at grid point n is (L1 scheme, Lin & Xu, J. Comput. Phys. 225, 2007)

    D_n = dt^(-alpha) / Gamma(2 - alpha) * S_n,    S_n = sum_{m=0}^{n-1} b_m d_{n-1-m},

with b_m = (m+1)^beta - m^beta, beta = 1 - alpha (``l1_weights``), lag m and d_j = y_{j+1} - y_j. The exact
history costs O(n) per point; :func:`stochastic_caputo` estimates S_n from k = ``num_samples`` lags.

Every sampler is a stratified importance sampler (Owen, *Monte Carlo theory, methods and examples*,
2013, ch. 8-9). The lags [0, n) are cut into strata [a, c); a stratum receives r draws from

    p_m = b_m / (c^beta - a^beta)  on a <= m < c,

which is normalised because the kernel's partial sums are closed form, sum_{m<M} b_m = M^beta, and is
sampled exactly by the inverse CDF m = floor((a^beta + u (c^beta - a^beta))^(1/beta)), u ~ U(0, 1).
The stratum sum T = sum_{a<=m<c} b_m v_m is estimated by the Horvitz-Thompson mean
T_hat = (1/r) sum_i b_{m_i} v_{m_i} / p_{m_i}, unbiased, with unbiased variance s^2 / r (r >= 2).

* ``importance``: one stratum [0, n), k draws, p proportional to the kernel.
* ``stratified``: H lag strata of about equal kernel mass (edges at the kernel CDF's H-quantiles,
  rounded down to lags): dense in the recent past where b_m ~ m^-alpha is large, single lags (summed
  exactly) where one lag outweighs 1/H, widths growing like a power law into the past; k/H draws
  each. That is proportional allocation, so the variance is at most the importance sampler's (up to
  the rounding of the edges) for every history, and much lower on smooth ones.
* ``control_variate``: the last ``window`` lags exactly (single-lag strata) plus k - window draws on the
  tail [window, n) stratified as above, applied to the residual v = d - g of a piecewise-linear
  baseline g that interpolates the differences at the strata edges. The baseline's history sum is
  added exactly (O(H) per point from prefix sums of b_m and m b_m), so the estimate stays unbiased and
  its variance only sees the residual inside each stratum: zero for quadratic y (linear d), and
  for smooth y smaller than the plain strata's by about (stratum width * |d''| / |d'|)^2.

* ``by_parts``: summation by parts, S_n = b_0 y_n - b_{n-1} y_0 - sum_{m>=1} (b_{m-1} - b_m) y_{n-m}: exact first
  terms and ``window`` recent lags, k - window draws from p_m ~ b_{m-1} - b_m on the tail. Its weights are
  summable, so its variance is bounded in n; on rough or stationary histories (noise-like increments,
  where the increment samplers' variance grows like n^(2(1-alpha)) / k) it is far better; on smooth
  trends ``control_variate`` is. See ``_by_parts_history``.

Points with n <= k are computed exactly (they need at most k terms). The proposal uses alpha rounded to
a multiple of 1/64 and detached: the draws then do not move when alpha changes slightly, the estimate
is a smooth function of y and alpha for a fixed generator, and its autograd gradient is exactly the
importance-sampling estimate of the gradient of S_n (the same draws, with b_m replaced by db_m/dalpha).
Lags are drawn independently for every point and every batch element.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from fraczoo._checks import (as_alpha_tensor, check_alpha, check_bool, check_choice, check_dim, check_int,
                             check_positive, check_tensor, order_along)
from fraczoo.ops.history import caputo, l1_weights

SAMPLERS = ("importance", "stratified", "control_variate", "by_parts")

# Resolution of the proposal's order: coarse enough that a gradient or finite-difference step in alpha
# never moves the draws, fine enough that b(alpha) / b(proposal) stays within a few percent of constant.
_PROPOSAL_GRID = 64


def stochastic_caputo(y: Tensor, alpha, dt, num_samples: int, *, dim: int = -1, sampler: str = "importance",
                      generator: torch.Generator | None = None, return_variance: bool = False,
                      num_strata: int | None = None, window: int | None = None, share_draws: bool = False):
    """Unbiased estimate of ``caputo(y, alpha, dt, dim=dim, method="l1")`` at every grid point.

    y: real float tensor, time along ``dim`` (y[..., 0] at t0, spacing ``dt``); alpha in (0, 1): a float or
    a tensor, 0-d or broadcastable against y with size 1 along ``dim`` (as in caputo). Each point n > k uses
    k = ``num_samples`` sampled lags (cost O(k)); points n <= k are exact.
    ``sampler``: "importance" | "stratified" | "control_variate" | "by_parts" (see the module docstring).
    ``num_strata`` (stratified, default k // 2, at least 1): number of log-spaced lag strata.
    ``window`` (control_variate and by_parts, default k // 4): recent lags summed exactly, 0 <= window < k.
    ``generator``: a ``torch.Generator`` on y's device; the same seed gives the same estimate.
    ``share_draws=True``: one set of lags per order (alpha element) instead of per series, shared by all
    the batch elements with that order: each estimate stays unbiased but the errors of different
    series are correlated; the sampling work then no longer grows with the batch (used in training).
    ``return_variance=True`` also returns an unbiased per-point estimate of the estimator's variance
    (0 where the point is exact); it needs at least 2 draws per sampled stratum.
    Returns the estimate (y's shape and dtype), or (estimate, variance).
    """
    check_alpha(alpha, 0.0, 1.0, lo_open=True, hi_open=True)
    k = check_int(num_samples, "num_samples", 1)
    check_choice(sampler, "sampler", SAMPLERS)
    check_bool(return_variance, "return_variance")
    check_bool(share_draws, "share_draws")
    plan = _plan(sampler, k, num_strata, window, return_variance)
    x, alpha64, dt, dim = _prepare(y, alpha, dt, dim)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator is not None and generator.device.type != y.device.type:
        raise ValueError(f"generator is on device {generator.device}, but y is on {y.device}; "
                         "create the generator on y's device")

    # Points n <= k need at most k terms: take them from the exact sum.
    head = caputo(x[..., :k + 1], alpha64, dt, dim=-1, method="l1")
    if x.shape[-1] <= k + 1:
        return _finish(head, torch.zeros_like(head), dim, return_variance)

    if sampler == "by_parts":
        sums, variance = _by_parts_history(x, alpha64[..., 0], k, plan.singles, generator, return_variance,
                                           share_draws)
    else:
        sums, variance = _sampled_history(x, alpha64[..., 0], k, sampler, plan, generator, return_variance,
                                          share_draws)
    scale = torch.exp(-alpha64 * math.log(dt) - torch.lgamma(2 - alpha64)).to(x.dtype)
    estimate = torch.cat([head, scale * sums], dim=-1)
    if variance is not None:
        variance = torch.cat([torch.zeros_like(head), scale.square() * variance], dim=-1)
    return _finish(estimate, variance, dim, return_variance)


def _prepare(y: Tensor, alpha, dt, dim: int):
    """The checks and alpha broadcasting rule of ``caputo``: returns x = y with time last (..., N),
    alpha as float64 (..., 1) broadcasting against x, dt as float, dim normalised."""
    check_tensor(y, "y")
    dt = check_positive(dt, "dt")
    dim = check_dim(y, dim, x_name="y")
    if y.shape[dim] < 2:
        raise ValueError(f"y must have at least 2 grid points along dim={dim}, got {y.shape[dim]}")
    a = as_alpha_tensor(alpha, torch.empty((), dtype=torch.float64, device=y.device))
    a = order_along(a, y, dim)
    return y.movedim(dim, -1), a.movedim(dim, -1), dt, dim


def _finish(estimate: Tensor, variance: Tensor | None, dim: int, return_variance: bool):
    estimate = estimate.movedim(-1, dim)
    if return_variance:
        return estimate, variance.movedim(-1, dim)
    return estimate


class _Plan:
    """Static layout of the k draws of every point: the stratum of each slot and the draws per stratum.
    Strata 0 .. singles-1 are the single recent lags 0 .. singles-1 (exact, one draw each); the others
    are the tail strata, lag ranges of equal kernel mass over [singles, n) laid out per point by
    ``_tail_edges``."""

    def __init__(self, singles: int, tail_draws: list[int]):
        self.draws = [1] * singles + tail_draws
        self.singles = singles
        self.tail_strata = len(tail_draws)
        self.slot_stratum = [h for h in range(len(self.draws)) for _ in range(self.draws[h])]


def _plan(sampler: str, k: int, num_strata, window, return_variance: bool) -> _Plan:
    if num_strata is not None and sampler in ("importance", "by_parts"):
        raise ValueError("num_strata only applies to sampler='stratified' or 'control_variate'")
    if window is not None and sampler not in ("control_variate", "by_parts"):
        raise ValueError(f"window only applies to sampler='control_variate' or 'by_parts', not {sampler!r}")
    singles = 0
    if sampler in ("control_variate", "by_parts"):
        singles = k // 4 if window is None else check_int(window, "window", 0)
        if singles >= k:
            raise ValueError(f"window must be < num_samples ({k}) so the tail gets a draw, got {singles}")
    tail = k - singles
    tail_name = "num_samples - window" if singles else "num_samples"
    if sampler in ("importance", "by_parts"):
        strata = 1
    elif num_strata is None:
        strata = max(1, tail // 2)
    else:
        strata = check_int(num_strata, "num_strata", 1)
        if strata > tail:
            raise ValueError(f"num_strata must be <= {tail_name} ({tail}), got {strata}")
    if return_variance and tail < 2 * strata:
        need = (f"{tail_name} must be >= 2" if tail < 2 else f"num_strata must be <= {tail_name} // 2 "
                f"({tail // 2})")
        raise ValueError(f"return_variance=True needs at least 2 draws per sampled stratum: {need} "
                         f"(got num_samples={k}" + (f", window={singles}" if singles else "")
                         + (f", num_strata={strata}" if num_strata is not None else "") + ")")
    return _Plan(singles, [tail // strata + (h < tail % strata) for h in range(strata)])


def _tail_edges(start: int, n: Tensor, strata: int, beta_q: Tensor) -> Tensor:
    """Lag strata of [start, n) for every point: (*A, R, H+1) int64 edges e_0 = start < ... < e_H = n.

    e_h = floor(F^-1(h / H)) for the proposal's CDF F(M) = (M^beta - start^beta) / (n^beta - start^beta),
    pushed apart where flooring would leave an empty stratum: every stratum holds about 1/H of the
    kernel's mass (so k/H draws each is proportional allocation, never worse than plain importance
    sampling up to the rounding), the strata are dense in the recent past where the kernel is large,
    and where one lag outweighs 1/H it becomes a single-lag stratum, summed exactly. Needs n - start >= H.
    """
    f64 = torch.float64
    h = torch.arange(strata + 1, device=n.device)
    start_pow = torch.tensor(float(start), device=n.device, dtype=f64) ** beta_q          # (*A, 1, 1)
    n_pow = n[:, None].to(f64) ** beta_q                                                # (*A, R, 1)
    edges = torch.floor((start_pow + (h / strata) * (n_pow - start_pow)) ** (1 / beta_q)).to(torch.int64)
    edges = torch.maximum(edges, torch.full_like(edges, start))
    edges = torch.cummax(edges - h, dim=-1).values + h                  # strictly increasing
    edges = torch.minimum(edges, n[:, None] - strata + h)                 # room for the later strata
    edges[..., -1] = n
    return edges


def _sampled_history(x: Tensor, alpha64: Tensor, k: int, sampler: str, plan: _Plan,
                     generator, return_variance: bool, share_draws: bool) -> tuple[Tensor, Tensor | None]:
    """Estimates of S_n (and their variances) for the points n = k+1 .. N-1 along the last dim of x.

    ``alpha64``: float64 orders broadcasting against x's batch shape x.shape[:-1].
    """
    device, n_grid = x.device, x.shape[-1]
    f64 = torch.float64
    d = torch.diff(x, dim=-1)                                           # (*B, N-1)
    batch = x.shape[:-1]
    n = torch.arange(k + 1, n_grid, device=device)                     # sampled points, (R,)

    # Kernel (with grad in alpha) and proposal kernel (rounded, detached), float64 for cancellation
    # in (m+1)^beta - m^beta at large m.
    alpha_q = (alpha64.detach() * _PROPOSAL_GRID).round().clamp(1, _PROPOSAL_GRID - 1) / _PROPOSAL_GRID
    kernel = l1_weights(alpha64, n_grid - 1, dtype=f64, device=device)
    kernel_q = l1_weights(alpha_q, n_grid - 1, dtype=f64, device=device)
    beta_q = (1 - alpha_q)[..., None, None]

    # Lag range [lo, hi) of every slot: its own lag in the window, its log-spaced stratum in the tail.
    slot_stratum = torch.tensor(plan.slot_stratum, device=device)
    single = slot_stratum < plan.singles
    edges = _tail_edges(plan.singles, n, plan.tail_strata, beta_q)      # (*A, R, H+1)
    tail_index = (slot_stratum - plan.singles).clamp(min=0).expand(*edges.shape[:-1], -1).contiguous()
    lo = torch.where(single, slot_stratum, torch.gather(edges, -1, tail_index))
    hi = torch.where(single, slot_stratum + 1, torch.gather(edges, -1, tail_index + 1))   # (*A, R, k)
    lo_pow, hi_pow = lo.to(f64) ** beta_q, hi.to(f64) ** beta_q       # (*A, R, k)
    draw_shape = alpha64.shape if share_draws else batch
    u = torch.rand(*draw_shape, n.shape[0], k, generator=generator, device=device, dtype=f64)
    lag = torch.floor((lo_pow + u * (hi_pow - lo_pow)) ** (1 / beta_q)).to(torch.int64)
    lag = torch.maximum(torch.minimum(lag, hi - 1), lo)                 # guard rounding at the edges

    # Horvitz-Thompson weight b_m / (r p_m), p_m = b^q_m / (c^beta_q - a^beta_q) on the stratum [a, c).
    draws = torch.tensor(plan.draws, device=device, dtype=f64)[slot_stratum]
    draw_batch = lag.shape[:-2]                                         # batch, or alpha's shape if shared
    weight = (_take(kernel, lag, draw_batch) * (hi_pow - lo_pow)
              / (draws * _take(kernel_q, lag, draw_batch))).to(x.dtype)
    values = _take(d, n[:, None] - 1 - lag, batch)                      # d_j at time j = n-1-m
    baseline_sum = 0
    if sampler == "control_variate":
        baseline, baseline_sum = _interpolating_baseline(d, kernel, n, edges, plan, lag, tail_index, batch)
        values = values - baseline.to(x.dtype)
        baseline_sum = baseline_sum.to(x.dtype)
    terms = weight * values
    sums = terms.sum(-1) + baseline_sum
    if not return_variance:
        return sums, None
    return sums, _stratified_variance(terms, slot_stratum, plan.draws)


def _by_parts_history(x: Tensor, alpha64: Tensor, k: int, window: int, generator, return_variance: bool,
                      share_draws: bool) -> tuple[Tensor, Tensor | None]:
    """The ``by_parts`` sampler: S_n summed by parts into the values x instead of the increments,

        S_n = b_0 x_n - b_{n-1} x_0 - sum_{m=1}^{n-1} c_m x_{n-m},   c_m = b_{m-1} - b_m > 0,

    whose weights are summable (sum_{m=a+1}^{M} c_m = b_a - b_M, so the proposal p_m ~ c_m has a closed-form
    CDF, inverted by a binary search) and decay like m^(-1-alpha). The first two terms and the lags
    1..window are exact; k - window draws estimate the tail. The variance is at most
    (b_window - b_{n-1})^2 max|x|^2 / (k - window), bounded in n: for rough or stationary histories it is
    far below the increment samplers', whose draws carry weights ~ n^(1-alpha) (the increments cancel in
    the exact sum but not in a sample); for smooth trends the increment-based control variate is better.
    """
    device, n_grid, f64 = x.device, x.shape[-1], torch.float64
    batch = x.shape[:-1]
    n = torch.arange(k + 1, n_grid, device=device)                     # sampled points, (R,)
    alpha_q = (alpha64.detach() * _PROPOSAL_GRID).round().clamp(1, _PROPOSAL_GRID - 1) / _PROPOSAL_GRID
    kernel = l1_weights(alpha64, n_grid - 1, dtype=f64, device=device)   # b_0 .. b_{N-2}
    kernel_q = l1_weights(alpha_q, n_grid - 1, dtype=f64, device=device)
    draws = k - window

    # exact part: b_0 x_n - b_{n-1} x_0 - sum_{m=1}^{window} c_m x_{n-m}
    x64 = x.to(f64)
    exact = kernel[..., :1] * x64[..., k + 1:] - kernel[..., n - 1] * x64[..., :1]
    if window:
        lags = torch.arange(1, window + 1, device=device)
        c_window = (kernel[..., :window] - kernel[..., 1:window + 1])[..., None, :]      # (*A, 1, w)
        exact = exact - (c_window * _take(x64, n[:, None] - lags, batch)).sum(-1)

    # tail lags window+1 .. n-1 drawn with p_m ~ c^q_m: b^q_M < b^q_window - u (b^q_window - b^q_{n-1})
    draw_shape = alpha64.shape if share_draws else batch
    u = torch.rand(*draw_shape, n.shape[0], draws, generator=generator, device=device, dtype=f64)
    top, bottom = kernel_q[..., window, None, None], kernel_q[..., n - 1, None]          # (*A,1,1), (*A,R,1)
    mass_q = top - bottom
    target = (top - u * mass_q)
    lead = target.shape[:-2]
    sorted_desc = (-kernel_q).expand(*lead, n_grid - 1).contiguous()
    lag = torch.searchsorted(sorted_desc, (-target).reshape(*lead, -1).contiguous(), right=True)
    lag = lag.reshape(target.shape)
    lag = torch.minimum(torch.maximum(lag, torch.full_like(lag, window + 1)), n[:, None] - 1)
    draw_batch = lag.shape[:-2]
    c = _take(kernel, lag - 1, draw_batch) - _take(kernel, lag, draw_batch)
    c_q = _take(kernel_q, lag - 1, draw_batch) - _take(kernel_q, lag, draw_batch)
    weight = (c * mass_q / (draws * c_q)).to(x.dtype)
    terms = -weight * _take(x, n[:, None] - lag, batch)
    sums = terms.sum(-1) + exact.to(x.dtype)
    if not return_variance:
        return sums, None
    return sums, _stratified_variance(terms, torch.zeros(draws, dtype=torch.int64, device=device), [draws])


def _take(source: Tensor, index: Tensor, batch) -> Tensor:
    """source[..., index] for index of shape (..., R, k) broadcasting against ``batch``, source (..., L).

    The index is flattened before it is broadcast, so shared draws are never copied per batch element.
    """
    flat = index.reshape(*index.shape[:-2], -1)
    flat = flat.reshape((1,) * (len(batch) - flat.ndim + 1) + tuple(flat.shape)).expand(*batch, -1)
    gathered = torch.gather(source.expand(*batch, source.shape[-1]), -1, flat)
    return gathered.reshape(*batch, *index.shape[-2:])


def _interpolating_baseline(d: Tensor, kernel: Tensor, n: Tensor, edges: Tensor, plan: _Plan,
                            lag: Tensor, segment: Tensor, batch) -> tuple[Tensor, Tensor]:
    """Piecewise-linear baseline g through the tail's differences at the strata edges, evaluated at the
    drawn lags, and its exact history sum sum_{window <= m < n} b_m g_m.

    The nodes nu_0 = window < ... < nu_H = n - 1 are the tail strata's edges (``edges``, the last one
    moved from n to n - 1), g_m = d_{n-1-m} at the nodes and linear in m in between, so the
    residual d - g inside a stratum is O(width^2 |d''|) for smooth y, and 0 when d is linear (y quadratic).
    On a segment [nu_h, nu_{h+1}): sum b_m g_m = D_h B0 + slope_h B1 with B0 = sum b_m (= c^beta - a^beta,
    taken from the kernel's prefix sum so that alpha gets a clean gradient at a = 0) and
    B1 = sum b_m (m - nu_h) from the prefix sum of m b_m: O(H) per point after one O(N) prefix pass.
    g depends on the grid values at fixed lags only, never on the draws, so subtracting it from the
    sampled terms and adding its sum back keeps the estimate unbiased (control variate with known
    integral, Owen 2013, sec. 8.9).
    ``lag``: the draws (..., R, k); ``segment``: their tail stratum (0 on the window's slots).
    Returns (g at ``lag`` (..., R, k), zero on the window's exact slots; history sums (..., R)).
    """
    f64, window, device = torch.float64, plan.singles, d.device
    nodes = edges.clone()
    nodes[..., -1] = n - 1                                              # the oldest lag itself
    nodes = nodes.expand(*batch, *nodes.shape[-2:]).contiguous()
    values = _take(d.to(f64), n[:, None] - 1 - nodes, batch)                        # D_h, (*B, R, H+1)
    lags = torch.arange(kernel.shape[-1], device=device, dtype=f64)
    prefix0 = torch.nn.functional.pad(torch.cumsum(kernel, -1), (1, 0))
    prefix1 = torch.nn.functional.pad(torch.cumsum(kernel * lags, -1), (1, 0))
    p0, p1 = _take(prefix0, nodes, batch), _take(prefix1, nodes, batch)
    width = (nodes[..., 1:] - nodes[..., :-1]).to(f64)
    slope = (values[..., 1:] - values[..., :-1]) / width.clamp(min=1)
    mass = p0[..., 1:] - p0[..., :-1]
    moment = p1[..., 1:] - p1[..., :-1] - nodes[..., :-1].to(f64) * mass
    last = _take(kernel, (n - 1)[:, None], batch)[..., 0]                           # b_{n-1}: the last node
    history = (values[..., :-1] * mass + slope * moment).sum(-1) + last * values[..., -1]

    # A draw from tail stratum h lies in [nu_h, nu_{h+1}] (the oldest lag n - 1 = nu_H ends segment H-1).
    segment = segment.expand(*batch, *segment.shape[-2:]).contiguous()
    start = torch.gather(nodes, -1, segment).to(f64)
    at_lag = torch.gather(values, -1, segment) + (lag - start) * torch.gather(slope, -1, segment)
    in_tail = torch.tensor([h >= window for h in plan.slot_stratum], device=device)
    return torch.where(in_tail, at_lag, torch.zeros_like(at_lag)), history


def _stratified_variance(terms: Tensor, slot_stratum: Tensor, rep: list[int]) -> Tensor:
    """Unbiased variance of sum_h T_hat_h: sum_h s_h^2 / r_h from the per-slot terms (weights * values).

    A slot's single-draw estimate of its stratum sum is r_h * term; single-draw strata are single lags
    (deterministic), so they contribute 0.
    """
    onehot = torch.nn.functional.one_hot(slot_stratum, len(rep)).to(terms.dtype)   # (k, H)
    draws = torch.tensor(rep, device=terms.device, dtype=terms.dtype)
    single = draws[slot_stratum] * terms
    mean = (single @ onehot) / draws
    dev = single - mean[..., slot_stratum]
    ss = dev.square() @ onehot
    per_stratum = torch.where(draws > 1, ss / (draws * (draws - 1)).clamp(min=1), torch.zeros_like(ss))
    return per_stratum.sum(-1)

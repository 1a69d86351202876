"""Argument checking and the calling convention shared by every solver.

Internally the state keeps the shape S of y0 (a 0-d y0 becomes (1,)); its last dim holds the D
components, so one order per component broadcasts as a (DA,) vector, DA in {1, D}. Trajectories
are time-first, (N, *S); weight rows are shaped (N, *wshape), wshape = (1, ..., 1, DA).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from fraczoo._checks import as_alpha_tensor, check_alpha, check_tensor
from fraczoo.fode._schemes import Scheme
from fraczoo.ops.history import work_dtype

TIME_BATCHING = ("broadcast", "vmap", "loop")
IMPLICIT_SOLVERS = ("fixed_point", "newton")

# t may deviate from a uniform grid by this much relative to h (plus a few ulps of max|t|, which
# is all a float32 linspace can promise).
_UNIFORM_RTOL = 1e-5


def check_time_grid(t, y0: Tensor) -> float:
    """Validate the time grid and return its step h."""
    if not isinstance(t, Tensor):
        raise TypeError(f"t must be a torch.Tensor, got {type(t).__name__}")
    if t.is_complex() or not t.is_floating_point():
        raise TypeError(f"t must be a real floating tensor, got {t.dtype}")
    if t.ndim != 1:
        raise ValueError(f"t must be 1-D (a time grid), got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"t must contain at least 2 time points, got {t.shape[0]}")
    if t.dtype != y0.dtype:
        raise TypeError(f"t must have the same dtype as y0 ({y0.dtype}), got {t.dtype}")
    if t.device != y0.device:
        raise ValueError(f"t must be on the same device as y0 ({y0.device}), got {t.device}")
    check_tensor(t, "t")
    tv = t.detach()
    steps = tv[1:] - tv[:-1]
    if not bool((steps > 0).all()):
        raise ValueError("t must be strictly increasing")
    n = t.shape[0] - 1
    h = float(tv[-1] - tv[0]) / n
    slack = _UNIFORM_RTOL * h + 16 * torch.finfo(t.dtype).eps * float(tv.abs().max())
    if float((steps - h).abs().max()) > slack:
        raise ValueError("t must be a uniform grid (equal steps up to a relative tolerance of "
                         f"{_UNIFORM_RTOL:g}); got steps between {float(steps.min()):g} and "
                         f"{float(steps.max()):g}")
    return h


def default_params(func) -> tuple[Tensor, ...]:
    if isinstance(func, nn.Module):
        return tuple(p for p in func.parameters() if p.requires_grad)
    return ()


class Problem:
    """A validated initial value problem D^alpha y = func(t, y), y(t[0]) = y0 on a uniform grid."""

    def __init__(self, func: Callable, y0: Tensor, t: Tensor, alpha,
                 build_scheme: Callable[[Tensor, float, int], Scheme]):
        if not callable(func):
            raise TypeError(f"func must be callable (func(t, y) -> tensor), got {type(func).__name__}")
        check_tensor(y0, "y0")
        if y0.numel() == 0:
            raise ValueError("y0 must not be empty")
        self.h = check_time_grid(t, y0)
        check_alpha(alpha, 0.0, 1.0, name="alpha", lo_open=True)
        self.func = func
        self.build_scheme = build_scheme  # (alpha (DA,), h, N) -> Scheme: the method's weights
        self.shape = tuple(y0.shape)  # the caller's
        self.scalar = y0.ndim == 0
        self.y0 = y0.reshape(1) if self.scalar else y0
        self.state_shape = tuple(self.y0.shape)
        self.D = self.state_shape[-1]
        self.B = y0.numel() // self.D
        self.t = t
        self.N = t.shape[0]
        self.dtype, self.device = y0.dtype, y0.device
        a = as_alpha_tensor(alpha, y0)
        if a.numel() == 1:
            a = a.reshape(1)
        elif a.ndim != 1 or y0.ndim == 0 or a.shape[0] != self.D:
            raise ValueError(f"alpha must be a scalar or have shape y0.shape[-1:] = ({self.D},) "
                             f"(one order per state component); got shape {tuple(a.shape)}")
        self.alpha = a  # (DA,), keeps the caller's graph
        self.wshape = (1,) * (len(self.state_shape) - 1) + (a.shape[0],)
        self._checked = False

    # -- weights -----------------------------------------------------------------------------------
    def scheme(self, alpha: Tensor | None = None) -> Scheme:
        """The method's weights for ``alpha`` ((DA,) tensor; default the problem's), working dtype."""
        a = self.alpha if alpha is None else alpha
        a = a.to(work_dtype(a.device))
        return self.build_scheme(a, self.h, self.N).to(self.dtype)

    def rows(self, weights: Tensor) -> Tensor:
        """(N, DA) weights -> (N, *wshape), broadcastable against trajectories (N, *S)."""
        return weights.reshape((weights.shape[0],) + self.wshape)

    # -- calling func ------------------------------------------------------------------------------
    def _check_output(self, out, like_shape) -> None:
        if not isinstance(out, Tensor):
            raise TypeError(f"func must return a torch.Tensor, got {type(out).__name__}")
        if tuple(out.shape) != tuple(like_shape):
            raise ValueError(f"func must return a tensor of the same shape as y, {tuple(like_shape)}; "
                             f"got {tuple(out.shape)}")
        if out.dtype != self.dtype:
            raise TypeError(f"func must return a tensor of dtype {self.dtype} (that of y0); got {out.dtype}")

    def call(self, t_n: Tensor, y: Tensor) -> Tensor:
        """func at one time: t_n a 0-d tensor, y of the state shape S; returns S."""
        if self.scalar:
            out = self.func(t_n, y.reshape(()))
            if not isinstance(out, Tensor) or out.shape != () or out.dtype != self.dtype:
                self._check_output(out, ())
            return out.reshape(1)
        out = self.func(t_n, y)
        # cheap test first, the full check (with its message) only on failure
        if not isinstance(out, Tensor) or out.shape != y.shape or out.dtype != self.dtype:
            self._check_output(out, y.shape)
        return out

    def call_batch(self, t_vec: Tensor, ys: Tensor, mode: str = "broadcast") -> Tensor:
        """func at L times at once: t_vec (L,), ys (L, *S); returns (L, *S).

        "broadcast": one call func(t, y) with t of shape (L, 1, ..., 1) (broadcastable against y)
        and y of shape (L, *y0.shape); func must treat leading dims as batch dims.
        "vmap": torch.func.vmap over the time axis (func sees 0-d t and y0-shaped y).
        "loop": one call per time point.
        """
        L = ys.shape[0]
        y = ys.reshape((L,) + self.shape)
        if mode == "broadcast":
            out = self.func(t_vec.reshape((L,) + (1,) * len(self.shape)), y)
        elif mode == "vmap":
            out = torch.func.vmap(self.func)(t_vec, y)
        else:
            out = torch.stack([self.func(t_vec[i], y[i]) for i in range(L)])
        if not isinstance(out, Tensor) or out.shape != y.shape or out.dtype != self.dtype:
            self._check_output(out, y.shape)
        return out.reshape(ys.shape)


def dense_jacobian(prob: Problem, t_n: Tensor, y: Tensor) -> Tensor:
    """d func(t_n, y) / d y as an (M, M) matrix, M = B * D (Newton's method; small states only)."""
    M = y.numel()
    with torch.enable_grad():
        v = y.detach().requires_grad_(True)
        out = prob.call(t_n, v).reshape(M)
        eye = torch.eye(M, dtype=y.dtype, device=y.device)
        try:
            (jac,) = torch.autograd.grad(out, v, eye, retain_graph=True, is_grads_batched=True)
        except RuntimeError:  # func not vmap-able: one backward per row
            jac = torch.stack([torch.autograd.grad(out[i], v, retain_graph=True)[0] for i in range(M)])
    return jac.reshape(M, M)


def default_tol(dtype: torch.dtype) -> float:
    return 1e-12 if dtype == torch.float64 else 1e-5

"""Solver options of ``fodeint`` (keyword arguments after ``gradient``), validated in one place."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from fraczoo._checks import check_bool, check_choice, check_int, check_real
from fraczoo.fode._problem import IMPLICIT_SOLVERS, TIME_BATCHING, default_params, default_tol
from fraczoo.fode._solvers import SOLVERS

# which options make sense for which gradient mode (a method's own: ``SOLVERS[method].options``)
_COMMON = {"stats", "parallel"}
_PARALLEL = {"tol", "max_iter", "window", "anderson_m", "adaptive", "time_batching"}  # with parallel=True
_BY_GRADIENT = {
    "direct": set(),
    "adjoint": {"adjoint_params", "tol", "max_iter"},
    "deq": {"adjoint_params"} | _PARALLEL,
}


@dataclass
class Options:
    method: str
    gradient: str
    tol: float
    max_iter: int
    implicit: str = "fixed_point"
    corrector_steps: int = 1
    window: int | None = None
    anderson_m: int = 0
    adaptive: bool = True
    time_batching: str = "broadcast"
    parallel: bool | None = None  # None: chosen by fodeint (``_auto.choose_parallel``)
    params: tuple[Tensor, ...] = ()
    stats: dict = field(default_factory=dict)


def parse_options(func, dtype: torch.dtype, method: str, gradient: str, options: dict) -> Options:
    parallel = options.get("parallel")
    if parallel is not None and not isinstance(parallel, bool):
        raise TypeError(f"parallel must be True, False or None (automatic), got {type(parallel).__name__} "
                        f"{parallel!r}")
    if parallel is True and not SOLVERS[method].fixed_point:
        raise ValueError(f"parallel=True needs an implicit method ('trapezoid' or 'l1'); method={method!r} is "
                         "explicit (each step predicts from the previous ones), so its steps cannot be solved "
                         "together")
    if parallel is True and options.get("implicit", "fixed_point") == "newton" and gradient != "adjoint":
        raise ValueError("implicit='newton' is the sequential corrector; parallel=True solves windows of steps "
                         "by fixed-point sweeps instead. Use one or the other (with gradient='adjoint' Newton "
                         "applies to the backward sweep)")
    if parallel is False and gradient == "deq":
        raise ValueError("gradient='deq' is parallel in time (the whole trajectory as one fixed point); "
                         "parallel=False is not available with it")
    allowed = _COMMON | SOLVERS[method].options | _BY_GRADIENT[gradient] | (_PARALLEL if parallel else set())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"unexpected option(s) {', '.join(map(repr, unknown))} for method={method!r}, "
                        f"gradient={gradient!r}; allowed: {', '.join(sorted(allowed))}")
    tol = check_real(options.get("tol", default_tol(dtype)), "tol", 0.0, 1.0, lo_open=True)
    default_iter = 200 if gradient == "deq" or parallel else 100
    opts = Options(method=method, gradient=gradient, tol=tol,
                   max_iter=check_int(options.get("max_iter", default_iter), "max_iter"),
                   parallel=True if gradient == "deq" else parallel)
    opts.implicit = check_choice(options.get("implicit", "fixed_point"), "implicit", IMPLICIT_SOLVERS)
    opts.corrector_steps = check_int(options.get("corrector_steps", 1), "corrector_steps")
    window = options.get("window")
    opts.window = None if window is None else check_int(window, "window")
    opts.anderson_m = check_int(options.get("anderson_m", 0), "anderson_m", minimum=0)
    opts.adaptive = check_bool(options.get("adaptive", True), "adaptive")
    opts.time_batching = check_choice(options.get("time_batching", "broadcast"), "time_batching",
                                      TIME_BATCHING)
    params = options.get("adjoint_params")
    if params is None:
        params = default_params(func)
    else:
        params = tuple(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"adjoint_params[{i}] must be a tensor, got {type(p).__name__}")
    opts.params = params
    stats = options.get("stats")
    if stats is not None and not isinstance(stats, dict):
        raise TypeError(f"stats must be a dict to fill in, got {type(stats).__name__}")
    opts.stats = {} if stats is None else stats
    return opts

"""The table of ``fodeint`` methods (in the spirit of torchdiffeq's ``SOLVERS``): method name ->
its weights (``_schemes``), the sequential solver that marches them, and its options.

Adding a method is one entry here: a scheme builder (alpha (DA,), h, N) -> ``Scheme`` and a march
function; the gradient modes ("direct", "adjoint", "deq") work on any ``Scheme``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor

from fraczoo.fode._parallel import solve_parallel_direct
from fraczoo.fode._pece import solve_pece
from fraczoo.fode._problem import Problem
from fraczoo.fode._schemes import Scheme, l1_scheme, pece_scheme, trapezoid_scheme
from fraczoo.fode._trapezoid import solve_implicit


def _march_pece(prob: Problem, opts, y0: Tensor, scheme: Scheme, record: Tensor | None = None) -> Tensor:
    return solve_pece(prob, scheme, y0, corrector_steps=opts.corrector_steps, stats=opts.stats,
                      record=record)


def _march_implicit(prob: Problem, opts, y0: Tensor, scheme: Scheme, record: Tensor | None = None) -> Tensor:
    return solve_implicit(prob, scheme, y0, tol=opts.tol, max_iter=opts.max_iter,
                          implicit=opts.implicit, stats=opts.stats)


@dataclass(frozen=True)
class Solver:
    """One ``method`` of fodeint.

    ``scheme``: (alpha (DA,), h, N) -> Scheme. ``march``: (prob, opts, y0, scheme, record) -> the
    trajectory (N, *S), differentiable when grad mode is on (``record``: PECE's corrector inputs,
    see ``solve_pece``). ``options``: the method's own keyword options. ``fixed_point``: the scheme
    is implicit, so the trajectory is a fixed point Y = y0 + W F(Y) (``gradient="deq"`` applies).
    """

    scheme: Callable[[Tensor, float, int], Scheme]
    march: Callable[..., Tensor]
    options: frozenset[str]
    fixed_point: bool


_IMPLICIT_OPTIONS = frozenset({"tol", "max_iter", "implicit"})

SOLVERS: dict[str, Solver] = {
    "pece": Solver(pece_scheme, _march_pece, frozenset({"corrector_steps"}), fixed_point=False),
    "trapezoid": Solver(trapezoid_scheme, _march_implicit, _IMPLICIT_OPTIONS, fixed_point=True),
    "l1": Solver(l1_scheme, _march_implicit, _IMPLICIT_OPTIONS, fixed_point=True),
}


def solve_forward(prob: Problem, opts, y0: Tensor, scheme: Scheme, record: Tensor | None = None) -> Tensor:
    """The sequential solver of ``opts.method`` (differentiable when grad mode is on)."""
    return SOLVERS[opts.method].march(prob, opts, y0, scheme, record)


def solve_direct(prob: Problem, opts) -> Tensor:
    """``gradient="direct"``: the sequential solve, backpropagated through by autograd (parallel: the
    parallel-in-time solve with its implicit-function-theorem derivative, see ``solve_parallel_direct``)."""
    if opts.parallel:
        return solve_parallel_direct(prob, opts)
    return solve_forward(prob, opts, prob.y0, prob.scheme())

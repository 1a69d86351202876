"""The bad-input table: every public entry point of the operator core, the FODE solver, the layers and the
zoo models, called with invalid arguments, must raise ValueError/TypeError whose message names the
argument and what is allowed (issue 9).

One row per (callable, bad argument): ``pytest.param(fn, args, kwargs, exception, match, id=...)``.
``match`` is a regex searched in the message; it always contains the argument's name and the allowed
values or range. Wrong *types* (str, complex, int tensors, lists) raise TypeError, wrong *values* (out of
range, NaN/inf, too short, wrong shape) raise ValueError.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from fraczoo.fode import fodeint
from fraczoo.models import BayesianAlphaRegressor, NeuralFODE, SpectralFractionalCNN, StochasticMemorySeq
from fraczoo.nn import (BetaAlphaLayer, FractionalOrder, NormalAlphaLayer, SpectralFractionalConv2d,
                        StochasticFractionalLayer)
from fraczoo.ops import (SpectralFractionalDerivative, caputo, fractional_laplacian, grunwald_letnikov,
                         mellin_derivative, mittag_leffler, rl_integral, spectral_derivative, stochastic_caputo)

F64 = torch.float64
NAN, INF = math.nan, math.inf

# ---------------------------------------------------------------------------------------------------
# inputs (small; built once at collection)

Y = torch.linspace(0, 1, 10, dtype=F64)                      # a time series, dt = 0.1
Y2 = torch.stack([Y, 2 * Y])                                 # (2, 10): two channels
T_LOG = torch.logspace(-2, 2, 16, dtype=F64)                 # log-uniform grid for the Mellin engine
Y_POW = T_LOG ** 0.5
X = torch.linspace(-1, 1, 32, dtype=F64).reshape(4, 8)      # periodic signals along the last dim
T_GRID = torch.linspace(0, 1, 11, dtype=F64)                 # uniform FODE grid
Y0 = torch.tensor([1.0, -0.5], dtype=F64)


def decay(t, y):
    return -y


def with_nan(x: torch.Tensor, value: float = NAN) -> torch.Tensor:
    x = x.clone()
    x.reshape(-1)[1] = value
    return x


def row(fn, args, kwargs, exc, match, id):
    return pytest.param(fn, args, kwargs, exc, match, id=id)


ALPHA_TYPE = "alpha must be a real number or a real tensor"


# ---------------------------------------------------------------------------------------------------
# ops: time-domain operators share one calling convention (y, alpha, dt, *, dim) and one set of rows

def time_domain_rows(name, op, interval, below, above, extra=()):
    """Rows for op(y, alpha, dt, ...): ``interval`` is the regex of alpha's allowed range."""
    call = lambda *a, **k: op(*a, *extra, **k)  # noqa: E731  (stochastic_caputo needs num_samples)
    rng = rf"alpha must lie in {interval}"
    return [
        row(call, (Y, below, 0.1), {}, ValueError, rf"{rng}, got {below:g}", f"{name}-alpha-below"),
        row(call, (Y, above, 0.1), {}, ValueError, rf"{rng}, got {above:g}", f"{name}-alpha-above"),
        row(call, (Y, NAN, 0.1), {}, ValueError, rf"{rng}, got (values in \[)?nan", f"{name}-alpha-nan"),
        row(call, (Y, torch.tensor([0.5, NAN], dtype=F64).reshape(2, 1), 0.1), {}, ValueError, rng,
            f"{name}-alpha-tensor-nan"),
        row(call, (Y, "0.5", 0.1), {}, TypeError, f"{ALPHA_TYPE}, got str", f"{name}-alpha-str"),
        row(call, (Y, 0.5 + 0j, 0.1), {}, TypeError, f"{ALPHA_TYPE}, got complex", f"{name}-alpha-complex"),
        row(call, (Y, None, 0.1), {}, TypeError, f"{ALPHA_TYPE}, got NoneType", f"{name}-alpha-none"),
        row(call, (Y, True, 0.1), {}, TypeError, f"{ALPHA_TYPE}, got bool", f"{name}-alpha-bool"),
        row(call, (Y, torch.tensor(0.5j), 0.1), {}, TypeError, "alpha must be a real floating tensor",
            f"{name}-alpha-complex-tensor"),
        row(call, (Y, torch.tensor(1), 0.1), {}, TypeError, "alpha must be a real floating tensor, got torch.int64",
            f"{name}-alpha-int-tensor"),
        row(call, (Y, torch.tensor([], dtype=F64), 0.1), {}, ValueError, "alpha must not be empty",
            f"{name}-alpha-empty"),
        row(call, (Y2, torch.full((2, 10), 0.5, dtype=F64), 0.1), {}, ValueError,
            r"alpha must have size 1 along dim=1", f"{name}-alpha-per-time-step"),
        row(call, (Y2, torch.full((3, 1), 0.5, dtype=F64), 0.1), {}, ValueError,
            r"alpha of shape \(3, 1\) does not broadcast to y's shape \(2, 10\)", f"{name}-alpha-shape"),
        row(call, (torch.arange(10), 0.5, 0.1), {}, TypeError,
            r"y must be a floating tensor \(float32 or float64\), got torch.int64", f"{name}-y-int"),
        row(call, (Y.half(), 0.5, 0.1), {}, TypeError,
            r"y must be a floating tensor \(float32 or float64\), got torch.float16", f"{name}-y-half"),
        row(call, (Y.to(torch.complex128), 0.5, 0.1), {}, TypeError,
            r"y must be a real floating tensor \(float32 or float64\), got torch.complex128", f"{name}-y-complex"),
        row(call, (Y > 0.5, 0.5, 0.1), {}, TypeError, "y must be a floating tensor", f"{name}-y-bool"),
        row(call, (Y.tolist(), 0.5, 0.1), {}, TypeError, "y must be a torch.Tensor, got list", f"{name}-y-list"),
        row(call, (with_nan(Y), 0.5, 0.1), {}, ValueError, "y contains NaN or inf; all values must be finite",
            f"{name}-y-nan"),
        row(call, (with_nan(Y, -INF), 0.5, 0.1), {}, ValueError, "y contains NaN or inf", f"{name}-y-inf"),
        row(call, (Y[:0], 0.5, 0.1), {}, ValueError, r"y must have at least 2 grid points along dim=0, got 0",
            f"{name}-y-empty"),
        row(call, (Y[:1], 0.5, 0.1), {}, ValueError, r"y must have at least 2 grid points along dim=0, got 1",
            f"{name}-y-one-point"),
        row(call, (Y2[:, :1], 0.5, 0.1), {}, ValueError, r"y must have at least 2 grid points along dim=1",
            f"{name}-y-one-point-batched"),
        # check_dim names the axis argument but calls the tensor "input" (see the report: _checks.py)
        row(call, (Y[0], 0.5, 0.1), {}, ValueError, r"at least one dimension to apply along dim=-1",
            f"{name}-y-0d"),
        row(call, (Y, 0.5, 0.0), {}, ValueError, r"dt must be a finite number > 0, got 0", f"{name}-dt-zero"),
        row(call, (Y, 0.5, -0.1), {}, ValueError, r"dt must be a finite number > 0, got -0.1", f"{name}-dt-neg"),
        row(call, (Y, 0.5, NAN), {}, ValueError, r"dt must be a finite number > 0, got nan", f"{name}-dt-nan"),
        row(call, (Y, 0.5, INF), {}, ValueError, r"dt must be a finite number > 0, got inf", f"{name}-dt-inf"),
        row(call, (Y, 0.5, "0.1"), {}, TypeError, "dt must be a positive real number, got str", f"{name}-dt-str"),
        row(call, (Y, 0.5, torch.tensor([0.1, 0.2])), {}, ValueError, r"dt must be a positive scalar",
            f"{name}-dt-vector"),
        row(call, (Y, 0.5, 0.1), {"dim": 1}, ValueError, r"dim=1 is out of range .* \(allowed: -1..0\)",
            f"{name}-dim-range"),
        row(call, (Y, 0.5, 0.1), {"dim": 0.0}, TypeError, "dim must be an int, got float", f"{name}-dim-float"),
    ]


OPS_TIME = [
    *time_domain_rows("caputo", caputo, r"\(0, 1\]", 0.0, 1.5),
    row(caputo, (Y, 0.5, 0.1), {"method": "l2"}, ValueError, "method must be one of 'l1', 'l1-2'; got 'l2'",
        "caputo-method"),
    row(caputo, (Y, 0.5, 0.1), {"method": None}, ValueError, "method must be one of 'l1', 'l1-2'; got None",
        "caputo-method-none"),
    *time_domain_rows("rl_integral", rl_integral, r"\(0, inf\)", -0.5, INF),
    *time_domain_rows("grunwald_letnikov", grunwald_letnikov, r"\(0, 2\]", 0.0, 2.5),
    *time_domain_rows("stochastic_caputo", stochastic_caputo, r"\(0, 1\)", 0.0, 1.0, extra=(4,)),
    row(stochastic_caputo, (Y, 0.5, 0.1, 0), {}, ValueError, "num_samples must be an int >= 1, got 0", "sc-k-zero"),
    row(stochastic_caputo, (Y, 0.5, 0.1, -3), {}, ValueError, "num_samples must be an int >= 1, got -3", "sc-k-neg"),
    row(stochastic_caputo, (Y, 0.5, 0.1, 2.0), {}, TypeError, "num_samples must be an int >= 1, got float 2.0", "sc-k-float"),
    row(stochastic_caputo, (Y, 0.5, 0.1, True), {}, TypeError, "num_samples must be an int >= 1, got bool True", "sc-k-bool"),
    row(stochastic_caputo, (Y, 0.5, 0.1, 4), {"sampler": "uniform"}, ValueError,
        "sampler must be one of 'importance', 'stratified', 'control_variate', 'by_parts'; got 'uniform'",
        "sc-sampler"),
    row(stochastic_caputo, (Y, 0.5, 0.1, 4), {"sampler": "stratified", "num_strata": 0}, ValueError,
        "num_strata must be an int >= 1, got 0", "sc-strata-zero"),
    row(stochastic_caputo, (Y, 0.5, 0.1, 4), {"sampler": "stratified", "num_strata": 1.5}, TypeError,
        "num_strata must be an int >= 1, got float 1.5", "sc-strata-float"),
    row(stochastic_caputo, (Y, 0.5, 0.1, 4), {"sampler": "by_parts", "window": -1}, ValueError,
        "window must be an int >= 0, got -1", "sc-window-neg"),
    row(stochastic_caputo, (Y, 0.5, 0.1, 4), {"sampler": "by_parts", "window": 4}, ValueError,
        r"window must be < num_samples \(4\)", "sc-window-k"),
    row(stochastic_caputo, (Y, 0.5, 0.1, 4), {"generator": 0}, TypeError,
        "generator must be a torch.Generator or None, got int", "sc-generator"),
    row(stochastic_caputo, (Y, 0.5, 0.1, 4), {"return_variance": 1}, TypeError, "return_variance must be True or False, got int 1",
        "sc-return-variance"),
]


# ---------------------------------------------------------------------------------------------------
# ops: Mellin engine

OPS_MELLIN = [
    row(mellin_derivative, (Y_POW, 2.5, T_LOG), {}, ValueError, r"alpha must lie in \[-2, 2\], got 2.5",
        "mellin-alpha-above"),
    row(mellin_derivative, (Y_POW, -2.5, T_LOG), {}, ValueError, r"alpha must lie in \[-2, 2\], got -2.5",
        "mellin-alpha-below"),
    row(mellin_derivative, (Y_POW, NAN, T_LOG), {}, ValueError, r"alpha must lie in \[-2, 2\], got (values in \[)?nan",
        "mellin-alpha-nan"),
    row(mellin_derivative, (Y_POW, "0.5", T_LOG), {}, TypeError, f"{ALPHA_TYPE}, got str", "mellin-alpha-str"),
    row(mellin_derivative, (Y_POW, 0.5j, T_LOG), {}, TypeError, f"{ALPHA_TYPE}, got complex", "mellin-alpha-complex"),
    row(mellin_derivative, (Y_POW, torch.full((16,), 0.5, dtype=F64), T_LOG), {}, ValueError,
        r"alpha of shape \(16,\) must have size 1 along the transformed dim -1", "mellin-alpha-shape"),
    row(mellin_derivative, (torch.arange(16), 0.5, T_LOG), {}, TypeError, "y must be a floating tensor", "mellin-y-int"),
    row(mellin_derivative, (Y_POW.to(torch.complex128), 0.5, T_LOG), {}, TypeError, "y must be a real floating tensor",
        "mellin-y-complex"),
    row(mellin_derivative, (Y_POW.half(), 0.5, T_LOG), {}, TypeError, r"y must be a floating tensor \(float32 or float64\), got torch.float16",
        "mellin-y-half"),
    row(mellin_derivative, (with_nan(Y_POW), 0.5, T_LOG), {}, ValueError, "y contains NaN or inf", "mellin-y-nan"),
    row(mellin_derivative, (Y_POW[:3], 0.5, T_LOG[:3]), {}, ValueError, r"y must have at least 4 samples along dim=-1",
        "mellin-y-short"),
    row(mellin_derivative, (Y_POW[:0], 0.5, T_LOG[:0]), {}, ValueError, r"y must have at least 4 samples",
        "mellin-y-empty"),
    row(mellin_derivative, (Y_POW, 0.5, torch.linspace(0.01, 100, 16, dtype=F64)), {}, ValueError,
        r"t must be log-uniform \(t_k = t_0 r\^k", "mellin-t-not-log-uniform"),
    row(mellin_derivative, (Y_POW, 0.5, torch.linspace(0, 1, 16, dtype=F64)), {}, ValueError,
        r"t must be strictly positive", "mellin-t-zero"),
    row(mellin_derivative, (Y_POW, 0.5, T_LOG.flip(0)), {}, ValueError, "t must be strictly increasing",
        "mellin-t-decreasing"),
    row(mellin_derivative, (Y_POW, 0.5, T_LOG[None]), {}, ValueError,
        r"t must be a 1-D tensor with one time per sample of y along dim \(16\), got shape \(1, 16\)", "mellin-t-2d"),
    row(mellin_derivative, (Y_POW, 0.5, T_LOG[:10]), {}, ValueError, r"t must be a 1-D tensor with one time per sample",
        "mellin-t-length"),
    row(mellin_derivative, (Y_POW, 0.5, T_LOG.tolist()), {}, TypeError, "t must be a torch.Tensor, got list",
        "mellin-t-list"),
    row(mellin_derivative, (Y_POW, 0.5, torch.arange(1, 17)), {}, TypeError, "t must be a floating tensor",
        "mellin-t-int"),
    row(mellin_derivative, (Y_POW, 0.5, with_nan(T_LOG)), {}, ValueError, "t contains NaN or inf", "mellin-t-nan"),
    row(mellin_derivative, (Y_POW, 0.5, T_LOG), {"c": -1.0}, ValueError, r"c must lie in \(-1, inf\), got -1",
        "mellin-c-range"),
    row(mellin_derivative, (Y_POW, 0.5, T_LOG), {"c": NAN}, ValueError, r"c must lie in \(-1, inf\), got (values in \[)?nan",
        "mellin-c-nan"),
    row(mellin_derivative, (Y_POW, 0.5, T_LOG), {"c": "x"}, TypeError, "c must be a real number or a real tensor",
        "mellin-c-str"),
    row(mellin_derivative, (torch.sin(torch.log(T_LOG)), 0.5, T_LOG), {}, ValueError,
        r"y\[0\] and y\[-1\] nonzero and of the same sign.*pass c \(> -1\)", "mellin-c-estimate"),
    row(mellin_derivative, (Y_POW, 0.5, T_LOG), {"dim": 1}, ValueError, r"dim=1 is out of range", "mellin-dim"),
]


# ---------------------------------------------------------------------------------------------------
# ops: FFT engine

WEYL = r"alpha must lie in \[-2, 2\]"
RIESZ = r"alpha must lie in \[0, 2\]"
sfd_apply = SpectralFractionalDerivative.apply

OPS_SPECTRAL = [
    row(spectral_derivative, (X, 2.5), {}, ValueError, rf"{WEYL}, got 2.5", "sd-alpha-above"),
    row(spectral_derivative, (X, -2.5), {}, ValueError, rf"{WEYL}, got -2.5", "sd-alpha-below"),
    row(spectral_derivative, (X, NAN), {}, ValueError, rf"{WEYL}, got (values in \[)?nan", "sd-alpha-nan"),
    row(spectral_derivative, (X, torch.tensor([[0.5], [INF]], dtype=F64)), {}, ValueError, WEYL, "sd-alpha-inf"),
    row(spectral_derivative, (X, -0.1), {"kind": "riesz"}, ValueError, rf"{RIESZ}, got -0.1", "sd-riesz-alpha"),
    row(spectral_derivative, (X, "0.5"), {}, TypeError, f"{ALPHA_TYPE}, got str", "sd-alpha-str"),
    row(spectral_derivative, (X, 0.5j), {}, TypeError, f"{ALPHA_TYPE}, got complex", "sd-alpha-complex"),
    row(spectral_derivative, (X, torch.tensor(1)), {}, TypeError, "alpha must be a real floating tensor",
        "sd-alpha-int-tensor"),
    row(spectral_derivative, (X, torch.full((4, 8), 0.5, dtype=F64)), {}, ValueError,
        r"alpha of shape \(4, 8\) must have size 1 along the transformed dim -1", "sd-alpha-per-sample"),
    row(spectral_derivative, (X, torch.full((3, 1), 0.5, dtype=F64)), {}, ValueError,
        r"alpha of shape \(3, 1\) does not broadcast against the input of shape \(4, 8\)", "sd-alpha-shape"),
    row(spectral_derivative, (X, 0.5), {"kind": "caputo"}, ValueError, "kind must be one of 'weyl', 'riesz'; got 'caputo'",
        "sd-kind"),
    row(spectral_derivative, (torch.arange(8), 0.5), {}, TypeError, r"x must be a floating tensor \(float32 or float64\)",
        "sd-x-int"),
    row(spectral_derivative, (X.to(torch.complex128), 0.5), {}, TypeError, "x must be a real floating tensor",
        "sd-x-complex"),
    row(spectral_derivative, (X.half(), 0.5), {}, TypeError, r"x must be a floating tensor \(float32 or float64\), got torch.float16",
        "sd-x-half"),
    row(spectral_derivative, (X.bfloat16(), 0.5), {}, TypeError, r"x must be a floating tensor \(float32 or float64\), got torch.bfloat16", "sd-x-bfloat16"),
    row(spectral_derivative, (with_nan(X), 0.5), {}, ValueError, "x contains NaN or inf", "sd-x-nan"),
    row(spectral_derivative, (X.tolist(), 0.5), {}, TypeError, "x must be a torch.Tensor, got list", "sd-x-list"),
    row(spectral_derivative, (X[:, :1], 0.5), {}, ValueError, r"x must have at least 2 samples along dim=-1, got 1",
        "sd-x-one-sample"),
    row(spectral_derivative, (X[:, :0], 0.5), {}, ValueError, r"x must have at least 2 samples along dim=-1, got 0",
        "sd-x-empty"),
    row(spectral_derivative, (X, 0.5), {"dx": 0.0}, ValueError, "dx must be a finite number > 0, got 0", "sd-dx-zero"),
    row(spectral_derivative, (X, 0.5), {"dx": NAN}, ValueError, "dx must be a finite number > 0, got nan", "sd-dx-nan"),
    row(spectral_derivative, (X, 0.5), {"dx": "1"}, TypeError, "dx must be a positive real number, got str", "sd-dx-str"),
    row(spectral_derivative, (X, 0.5), {"dim": 2}, ValueError, r"dim=2 is out of range .* \(allowed: -2..1\)",
        "sd-dim"),
    row(sfd_apply, (X, 3.0), {}, ValueError, rf"{WEYL}, got 3", "sfd-alpha"),
    row(sfd_apply, (X, "a"), {}, TypeError, f"{ALPHA_TYPE}, got str", "sfd-alpha-str"),
    row(sfd_apply, (torch.arange(8), 0.5), {}, TypeError, "x must be a floating tensor", "sfd-x-int"),
    row(sfd_apply, (X, 0.5, 1.0, -1, "fractional"), {}, ValueError, "kind must be one of 'weyl', 'riesz'", "sfd-kind"),
    row(fractional_laplacian, (X, -0.5), {}, ValueError, rf"{RIESZ}, got -0.5", "lap-alpha-below"),
    row(fractional_laplacian, (X, 2.5), {}, ValueError, rf"{RIESZ}, got 2.5", "lap-alpha-above"),
    row(fractional_laplacian, (X, NAN), {}, ValueError, rf"{RIESZ}, got (values in \[)?nan", "lap-alpha-nan"),
    row(fractional_laplacian, (X, "a"), {}, TypeError, f"{ALPHA_TYPE}, got str", "lap-alpha-str"),
    row(fractional_laplacian, (X, 1j), {}, TypeError, f"{ALPHA_TYPE}, got complex", "lap-alpha-complex"),
    row(fractional_laplacian, (X, torch.full((4, 8), 0.5, dtype=F64)), {}, ValueError,
        r"alpha of shape \(4, 8\) must have size 1 along the transformed dim", "lap-alpha-shape"),
    row(fractional_laplacian, (torch.ones(4, 4, dtype=torch.long), 0.5), {}, TypeError, "u must be a floating tensor",
        "lap-u-int"),
    row(fractional_laplacian, (X.to(torch.complex128), 0.5), {}, TypeError, "u must be a real floating tensor",
        "lap-u-complex"),
    row(fractional_laplacian, (X.half(), 0.5), {}, TypeError, r"u must be a floating tensor \(float32 or float64\), got torch.float16", "lap-u-half"),
    row(fractional_laplacian, (with_nan(X, INF), 0.5), {}, ValueError, "u contains NaN or inf", "lap-u-inf"),
    row(fractional_laplacian, (X[:1], 0.5), {}, ValueError,
        r"u must have at least 2 samples along every dim in dims, got sizes \(1, 8\)", "lap-u-one-row"),
    row(fractional_laplacian, (X[0], 0.5), {}, ValueError, r"dims=-2 is out of range .* \(allowed: -1..0\)",
        "lap-u-1d-default-dims"),
    row(fractional_laplacian, (X, 0.5), {"dims": (1, -1)}, ValueError, r"dims must not repeat a dimension",
        "lap-dims-repeat"),
    row(fractional_laplacian, (X, 0.5), {"dims": ()}, ValueError, "dims must be a non-empty sequence of ints",
        "lap-dims-empty"),
    row(fractional_laplacian, (X, 0.5), {"dims": None}, ValueError, "dims must be a non-empty sequence of ints",
        "lap-dims-none"),
    row(fractional_laplacian, (X, 0.5), {"dims": (0.5, 1)}, TypeError, "dims must be an int, got float",
        "lap-dims-float"),
    row(fractional_laplacian, (X, 0.5), {"dx": (0.1, -1.0)}, ValueError, "dx must be a finite number > 0, got -1",
        "lap-dx-neg"),
    row(fractional_laplacian, (X, 0.5), {"dx": (0.1, 0.1, 0.1)}, ValueError,
        r"dx must be a float or have one entry per dim in dims \(2\), got 3", "lap-dx-count"),
    row(fractional_laplacian, (X, 0.5), {"padding": "reflect"}, ValueError,
        "padding must be one of 'periodic', 'zero'; got 'reflect'", "lap-padding"),
    row(fractional_laplacian, (X, 0.5), {"padding": "zero", "pad_factor": 1.0}, ValueError,
        r"pad_factor must be a finite number in \(1, inf\), got 1.0", "lap-pad-factor"),
    row(fractional_laplacian, (X, 0.5), {"padding": "zero", "pad_factor": NAN}, ValueError,
        r"pad_factor must be a finite number in \(1, inf\), got nan", "lap-pad-factor-nan"),
]


# ---------------------------------------------------------------------------------------------------
# ops: Mittag-Leffler

Z = torch.linspace(-2, 1, 5, dtype=F64)
OPS_ML = [
    row(mittag_leffler, (Z, 0.0), {}, ValueError, r"alpha must lie in \(0, 1\], got 0", "ml-alpha-zero"),
    row(mittag_leffler, (Z, 1.5), {}, ValueError, r"alpha must lie in \(0, 1\], got 1.5", "ml-alpha-above"),
    row(mittag_leffler, (Z, NAN), {}, ValueError, r"alpha must lie in \(0, 1\], got (values in \[)?nan", "ml-alpha-nan"),
    row(mittag_leffler, (Z, "a"), {}, TypeError, f"{ALPHA_TYPE}, got str", "ml-alpha-str"),
    row(mittag_leffler, (Z, 0.5j), {}, TypeError, f"{ALPHA_TYPE}, got complex", "ml-alpha-complex"),
    row(mittag_leffler, (Z, torch.tensor([0.5, 0.6], dtype=F64)), {}, ValueError,
        r"alpha of shape \(2,\) and beta of shape \(\) must broadcast against z of shape \(5,\)", "ml-alpha-shape"),
    row(mittag_leffler, (Z, 0.5, 0.0), {}, ValueError, r"beta must lie in \(0, 3\], got 0", "ml-beta-zero"),
    row(mittag_leffler, (Z, 0.5, 3.5), {}, ValueError, r"beta must lie in \(0, 3\], got 3.5", "ml-beta-above"),
    row(mittag_leffler, (Z, 0.5, NAN), {}, ValueError, r"beta must lie in \(0, 3\], got (values in \[)?nan", "ml-beta-nan"),
    row(mittag_leffler, (Z, 0.5, "1"), {}, TypeError, "beta must be a real number or a real tensor, got str",
        "ml-beta-str"),
    row(mittag_leffler, ([1.0], 0.5), {}, TypeError, r"z must be a real torch.Tensor \(or a real number\), got list",
        "ml-z-list"),
    row(mittag_leffler, (True, 0.5), {}, TypeError, r"z must be a real torch.Tensor \(or a real number\), got bool",
        "ml-z-bool"),
    row(mittag_leffler, (1j, 0.5), {}, TypeError, r"z must be a real torch.Tensor \(or a real number\), got complex",
        "ml-z-complex"),
    row(mittag_leffler, (np.linspace(0, 1, 3), 0.5), {}, TypeError, "z must be a real torch.Tensor", "ml-z-numpy"),
    row(mittag_leffler, (torch.arange(3), 0.5), {}, TypeError, r"z must be a floating tensor \(float32 or float64\)",
        "ml-z-int"),
    row(mittag_leffler, (Z.to(torch.complex128), 0.5), {}, TypeError, "z must be a real floating tensor",
        "ml-z-complex-tensor"),
    row(mittag_leffler, (with_nan(Z), 0.5), {}, ValueError, "z contains NaN or inf", "ml-z-nan"),
    row(mittag_leffler, (INF, 0.5), {}, ValueError, "z contains NaN or inf", "ml-z-inf"),
]


# ---------------------------------------------------------------------------------------------------
# fode: fodeint

FODE_ALPHA = r"alpha must lie in \(0, 1\]"
FODE = [
    row(fodeint, (decay, Y0, T_GRID, 0.0), {}, ValueError, rf"{FODE_ALPHA}, got 0", "fode-alpha-zero"),
    row(fodeint, (decay, Y0, T_GRID, 1.5), {}, ValueError, rf"{FODE_ALPHA}, got 1.5", "fode-alpha-above"),
    row(fodeint, (decay, Y0, T_GRID, NAN), {}, ValueError, rf"{FODE_ALPHA}, got (values in \[)?nan", "fode-alpha-nan"),
    row(fodeint, (decay, Y0, T_GRID, torch.tensor([0.5, 1.2], dtype=F64)), {}, ValueError,
        rf"{FODE_ALPHA}, got values in \[0.5, 1.2\]", "fode-alpha-vector"),
    row(fodeint, (decay, Y0, T_GRID, "0.5"), {}, TypeError, f"{ALPHA_TYPE}, got str", "fode-alpha-str"),
    row(fodeint, (decay, Y0, T_GRID, 0.5j), {}, TypeError, f"{ALPHA_TYPE}, got complex", "fode-alpha-complex"),
    row(fodeint, (decay, Y0, T_GRID, torch.tensor(1)), {}, TypeError, "alpha must be a real floating tensor",
        "fode-alpha-int-tensor"),
    row(fodeint, (decay, Y0, T_GRID, torch.full((3,), 0.5, dtype=F64)), {}, ValueError,
        r"alpha must be a scalar or have shape y0.shape\[-1:\] = \(2,\)", "fode-alpha-shape"),
    row(fodeint, (decay, Y0, T_GRID ** 2, 0.5), {}, ValueError,
        r"t must be a uniform grid \(equal steps up to a relative tolerance of 1e-05\)", "fode-t-nonuniform"),
    row(fodeint, (decay, Y0, T_GRID[:1], 0.5), {}, ValueError, "t must contain at least 2 time points, got 1",
        "fode-t-one-point"),
    row(fodeint, (decay, Y0, T_GRID[:0], 0.5), {}, ValueError, "t must contain at least 2 time points, got 0",
        "fode-t-empty"),
    row(fodeint, (decay, Y0, T_GRID.flip(0), 0.5), {}, ValueError, "t must be strictly increasing", "fode-t-decreasing"),
    row(fodeint, (decay, Y0, torch.zeros(5, dtype=F64), 0.5), {}, ValueError, "t must be strictly increasing",
        "fode-t-constant"),
    row(fodeint, (decay, Y0, T_GRID[None], 0.5), {}, ValueError, r"t must be 1-D \(a time grid\), got shape \(1, 11\)",
        "fode-t-2d"),
    row(fodeint, (decay, Y0, T_GRID.tolist(), 0.5), {}, TypeError, "t must be a torch.Tensor, got list", "fode-t-list"),
    row(fodeint, (decay, Y0, torch.arange(5), 0.5), {}, TypeError, "t must be a real floating tensor, got torch.int64",
        "fode-t-int"),
    row(fodeint, (decay, Y0, T_GRID.float(), 0.5), {}, TypeError,
        r"t must have the same dtype as y0 \(torch.float64\), got torch.float32", "fode-t-dtype"),
    row(fodeint, (decay, Y0, with_nan(T_GRID), 0.5), {}, ValueError, "t contains NaN or inf", "fode-t-nan"),
    row(fodeint, (decay, torch.ones(2, dtype=torch.long), T_GRID, 0.5), {}, TypeError,
        r"y0 must be a floating tensor \(float32 or float64\), got torch.int64", "fode-y0-int"),
    row(fodeint, (decay, Y0.to(torch.complex128), T_GRID, 0.5), {}, TypeError, "y0 must be a real floating tensor",
        "fode-y0-complex"),
    row(fodeint, (decay, with_nan(Y0), T_GRID, 0.5), {}, ValueError, "y0 contains NaN or inf", "fode-y0-nan"),
    row(fodeint, (decay, Y0[:0], T_GRID, 0.5), {}, ValueError, "y0 must not be empty", "fode-y0-empty"),
    row(fodeint, (decay, [1.0], T_GRID, 0.5), {}, TypeError, "y0 must be a torch.Tensor, got list", "fode-y0-list"),
    row(fodeint, (3, Y0, T_GRID, 0.5), {}, TypeError, r"func must be callable \(func\(t, y\) -> tensor\), got int",
        "fode-func-not-callable"),
    row(fodeint, (lambda t, y: y[:1], Y0, T_GRID, 0.5), {}, ValueError,
        r"func must return a tensor of the same shape as y, \(2,\); got \(1,\)", "fode-func-shape"),
    row(fodeint, (lambda t, y: y.float(), Y0, T_GRID, 0.5), {}, TypeError,
        r"func must return a tensor of dtype torch.float64 \(that of y0\); got torch.float32", "fode-func-dtype"),
    row(fodeint, (lambda t, y: 1.0, Y0, T_GRID, 0.5), {}, TypeError, "func must return a torch.Tensor, got float",
        "fode-func-not-tensor"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"method": "euler"}, ValueError,
        "method must be one of 'pece', 'trapezoid', 'l1'; got 'euler'", "fode-method"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"gradient": "bptt"}, ValueError,
        "gradient must be one of 'direct', 'adjoint', 'deq'; got 'bptt'", "fode-gradient"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"gradient": "deq"}, ValueError,
        "gradient='deq' needs an implicit scheme.*use method='trapezoid' or 'l1'", "fode-deq-pece"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"method": "trapezoid", "tol": 0.0}, ValueError,
        r"tol must be a finite number in \(0, 1\), got 0.0", "fode-tol"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"method": "trapezoid", "max_iter": 0}, ValueError,
        "max_iter must be an int >= 1, got 0", "fode-max-iter"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"corrector_steps": -1}, ValueError,
        "corrector_steps must be an int >= 1, got -1", "fode-corrector-steps"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"method": "l1", "implicit": "broyden"}, ValueError,
        "implicit must be one of 'fixed_point', 'newton'; got 'broyden'", "fode-implicit"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"foo": 1}, TypeError,
        r"unexpected option\(s\) 'foo' for method='pece', gradient='direct'; allowed: corrector_steps, parallel, stats",
        "fode-unknown-option"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"method": "l1", "gradient": "deq", "anderson_m": -1}, ValueError,
        "anderson_m must be an int >= 0, got -1", "fode-anderson"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"method": "l1", "gradient": "deq", "window": 0}, ValueError,
        "window must be an int >= 1, got 0", "fode-window"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"method": "l1", "gradient": "deq", "time_batching": "x"}, ValueError,
        "time_batching must be one of 'broadcast', 'vmap', 'loop'; got 'x'", "fode-time-batching"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"method": "l1", "gradient": "deq", "adaptive": 1}, TypeError,
        "adaptive must be True or False, got int 1", "fode-adaptive"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"stats": []}, TypeError, "stats must be a dict to fill in, got list",
        "fode-stats"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"parallel": 1}, TypeError,
        r"parallel must be True, False or None \(automatic\), got int 1", "fode-parallel-type"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"parallel": True}, ValueError,
        r"parallel=True needs an implicit method \('trapezoid' or 'l1'\); method='pece' is explicit",
        "fode-parallel-pece"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"method": "l1", "gradient": "deq", "parallel": False}, ValueError,
        "gradient='deq' is parallel in time", "fode-deq-sequential"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"method": "l1", "parallel": True, "implicit": "newton"}, ValueError,
        "implicit='newton' is the sequential corrector", "fode-parallel-newton"),
    row(fodeint, (decay, Y0, T_GRID, 0.5), {"gradient": "adjoint", "adjoint_params": [1.0]}, TypeError,
        r"adjoint_params\[0\] must be a tensor, got float", "fode-adjoint-params"),
]


# ---------------------------------------------------------------------------------------------------
# nn: layers (constructors, and forward with a bad input)

def forward_of(factory, **init):
    """A callable that builds the layer/model (small, cached) and calls it on the row's arguments."""
    @functools.cache
    def build():
        torch.manual_seed(0)
        return factory(**init)
    return lambda *a, **k: build()(*a, **k)


INPUT_F32 = torch.linspace(-1, 1, 32).reshape(1, 4, 8)
NN = [
    row(FractionalOrder, (1.5,), {}, ValueError, r"init must lie in the open interval \(0, 1\), got 1.5", "fo-init"),
    row(FractionalOrder, (NAN,), {}, ValueError, "init must be a finite real number, got nan", "fo-init-nan"),
    row(FractionalOrder, ("a",), {}, TypeError, "init must be a finite real number, got str", "fo-init-str"),
    row(FractionalOrder, (0.5j,), {}, TypeError, "init must be a finite real number, got complex", "fo-init-complex"),
    row(FractionalOrder, (0.5,), {"low": 1.0, "high": 0.0}, ValueError, "low must be < high, got low=1, high=0",
        "fo-low-high"),
    row(FractionalOrder, (0.5,), {"low": NAN}, ValueError, "low must be a finite real number, got nan", "fo-low-nan"),
    row(FractionalOrder, (0.5,), {"shape": (-1,)}, ValueError, "shape entries must be an int >= 1, got -1",
        "fo-shape-neg"),
    row(FractionalOrder, (0.5,), {"shape": 3}, TypeError, "shape must be a tuple of positive ints, got 3",
        "fo-shape-int"),
    row(NormalAlphaLayer, (3.0,), {}, ValueError, r"mean must lie in \[low, high\] = \[0, 2\], got 3", "normal-mean"),
    row(NormalAlphaLayer, (NAN,), {}, ValueError, "mean must be a finite real number, got nan", "normal-mean-nan"),
    row(NormalAlphaLayer, ("a",), {}, TypeError, "mean must be a finite real number, got str", "normal-mean-str"),
    row(NormalAlphaLayer, (0.5, 0.0), {}, ValueError, "std must be a finite number > 0, got 0", "normal-std-zero"),
    row(NormalAlphaLayer, (0.5, -0.1), {}, ValueError, "std must be a finite number > 0, got -0.1", "normal-std-neg"),
    row(NormalAlphaLayer, (), {"low": -3.0}, ValueError, r"low and high must satisfy -2 <= low < high <= 2 for kind='weyl'",
        "normal-low"),
    row(NormalAlphaLayer, (), {"low": -0.5, "kind": "riesz"}, ValueError,
        r"low and high must satisfy 0 <= low < high <= 2 for kind='riesz'", "normal-riesz-low"),
    row(NormalAlphaLayer, (), {"kind": "caputo"}, ValueError, "kind must be one of 'weyl', 'riesz'; got 'caputo'",
        "normal-kind"),
    row(NormalAlphaLayer, (), {"eval_mode": "median"}, ValueError, "eval_mode must be one of 'mean', 'sample'",
        "normal-eval-mode"),
    row(NormalAlphaLayer, (), {"num_eval_samples": 0}, ValueError, "num_eval_samples must be an int >= 1, got 0",
        "normal-num-eval"),
    row(NormalAlphaLayer, (), {"shape": (3,)}, ValueError, r"shape must end in 1 .*e.g. shape=\(C, 1\)", "normal-shape"),
    row(NormalAlphaLayer, (), {"shape": (-2, 1)}, ValueError, r"shape\[0\] must be an int >= 1, got -2",
        "normal-shape-neg"),
    row(NormalAlphaLayer, (), {"dx": 0.0}, ValueError, "dx must be a finite number > 0, got 0", "normal-dx"),
    row(BetaAlphaLayer, (0.0,), {}, ValueError, r"mean must lie in the open interval \(0, 2\), got 0", "beta-mean"),
    row(BetaAlphaLayer, (0.5, 1.0), {}, ValueError, r"std must be < sqrt\(\(mean - low\) \* \(high - mean\)\)",
        "beta-std"),
    row(forward_of(NormalAlphaLayer), (torch.arange(8),), {}, TypeError, "x must be a floating tensor",
        "normal-forward-int"),
    row(forward_of(NormalAlphaLayer), ([1.0, 2.0],), {}, TypeError, "x must be a torch.Tensor, got list",
        "normal-forward-list"),
    row(forward_of(NormalAlphaLayer), (torch.ones(4, 1),), {}, ValueError,
        r"x must have at least 2 samples along dim=-1, got 1", "normal-forward-one-sample"),
    row(forward_of(NormalAlphaLayer, shape=(3, 1)), (torch.ones(8),), {}, ValueError,
        r"x must have at least 2 dims for an order of shape \(3, 1\)", "normal-forward-ndim"),
    row(forward_of(BetaAlphaLayer), (torch.ones(4, dtype=torch.complex64),), {}, TypeError,
        "x must be a real floating tensor", "beta-forward-complex"),
    row(StochasticFractionalLayer, (0,), {}, ValueError, "channels must be an int >= 1, got 0", "sfl-channels"),
    row(StochasticFractionalLayer, (-2,), {}, ValueError, "channels must be an int >= 1, got -2", "sfl-channels-neg"),
    row(StochasticFractionalLayer, ("4",), {}, TypeError, "channels must be an int >= 1, got str '4'", "sfl-channels-str"),
    row(StochasticFractionalLayer, (4,), {"num_samples": 0}, ValueError, "num_samples must be an int >= 1, got 0",
        "sfl-num-samples"),
    row(StochasticFractionalLayer, (4,), {"sampler": "uniform"}, ValueError,
        "sampler must be one of 'importance', 'stratified', 'control_variate', 'by_parts'; got 'uniform'",
        "sfl-sampler"),
    row(StochasticFractionalLayer, (4,), {"alpha_init": 1.0}, ValueError,
        r"alpha_init must lie in the open interval \(0, 1\), got 1", "sfl-alpha-init"),
    row(StochasticFractionalLayer, (4,), {"alpha_init": "0.5"}, TypeError, "alpha_init must be a finite real number",
        "sfl-alpha-init-str"),
    row(StochasticFractionalLayer, (4,), {"dt": 0.0}, ValueError, r"dt must be > 0 \(a finite time step\), got 0",
        "sfl-dt"),
    row(StochasticFractionalLayer, (4,), {"dt": INF}, ValueError, "dt must be a finite real number, got inf",
        "sfl-dt-inf"),
    row(StochasticFractionalLayer, (4,), {"dt": "1"}, TypeError, "dt must be a finite real number, got str",
        "sfl-dt-str"),
    row(forward_of(StochasticFractionalLayer, channels=4), (torch.ones(2, 10, 3),), {}, ValueError,
        r"input must have shape \(batch, time, 4\), got \(2, 10, 3\)", "sfl-forward-channels"),
    row(forward_of(StochasticFractionalLayer, channels=4), (torch.ones(10, 4),), {}, ValueError,
        r"input must have shape \(batch, time, 4\), got \(10, 4\)", "sfl-forward-2d"),
    row(forward_of(StochasticFractionalLayer, channels=4), (torch.ones(2, 1, 4),), {}, ValueError,
        "input needs at least 2 time steps, got 1", "sfl-forward-one-step"),
    row(forward_of(StochasticFractionalLayer, channels=4), (torch.ones(2, 10, 4, dtype=torch.long),), {}, TypeError,
        r"input must be a real floating tensor of the layer's dtype \(torch.float32\), got torch.int64",
        "sfl-forward-int"),
    row(forward_of(StochasticFractionalLayer, channels=4), (torch.ones(2, 10, 4, dtype=F64),), {}, TypeError,
        r"input must have the dtype of the layer's parameters \(torch.float32\), got torch.float64",
        "sfl-forward-dtype"),
    row(forward_of(StochasticFractionalLayer, channels=4), (torch.full((2, 10, 4), NAN),), {}, ValueError,
        "input contains NaN or inf", "sfl-forward-nan"),
    row(forward_of(StochasticFractionalLayer, channels=4), ([1.0],), {}, TypeError,
        "input must be a torch.Tensor, got list", "sfl-forward-list"),
    row(SpectralFractionalConv2d, (0, 4), {}, ValueError, "in_channels must be an int >= 1, got 0", "sfc-in"),
    row(SpectralFractionalConv2d, (-1, 4), {}, ValueError, "in_channels must be an int >= 1, got -1", "sfc-in-neg"),
    row(SpectralFractionalConv2d, (2, 0), {}, ValueError, "out_channels must be an int >= 1, got 0", "sfc-out"),
    row(SpectralFractionalConv2d, (2.0, 4), {}, TypeError, "in_channels must be an int >= 1, got float",
        "sfc-in-float"),
    row(SpectralFractionalConv2d, (2, 4), {"alpha_init": 2.0}, ValueError,
        r"alpha_init must lie in the open interval \(0, 2\), got 2", "sfc-alpha-init"),
    row(SpectralFractionalConv2d, (2, 4), {"alpha_init": NAN}, ValueError, "alpha_init must be a finite real number",
        "sfc-alpha-init-nan"),
    row(SpectralFractionalConv2d, (2, 4), {"padding": "reflect"}, ValueError,
        "padding must be one of 'periodic', 'zero'; got 'reflect'", "sfc-padding"),
    row(forward_of(SpectralFractionalConv2d, in_channels=2, out_channels=4), (torch.ones(1, 3, 8, 8),), {}, ValueError,
        r"x must have shape \(batch, 2, height, width\) or \(2, height, width\).*got \(1, 3, 8, 8\)",
        "sfc-forward-channels"),
    row(forward_of(SpectralFractionalConv2d, in_channels=2, out_channels=4), (torch.ones(8, 8),), {}, ValueError,
        r"x must have shape \(batch, 2, height, width\)", "sfc-forward-2d"),
    row(forward_of(SpectralFractionalConv2d, in_channels=2, out_channels=4), (torch.ones(1, 2, 1, 8),), {}, ValueError,
        r"x must have shape .* with height, width >= 2", "sfc-forward-one-row"),
    row(forward_of(SpectralFractionalConv2d, in_channels=2, out_channels=4), (torch.ones(1, 2, 8, 8, dtype=torch.long),),
        {}, TypeError, r"x must be a real floating tensor of the layer's dtype \(torch.float32\)", "sfc-forward-int"),
    row(forward_of(SpectralFractionalConv2d, in_channels=2, out_channels=4), (torch.full((1, 2, 8, 8), NAN),), {},
        ValueError, "x contains NaN or inf", "sfc-forward-nan"),
]


# ---------------------------------------------------------------------------------------------------
# models: the four zoo constructors (bad hparams), their forward with a bad input, predict_alpha

@functools.cache
def tiny_regressor() -> BayesianAlphaRegressor:
    torch.manual_seed(0)
    return BayesianAlphaRegressor(width=4, dilations=(1, 2), hidden=4)


def predict_alpha(*args, **kwargs):
    return tiny_regressor().predict_alpha(*args, **kwargs)


POS_RATE = r"must be a finite number in \(0, inf\)"
NONNEG = r"must be a finite number in \[0, inf\)"
MODELS = [
    row(BayesianAlphaRegressor, (), {"dim": 4}, ValueError, "dim must be one of 1, 2, 3; got 4", "bar-dim"),
    row(BayesianAlphaRegressor, (), {"width": 0}, ValueError, "width must be an int >= 1, got 0", "bar-width"),
    row(BayesianAlphaRegressor, (), {"width": 32.0}, TypeError, "width must be an int >= 1, got float 32.0",
        "bar-width-float"),
    row(BayesianAlphaRegressor, (), {"hidden": 0}, ValueError, "hidden must be an int >= 1, got 0", "bar-hidden"),
    row(BayesianAlphaRegressor, (), {"hidden": -3}, ValueError, "hidden must be an int >= 1, got -3", "bar-hidden-neg"),
    row(BayesianAlphaRegressor, (), {"hidden": 2.5}, TypeError, "hidden must be an int >= 1, got float",
        "bar-hidden-float"),
    row(BayesianAlphaRegressor, (), {"dilations": ()}, ValueError,
        r"dilations must be a non-empty list of ints >= 1, got \(\)", "bar-dilations"),
    row(BayesianAlphaRegressor, (), {"kernel_size": 2}, ValueError, "kernel_size must be an odd int >= 1, got 2",
        "bar-kernel"),
    row(BayesianAlphaRegressor, (), {"std_floor": 0.0}, ValueError, r"std_floor must be a finite number in \(0, 1\), got 0.0",
        "bar-std-floor"),
    row(BayesianAlphaRegressor, (), {"nll_beta": NAN}, ValueError, r"nll_beta must be a finite number in \[0, 1\], got nan",
        "bar-nll-beta"),
    row(BayesianAlphaRegressor, (), {"lr": 0.0}, ValueError, r"lr must be a finite number in \(0, inf\), got 0.0", "bar-lr"),
    row(BayesianAlphaRegressor, (), {"lr": INF}, ValueError, f"lr {POS_RATE}, got inf", "bar-lr-inf"),
    row(BayesianAlphaRegressor, (), {"weight_decay": -1.0}, ValueError, f"weight_decay {NONNEG}, got -1.0",
        "bar-weight-decay"),
    row(BayesianAlphaRegressor, (), {"weight_decay": NAN}, ValueError, f"weight_decay {NONNEG}, got nan",
        "bar-weight-decay-nan"),
    row(BayesianAlphaRegressor, (), {"warmup_steps": -1}, ValueError, "warmup_steps must be an int >= 0, got -1",
        "bar-warmup"),
    row(BayesianAlphaRegressor, (), {"buckets": 0}, ValueError, "buckets must be an int >= 1, got 0", "bar-buckets"),
    row(BayesianAlphaRegressor, (), {"buckets": 1.5}, TypeError, "buckets must be an int >= 1, got float",
        "bar-buckets-float"),
    row(predict_alpha, ([],), {}, ValueError, r"trajectories is an empty list; give at least one \(T, dim\) trajectory",
        "pa-empty-list"),
    row(predict_alpha, ([torch.randn(5, 1)],), {}, ValueError,
        "every trajectory needs at least 10 positions; trajectory 0 has 5", "pa-short"),
    row(predict_alpha, ([torch.full((12, 1), NAN)],), {}, ValueError,
        r"trajectories\[0\] contains NaN or inf; positions must be finite", "pa-nan"),
    row(predict_alpha, ([torch.ones(12, 1, dtype=torch.complex64)],), {}, TypeError,
        r"trajectories\[0\] must be real, got torch.complex64", "pa-complex"),
    row(predict_alpha, ([np.array(["a"] * 12)],), {}, TypeError, r"trajectories\[0\] must hold real numbers",
        "pa-strings"),
    row(predict_alpha, ([torch.randn(12, 2)],), {}, ValueError,
        r"trajectories\[0\] must have shape \(T, 1\) for this dim=1 model, got \(12, 2\)", "pa-wrong-dim"),
    row(predict_alpha, ([[1.0] * 12],), {}, TypeError,
        r"trajectories\[0\] must be a numpy array or a torch tensor, got list", "pa-list-of-lists"),
    row(predict_alpha, ("abc",), {}, TypeError, "trajectories must be a numpy array or a torch tensor, got str",
        "pa-str"),
    row(predict_alpha, (torch.randn(2, 12),), {}, ValueError, r"padded tensor of shape \(B >= 1, T, 1\), got shape \(2, 12\)",
        "pa-padded-2d"),
    row(predict_alpha, (torch.randn(0, 12, 1),), {}, ValueError, r"shape \(B >= 1, T, 1\), got shape \(0, 12, 1\)",
        "pa-padded-empty"),
    row(predict_alpha, (torch.randn(2, 12, 1), torch.tensor([12.0, 12.0])), {}, ValueError,
        r"lengths must be an integer tensor of shape \(2,\), got torch.float32", "pa-lengths-float"),
    row(predict_alpha, (torch.randn(2, 12, 1), torch.tensor([12])), {}, ValueError,
        r"lengths must be an integer tensor of shape \(2,\)", "pa-lengths-shape"),
    row(predict_alpha, (torch.randn(2, 12, 1), torch.tensor([12, 13])), {}, ValueError,
        "lengths must be <= the padded length T=12, got 13", "pa-lengths-long"),
    row(predict_alpha, (torch.randn(2, 12, 1), torch.tensor([12, -3])), {}, ValueError,
        "every trajectory needs at least 10 positions; trajectory 1 has -3", "pa-lengths-neg"),
    row(predict_alpha, ([torch.randn(12, 1)], torch.tensor([12])), {}, ValueError,
        r"lengths is only for a padded \(B, T, dim\) tensor", "pa-lengths-with-list"),
    row(predict_alpha, ([torch.randn(12, 1)],), {"batch_size": 0}, ValueError, "batch_size must be an int >= 1, got 0",
        "pa-batch-size"),
    row(predict_alpha, ([torch.randn(12, 1)],), {"batch_size": 1.5}, TypeError,
        "batch_size must be an int >= 1, got float 1.5", "pa-batch-size-float"),
    row(predict_alpha, ([torch.randn(12, 1)],), {"symmetrize": 1}, TypeError,
        "symmetrize must be True or False, got int 1", "pa-symmetrize-int"),
    row(NeuralFODE, (), {"state_dim": 0}, ValueError, "state_dim must be an int >= 1, got 0", "nf-state-dim"),
    row(NeuralFODE, (), {"hidden": -1}, ValueError, "hidden must be an int >= 1, got -1", "nf-hidden"),
    row(NeuralFODE, (), {"depth": 0}, ValueError, "depth must be an int >= 1, got 0", "nf-depth"),
    row(NeuralFODE, (), {"alpha_init": 1.0}, ValueError, r"alpha_init must lie in the open interval \(0, 1\), got 1",
        "nf-alpha-init"),
    row(NeuralFODE, (), {"alpha_init": NAN}, ValueError, "alpha_init must be a finite real number, got nan",
        "nf-alpha-init-nan"),
    row(NeuralFODE, (), {"alpha_init": "0.5"}, TypeError, "alpha_init must be a finite real number, got str",
        "nf-alpha-init-str"),
    row(NeuralFODE, (), {"method": "rk4"}, ValueError, "method must be one of 'pece', 'trapezoid', 'l1'; got 'rk4'",
        "nf-method"),
    row(NeuralFODE, (), {"gradient": "magic"}, ValueError, "gradient must be one of 'direct', 'adjoint', 'deq'; got 'magic'",
        "nf-gradient"),
    row(NeuralFODE, (), {"gradient": "deq", "method": "pece"}, ValueError,
        r"gradient='deq' needs an implicit method \('trapezoid' or 'l1'\)", "nf-deq-pece"),
    row(NeuralFODE, (), {"parallel": "auto"}, TypeError,
        r"parallel must be True, False or None \(fodeint's automatic choice\), got str 'auto'", "nf-parallel-type"),
    row(NeuralFODE, (), {"parallel": True, "method": "pece"}, ValueError,
        r"parallel=True needs an implicit method \('trapezoid' or 'l1'\)", "nf-parallel-pece"),
    row(NeuralFODE, (), {"lr": 0.0}, ValueError, f"lr {POS_RATE}, got 0.0", "nf-lr"),
    row(NeuralFODE, (), {"alpha_lr": -1.0}, ValueError, f"alpha_lr {POS_RATE}, got -1.0", "nf-alpha-lr"),
    row(NeuralFODE, (), {"weight_decay": -1.0}, ValueError, f"weight_decay {NONNEG}, got -1.0", "nf-weight-decay"),
    row(forward_of(NeuralFODE, hidden=4, depth=1), (torch.ones(3, 3), torch.linspace(0, 1, 5)), {}, ValueError,
        r"y0 must have shape \(batch, state_dim=2\), got \(3, 3\)", "nf-forward-state-dim"),
    row(forward_of(NeuralFODE, hidden=4, depth=1), (torch.ones(2), torch.linspace(0, 1, 5)), {}, ValueError,
        r"y0 must have shape \(batch, state_dim=2\), got \(2,\)", "nf-forward-unbatched"),
    row(forward_of(NeuralFODE, hidden=4, depth=1), (torch.ones(3, 2, dtype=F64), torch.linspace(0, 1, 5)), {},
        TypeError, r"y0 must have the dtype of the layer's parameters \(torch.float32\)", "nf-forward-dtype"),
    row(forward_of(NeuralFODE, hidden=4, depth=1), (torch.ones(3, 2), torch.linspace(0, 1, 5) ** 2), {}, ValueError,
        r"t must be a uniform grid", "nf-forward-t-nonuniform"),
    row(forward_of(NeuralFODE, hidden=4, depth=1), (torch.ones(3, 2), [0.0, 0.5, 1.0]), {}, TypeError,
        r"t must be a torch.Tensor \(a uniform time grid of shape \(N,\)\), got list", "nf-forward-t-list"),
    row(SpectralFractionalCNN, (), {"task": "segmentation"}, ValueError,
        "task must be one of 'regression', 'classification'; got 'segmentation'", "cnn-task"),
    row(SpectralFractionalCNN, (), {"task": "classification", "num_outputs": 1}, ValueError,
        "classification needs num_outputs >= 2 classes, got 1", "cnn-classes"),
    row(SpectralFractionalCNN, (), {"num_outputs": 0}, ValueError, "num_outputs must be an int >= 1, got 0",
        "cnn-num-outputs"),
    row(SpectralFractionalCNN, (), {"in_channels": 0}, ValueError, "in_channels must be an int >= 1, got 0",
        "cnn-in-channels"),
    row(SpectralFractionalCNN, (), {"channels": ()}, ValueError, r"channels must be a non-empty list of ints >= 1, got \(\)",
        "cnn-channels-empty"),
    row(SpectralFractionalCNN, (), {"channels": (4, -1)}, ValueError,
        r"channels must be a non-empty list of ints >= 1, got \(4, -1\)", "cnn-channels-neg"),
    row(SpectralFractionalCNN, (), {"channels": (2.5,)}, TypeError, r"channels must be a non-empty list of ints >= 1, got \(2.5,\) \(holding float 2.5\)",
        "cnn-channels-float"),
    row(SpectralFractionalCNN, (), {"hidden": -1}, ValueError, "hidden must be an int >= 1, got -1", "cnn-hidden"),
    row(SpectralFractionalCNN, (), {"alpha_init": 2.0}, ValueError,
        r"alpha_init must lie in the open interval \(0, 2\), got 2", "cnn-alpha-init"),
    row(SpectralFractionalCNN, (), {"padding": "reflect"}, ValueError, "padding must be one of 'periodic', 'zero'",
        "cnn-padding"),
    row(SpectralFractionalCNN, (), {"lr": 0.0}, ValueError, f"lr {POS_RATE}, got 0.0", "cnn-lr"),
    row(SpectralFractionalCNN, (), {"weight_decay": -0.1}, ValueError, f"weight_decay {NONNEG}, got -0.1",
        "cnn-weight-decay"),
    row(forward_of(SpectralFractionalCNN, channels=(2,), hidden=2), (torch.ones(1, 3, 8, 8),), {}, ValueError,
        r"x must have shape \(batch, in_channels=1, height, width\), got \(1, 3, 8, 8\)", "cnn-forward-channels"),
    row(forward_of(SpectralFractionalCNN, channels=(2,), hidden=2), (torch.ones(1, 8, 8),), {}, ValueError,
        r"x must have shape \(batch, in_channels=1, height, width\), got \(1, 8, 8\)", "cnn-forward-3d"),
    row(forward_of(SpectralFractionalCNN, channels=(2,), hidden=2), (torch.ones(1, 1, 8, 8, dtype=torch.long),), {},
        TypeError, "x must be a real floating tensor", "cnn-forward-int"),
    row(StochasticMemorySeq, (), {"gate": "learned"}, ValueError, "gate must be one of 'posterior', 'static'",
        "seq-gate"),
    row(StochasticMemorySeq, (), {"num_orders": 0}, ValueError, "num_orders must be an int >= 1, got 0",
        "seq-num-orders"),
    row(StochasticMemorySeq, (), {"ar_lags": -1}, ValueError, "ar_lags must be an int >= 0, got -1", "seq-ar-lags"),
    row(StochasticMemorySeq, (), {"order_range": (0.3, 0.2)}, ValueError,
        r"order_range must be \(low, high\) with 0 <= low < high <= 1, got \(0.3, 0.2\)", "seq-order-range"),
    row(StochasticMemorySeq, (), {"temperature": 0.0}, ValueError,
        r"temperature must be a finite number in \(0, inf\), got 0.0", "seq-temperature"),
    row(StochasticMemorySeq, (), {"lr": -1.0}, ValueError, f"lr {POS_RATE}, got -1.0", "seq-lr"),
    row(StochasticMemorySeq, (), {"weight_decay": -1.0}, ValueError, f"weight_decay {NONNEG}, got -1.0",
        "seq-weight-decay"),
    row(forward_of(StochasticMemorySeq, num_orders=2), (torch.ones(1, 5, 1),), {}, ValueError,
        r"x must have shape \(batch, time\) with time >= 2, got \(1, 5, 1\)", "seq-forward-3d"),
    row(forward_of(StochasticMemorySeq, num_orders=2), (torch.ones(1, 1),), {}, ValueError,
        r"x must have shape \(batch, time\) with time >= 2, got \(1, 1\)", "seq-forward-one-step"),
    row(forward_of(StochasticMemorySeq, num_orders=2), (torch.ones(1, 5, dtype=torch.long),), {},
        TypeError, "x must be a real floating tensor", "seq-forward-int"),
    row(forward_of(StochasticMemorySeq, num_orders=2), (torch.full((1, 5), NAN),), {}, ValueError,
        "x contains NaN or inf", "seq-forward-nan"),
    row(forward_of(StochasticMemorySeq, num_orders=2), ([1.0, 2.0],), {}, TypeError,
        "x must be a torch.Tensor, got list", "seq-forward-list"),
]

TABLE = OPS_TIME + OPS_MELLIN + OPS_SPECTRAL + OPS_ML + FODE + NN + MODELS


@pytest.mark.parametrize("fn, args, kwargs, exc, match", TABLE)
def test_bad_input_raises(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match) as info:
        fn(*args, **kwargs)
    assert type(info.value) is exc  # not a subclass from deep inside torch


def test_table_ids_are_unique():
    ids = [p.id for p in TABLE]
    assert len(ids) == len(set(ids))

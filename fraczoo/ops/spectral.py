"""FFT engine: fractional derivatives of periodic signals as Fourier multipliers.

A periodic signal sampled on a uniform grid, x_n = x(n dx), n = 0..N-1, is a trigonometric
polynomial sum_k X_k e^{i k x} with wavenumbers k = 2 pi fftfreq(N, dx). A translation-invariant
fractional operator acts on e^{i k x} by multiplication with its symbol sigma(k):

    Weyl derivative        D^alpha e^{ikx} = (i k)^alpha e^{ikx},
                           (i k)^alpha = |k|^alpha exp(i pi alpha sign(k) / 2)
    Riesz derivative       -(-Delta)^(alpha/2) e^{ikx} = -|k|^alpha e^{ikx}
    fractional Laplacian   (-Delta)^(alpha/2) e^{i k.x} = |k|^alpha e^{i k.x}   (n-D, |k|^2 = sum k_d^2)

(Samko, Kilbas & Marichev, "Fractional Integrals and Derivatives", 1993, Sec. 19 (Weyl) and
Sec. 25-26 (Riesz); Kwasnicki, "Ten equivalent definitions of the fractional Laplace operator",
FCAA 20 (2017)). So D^alpha sin(m x) = m^alpha sin(m x + alpha pi / 2), exact to round-off on
trigonometric polynomials. Negative Weyl orders are the Weyl fractional integral of the zero-mean part.

Conventions for a real result (rfft layout, bins k >= 0):

* zero mode: 0^alpha is 0 for alpha != 0 and 1 for alpha = 0 (so alpha = 0 is the identity, and a
  negative Weyl order drops the mean). The zero mode gets no gradient in alpha, never a NaN from log(0).
* Nyquist mode (even N): the single rfft bin at k_N = pi / dx stands for both +k_N and -k_N, whose
  Weyl symbols are complex conjugates. Only the real part k_N^alpha cos(pi alpha / 2) gives a real
  result, and it is also exact: on the grid sin(k_N x_n) = 0, so the samples of
  D^alpha cos(k_N x) = k_N^alpha cos(k_N x + pi alpha / 2) are k_N^alpha cos(pi alpha / 2) cos(k_N x_n).

Backward passes are the adjoint multipliers (conjugate symbol) plus the exact derivative of the symbol
in alpha, evaluated in Fourier space through Parseval (no extra FFT). They are built from differentiable
ops, so double backward works too.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.autograd import Function

from fraczoo._checks import (as_alpha_tensor, check_alpha, check_choice, check_dim, check_positive, check_real,
                             check_tensor)
from fraczoo.ops._toeplitz import _fft_size

WEYL_RANGE = (-2.0, 2.0)
RIESZ_RANGE = (0.0, 2.0)
KINDS = ("weyl", "riesz")
PADDINGS = ("periodic", "zero")
_HALF_PI = 0.5 * math.pi


# ----------------------------------------------------------------------------------------------------
# wavenumber grids (cached: building them costs as much as the multiply itself at small sizes).
# Built outside inference mode, so a grid first made under torch.inference_mode() can later be saved
# for backward.

@functools.lru_cache(maxsize=64)
@torch.inference_mode(False)
def _log_wavenumbers(sizes: tuple[int, ...], dxs: tuple[float, ...], dtype: torch.dtype,
                     device: torch.device) -> Tensor:
    """log|k| on the rfftn grid of ``sizes`` (last dim halved), with 0 at the zero mode.

    Returned shape: (sizes[0], ..., sizes[-1] // 2 + 1). The zero mode is masked by the caller.
    """
    ksq = None
    for axis, (n, dx) in enumerate(zip(sizes, dxs)):
        last = axis == len(sizes) - 1
        freq = torch.fft.rfftfreq(n, d=dx, dtype=torch.float64, device=device) if last else \
            torch.fft.fftfreq(n, d=dx, dtype=torch.float64, device=device)
        k = (2.0 * math.pi * freq).reshape((-1,) + (1,) * (len(sizes) - 1 - axis))
        ksq = k * k if ksq is None else ksq + k * k
    logk = 0.5 * torch.log(torch.where(ksq > 0, ksq, torch.ones_like(ksq)))
    return logk.to(dtype)


@functools.lru_cache(maxsize=64)
@torch.inference_mode(False)
def _parseval_scale(sizes: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """w_j / N with sum_n g_n y_n = sum_j w_j Re(Y_j conj G_j) / N over the rfft bins j of the last dim.

    Interior bins stand for +k and -k (weight 2); the zero and Nyquist bins only for themselves.
    """
    n_last = sizes[-1]
    w = torch.full((n_last // 2 + 1,), 2.0, dtype=torch.float64)
    w[0] = 1.0
    if n_last % 2 == 0:
        w[-1] = 1.0
    return (w / math.prod(sizes)).to(dtype=dtype, device=device)


def _order_shape_check(alpha: Tensor, x: Tensor, dims: Sequence[int], name: str = "alpha") -> None:
    """A tensor order broadcasts against ``x`` and has size 1 along every transformed dim.

    ``dims`` are negative (counted from the right), so they name the same axes of ``x`` and of the
    broadcast result even when ``alpha`` has more dims than ``x``.
    """
    try:
        torch.broadcast_shapes(alpha.shape, x.shape)
    except RuntimeError:
        raise ValueError(f"{name} of shape {tuple(alpha.shape)} does not broadcast against the input of "
                         f"shape {tuple(x.shape)}") from None
    for d in dims:
        if alpha.ndim + d >= 0 and alpha.shape[d] != 1:
            raise ValueError(f"{name} of shape {tuple(alpha.shape)} must have size 1 along the transformed "
                             f"dim {d} of the input (one order per channel, e.g. shape (C, 1))")


def _view_at(t: Tensor, dim: int) -> Tensor:
    """Append singleton dims so that t's leading axis lines up with the negative axis ``dim``."""
    return t.reshape(tuple(t.shape) + (1,) * (-dim - t.ndim))


def _magnitude(alpha, logk: Tensor, zero_mode: Tensor) -> Tensor:
    """|k|^alpha with 0^alpha = [alpha == 0]; torch.where keeps NaN out of the alpha gradient."""
    if not isinstance(alpha, Tensor):
        mag = torch.exp(alpha * logk)
        return mag.masked_fill(zero_mode, 1.0 if alpha == 0 else 0.0)
    at_zero = (alpha == 0).to(logk.dtype)
    return torch.where(zero_mode, at_zero, torch.exp(alpha * logk))


# ----------------------------------------------------------------------------------------------------
# the multiplier core shared by both Functions

def _crop(y: Tensor, dims: Sequence[int], out_sizes: Sequence[int]) -> Tensor:
    for d, n in zip(dims, out_sizes):
        if y.shape[d] != n:
            y = y.narrow(d, 0, n)
    return y


def _rfft(x: Tensor, dims: tuple[int, ...], sizes: tuple[int, ...]) -> Tensor:
    if len(dims) == 1:
        return torch.fft.rfft(x, n=sizes[0], dim=dims[0])
    return torch.fft.rfftn(x, s=sizes, dim=dims)


def _irfft(spec: Tensor, dims: tuple[int, ...], sizes: tuple[int, ...]) -> Tensor:
    if len(dims) == 1:
        return torch.fft.irfft(spec, n=sizes[0], dim=dims[0])
    return torch.fft.irfftn(spec, s=sizes, dim=dims)


def _symbol_grads(spec: Tensor, grad_spec: Tensor, symbol_shape, dims, sizes):
    """dL/dRe(sigma), dL/dIm(sigma) for y = irfftn(sigma * spec), summed down to ``symbol_shape``.

    Parseval: L = sum_n g_n y_n = sum_j w_j Re(sigma_j X_j conj G_j) / N.
    """
    # Reduce over the batch first (complex sum), then scale the few remaining entries.
    prod = (spec * grad_spec.conj()).sum_to_size(symbol_shape)
    scale = _view_at(_parseval_scale(sizes, spec.real.dtype, spec.device), dims[-1])
    return prod.real * scale, prod.imag * scale.neg()


class _MultiplierFunction(Function):
    """Shared forward/backward of y = crop(irfftn(sigma(alpha) * rfftn(x, s))).

    Subclasses give ``_symbol(alpha, x, params) -> (re, im or None)`` and its alpha derivative.
    ``params`` is a hashable tuple that starts with (dims, sizes, out_sizes).
    """

    @staticmethod
    def _symbol(alpha, x, params):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _symbol_dalpha(alpha, x, params, re, im):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _run(cls, ctx, x, alpha_in, alpha, params):
        """``alpha_in``: the order as passed (saved, so double backward reaches it); ``alpha``: as used."""
        dims, sizes, out_sizes = params[:3]
        re, im = cls._symbol(alpha, x, params)
        symbol = re if im is None else torch.complex(re, im)
        spec = _rfft(x, dims, sizes)
        y = _crop(_irfft(spec * symbol, dims, sizes), dims, out_sizes)
        alpha_grad = isinstance(alpha, Tensor) and ctx.needs_input_grad[1]
        ctx.params = params
        ctx.x_shape = x.shape
        ctx.alpha_is_tensor = isinstance(alpha, Tensor)
        ctx.float_alpha = None if ctx.alpha_is_tensor else alpha
        ctx.save_for_backward(x, alpha_in if ctx.alpha_is_tensor else None, spec if alpha_grad else None)
        return y

    @classmethod
    def _grads(cls, ctx, grad_y):
        x, alpha_in, spec = ctx.saved_tensors
        alpha = as_alpha_tensor(alpha_in, x) if ctx.alpha_is_tensor else ctx.float_alpha
        params = ctx.params
        dims, sizes = params[:2]
        # Recomputed (cheap, O(symbol)) so that under create_graph the result is differentiable again.
        re, im = cls._symbol(alpha, x, params)
        conj_symbol = re if im is None else torch.complex(re, -im)
        grad_spec = _rfft(grad_y, dims, sizes)
        grad_x = grad_alpha = None
        if ctx.needs_input_grad[0]:
            grad_x = _crop(_irfft(grad_spec * conj_symbol, dims, sizes), dims, ctx.params[2])
            grad_x = grad_x.sum_to_size(ctx.x_shape)
        if ctx.alpha_is_tensor and ctx.needs_input_grad[1]:
            if spec is None or torch.is_grad_enabled():
                spec = _rfft(x, dims, sizes)
            d_re, d_im = _symbol_grads(spec, grad_spec, re.shape, dims, sizes)
            dre, dim_ = cls._symbol_dalpha(alpha, x, params, re, im)
            total = d_re * dre if dim_ is None else d_re * dre + d_im * dim_
            grad_alpha = total.sum_to_size(alpha_in.shape).to(dtype=alpha_in.dtype, device=alpha_in.device)
        return grad_x, grad_alpha


# ----------------------------------------------------------------------------------------------------
# 1-D Weyl / Riesz derivative

class SpectralFractionalDerivative(_MultiplierFunction):
    """Weyl (or Riesz) fractional derivative of a periodic signal as a ``torch.autograd.Function``.

    ``SpectralFractionalDerivative.apply(x, alpha)`` is the seed-compatible call: Weyl symbol
    (i k)^alpha, dx = 1, along the last dim. The full form is
    ``apply(x, alpha, dx=1.0, dim=-1, kind="weyl")`` and equals :func:`spectral_derivative`.
    Backward: conjugate symbol for ``x``; exact d sigma / d alpha for a tensor ``alpha``.
    """

    @staticmethod
    def forward(ctx, x, alpha, dx=1.0, dim=-1, kind="weyl"):
        x, alpha_used, params = _prepare_1d(x, alpha, dx, dim, kind)
        return SpectralFractionalDerivative._run(ctx, x, alpha, alpha_used, params)

    @staticmethod
    def backward(ctx, grad_y):
        return SpectralFractionalDerivative._grads(ctx, grad_y) + (None, None, None)

    @staticmethod
    def _symbol(alpha, x, params):
        dims, sizes, _, dx, kind = params
        if not isinstance(alpha, Tensor):
            re, im = _cached_symbol_1d(sizes[0], dx, float(alpha), kind, x.dtype, x.device)
            return _view_at(re, dims[0]), None if im is None else _view_at(im, dims[0])
        logk, zero_mode, imag_mask = _grid_1d(sizes[0], dx, x.dtype, x.device, dims[0])
        mag = _magnitude(alpha, logk, zero_mode)
        if kind == "riesz":
            return mag.neg(), None
        phase = _HALF_PI * alpha
        # The imaginary part is dropped at the zero and Nyquist bins (see module docstring).
        return mag * torch.cos(phase), mag * torch.sin(phase) * imag_mask

    @staticmethod
    def _symbol_dalpha(alpha, x, params, re, im):
        dims, sizes, _, dx, kind = params
        logk, zero_mode, imag_mask = _grid_1d(sizes[0], dx, x.dtype, x.device, dims[0])
        if kind == "riesz":
            return re * logk, None
        # d/dalpha of |k|^a (cos, sin)(pi a / 2) with the unmasked imaginary part; logk = 0 at k = 0,
        # where the magnitude is constant in alpha, so that bin gets no gradient.
        mag = _magnitude(alpha, logk, zero_mode)
        mag = torch.where(zero_mode, torch.zeros_like(mag), mag)
        phase = _HALF_PI * alpha
        full_im = mag * torch.sin(phase)
        d_re = re * logk - _HALF_PI * full_im
        d_im = (full_im * logk + _HALF_PI * mag * torch.cos(phase)) * imag_mask
        return d_re, d_im


def _grid_1d(n: int, dx: float, dtype, device, dim: int):
    logk, zero_mode, imag_mask = _grid_1d_flat(n, dx, dtype, device)
    return _view_at(logk, dim), _view_at(zero_mode, dim), _view_at(imag_mask, dim)


@functools.lru_cache(maxsize=64)
@torch.inference_mode(False)
def _grid_1d_flat(n: int, dx: float, dtype, device):
    """log|k|, the zero-mode mask and the mask of bins whose symbol may be complex (not 0, not Nyquist)."""
    logk = _log_wavenumbers((n,), (dx,), dtype, device)
    zero_mode = torch.zeros(logk.shape, dtype=torch.bool)
    zero_mode[0] = True
    imag_mask = torch.ones(logk.shape, dtype=torch.float64)
    imag_mask[0] = 0.0
    if n % 2 == 0:
        imag_mask[-1] = 0.0
    return logk, zero_mode.to(device), imag_mask.to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=64)
@torch.inference_mode(False)
def _cached_symbol_1d(n: int, dx: float, alpha: float, kind: str, dtype, device):
    """Symbol for a float order along a 1-D axis (shape (n // 2 + 1,)); callers reshape it."""
    logk = _log_wavenumbers((n,), (dx,), torch.float64, device)
    zero_mode = torch.zeros_like(logk, dtype=torch.bool)
    zero_mode[0] = True
    mag = _magnitude(alpha, logk, zero_mode)
    if kind == "riesz":
        return mag.neg().to(dtype), None
    re = mag * math.cos(_HALF_PI * alpha)
    im = mag * math.sin(_HALF_PI * alpha)
    im[0] = 0.0
    if n % 2 == 0:
        im[-1] = 0.0
    return re.to(dtype), im.to(dtype)


def _prepare_1d(x, alpha, dx, dim, kind):
    check_tensor(x, "x")
    check_choice(kind, "kind", KINDS)
    lo, hi = WEYL_RANGE if kind == "weyl" else RIESZ_RANGE
    check_alpha(alpha, lo, hi)
    dx = check_positive(dx, "dx")
    dim = check_dim(x, dim, x_name="x") - x.ndim  # negative: the same axis of x, of alpha and of the result
    n = x.shape[dim]
    if n < 2:
        raise ValueError(f"x must have at least 2 samples along dim={dim}, got {n}")
    if isinstance(alpha, Tensor):
        _order_shape_check(alpha, x, (dim,))
        alpha = as_alpha_tensor(alpha, x)
    else:
        alpha = float(alpha)
    return x, alpha, ((dim,), (n,), (n,), dx, kind)


def spectral_derivative(x: Tensor, alpha, *, dx: float = 1.0, dim: int = -1, kind: str = "weyl") -> Tensor:
    """Fractional derivative of a periodic signal sampled on a uniform grid, by FFT.

    kind="weyl":  symbol (i k)^alpha, alpha in [-2, 2] (alpha < 0: Weyl integral of the zero-mean part;
                  alpha = 1, 2 are d/dx and d^2/dx^2 of the trigonometric interpolant).
    kind="riesz": symbol -|k|^alpha, i.e. -(-Delta)^(alpha/2), alpha in [0, 2].

    ``k = 2 pi fftfreq(N, dx)``; the zero and Nyquist modes follow the module docstring. ``alpha`` is a
    float or a tensor (0-d, or broadcastable against ``x`` with size 1 along ``dim``: one order per
    channel); the result has the broadcast shape. Differentiable in ``x`` and a tensor ``alpha``.
    Spectrally accurate for smooth periodic signals; a non-periodic signal gets Gibbs ringing.
    """
    return SpectralFractionalDerivative.apply(x, alpha, dx, dim, kind)


# ----------------------------------------------------------------------------------------------------
# n-D fractional Laplacian

class _FractionalLaplacianFunction(_MultiplierFunction):
    """(-Delta)^(alpha/2) over ``dims`` (ascending), zero-padded to ``sizes`` and cropped back."""

    @staticmethod
    def forward(ctx, u, alpha_in, alpha, params):
        return _FractionalLaplacianFunction._run(ctx, u, alpha_in, alpha, params)

    @staticmethod
    def backward(ctx, grad_y):
        return _FractionalLaplacianFunction._grads(ctx, grad_y) + (None, None)

    @staticmethod
    def _symbol(alpha, u, params):
        logk, zero_mode = _grid_nd(u, params)
        return _magnitude(alpha, logk, zero_mode), None

    @staticmethod
    def _symbol_dalpha(alpha, u, params, re, im):
        logk, _ = _grid_nd(u, params)
        return re * logk, None  # logk = 0 at the zero mode: no gradient there


def _grid_nd(u: Tensor, params):
    dims, sizes, _, dxs = params
    logk = _log_wavenumbers(sizes, dxs, u.dtype, u.device)
    zero_mode = torch.zeros_like(logk, dtype=torch.bool)
    zero_mode.view(-1)[0] = True
    # Put the grid's axes at the transformed (negative) dims (singletons at untouched dims in between).
    shape = [1] * (-dims[0])
    for d, n in zip(dims, logk.shape):
        shape[d - dims[0]] = n
    return logk.reshape(shape), zero_mode.reshape(shape)


def fractional_laplacian(u: Tensor, alpha, *, dx=1.0, dims=(-2, -1), padding: str = "periodic",
                         pad_factor: float = 2.0) -> Tensor:
    """Fractional Laplacian (-Delta)^(alpha/2) u on a uniform n-D grid by FFT, alpha in [0, 2].

    Symbol |k|^alpha with |k|^2 = sum_d k_d^2 over ``dims`` (any number of dims), k_d = 2 pi
    fftfreq(N_d, dx_d); 0^alpha = [alpha == 0]. ``dx`` is a float or one spacing per dim of ``dims``.

    padding="periodic": u is one period of a periodic field (exact on trigonometric polynomials).
    padding="zero": every transformed dim is zero-padded to at least ``pad_factor`` * N (rounded up to
    an FFT-friendly size) and the result cropped back. For u supported well inside the box this is the
    whole-space operator up to the periodic images of its |x|^(-n-alpha) tail, an error that falls like
    (pad_factor L)^(-n-alpha) with the padded box size; it needs ``pad_factor`` > 1.

    ``alpha``: float or tensor (0-d, or broadcastable against ``u`` with size 1 along every dim of
    ``dims``, e.g. (C, 1, 1) for (B, C, H, W)). Differentiable in ``u`` and a tensor ``alpha``.
    Reference: Kwasnicki, FCAA 20 (2017), definition via the Fourier transform.
    """
    check_tensor(u, "u")
    check_alpha(alpha, 0.0, 2.0)
    check_choice(padding, "padding", PADDINGS)
    if isinstance(dims, int):
        dims = (dims,)
    if not isinstance(dims, Sequence) or len(dims) == 0:
        raise ValueError(f"dims must be a non-empty sequence of ints, got {dims!r}")
    dims_norm = [check_dim(u, d, "dims", x_name="u") - u.ndim for d in dims]  # negative, see _order_shape_check
    if len(set(dims_norm)) != len(dims_norm):
        raise ValueError(f"dims must not repeat a dimension, got {tuple(dims)}")
    if isinstance(dx, (Sequence, Tensor)) and not (isinstance(dx, Tensor) and dx.ndim == 0):
        dxs = [check_positive(v, "dx") for v in dx]
        if len(dxs) != len(dims_norm):
            raise ValueError(f"dx must be a float or have one entry per dim in dims ({len(dims_norm)}), "
                             f"got {len(dxs)}")
    else:
        dxs = [check_positive(dx, "dx")] * len(dims_norm)
    order = sorted(range(len(dims_norm)), key=dims_norm.__getitem__)
    dims_sorted = tuple(dims_norm[i] for i in order)
    dxs_sorted = tuple(dxs[i] for i in order)
    out_sizes = tuple(u.shape[d] for d in dims_sorted)
    if min(out_sizes) < 2:
        raise ValueError(f"u must have at least 2 samples along every dim in dims, got sizes {out_sizes}")
    if padding == "zero":
        pad_factor = check_real(pad_factor, "pad_factor", 1.0, lo_open=True)
        sizes = tuple(_fft_size(math.ceil(pad_factor * n)) for n in out_sizes)
    else:
        sizes = out_sizes
    alpha_used = alpha
    if isinstance(alpha, Tensor):
        _order_shape_check(alpha, u, dims_sorted)
        alpha_used = as_alpha_tensor(alpha, u)
    else:
        alpha_used = float(alpha)
    params = (dims_sorted, sizes, out_sizes, dxs_sorted)
    return _FractionalLaplacianFunction.apply(u, alpha, alpha_used, params)

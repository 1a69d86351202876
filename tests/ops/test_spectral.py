"""FFT engine: Weyl / Riesz derivatives and the n-D fractional Laplacian against closed forms.

Closed forms used (float64 unless stated):
* D^a sin(m x) = m^a sin(m x + a pi/2), D^a cos(m x) = m^a cos(m x + a pi/2) (Weyl, Samko-Kilbas-Marichev
  Sec. 19); -(-Delta)^(a/2) sin(m x) = -|m|^a sin(m x) (Riesz).
* (-Delta)^(a/2) of a product of sines/cosines e_k: |k|^a e_k (eigenfunctions on the torus).
* Dyda, "Fractional calculus for power functions and eigenvalues of the fractional Laplacian",
  Fract. Calc. Appl. Anal. 15 (2012) 536-555, Theorem 1 (arXiv:1103.3387): for p > -1, |x| < 1,
  (-Delta)^(a/2) (1-|x|^2)_+^p = 2^a Gamma(p+1) Gamma((n+a)/2) / (Gamma(p+1-a/2) Gamma(n/2))
                                  * 2F1((n+a)/2, a/2-p; n/2; |x|^2).
  With a = 2s, p = 1+s the 2F1 terminates: 4^s Gamma(2+s) Gamma(n/2+s)/Gamma(n/2) (1 - (1+2s/n)|x|^2).
  (p = s gives the constant 4^s Gamma(1+s) Gamma(n/2+s)/Gamma(n/2), Getoor's formula.)
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from torch import Tensor
from torch.autograd import gradcheck, gradgradcheck

from fraczoo.ops.spectral import SpectralFractionalDerivative, fractional_laplacian, spectral_derivative

F64 = torch.float64
ALPHAS = [0.0, 0.3, 0.5, 1.0, 1.5, 2.0]


def grid(n: int, length: float = 2 * math.pi, dtype=F64):
    dx = length / n
    return torch.arange(n, dtype=dtype) * dx, dx


def observed_order(hs, errors) -> float:
    """Slope of log(error) against log(h) by least squares."""
    return float(np.polyfit(np.log(hs), np.log(errors), 1)[0])


# ---------------------------------------------------------------------------------------------------
# Weyl and Riesz on trigonometric polynomials

@pytest.mark.parametrize("alpha", ALPHAS + [-0.5, -1.7])
@pytest.mark.parametrize("m", [1, 3, 7, 31])
def test_weyl_sin_cos_exact(alpha, m):
    length = 3.7  # a non-2 pi period: k = 2 pi m / L
    x, dx = grid(64, length)
    k = 2 * math.pi * m / length
    scale = k ** alpha
    for f, phase in ((torch.sin, 0.0), (torch.cos, math.pi / 2)):
        got = spectral_derivative(f(k * x), alpha, dx=dx)
        want = scale * torch.sin(k * x + alpha * math.pi / 2 + phase)
        # round-off of O(N eps) in every bin, amplified by k_max^alpha at most
        tol = 1e-13 * max(1.0, (math.pi / dx) ** alpha)
        assert torch.allclose(got, want, atol=tol, rtol=0), (got - want).abs().max()


@pytest.mark.parametrize("alpha", ALPHAS)
def test_weyl_nyquist_mode_is_real_part(alpha):
    # cos(k_N x) sampled at x_n is (-1)^n; D^a cos(k_N x) = k_N^a cos(k_N x + a pi/2) sampled is
    # k_N^a cos(a pi/2) (-1)^n because sin(k_N x_n) = 0: exactly the real-part rule.
    x, dx = grid(32)
    k_nyq = math.pi / dx
    got = spectral_derivative(torch.cos(k_nyq * x), alpha, dx=dx)
    want = k_nyq ** alpha * torch.cos(k_nyq * x + alpha * math.pi / 2)
    assert torch.allclose(got, want, atol=1e-12 * k_nyq ** alpha)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("n", [63, 64])
def test_riesz_sin_cos_exact(alpha, n):
    x, dx = grid(n)
    for m in (1, 4, 30):
        u = torch.sin(m * x) + 0.5 * torch.cos(m * x)
        got = spectral_derivative(u, alpha, dx=dx, kind="riesz")
        assert torch.allclose(got, -(m ** alpha) * u, atol=1e-12 * m ** alpha, rtol=0)


def test_alpha_zero_is_identity_including_the_mean():
    x = torch.randn(3, 20, dtype=F64) + 5.0
    assert torch.allclose(spectral_derivative(x, 0.0), x, atol=1e-13)
    assert torch.allclose(spectral_derivative(x, 0.0, kind="riesz"), -x, atol=1e-13)
    assert torch.allclose(fractional_laplacian(x.reshape(3, 4, 5), 0.0), x.reshape(3, 4, 5), atol=1e-13)


@pytest.mark.parametrize("n", [64, 65])
def test_integer_orders_are_ordinary_derivatives(n):
    # f = exp(sin x) is entire and periodic: the spectral derivative converges to round-off.
    x, dx = grid(n)
    f = torch.exp(torch.sin(x))
    d1 = torch.cos(x) * f
    d2 = (torch.cos(x) ** 2 - torch.sin(x)) * f
    assert torch.allclose(spectral_derivative(f, 1.0, dx=dx), d1, atol=1e-12)
    assert torch.allclose(spectral_derivative(f, 2.0, dx=dx), d2, atol=1e-11)
    assert torch.allclose(spectral_derivative(f, 2.0, dx=dx, kind="riesz"), d2, atol=1e-11)


@pytest.mark.parametrize("a,b", [(0.3, 0.5), (0.7, 1.2), (1.5, 0.5), (-0.6, 0.6), (-0.5, 1.3)])
@pytest.mark.parametrize("n", [32, 33])
def test_weyl_semigroup_on_zero_mean_signals(a, b, n):
    torch.manual_seed(0)
    x = torch.randn(4, n, dtype=F64)
    x = x - x.mean(-1, keepdim=True)
    # Nyquist bin: Re((ik)^a) Re((ik)^b) != Re((ik)^(a+b)), so the semigroup holds for odd N or
    # band-limited signals; remove the Nyquist mode for even N.
    if n % 2 == 0:
        spec = torch.fft.rfft(x)
        spec[..., -1] = 0
        x = torch.fft.irfft(spec, n=n)
    lhs = spectral_derivative(spectral_derivative(x, b, dx=0.1), a, dx=0.1)
    rhs = spectral_derivative(x, a + b, dx=0.1)
    assert torch.allclose(lhs, rhs, atol=1e-10 * (1 + rhs.abs().max()))


def test_weyl_integral_inverts_derivative_up_to_the_mean():
    torch.manual_seed(1)
    x = torch.randn(2, 31, dtype=F64)
    back = spectral_derivative(spectral_derivative(x, 0.8), -0.8)
    assert torch.allclose(back, x - x.mean(-1, keepdim=True), atol=1e-12)


def test_riesz_is_minus_fractional_laplacian_in_1d():
    torch.manual_seed(2)
    x = torch.randn(3, 40, dtype=F64)
    for alpha in (0.4, 1.0, 1.8):
        assert torch.allclose(spectral_derivative(x, alpha, dx=0.2, kind="riesz"),
                              -fractional_laplacian(x, alpha, dx=0.2, dims=(-1,)), atol=1e-12)


# ---------------------------------------------------------------------------------------------------
# per-channel orders, dims, dtypes, devices

def test_per_channel_alpha_matches_scalar_calls():
    torch.manual_seed(3)
    x = torch.randn(2, 3, 16, dtype=F64)
    alpha = torch.tensor([[0.2], [1.0], [1.7]], dtype=F64)
    got = spectral_derivative(x, alpha)
    for c in range(3):
        assert torch.allclose(got[:, c], spectral_derivative(x[:, c], float(alpha[c])), atol=1e-13)


def test_alpha_broadcasts_a_single_signal_over_orders():
    x, dx = grid(32)
    alpha = torch.tensor([[0.5], [1.0], [1.5]], dtype=F64)
    got = spectral_derivative(torch.sin(2 * x), alpha, dx=dx)
    assert got.shape == (3, 32)
    want = 2.0 ** alpha * torch.sin(2 * x + alpha * math.pi / 2)
    assert torch.allclose(got, want, atol=1e-12)


def test_dim_argument_moves_the_axis():
    torch.manual_seed(4)
    x = torch.randn(2, 17, 3, dtype=F64)
    alpha = torch.tensor([[0.3, 0.9, 1.4]], dtype=F64)  # one order per last-dim channel
    got = spectral_derivative(x, alpha, dim=1, dx=0.5)
    ref = spectral_derivative(x.transpose(1, 2), alpha.transpose(0, 1), dx=0.5).transpose(1, 2)
    assert torch.allclose(got, ref, atol=1e-13)


def test_per_channel_alpha_fractional_laplacian():
    torch.manual_seed(5)
    u = torch.randn(2, 3, 8, 10, dtype=F64)
    alpha = torch.tensor([0.5, 1.0, 1.5], dtype=F64).reshape(3, 1, 1)
    for padding in ("periodic", "zero"):
        got = fractional_laplacian(u, alpha, padding=padding)
        for c in range(3):
            ref = fractional_laplacian(u[:, c], float(alpha[c]), padding=padding)
            assert torch.allclose(got[:, c], ref, atol=1e-13)


def test_float32_works_and_keeps_dtype():
    x, dx = grid(128)  # samples computed in float64, then rounded once to float32
    f32 = torch.float32
    for kind, want in (("weyl", 3 ** 0.5 * torch.sin(3 * x + 0.25 * math.pi)),
                       ("riesz", -(3 ** 0.5) * torch.sin(3 * x))):
        got = spectral_derivative(torch.sin(3 * x).to(f32), 0.5, dx=dx, kind=kind)
        assert got.dtype == f32
        assert torch.allclose(got.double(), want, atol=2e-6)
    got = SpectralFractionalDerivative.apply(torch.sin(3 * x).to(f32), torch.tensor(0.5))
    assert got.dtype == f32
    u = torch.sin(x)[:, None] * torch.cos(2 * x)[None, :]
    lap = fractional_laplacian(u.to(f32), 1.0, dx=dx)
    # float32 round-off in every bin, amplified by |k| up to 90 here: about 1e-5 at most
    assert lap.dtype == f32 and torch.allclose(lap.double(), 5 ** 0.5 * u, atol=5e-5)


def test_float64_input_with_float32_alpha_gets_float32_alpha_gradient():
    x = torch.randn(2, 12, dtype=F64)
    alpha = torch.tensor(0.6, requires_grad=True)
    spectral_derivative(x, alpha).square().sum().backward()
    assert alpha.grad.dtype == torch.float32 and torch.isfinite(alpha.grad)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    torch.manual_seed(6)
    x = torch.randn(2, 3, 64, dtype=F64)
    alpha = torch.tensor([[0.3], [1.0], [1.6]], dtype=F64)
    for kind in ("weyl", "riesz"):
        cpu = spectral_derivative(x, alpha, kind=kind)
        gpu = spectral_derivative(x.cuda(), alpha.cuda(), kind=kind)
        assert gpu.device.type == "cuda" and torch.allclose(gpu.cpu(), cpu, atol=1e-12)
    u = torch.randn(2, 3, 16, 16, dtype=F64)
    a3 = alpha.reshape(3, 1, 1)
    assert torch.allclose(fractional_laplacian(u.cuda(), a3.cuda(), padding="zero").cpu(),
                          fractional_laplacian(u, a3, padding="zero"), atol=1e-12)


# ---------------------------------------------------------------------------------------------------
# fractional Laplacian: eigenfunctions and Dyda's closed form

@pytest.mark.parametrize("alpha", ALPHAS)
def test_fractional_laplacian_2d_eigenfunctions(alpha):
    (x, dx), (y, dy) = grid(32, 2.0), grid(24, 3.0)
    kx, ky = 2 * math.pi * 3 / 2.0, 2 * math.pi * 2 / 3.0
    X, Y = torch.meshgrid(x, y, indexing="ij")
    u = torch.sin(kx * X) * torch.cos(ky * Y) + 0.3 * torch.cos(kx * X)
    lam1, lam2 = (kx ** 2 + ky ** 2) ** (alpha / 2), kx ** alpha
    want = lam1 * torch.sin(kx * X) * torch.cos(ky * Y) + 0.3 * lam2 * torch.cos(kx * X)
    got = fractional_laplacian(u, alpha, dx=(dx, dy))
    assert torch.allclose(got, want, atol=1e-12 * max(1.0, lam1))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.3, 2.0])
def test_fractional_laplacian_3d_eigenfunction_any_dims(alpha):
    x, dx = grid(16)
    X, Y, Z = torch.meshgrid(x, x, x, indexing="ij")
    u = torch.sin(X) * torch.sin(2 * Y) * torch.cos(3 * Z)
    want = 14 ** (alpha / 2) * u
    got = fractional_laplacian(u, alpha, dx=dx, dims=(0, 1, 2))
    assert torch.allclose(got, want, atol=1e-12 * 14 ** (alpha / 2))
    # the same field with a batch axis and channel axis in between, dims given in any order
    v = u.permute(2, 0, 1)[None, :, None]  # (1, Z, 1, X, Y)
    got_v = fractional_laplacian(v, alpha, dx=dx, dims=(-1, 1, -2))
    assert torch.allclose(got_v, want.permute(2, 0, 1)[None, :, None], atol=1e-12 * 14 ** (alpha / 2))


def test_alpha_two_is_minus_laplacian():
    torch.manual_seed(7)
    spec = torch.zeros(16, 9, dtype=torch.complex128)
    spec[:5, :5] = torch.randn(5, 5, dtype=torch.complex128)  # band-limited, no Nyquist content
    u = torch.fft.irfftn(spec, s=(16, 16))
    lap = spectral_derivative(u, 2.0, dim=0, dx=0.3) + spectral_derivative(u, 2.0, dim=1, dx=0.3)
    assert torch.allclose(fractional_laplacian(u, 2.0, dx=0.3), -lap, atol=1e-12)


def _dyda(n: int, s: float, r2: Tensor) -> Tensor:
    return 4 ** s * math.gamma(2 + s) * math.gamma(n / 2 + s) / math.gamma(n / 2) * (1 - (1 + 2 * s / n) * r2)


def _image_offset(n: int, s: float, period: float) -> float:
    """Leading error of the zero-padded (periodic, period L') operator inside the ball.

    The periodic operator on the periodised u is the sum of the whole-space (-Delta)^s u over the
    images x + m L' (Poisson summation). Outside the support (-Delta)^s u(y) = -c_{n,s} int u / |y|^{n+2s}
    + O(|y|^{-n-2s-2}) (no dipole term: u is radial), c_{n,s} = 4^s Gamma(n/2+s) / (pi^{n/2} |Gamma(-s)|).
    Lattice sums: 1-D 2 zeta(1+2s); 2-D square lattice 4 zeta(1+s) beta(1+s) (Dirichlet beta).
    """
    c_ns = 4 ** s * math.gamma(n / 2 + s) / (math.pi ** (n / 2) * abs(math.gamma(-s)))
    mass = math.pi ** (n / 2) * math.gamma(2 + s) / math.gamma(n / 2 + 2 + s)  # int (1-|x|^2)_+^(1+s)
    if n == 1:
        lattice = 2 * float(mpmath.zeta(1 + 2 * s))
    else:
        lattice = 4 * float(mpmath.zeta(1 + s) * mpmath.dirichlet(1 + s, [0, 1, 0, -1]))
    return -c_ns * mass * lattice / period ** (n + 2 * s)


def _dyda_error(n: int, s: float, box: float, points: int, *, subtract_images: bool = True) -> float:
    h = box / points
    x = (torch.arange(points, dtype=F64) - points // 2) * h
    if n == 1:
        r2, dims = x ** 2, (-1,)
    else:
        gx, gy = torch.meshgrid(x, x, indexing="ij")
        r2, dims = gx ** 2 + gy ** 2, (-2, -1)
    u = (1 - r2).clamp(min=0) ** (1 + s)
    got = fractional_laplacian(u, 2 * s, dx=h, dims=dims, padding="zero", pad_factor=2.0)
    err = got - _dyda(n, s, r2)
    if subtract_images:
        err = err - _image_offset(n, s, 2 * box)  # points is a power of 2: padded size is exactly 2N
    inner = r2 <= 0.25  # away from the (1-|x|)^(1+s) edge, where convergence is slower
    return float(err[inner].abs().max())


@pytest.mark.parametrize("s", [0.25, 0.5, 0.75])
def test_dyda_1d_converges(s):
    # observed (box 16, h = 1/16 .. 1/128): errors 2e-4 .. 1.3e-6, order 2.2-2.5
    box, sizes = 16.0, [256, 512, 1024, 2048]
    errors = [_dyda_error(1, s, box, n) for n in sizes]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert observed_order([box / n for n in sizes], errors) > 1.8, errors
    assert errors[-1] < 2e-5
    # The raw error is dominated by the periodic images, and the image model removes >90% of it:
    # evidence that the operator's constant (c_{n,s} far field) is right, not only its shape.
    raw = _dyda_error(1, s, box, sizes[-1], subtract_images=False)
    assert errors[-1] < 0.1 * raw


@pytest.mark.parametrize("s", [0.25, 0.5])
def test_dyda_2d_converges(s):
    # observed (box 8, h = 1/8 .. 1/32): errors 5.6e-4 -> 1.7e-5 (s=1/4), 2.6e-3 -> 1.3e-4 (s=1/2)
    box, sizes = 8.0, [64, 128, 256]
    errors = [_dyda_error(2, s, box, n) for n in sizes]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert observed_order([box / n for n in sizes], errors) > 1.8, errors
    assert errors[-1] < 2e-4


def test_zero_padding_changes_only_the_boundary_treatment():
    # a band-limited periodic field: periodic mode is exact, zero padding is not (it sees the edges)
    x, dx = grid(32)
    u = torch.sin(x)[:, None] * torch.sin(x)[None, :]
    periodic = fractional_laplacian(u, 1.0, dx=dx)
    assert torch.allclose(periodic, 2 ** 0.5 * u, atol=1e-12)
    zero = fractional_laplacian(u, 1.0, dx=dx, padding="zero", pad_factor=3)
    assert zero.shape == u.shape and not torch.allclose(zero, periodic, atol=1e-3)


# ---------------------------------------------------------------------------------------------------
# autograd

@pytest.mark.parametrize("n", [7, 8])
@pytest.mark.parametrize("kind", ["weyl", "riesz"])
def test_gradcheck_spectral_derivative(n, kind):
    torch.manual_seed(8)
    x = torch.randn(2, 3, n, dtype=F64, requires_grad=True)
    a0 = torch.tensor(0.7, dtype=F64, requires_grad=True)
    assert gradcheck(lambda x, a: spectral_derivative(x, a, dx=0.3, kind=kind), (x, a0))
    a_ch = torch.tensor([[0.3], [1.2], [1.9]], dtype=F64, requires_grad=True)
    assert gradcheck(lambda x, a: spectral_derivative(x, a, kind=kind), (x, a_ch))
    assert gradgradcheck(lambda x, a: spectral_derivative(x, a, kind=kind), (x, a_ch))
    x_t = torch.randn(2, n, 3, dtype=F64, requires_grad=True)
    a_last = torch.tensor([[0.3, 1.5, 1.9]], dtype=F64, requires_grad=True)
    assert gradcheck(lambda x, a: spectral_derivative(x, a, kind=kind, dim=1), (x_t, a_last))


@pytest.mark.parametrize("n", [6, 9])
def test_gradcheck_autograd_function(n):
    torch.manual_seed(9)
    x = torch.randn(3, n, dtype=F64, requires_grad=True)
    assert gradcheck(lambda x: SpectralFractionalDerivative.apply(x, 0.5), (x,))
    alpha = torch.tensor(1.3, dtype=F64, requires_grad=True)
    assert gradcheck(SpectralFractionalDerivative.apply, (x, alpha))
    assert gradgradcheck(SpectralFractionalDerivative.apply, (x, alpha))


@pytest.mark.parametrize("padding", ["periodic", "zero"])
@pytest.mark.parametrize("n", [5, 6])
def test_gradcheck_fractional_laplacian(padding, n):
    torch.manual_seed(10)
    u = torch.randn(2, 3, n, n + 1, dtype=F64, requires_grad=True)
    alpha = torch.tensor([0.3, 1.2, 1.9], dtype=F64).reshape(3, 1, 1).requires_grad_()
    fn = lambda u, a: fractional_laplacian(u, a, dx=(0.5, 0.7), padding=padding)  # noqa: E731
    assert gradcheck(fn, (u, alpha))
    assert gradgradcheck(fn, (u, alpha))
    v = torch.randn(n, 3, n + 1, dtype=F64, requires_grad=True)
    a0 = torch.tensor(1.1, dtype=F64, requires_grad=True)
    assert gradcheck(lambda v, a: fractional_laplacian(v, a, dims=(2, 0), padding=padding,
                                                       pad_factor=1.5), (v, a0))


def test_autograd_function_equals_spectral_derivative_and_seed_call():
    torch.manual_seed(11)
    x = torch.randn(32, 128, dtype=F64)
    assert torch.allclose(SpectralFractionalDerivative.apply(x, 0.5), spectral_derivative(x, 0.5), atol=0)
    y = SpectralFractionalDerivative.apply(x.float().requires_grad_(), 0.5)
    y.sum().backward()  # the seed's usage


def test_backward_is_the_adjoint_with_conjugate_symbol():
    torch.manual_seed(12)
    x = torch.randn(4, 30, dtype=F64, requires_grad=True)
    g = torch.randn(4, 30, dtype=F64)
    SpectralFractionalDerivative.apply(x, 0.6).backward(g)
    spec = torch.fft.rfft(g)
    k = 2 * math.pi * torch.fft.rfftfreq(30, dtype=F64)
    conj_symbol = (k ** 0.6) * torch.exp(-0.5j * math.pi * 0.6 * torch.ones_like(k))
    assert torch.allclose(x.grad, torch.fft.irfft(spec * conj_symbol, n=30), atol=1e-13)


@pytest.mark.parametrize("kind", ["weyl", "riesz"])
@pytest.mark.parametrize("alpha0", [0.4, 1.0, 1.7])
def test_alpha_gradient_matches_closed_form(kind, alpha0):
    # d/da [m^a sin(m x + a pi/2)] = m^a (log m sin(.) + pi/2 cos(.)); Riesz: d/da(-m^a) = -m^a log m.
    x, dx = grid(32)
    weights = torch.linspace(-1, 1, 32, dtype=F64)
    alpha = torch.tensor(alpha0, dtype=F64, requires_grad=True)
    m = 3.0
    (spectral_derivative(torch.sin(m * x), alpha, dx=dx, kind=kind) * weights).sum().backward()
    if kind == "weyl":
        phase = m * x + alpha0 * math.pi / 2
        deriv = m ** alpha0 * (math.log(m) * torch.sin(phase) + math.pi / 2 * torch.cos(phase))
    else:
        deriv = -(m ** alpha0) * math.log(m) * torch.sin(m * x)
    assert alpha.grad.item() == pytest.approx(float((deriv * weights).sum()), rel=1e-10, abs=1e-10)


def test_alpha_gradient_matches_finite_differences_per_channel():
    torch.manual_seed(13)
    u = torch.randn(2, 3, 12, 10, dtype=F64)
    w = torch.randn(2, 3, 12, 10, dtype=F64)
    alpha = torch.tensor([0.4, 1.0, 1.6], dtype=F64).reshape(3, 1, 1).requires_grad_()
    (fractional_laplacian(u, alpha) * w).sum().backward()
    eps = 1e-6
    for c in range(3):
        bump = torch.zeros(3, 1, 1, dtype=F64)
        bump[c] = eps
        plus = (fractional_laplacian(u, alpha.detach() + bump) * w).sum()
        minus = (fractional_laplacian(u, alpha.detach() - bump) * w).sum()
        assert alpha.grad[c].item() == pytest.approx(float((plus - minus) / (2 * eps)), rel=1e-6)


def test_alpha_zero_has_finite_gradient():
    x = torch.randn(2, 16, dtype=F64) + 1.0
    for fn in (lambda a: spectral_derivative(x, a), lambda a: spectral_derivative(x, a, kind="riesz"),
               lambda a: fractional_laplacian(x, a)):
        alpha = torch.tensor(0.0, dtype=F64, requires_grad=True)
        fn(alpha).square().sum().backward()
        assert torch.isfinite(alpha.grad)


# ---------------------------------------------------------------------------------------------------
# bad input

def test_bad_inputs_raise_clear_errors():
    x = torch.randn(2, 16)
    with pytest.raises(ValueError, match=r"alpha must lie in \[-2, 2\]"):
        spectral_derivative(x, 2.5)
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 2\]"):
        spectral_derivative(x, -0.1, kind="riesz")
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 2\]"):
        fractional_laplacian(x, torch.tensor([0.5, 2.1]).reshape(2, 1))
    with pytest.raises(ValueError, match="alpha must lie in"):
        spectral_derivative(x, float("nan"))
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        spectral_derivative(torch.tensor([1.0, float("nan"), 2.0]), 0.5)
    with pytest.raises(ValueError, match="u contains NaN or inf"):
        fractional_laplacian(torch.full((4, 4), float("inf")), 0.5)
    with pytest.raises(TypeError, match="x must be a real floating tensor"):
        spectral_derivative(torch.randn(8, dtype=torch.complex64), 0.5)
    with pytest.raises(TypeError, match="x must be a floating tensor"):
        SpectralFractionalDerivative.apply(torch.arange(8), 0.5)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        spectral_derivative([1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match="dx must be a finite number > 0"):
        spectral_derivative(x, 0.5, dx=0.0)
    with pytest.raises(ValueError, match="dx must be a finite number > 0"):
        fractional_laplacian(x, 0.5, dx=(0.1, -1.0))
    with pytest.raises(ValueError, match="one entry per dim"):
        fractional_laplacian(x, 0.5, dx=(0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match=r"dim=2 is out of range .* \(allowed: -2..1\)"):
        spectral_derivative(x, 0.5, dim=2)
    with pytest.raises(ValueError, match="dims=-3 is out of range"):
        fractional_laplacian(x, 0.5, dims=(-3, -1))
    with pytest.raises(ValueError, match="dims must not repeat"):
        fractional_laplacian(x, 0.5, dims=(1, -1))
    with pytest.raises(ValueError, match="dims must be a non-empty sequence"):
        fractional_laplacian(x, 0.5, dims=())
    with pytest.raises(ValueError, match="kind must be one of 'weyl', 'riesz'"):
        spectral_derivative(x, 0.5, kind="caputo")
    with pytest.raises(ValueError, match="padding must be one of 'periodic', 'zero'"):
        fractional_laplacian(x, 0.5, padding="reflect")
    with pytest.raises(ValueError, match=r"pad_factor must be a finite number in \(1, inf\)"):
        fractional_laplacian(x, 0.5, padding="zero", pad_factor=1.0)
    with pytest.raises(ValueError, match="must have size 1 along the transformed dim"):
        spectral_derivative(x, torch.full((2, 16), 0.5))
    with pytest.raises(ValueError, match="does not broadcast"):
        spectral_derivative(x, torch.full((3, 1), 0.5))
    with pytest.raises(ValueError, match="at least 2 samples"):
        spectral_derivative(torch.randn(3, 1), 0.5)
    with pytest.raises(TypeError, match="alpha must be a real number or a real tensor"):
        spectral_derivative(x, "0.5")

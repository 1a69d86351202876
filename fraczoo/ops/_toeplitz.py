"""Causal (lower-triangular Toeplitz) convolution, the kernel of every fractional history sum.

    y[..., n] = sum_{j=0}^{n} w[..., n - j] * x[..., j],   n = 0..N-1

Direct evaluation is O(N^2); through the FFT (zero-padded to length >= 2N-1 so the circular
convolution equals the linear one) it is O(N log N). ``causal_conv`` picks the faster path.
Both paths are plain torch, so autograd flows to ``w`` (hence to alpha) and to ``x``.
``series_reciprocal`` inverts such a convolution (the kernel of its inverse) in O(N log N).
"""
from __future__ import annotations

import torch
from torch import Tensor

# Below this length the dense Toeplitz matmul beats the FFT on CPU (measured by scripts/bench_ops.py).
FFT_THRESHOLD = 128


def _fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n: sizes pocketfft/cuFFT handle at full speed."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def toeplitz_matrix(w: Tensor) -> Tensor:
    """Dense lower-triangular Toeplitz matrix T[..., n, j] = w[..., n-j] (j <= n), else 0."""
    n = w.shape[-1]
    idx = torch.arange(n, device=w.device)
    diff = idx[:, None] - idx[None, :]
    mat = w[..., diff.clamp(min=0)]
    return mat * (diff >= 0).to(w.dtype)


def causal_conv_direct(w: Tensor, x: Tensor) -> Tensor:
    """O(N^2) reference: dense Toeplitz product along the last dim."""
    mat = toeplitz_matrix(w)  # (..., N, N)
    return (mat @ x.unsqueeze(-1)).squeeze(-1)


def causal_conv_fft(w: Tensor, x: Tensor) -> Tensor:
    """O(N log N) causal convolution along the last dim via zero-padded rfft."""
    n = x.shape[-1]
    size = _fft_size(2 * n - 1)
    if x.is_complex() or w.is_complex():
        y = torch.fft.ifft(torch.fft.fft(w, size) * torch.fft.fft(x, size), size)
    else:
        y = torch.fft.irfft(torch.fft.rfft(w, size) * torch.fft.rfft(x, size), size)
    return y[..., :n]


def causal_conv(w: Tensor, x: Tensor, *, method: str = "auto") -> Tensor:
    """Causal convolution of ``x`` with kernel ``w`` along the last dim (shapes broadcast).

    ``method``: "auto" (FFT for N >= FFT_THRESHOLD), "fft" or "direct".
    """
    n = x.shape[-1]
    if w.shape[-1] != n:
        raise ValueError(f"kernel length {w.shape[-1]} must equal signal length {n}")
    if method == "auto":
        method = "fft" if n >= FFT_THRESHOLD else "direct"
    if method == "fft":
        return causal_conv_fft(w, x)
    if method == "direct":
        return causal_conv_direct(w, x)
    raise ValueError(f"method must be 'auto', 'fft' or 'direct'; got {method!r}")


def series_reciprocal(c: Tensor, n: int) -> Tensor:
    """First ``n`` coefficients of the power series 1 / c(z), c(z) = sum_k c[..., k] z^k, along the
    last dim (c[..., 0] != 0): the kernel r with causal_conv(c, causal_conv(r, x)) = x.

    Newton's iteration r <- r (2 - c r) doubles the number of correct coefficients per step, each step
    two causal convolutions, so O(N log N) in all; plain torch, differentiable in c.
    """
    recip = 1.0 / c[..., :1]
    m = 1
    while m < n:
        m2 = min(2 * m, n)
        padded = torch.nn.functional.pad(recip, (0, m2 - m))
        err = causal_conv(c[..., :m2], padded)  # c r mod z^m2 = 1 + O(z^m)
        correction = torch.cat([2 - err[..., :1], -err[..., 1:]], dim=-1)
        recip = causal_conv(padded, correction)
        m = m2
    return recip

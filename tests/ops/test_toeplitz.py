import pytest
import torch

from fraczoo.ops._toeplitz import _fft_size, causal_conv, causal_conv_direct, causal_conv_fft


@pytest.mark.parametrize("n", [1, 2, 7, 127, 128, 300, 1000])
def test_fft_equals_direct(n):
    gen = torch.Generator().manual_seed(n)
    w = torch.randn(n, dtype=torch.float64, generator=gen)
    x = torch.randn(3, 2, n, dtype=torch.float64, generator=gen)
    ref = torch.stack([torch.stack([sum(w[k - j] * x[a, b, j] for j in range(k + 1)) for k in range(n)])
                       for a in range(3) for b in range(2)]).reshape(3, 2, n) if n <= 7 else causal_conv_direct(w, x)
    torch.testing.assert_close(causal_conv_fft(w, x), ref, rtol=0, atol=1e-11 * n)
    torch.testing.assert_close(causal_conv(w, x), ref, rtol=0, atol=1e-11 * n)


def test_batched_kernel_broadcasts():
    w = torch.randn(4, 1, 200, dtype=torch.float64)
    x = torch.randn(5, 200, dtype=torch.float64)
    out = causal_conv(w, x)
    assert out.shape == (4, 5, 200)
    torch.testing.assert_close(out[2], causal_conv(w[2, 0], x))


def test_gradients():
    w = torch.randn(150, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 150, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w, x: causal_conv(w, x, method="fft"), (w, x))
    assert torch.autograd.gradcheck(lambda w, x: causal_conv(w, x, method="direct"), (w[:20], x[:, :20]))


def test_fft_sizes_are_smooth_and_large_enough():
    for n in range(1, 3000, 37):
        size = _fft_size(n)
        assert size >= n
        m = size
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        assert m == 1


def test_errors():
    with pytest.raises(ValueError, match="kernel length"):
        causal_conv(torch.randn(3), torch.randn(4))
    with pytest.raises(ValueError, match="method"):
        causal_conv(torch.randn(3), torch.randn(3), method="slow")

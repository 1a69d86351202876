"""Fractional Gaussian fields: rough 2-D surfaces with a known Hurst exponent H.

A field on the n x n torus with power spectrum S(k) ∝ |k|^-(2H + 2) (the spectrum of a 2-D fractional
Brownian surface, Peitgen & Saupe 1988, ch. 2) is sampled exactly by spectral synthesis: filter white
Gaussian noise by |k|^-(H + 1) in Fourier space, drop the mean (k = 0) mode. Each field is then scaled to
unit standard deviation so only its roughness (H) is informative.
"""
from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from fraczoo._checks import check_int, check_pair
from fraczoo.datamodules._splits import TensorSplitDataModule


def fractional_gaussian_field(hurst: torch.Tensor, size: int, *, generator: torch.Generator | None = None,
                              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sample one periodic field per entry of ``hurst`` (shape (B,)) -> (B, size, size), unit std each."""
    if not isinstance(size, int) or size < 4:
        raise ValueError(f"size must be an int >= 4, got {size!r}")
    hurst = torch.as_tensor(hurst, dtype=torch.float64)
    if hurst.ndim != 1 or not bool(((hurst > 0) & (hurst < 1)).all()):
        raise ValueError("hurst must be a 1-D tensor with values in (0, 1)")
    noise = torch.randn(hurst.shape[0], size, size, generator=generator, dtype=torch.float64)
    ky = torch.fft.fftfreq(size, dtype=torch.float64)[:, None]
    kx = torch.fft.rfftfreq(size, dtype=torch.float64)[None, :]
    k = torch.sqrt(kx ** 2 + ky ** 2)
    k[0, 0] = 1.0  # its mode is zeroed below; avoids 0 ** negative
    filt = k[None] ** (-(hurst[:, None, None] + 1.0))
    filt[:, 0, 0] = 0.0
    field = torch.fft.irfft2(torch.fft.rfft2(noise) * filt, s=(size, size))
    field = field / field.std(dim=(-2, -1), keepdim=True)
    return field.to(dtype)


class FractionalFieldDataModule(TensorSplitDataModule):
    """Regress the Hurst exponent of a fractional Gaussian field: batches (x (B,1,n,n), H (B,)).

    Every split is simulated in ``setup`` from ``seed`` (train, val and test use different streams), so
    the data are the same on every run and every rank, and need no download.
    """

    def __init__(self, size: int = 32, train_size: int = 4096, val_size: int = 512, test_size: int = 512,
                 hurst_range: tuple[float, float] = (0.1, 0.9), batch_size: int = 64, seed: int = 0,
                 num_workers: int = 0):
        super().__init__()
        for arg, value, low in (("size", size, 4), ("train_size", train_size, 1), ("val_size", val_size, 1),
                                ("test_size", test_size, 1), ("batch_size", batch_size, 1),
                                ("seed", seed, 0), ("num_workers", num_workers, 0)):
            check_int(value, arg, low)
        lo, hi = check_pair(hurst_range, "hurst_range")
        if not 0 < lo < hi < 1:
            raise ValueError(f"hurst_range must satisfy 0 < low < high < 1, got {tuple(hurst_range)}")
        self.save_hyperparameters()

    def simulate(self, n: int, stream: int) -> TensorDataset:
        gen = self.generator(stream)
        lo, hi = self.hparams.hurst_range
        hurst = lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)
        x = fractional_gaussian_field(hurst, self.hparams.size, generator=gen)
        return TensorDataset(x.unsqueeze(1), hurst.float())
